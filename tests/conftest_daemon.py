"""Fixtures for the daemon's tests: the model, drawn labels, a real mosquitto, a real daemon.

Loaded from tests/conftest.py (`pytest_plugins`). The model is the shipped one
(models/latin_crnn_int8.onnx) unless $EDGE_OCR_TEST_MODEL names another file; with another
model only the plumbing is checked: the expected text of a drawn label is then whatever that
model reads from it in-process, not the word drawn.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import paho.mqtt.client as paho
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parent.parent
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: end-to-end test with a daemon subprocess")


# --- model and images ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The recognition model the tests run ($EDGE_OCR_TEST_MODEL or the shipped one)."""
    from edge_ocr.recognizer import default_model_path

    path = Path(os.environ.get("EDGE_OCR_TEST_MODEL") or default_model_path())
    if not path.is_file():
        pytest.skip(f"no model at {path} (set EDGE_OCR_TEST_MODEL)")
    return path


@pytest.fixture(scope="session")
def recognizer(model_path: Path) -> Any:
    """The model loaded in the test process."""
    from edge_ocr.recognizer import Recognizer

    return Recognizer(model_path)


@pytest.fixture(scope="session")
def shipped_model(model_path: Path) -> bool:
    """True when the tests run the real model, so drawn words must be read exactly."""
    return not os.environ.get("EDGE_OCR_TEST_MODEL")


def draw(text: str, *, height: int = 40, font: int = cv2.FONT_HERSHEY_SIMPLEX) -> np.ndarray:
    """A clean printed label: black text on white, about `height` px of cap height."""
    scale = cv2.getFontScaleFromHeight(font, height, 2)
    (w, h), base = cv2.getTextSize(text, font, scale, 2)
    pad = height // 2
    image = np.full((h + base + 2 * pad, w + 2 * pad, 3), 255, dtype=np.uint8)
    cv2.putText(image, text, (pad, pad + h), font, scale, (0, 0, 0), 2, cv2.LINE_AA)
    return image


def draw_plate(
    words: list[str], *, size: tuple[int, int] = (640, 480), height: int = 28
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A camera frame: a light label on a darker bench with one line per word, and each
    line's box (x, y, w, h) in the frame."""
    width, frame_h = size
    frame = np.full((frame_h, width, 3), (70, 80, 90), dtype=np.uint8)
    lines = [draw(w, height=height) for w in words]
    label_w = max(line.shape[1] for line in lines) + 40
    label_h = sum(line.shape[0] for line in lines) + 40
    x0, y0 = (width - label_w) // 2, (frame_h - label_h) // 2
    frame[y0 : y0 + label_h, x0 : x0 + label_w] = 255
    boxes = []
    y = y0 + 20
    for line in lines:
        h, w = line.shape[:2]
        frame[y : y + h, x0 + 20 : x0 + 20 + w] = line
        pad = height // 2  # draw() leaves this much white around the text
        boxes.append((x0 + 20 + pad, y + pad, w - 2 * pad, h - 2 * pad))
        y += h
    return frame, boxes


SMALL_PRINT = ("SERIAL 4471-2290", "MODEL XR-200", "230V 50Hz")


def spaces_aside(texts: Iterable[str]) -> list[str]:
    """The texts without their spaces: at 7 px the space after MODEL's open L is 1-2 px, no
    wider than the letter gaps, and either reading is fair (latin-crnn 0.2.6 read it, 0.2.7
    reads `MODELXR-200`); every line must still be found and its characters read."""
    return [text.replace(" ", "") for text in texts]


def draw_small_print() -> np.ndarray:
    """A 1920x1080 frame with the SMALL_PRINT lines 7 px high: 2 px once the frame is scaled
    to 640 px, past what the detector finds there."""
    frame = np.full((1080, 1920, 3), 235, np.uint8)
    for i, text in enumerate(SMALL_PRINT):
        cv2.putText(
            frame, text, (800, 300 + 30 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (20, 20, 20), 1
        )
    return frame


def box_overlap(quad: list[list[float]], box: tuple[int, int, int, int]) -> float:
    """Intersection over union of a quad's bounding box and an (x, y, w, h) box."""
    xs, ys = [p[0] for p in quad], [p[1] for p in quad]
    x, y, w, h = box
    iw = max(0.0, min(max(xs), x + w) - max(min(xs), x))
    ih = max(0.0, min(max(ys), y + h) - max(min(ys), y))
    inter = iw * ih
    union = (max(xs) - min(xs)) * (max(ys) - min(ys)) + w * h - inter
    return inter / union


@pytest.fixture(scope="session")
def expected(recognizer: Any, shipped_model: bool) -> Callable[[str], str]:
    """What the daemon must publish for a label drawn with `draw(word)`."""

    def expect(word: str) -> str:
        if shipped_model:
            return word
        return str(recognizer.recognize([draw(word)])[0].text)

    return expect


def write_image(path: Path, image: np.ndarray) -> Path:
    """Encode by the suffix and write atomically (temporary name, then rename)."""
    ok, data = cv2.imencode(path.suffix, image)
    assert ok
    part = path.with_name(path.name + ".part")
    part.write_bytes(data.tobytes())
    part.rename(path)
    return path


# --- broker ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


class Mosquitto:
    """A private mosquitto on a fixed port that a test can stop and start again."""

    def __init__(self, folder: Path, *, persistent: bool = False) -> None:
        self.port = free_port()
        self.conf = folder / f"mosquitto-{self.port}.conf"
        # Persistence keeps a subscriber's session (and its queued QoS 1 messages) across a
        # broker restart, so a test can tell lost messages from ones sent while it reconnected.
        persistence = (
            f"persistence true\npersistence_location {folder}/\n"
            f"persistence_file mosquitto-{self.port}.db\n"
            if persistent
            else "persistence false\n"
        )
        # As root, mosquitto would switch to its own user, who cannot write our tmp folder.
        user = f"user {getpass.getuser()}\n"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n{persistence}{user}"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A running mosquitto of this test's own."""
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto is not installed")
    broker = Mosquitto(tmp_path, persistent=True)
    broker.start()
    yield broker
    broker.stop()


class Subscriber:
    """Collects the messages of one topic filter, in arrival order; survives broker restarts."""

    def __init__(self, port: int, topic: str) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        # A persistent session: the broker queues QoS 1 messages while we reconnect.
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-sub-{port}-{len(topic)}-{id(self)}",
            clean_session=False,
        )
        self._client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self._client.on_subscribe = lambda *a: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(0.1, 0.5)
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        assert self._subscribed.wait(10), "subscription not acknowledged"

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        with self._cond:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The first `count` JSON payloads; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"got {len(self.messages)} of {count} messages: {self.messages}"
                self._cond.wait(left)
            return [json.loads(p) for _, p, _ in self.messages[:count]]

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


@pytest.fixture
def subscribe() -> Iterator[Callable[[int, str], Subscriber]]:
    """Subscribe to a topic filter on a local broker; disconnected after the test."""
    subs: list[Subscriber] = []

    def make(port: int, topic: str) -> Subscriber:
        sub = Subscriber(port, topic)
        subs.append(sub)
        return sub

    yield make
    for sub in subs:
        sub.close()


# --- the daemon -----------------------------------------------------------------------------


class NotifySocket:
    """The $NOTIFY_SOCKET end systemd would hold: a unix datagram socket that collects."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []

    def wait_for(self, line: str, timeout: float = 30.0) -> str:
        """Collect datagrams until one holds `line`; return that datagram."""
        for message in self.messages:
            if line in message.split("\n"):
                return message
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(4096).decode()
            except TimeoutError:
                continue
            self.messages.append(data)
            if line in data.split("\n"):
                return data
        raise AssertionError(f"no {line!r} within {timeout} s; got {self.messages}")

    def drain(self) -> None:
        try:
            while True:
                self.messages.append(self.sock.recv(4096).decode())
        except (TimeoutError, BlockingIOError):
            pass

    def close(self) -> None:
        self.sock.close()


def base_config(tmp_path: Path, model: Path, port: int, **overrides: Any) -> dict[str, Any]:
    """A config for a test daemon reading tmp_path/inbox; sections in overrides replace keys."""
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    cfg: dict[str, Any] = {
        "device_id": "test",
        "log_level": "INFO",
        "model": {"path": str(model)},
        "source": {
            "type": "folder",
            "folder": {
                "path": str(inbox),
                "settle_seconds": 0.2,
                "poll_seconds": 0.1,
                "incomplete_seconds": 1.0,
            },
        },
        "mqtt": {
            "host": "127.0.0.1",
            "port": port,
            "homeassistant_discovery": False,
            "reconnect_min_delay": 0.1,
            "reconnect_max_delay": 0.5,
        },
        "outbox": {"path": str(tmp_path / "outbox.sqlite3")},
        "shutdown": {"drain_seconds": 5},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    return cfg


class DaemonProcess:
    """`python -m edge_ocr run` as a real subprocess, with its own notify socket and log."""

    def __init__(self, tmp_path: Path, config: dict[str, Any], env: dict[str, str] | None = None):
        self.tmp_path = tmp_path
        self.config_file = tmp_path / "edge-ocr.yaml"
        self.write_config(config)
        self.log_file = tmp_path / "daemon.log"
        self.notify = NotifySocket(tmp_path / f"notify-{time.monotonic_ns()}.sock")
        self.env = {
            **os.environ,
            "NOTIFY_SOCKET": str(self.notify.path),
            "PYTHONPATH": str(REPO),
            **(env or {}),
        }
        self.env.pop("JOURNAL_STREAM", None)
        self.proc: subprocess.Popen[bytes] | None = None

    def write_config(self, config: dict[str, Any]) -> None:
        self.config_file.write_text(yaml.safe_dump(config))

    def start(self, *, wait_ready: bool = True) -> DaemonProcess:
        with open(self.log_file, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edge_ocr", "run", "--config", str(self.config_file)],
                stdout=log,
                stderr=log,
                env=self.env,
                cwd=self.tmp_path,
            )
        if wait_ready:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        try:
            self.notify.wait_for("READY=1", timeout)
        except AssertionError:
            raise AssertionError(f"daemon not ready; log:\n{self.log()}") from None

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def wait_log(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            assert time.monotonic() < deadline, f"{text!r} not logged; log:\n{self.log()}"
            assert self.proc is not None and self.proc.poll() is None, self.log()
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    """Make daemon processes for this test; any still running afterwards are killed."""
    made: list[DaemonProcess] = []

    def make(config: dict[str, Any], env: dict[str, str] | None = None) -> DaemonProcess:
        d = DaemonProcess(tmp_path, config, env)
        made.append(d)
        return d

    yield make
    for d in made:
        d.kill()
        d.notify.close()


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Poll `condition` every 50 ms; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        time.sleep(0.05)
