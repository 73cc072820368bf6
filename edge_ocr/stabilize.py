"""Multi-frame voting for camera fields: publish a value once it is stable, and when it is gone.

Each frame gives a field one vote: its text when the reading is valid, else "nothing". A text
becomes the field's value when it has `votes` of the last `window` votes and differs from the
value last published. After `gone_after` consecutive "nothing" votes a published value is
withdrawn with a Gone event, and the window starts afresh, so the same label shown again is
published again. Files from a folder are not voted on: each is published once.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

from edge_ocr.types import Reading


@dataclass(frozen=True)
class Gone:
    """A field's published value is no longer seen."""

    field: str
    last: Reading  # the reading that ended the value (the latest "nothing" vote)
    previous_text: str


class Vote:
    """The voting state of one field."""

    def __init__(self, votes: int, window: int, gone_after: int) -> None:
        if not 1 <= votes <= window:
            raise ValueError("need 1 <= votes <= window")
        self._votes = votes
        self._window: deque[str | None] = deque(maxlen=window)
        self._gone_after = gone_after
        self._misses = 0
        self.published: str | None = None

    def update(self, reading: Reading) -> Reading | Gone | None:
        """Add one frame's reading; return what to publish now, if anything."""
        text = reading.text if reading.valid and reading.text else None
        self._window.append(text)
        if text is None:
            self._misses += 1
            if self.published is not None and self._misses >= self._gone_after:
                gone = Gone(reading.field, reading, self.published)
                self.published = None
                self._window.clear()
                return gone
            return None
        self._misses = 0
        if text == self.published:
            return None
        count = Counter(t for t in self._window if t == text)[text]
        if count >= self._votes:
            self.published = text
            return reading
        return None


class Stabilizer:
    """Votes for every field of a camera source."""

    def __init__(self, votes: int, window: int, gone_after: int) -> None:
        self._params = (votes, window, gone_after)
        self._fields: dict[str, Vote] = {}

    def update(self, reading: Reading) -> Reading | Gone | None:
        """Add one reading of its field; return what to publish now, if anything."""
        vote = self._fields.get(reading.field)
        if vote is None:
            vote = self._fields[reading.field] = Vote(*self._params)
        return vote.update(reading)
