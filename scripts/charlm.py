"""Builds the character n-gram model the recognizer rescores its unsure readings with.

    python -m scripts.charlm --out models/latin_charlm.npz [--lines 1000000] [--order 5] \
        [--min-count 10] [--seed 8080] [--charset scripts/charsets/latin.txt]

The text is the recognizer's own training text, drawn by `scripts.synthlib.content.TextSource`
the way `scripts.synth` draws it for the mixed kind: half label/nameplate lines from the
grammar (1 in 20 of them a seven-segment display reading), half scene words and phrases from
Debian's word lists. Nothing else goes in: no real text, no evaluation set.

The model is interpolated absolute discounting (discount 0.75, add-one unigrams over the
charset and end of line), stored as a backoff table (`edge_ocr.charlm`): n-grams seen fewer
than --min-count times (n >= 2) are dropped and their mass left to the shorter context.
The file also carries the words misread words are snapped to (`edge_ocr.lexicon`): Debian's
word lists as the generator reads them, plus every run of four or more letters the generated
lines repeat at least WORD_MIN_COUNT times (the label grammar's own words: Lote, Herst, Gewicht;
a random code of letters never repeats so often). Same arguments, same file.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import math
import os
import random
import sys
import time
from collections.abc import Iterable, Sequence

import numpy as np

from edge_ocr.charlm import CharLM, _keys
from edge_ocr.lexicon import WordList, words_of
from scripts.charsets import DEFAULT_CHARSET, read_charset

log = logging.getLogger(__name__)

DISCOUNT = 0.75
# In 1M generated lines the grammar's own words (Lote, RoHS) occur 870+ times, made-up streets 3-5.
WORD_MIN_COUNT = 20


def generated_text(charset: str, lines: int, seed: int) -> Iterable[str]:
    """The recognizer's mixed training text: `lines` lines, reproducible from `seed`."""
    from scripts.synth import LABEL_SHARE, SEVEN_SEGMENT_SHARE
    from scripts.synthlib.content import TextSource

    rng = random.Random(seed)
    source = TextSource(charset, rng)
    for _ in range(lines):
        if rng.random() < LABEL_SHARE:
            seven = rng.random() < SEVEN_SEGMENT_SHARE
            yield source.display_reading() if seven else source.line("label")
        else:
            yield source.line("words")


def counting_words(texts: Iterable[str], seen: collections.Counter[str]) -> Iterable[str]:
    """The texts, unchanged, counting the words (`edge_ocr.lexicon.words_of`) of each in `seen`."""
    for text in texts:
        seen.update(m.group().lower() for m in words_of(text))
        yield text


def word_list(charset: str, seen: collections.Counter[str]) -> WordList:
    """Debian's words (as the generator reads them) and the words the generated text repeats."""
    from scripts.synthlib.content import load_words

    common = {w for w, n in seen.items() if n >= WORD_MIN_COUNT}
    return WordList.of(set(load_words(charset)) | common)


def count_ngrams(
    texts: Iterable[str], charset: str, order: int
) -> list[collections.Counter[tuple[int, ...]]]:
    """counts[n - 1][ids] of every n-gram (n = 1..order) of the texts, begin/end of line padded."""
    ids = {ch: i + 1 for i, ch in enumerate(charset)}
    bos, eos = len(charset) + 1, len(charset) + 2
    counts: list[collections.Counter[tuple[int, ...]]] = [
        collections.Counter() for _ in range(order)
    ]
    pad = order - 1
    for text in texts:
        seq = (bos,) * pad + tuple(ids[ch] for ch in text if ch in ids) + (eos,)
        for j in range(pad, len(seq)):
            for n in range(1, order + 1):
                counts[n - 1][seq[j - n + 1 : j + 1]] += 1
    return counts


def build(
    counts: Sequence[collections.Counter[tuple[int, ...]]],
    charset: str,
    min_count: int,
    meta: dict[str, str],
) -> CharLM:
    """The backoff model of interpolated absolute discounting from n-gram counts."""
    order = len(counts)
    symbols = list(range(1, len(charset) + 1)) + [len(charset) + 2]  # characters, end of line
    unigrams = counts[0]
    total = sum(unigrams.values()) + len(symbols)
    logp: list[dict[tuple[int, ...], float]] = [
        {(s,): math.log((unigrams.get((s,), 0) + 1) / total) for s in symbols}
    ]
    logw: list[dict[tuple[int, ...], float]] = [{}]

    def lower(gram: tuple[int, ...], n: int) -> float:
        """log P(gram[-1] | gram[:-1]) from the tables of orders below n, backing off."""
        for m in range(n - 1, 0, -1):
            tail = gram[-m:]
            if tail in logp[m - 1]:
                return logp[m - 1][tail] + sum(
                    logw[k - 1].get(gram[-k:-1], 0.0) for k in range(m + 1, n)
                )
        raise AssertionError("every symbol has a unigram")

    for n in range(2, order + 1):
        context_total: collections.Counter[tuple[int, ...]] = collections.Counter()
        for gram, c in counts[n - 1].items():
            context_total[gram[:-1]] += c
        kept: dict[tuple[int, ...], float] = {}
        left = {h: 1.0 for h in context_total}  # mass each context leaves to backing off
        for gram, c in counts[n - 1].items():
            if c < min_count:
                continue
            h = gram[:-1]
            own = (c - DISCOUNT) / context_total[h]
            left[h] -= own
            kept[gram] = own
        weights = {h: math.log(max(w, 1e-12)) for h, w in left.items()}
        logw.append({h: weights[h] for h in {g[:-1] for g in kept}})
        logp.append(
            {g: math.log(own + math.exp(weights[g[:-1]] + lower(g, n))) for g, own in kept.items()}
        )
        log.info("order %d: %d n-grams kept of %d", n, len(kept), len(counts[n - 1]))

    base = len(charset) + 3

    def table(entries: dict[tuple[int, ...], float], length: int) -> tuple[np.ndarray, np.ndarray]:
        if not entries:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        grams = np.array(list(entries), np.int64).reshape(len(entries), length)
        keys = _keys(grams, base)
        values = np.array(list(entries.values()), np.float32)
        order_ = np.argsort(keys)
        return keys[order_], values[order_]

    grams = [table(logp[n - 1], n) for n in range(1, order + 1)]
    contexts = [table(logw[n - 1], n - 1) if n > 1 else table({}, 0) for n in range(1, order + 1)]
    return CharLM(charset, order, grams, contexts, meta)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.charlm",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--charset", default=str(DEFAULT_CHARSET), help="file with the charset")
    parser.add_argument("--out", required=True, help="the .npz to write")
    parser.add_argument("--lines", type=int, default=1_000_000, help="generated lines to count")
    parser.add_argument("--order", type=int, default=5, help="n of the n-grams (2..8)")
    parser.add_argument("--min-count", type=int, default=10, help="drop rarer n-grams (n >= 2)")
    parser.add_argument("--seed", type=int, default=8080)
    args = parser.parse_args(argv)
    if not 2 <= args.order <= 8:
        parser.error("--order must be 2..8")
    if args.lines < 1 or args.min_count < 1:
        parser.error("--lines and --min-count must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    charset = read_charset(args.charset)
    started = time.perf_counter()
    seen: collections.Counter[str] = collections.Counter()
    texts = counting_words(generated_text(charset, args.lines, args.seed), seen)
    counts = count_ngrams(texts, charset, args.order)
    provenance = (
        f"python -m scripts.charlm --lines {args.lines} --order {args.order} "
        f"--min-count {args.min_count} --seed {args.seed}: generated label lines and Debian "
        "word-list phrases (scripts/synthlib/content.py), no real text"
    )
    meta = {"name": "latin-charlm", "provenance": provenance, "discount": str(DISCOUNT)}
    lm = build(counts, charset, args.min_count, meta)
    lm.words = word_list(charset, seen)
    lm.save(args.out)
    size = os.path.getsize(args.out)
    print(
        f"{args.out}: order {args.order}, {len(lm)} n-grams, {len(lm.words)} words, "
        f"{size / 1e6:.2f} MB, "
        f"{time.perf_counter() - started:.0f} s; {json.dumps(meta['provenance'])}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
