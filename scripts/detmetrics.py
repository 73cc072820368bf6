"""Scoring of detected words against ground-truth word quads: detection P/R/F1 and end-to-end.

The protocol (ICDAR-style, as `docs/detection.md` states it):

- A ground-truth word is "don't care" when its protocol text (lower-case, [a-z0-9] only) is
  shorter than 3 characters. It is never a miss, and a detection matched to it is neither a hit
  nor a false positive: that detection leaves the count.
- A detected word is a quad and its text; words whose protocol text is empty (a lone "-") are
  not answers and are dropped before matching.
- Matching is one-to-one and greedy: all (ground truth, detection) pairs with polygon IoU
  >= 0.5, highest IoU first, each word used at most once.
- Where the ground truth is axis-aligned rectangles (ICDAR 2003: x, y, width, height, so a
  slanted word's box is its upright bounding box), each detected quad is compared as its own
  upright bounding rectangle, like with like: a tight slanted quad would otherwise overlap the
  upright box of the same slanted word by less than 0.5.
- Detection: hits are detections matched to cared-for words. Precision = hits / (detections -
  those matched to don't-care words); recall = hits / cared-for words.
- End to end: a cared-for word is read when the detection matched to it has the same protocol
  text. Recall = read / cared-for words, precision = read / (the same detection count).

Counts are summed over the images of a set before the ratios are taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edge_ocr.regions import rect_quad
from edge_ocr.types import Quad
from scripts.metrics import normalize_protocol

Point = tuple[float, float]
Polygon = Sequence[Point]

IOU_THRESHOLD = 0.5
MIN_CARED_CHARS = 3


def is_dont_care(text: str) -> bool:
    """Whether a ground-truth word is too short to count (< 3 protocol characters)."""
    return len(normalize_protocol(text)) < MIN_CARED_CHARS


def polygon_area(polygon: Polygon) -> float:
    """Unsigned area of a simple polygon (shoelace formula)."""
    n = len(polygon)
    twice = 0.0
    for i in range(n):
        x0, y0 = polygon[i]
        x1, y1 = polygon[(i + 1) % n]
        twice += x0 * y1 - x1 * y0
    return abs(twice) / 2.0


def convex_hull(points: Polygon) -> list[Point]:
    """The convex hull, counter-clockwise in a y-up frame (monotone chain); [] when degenerate."""
    pts = sorted({(float(x), float(y)) for x, y in points})
    if len(pts) < 3:
        return []

    def cross(o: Point, a: Point, b: Point) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[Point] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[Point] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    hull = lower[:-1] + upper[:-1]
    return hull if len(hull) >= 3 else []


def _clip(subject: list[Point], clip: list[Point]) -> list[Point]:
    """Sutherland-Hodgman: the part of `subject` inside the convex, same-orientation `clip`."""

    def inside(p: Point, a: Point, b: Point) -> bool:
        return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) >= 0

    def crossing(p: Point, q: Point, a: Point, b: Point) -> Point:
        dx, dy = q[0] - p[0], q[1] - p[1]
        ex, ey = b[0] - a[0], b[1] - a[1]
        denominator = dx * ey - dy * ex
        t = ((a[0] - p[0]) * ey - (a[1] - p[1]) * ex) / denominator
        return (p[0] + t * dx, p[1] + t * dy)

    output = subject
    for i in range(len(clip)):
        a, b = clip[i], clip[(i + 1) % len(clip)]
        points, output = output, []
        for j in range(len(points)):
            p, q = points[j], points[(j + 1) % len(points)]
            if inside(q, a, b):
                if not inside(p, a, b):
                    output.append(crossing(p, q, a, b))
                output.append(q)
            elif inside(p, a, b):
                output.append(crossing(p, q, a, b))
        if not output:
            break
    return output


def _boxes_meet(a: Sequence[Point], b: Sequence[Point]) -> bool:
    """Whether the axis-aligned bounding boxes overlap: most pairs of a frame's words do not."""
    return (
        min(p[0] for p in a) < max(p[0] for p in b)
        and min(p[0] for p in b) < max(p[0] for p in a)
        and min(p[1] for p in a) < max(p[1] for p in b)
        and min(p[1] for p in b) < max(p[1] for p in a)
    )


def quad_iou(a: Polygon, b: Polygon) -> float:
    """Intersection over union of two quads (of their convex hulls: quads of text are convex)."""
    hull_a, hull_b = convex_hull(a), convex_hull(b)
    if not hull_a or not hull_b or not _boxes_meet(hull_a, hull_b):
        return 0.0
    area_a, area_b = polygon_area(hull_a), polygon_area(hull_b)
    inter = _clip(hull_a, hull_b)
    inter_area = polygon_area(inter) if len(inter) >= 3 else 0.0
    union = area_a + area_b - inter_area
    return inter_area / union if union > 0 else 0.0


def bounding_rectangle(quad: Polygon) -> Quad:
    """The upright rectangle around a polygon, clockwise from its top-left corner."""
    xs = [float(x) for x, _ in quad]
    ys = [float(y) for _, y in quad]
    return rect_quad(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))


def match_greedy(
    gt: Sequence[Polygon], det: Sequence[Polygon], threshold: float = IOU_THRESHOLD
) -> list[tuple[int, int, float]]:
    """One-to-one (gt index, det index, IoU) pairs with IoU >= threshold, highest IoU first.

    Ties keep ground-truth order, then detection order, so the result is deterministic.
    """
    pairs = []
    for i, g in enumerate(gt):
        for j, d in enumerate(det):
            iou = quad_iou(g, d)
            if iou >= threshold:
                pairs.append((-iou, i, j))
    pairs.sort()
    used_gt: set[int] = set()
    used_det: set[int] = set()
    matches = []
    for negative_iou, i, j in pairs:
        if i in used_gt or j in used_det:
            continue
        used_gt.add(i)
        used_det.add(j)
        matches.append((i, j, -negative_iou))
    return matches


@dataclass(frozen=True)
class Counts:
    """What one image (or a whole set, summed) contributes to the scores."""

    gt_cared: int = 0  # ground-truth words that count
    gt_dont_care: int = 0
    detections: int = 0  # detected words that count (not matched to a don't-care word)
    detections_ignored: int = 0  # matched to a don't-care word
    hits: int = 0  # detections matched to a cared-for word
    read: int = 0  # of the hits, those whose protocol text equals the ground truth's

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.gt_cared + other.gt_cared,
            self.gt_dont_care + other.gt_dont_care,
            self.detections + other.detections,
            self.detections_ignored + other.detections_ignored,
            self.hits + other.hits,
            self.read + other.read,
        )


def count_image(
    gt_words: Sequence[tuple[Polygon, str]],
    det_words: Sequence[tuple[Polygon, str]],
    threshold: float = IOU_THRESHOLD,
    rectangles: bool = False,
) -> Counts:
    """Score one image's detected (quad, text) words against its ground-truth (quad, text) words.

    `rectangles`: the ground truth is upright rectangles; detections are compared as theirs.
    """
    answers = [
        (bounding_rectangle(q) if rectangles else q, normalize_protocol(t)) for q, t in det_words
    ]
    answers = [(q, t) for q, t in answers if t]
    dont_care = [is_dont_care(t) for _, t in gt_words]
    matches = match_greedy([q for q, _ in gt_words], [q for q, _ in answers], threshold)
    ignored = sum(dont_care[i] for i, _, _ in matches)
    cared = [(i, j) for i, j, _ in matches if not dont_care[i]]
    read = sum(normalize_protocol(gt_words[i][1]) == answers[j][1] for i, j in cared)
    return Counts(
        gt_cared=len(gt_words) - sum(dont_care),
        gt_dont_care=sum(dont_care),
        detections=len(answers) - ignored,
        detections_ignored=ignored,
        hits=len(cared),
        read=read,
    )


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def scores(counts: Counts) -> dict[str, float]:
    """Detection and end-to-end precision, recall and F1 from summed counts (0 where undefined)."""
    det_p = _ratio(counts.hits, counts.detections)
    det_r = _ratio(counts.hits, counts.gt_cared)
    e2e_p = _ratio(counts.read, counts.detections)
    e2e_r = _ratio(counts.read, counts.gt_cared)
    return {
        "det_precision": det_p,
        "det_recall": det_r,
        "det_f1": _f1(det_p, det_r),
        "e2e_precision": e2e_p,
        "e2e_recall": e2e_r,
        "e2e_f1": _f1(e2e_p, e2e_r),
    }
