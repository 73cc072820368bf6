"""Per-field rules on a recognized line: not empty, confident enough, matching its pattern.

The allowed characters are not checked here: they constrain the decoder itself (a logit mask,
see Recognizer.mask), so the best allowed character wins instead of being dropped afterwards.
"""

from __future__ import annotations

import dataclasses
import re
from functools import lru_cache

from edge_ocr.types import Reading

EMPTY = "empty"
LOW_CONFIDENCE = "low_confidence"
PATTERN = "pattern_mismatch"


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def problem(text: str, confidence: float, pattern: str | None, min_confidence: float) -> str | None:
    """Why a reading is not valid (empty, low_confidence, pattern_mismatch), or None."""
    if not text:
        return EMPTY
    if pattern is not None and _compiled(pattern).fullmatch(text) is None:
        return PATTERN
    if confidence < min_confidence:
        return LOW_CONFIDENCE
    return None


def judge(reading: Reading, pattern: str | None, min_confidence: float) -> Reading:
    """The reading with `valid` set, and extra["problem"] naming the rule it broke."""
    why = problem(reading.text, reading.confidence, pattern, min_confidence)
    if why is None:
        return reading
    return dataclasses.replace(reading, valid=False, extra={**reading.extra, "problem": why})
