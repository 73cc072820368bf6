"""Read every text line of a frame: detect -> rectify each quad -> recognize all in one batch.

Used by `edge-ocr read --detect`, by the daemon when no fields are configured, and by the
end-to-end evaluation. A line can also be cut into words where the recognizer read a space,
using the frame each character was decoded at (`ctc.Decoded.positions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edge_ocr import regions
from edge_ocr.ctc import Decoded
from edge_ocr.detect import quad_sides
from edge_ocr.types import Point, Quad


class _Line(Protocol):
    quad: Quad
    score: float


class LineDetector(Protocol):
    """Anything that finds text lines: the ONNX detector or the classical baseline."""

    def detect(self, image: np.ndarray) -> Sequence[_Line]: ...


# A detected box hugs the ink; the recognizer learned lines with some background around them
# (and a clipped first or last stroke reads as another letter), so each crop is cut this much
# larger, in units of the line's height, on each side.
MARGIN_X = 0.25
MARGIN_Y = 0.12


def grow(quad: Quad, along: float, across: float) -> Quad:
    """The quad widened by `along` x its height at each end and `across` x its height on top
    and bottom, along its own axes (so a slanted line grows along its slant)."""
    p = np.asarray(quad, dtype=np.float64)  # [4, 2]: tl, tr, br, bl
    right = (p[1] - p[0] + p[2] - p[3]) / 2
    down = (p[3] - p[0] + p[2] - p[1]) / 2
    height = float(np.hypot(*down))
    ux = right / max(float(np.hypot(*right)), 1e-6)
    uy = down / max(height, 1e-6)
    dx, dy = ux * along * height, uy * across * height
    out = (p[0] - dx - dy, p[1] + dx - dy, p[2] + dx + dy, p[3] - dx + dy)
    return tuple((float(x), float(y)) for x, y in out)  # type: ignore[return-value]


@dataclass(frozen=True)
class LineReading:
    """One detected line and what the recognizer read in it."""

    quad: Quad  # frame coordinates, top-left first, clockwise
    text: str
    confidence: float
    char_confidences: tuple[float, ...]
    detection_score: float
    positions: tuple[float, ...] = ()  # per character: where it starts, as a fraction of the line

    def to_json(self) -> dict:
        return {
            "text": self.text,
            "confidence": round(self.confidence, 4),
            "quad": [[round(x, 1), round(y, 1)] for x, y in self.quad],
        }


def read_lines(image: np.ndarray, detector: LineDetector, recognizer: object) -> list[LineReading]:
    """Every line the detector finds, rectified and read in one recognizer call, reading order."""
    found = list(detector.detect(image))
    if not found:
        return []
    crops = [regions.warp(image, grow(line.quad, MARGIN_X, MARGIN_Y)) for line in found]
    prepared = [recognizer.prepare(c) for c in crops]  # type: ignore[attr-defined]
    decoded: list[Decoded] = recognizer.recognize_prepared(prepared)  # type: ignore[attr-defined]
    step = recognizer.info.downsample  # type: ignore[attr-defined]
    out = []
    for line, line_px, d in zip(found, prepared, decoded, strict=True):
        # Frame t covers the prepared line from t * step; the crop is the quad plus a margin of
        # `margin` (as a fraction of the quad's length) at each end.
        length, height = quad_sides(line.quad)
        margin = MARGIN_X * height / max(length, 1e-6)
        scale = (1 + 2 * margin) * step / line_px.shape[1]
        positions = tuple(min(1.0, max(0.0, p * scale - margin)) for p in d.positions)
        out.append(
            LineReading(line.quad, d.text, d.confidence, d.char_confidences, line.score, positions)
        )
    return out


def point_along(quad: Quad, fraction: float) -> tuple[Point, Point]:
    """The points at `fraction` of the way along the top and the bottom edge of a quad."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = quad
    f = min(1.0, max(0.0, fraction))
    top = (x0 + f * (x1 - x0), y0 + f * (y1 - y0))
    bottom = (x3 + f * (x2 - x3), y3 + f * (y2 - y3))
    return top, bottom


def split_words(line: LineReading) -> list[tuple[Quad, str]]:
    """The line's words, each with the part of the line's quad it covers.

    The spaces the recognizer read cut the line: a word runs from the space before it (the
    line's start for the first word) to the space after it (the line's end for the last), so
    the words partition the line. Without positions the whole line is one word.
    """
    text = line.text
    if not text.strip():
        return []
    if len(line.positions) != len(text) or " " not in text.strip():
        return [(line.quad, text.strip())]
    words: list[tuple[Quad, str]] = []
    begin, start = 0.0, None
    for i, ch in enumerate(text + " "):
        if ch != " ":
            if start is None:
                start = i
            continue
        end = line.positions[i] if i < len(text) else 1.0
        if start is not None:
            (t0, b0), (t1, b1) = point_along(line.quad, begin), point_along(line.quad, end)
            words.append(((t0, t1, b1, b0), text[start:i]))
            start = None
        begin = end
    return words
