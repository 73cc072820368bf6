"""Tests for edge_ocr.outbox: a durable, bounded FIFO in sqlite."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from edge_ocr.errors import OutboxError
from edge_ocr.outbox import Outbox, Outgoing

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def outbox_path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.sqlite3"


def test_messages_survive_close_and_reopen(outbox_path: Path) -> None:
    """What was put is there again, unchanged, after closing and reopening the file."""
    with Outbox(outbox_path) as box:
        first = box.put("a/event", b'{"n":1}', qos=1)
        second = box.put("a/state", b"\x00\xff", qos=0, retain=True)
    with Outbox(outbox_path) as box:
        messages = box.peek()
    assert [(m.id, m.topic, m.payload, m.qos, m.retain) for m in messages] == [
        (first, "a/event", b'{"n":1}', 1, False),
        (second, "a/state", b"\x00\xff", 0, True),
    ]
    assert all(m.created_at > 0 for m in messages)


def test_peek_is_oldest_first_and_limited(outbox_path: Path) -> None:
    """peek returns the oldest messages first, at most `limit`, and `after` skips ahead."""
    with Outbox(outbox_path) as box:
        ids = [box.put("t", str(n).encode()) for n in range(10)]
        assert [m.id for m in box.peek(3)] == ids[:3]
        assert [m.payload for m in box.peek(3, after=ids[4])] == [b"5", b"6", b"7"]
        assert ids == sorted(ids)


def test_ack_removes_only_that_message(outbox_path: Path) -> None:
    """ack removes the acknowledged message and keeps the others in order."""
    with Outbox(outbox_path) as box:
        ids = [box.put("t", bytes([n])) for n in range(4)]
        box.ack(ids[1])
        box.ack_many([ids[3], 999_999])  # unknown ids are ignored
        assert [m.id for m in box.peek()] == [ids[0], ids[2]]
        assert len(box) == 2


def test_ids_are_never_reused(outbox_path: Path) -> None:
    """An emptied outbox keeps counting up, so an old id never names a new message."""
    with Outbox(outbox_path) as box:
        old = box.put("t", b"x")
        box.ack(old)
    with Outbox(outbox_path) as box:
        assert box.put("t", b"y") > old


def test_bound_drops_oldest_and_counts_persistently(outbox_path: Path) -> None:
    """Past max_messages the oldest message is dropped, and the drop count survives reopening."""
    with Outbox(outbox_path, max_messages=3) as box:
        for n in range(5):
            box.put("t", str(n).encode())
        assert [m.payload for m in box.peek()] == [b"2", b"3", b"4"]
        assert box.dropped == 2
    with Outbox(outbox_path, max_messages=3) as box:
        assert box.dropped == 2
        assert len(box) == 3


def test_bound_drops_superseded_retained_before_events(outbox_path: Path) -> None:
    """A full outbox first drops retained messages that a newer one on the topic replaces."""
    with Outbox(outbox_path, max_messages=4) as box:
        box.put("event", b"e1")
        box.put("state", b"s1", retain=True)
        box.put("event", b"e2")
        box.put("state", b"s2", retain=True)
        box.put("event", b"e3")  # full: s1 goes, s2 still tells the latest state
        assert [m.payload for m in box.peek()] == [b"e1", b"e2", b"s2", b"e3"]


def test_bound_drops_events_before_latest_retained(outbox_path: Path) -> None:
    """Without superseded retained messages, the oldest event goes, not the latest state."""
    with Outbox(outbox_path, max_messages=3) as box:
        box.put("state/a", b"a", retain=True)
        box.put("event", b"e1")
        box.put("state/b", b"b", retain=True)
        box.put("event", b"e2")
        assert [m.payload for m in box.peek()] == [b"a", b"b", b"e2"]
        assert box.dropped == 1


def test_max_bytes_bounds_the_payload_total(outbox_path: Path) -> None:
    """max_bytes drops the oldest messages until topic and payload bytes fit."""
    with Outbox(outbox_path, max_bytes=30) as box:
        for n in range(4):
            box.put("t", bytes(9) + bytes([n]))  # 11 bytes each
        assert [m.payload[-1] for m in box.peek()] == [2, 3]
        assert box.size_bytes == 22
        with pytest.raises(OutboxError):
            box.put("t", bytes(100))


def test_put_many_is_all_or_nothing(outbox_path: Path) -> None:
    """put_many stores its messages together in order, or none when one is invalid."""
    with Outbox(outbox_path) as box:
        ids = box.put_many([Outgoing("a", b"1"), Outgoing("b", b"2", retain=True)])
        assert [m.id for m in box.peek()] == ids
        with pytest.raises(ValueError):
            box.put_many([Outgoing("c", b"3"), Outgoing("", b"4")])
        assert len(box) == 2


def test_second_process_cannot_open_the_same_outbox(outbox_path: Path) -> None:
    """A second opener gets an OutboxError instead of interleaving deliveries."""
    with Outbox(outbox_path):
        with pytest.raises(OutboxError, match="in use"):
            Outbox(outbox_path)


def test_garbage_file_is_reported(outbox_path: Path) -> None:
    """A file that is not a database gives an OutboxError naming it."""
    outbox_path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(OutboxError, match=str(outbox_path)):
        Outbox(outbox_path)


def test_closed_outbox_raises(outbox_path: Path) -> None:
    """Using an outbox after close raises OutboxError; closing twice is fine."""
    box = Outbox(outbox_path)
    box.close()
    box.close()
    with pytest.raises(OutboxError):
        box.put("t", b"x")


def test_notes_persist(outbox_path: Path) -> None:
    """A note set on the outbox is read back after reopening."""
    with Outbox(outbox_path) as box:
        assert box.get_note("k") is None
        box.set_note("k", "v1")
        box.set_note("k", "v2")
    with Outbox(outbox_path) as box:
        assert box.get_note("k") == "v2"


def test_ack_sets_notes_with_the_messages_it_removes(outbox_path: Path) -> None:
    """ack_many removes the delivered messages and sets its notes in one step: both are there
    after reopening (what the publisher remembers as delivered always was)."""
    with Outbox(outbox_path) as box:
        first, second = box.put("t", b"a", retain=True), box.put("t", b"b", retain=True)
        box.ack_many([first], {"delivered:t": "a"})
    with Outbox(outbox_path) as box:
        assert [m.id for m in box.peek(10)] == [second]
        assert box.get_note("delivered:t") == "a"


def test_concurrent_puts_from_threads_all_land(outbox_path: Path) -> None:
    """Puts from several threads are all stored, each thread's in its own order."""
    with Outbox(outbox_path, synchronous="NORMAL") as box:

        def writer(name: str) -> None:
            for n in range(50):
                box.put(name, str(n).encode())

        threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        messages = box.peek(1000)
    assert len(messages) == 200
    for i in range(4):
        mine = [int(m.payload) for m in messages if m.topic == f"w{i}"]
        assert mine == list(range(50))


_CHILD = """
import sys
from edge_ocr.outbox import Outbox
box = Outbox(sys.argv[1])
n = 0
while True:
    box.put("t", str(n).encode())
    print(n, flush=True)  # reported only after put() returned
    n += 1
"""


def test_sigkill_right_after_put_loses_nothing(outbox_path: Path) -> None:
    """A process killed with SIGKILL keeps every message whose put() had returned."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(outbox_path)],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert child.stdout is not None
    reported = []
    for line in child.stdout:
        reported.append(int(line))
        if len(reported) == 200:
            child.send_signal(signal.SIGKILL)
            break
    child.wait(10)
    reported += [int(line) for line in child.stdout]  # printed before the kill, not yet read
    assert child.returncode == -signal.SIGKILL
    with Outbox(outbox_path) as box:
        stored = [int(m.payload) for m in box.peek(100_000)]
    # Every reported put is there, in order; at most the one put in progress is extra.
    assert stored[: len(reported)] == reported
    assert len(stored) - len(reported) <= 1
