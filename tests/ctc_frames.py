"""Network outputs written by hand for the decoding tests: per frame, the probability of each
character named (the rest to the blank)."""

from __future__ import annotations

import numpy as np


def frame_logits(frames: list[dict[str, float]], charset: str) -> np.ndarray:
    """Logits [t, 1 + len(charset)] whose softmax gives each frame the probabilities listed."""
    probs = np.full((len(frames), len(charset) + 1), 1e-6, np.float32)
    for t, frame in enumerate(frames):
        for ch, p in frame.items():
            probs[t, charset.index(ch) + 1] = p
        probs[t, 0] = max(1e-6, 1 - sum(frame.values()))
    return np.log(probs)


def spelled(text: str, unsure: dict[int, dict[str, float]] | None = None) -> list[dict[str, float]]:
    """A frame per character, each followed by a blank frame; character i gets `unsure[i]`
    instead of 0.98 for itself."""
    frames: list[dict[str, float]] = []
    for i, ch in enumerate(text):
        frames += [(unsure or {}).get(i, {ch: 0.98}), {}]
    return frames
