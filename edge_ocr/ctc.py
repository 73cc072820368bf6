"""Greedy CTC decoding with allowed-character masking and per-character confidences."""

from __future__ import annotations

from dataclasses import dataclass

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
    probs = softmax(logits, mask)  # [t, classes]
    best = probs.argmax(axis=-1)
    best_p = probs[np.arange(len(best)), best]
    chars: list[str] = []
    confs: list[float] = []
    frames: list[int] = []
    prev = 0
    for t, (cls, p) in enumerate(zip(best.tolist(), best_p.tolist(), strict=True)):
        if cls != 0:
            if cls != prev:
                chars.append(charset[cls - 1])
                confs.append(p)
                frames.append(t)
            elif p > confs[-1]:
                confs[-1] = p
        prev = cls
    confidence = float(np.mean(confs)) if confs else 0.0
    return Decoded("".join(chars), confidence, tuple(round(c, 4) for c in confs), tuple(frames))
