"""Multi-frame voting for camera fields: publish a value once it is stable, and when it is gone.

Each frame gives a field one vote: its text when the reading is valid, else "nothing". A text
becomes the field's value when it has `votes` of the last `window` votes and differs from the
value last published. After `gone_after` consecutive "nothing" votes a published value is
withdrawn with a Gone event, and the window starts afresh, so the same label shown again is
published again. Files from a folder are not voted on: each is published once.

Detected lines (no fields configured) have no names of their own: `LineTracker` names them
"line-N" and keeps a name while the line stays at about the same place from frame to frame, so
each line is voted on like a field; a line that has left votes "nothing" until it is gone.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

from edge_ocr.types import Quad, Reading


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

    def forget(self, field: str) -> None:
        """Drop a field's voting state (a detected line that left the picture for good)."""
        self._fields.pop(field, None)


def _box(quad: Quad) -> tuple[float, float, float, float]:
    xs = [p[0] for p in quad]
    ys = [p[1] for p in quad]
    return min(xs), min(ys), max(xs), max(ys)


def box_iou(a: Quad, b: Quad) -> float:
    """Overlap of the bounding boxes of two quads: intersection over union, 0..1."""
    ax0, ay0, ax1, ay1 = _box(a)
    bx0, by0, bx1, by1 = _box(b)
    iw = max(0.0, min(ax1, bx1) - max(ax0, bx0))
    ih = max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class _Track:
    name: str
    quad: Quad
    missed: int = 0


class LineTracker:
    """Gives each detected line a stable name ("line-7") across frames of a camera.

    A line keeps the name of the tracked line it overlaps most (bounding-box IoU at least
    `min_iou`, each track matched once, best overlaps first); a line matching none starts a new
    track. A track not seen for `forget_after` frames is dropped.
    """

    def __init__(self, min_iou: float, forget_after: int) -> None:
        self._min_iou = min_iou
        self._forget_after = forget_after
        self._tracks: list[_Track] = []
        self._next = 1

    def update(self, quads: list[Quad]) -> tuple[list[str], list[str], list[str]]:
        """Names for `quads` (same order); tracks missed this frame; tracks dropped now."""
        pairs = sorted(
            (
                (box_iou(q, t.quad), i, j)
                for i, q in enumerate(quads)
                for j, t in enumerate(self._tracks)
            ),
            reverse=True,
        )
        names: list[str | None] = [None] * len(quads)
        taken: set[int] = set()
        for iou, i, j in pairs:
            if iou < self._min_iou:
                break
            if names[i] is None and j not in taken:
                names[i] = self._tracks[j].name
                taken.add(j)
                self._tracks[j].quad = quads[i]
                self._tracks[j].missed = 0
        missed: list[str] = []
        dropped: list[str] = []
        kept: list[_Track] = []
        for j, t in enumerate(self._tracks):
            if j not in taken:
                t.missed += 1
                (dropped if t.missed > self._forget_after else missed).append(t.name)
            if t.missed <= self._forget_after:
                kept.append(t)
        self._tracks = kept
        for i, q in enumerate(quads):
            if names[i] is None:
                name = f"line-{self._next}"
                self._next += 1
                self._tracks.append(_Track(name, q))
                names[i] = name
        return [n for n in names if n is not None], missed, dropped
