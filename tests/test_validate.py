"""edge_ocr.validate: per-field rules set `valid` and name the broken rule."""

from __future__ import annotations

from edge_ocr import validate
from edge_ocr.types import Reading


def reading(text: str, confidence: float = 0.9) -> Reading:
    return Reading("f", text, confidence, (), 1, "test", 0.0, 0.0)


def test_matching_text_is_valid() -> None:
    """A text that fully matches the pattern stays valid."""
    assert validate.judge(reading("AB-12"), r"[A-Z]{2}-\d{2}", 0.5).valid


def test_text_breaking_the_pattern_is_invalid() -> None:
    """A partial match is not enough: the whole text must match."""
    out = validate.judge(reading("AB-123"), r"[A-Z]{2}-\d{2}", 0.0)
    assert not out.valid and out.extra["problem"] == "pattern_mismatch"


def test_low_confidence_is_invalid() -> None:
    """A reading below min_confidence is marked invalid."""
    out = validate.judge(reading("X", 0.3), None, 0.5)
    assert not out.valid and out.extra["problem"] == "low_confidence"


def test_empty_text_is_invalid() -> None:
    """Nothing read is never a valid value."""
    assert validate.judge(reading(""), None, 0.0).extra["problem"] == "empty"
