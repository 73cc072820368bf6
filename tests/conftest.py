"""Shared test fixtures: a private mosquitto per test, an MQTT collector, a thread-leak guard.

The daemon's fixtures live in conftest_daemon.py and are loaded from here.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

pytest_plugins = ["conftest_daemon"]

MOSQUITTO_BIN = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


# --- threads --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fail_on_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a thread of its own running (after a short grace period)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2.0
    leaked: list[threading.Thread] = []
    while time.monotonic() < deadline:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leaked:
            return
        time.sleep(0.02)
    pytest.fail(f"test leaked threads: {[t.name for t in leaked]}")


# --- mosquitto ------------------------------------------------------------------------------


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"mosquitto does not listen on port {port}")


@dataclass(frozen=True)
class TlsFiles:
    """A throw-away CA and a server certificate for 127.0.0.1 / localhost, made by openssl."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    other_ca_cert: Path  # a CA that did not sign the server certificate


class MqttBroker:
    """A private mosquitto on fixed ports, which a test can stop and start again mid-test.

    Persistence is on, in the test's folder, so a persistent subscriber session (and the QoS 1
    messages queued for it) survives a restart, as on a real broker.
    """

    def __init__(
        self,
        folder: Path,
        *,
        users: dict[str, str] | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        self.folder = folder
        self.host = "127.0.0.1"
        self.port = _free_tcp_port()
        self.tls_port = _free_tcp_port() if tls else None
        self.log_file = folder / f"mosquitto-{self.port}.log"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "persistence true",
            f"persistence_location {folder}/",
            f"persistence_file mosquitto-{self.port}.db",
            "max_queued_messages 100000",
            f"log_dest file {self.log_file}",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to a user that cannot read tmp_path
        if users:
            password_file = folder / f"mosquitto-{self.port}.passwd"
            for n, (user, password) in enumerate(users.items()):
                create = ["-c"] if n == 0 else []
                subprocess.run(
                    ["mosquitto_passwd", "-b", *create, str(password_file), user, password],
                    check=True,
                    capture_output=True,
                )
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        else:
            lines.append("allow_anonymous true")
        if tls:
            lines += [
                f"listener {self.tls_port} 127.0.0.1",
                f"cafile {tls.ca_cert}",
                f"certfile {tls.server_cert}",
                f"keyfile {tls.server_key}",
            ]
        self.conf = folder / f"mosquitto-{self.port}.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start (or start again) on the same ports; returns once it accepts connections."""
        assert self.proc is None, "broker already running"
        self.proc = subprocess.Popen(
            [MOSQUITTO_BIN, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_listening(self.port, self.proc)
        if self.tls_port:
            _wait_listening(self.tls_port, self.proc)

    def stop(self, *, kill: bool = False) -> None:
        """Stop it: SIGTERM (saves sessions) or, with `kill`, SIGKILL."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def mqtt_broker_factory(tmp_path: Path) -> Iterator[Callable[..., MqttBroker]]:
    """Make and start brokers (options: users={name: password}, tls=TlsFiles); stopped after."""
    if not Path(MOSQUITTO_BIN).exists():
        pytest.skip("mosquitto is not installed")
    brokers: list[MqttBroker] = []

    def make(**options: Any) -> MqttBroker:
        folder = tmp_path / f"broker{len(brokers)}"
        folder.mkdir()
        broker = MqttBroker(folder, **options)
        brokers.append(broker)
        broker.start()
        return broker

    yield make
    for broker in brokers:
        broker.stop()


@pytest.fixture
def mqtt_broker(mqtt_broker_factory: Callable[..., MqttBroker]) -> MqttBroker:
    """A running mosquitto of this test's own, anonymous access."""
    return mqtt_broker_factory()


@pytest.fixture(scope="session")
def mqtt_tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA and a server certificate made at test time (EC keys: fast)."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("tls")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for name in ("ca", "other-ca"):
        openssl("req", "-x509", *ec, "-keyout", f"{name}.key", "-out", f"{name}.crt",
                "-subj", f"/CN=edge-ocr test {name}", "-days", "2")  # fmt: skip
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    sign = ["-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2"]
    openssl("x509", "-req", "-in", "server.csr", *sign, "-out", "server.crt", "-extfile", "san.cnf")
    return TlsFiles(d / "ca.crt", d / "server.crt", d / "server.key", d / "other-ca.crt")


# --- collecting messages --------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool


class MqttCollector:
    """Collects every message on some topic filters, in arrival order, with paho.

    The session is persistent (clean_session=False, QoS 1), so messages published while the
    collector is reconnecting after a broker restart are queued by the broker, not lost.
    """

    def __init__(
        self,
        broker: MqttBroker,
        topics: list[str],
        *,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.messages: list[Received] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"collector-{broker.port}-{id(self):x}",
            clean_session=False,
        )
        if username is not None:
            self._client.username_pw_set(username, password)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(0.05, 0.2)
        self._topics = topics
        self._client.connect(broker.host, broker.port, keepalive=5)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            self.close()
            raise TimeoutError("collector's subscription was not acknowledged")

    def _on_connect(self, client: paho.Client, *args: Any) -> None:
        client.subscribe([(t, 1) for t in self._topics])

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    def on(self, topic: str) -> list[Received]:
        """The messages received so far on one topic."""
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(
        self, condition: Callable[[list[Received]], bool], timeout: float = 10.0
    ) -> list[Received]:
        """Wait until `condition(messages)` holds; returns the messages; fails on timeout."""
        with self._cond:
            if not self._cond.wait_for(lambda: condition(self.messages), timeout):
                pytest.fail(f"timed out after {timeout} s; received {self.messages[-20:]}")
            return list(self.messages)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def mqtt_collector() -> Iterator[Callable[..., MqttCollector]]:
    """Make collectors: `mqtt_collector(broker, ["topic/#"])`; closed after the test."""
    made: list[MqttCollector] = []

    def make(broker: MqttBroker, topics: list[str], **options: Any) -> MqttCollector:
        collector = MqttCollector(broker, topics, **options)
        made.append(collector)
        return collector

    yield make
    for collector in made:
        collector.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """With EDGE_OCR_TESTS_STRICT=1 (scripts/run-tests.sh) a skipped test fails: in CI a skip
    means something the suite needs (broker, model, fonts) was not installed."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("EDGE_OCR_TESTS_STRICT") == "1" and report.skipped:
        if not hasattr(report, "wasxfail"):
            report.outcome = "failed"
            report.longrepr = f"skipped in strict mode: {report.longrepr}"
