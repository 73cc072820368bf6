"""edge_ocr.daemon end to end: a real daemon process, a real mosquitto, the real model.

Images are drawn at test time and dropped into a real folder; the daemon is stopped, reloaded
and killed with real signals. These tests take seconds each and are marked `slow`, but they are
part of the default run.
"""

from __future__ import annotations

import json
import re
import signal
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from conftest_daemon import (
    DaemonProcess,
    Mosquitto,
    Subscriber,
    base_config,
    box_overlap,
    draw,
    draw_plate,
    wait_until,
    write_image,
)

pytestmark = pytest.mark.slow

EVENTS = "edge-ocr/test/event"
Make = Callable[..., DaemonProcess]
Subscribe = Callable[[int, str], Subscriber]


def first_deliveries(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Payloads without repeats (delivery is at-least-once), in order of first arrival."""
    seen: set[str] = set()
    out = []
    for p in payloads:
        if p["reading_id"] not in seen:
            seen.add(p["reading_id"])
            out.append(p)
    return out


def names(payloads: list[dict[str, Any]]) -> list[str]:
    return [Path(p["path"]).name for p in payloads]


def test_dropped_image_arrives_as_its_text(
    tmp_path: Path,
    model_path: Path,
    mosquitto: Mosquitto,
    subscribe: Subscribe,
    daemon: Make,
    expected: Callable[[str], str],
) -> None:
    """A label dropped into the folder is published with its text and all payload keys."""
    sub = subscribe(mosquitto.port, EVENTS)
    d = daemon(base_config(tmp_path, model_path, mosquitto.port)).start()
    write_image(tmp_path / "inbox" / "label.png", draw("HELLO"))
    (body,) = sub.wait_for(1)
    assert body["text"] == expected("HELLO")
    assert body["field"] == "text" and body["source"] == "folder" and body["event"] == "reading"
    assert body["path"] == str(tmp_path / "inbox" / "label.png")
    assert body["captured_at"].endswith("Z") and body["recognized_at"].endswith("Z")
    assert body["recognized_at_unix"] >= body["captured_at_unix"] > 0
    assert len(body["chars"]) == len(body["text"]) and body["schema"] == 1
    for key in ("confidence", "valid", "frame_id", "model_version", "reading_id"):
        assert key in body
    wait_until(lambda: (tmp_path / "inbox" / "done" / "label.png").exists(), what="done/")
    d.signal(signal.SIGTERM)
    assert d.wait() == 0


def test_fields_are_read_in_one_frame_with_their_rules(
    tmp_path: Path,
    model_path: Path,
    mosquitto: Mosquitto,
    subscribe: Subscribe,
    daemon: Make,
    expected: Callable[[str], str],
    recognizer: Any,
) -> None:
    """Two configured fields of one image are published separately; a pattern miss is invalid."""
    top, bottom = draw("AB12"), draw("7731")
    width = max(top.shape[1], bottom.shape[1])
    canvas = np.full((top.shape[0] + bottom.shape[0], width, 3), 255, np.uint8)
    canvas[: top.shape[0], : top.shape[1]] = top
    canvas[top.shape[0] :, : bottom.shape[1]] = bottom
    fields = [
        {"name": "code", "rect": [0, 0, top.shape[1], top.shape[0]]},
        {
            "name": "number",
            "rect": [0, top.shape[0], bottom.shape[1], bottom.shape[0]],
            "allowed": "0123456789",
            "pattern": "NEVER",
        },
    ]
    sub = subscribe(mosquitto.port, EVENTS)
    daemon(base_config(tmp_path, model_path, mosquitto.port, fields=fields)).start()
    write_image(tmp_path / "inbox" / "plate.png", canvas)
    got = {b["field"]: b for b in sub.wait_for(2)}
    assert got["code"]["text"] == expected("AB12")
    assert set(got["number"]["text"]) <= set("0123456789")
    assert got["number"]["valid"] is False and got["number"]["problem"] == "pattern_mismatch"


def test_state_topic_keeps_the_latest_reading_retained(
    tmp_path: Path,
    model_path: Path,
    mosquitto: Mosquitto,
    subscribe: Subscribe,
    daemon: Make,
) -> None:
    """A subscriber arriving later still gets the field's latest reading from the state topic."""
    state_topic = "edge-ocr/test/field/text/state"
    early = subscribe(mosquitto.port, state_topic)
    daemon(base_config(tmp_path, model_path, mosquitto.port)).start()
    write_image(tmp_path / "inbox" / "a.png", draw("LATE"))
    early.wait_for(1)  # published (after the event): from now on it is the retained one
    late = subscribe(mosquitto.port, state_topic)
    (state,) = late.wait_for(1)
    assert late.messages[0][2] is True and state["path"].endswith("a.png")


def test_sd_notify_ready_status_watchdog_and_stopping(
    tmp_path: Path,
    model_path: Path,
    mosquitto: Mosquitto,
    daemon: Make,
) -> None:
    """The daemon sends READY=1 with STATUS=, pings WATCHDOG=1, and STOPPING=1 on SIGTERM."""
    d = daemon(
        base_config(tmp_path, model_path, mosquitto.port), env={"WATCHDOG_USEC": "300000"}
    ).start()
    ready = d.notify.wait_for("READY=1")
    assert any(line.startswith("STATUS=") for line in ready.split("\n"))
    d.notify.wait_for("WATCHDOG=1", timeout=10)
    d.signal(signal.SIGTERM)
    d.notify.wait_for("STOPPING=1", timeout=10)
    assert d.wait() == 0


def test_sigterm_drains_the_outbox_and_exits_0(
    tmp_path: Path,
    model_path: Path,
    mosquitto: Mosquitto,
    subscribe: Subscribe,
    daemon: Make,
) -> None:
    """Readings queued while the broker was down are delivered during shutdown; exit 0."""
    sub = subscribe(mosquitto.port, EVENTS)
    mosquitto.stop()
    d = daemon(base_config(tmp_path, model_path, mosquitto.port)).start()
    for i in range(3):
        write_image(tmp_path / "inbox" / f"{i}.png", draw(f"N{i}"))
    done = tmp_path / "inbox" / "done"
    wait_until(lambda: len(list(done.glob("*.png"))) == 3, what="3 files done")
    mosquitto.start()
    d.signal(signal.SIGTERM)
    assert d.wait() == 0
    assert names(first_deliveries(sub.wait_for(3, timeout=15))) == ["0.png", "1.png", "2.png"]


def test_readings_an_overfull_outbox_dropped_are_shown_in_status_and_at_stop(
    tmp_path: Path,
    model_path: Path,
    mosquitto: Mosquitto,
    daemon: Make,
) -> None:
    """With the broker away longer than outbox.max_messages lasts, the oldest readings are
    dropped: the status line (systemctl status) and the stop log say how many."""
    mosquitto.stop()
    cfg = base_config(tmp_path, model_path, mosquitto.port, outbox={"max_messages": 10})
    cfg["health"] = {"status_interval": 0.5}
    d = daemon(cfg).start()
    for i in range(14):
        write_image(tmp_path / "inbox" / f"{i}.png", draw(f"N{i}"))
    done = tmp_path / "inbox" / "done"
    wait_until(lambda: len(list(done.glob("*.png"))) == 14, what="14 files done")
    wait_until(
        lambda: (
            (d.notify.drain() or True) and any("dropped when full" in m for m in d.notify.messages)
        ),
        what="a status line with the outbox's drops",
    )
    status = next(m for m in reversed(d.notify.messages) if "dropped when full" in m)
    shown = re.search(r"outbox 10 pending, (\d+) dropped when full", status)
    assert shown is not None, status
    d.signal(signal.SIGTERM)
    assert d.wait() == 0
    assert f"the outbox was full and dropped {shown[1]} reading(s)" in d.log()


def test_sighup_applies_a_good_new_config(
    tmp_path: Path,
    model_path: Path,
    mosquitto: Mosquitto,
    subscribe: Subscribe,
    daemon: Make,
) -> None:
    """After SIGHUP with a new device_id and source settings, readings use the new topic."""
    sub = subscribe(mosquitto.port, "edge-ocr/+/event")
    cfg = base_config(tmp_path, model_path, mosquitto.port)
    d = daemon(cfg).start()
    d.notify.messages.clear()
    source = {"type": "folder", "folder": {**cfg["source"]["folder"], "poll_seconds": 0.2}}
    d.write_config({**cfg, "device_id": "renamed", "source": source})
    d.signal(signal.SIGHUP)
    d.notify.wait_for("RELOADING=1")
    d.notify.wait_for("READY=1")
    write_image(tmp_path / "inbox" / "a.png", draw("NEW"))
    sub.wait_for(1)
    assert sub.messages[0][0] == "edge-ocr/renamed/event"
    assert "configuration reloaded" in d.log()


def test_sighup_with_a_bad_config_keeps_the_old_one(
    tmp_path: Path,
    model_path: Path,
    mosquitto: Mosquitto,
    subscribe: Subscribe,
    daemon: Make,
) -> None:
    """A reload whose config fails its checks is refused, logged, and the daemon keeps going."""
    sub = subscribe(mosquitto.port, EVENTS)
    cfg = base_config(tmp_path, model_path, mosquitto.port)
    d = daemon(cfg).start()
    d.write_config({**cfg, "mqtt": {**cfg["mqtt"], "port": "abc"}})
    d.signal(signal.SIGHUP)
    d.wait_log("reload failed, keeping the running configuration")
    assert "mqtt.port: must be an integer between 1 and 65535, got 'abc'" in d.log()
    write_image(tmp_path / "inbox" / "a.png", draw("STILL"))
    sub.wait_for(1)
    assert d.proc is not None and d.proc.poll() is None


def huge_png() -> bytes:
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + chunk + end


def test_bad_files_are_failed_with_reasons_while_good_ones_are_read(
    tmp_path: Path,
    model_path: Path,
    mosquitto: Mosquitto,
    subscribe: Subscribe,
    daemon: Make,
) -> None:
    """Corrupt, empty, truncated, huge and non-image files go to failed/; the rest is published."""
    sub = subscribe(mosquitto.port, EVENTS)
    daemon(base_config(tmp_path, model_path, mosquitto.port)).start()
    inbox = tmp_path / "inbox"
    jpeg = cv2.imencode(".jpg", draw("CUT"))[1].tobytes()
    png = bytearray(cv2.imencode(".png", draw("BAD"))[1].tobytes())
    png[50:-20] = b"\x55" * (len(png) - 70)
    bad = {
        "empty.png": b"",
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "huge.png": huge_png(),
        "text.png": b"hello\n",
        "corrupt.png": bytes(png),
    }
    for name, data in bad.items():
        (inbox / name).write_bytes(data)
    write_image(inbox / "good.png", draw("GOOD"))
    (body,) = sub.wait_for(1)
    assert body["path"].endswith("good.png")
    failed = inbox / "failed"
    wait_until(
        lambda: len(list(failed.glob("*.reason.txt"))) == len(bad),
        timeout=20,
        what="every bad file failed",
    )
    for name in bad:
        assert (failed / name).exists() and (failed / f"{name}.reason.txt").read_text()
    write_image(inbox / "after.png", draw("AFTER"))
    assert sub.wait_for(2)[1]["path"].endswith("after.png")


def test_broker_restart_mid_stream_delivers_every_result_in_order(
    tmp_path: Path,
    model_path: Path,
    subscribe: Subscribe,
    daemon: Make,
) -> None:
    """Files read before, during and after a broker outage all arrive, in order."""
    broker = Mosquitto(tmp_path, persistent=True)
    broker.start()
    try:
        sub = subscribe(broker.port, EVENTS)
        daemon(base_config(tmp_path, model_path, broker.port)).start()
        inbox = tmp_path / "inbox"
        order = []
        for i in range(9):
            if i == 3:
                sub.wait_for(3)
                broker.stop()
            if i == 6:
                wait_until(lambda: len(list((inbox / "done").glob("*.png"))) == 6)
                broker.start()
            name = f"{i:02d}.png"
            write_image(inbox / name, draw(f"R{i}"))
            order.append(name)
            time.sleep(0.15)
        wait_until(
            lambda: len(first_deliveries([json.loads(p) for _, p, _ in sub.messages])) == 9,
            timeout=30,
        )
        got = first_deliveries([json.loads(p) for _, p, _ in sub.messages])
        assert names(got) == order
    finally:
        broker.stop()


def test_sigkill_and_restart_loses_nothing(
    tmp_path: Path,
    model_path: Path,
    mosquitto: Mosquitto,
    subscribe: Subscribe,
    daemon: Make,
) -> None:
    """Readings in the outbox and files not yet read both survive kill -9 and a restart."""
    sub = subscribe(mosquitto.port, EVENTS)
    mosquitto.stop()
    cfg = base_config(tmp_path, model_path, mosquitto.port)
    first = daemon(cfg).start()
    inbox = tmp_path / "inbox"
    for i in range(4):
        write_image(inbox / f"{i}.png", draw(f"K{i}"))
    wait_until(lambda: len(list((inbox / "done").glob("*.png"))) >= 2, what="2 files done")
    first.signal(signal.SIGKILL)
    first.wait()
    for i in range(4, 6):
        write_image(inbox / f"{i}.png", draw(f"K{i}"))
    mosquitto.start()
    daemon(cfg).start()
    wait_until(
        lambda: len(first_deliveries([json.loads(p) for _, p, _ in sub.messages])) == 6,
        timeout=30,
        what="6 distinct readings",
    )
    got = first_deliveries([json.loads(p) for _, p, _ in sub.messages])
    assert sorted(names(got)) == [f"{i}.png" for i in range(6)]
    wait_until(lambda: not list(inbox.glob("*.png")), what="inbox emptied")


def test_password_never_reaches_the_log(
    tmp_path: Path,
    model_path: Path,
    mosquitto: Mosquitto,
    subscribe: Subscribe,
    daemon: Make,
) -> None:
    """With DEBUG logging and a credential-supplied password, the log never shows it."""
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mqtt-password").write_text("Sup3r-Secret-Pw\n")
    sub = subscribe(mosquitto.port, EVENTS)
    cfg = base_config(
        tmp_path, model_path, mosquitto.port, log_level="DEBUG", mqtt={"username": "reader"}
    )
    d = daemon(cfg, env={"CREDENTIALS_DIRECTORY": str(creds)}).start()
    write_image(tmp_path / "inbox" / "a.png", draw("PW"))
    sub.wait_for(1)
    d.signal(signal.SIGTERM)
    assert d.wait() == 0
    assert "connected to" in d.log()
    assert "Sup3r-Secret-Pw" not in d.log()


def write_video(path: Path, words: list[str | None], fps: float = 10.0) -> Path:
    frames = [draw(w) if w else None for w in words]
    shape = next(f for f in frames if f is not None).shape
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (shape[1], shape[0]))
    for f in frames:
        writer.write(f if f is not None else np.full(shape, 255, np.uint8))
    writer.release()
    return path


def test_camera_value_is_published_once_when_stable_then_gone(
    tmp_path: Path,
    model_path: Path,
    mosquitto: Mosquitto,
    subscribe: Subscribe,
    daemon: Make,
    expected: Callable[[str], str],
    shipped_model: bool,
) -> None:
    """A video showing one label then nothing gives one reading and one gone event, in order."""
    if not shipped_model:
        pytest.skip("a random model may read text on blank frames")
    video = write_video(tmp_path / "cam.avi", ["PUMP7"] * 12 + [None] * 12)
    sub = subscribe(mosquitto.port, EVENTS)
    cfg = base_config(
        tmp_path,
        model_path,
        mosquitto.port,
        source={"type": "opencv", "opencv": {"url": str(video)}},
        capture={"rate": 10.0},
        stabilize={"votes": 3, "window": 5, "gone_after": 5},
        detect={"mode": "off"},  # the whole frame is one line
    )
    d = daemon(cfg).start()
    assert d.wait(60) == 0  # a video file ends, and the daemon with it
    reading, gone = sub.wait_for(2)
    assert (reading["event"], reading["text"]) == ("reading", expected("PUMP7"))
    assert (gone["event"], gone["text"], gone["previous_text"]) == ("gone", "", reading["text"])
    assert len(sub.messages) == 2


def test_field_on_a_label_missing_from_the_image_is_published_as_not_found(
    tmp_path: Path,
    model_path: Path,
    mosquitto: Mosquitto,
    subscribe: Subscribe,
    daemon: Make,
    expected: Callable[[str], str],
) -> None:
    """A file without the label gives its field an empty invalid reading saying so, as does a
    field outside a smaller image than configured; the others are read and the file is done."""
    labels = [
        {
            "name": "plate",
            "find": "marker",
            "size": [400, 200],
            "marker": {"id": 7, "rect": [10, 10, 60, 60]},
        }
    ]
    word = draw("PUMP7")
    fields = [
        {"name": "serial", "label": "plate", "rect": [100, 20, 280, 60]},
        {"name": "word", "rect": [0, 0, word.shape[1], word.shape[0]]},
        {"name": "far", "rect": [5000, 5000, 100, 30]},
    ]
    sub = subscribe(mosquitto.port, EVENTS)
    cfg = base_config(tmp_path, model_path, mosquitto.port, labels=labels, fields=fields)
    cfg["health"] = {"status_interval": 0.5}
    d = daemon(cfg).start()
    write_image(tmp_path / "inbox" / "no-label.png", word)
    got = {b["field"]: b for b in sub.wait_for(3)}
    assert got["word"]["text"] == expected("PUMP7") and got["word"]["valid"] is True
    serial = got["serial"]
    assert (serial["text"], serial["valid"]) == ("", False)
    assert serial["problem"] == "label 'plate' not found in the frame"
    far = got["far"]
    assert (far["text"], far["valid"]) == ("", False)
    assert far["problem"].startswith("rect [5000, 5000, 100, 30] lies outside the")
    wait_until(lambda: (tmp_path / "inbox" / "done" / "no-label.png").exists())
    assert "quad" not in serial and len(got["word"]["quad"]) == 4
    # The status line (systemctl status) counts the frames the label was found in.
    wait_until(
        lambda: (
            (d.notify.drain() or True)
            and any(m.endswith("; labels plate found 0/1") for m in d.notify.messages)
        ),
        timeout=10,
        what="STATUS= with the label count",
    )


def test_camera_lines_are_found_tracked_published_with_quads_then_gone(
    tmp_path: Path,
    model_path: Path,
    mosquitto: Mosquitto,
    subscribe: Subscribe,
    daemon: Make,
    expected: Callable[[str], str],
    shipped_model: bool,
) -> None:
    """With no fields, a camera showing a two-line label publishes each line once, then gone."""
    if not shipped_model:
        pytest.skip("a random model may read text on blank frames")
    plate, boxes = draw_plate(["PUMP7", "IP65"])
    blank, _ = draw_plate([" ", " "])
    video = tmp_path / "cam.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (640, 480))
    for image in [plate] * 12 + [blank] * 12:
        writer.write(image)
    writer.release()
    sub = subscribe(mosquitto.port, EVENTS)
    state = subscribe(mosquitto.port, "edge-ocr/+/field/#")
    cfg = base_config(
        tmp_path,
        model_path,
        mosquitto.port,
        source={"type": "opencv", "opencv": {"url": str(video)}},
        capture={"rate": 10.0},
        stabilize={"votes": 3, "window": 5, "gone_after": 5},
    )
    d = daemon(cfg).start()
    assert d.wait(60) == 0
    events = sub.wait_for(4)
    readings = {e["field"]: e for e in events if e["event"] == "reading"}
    gone = {e["field"]: e for e in events if e["event"] == "gone"}
    assert sorted(readings) == sorted(gone) == ["line-1", "line-2"]
    assert readings["line-1"]["text"] == expected("PUMP7")
    assert readings["line-2"]["text"] == expected("IP65")
    for name, box in zip(("line-1", "line-2"), boxes, strict=True):
        assert box_overlap(readings[name]["quad"], box) > 0.5
        assert gone[name]["previous_text"] == readings[name]["text"]
    assert len(sub.messages) == 4
    assert state.messages == []  # detected lines keep no retained state
