"""Tests for edge_ocr/detect.py: the text-line detector, its post-processing and the baseline."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest_daemon import SMALL_PRINT, draw_small_print, spaces_aside

from edge_ocr import detect
from edge_ocr.detect import (
    ClassicalDetector,
    Detector,
    DetectorInfo,
    TextLine,
    boxes_from_map,
    default_detector_path,
    input_size,
    order_quad,
    reading_order,
    shrink_distance,
)
from edge_ocr.errors import ModelError

REPO = Path(__file__).resolve().parents[1]

# (text, x, y baseline, scale): a nameplate with a second column on its first row.
LINES = (
    ("MODEL XR-200", 60, 110, 1.3),
    ("IP65", 470, 110, 1.3),
    ("SERIAL 0042-1187", 60, 190, 1.1),
    ("230V 50Hz 1.5A", 60, 270, 1.1),
    ("Made in Germany", 60, 350, 0.9),
)


def _frame() -> tuple[np.ndarray, list[np.ndarray]]:
    """A 640x480 label photo drawn now, and the box of each line in reading order."""
    image = np.full((480, 640, 3), (205, 215, 220), np.uint8)
    cv2.rectangle(image, (30, 50), (600, 400), (240, 245, 245), -1)
    boxes = []
    for text, x, y, scale in LINES:
        (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
        cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (30, 30, 30), 2)
        boxes.append(np.float32([[x, y - h], [x + w, y - h], [x + w, y + 2], [x, y + 2]]))
    return image, boxes


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter, _ = cv2.intersectConvexConvex(np.float32(a), np.float32(b))
    return float(inter / (cv2.contourArea(np.float32(a)) + cv2.contourArea(np.float32(b)) - inter))


def _best(found: list[TextLine], box: np.ndarray) -> tuple[int, float]:
    ious = [_iou(np.float32(line.quad), box) for line in found]
    return int(np.argmax(ious)), float(max(ious))


@pytest.fixture(scope="module")
def detector() -> Detector:
    """The shipped INT8 detector on one thread."""
    path = default_detector_path()
    if not path.is_file():
        pytest.fail(f"the shipped detector {path} is missing")
    return Detector(path, threads=1)


# -- the model -----------------------------------------------------------------------------------


def test_shipped_detector_finds_each_drawn_line_in_reading_order(detector: Detector) -> None:
    """Every line drawn on a label is found as one quad (IoU >= 0.5), in reading order."""
    image, boxes = _frame()
    found = detector.detect(image)
    matches = [_best(found, box) for box in boxes]
    assert all(iou >= 0.5 for _, iou in matches), matches
    order = [index for index, _ in matches]
    assert order == sorted(order)
    assert all(0.0 < line.score <= 1.0 for line in found)


def test_shipped_detector_reads_gray_frames_and_other_sizes(detector: Detector) -> None:
    """A grayscale frame at 1280x960 gives the same lines, in frame coordinates."""
    image, boxes = _frame()
    big = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (1280, 960))
    found = detector.detect(big)
    for box in boxes:
        assert _best(found, box * 2)[1] >= 0.5


def test_shipped_detector_finds_nothing_on_a_blank_frame(detector: Detector) -> None:
    """A plain frame has no text lines."""
    assert detector.detect(np.full((480, 640, 3), 128, np.uint8)) == []


def test_shipped_detector_describes_itself(detector: Detector) -> None:
    """The shipped model's metadata gives its settings; the input follows max_side."""
    info = detector.info
    assert info.stride == 2 and info.size_multiple == 32 and info.max_side == 640
    assert 0 < info.bin_threshold < info.box_threshold < 1 and info.unclip_ratio > 0
    assert "generated" in info.provenance
    assert detector.prepare(np.zeros((480, 640, 3), np.uint8)).shape == (1, 1, 480, 640)
    assert default_detector_path().stat().st_size <= 2_000_000


def test_max_side_sets_the_network_input() -> None:
    """A smaller max_side runs the network on a smaller image (both sides multiples of 32)."""
    small = Detector(default_detector_path(), max_side=320)
    assert small.prepare(np.zeros((1080, 1920, 3), np.uint8)).shape == (1, 1, 192, 320)


def test_frames_are_detected_at_their_own_size_up_to_max_side(detector: Detector) -> None:
    """By default every frame is detected at the model's 640 px; with max_side 1280 a large
    frame is scaled down only to 1280, a frame between 640 and that keeps its size, and a
    small one is still scaled up to 640."""
    assert detector.max_side == 640
    assert detector.prepare(np.zeros((1080, 1920, 3), np.uint8)).shape == (1, 1, 352, 640)
    far = Detector(default_detector_path(), max_side=1280)
    assert far.prepare(np.zeros((1080, 1920, 3), np.uint8)).shape == (1, 1, 704, 1280)
    assert far.prepare(np.zeros((768, 1024, 3), np.uint8)).shape == (1, 1, 768, 1024)
    assert far.prepare(np.zeros((240, 320, 3), np.uint8)).shape == (1, 1, 480, 640)


def test_small_text_in_a_large_frame_is_read_with_max_side_1280() -> None:
    """Lines 7 px high in a 1920x1080 frame are past one look at 640 px (2 px of text, the
    default size; at most a fragment is found there), and found and read with max_side 1280."""
    from edge_ocr.charlm import default_lm_path
    from edge_ocr.lines import read_lines
    from edge_ocr.recognizer import Recognizer

    frame = draw_small_print()
    # Read the daemon's way, the language model settling faint spaces.
    recognizer = Recognizer(REPO / "models" / "latin_crnn_int8.onnx", lm=default_lm_path())
    one_look = Detector(default_detector_path(), zoom=False)
    assert len(read_lines(frame, one_look, recognizer)) < len(SMALL_PRINT)
    far = Detector(default_detector_path(), max_side=1280)
    read = [line.text for line in read_lines(frame, far, recognizer)]
    assert spaces_aside(read) == spaces_aside(SMALL_PRINT)


def _fine_print() -> np.ndarray:
    """A 1280x960 frame: a heading, and four lines of print 6 px high once the frame is scaled
    to 640 px, one above the next."""
    frame = np.full((960, 1280, 3), 235, np.uint8)
    cv2.putText(frame, "PUMP UNIT", (500, 330), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (20, 20, 20), 4)
    for i, text in enumerate(FINE_PRINT):
        cv2.putText(frame, text, (500, 400 + 18 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (20,) * 3, 1)
    return frame


FINE_PRINT = ("SERIAL 4471-2290", "MODEL XR-200", "230V 50Hz 1.5A", "IP65 CLASS II")


def test_small_print_is_looked_at_again_closer(detector: Detector) -> None:
    """Dense small print the first pass at 640 px finds only in fragments is detected again,
    at twice the scale, around them: every line is read (one pass reads at most one)."""
    from edge_ocr.charlm import default_lm_path
    from edge_ocr.lines import read_lines
    from edge_ocr.recognizer import Recognizer

    # Read the daemon's way: greedily, latin-crnn 0.2.7 reads `IP65 CLASSII` at 6 px.
    recognizer = Recognizer(REPO / "models" / "latin_crnn_int8.onnx", lm=default_lm_path())
    frame = _fine_print()
    assert detector.zoom
    read = [line.text for line in read_lines(frame, detector, recognizer)]
    assert read == ["PUMP UNIT", *FINE_PRINT]
    flat = Detector(default_detector_path(), zoom=False)
    once = [line.text for line in read_lines(frame, flat, recognizer)]
    assert once[0] == "PUMP UNIT" and len(set(once) & set(FINE_PRINT)) <= 1


def test_large_text_is_detected_once(detector: Detector) -> None:
    """Without small text there is no second look: the same lines with and without it."""
    image, _ = _frame()
    flat = Detector(default_detector_path(), zoom=False)
    assert detector.detect(image) == flat.detect(image)


def test_missing_model_is_a_model_error(tmp_path: Path) -> None:
    """A detector path that does not exist fails at start with a ModelError naming it."""
    with pytest.raises(ModelError, match="not found"):
        Detector(tmp_path / "nope.onnx")


def test_corrupt_model_is_a_model_error(tmp_path: Path) -> None:
    """A file that is not an ONNX model fails with a ModelError."""
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load"):
        Detector(bad)


def test_recognizer_model_is_not_taken_for_a_detector() -> None:
    """Pointing the detector at the recognition model fails with a clear ModelError."""
    with pytest.raises(ModelError, match="not an edge-ocr text detector"):
        Detector(REPO / "models" / "latin_crnn_int8.onnx")


def test_metadata_round_trip() -> None:
    """DetectorInfo written as metadata reads back equal; a missing key is named."""
    info = DetectorInfo(max_side=800, box_threshold=0.6, version="1.2", provenance="test")
    meta = info.to_metadata()
    assert all(key.startswith("edge_ocr.") for key in meta)
    assert meta["edge_ocr.kind"] == "detector"
    assert DetectorInfo.from_metadata(meta) == info
    del meta["edge_ocr.unclip_ratio"]
    with pytest.raises(ModelError, match="unclip_ratio"):
        DetectorInfo.from_metadata(meta)


# -- the classical baseline ----------------------------------------------------------------------


def test_classical_detector_covers_the_drawn_lines_in_reading_order() -> None:
    """The OpenCV baseline puts a box on every drawn line, and reports top lines first."""
    image, boxes = _frame()
    found = ClassicalDetector().detect(image)
    assert found
    firsts = []
    for box in boxes:
        index, iou = _best(found, box)
        assert iou > 0.2
        firsts.append(index)
    assert firsts[0] < firsts[2] < firsts[3] < firsts[4]


def test_classical_detector_finds_nothing_on_a_blank_frame() -> None:
    """A plain gray frame gives no lines."""
    assert ClassicalDetector().detect(np.full((480, 640), 90, np.uint8)) == []


# -- post-processing -----------------------------------------------------------------------------


def _kernel_map(lines: list[tuple[float, float, float, float]], ratio: float) -> np.ndarray:
    """A probability map (stride 1) with the shrunk kernel of each (x, y, w, h) line at 0.9."""
    prob = np.zeros((200, 300), np.float32)
    for x, y, w, h in lines:
        d = shrink_distance(w, h, ratio)
        prob[round(y + d) : round(y + h - d), round(x + d) : round(x + w - d)] = 0.9
    return prob


def test_kernels_grow_back_to_their_lines() -> None:
    """Each kernel of a probability map becomes one box the size of its line, with its score."""
    lines = [(20.0, 20.0, 200.0, 30.0), (40.0, 120.0, 120.0, 16.0)]
    boxes = boxes_from_map(_kernel_map(lines, 1.5), 0.3, 0.5, 1.5)
    assert len(boxes) == 2
    for quad, score in boxes:
        assert score == pytest.approx(0.9)
        x, y, w, h = min(lines, key=lambda b: abs(b[1] - quad[0, 1]))
        expected = np.float32([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
        np.testing.assert_allclose(quad, expected, atol=1.5)


def test_weak_and_tiny_kernels_are_dropped() -> None:
    """A region below the box threshold or a speck below min_size gives no box."""
    prob = np.zeros((100, 100), np.float32)
    prob[10:20, 10:80] = 0.4  # above bin_threshold, mean below box_threshold
    prob[50, 50] = 0.99  # one pixel
    assert boxes_from_map(prob, 0.3, 0.5, 1.5, min_size=3) == []


def test_rotated_box_starts_at_the_texts_top_left() -> None:
    """A box rotated 20 degrees is ordered top-left, top-right, bottom-right, bottom-left."""
    rect = ((150.0, 100.0), (160.0, 30.0), 20.0)
    points = cv2.boxPoints(rect)
    for shift in range(4):
        quad = order_quad(np.roll(points, shift, axis=0))
        assert quad[1, 0] > quad[0, 0] and quad[1, 1] > quad[0, 1]  # top edge runs down-right
        assert quad[3, 1] > quad[0, 1] and quad[2, 0] > quad[3, 0]
        assert np.linalg.norm(quad[1] - quad[0]) == pytest.approx(160, abs=0.5)


def test_short_tall_box_still_reads_left_to_right() -> None:
    """A box taller than wide (a single digit) keeps its horizontal side as the top edge."""
    quad = order_quad(np.float32([[10, 50], [10, 10], [30, 10], [30, 50]]))
    np.testing.assert_allclose(quad, [[10, 10], [30, 10], [30, 50], [10, 50]])


def _line(x: float, y: float, w: float = 80, h: float = 20) -> TextLine:
    return TextLine(((x, y), (x + w, y), (x + w, y + h), (x, y + h)), 1.0)


def test_reading_order_is_rows_top_to_bottom_then_left_to_right() -> None:
    """Lines come row by row; a slightly lower line beside another shares its row."""
    a, b, c = _line(10, 10), _line(200, 14), _line(400, 8)
    d, e = _line(10, 60), _line(300, 62)
    shuffled = [e, c, a, d, b]
    assert reading_order(shuffled) == [a, b, c, d, e]


def test_input_size_keeps_aspect_in_multiples_of_32() -> None:
    """The network input has its longest side at max_side and both sides multiples of 32."""
    assert input_size(640, 480, 640, 32) == (640, 480)
    assert input_size(1920, 1080, 640, 32) == (640, 352)
    assert input_size(480, 640, 640, 32) == (480, 640)
    assert input_size(50, 10, 640, 32) == (640, 128)


def test_edge_ocr_detect_does_not_import_torch_or_scripts() -> None:
    """The detector module stands on onnxruntime, OpenCV and numpy alone."""
    import subprocess
    import sys

    code = (
        "import sys, edge_ocr.detect; "
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith('scripts')]; "
        "sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0
    assert detect.FORMAT == "edge-ocr-db-1"
