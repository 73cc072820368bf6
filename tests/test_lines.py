"""Reading every line of a frame, and cutting lines into words where the recognizer read spaces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest_daemon import draw_plate

from edge_ocr.detect import Detector
from edge_ocr.lines import LineReading, read_lines, split_words
from edge_ocr.recognizer import Recognizer, default_model_path
from edge_ocr.regions import rect_quad


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer(default_model_path())


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector()


def test_each_line_of_a_label_seen_at_an_angle_is_found_straightened_and_read(
    recognizer: Recognizer, detector: Detector
) -> None:
    """A two-line label photographed at a slant reads back line by line, top line first."""
    frame, _ = draw_plate(["SERIAL 4711", "IP65"], height=30)
    h, w = frame.shape[:2]
    camera = cv2.getPerspectiveTransform(
        np.float32([[0, 0], [w, 0], [w, h], [0, h]]),
        np.float32([[30, 50], [610, 10], [630, 470], [0, 430]]),
    )
    photo = cv2.warpPerspective(frame, camera, (w, h), borderValue=(70, 80, 90))
    out = read_lines(photo, detector, recognizer)
    # Whether the gap is read as a space is the model's call; the characters are not.
    assert [r.text.replace(" ", "") for r in out] == ["SERIAL4711", "IP65"]
    top, bottom = out
    assert max(p[1] for p in top.quad) < min(p[1] for p in bottom.quad)
    assert all(0.5 < r.confidence <= 1 and 0 < r.detection_score <= 1 for r in out)
    assert len(top.positions) == len(top.text)
    # "4711" starts a little past the middle of the line: SERIAL is about 6/11 of it.
    assert 0.45 < top.positions[top.text.index("4")] < 0.8


def test_a_frame_without_text_reads_nothing(recognizer: Recognizer, detector: Detector) -> None:
    """A blank label gives no lines, and the recognizer is not called on an empty batch."""
    blank, _ = draw_plate([" "])
    assert read_lines(blank, detector, recognizer) == []


def test_words_partition_the_line_at_the_spaces() -> None:
    """'AB CD' whose space sits halfway gives two words, left half and right half of the quad."""
    line = LineReading(
        rect_quad(0, 0, 100, 20), "AB CD", 0.9, (0.9,) * 5, 0.8, (0.05, 0.2, 0.5, 0.6, 0.8)
    )
    (q1, w1), (q2, w2) = split_words(line)
    assert (w1, w2) == ("AB", "CD")
    assert q1 == ((0.0, 0.0), (50.0, 0.0), (50.0, 20.0), (0.0, 20.0))
    assert q2 == ((50.0, 0.0), (100.0, 0.0), (100.0, 20.0), (50.0, 20.0))


def test_a_line_without_spaces_is_one_word() -> None:
    """A single word keeps the whole quad; a blank line has no words."""
    quad = rect_quad(5, 5, 40, 10)
    assert split_words(LineReading(quad, "IP65", 0.9, (), 0.9)) == [(quad, "IP65")]
    assert split_words(LineReading(quad, "  ", 0.9, (), 0.9)) == []


def test_grow_widens_a_slanted_quad_along_its_own_axes() -> None:
    """Growing keeps the slant: the ends move along the line, top and bottom across it."""
    from edge_ocr.lines import grow

    flat = grow(rect_quad(10, 10, 100, 20), 0.5, 0.25)
    assert flat == ((0.0, 5.0), (120.0, 5.0), (120.0, 35.0), (0.0, 35.0))
    slanted = np.asarray(grow(((0, 0), (100, 100), (90, 110), (-10, 10)), 0.5, 0.0))
    assert np.allclose(slanted[1] - slanted[0], [100 + 10, 100 + 10], atol=1e-6)
