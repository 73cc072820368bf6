"""`edge-ocr demo`: the whole path on this machine in a minute, with nothing set up beforehand.

Renders a few label images with OpenCV, finds or starts a local MQTT broker (the mosquitto
binary), runs the daemon on a temporary watched folder, drops the labels into it one by one and
reports each reading as it arrives over MQTT, then shuts everything down.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from edge_ocr.errors import EdgeOcrError, ModelError

SAMPLES = ("HELLO", "EDGE-OCR", "A1B2C3", "Serial 4711", "2024-06-01", "Pump 7")


def render_label(
    text: str, *, height: int = 40, font: int = cv2.FONT_HERSHEY_SIMPLEX
) -> np.ndarray:
    """Black text on a white label, about `height` pixels of cap height plus a margin."""
    scale = cv2.getFontScaleFromHeight(font, height, 2)
    (w, h), base = cv2.getTextSize(text, font, scale, 2)
    pad = height // 2
    image = np.full((h + base + 2 * pad, w + 2 * pad, 3), 255, dtype=np.uint8)
    cv2.putText(image, text, (pad, pad + h), font, scale, (0, 0, 0), 2, cv2.LINE_AA)
    return image


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_mosquitto(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A private mosquitto on a free localhost port; EdgeOcrError if it is not installed."""
    binary = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)),
        None,
    )
    if binary is None:
        raise EdgeOcrError(
            "no MQTT broker on localhost:1883 and no mosquitto binary to start one: "
            "install it with `sudo apt-get install -y mosquitto`, or pass --host"
        )
    port = _free_port()
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while not _reachable("127.0.0.1", port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise EdgeOcrError(f"mosquitto did not start on port {port}")
        time.sleep(0.05)
    return proc, port


def _config(folder: Path, inbox: Path, model: Path, host: str, port: int, device: str) -> Path:
    text = f"""\
device_id: {device}
log_level: WARNING
model:
  path: {json.dumps(str(model))}
source:
  type: folder
  folder:
    path: {json.dumps(str(inbox))}
    settle_seconds: 0.2
    poll_seconds: 0.1
mqtt:
  host: {json.dumps(host)}
  port: {port}
  homeassistant_discovery: false
outbox:
  path: {json.dumps(str(folder / "outbox.sqlite3"))}
shutdown:
  drain_seconds: 5
"""
    path = folder / "edge-ocr.yaml"
    path.write_text(text)
    return path


def run(
    *,
    out: Callable[[str], None],
    host: str | None,
    port: int,
    model: Path | None,
    keep: bool,
    timeout: float,
) -> int:
    """Run the demo; 0 when every sample came back over MQTT."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    from edge_ocr.recognizer import default_model_path

    model = model or default_model_path()
    if not model.is_file():
        raise ModelError(f"model not found: {model} (pass --model PATH)")
    folder = Path(tempfile.mkdtemp(prefix="edge-ocr-demo-"))
    inbox = folder / "inbox"
    inbox.mkdir()
    broker: subprocess.Popen[bytes] | None = None
    daemon: subprocess.Popen[bytes] | None = None
    client: paho.Client | None = None
    try:
        if host is None:
            if _reachable("localhost", port):
                host = "localhost"
                out(f"using the MQTT broker on localhost:{port}")
            else:
                broker, port = start_mosquitto(folder)
                host = "127.0.0.1"
                out(f"started mosquitto on {host}:{port}")
        device = f"demo-{os.getpid()}"
        topic = f"edge-ocr/{device}/event"
        arrived: list[dict[str, object]] = []
        got = threading.Condition()

        def on_message(client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
            with got:
                arrived.append(json.loads(msg.payload))
                got.notify_all()

        subscribed = threading.Event()
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"{device}-viewer")
        client.on_message = on_message
        client.on_subscribe = lambda *a: subscribed.set()
        client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        client.connect(host, port)
        client.loop_start()
        if not subscribed.wait(10):
            raise EdgeOcrError(f"cannot subscribe to {topic} on {host}:{port}")
        config_file = _config(folder, inbox, model, host, port, device)
        out(f"watching {inbox}; readings are published to {topic}")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "edge_ocr", "run", "--config", str(config_file)]
        )
        for i, text in enumerate(SAMPLES):
            name = f"label-{i + 1}.png"
            ok, png = cv2.imencode(".png", render_label(text))
            part = inbox / (name + ".part")  # written under a temporary name, then renamed
            part.write_bytes(png.tobytes())
            part.rename(inbox / name)
            out(f"dropped {name} (drawn text: {text!r})")
        deadline = time.monotonic() + timeout
        shown = 0
        while shown < len(SAMPLES) and time.monotonic() < deadline:
            if daemon.poll() is not None:
                raise EdgeOcrError(f"the daemon exited with status {daemon.returncode}")
            with got:
                got.wait(0.2)
                new = arrived[shown:]
            for body in new:
                shown += 1
                name = Path(str(body.get("path", "?"))).name
                i = int(name.split("-")[1].split(".")[0]) - 1 if name.startswith("label-") else 0
                mark = "ok " if body.get("text") == SAMPLES[i] else "   "
                out(
                    f"{mark} {name}: {body.get('text')!r} (confidence "
                    f"{float(str(body.get('confidence', 0))):.2f}) at {body.get('recognized_at')}"
                )
        correct = sum(
            1
            for b in arrived
            if b.get("text") in SAMPLES
            and Path(str(b.get("path"))).name
            == f"label-{SAMPLES.index(str(b.get('text'))) + 1}.png"
        )
        out(f"{len(arrived)}/{len(SAMPLES)} readings arrived, {correct} read exactly")
        return 0 if len(arrived) >= len(SAMPLES) else 1
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(20)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        if client is not None:
            client.loop_stop()
            client.disconnect()
        if broker is not None:
            broker.terminate()
            broker.wait(10)
        if keep:
            out(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
