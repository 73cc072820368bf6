"""Scoring of recognized text against ground truth, shared by evaluation and training curves.

Word accuracy follows the standard scene-text protocol (lower-case, keep only [a-z0-9], exact
match); exact accuracy and CER are on the raw strings, so case and punctuation count there.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

_NOT_PROTOCOL = re.compile(r"[^a-z0-9]")

LABELS_FILE = "labels.tsv"


def normalize_protocol(s: str) -> str:
    """Lower-case `s` and drop everything but [a-z0-9], as the benchmark protocol scores words."""
    return _NOT_PROTOCOL.sub("", s.lower())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions each cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def cer(pred: str, gt: str) -> float:
    """Character error rate of one line: edit distance / len(gt).

    An empty ground truth scores 0.0 when the prediction is empty too and 1.0 otherwise, so one
    odd label cannot produce an infinite mean.
    """
    if not gt:
        return 0.0 if not pred else 1.0
    return edit_distance(pred, gt) / len(gt)


def score(preds: Sequence[str], gts: Sequence[str]) -> dict[str, float]:
    """Protocol word accuracy, exact (case-sensitive) accuracy and mean CER over paired lines."""
    if len(preds) != len(gts):
        raise ValueError(f"{len(preds)} predictions for {len(gts)} ground truths")
    if not gts:
        raise ValueError("nothing to score")
    n = len(gts)
    protocol = sum(
        normalize_protocol(p) == normalize_protocol(g) for p, g in zip(preds, gts, strict=True)
    )
    exact = sum(p == g for p, g in zip(preds, gts, strict=True))
    return {
        "protocol_acc": protocol / n,
        "exact_acc": exact / n,
        "cer": sum(cer(p, g) for p, g in zip(preds, gts, strict=True)) / n,
    }


def load_labeled_folder(
    path: str | os.PathLike[str], limit: int | None = None
) -> list[tuple[str, str]]:
    """Read `path`/labels.tsv (`image_path<TAB>text`, paths relative to the folder).

    Returns (absolute image path as str, text) pairs in file order, at most `limit` of them.
    Blank lines are skipped; a line without a tab raises ValueError naming file and line.
    The text is kept as written (no stripping beyond the line ending): spaces can be part of it.
    """
    folder = Path(path)
    labels = folder / LABELS_FILE
    if not labels.is_file():
        raise FileNotFoundError(f"no {LABELS_FILE} in {folder}")
    items: list[tuple[str, str]] = []
    with labels.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if limit is not None and len(items) >= limit:
                break
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            image, sep, text = line.partition("\t")
            if not sep or not image:
                raise ValueError(f"{labels}:{number}: expected 'image_path<TAB>text'")
            items.append((str((folder / image).absolute()), text))
    return items
