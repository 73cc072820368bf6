"""edge_ocr.stabilize: N-of-M voting per field, publish on change, gone after K misses."""

from __future__ import annotations

from edge_ocr.stabilize import Gone, Stabilizer, Vote
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
