"""Where the text is: configured fields (rect or quad, optional rotation) cut out of a frame.

A quad is warped to a straight, upright crop, so a label seen at an angle reads like a scanned
line. `rotate` then turns the crop clockwise by 90, 180 or 270 degrees, for text that runs up,
down or upside down in the frame. Without configured fields the whole frame is one line, read
as the field `text`.

A field placed on a label (`label:`) has its rect or quad in the label's canonical view; the
label is found in each frame (edge_ocr.anchor) and the field's corners are mapped into the
frame, so it is read at the same place on the label wherever the label is. When the label is
not found, or the field is cut off by the frame's edge, the field gives no region in that
frame: never a reading from the wrong place. Nor does a rect or quad that lies outside a frame
(a frame smaller than the configuration expects); the other fields are still cut out, and the
caller learns why each missing one is missing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from edge_ocr import anchor
from edge_ocr.config import FieldConfig, LabelConfig
from edge_ocr.errors import ConfigError, ImageError
from edge_ocr.types import Frame, Quad, Region

log = logging.getLogger(__name__)

WHOLE_IMAGE_FIELD = "text"

_ROTATIONS = {
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}


def rect_quad(x: float, y: float, w: float, h: float) -> Quad:
    """The corners of an axis-aligned rectangle, top-left first, clockwise."""
    return ((x, y), (x + w, y), (x + w, y + h), (x, y + h))


def warp(image: np.ndarray, quad: Quad) -> np.ndarray:
    """The quad's content as an upright rectangle (top-left, top-right, bottom-right, ...)."""
    p = np.asarray(quad, dtype=np.float32)  # [4, 2]
    width = max(_dist(p[0], p[1]), _dist(p[3], p[2]))
    height = max(_dist(p[0], p[3]), _dist(p[1], p[2]))
    w, h = max(1, int(round(width))), max(1, int(round(height)))
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(p, dst)
    return cv2.warpPerspective(
        image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def _dist(a: np.ndarray, b: np.ndarray) -> float:
    return math.hypot(float(a[0] - b[0]), float(a[1] - b[1]))


def crop_rect(image: np.ndarray, rect: tuple[float, float, float, float]) -> np.ndarray:
    """An axis-aligned crop, clipped to the image; ImageError when nothing of it is inside."""
    x, y, w, h = (int(round(v)) for v in rect)
    ih, iw = image.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(iw, x + w), min(ih, y + h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        shown = ", ".join(f"{v:g}" for v in rect)
        raise ImageError(f"rect [{shown}] lies outside the {iw}x{ih} frame")
    return image[y0:y1, x0:x1]


def rotate(crop: np.ndarray, degrees: int) -> np.ndarray:
    """Turn a crop clockwise by 0, 90, 180 or 270 degrees."""
    if degrees == 0:
        return crop
    return cv2.rotate(crop, _ROTATIONS[degrees])


def _inside(quad: Quad, width: int, height: int) -> bool:
    xs = [p[0] for p in quad]
    ys = [p[1] for p in quad]
    return max(xs) > 0 and max(ys) > 0 and min(xs) < width and min(ys) < height


def extract(
    frame: Frame,
    fields: Sequence[FieldConfig],
    labels: tuple[LabelConfig, ...] = (),
    missed: dict[str, str] | None = None,
) -> list[Region]:
    """One Region per configured field (the whole frame when there are none).

    `labels` is the configuration's labels tuple (Config.labels). A field that cannot be cut
    out of this frame (its label not found, or it lies outside the frame) is left out, and
    `missed`, when given, maps its name to why.
    """
    why: dict[str, str] = {} if missed is None else missed
    image = frame.image
    h, w = image.shape[:2]
    if not fields:
        return [Region(WHOLE_IMAGE_FIELD, image, rect_quad(0, 0, w, h))]
    finders = anchor.finders(labels) if any(f.label is not None for f in fields) else {}
    located: dict[str, np.ndarray | None] = {}  # each label is looked for once per frame
    regions = []
    for f in fields:
        quad: Quad
        if f.label is not None:
            found = _on_label(frame, f, finders, located)
            if isinstance(found, str):
                why[f.name] = found
                continue
            quad, crop = found, warp(image, found)
        elif f.quad is not None:
            quad = tuple(f.quad)  # type: ignore[assignment]
            if not _inside(quad, w, h):
                why[f.name] = f"quad lies outside the {w}x{h} frame"
                continue
            crop = warp(image, quad)
        elif f.rect is not None:
            quad = rect_quad(*f.rect)
            try:
                crop = crop_rect(image, f.rect)
            except ImageError as err:
                why[f.name] = str(err)
                continue
        else:
            quad = rect_quad(0, 0, w, h)
            crop = image
        regions.append(Region(f.name, rotate(crop, f.rotate), quad, f.allowed, f.pattern))
    return regions


def quad_on_label(f: FieldConfig, size: tuple[int, int]) -> Quad:
    """Where a field placed on a label lies on the label's canonical view of `size` (w, h):
    its rect or quad, else the whole label."""
    if f.rect is not None:
        return rect_quad(*f.rect)
    if f.quad is not None:
        return tuple(f.quad)  # type: ignore[return-value]
    return rect_quad(0, 0, *size)


def _on_label(
    frame: Frame,
    f: FieldConfig,
    finders: Mapping[str, anchor.LabelFinder],
    located: dict[str, np.ndarray | None],
) -> Quad | str:
    """Where a field placed on a label lies in this frame, or why that cannot be known."""
    assert f.label is not None
    finder = finders.get(f.label)
    if finder is None:
        raise ConfigError(f"field {f.name}: no label named {f.label!r}")
    if f.label not in located:
        located[f.label] = finder.locate(frame.image)
        if located[f.label] is None:
            log.debug("frame %d: label %s not found, its fields not read", frame.frame_id, f.label)
    matrix = located[f.label]
    if matrix is None:
        return f"label {f.label!r} not found in the frame"
    quad = anchor.as_quad(anchor.to_frame(matrix, quad_on_label(f, finder.size)))
    h, w = frame.image.shape[:2]
    if not all(-1 <= x <= w + 1 and -1 <= y <= h + 1 for x, y in quad):
        finder.cut_off += 1
        log.debug("frame %d: field %s is cut off by the frame's edge", frame.frame_id, f.name)
        return f"field cut off by the frame's edge (label {f.label!r})"
    return quad
