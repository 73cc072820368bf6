"""A character n-gram language model: how much a reading looks like the text labels carry.

The recognizer reads each character on its own; where it is unsure (a smudged "l" that may be
"1", a colon it half saw), `ctc.rescore` puts the few readings its outputs allow side by side
and this model says which one reads like label text ("Ins.Cl. F", not "Ims.Cl. F"). It is
built by `scripts/charlm.py` from text the project generates (the label grammar and Debian's
word lists, the recognizer's own training text) and shipped beside the recognizer.

The model is a backoff table (ARPA-style, from interpolated absolute discounting): for every
n-gram kept, log P(char | the n-1 before it); for every context kept, the log weight its
unseen continuations back off with. One `.npz` file (no pickle) holds, per order n, the sorted
integer keys of the n-grams and their log-probabilities, and the sorted keys of the contexts
and their backoff weights; a key is the characters' ids in base `len(charset) + 3` (id 0 is
unused, then the charset, then begin and end of line). The file may also hold a word list
(`edge_ocr.lexicon.WordList`, array `words`) that misread words are snapped to.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from edge_ocr.errors import ModelError
from edge_ocr.lexicon import WordList
from edge_ocr.session import shipped_model_path

FORMAT = "edge-ocr-charlm-1"
DEFAULT_LM_NAME = "latin_charlm.npz"


def default_lm_path() -> Path:
    """The shipped Latin character model: beside the installed package, else in the checkout."""
    return shipped_model_path(DEFAULT_LM_NAME)


class CharLM:
    """A backoff character n-gram model over a charset; `score` gives texts' log-probabilities."""

    def __init__(
        self,
        charset: str,
        order: int,
        grams: Sequence[tuple[np.ndarray, np.ndarray]],
        contexts: Sequence[tuple[np.ndarray, np.ndarray]],
        meta: dict[str, str] | None = None,
        words: WordList | None = None,
    ) -> None:
        """`grams[n - 1]`: (sorted int64 keys, float32 log-probs) of the kept n-grams, n = 1..order;
        `contexts[n - 1]`: (sorted int64 keys, float32 log backoff weights) of the kept contexts
        of n-grams (length n - 1; the entry for n = 1 is empty); `words`: the words a reading
        should be, if any."""
        if order < 1 or len(grams) != order or len(contexts) != order:
            raise ValueError(f"need {order} tables of n-grams and of contexts")
        self.charset = charset
        self.order = order
        self.base = len(charset) + 3
        self.bos, self.eos = len(charset) + 1, len(charset) + 2
        if order * np.log(self.base) >= np.log(2**63):
            raise ValueError(f"order {order} over {len(charset)} characters overflows int64 keys")
        self._ids = {ch: i + 1 for i, ch in enumerate(charset)}
        # Compact in memory (the daemon's budget): keys of up to four characters fit uint32,
        # log values keep three significant digits in float16.
        self._grams = [
            (_compact_keys(k, n, self.base), np.asarray(v, np.float16))
            for n, (k, v) in enumerate(grams, start=1)
        ]
        self._contexts = [
            (_compact_keys(k, n - 1, self.base), np.asarray(v, np.float16))
            for n, (k, v) in enumerate(contexts, start=1)
        ]
        self.meta = dict(meta or {})
        self.words = words

    # -- files --------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CharLM:
        """Read a model written by `save`; a missing or malformed file is a ModelError."""
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"{path}: character language model not found")
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                if meta.get("format") != FORMAT:
                    raise ModelError(f"{path}: not an {FORMAT} file")
                order = int(meta["order"])
                grams = [
                    (_undiff(z[f"gram{n}_keys"]), z[f"gram{n}_logp"]) for n in range(1, order + 1)
                ]
                contexts = [
                    (_undiff(z[f"ctx{n}_keys"]), z[f"ctx{n}_logw"]) for n in range(1, order + 1)
                ]
                words = WordList(_undiff(z["words"])) if "words" in z.files else None
                return cls(str(meta["charset"]), order, grams, contexts, meta, words)
        except ModelError:
            raise
        except Exception as err:  # a truncated or foreign file: say which and why
            raise ModelError(f"{path}: cannot load the character language model: {err}") from err

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model as one compressed .npz, no pickle: sorted keys as their differences
        (small numbers compress well), log values as float16 (a few MB in all)."""
        meta = {**self.meta, "format": FORMAT, "order": self.order, "charset": self.charset}
        arrays: dict[str, Any] = {"meta": np.array(json.dumps(meta, ensure_ascii=False))}
        for n in range(1, self.order + 1):
            for keys_name, values_name, (keys, values) in (
                (f"gram{n}_keys", f"gram{n}_logp", self._grams[n - 1]),
                (f"ctx{n}_keys", f"ctx{n}_logw", self._contexts[n - 1]),
            ):
                arrays[keys_name] = np.diff(keys.astype(np.int64), prepend=np.int64(0))
                arrays[values_name] = values  # float16 already
        if self.words is not None:
            arrays["words"] = np.diff(self.words.keys.astype(np.int64), prepend=np.int64(0))
        with open(path, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    def __len__(self) -> int:
        """How many n-grams the model keeps."""
        return sum(len(k) for k, _ in self._grams)

    # -- scoring ------------------------------------------------------------------------------

    def ids(self, text: str) -> list[int]:
        """The ids of a text's characters (KeyError for one outside the charset)."""
        return [self._ids[ch] for ch in text]

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """log P(text) of each text, end of line included: float64 [len(texts)]."""
        if not texts:
            return np.zeros(0)
        pad = [self.bos] * (self.order - 1)
        seqs = [np.array(pad + self.ids(text) + [self.eos], np.int64) for text in texts]
        # One row per predicted character: the order-1 before it, then it.
        rows = np.concatenate([sliding_window_view(seq, self.order) for seq in seqs])
        owners = np.repeat(np.arange(len(texts)), [len(seq) - len(pad) for seq in seqs])
        return np.bincount(owners, weights=self.logprob(rows), minlength=len(texts))

    def logprob(self, windows: np.ndarray) -> np.ndarray:
        """log P(last id | the ids before it) for each row of `windows` [m, order] (ids)."""
        m = len(windows)
        total = np.zeros(m)
        done = np.zeros(m, bool)
        for n in range(self.order, 0, -1):
            keys, values = self._grams[n - 1]
            gram = _keys(windows[:, self.order - n :], self.base).astype(keys.dtype)
            hit = ~done & _member(keys, gram)
            if hit.any():
                total[hit] += values[np.searchsorted(keys, gram[hit])]
                done |= hit
            if n == 1 or done.all():
                break
            # Not seen with this context: back off with the context's weight, if it has one.
            ckeys, weights = self._contexts[n - 1]
            context = _keys(windows[:, self.order - n : -1], self.base).astype(ckeys.dtype)
            seen = ~done & _member(ckeys, context)
            if seen.any():
                total[seen] += weights[np.searchsorted(ckeys, context[seen])]
        # A character the unigrams lack (none, in a model built over its charset) costs a lot.
        total[~done] += -30.0
        return total


def _undiff(diffs: np.ndarray) -> np.ndarray:
    """Sorted keys back from their differences, in place (no second copy at load)."""
    return np.cumsum(diffs, out=diffs)


def _compact_keys(keys: np.ndarray, length: int, base: int) -> np.ndarray:
    """Keys of `length` characters as uint32 when every such key fits, else int64."""
    small = base**length < 2**32
    return np.asarray(keys).astype(np.uint32 if small else np.int64, copy=False)


def _keys(ids: np.ndarray, base: int) -> np.ndarray:
    """int64 key of each row of ids: the ids as digits in `base`, the first most significant."""
    keys = np.zeros(len(ids), np.int64)
    for column in ids.T:
        keys = keys * base + column
    return keys


def _member(sorted_keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Whether each query is in `sorted_keys`."""
    if len(sorted_keys) == 0:
        return np.zeros(len(queries), bool)
    at = np.minimum(np.searchsorted(sorted_keys, queries), len(sorted_keys) - 1)
    return sorted_keys[at] == queries
