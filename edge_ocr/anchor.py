"""Finds a configured label in a frame: the homography from its canonical view to the frame.

A label's canonical view is a fixed pixel grid (`size`, or the reference picture's own grid)
on which its fields are placed, so a field is read at the same place on the label however the
camera or the label moves. Three ways to find the label, one per label:

- outline: the largest convex four-cornered outline in the frame (a label brighter or darker
  than what it is stuck on). A rectangle looks the same turned by 180 degrees, so the corner
  order is chosen by shape (the long side of the outline goes where the canonical view has
  its long side) and then by the label's usual turn in the frame (`outline.turned`): the order
  whose top edge points nearest to that direction wins. A label turned more than 90 degrees
  from `turned` (45 for a square one) is therefore read upside down (or sideways); a marker
  or a reference picture has no such ambiguity.
- marker: a printed ArUco marker, whose four corners sit at `marker.rect` on the label.
- reference: a picture of the label, matched to the frame by ORB features, a ratio test and a
  RANSAC homography; its pixel grid is the canonical view (scaled to `size` when given).

A LabelFinder is built once per loaded configuration (`finders`), never per frame. It counts
the frames it found its label in, those it did not, and the fields cut off by the frame's edge.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

import cv2
import numpy as np

from edge_ocr.config import LabelConfig, OutlineConfig
from edge_ocr.errors import ConfigError
from edge_ocr.preprocess import to_gray
from edge_ocr.types import Quad

RATIO = 0.75  # Lowe's ratio test: a match must be clearly better than the second best
RANSAC_PX = 5.0  # reprojection error (frame px) under which a feature match is an inlier
MIN_LABEL_PX = 256.0  # a label smaller than this in the frame (px^2) is not trusted
_MAX_ASPECT_ERROR = math.log(2.0)  # an outline whose shape is further off is something else
_SAME_ASPECT = math.log(1.15)  # aspect errors closer than this cannot tell the orientation


# --- geometry -------------------------------------------------------------------------------


def corners(width: float, height: float) -> np.ndarray:
    """The corners of a width x height view, top-left first, clockwise: [4, 2] float32."""
    return np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)


def to_frame(matrix: np.ndarray, points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """Canonical points mapped into the frame by a canonical -> frame homography: [n, 2]."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 1, 2)
    return cv2.perspectiveTransform(p, matrix).reshape(-1, 2)


def as_quad(points: np.ndarray) -> Quad:
    """Four [x, y] rows as a Quad of plain floats."""
    a, b, c, d = ((float(x), float(y)) for x, y in points)
    return (a, b, c, d)


def is_clockwise_convex(quad: np.ndarray) -> bool:
    """Whether four points make a convex quadrilateral, clockwise on screen (y down)."""
    for i in range(4):
        (ax, ay), (bx, by) = quad[(i + 1) % 4] - quad[i], quad[(i + 2) % 4] - quad[(i + 1) % 4]
        if ax * by - ay * bx <= 0:  # a left turn on screen, or none
            return False
    return True


def area(quad: np.ndarray) -> float:
    """The area of a quadrilateral (shoelace formula)."""
    x, y = quad[:, 0], quad[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def plausible(matrix: np.ndarray | None, size: tuple[int, int]) -> bool:
    """A homography that shows the label unmirrored, convex and not vanishingly small."""
    if matrix is None or not np.all(np.isfinite(matrix)):
        return False
    outline = to_frame(matrix, corners(*size))
    return is_clockwise_convex(outline) and area(outline) >= MIN_LABEL_PX


def clockwise(points: np.ndarray) -> np.ndarray:
    """Four points of a convex quadrilateral in clockwise order on screen, any one first."""
    p = np.asarray(points, dtype=np.float32).reshape(4, 2)
    center = p.mean(axis=0)
    angles = np.arctan2(p[:, 1] - center[1], p[:, 0] - center[0])  # y down: clockwise
    return p[np.argsort(angles)]


def orient(quad: np.ndarray, size: tuple[int, int], turned: int) -> np.ndarray:
    """The corner order of a clockwise outline that matches the canonical view's corners.

    First by shape: only orders whose top/side aspect is as close as any to the canonical
    width/height. Then by the label's usual turn: the top edge nearest `turned` degrees
    clockwise from pointing right.
    """
    aspect = math.log(size[0] / size[1])
    shifts = [np.roll(quad, -k, axis=0) for k in range(4)]
    errors = [abs(math.log(_aspect(q)) - aspect) for q in shifts]
    best = min(errors)
    candidates = [q for q, e in zip(shifts, errors, strict=True) if e <= best + _SAME_ASPECT]

    def off_turn(q: np.ndarray) -> float:
        dx, dy = q[1] - q[0]
        angle = math.degrees(math.atan2(float(dy), float(dx)))
        return abs((angle - turned + 180.0) % 360.0 - 180.0)

    return min(candidates, key=off_turn)


def _aspect(q: np.ndarray) -> float:
    """Width over height of a clockwise quad: mean of top and bottom over mean of the sides."""
    lengths = np.linalg.norm(q - np.roll(q, -1, axis=0), axis=1)  # top, right, bottom, left
    return float((lengths[0] + lengths[2]) / max(1e-6, lengths[1] + lengths[3]))


# --- finding ---------------------------------------------------------------------------------


def find_outline(gray: np.ndarray, min_area: float, aspect: float) -> np.ndarray | None:
    """The largest convex four-cornered outline covering `min_area` of the frame, clockwise.

    Outlines touching the frame's border are skipped: a label cut off by the frame's edge
    would otherwise be taken for a smaller one. `aspect` (canonical width / height) rules out
    outlines whose shape is far off in either orientation.
    """
    h, w = gray.shape[:2]
    blurred = cv2.GaussianBlur(gray, (5, 5), 0)
    otsu, _ = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    edges = cv2.Canny(blurred, 0.5 * otsu, otsu)
    closed = cv2.dilate(edges, np.ones((3, 3), np.uint8))  # closes gaps; moves outlines by 1 px
    contours, _ = cv2.findContours(closed, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    best, best_area, best_contour = None, min_area * w * h, None
    for contour in contours:
        if cv2.contourArea(contour) < best_area:
            continue
        hull = cv2.convexHull(contour)
        approx = cv2.approxPolyDP(hull, 0.02 * cv2.arcLength(hull, True), True).reshape(-1, 2)
        if len(approx) != 4:
            continue
        quad = clockwise(approx)
        xs, ys = quad[:, 0], quad[:, 1]
        if xs.min() <= 1 or ys.min() <= 1 or xs.max() >= w - 2 or ys.max() >= h - 2:
            continue
        if abs(abs(math.log(_aspect(quad))) - abs(math.log(aspect))) > _MAX_ASPECT_ERROR:
            continue
        size = area(quad)
        if size > best_area and is_clockwise_convex(quad):
            best, best_area, best_contour = quad, size, contour
    if best is None or best_contour is None:
        return None
    # The sides as lines through the outline, then through the edge pixels themselves.
    best = fit_sides(best_contour.reshape(-1, 2).astype(np.float32), best, 0.03)
    x0, y0 = np.maximum(0, np.floor(best.min(axis=0)).astype(int) - 4)
    x1, y1 = np.ceil(best.max(axis=0)).astype(int) + 5
    pixels = np.argwhere(edges[y0:y1, x0:x1])[:, ::-1] + np.array([x0, y0])  # [n, (x, y)]
    return fit_sides(pixels.astype(np.float32), best, 0.0)


def fit_sides(points: np.ndarray, quad: np.ndarray, band: float) -> np.ndarray:
    """Sharper corners for a clockwise quad: where lines fitted to the `points` along each
    side (within 3 px, or `band` of its length) meet. A rounded, nicked or occluded corner
    does not move them; the quad comes back unchanged if a side has too few points to fit.
    """
    lines = []
    for i in range(4):
        start, end = quad[i], quad[(i + 1) % 4]
        length = float(np.linalg.norm(end - start))
        along = (end - start) / length
        normal = np.array([-along[1], along[0]], dtype=np.float32)
        t, off = (points - start) @ along, (points - start) @ normal
        near = (t > 0.15 * length) & (t < 0.85 * length) & (np.abs(off) < max(3.0, band * length))
        if int(near.sum()) < 10:
            return quad
        vx, vy, x0, y0 = cv2.fitLine(points[near], cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
        lines.append((np.array([x0, y0]), np.array([vx, vy])))
    out = []
    for i in range(4):  # corner i ends side i - 1 and starts side i
        (p, u), (q, v) = lines[i - 1], lines[i]
        det = float(u[0] * -v[1] + v[0] * u[1])
        if abs(det) < 1e-6:
            return quad
        s = ((q[0] - p[0]) * -v[1] + v[0] * (q[1] - p[1])) / det
        out.append(p + s * u)
    refined = np.asarray(out, dtype=np.float32)
    moved = float(np.abs(refined - quad).max())
    return refined if moved < 0.1 * float(np.sqrt(area(quad))) else quad


def find_marker(gray: np.ndarray, detector: object, marker_id: int) -> np.ndarray | None:
    """The four corners of marker `marker_id` (its own top-left first, clockwise) or None.

    None too when the id is seen more than once: which one is the label cannot be known.
    """
    found, ids, _ = detector.detectMarkers(gray)  # type: ignore[attr-defined]
    if ids is None:
        return None
    hits = [c for c, i in zip(found, ids.reshape(-1), strict=True) if int(i) == marker_id]
    if len(hits) != 1:
        return None
    return np.asarray(hits[0], dtype=np.float32).reshape(4, 2)


def match_reference(
    gray: np.ndarray,
    orb: cv2.ORB,
    reference_points: np.ndarray,
    reference_descriptors: np.ndarray,
    min_inliers: int,
) -> np.ndarray | None:
    """The homography reference picture -> frame from ORB matches, or None if too few agree."""
    keypoints, descriptors = orb.detectAndCompute(gray, None)
    if descriptors is None or len(keypoints) < min_inliers:
        return None
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = matcher.knnMatch(reference_descriptors, descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < min_inliers:
        return None
    src = reference_points[[m.queryIdx for m in good]].reshape(-1, 1, 2)
    dst = np.array([keypoints[m.trainIdx].pt for m in good], dtype=np.float32).reshape(-1, 1, 2)
    matrix, inliers = cv2.findHomography(src, dst, cv2.RANSAC, RANSAC_PX)
    if matrix is None or inliers is None or int(inliers.sum()) < min_inliers:
        return None
    # RANSAC's answer fits its best few matches; a least-squares fit to all inliers is sharper.
    keep = inliers.ravel().astype(bool)
    refined, _ = cv2.findHomography(src[keep], dst[keep], 0)
    return matrix if refined is None else refined


def canonical_view(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The label as seen in its canonical view: the frame warped by the inverse homography."""
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    return cv2.warpPerspective(image, matrix, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)


# --- per label ------------------------------------------------------------------------------


class _Unusable(ConfigError):
    """A label that cannot be searched for; `problem` is relative to the label's key path."""

    def __init__(self, label: LabelConfig, problem: str) -> None:
        super().__init__(f"label {label.name!r}: {problem}")
        self.problem = problem


def load_reference(label: LabelConfig) -> np.ndarray:
    """A label's reference picture in grayscale; ConfigError when it is no readable image."""
    assert label.reference is not None  # find: reference, checked by config
    path = label.reference.image
    data = np.fromfile(str(path), dtype=np.uint8) if path.is_file() else None
    gray = None if data is None or not data.size else cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    if gray is None:
        raise _Unusable(label, f"reference.image: cannot be read as an image, got '{path}'")
    return gray


def _aruco_detector(label: LabelConfig, dictionary: str) -> object:
    aruco = getattr(cv2, "aruco", None)
    if aruco is None or not hasattr(aruco, "ArucoDetector") or not hasattr(aruco, dictionary):
        raise _Unusable(
            label,
            f"marker.dictionary: OpenCV {cv2.__version__} here has no ArUco detector with "
            f"{dictionary}; find: marker needs OpenCV 4.7 or later",
        )
    parameters = aruco.DetectorParameters()
    parameters.cornerRefinementMethod = aruco.CORNER_REFINE_SUBPIX  # corners to a tenth of a px
    return aruco.ArucoDetector(
        aruco.getPredefinedDictionary(getattr(aruco, dictionary)), parameters
    )


class LabelFinder:
    """Finds one configured label in frames; built once per configuration."""

    def __init__(self, label: LabelConfig) -> None:
        self.label = label
        self.found = 0  # frames the label was found in
        self.missed = 0  # frames it was not
        self.cut_off = 0  # fields on it not read because the frame's edge cut them
        if label.find == "outline":
            assert label.size is not None  # checked by config
            self.size = label.size
            self._outline = label.outline or OutlineConfig()
        elif label.find == "marker":
            assert label.marker is not None and label.size is not None  # checked by config
            self.size = label.size
            self._detector = _aruco_detector(label, label.marker.dictionary)
            x, y, w, h = label.marker.rect
            # Detected corners lie on pixel edges, half a pixel off the centers of the
            # marker's outermost pixels (OpenCV puts pixel centers on whole numbers).
            self._marker = corners(w, h) + np.array([x - 0.5, y - 0.5], dtype=np.float32)
        else:
            assert label.reference is not None  # checked by config
            reference = label.reference
            gray = load_reference(label)
            self.size = label.size or (gray.shape[1], gray.shape[0])
            self._orb = cv2.ORB.create(nfeatures=reference.features)
            keypoints, self._descriptors = self._orb.detectAndCompute(gray, None)
            if self._descriptors is None or len(keypoints) < reference.min_inliers:
                raise _Unusable(
                    label,
                    f"reference.image: {len(keypoints)} ORB features in {reference.image.name}, "
                    f"fewer than min_inliers ({reference.min_inliers}): the picture needs more "
                    "detail (print, edges, texture)",
                )
            self._points = np.array([k.pt for k in keypoints], dtype=np.float32)
            # Reference pixels -> canonical pixels, when `size` rescales the picture's grid.
            self._scale = np.diag([self.size[0] / gray.shape[1], self.size[1] / gray.shape[0], 1])

    def locate(self, image: np.ndarray) -> np.ndarray | None:
        """The canonical -> frame homography [3, 3] of the label in this image, or None."""
        gray = to_gray(image)
        label = self.label
        matrix: np.ndarray | None = None
        if label.find == "outline":
            found = find_outline(gray, self._outline.min_area, self.size[0] / self.size[1])
            if found is not None:
                quad = orient(found, self.size, self._outline.turned)
                matrix = cv2.getPerspectiveTransform(corners(*self.size), quad)
        elif label.find == "marker":
            assert label.marker is not None
            found = find_marker(gray, self._detector, label.marker.id)
            if found is not None:
                matrix = cv2.getPerspectiveTransform(self._marker, found)
        else:
            assert label.reference is not None
            to_reference = match_reference(
                gray, self._orb, self._points, self._descriptors, label.reference.min_inliers
            )
            if to_reference is not None:
                matrix = to_reference @ np.linalg.inv(self._scale)
        if not plausible(matrix, self.size):
            self.missed += 1
            return None
        self.found += 1
        return matrix

    def view(self, image: np.ndarray) -> np.ndarray | None:
        """The label warped to its canonical view (to place fields on it), or None if not found."""
        matrix = self.locate(image)
        return None if matrix is None else canonical_view(image, matrix, self.size)


def problems(label: LabelConfig) -> list[str]:
    """What keeps a label from being found at all (relative key paths), for the config check."""
    try:
        LabelFinder(label)
    except _Unusable as err:
        return [err.problem]
    return []


_BUILT: list[tuple[tuple[LabelConfig, ...], dict[str, LabelFinder]]] = []
_BUILT_LOCK = threading.Lock()


def finders(labels: tuple[LabelConfig, ...]) -> dict[str, LabelFinder]:
    """A LabelFinder per label, by name, built once per loaded configuration.

    Kept by the identity of the config's `labels` tuple, so frames of one configuration share
    them, and a reloaded configuration (a new tuple) reads its reference pictures afresh.
    """
    with _BUILT_LOCK:
        for known, built in _BUILT:
            if known is labels:
                return built
        built = {label.name: LabelFinder(label) for label in labels}
        _BUILT.append((labels, built))
        del _BUILT[:-4]  # the current configuration and a few before it
        return built
