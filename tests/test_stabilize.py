"""edge_ocr.stabilize: N-of-M voting per field, publish on change, gone after K misses."""

from __future__ import annotations

from edge_ocr.regions import rect_quad
from edge_ocr.stabilize import Gone, LineTracker, Stabilizer, Vote, box_iou
from edge_ocr.types import Reading


def r(text: str, valid: bool = True, field: str = "f") -> Reading:
    return Reading(field, text, 0.9, (), 1, "cam", 0.0, 0.0, valid=valid)


def feed(vote: Vote | Stabilizer, texts: list[str]) -> list[object]:
    return [vote.update(r(t)) for t in texts]


def test_value_is_published_after_n_of_m_votes() -> None:
    """A text is published on its 3rd vote within the last 5 frames, not before."""
    out = feed(Vote(3, 5, 10), ["A", "B", "A", "", "A"])
    assert out[:4] == [None, None, None, None]
    assert isinstance(out[4], Reading) and out[4].text == "A"


def test_votes_outside_the_window_do_not_count() -> None:
    """Votes older than the window are forgotten."""
    out = feed(Vote(3, 3, 10), ["A", "A", "B", "A"])
    assert out == [None, None, None, None]


def test_stable_value_is_not_republished() -> None:
    """The same value seen again is not published a second time."""
    out = feed(Vote(2, 3, 10), ["A", "A", "A", "A", "A"])
    assert sum(isinstance(o, Reading) for o in out) == 1


def test_changed_value_is_published() -> None:
    """A new value that wins the vote is published after the old one."""
    out = feed(Vote(2, 3, 10), ["A", "A", "B", "B"])
    assert [o.text for o in out if isinstance(o, Reading)] == ["A", "B"]


def test_gone_after_k_empty_frames() -> None:
    """K consecutive frames with nothing read withdraw the published value."""
    out = feed(Vote(1, 1, 3), ["A", "", "", ""])
    assert out[1:3] == [None, None]
    assert isinstance(out[3], Gone) and out[3].previous_text == "A"


def test_value_shown_again_after_gone_is_published_again() -> None:
    """After a gone event the same text becomes news again."""
    out = feed(Vote(1, 1, 1), ["A", "", "A"])
    assert isinstance(out[2], Reading) and out[2].text == "A"


def test_invalid_readings_do_not_vote() -> None:
    """Readings marked invalid count as nothing read."""
    vote = Vote(2, 3, 5)
    assert vote.update(r("A", valid=False)) is None
    assert vote.update(r("A", valid=False)) is None
    assert vote.published is None


def test_fields_vote_independently() -> None:
    """Each field has its own window."""
    s = Stabilizer(2, 2, 5)
    s.update(r("A", field="x"))
    assert s.update(r("A", field="y")) is None
    assert isinstance(s.update(r("A", field="x")), Reading)


def test_a_line_keeps_its_name_while_it_moves_a_little() -> None:
    """Two lines drifting a few pixels per frame keep their names, in whatever order found."""
    tracker = LineTracker(min_iou=0.3, forget_after=3)
    names, missed, dropped = tracker.update(
        [rect_quad(10, 10, 200, 30), rect_quad(10, 60, 150, 30)]
    )
    assert names == ["line-1", "line-2"] and missed == [] and dropped == []
    names, missed, _ = tracker.update([rect_quad(14, 64, 150, 30), rect_quad(13, 12, 200, 30)])
    assert names == ["line-2", "line-1"] and missed == []


def test_a_new_line_gets_a_new_name_and_a_vanished_one_is_missed_then_dropped() -> None:
    """A line elsewhere is new; one not seen is reported missed, then dropped after 2 frames."""
    tracker = LineTracker(min_iou=0.3, forget_after=2)
    tracker.update([rect_quad(10, 10, 200, 30)])
    names, missed, dropped = tracker.update([rect_quad(10, 300, 200, 30)])
    assert names == ["line-2"] and missed == ["line-1"] and dropped == []
    assert tracker.update([rect_quad(10, 300, 200, 30)])[1:] == (["line-1"], [])
    assert tracker.update([rect_quad(10, 300, 200, 30)])[1:] == ([], ["line-1"])
    names, _, _ = tracker.update([rect_quad(10, 10, 200, 30), rect_quad(10, 300, 200, 30)])
    assert names == ["line-3", "line-2"]  # a dropped name is never given out again


def test_one_track_is_given_to_one_line_only() -> None:
    """Two lines overlapping the same old line: the better overlap keeps the name."""
    tracker = LineTracker(min_iou=0.2, forget_after=2)
    tracker.update([rect_quad(0, 0, 200, 40)])
    names, _, _ = tracker.update([rect_quad(0, 0, 120, 40), rect_quad(0, 0, 190, 40)])
    assert names == ["line-2", "line-1"]


def test_box_iou() -> None:
    """Identical boxes overlap fully, disjoint ones not at all, half-shifted ones by a third."""
    a = rect_quad(0, 0, 10, 10)
    assert box_iou(a, a) == 1.0
    assert box_iou(a, rect_quad(20, 0, 10, 10)) == 0.0
    assert abs(box_iou(a, rect_quad(5, 0, 10, 10)) - 1 / 3) < 1e-9


def test_forgotten_field_starts_voting_afresh() -> None:
    """After forget(), a field's earlier votes no longer count."""
    s = Stabilizer(2, 3, 5)
    assert s.update(r("A", field="line-1")) is None
    s.forget("line-1")
    assert s.update(r("A", field="line-1")) is None
