"""Greedy CTC decoding with allowed-character masking and per-character confidences, and the
rescoring of a reading's unsure characters with a character language model."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Decoded:
    """One decoded line: its text, a line confidence, and one confidence per character.

    `positions` holds, per character, the first model frame it was read at (frame i covers the
    line's columns from i * downsample on): where each character sits along the line. A reading
    of another view of the line (Recognizer views) gives them in frames of the line itself, so
    they need not be whole numbers.
    """

    text: str
    confidence: float
    char_confidences: tuple[float, ...]
    positions: tuple[float, ...] = ()


def allowed_mask(charset: str, allowed: str | None) -> np.ndarray | None:
    """A boolean mask over the model's classes (blank first) that keeps blank and `allowed`.

    Returns None when every character is allowed. Raises ValueError when `allowed` holds a
    character the model cannot produce, so a field config cannot silently ask for the impossible.
    """
    if allowed is None:
        return None
    missing = sorted(set(allowed) - set(charset))
    if missing:
        raise ValueError(f"characters not in the model's charset: {''.join(missing)!r}")
    mask = np.zeros(len(charset) + 1, dtype=bool)
    mask[0] = True
    for i, ch in enumerate(charset, start=1):
        if ch in allowed:
            mask[i] = True
    return mask


def softmax(logits: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Softmax over the last axis; classes outside `mask` get probability zero."""
    x = logits.astype(np.float32, copy=True)
    if mask is not None:
        x[..., ~mask] = -np.inf
    x -= x.max(axis=-1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=-1, keepdims=True)
    return x


def greedy_decode(
    logits: np.ndarray, charset: str, mask: np.ndarray | None = None, length: int | None = None
) -> Decoded:
    """Decode one line's logits [t, classes] (class 0 is the CTC blank).

    Disallowed classes are masked before the softmax, so the best allowed character wins a frame
    instead of being filtered out afterwards. A character's confidence is its highest probability
    over the frames it spans; the line's confidence is the mean of those (0 for an empty line).
    `length` limits decoding to the first frames that belong to the line, not to batch padding.
    """
    if length is not None:
        logits = logits[:length]
    return _greedy(softmax(logits, mask), charset)


def _greedy(probs: np.ndarray, charset: str) -> Decoded:
    """The best path of probabilities [t, classes], collapsed (see greedy_decode)."""
    classes, firsts, _, peaks = _runs(probs)
    return _reading(classes.tolist(), peaks.tolist(), firsts.tolist(), charset)


def _reading(classes: list[int], confs: list[float], frames: list[int], charset: str) -> Decoded:
    """A Decoded from its characters' classes, peak probabilities and first frames."""
    return Decoded(
        "".join(charset[c - 1] for c in classes),
        float(np.mean(confs)) if confs else 0.0,
        tuple(round(c, 4) for c in confs),
        tuple(frames),
    )


def _runs(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The best path's characters: each run of one non-blank class, as arrays of its class,
    first frame, the frame after it, and its peak probability."""
    best = probs.argmax(axis=-1)
    if len(best) == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty, np.zeros(0, probs.dtype)
    best_p = probs[np.arange(len(best)), best]
    starts = np.flatnonzero(np.concatenate(([True], best[1:] != best[:-1])))
    ends = np.append(starts[1:], len(best))
    peaks = np.maximum.reduceat(best_p, starts)
    keep = best[starts] != 0
    return best[starts][keep], starts[keep], ends[keep], peaks[keep]


def log_likelihoods(logp: np.ndarray, labels: Sequence[Sequence[int]]) -> np.ndarray:
    """log P(labels | line) under CTC of each label sequence (class ids, no blanks), summed over
    every path that reads it: the forward algorithm on log-probabilities [t, classes], all
    sequences in one pass. float64 [len(labels)]; -inf-like for one the frames cannot hold."""
    k = len(labels)
    if k == 0:
        return np.zeros(0)
    lengths = np.array([2 * len(ids) + 1 for ids in labels])
    states = int(lengths.max())
    ext = np.zeros((k, states), np.int64)  # blank, c1, blank, c2, ..., blank (0-padded)
    for row, ids in enumerate(labels):
        ext[row, 1 : 2 * len(ids) : 2] = ids
    # A state may skip the blank before it when its character differs from the one two back.
    skip = np.zeros((k, states), bool)
    skip[:, 3::2] = ext[:, 3::2] != ext[:, 1:-2:2]
    neg = -1e30
    rows = np.arange(k)[:, None]
    alpha = np.full((k, states), neg)
    alpha[:, 0] = logp[0, 0]
    if states > 1:
        alpha[:, 1] = logp[0, ext[:, 1]]
    for t in range(1, len(logp)):
        one = np.concatenate((np.full((k, 1), neg), alpha[:, :-1]), axis=1)
        two = np.concatenate((np.full((k, 2), neg), alpha[:, :-2]), axis=1)
        alpha = np.logaddexp(np.logaddexp(alpha, one), np.where(skip, two, neg))
        alpha = alpha + logp[t][ext]
    last = alpha[rows[:, 0], lengths - 1]
    before = np.where(lengths > 1, alpha[rows[:, 0], np.maximum(lengths - 2, 0)], neg)
    return np.logaddexp(last, before)


# -- rescoring with a language model ------------------------------------------------------------


class LanguageModel(Protocol):
    """What rescoring needs of a language model (edge_ocr.charlm.CharLM)."""

    order: int
    charset: str

    def score(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Rescoring:
    """How unsure readings are rescored (chosen on a generated validation set, docs/eval.md).

    A character whose peak probability is below `unsure` may be read as one of its frame's
    next `alternatives` classes instead (the blank among them: a character read that is not
    there); a run of blank frames where some character reaches `insert` may hold that character
    (one read too faintly). The `sites` most likely of these edits are weighed, and the reading
    that maximizes log P(path changes) + `weight` * log P_lm(text) is kept.
    """

    weight: float = 0.3
    unsure: float = 0.9
    alternatives: int = 2
    insert: float = 0.02
    sites: int = 6
    combinations: int = 81  # at most this many readings of one group of nearby edits


@dataclass(frozen=True)
class _Segment:
    cls: int  # class id (1.. = charset index + 1)
    first: int  # first frame
    end: int  # the frame after its run
    conf: float  # peak probability


@dataclass(frozen=True)
class _Site:
    index: int  # segment index; an insertion goes before it
    insert: bool
    options: tuple[tuple[int, int, float, float], ...]  # (class or 0, frame, prob, log gain)


def rescore(
    logits: np.ndarray,
    charset: str,
    lm: LanguageModel,
    mask: np.ndarray | None = None,
    length: int | None = None,
    settings: Rescoring = Rescoring(),
) -> Decoded:
    """Decode one line's logits like `greedy_decode`, then let `lm` settle its unsure parts.

    Only the greedy reading's unsure characters and faint gaps are reconsidered: a line read
    with confidence everywhere, or read as nothing, comes back exactly as greedy_decode reads it.
    """
    if length is not None:
        logits = logits[:length]
    probs = softmax(logits, mask)
    segments = _segments(probs)
    # Nothing read stays nothing: a language model would rather see some text than none, and
    # must not make it up on a blank frame.
    sites = _sites(probs, segments, settings) if segments else []
    if not sites:
        return _greedy(probs, charset)
    # Sites closer than the model's order share n-grams: weigh their edits together; farther
    # apart, each group is settled on its own (the score is a sum over n-gram windows).
    groups: list[list[_Site]] = []
    for site in sorted(sites, key=lambda s: (s.index, not s.insert)):
        if groups and site.index - groups[-1][-1].index < lm.order:
            groups[-1].append(site)
        else:
            groups.append([site])
    chosen: dict[tuple[int, bool], tuple[int, int, float, float] | None] = {}
    for group in groups:
        while math.prod(len(s.options) + 1 for s in group) > settings.combinations:
            group.remove(min(group, key=lambda s: max(o[3] for o in s.options)))
        combos = list(itertools.product(*[(None, *s.options) for s in group]))
        texts = []
        gains = []
        for combo in combos:
            trial = dict(chosen)
            trial.update({(s.index, s.insert): c for s, c in zip(group, combo, strict=True)})
            texts.append(_text(segments, trial, charset))
            gains.append(sum(c[3] for c in combo if c is not None))
        scores = np.array(gains) + settings.weight * lm.score(texts)
        best = combos[int(np.argmax(scores))]
        chosen.update({(s.index, s.insert): c for s, c in zip(group, best, strict=True)})
    return _decoded(segments, chosen, charset)


def _segments(probs: np.ndarray) -> list[_Segment]:
    """The greedy path's characters (`_runs`) as segments to edit."""
    return [_Segment(*run) for run in zip(*(a.tolist() for a in _runs(probs)), strict=True)]


def _sites(probs: np.ndarray, segments: list[_Segment], settings: Rescoring) -> list[_Site]:
    """The edits worth weighing: unsure characters and faint gaps, the likeliest first."""
    sites = []
    for i, seg in enumerate(segments):
        if seg.conf >= settings.unsure:
            continue
        peak = seg.first + int(np.argmax(probs[seg.first : seg.end, seg.cls]))
        p = probs[peak]
        options = []
        for cls in np.argsort(-p)[: settings.alternatives + 1].tolist():
            if cls != seg.cls and p[cls] > 1e-6:
                options.append((cls, seg.first, float(p[cls]), math.log(p[cls] / seg.conf)))
        if options:
            sites.append(_Site(i, False, tuple(options[: settings.alternatives])))
    # Gaps: the blank frames before each character and after the last.
    for i in range(len(segments) + 1):
        lo = 0 if i == 0 else segments[i - 1].end
        hi = segments[i].first if i < len(segments) else len(probs)
        if hi <= lo:
            continue
        gap = probs[lo:hi, 1:]
        t = int(np.argmax(gap.max(axis=1)))
        cls = int(np.argmax(gap[t])) + 1
        p, blank = float(probs[lo + t, cls]), float(probs[lo + t, 0])
        if p > settings.insert:
            sites.append(_Site(i, True, ((cls, lo + t, p, math.log(p / max(blank, 1e-9))),)))
    sites.sort(key=lambda s: -max(o[3] for o in s.options))
    return sites[: settings.sites]


def _edited(
    segments: list[_Segment], chosen: dict[tuple[int, bool], tuple[int, int, float, float] | None]
) -> list[tuple[int, int, float]]:
    """(class, frame, probability) of each character once the chosen edits are made."""
    out = []
    for i in range(len(segments) + 1):
        ins = chosen.get((i, True))
        if ins is not None:
            out.append((ins[0], ins[1], ins[2]))
        if i < len(segments):
            seg = segments[i]
            sub = chosen.get((i, False))
            if sub is None:
                out.append((seg.cls, seg.first, seg.conf))
            elif sub[0] != 0:  # class 0: the character is dropped
                out.append((sub[0], seg.first, sub[2]))
    # Two equal characters side by side stay two (CTC needs a blank between them to read so).
    return out


def _text(
    segments: list[_Segment],
    chosen: dict[tuple[int, bool], tuple[int, int, float, float] | None],
    charset: str,
) -> str:
    return "".join(charset[cls - 1] for cls, _, _ in _edited(segments, chosen))


def _decoded(
    segments: list[_Segment],
    chosen: dict[tuple[int, bool], tuple[int, int, float, float] | None],
    charset: str,
) -> Decoded:
    chars = _edited(segments, chosen)
    classes = [cls for cls, _, _ in chars]
    frames = [frame for _, frame, _ in chars]
    return _reading(classes, [p for _, _, p in chars], frames, charset)
