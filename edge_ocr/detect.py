"""Where the text is when no fields are configured: text lines found in a frame, in reading order.

`Detector` runs our DB-style segmentation model (scripts/detnet.py) with onnxruntime: the frame,
grayscale and resized (`detection_side`: a frame larger than `max_side` is scaled down to it, one
smaller than the side the model was trained at is scaled up to that, each side a multiple of 32),
goes in; a probability map of shrunk text-line kernels comes out at 1/`stride` of the input.
Kernels above `bin_threshold` become contours, each a rotated rectangle whose mean probability
must reach `box_threshold`; it is grown back to the whole line by the DB rule (distance = area *
ratio / perimeter, the inverse of how training shrank the lines) and scaled to frame
coordinates. The model's metadata carries every one of these settings.

`ClassicalDetector` does the same job with OpenCV alone (morphological gradient, closing,
contours): a baseline to measure the model against.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_ocr import preprocess
from edge_ocr.errors import ModelError
from edge_ocr.session import open_session, shipped_model_path
from edge_ocr.types import Quad

log = logging.getLogger(__name__)

DEFAULT_DETECTOR_NAME = "text_det_int8.onnx"
FORMAT = "edge-ocr-db-1"
PREFIX = "edge_ocr."


def default_detector_path() -> Path:
    """The shipped detector: next to an installed package, else in the source checkout."""
    return shipped_model_path(DEFAULT_DETECTOR_NAME)


@dataclass(frozen=True)
class TextLine:
    """One detected line: its corners in frame coordinates (the text's top-left first,
    clockwise) and the mean kernel probability inside it."""

    quad: Quad
    score: float


@dataclass(frozen=True)
class DetectorInfo:
    """How to feed a text-line detector and read its output.

    Input: float32 [1, 1, h, w], grayscale, (x/255 - mean) / std, h and w multiples of
    `size_multiple`. Output: probability [1, 1, h / stride, w / stride] of a pixel lying on a
    line's kernel (the line shrunk by shrink_distance(w, h, unclip_ratio)).
    """

    stride: int = 2
    size_multiple: int = 32
    max_side: int = 640
    mean: float = 0.5
    std: float = 0.5
    bin_threshold: float = 0.3
    box_threshold: float = 0.5
    unclip_ratio: float = 1.5
    min_size: float = 3.0  # least kernel side in map pixels
    name: str = "text-det"
    version: str = "0"
    provenance: str = ""

    def to_metadata(self) -> dict[str, str]:
        """The ONNX metadata_props that describe this model."""
        return {
            PREFIX + "format": FORMAT,
            PREFIX + "kind": "detector",
            PREFIX + "normalization": json.dumps(
                {"mean": self.mean, "std": self.std, "channels": "gray"}
            ),
            PREFIX + "stride": str(self.stride),
            PREFIX + "downsample": str(self.stride),
            PREFIX + "size_multiple": str(self.size_multiple),
            PREFIX + "max_side": str(self.max_side),
            PREFIX + "bin_threshold": str(self.bin_threshold),
            PREFIX + "box_threshold": str(self.box_threshold),
            PREFIX + "unclip_ratio": str(self.unclip_ratio),
            PREFIX + "min_size": str(self.min_size),
            PREFIX + "name": self.name,
            PREFIX + "version": self.version,
            PREFIX + "provenance": self.provenance,
        }

    @classmethod
    def from_metadata(cls, meta: dict[str, str], source: str = "model") -> DetectorInfo:
        """Parse metadata_props; a ModelError names the missing or malformed key."""
        fmt = meta.get(PREFIX + "format")
        if fmt != FORMAT or meta.get(PREFIX + "kind") != "detector":
            raise ModelError(
                f"{source}: not an edge-ocr text detector "
                f"(metadata {PREFIX}format is {fmt!r}, expected {FORMAT!r})"
            )
        try:
            norm = json.loads(meta[PREFIX + "normalization"])
            return cls(
                stride=int(meta[PREFIX + "stride"]),
                size_multiple=int(meta[PREFIX + "size_multiple"]),
                max_side=int(meta[PREFIX + "max_side"]),
                mean=float(norm["mean"]),
                std=float(norm["std"]),
                bin_threshold=float(meta[PREFIX + "bin_threshold"]),
                box_threshold=float(meta[PREFIX + "box_threshold"]),
                unclip_ratio=float(meta[PREFIX + "unclip_ratio"]),
                min_size=float(meta.get(PREFIX + "min_size", "3")),
                name=meta.get(PREFIX + "name", "text-det"),
                version=meta.get(PREFIX + "version", "0"),
                provenance=meta.get(PREFIX + "provenance", ""),
            )
        except KeyError as err:
            raise ModelError(f"{source}: metadata key {err.args[0]!r} is missing") from err
        except (ValueError, TypeError) as err:
            raise ModelError(f"{source}: malformed metadata: {err}") from err


# -- geometry ------------------------------------------------------------------------------------


def unclip_distance(width: float, height: float, ratio: float) -> float:
    """How far a kernel rectangle grows back to its line: area * ratio / perimeter (DB)."""
    return width * height * ratio / max(2.0 * (width + height), 1e-6)


def shrink_distance(width: float, height: float, ratio: float) -> float:
    """How far training shrinks a width x height line so `unclip_distance` undoes it exactly.

    Solves d = (w - 2d)(h - 2d) * ratio / (2 (w + h - 4d)) for the smaller root.
    """
    a = 8.0 + 4.0 * ratio
    b = -2.0 * (1.0 + ratio) * (width + height)
    c = ratio * width * height
    disc = max(b * b - 4 * a * c, 0.0)
    return (-b - math.sqrt(disc)) / (2 * a)


def order_quad(points: np.ndarray) -> np.ndarray:
    """The 4 corners of a box ordered so its text reads left to right: top-left first, clockwise.

    The reading direction is the box axis nearer to horizontal.
    """
    p = np.asarray(points, np.float32).reshape(4, 2)  # [4, 2]
    centre = p.mean(axis=0)
    e1, e2 = p[1] - p[0], p[2] - p[1]
    u = e1 if abs(e1[0]) * abs(e2[1]) >= abs(e1[1]) * abs(e2[0]) else e2
    if u[0] < 0 or (u[0] == 0 and u[1] > 0):
        u = -u
    u = u / max(float(np.hypot(*u)), 1e-6)
    v = np.array([-u[1], u[0]], np.float32)  # points down the page (image y grows downwards)
    along, across = (p - centre) @ u, (p - centre) @ v
    out = np.empty_like(p)
    taken: set[int] = set()
    for k, (sa, sv) in enumerate(((-1, -1), (1, -1), (1, 1), (-1, 1))):
        score = sa * along + sv * across
        for i in np.argsort(-score):
            if int(i) not in taken:
                taken.add(int(i))
                out[k] = p[i]
                break
    return out


def boxes_from_map(
    prob: np.ndarray,
    bin_threshold: float,
    box_threshold: float,
    unclip_ratio: float,
    min_size: float = 3.0,
    max_candidates: int = 500,
) -> list[tuple[np.ndarray, float]]:
    """Line boxes in map coordinates (float32 [4, 2], pixel edges, not centres) and scores.

    `prob` is float32 [h, w]; each connected region above `bin_threshold` is one line kernel.
    """
    bitmap = (prob > bin_threshold).astype(np.uint8)
    contours, _ = cv2.findContours(bitmap, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    h, w = prob.shape
    out = []
    for contour in contours[:max_candidates]:
        (cx, cy), (rw, rh), angle = cv2.minAreaRect(contour)
        # minAreaRect spans pixel centres: a kernel one pixel thick covers one more pixel.
        rw, rh = rw + 1.0, rh + 1.0
        if min(rw, rh) < min_size * 0.5 or max(rw, rh) < min_size:
            continue
        score, area = _mean_inside(prob, contour)
        if score < box_threshold:
            continue
        # The kernel's mean thickness, not its rectangle's: a slightly wavy or tapered kernel
        # has a much thicker bounding rectangle, and unclipping multiplies that error.
        if rw >= rh:
            rh = min(rh, area / rw)
        else:
            rw = min(rw, area / rh)
        d = unclip_distance(rw, rh, unclip_ratio)
        rect = ((cx + 0.5, cy + 0.5), (rw + 2 * d, rh + 2 * d), angle)
        box = cv2.boxPoints(rect)
        box[:, 0] = np.clip(box[:, 0], 0, w)
        box[:, 1] = np.clip(box[:, 1], 0, h)
        out.append((order_quad(box), score))
    return out


def _mean_inside(prob: np.ndarray, contour: np.ndarray) -> tuple[float, float]:
    """The mean probability inside a contour and its area in pixels."""
    x, y, bw, bh = cv2.boundingRect(contour)
    mask = np.zeros((bh, bw), np.uint8)
    cv2.fillPoly(mask, [contour - np.array([x, y])], 1)
    return float(cv2.mean(prob[y : y + bh, x : x + bw], mask)[0]), float(cv2.countNonZero(mask))


def quad_sides(quad: Quad) -> tuple[float, float]:
    """A line quad's mean length along the line and mean height across it."""
    p = np.asarray(quad, dtype=np.float64)
    length = (np.hypot(*(p[1] - p[0])) + np.hypot(*(p[2] - p[3]))) / 2
    height = (np.hypot(*(p[3] - p[0])) + np.hypot(*(p[2] - p[1]))) / 2
    return float(length), float(height)


def covered(quad: Quad, by: Quad) -> float:
    """The share of `quad`'s area that `by` covers (0..1; both convex)."""
    a = np.asarray(quad, np.float32)
    area = abs(cv2.contourArea(a))
    if area <= 0:
        return 0.0
    inter, _ = cv2.intersectConvexConvex(a, np.asarray(by, np.float32))
    return float(inter) / area


def reading_order(lines: Sequence[TextLine]) -> list[TextLine]:
    """Lines top to bottom, and left to right within a row (lines whose middles overlap
    vertically by more than half the thinner one's height)."""

    def middle(line: TextLine) -> tuple[float, float, float]:
        q = np.asarray(line.quad, np.float32)
        return float(q[:, 0].mean()), float(q[:, 1].mean()), quad_sides(line.quad)[1]

    rows: list[list[tuple[float, float, float, TextLine]]] = []
    for line in sorted(lines, key=lambda t: middle(t)[1]):
        x, y, height = middle(line)
        for row in rows:
            ry = sum(m[1] for m in row) / len(row)
            rh = sum(m[2] for m in row) / len(row)
            overlap = min(y + height / 2, ry + rh / 2) - max(y - height / 2, ry - rh / 2)
            if overlap > 0.5 * min(height, rh):
                row.append((x, y, height, line))
                break
        else:
            rows.append([(x, y, height, line)])
    rows.sort(key=lambda row: sum(m[1] for m in row) / len(row))
    return [m[3] for row in rows for m in sorted(row, key=lambda m: m[0])]


# The max_side a Detector may be given, in px (config.py's detect.max_side checks the same).
MAX_SIDE_RANGE = (64, 4096)


def detection_side(width: int, height: int, max_side: int, model_side: int) -> int:
    """The longest side a frame is detected at: its own, at most `max_side` (cost), at least
    the `model_side` the model was trained at (text in a smaller frame is scaled up to the sizes
    it learnt). A large frame detected at its own size keeps small text the model can find:
    text that scaling down to 640 px leaves a few pixels high."""
    return min(max_side, max(model_side, width, height))


def input_size(width: int, height: int, max_side: int, multiple: int) -> tuple[int, int]:
    """The network input (w, h): longest side about `max_side`, both multiples of `multiple`."""
    scale = max_side / max(width, height)
    w = max(multiple, int(round(width * scale / multiple)) * multiple)
    h = max(multiple, int(round(height * scale / multiple)) * multiple)
    return w, h


def normalize(gray: np.ndarray, mean: float, std: float) -> np.ndarray:
    """uint8 gray -> float32 (x/255 - mean) / std, the detector's input scale."""
    return (gray.astype(np.float32) * (1 / 255) - mean) / std


def network_input(image: np.ndarray, info: DetectorInfo, max_side: int) -> np.ndarray:
    """A frame as the detector takes it: gray, longest side `max_side`, each side a multiple
    of info.size_multiple, normalized; float32 [1, 1, h, w]. Training's validation and the INT8
    calibration use this too, so they see frames exactly as the Detector does."""
    gray = preprocess.to_gray(image)
    h, w = gray.shape
    size = input_size(w, h, max_side, info.size_multiple)
    interpolation = cv2.INTER_AREA if size[0] < w else cv2.INTER_LINEAR
    small = cv2.resize(gray, size, interpolation=interpolation)
    return normalize(small, info.mean, info.std)[None, None]  # [1, 1, h, w]


def _to_lines(
    boxes: Sequence[tuple[np.ndarray, float]], sx: float, sy: float, width: int, height: int
) -> list[TextLine]:
    lines = []
    for box, score in boxes:
        q = box * np.array([sx, sy], np.float32)
        q[:, 0] = np.clip(q[:, 0], 0, width)
        q[:, 1] = np.clip(q[:, 1], 0, height)
        quad: Quad = tuple((float(x), float(y)) for x, y in q)  # type: ignore[assignment]
        lines.append(TextLine(quad, float(score)))
    return reading_order(lines)


# -- the model -----------------------------------------------------------------------------------


# A second, closer look where the first pass finds small text: lines under ZOOM_BELOW px high
# at the scale the frame was detected at are kernels of a few map pixels, which the model finds
# in fragments or not at all. The region around them (ZOOM_MARGIN of their height past them on
# every side) is detected again at ZOOM_FACTOR times that scale, its longest side at most
# ZOOM_MAX_SIDE; a line it finds under ZOOM_PREFER px (first-pass scale) replaces the first-pass
# lines it overlaps (ZOOM_OVERLAP of either's area), any other line it finds is added where the
# first pass has none. Chosen on the generated validation scenes (scenes_val, scenes_far; not
# on the test sets): e2e word recall 66.2 -> 70.2% and 56.8 -> 70.7%, the zoomed region about
# a fifth of the frame (docs/detection.md).
ZOOM_BELOW = 16.0
ZOOM_MARGIN = 6.0
ZOOM_FACTOR = 2.0
ZOOM_MAX_SIDE = 1280
ZOOM_PREFER = 12.0
ZOOM_OVERLAP = 0.3


class Detector:
    """A loaded text-line detection model; `detect` finds the lines of one frame."""

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        threads: int = 1,
        max_side: int | None = None,
        zoom: bool = True,
    ) -> None:
        """`zoom`: look again, closer, around small text the first pass finds (ZOOM_*)."""
        path = Path(model_path) if model_path is not None else default_detector_path()
        self._session, meta = open_session(path, threads, "detector model")
        self.info = DetectorInfo.from_metadata(meta, source=str(path))
        self.path = path
        # Default: the side the model was trained at. Larger (1280 for 1920x1080 frames) finds
        # text a few pixels high once scaled to 640, but loses some large text and precision on
        # real photos, and costs 4x the pixels (docs/detection.md: ours@1280).
        self.max_side = int(max_side or self.info.max_side)
        self.zoom = zoom
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ModelError(f"{path}: expected one input of shape [1, 1, h, w]")
        self._input_name = inputs[0].name
        log.info(
            "detector %s version %s: longest side %d, %s, %d thread(s)",
            path.name,
            self.info.version,
            self.max_side,
            "closer look at small text" if zoom else "one pass",
            threads,
        )

    def _side(self, image: np.ndarray) -> int:
        """The longest side a frame is detected at (`detection_side`)."""
        h, w = image.shape[:2]
        return detection_side(w, h, self.max_side, self.info.max_side)

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """The network input for a frame: float32 [1, 1, h, w]."""
        return network_input(image, self.info, self._side(image))

    def probability(self, image: np.ndarray) -> np.ndarray:
        """The kernel probability map of a frame: float32 [h / stride, w / stride] of the input."""
        return self._probability_at(image, self._side(image))

    def detect(self, image: np.ndarray) -> list[TextLine]:
        """The text lines of a frame (BGR or gray uint8), in reading order."""
        side = self._side(image)
        lines = self._lines_at(image, side)
        if self.zoom:
            lines = self._zoom(image, lines, side / max(image.shape[:2]))
        return lines

    def _probability_at(self, image: np.ndarray, side: int) -> np.ndarray:
        """The probability map of an image detected with its longest side at `side` px."""
        x = network_input(image, self.info, side)
        (prob,) = self._session.run(None, {self._input_name: x})
        return prob[0, 0]

    def _lines_at(self, image: np.ndarray, side: int) -> list[TextLine]:
        """The lines of an image detected with its longest side at `side` px."""
        h, w = image.shape[:2]
        return lines_from_map(self._probability_at(image, side), w, h, self.info)

    def _zoom(self, image: np.ndarray, lines: list[TextLine], scale: float) -> list[TextLine]:
        """`lines` (found at `scale` x the frame) with the small ones looked at again closer."""
        sized = [(line, quad_sides(line.quad)[1]) for line in lines]
        small = [(line, height) for line, height in sized if height * scale < ZOOM_BELOW]
        if not small:
            return lines
        h, w = image.shape[:2]
        corners = np.asarray([line.quad for line, _ in small], np.float32).reshape(-1, 2)
        reach = ZOOM_MARGIN * float(np.median([height for _, height in small]))
        x0 = max(0, int(corners[:, 0].min() - reach))
        y0 = max(0, int(corners[:, 1].min() - reach))
        x1 = min(w, int(math.ceil(corners[:, 0].max() + reach)))
        y1 = min(h, int(math.ceil(corners[:, 1].max() + reach)))
        side = min(ZOOM_MAX_SIDE, round(max(x1 - x0, y1 - y0) * scale * ZOOM_FACTOR))
        if side < 1.2 * max(x1 - x0, y1 - y0) * scale:
            return lines  # the cap leaves nothing closer to see
        found = []
        for line in self._lines_at(image[y0:y1, x0:x1], side):
            q = np.asarray(line.quad, np.float32)
            # A line the region's edge cuts (where the frame goes on) is only part of one.
            if (
                (x0 > 0 and q[:, 0].min() < 2)
                or (y0 > 0 and q[:, 1].min() < 2)
                or (x1 < w and q[:, 0].max() > x1 - x0 - 2)
                or (y1 < h and q[:, 1].max() > y1 - y0 - 2)
            ):
                continue
            quad: Quad = tuple((float(x) + x0, float(y) + y0) for x, y in q)  # type: ignore[assignment]
            found.append(TextLine(quad, line.score))
        preferred = [line for line in found if quad_sides(line.quad)[1] * scale < ZOOM_PREFER]

        def overlaps(a: TextLine, b: TextLine) -> bool:
            return max(covered(a.quad, b.quad), covered(b.quad, a.quad)) >= ZOOM_OVERLAP

        kept = [line for line in lines if not any(overlaps(line, p) for p in preferred)]
        added = [
            line for line in found if line in preferred or not any(overlaps(line, k) for k in kept)
        ]
        return reading_order(kept + added)


def lines_from_map(prob: np.ndarray, width: int, height: int, info: DetectorInfo) -> list[TextLine]:
    """The lines of a width x height frame from its probability map, in reading order."""
    boxes = boxes_from_map(
        prob, info.bin_threshold, info.box_threshold, info.unclip_ratio, info.min_size
    )
    return _to_lines(boxes, width / prob.shape[1], height / prob.shape[0], width, height)


class ClassicalDetector:
    """Text lines from OpenCV alone: strong local contrast, closed along the line, as boxes.

    The baseline the model has to beat; no training, no model file.
    """

    def __init__(self, max_side: int = 640, min_height: int = 6) -> None:
        self.max_side = max_side
        self.min_height = min_height

    def detect(self, image: np.ndarray) -> list[TextLine]:
        """The text lines of a frame (BGR or gray uint8), in reading order."""
        gray = preprocess.to_gray(image)
        h, w = gray.shape
        scale = min(1.0, self.max_side / max(h, w))
        small = (
            cv2.resize(
                gray,
                (max(1, round(w * scale)), max(1, round(h * scale))),
                interpolation=cv2.INTER_AREA,
            )
            if scale < 1
            else gray
        )
        ellipse = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        gradient = cv2.morphologyEx(small, cv2.MORPH_GRADIENT, ellipse)
        _, binary = cv2.threshold(gradient, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
        closed = cv2.morphologyEx(
            binary, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 1))
        )
        contours, _ = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        boxes = []
        for contour in contours:
            (cx, cy), (rw, rh), angle = cv2.minAreaRect(contour)
            box = order_quad(cv2.boxPoints(((cx + 0.5, cy + 0.5), (rw + 1, rh + 1), angle)))
            width = float(np.hypot(*(box[1] - box[0])))
            height = float(np.hypot(*(box[3] - box[0])))
            if height < self.min_height or width < 1.2 * height or height > 0.3 * small.shape[0]:
                continue
            x, y, bw, bh = cv2.boundingRect(contour)
            fill = float(cv2.countNonZero(binary[y : y + bh, x : x + bw])) / max(1, bw * bh)
            if not 0.2 <= fill <= 0.9:  # edges of text, not a solid blob or a thin outline
                continue
            boxes.append((box, fill))
        return _to_lines(boxes, 1 / scale, 1 / scale, w, h)
