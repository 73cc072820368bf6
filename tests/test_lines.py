"""Reading every line of a frame, and cutting lines into words where the recognizer read spaces."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from edge_ocr.lines import LineReading, read_lines, split_words
from edge_ocr.recognizer import Recognizer, default_model_path
from edge_ocr.regions import rect_quad
from edge_ocr.types import Quad


@dataclass(frozen=True)
class _Found:
    quad: Quad
    score: float


class _KnownPlaces:
    """A detector that reports fixed places: the recognition half is what these tests check."""

    def __init__(self, quads: list[Quad]) -> None:
        self.quads = quads

    def detect(self, image: np.ndarray) -> list[_Found]:
        return [_Found(q, 0.9) for q in self.quads]


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer(default_model_path())


def test_each_detected_line_is_rectified_and_read(recognizer: Recognizer) -> None:
    """Two printed lines, one of them seen at a slant, come back with their text and quads."""
    frame = np.full((240, 480, 3), 235, np.uint8)
    cv2.putText(frame, "SERIAL 4711", (30, 80), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (20, 20, 20), 3)
    line = np.full((60, 300, 3), 235, np.uint8)
    cv2.putText(line, "IP65", (20, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (20, 20, 20), 3)
    slant: Quad = ((60.0, 140.0), (360.0, 160.0), (356.0, 220.0), (56.0, 200.0))
    matrix = cv2.getPerspectiveTransform(
        np.float32([[0, 0], [300, 0], [300, 60], [0, 60]]), np.float32(slant)
    )
    warped = cv2.warpPerspective(line, matrix, (480, 240), borderValue=(235, 235, 235))
    mask = cv2.warpPerspective(np.full((60, 300), 255, np.uint8), matrix, (480, 240)) > 0
    frame[mask] = warped[mask]
    quads = [rect_quad(20, 35, 330, 60), slant]
    out = read_lines(frame, _KnownPlaces(quads), recognizer)
    assert [r.quad for r in out] == quads
    assert out[0].text.replace(" ", "") == "SERIAL4711"
    assert out[1].text == "IP65"
    assert all(0 < r.confidence <= 1 and r.detection_score == 0.9 for r in out)
    assert all(len(r.positions) == len(r.text) for r in out)


def test_a_frame_without_lines_reads_nothing(recognizer: Recognizer) -> None:
    """No detected line means no reading and no recognizer call on an empty batch."""
    assert read_lines(np.zeros((50, 50), np.uint8), _KnownPlaces([]), recognizer) == []


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
