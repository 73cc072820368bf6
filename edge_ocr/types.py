"""The small objects passed between the stages: Frame -> Region -> Reading."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path

import numpy as np

Point = tuple[float, float]
Quad = tuple[Point, Point, Point, Point]


@dataclass(frozen=True, eq=False)
class Frame:
    """One captured image. `path` is set for files from a watched folder."""

    image: np.ndarray  # [h, w, 3] BGR or [h, w] gray, uint8
    frame_id: int
    source: str
    captured_at: float  # unix time
    path: Path | None = None


@dataclass(frozen=True, eq=False)
class Region:
    """A crop of a frame that holds one text line, with the rules of the field it belongs to."""

    field: str
    crop: np.ndarray  # uint8, straightened
    quad: Quad  # where the crop came from, in frame coordinates (top-left, clockwise)
    allowed: str | None = None
    pattern: str | None = None


@dataclass(frozen=True)
class Reading:
    """The recognized text of one region of one frame."""

    field: str
    text: str
    confidence: float
    char_confidences: tuple[float, ...]
    frame_id: int
    source: str
    captured_at: float
    recognized_at: float
    valid: bool = True  # False when the text breaks the field's expected pattern
    quad: Quad | None = None
    extra: dict[str, str] = dataclass_field(default_factory=dict)
