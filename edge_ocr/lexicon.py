"""Words a reading should be: a misread word snapped to the listed word one edit away.

The recognizer reads character by character; a word read with one letter wrong (`BRONN`,
`Indla`, `DPENING`) is usually one edit from a word of the text labels and signs carry. After
`ctc.rescore`, every run of four or more letters that is not a listed word is compared with the
listed words one edit away (a letter dropped, added, changed or two swapped), each set in the
read word's case; the likeliest under the network's own outputs (CTC, the whole line) replaces
it when it is at most `MAX_LOSS` nats less likely than the reading. A word the network is sure
of stays as read, listed or not: part numbers, names and codes are not forced into words.

The list (the Debian word lists and the label grammar's words, `scripts/charlm.py`) ships inside
the character language model's file as CRC-32s of the lower-cased words: membership is all the
snapping asks, the words themselves are not kept.
"""

from __future__ import annotations

import re
import string
import zlib
from collections.abc import Iterable

import numpy as np

from edge_ocr.ctc import Decoded, log_likelihoods, softmax

MIN_LETTERS = 4  # shorter runs are codes and abbreviations more often than words
# Chosen on the development set (iiit5k_train) and the generated validation lines (latin-crnn
# 0.2.9, x3+lm): 3 / 5 / 7 nats gained 0.45 / 1.25 / 1.15 points on the first, 0.33 / 0.67 / 0.67
# on the validation labels and 0.6 / 1.1 / 1.1 on the mixed validation lines.
MAX_LOSS = 5.0
_WORD = re.compile(rf"(?<![A-Za-z0-9])[A-Za-z]{{{MIN_LETTERS},}}(?![A-Za-z0-9])")
_LETTERS = string.ascii_lowercase


def words_of(text: str) -> list[re.Match[str]]:
    """The runs of `MIN_LETTERS` or more letters a-z / A-Z in `text` that touch no other letter
    or digit: the words snapping considers."""
    return list(_WORD.finditer(text))


def _key(word: str) -> int:
    return zlib.crc32(word.lower().encode("utf-8"))


class WordList:
    """Membership in a list of words, case-insensitive, kept as sorted CRC-32s (4 bytes a word;
    with 75,000 words kept, a word outside the list passes for one in it once in 57,000 asks)."""

    def __init__(self, keys: np.ndarray) -> None:
        self.keys = np.unique(np.asarray(keys, dtype=np.uint32))

    @classmethod
    def of(cls, words: Iterable[str]) -> WordList:
        return cls(np.fromiter((_key(w) for w in words), dtype=np.uint32))

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and bool(self._member([word])[0])

    def _member(self, words: list[str]) -> np.ndarray:
        if len(self.keys) == 0 or not words:
            return np.zeros(len(words), bool)
        queries = np.fromiter((_key(w) for w in words), dtype=np.uint32, count=len(words))
        at = np.minimum(np.searchsorted(self.keys, queries), len(self.keys) - 1)
        return self.keys[at] == queries

    def neighbours(self, word: str) -> list[str]:
        """Listed words one edit from `word` (lower case, letters a-z), sorted."""
        w = word.lower()
        edits = set()
        for i in range(len(w) + 1):
            head, tail = w[:i], w[i:]
            if tail:
                edits.add(head + tail[1:])
            if len(tail) > 1:
                edits.add(head + tail[1] + tail[0] + tail[2:])
            for c in _LETTERS:
                edits.add(head + c + tail)
                if tail:
                    edits.add(head + c + tail[1:])
        edits.discard(w)
        found = sorted(edits)
        return [e for e, ok in zip(found, self._member(found), strict=True) if ok]


def _in_case_of(model: str, word: str) -> str | None:
    """`word` in the case pattern of `model` (UPPER, Capitalized or lower); None for others."""
    if model.isupper():
        return word.upper()
    if model.islower():
        return word
    if model[0].isupper() and model[1:].islower():
        return word.capitalize()
    return None


def snap(
    read: Decoded,
    logits: np.ndarray,
    charset: str,
    words: WordList,
    mask: np.ndarray | None = None,
    max_loss: float = MAX_LOSS,
) -> Decoded:
    """`read` (decoded from `logits` [t, classes]) with each unlisted word of `MIN_LETTERS`+
    letters replaced by its likeliest listed neighbour, if that loses at most `max_loss` nats."""
    found = [m for m in words_of(read.text) if m.group() not in words]
    options = []  # (span, candidate texts of the word)
    for m in found:
        cased = (_in_case_of(m.group(), w) for w in words.neighbours(m.group()))
        cands = [c for c in cased if c is not None and all(ch in charset for ch in c)]
        if cands:
            options.append((m.span(), cands))
    if not options:
        return read
    ids = {ch: i + 1 for i, ch in enumerate(charset)}
    lines = [read.text] + [
        read.text[:a] + c + read.text[b:] for (a, b), cands in options for c in cands
    ]
    logp = np.log(np.maximum(softmax(logits, mask), 1e-30))
    scores = log_likelihoods(logp, [[ids[ch] for ch in line] for line in lines])
    base, k = scores[0], 1
    chosen = []
    for span, cands in options:
        gains = scores[k : k + len(cands)] - base
        k += len(cands)
        best = int(np.argmax(gains))
        if gains[best] >= -max_loss:
            chosen.append((span, cands[best]))
    text, confs, positions = read.text, list(read.char_confidences), list(read.positions)
    for (a, b), word in sorted(chosen, reverse=True):  # right to left: spans stay valid
        text = text[:a] + word + text[b:]
        confs[a:b] = [float(np.mean(confs[a:b]))] * len(word)
        if positions:
            positions[a:b] = np.linspace(positions[a], positions[b - 1], len(word)).tolist()
    mean = float(np.mean(confs)) if confs else 0.0
    return Decoded(text, mean, tuple(round(c, 4) for c in confs), tuple(positions))
