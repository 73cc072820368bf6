"""Tests for edge_ocr.mqtt with a real mosquitto: order, outages, availability, discovery, auth."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.publish as mqtt_publish
import pytest
from conftest import MqttBroker, MqttCollector, Received, TlsFiles

from edge_ocr.errors import ConfigError
from edge_ocr.mqtt import MqttSettings, Publisher, Topics, encode_payload
from edge_ocr.outbox import Outbox

REPO = Path(__file__).resolve().parent.parent
DEVICE = "dev1"
EVENT = f"edge-ocr/{DEVICE}/event"
AVAILABILITY = f"edge-ocr/{DEVICE}/availability"

Collect = Callable[..., MqttCollector]


def fast_settings(broker: MqttBroker, **overrides: Any) -> MqttSettings:
    """Settings with short keepalive and reconnect delays, so outages heal in a fraction of a s."""
    base = MqttSettings(
        host=broker.host,
        port=broker.port,
        device_id=DEVICE,
        keepalive=2,
        reconnect_min_delay=0.05,
        reconnect_max_delay=0.3,
        connect_timeout=2.0,
    )
    return replace(base, **overrides)


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.sqlite3")
    yield box
    box.close()


@pytest.fixture
def make_publisher() -> Iterator[Callable[..., Publisher]]:
    """Started publishers, stopped after the test."""
    made: list[Publisher] = []

    def make(settings: MqttSettings, outbox: Outbox, **kwargs: Any) -> Publisher:
        publisher = Publisher(settings, outbox, **kwargs)
        made.append(publisher)
        publisher.start()
        return publisher

    yield make
    for publisher in made:
        publisher.stop(timeout=1.0)


def numbers(messages: list[Received], topic: str = EVENT) -> list[int]:
    return [json.loads(m.payload)["n"] for m in messages if m.topic == topic]


def first_occurrences(values: list[int]) -> list[int]:
    seen: set[int] = set()
    return [v for v in values if not (v in seen or seen.add(v))]  # type: ignore[func-returns-value]


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or condition}")
        time.sleep(0.02)


# --- settings and payloads ------------------------------------------------------------------


def test_settings_repr_hides_password() -> None:
    """repr of the settings never shows the password."""
    settings = MqttSettings(username="edge", password="hunter2-secret")
    assert "hunter2-secret" not in repr(settings)
    assert "password='***'" in repr(settings)


def test_settings_problems_name_each_bad_field() -> None:
    """problems() lists every invalid value under its field name."""
    settings = MqttSettings(port=0, qos=2, device_id="a/b", topic_prefix="x/#", password="p")
    fields = {p.split(":")[0] for p in settings.problems()}
    assert fields == {"port", "qos", "device_id", "topic_prefix", "password"}
    assert MqttSettings().problems() == []


def test_publisher_refuses_invalid_settings(outbox: Outbox) -> None:
    """A Publisher with invalid settings raises ConfigError before starting anything."""
    with pytest.raises(ConfigError, match="qos"):
        Publisher(MqttSettings(qos=5), outbox)


def test_payload_gets_schema_and_plain_json_types() -> None:
    """encode_payload adds `schema`, turns numpy values into JSON numbers and NaN into null."""
    body = json.loads(encode_payload({"text": "A1", "confidence": np.float32(0.5), "x": math.nan}))
    assert body == {"text": "A1", "confidence": 0.5, "x": None, "schema": 1}
    assert json.loads(encode_payload({"schema": 7}))["schema"] == 7


def test_bad_field_name_is_rejected(outbox: Outbox) -> None:
    """A field name that is not one safe topic level raises ValueError and queues nothing."""
    publisher = Publisher(MqttSettings(), outbox)
    with pytest.raises(ValueError):
        publisher.publish_reading("a/+", {"text": "x"})
    assert len(outbox) == 0
    publisher.stop()


# --- delivery -------------------------------------------------------------------------------


def test_delivers_readings_in_order(
    mqtt_broker: MqttBroker, mqtt_collector: Collect, outbox: Outbox, make_publisher: Any
) -> None:
    """Readings arrive on the event topic in the order they were published, and leave the outbox."""
    collector = mqtt_collector(mqtt_broker, [EVENT])
    publisher = make_publisher(fast_settings(mqtt_broker, max_inflight=5), outbox)
    for n in range(100):
        publisher.publish_reading("serial", {"n": n}, retain_state=False)
    messages = collector.wait_for(lambda ms: len(ms) >= 100)
    assert numbers(messages) == list(range(100))
    assert publisher.wait_idle(5)
    assert publisher.stats()["published"] == 100


def test_reading_goes_to_event_and_retained_state(
    mqtt_broker: MqttBroker, mqtt_collector: Collect, outbox: Outbox, make_publisher: Any
) -> None:
    """A reading is an event and the field's retained state, with `schema` and `field` added."""
    publisher = make_publisher(fast_settings(mqtt_broker), outbox)
    publisher.publish_reading("serial", {"text": "SN-1", "confidence": 0.9})
    publisher.publish_reading("serial", {"text": "SN-2", "confidence": 0.8})
    assert publisher.wait_idle(5)
    state_topic = f"edge-ocr/{DEVICE}/field/serial/state"
    late = mqtt_collector(mqtt_broker, [state_topic])  # subscribes afterwards: retained only
    (state,) = late.wait_for(lambda ms: len(ms) >= 1)
    assert state.retain
    assert json.loads(state.payload) == {
        "text": "SN-2",
        "confidence": 0.8,
        "field": "serial",
        "schema": 1,
    }


def test_qos0_messages_leave_the_outbox_once_sent(
    mqtt_broker: MqttBroker, mqtt_collector: Collect, outbox: Outbox, make_publisher: Any
) -> None:
    """With qos 0 a message is acknowledged once written, and still arrives in order."""
    collector = mqtt_collector(mqtt_broker, [EVENT])
    publisher = make_publisher(fast_settings(mqtt_broker, qos=0), outbox)
    for n in range(20):
        publisher.publish_reading("serial", {"n": n}, retain_state=False)
    assert numbers(collector.wait_for(lambda ms: len(ms) >= 20)) == list(range(20))
    assert publisher.wait_idle(5)


def test_broker_restart_mid_stream_loses_nothing(
    mqtt_broker: MqttBroker, mqtt_collector: Collect, outbox: Outbox, make_publisher: Any
) -> None:
    """A broker restarted mid-stream: every reading arrives, first deliveries in order."""
    collector = mqtt_collector(mqtt_broker, [EVENT])
    publisher = make_publisher(fast_settings(mqtt_broker), outbox)
    total = 300

    def produce() -> None:
        for n in range(total):
            publisher.publish_reading("serial", {"n": n}, retain_state=False)
            time.sleep(0.002)

    producer = threading.Thread(target=produce, name="test-producer")
    producer.start()
    try:
        collector.wait_for(lambda ms: len(ms) >= 50)
        mqtt_broker.stop()
        time.sleep(0.3)
        assert len(outbox) > 0  # readings keep queueing on disk during the outage
        mqtt_broker.start()
    finally:
        producer.join()
    messages = collector.wait_for(lambda ms: len(set(numbers(ms))) >= total, timeout=30)
    assert first_occurrences(numbers(messages)) == list(range(total))
    assert publisher.wait_idle(10)
    assert publisher.stats()["reconnects"] >= 1


def test_backlog_from_an_outage_is_delivered_on_connect(
    mqtt_broker: MqttBroker, mqtt_collector: Collect, outbox: Outbox, make_publisher: Any
) -> None:
    """Readings published while the broker is down wait on disk and arrive in order later."""
    collector = mqtt_collector(mqtt_broker, [EVENT])
    mqtt_broker.stop()
    publisher = make_publisher(fast_settings(mqtt_broker, max_inflight=3), outbox)
    for n in range(40):
        publisher.publish_reading("serial", {"n": n}, retain_state=False)
    time.sleep(0.2)
    assert not publisher.connected
    assert not publisher.wait_idle(0.1)
    assert publisher.stats()["pending"] == 40
    mqtt_broker.start()
    most_inflight = 0
    while len(outbox):  # sampled: paho is never handed more than max_inflight at a time
        most_inflight = max(most_inflight, publisher.stats()["inflight"])
        time.sleep(0.001)
    assert most_inflight <= 3
    messages = collector.wait_for(lambda ms: len(set(numbers(ms))) >= 40, timeout=15)
    assert first_occurrences(numbers(messages)) == list(range(40))


def test_unpublishable_message_does_not_block_the_rest(
    mqtt_broker: MqttBroker, mqtt_collector: Collect, outbox: Outbox, make_publisher: Any
) -> None:
    """A message paho can never publish (wildcard topic) is removed, counted and skipped."""
    collector = mqtt_collector(mqtt_broker, [EVENT])
    outbox.put("bad/+/topic", b"{}")
    publisher = make_publisher(fast_settings(mqtt_broker), outbox)
    publisher.publish_reading("serial", {"n": 1}, retain_state=False)
    assert numbers(collector.wait_for(lambda ms: len(ms) >= 1)) == [1]
    assert publisher.wait_idle(5)
    assert publisher.stats()["rejected"] == 1


_CHILD_PUBLISHER = """
import sys, time
from edge_ocr.mqtt import MqttSettings, Publisher
from edge_ocr.outbox import Outbox
port, path, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
settings = MqttSettings(host="127.0.0.1", port=port, device_id="dev1", keepalive=2,
                        reconnect_min_delay=0.05, reconnect_max_delay=0.2, connect_timeout=2)
publisher = Publisher(settings, Outbox(path))
publisher.start()
for n in range(count):
    publisher.publish_reading("serial", {"n": n}, retain_state=False)
print("queued", flush=True)
while not publisher.connected:
    time.sleep(0.01)
print("connected", flush=True)
n = count
while count == 0 and len(sys.argv) > 4:  # "stream": publish until killed, report each
    publisher.publish_reading("serial", {"n": n}, retain_state=False)
    print(n, flush=True)  # only after publish_reading returned
    n += 1
    time.sleep(0.002)
time.sleep(60)
"""


def run_child_publisher(
    port: int, outbox_path: Path, count: int, *, stream: bool = False
) -> subprocess.Popen[str]:
    args = [str(port), str(outbox_path), str(count)] + (["stream"] if stream else [])
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD_PUBLISHER, *args],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        text=True,
    )
    return child


def kill(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    assert child.stdout is not None
    child.stdout.close()


def test_last_will_offline_when_process_is_killed(
    mqtt_broker: MqttBroker, mqtt_collector: Collect, tmp_path: Path
) -> None:
    """Availability is "online" while connected and "offline" (last will) after kill -9."""
    collector = mqtt_collector(mqtt_broker, [AVAILABILITY])
    child = run_child_publisher(mqtt_broker.port, tmp_path / "outbox.sqlite3", 0)
    try:
        collector.wait_for(lambda ms: any(m.payload == b"online" for m in ms))
    finally:
        kill(child)
    messages = collector.wait_for(lambda ms: ms[-1].payload == b"offline")
    assert [m.payload for m in messages] == [b"online", b"offline"]
    late = mqtt_collector(mqtt_broker, [AVAILABILITY])
    (retained,) = late.wait_for(lambda ms: len(ms) >= 1)
    assert (retained.payload, retained.retain) == (b"offline", True)


def test_readings_of_a_killed_process_are_sent_by_the_next(
    mqtt_broker: MqttBroker,
    mqtt_collector: Collect,
    tmp_path: Path,
    make_publisher: Any,
) -> None:
    """Readings queued by a process killed -9 before delivery are sent after a restart."""
    collector = mqtt_collector(mqtt_broker, [EVENT])
    mqtt_broker.stop()
    path = tmp_path / "outbox.sqlite3"
    child = run_child_publisher(mqtt_broker.port, path, 30)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "queued"
    finally:
        kill(child)
    mqtt_broker.start()
    with Outbox(path) as box:
        assert len(box) == 30
        publisher = make_publisher(fast_settings(mqtt_broker), box)
        messages = collector.wait_for(lambda ms: len(set(numbers(ms))) >= 30)
        assert first_occurrences(numbers(messages)) == list(range(30))
        publisher.stop()


def test_kill_mid_stream_then_restart_delivers_everything_in_order(
    mqtt_broker: MqttBroker,
    mqtt_collector: Collect,
    tmp_path: Path,
    make_publisher: Any,
) -> None:
    """kill -9 while readings are in flight: after a restart every queued one arrives in order."""
    collector = mqtt_collector(mqtt_broker, [EVENT])
    path = tmp_path / "outbox.sqlite3"
    child = run_child_publisher(mqtt_broker.port, path, 0, stream=True)
    assert child.stdout is not None
    reported: list[int] = []
    try:
        assert child.stdout.readline().strip() == "queued"
        assert child.stdout.readline().strip() == "connected"
        for line in child.stdout:
            reported.append(int(line))
            if len(reported) == 150:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    reported += [int(line) for line in child.stdout if line.strip().isdigit()]
    child.stdout.close()
    with Outbox(path) as box:
        publisher = make_publisher(fast_settings(mqtt_broker), box)
        messages = collector.wait_for(lambda ms: set(reported) <= set(numbers(ms)))
        assert publisher.wait_idle(5)
        publisher.stop()
    delivered = first_occurrences(numbers(messages))
    assert delivered == list(range(len(delivered)))  # nothing skipped, nothing reordered
    assert len(delivered) - len(reported) <= 1  # at most the put in progress at the kill


def test_availability_online_then_offline_on_stop(
    mqtt_broker: MqttBroker, mqtt_collector: Collect, outbox: Outbox
) -> None:
    """Availability goes "online" on connect and "offline", retained, on a clean stop."""
    collector = mqtt_collector(mqtt_broker, [AVAILABILITY])
    publisher = Publisher(fast_settings(mqtt_broker), outbox)
    publisher.start()
    collector.wait_for(lambda ms: len(ms) >= 1)
    publisher.stop()
    messages = collector.wait_for(lambda ms: len(ms) >= 2)
    assert [m.payload for m in messages] == [b"online", b"offline"]
    late = mqtt_collector(mqtt_broker, [AVAILABILITY])
    assert late.wait_for(lambda ms: len(ms) >= 1)[0].payload == b"offline"


def test_stop_drains_the_outbox_first(
    mqtt_broker: MqttBroker, mqtt_collector: Collect, outbox: Outbox
) -> None:
    """stop() delivers what is queued before "offline" and disconnecting."""
    collector = mqtt_collector(mqtt_broker, [EVENT, AVAILABILITY])
    publisher = Publisher(fast_settings(mqtt_broker), outbox)
    publisher.start()
    for n in range(50):
        publisher.publish_reading("serial", {"n": n}, retain_state=False)
    publisher.stop(timeout=5)
    assert len(outbox) == 0
    messages = collector.wait_for(lambda ms: ms[-1].payload == b"offline")
    assert numbers(messages) == list(range(50))


def test_stop_without_broker_is_prompt_and_keeps_messages(
    mqtt_broker: MqttBroker, outbox: Outbox
) -> None:
    """stop() while the broker is away returns at once; queued readings stay on disk."""
    mqtt_broker.stop()
    publisher = Publisher(fast_settings(mqtt_broker, reconnect_max_delay=5), outbox)
    publisher.start()
    publisher.publish_reading("serial", {"n": 1})
    time.sleep(0.2)
    started = time.monotonic()
    publisher.stop(timeout=2)
    assert time.monotonic() - started < 1.0
    assert len(outbox) == 2


# --- Home Assistant discovery ---------------------------------------------------------------


def test_discovery_config_is_retained_with_expected_fields(
    mqtt_broker: MqttBroker, mqtt_collector: Collect, outbox: Outbox, make_publisher: Any
) -> None:
    """announce_fields publishes one retained sensor config per field for Home Assistant."""
    publisher = make_publisher(
        fast_settings(mqtt_broker), outbox, model_version="crnn-7", software_version="0.1.0"
    )
    publisher.announce_fields(["serial", "batch"])
    assert publisher.wait_idle(5)
    collector = mqtt_collector(mqtt_broker, ["homeassistant/#"])
    messages = collector.wait_for(lambda ms: len(ms) >= 2)
    configs = {m.topic: json.loads(m.payload) for m in messages}
    assert all(m.retain for m in messages)
    assert set(configs) == {
        f"homeassistant/sensor/{DEVICE}/serial/config",
        f"homeassistant/sensor/{DEVICE}/batch/config",
    }
    config = configs[f"homeassistant/sensor/{DEVICE}/serial/config"]
    assert config["unique_id"] == f"edge-ocr_{DEVICE}_serial"
    assert config["state_topic"] == f"edge-ocr/{DEVICE}/field/serial/state"
    assert config["json_attributes_topic"] == config["state_topic"]
    assert config["value_template"] == "{{ value_json.text }}"
    assert config["availability_topic"] == AVAILABILITY
    assert config["device"]["identifiers"] == [f"edge-ocr_{DEVICE}"]
    assert "crnn-7" in config["device"]["model"]
    assert config["device"]["sw_version"] == "0.1.0"


def test_dropped_field_is_removed_after_restart(
    mqtt_broker: MqttBroker, mqtt_collector: Collect, outbox: Outbox
) -> None:
    """A field dropped from the config loses its discovery config and retained state."""
    settings = fast_settings(mqtt_broker)
    first = Publisher(settings, outbox)
    first.start()
    first.announce_fields(["serial", "batch"])
    first.publish_reading("batch", {"text": "B7"})
    first.stop()
    second = Publisher(settings, outbox)  # the daemon restarted with one field less
    second.start()
    second.announce_fields(["serial"])
    assert second.wait_idle(5)
    second.stop()
    collector = mqtt_collector(mqtt_broker, ["homeassistant/#", f"edge-ocr/{DEVICE}/field/#"])
    collector.wait_for(lambda ms: len(ms) >= 1)
    time.sleep(0.2)  # retained messages come in one burst after the subscription
    topics = {m.topic for m in collector.messages}
    assert topics == {f"homeassistant/sensor/{DEVICE}/serial/config"}


SERIAL_CONFIG = f"homeassistant/sensor/{DEVICE}/serial/config"
SERIAL_STATE = f"edge-ocr/{DEVICE}/field/serial/state"


def announced_then_cleared(
    broker: MqttBroker, mqtt_collector: Collect, outbox: Outbox, make_publisher: Any
) -> tuple[Publisher, MqttCollector, dict[str, bytes]]:
    """A publisher that announced "serial" and delivered one reading of it, whose retained
    config and state a test client then removed (as a broker restarted without persistence
    would have lost them). Returns the publisher, a collector of both topics, and what each
    topic held."""
    collector = mqtt_collector(broker, [SERIAL_CONFIG, SERIAL_STATE])
    publisher = make_publisher(fast_settings(broker), outbox)
    publisher.announce_fields(["serial"])
    publisher.publish_reading("serial", {"text": "SN-7"})
    collector.wait_for(lambda ms: {m.topic for m in ms} == {SERIAL_CONFIG, SERIAL_STATE})
    assert publisher.wait_idle(5)
    held = {m.topic: m.payload for m in collector.messages}
    assert json.loads(held[SERIAL_STATE])["text"] == "SN-7"
    for topic in held:
        mqtt_publish.single(topic, b"", qos=1, retain=True, hostname=broker.host, port=broker.port)
    collector.wait_for(lambda ms: [m.payload for m in ms[-2:]] == [b"", b""])
    return publisher, collector, held


def wait_restored(collector: MqttCollector, held: dict[str, bytes]) -> None:
    def restored(ms: list[Received]) -> bool:
        last = {m.topic: m.payload for m in ms}
        return all(last.get(topic) == payload for topic, payload in held.items())

    collector.wait_for(restored)


def assert_retained(broker: MqttBroker, mqtt_collector: Collect, held: dict[str, bytes]) -> None:
    late = mqtt_collector(broker, list(held))  # subscribes afterwards: retained only
    messages = late.wait_for(lambda ms: len(ms) >= len(held))
    assert all(m.retain for m in messages)
    assert {m.topic: m.payload for m in messages} == held


def test_discovery_and_state_are_published_again_on_reconnect(
    mqtt_broker: MqttBroker, mqtt_collector: Collect, outbox: Outbox, make_publisher: Any
) -> None:
    """After reconnecting to a broker that lost its retained messages, the sensor configs and
    the fields' last values are retained again, without a restart or a new reading."""
    publisher, collector, held = announced_then_cleared(
        mqtt_broker, mqtt_collector, outbox, make_publisher
    )
    mqtt_broker.restart()
    wait_restored(collector, held)
    assert publisher.stats()["reconnects"] >= 1
    assert_retained(mqtt_broker, mqtt_collector, held)


def test_discovery_and_state_are_published_again_when_home_assistant_comes_online(
    mqtt_broker: MqttBroker, mqtt_collector: Collect, outbox: Outbox, make_publisher: Any
) -> None:
    """Home Assistant's birth message ("online" on homeassistant/status) brings the sensor
    configs and values back, on the same connection."""
    publisher, collector, held = announced_then_cleared(
        mqtt_broker, mqtt_collector, outbox, make_publisher
    )
    mqtt_publish.single(
        "homeassistant/status", b"online", hostname=mqtt_broker.host, port=mqtt_broker.port
    )
    wait_restored(collector, held)
    assert publisher.stats()["reconnects"] == 0
    assert_retained(mqtt_broker, mqtt_collector, held)


def test_state_is_restored_by_the_next_run_after_the_broker_lost_it(
    mqtt_broker: MqttBroker, mqtt_collector: Collect, outbox: Outbox, make_publisher: Any
) -> None:
    """The daemon restarted while the broker lost its retained messages: the next run, on the
    same outbox file, publishes each configured field's last delivered value again at once."""
    first, _, held = announced_then_cleared(mqtt_broker, mqtt_collector, outbox, make_publisher)
    first.stop()
    collector = mqtt_collector(mqtt_broker, [SERIAL_STATE])
    second = make_publisher(fast_settings(mqtt_broker), outbox)
    second.announce_fields(["serial"])
    collector.wait_for(lambda ms: any(m.payload == held[SERIAL_STATE] for m in ms))
    assert_retained(mqtt_broker, mqtt_collector, held)


def test_dropped_field_state_is_not_published_again(
    mqtt_broker: MqttBroker, mqtt_collector: Collect, outbox: Outbox, make_publisher: Any
) -> None:
    """A field dropped by a reload stays removed: its last state is not restored on reconnect."""
    publisher, collector, held = announced_then_cleared(
        mqtt_broker, mqtt_collector, outbox, make_publisher
    )
    publisher.announce_fields(["batch"])
    assert publisher.wait_idle(5)
    mqtt_broker.restart()
    wait_until(lambda: publisher.stats()["reconnects"] >= 1 and publisher.connected)
    assert publisher.wait_idle(5)
    time.sleep(0.3)  # anything published again would have come by now
    assert [m.payload for m in collector.messages if m.topic == SERIAL_STATE][-1] == b""


def test_disabled_discovery_publishes_no_config(
    mqtt_broker: MqttBroker, mqtt_collector: Collect, outbox: Outbox, make_publisher: Any
) -> None:
    """With homeassistant_discovery off, announce_fields publishes no discovery config."""
    collector = mqtt_collector(mqtt_broker, ["homeassistant/#", AVAILABILITY])
    publisher = make_publisher(fast_settings(mqtt_broker, homeassistant_discovery=False), outbox)
    publisher.announce_fields(["serial"])
    assert publisher.wait_idle(5)
    collector.wait_for(lambda ms: len(ms) >= 1)
    assert [m.topic for m in collector.messages] == [AVAILABILITY]


# --- credentials and TLS --------------------------------------------------------------------


def test_password_auth_delivers(
    mqtt_broker_factory: Callable[..., MqttBroker],
    mqtt_collector: Collect,
    outbox: Outbox,
    make_publisher: Any,
) -> None:
    """With the right username and password the publisher connects and delivers."""
    broker = mqtt_broker_factory(users={"edge": "right-pw", "reader": "reader-pw"})
    collector = mqtt_collector(broker, [EVENT], username="reader", password="reader-pw")
    settings = fast_settings(broker, username="edge", password="right-pw")
    publisher = make_publisher(settings, outbox)
    publisher.publish_reading("serial", {"n": 1}, retain_state=False)
    assert numbers(collector.wait_for(lambda ms: len(ms) >= 1)) == [1]


def test_wrong_password_is_logged_and_retried(
    mqtt_broker_factory: Callable[..., MqttBroker],
    outbox: Outbox,
    make_publisher: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A refused password is logged as an error and retried, without crashing or leaking it."""
    caplog.set_level(logging.DEBUG)
    broker = mqtt_broker_factory(users={"edge": "right-pw"})
    settings = fast_settings(broker, username="edge", password="wrong-pw-3f9a")
    publisher = make_publisher(settings, outbox)
    publisher.publish_reading("serial", {"n": 1})
    wait_until(lambda: publisher.stats()["connect_failures"] >= 3, what="three refusals")
    assert not publisher.connected
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert refusals and refusals[0].levelno == logging.ERROR
    assert "wrong-pw-3f9a" not in caplog.text
    assert "wrong-pw-3f9a" not in repr(publisher.stats())
    assert len(outbox) == 2  # nothing lost while refused


def test_tls_with_test_ca_delivers(
    mqtt_broker_factory: Callable[..., MqttBroker],
    mqtt_tls_files: TlsFiles,
    mqtt_collector: Collect,
    outbox: Outbox,
    make_publisher: Any,
) -> None:
    """Over TLS, verifying the broker against the configured CA, readings are delivered."""
    broker = mqtt_broker_factory(tls=mqtt_tls_files)
    collector = mqtt_collector(broker, [EVENT])
    assert broker.tls_port is not None
    settings = fast_settings(
        broker, port=broker.tls_port, tls=True, ca_file=str(mqtt_tls_files.ca_cert)
    )
    publisher = make_publisher(settings, outbox)
    publisher.publish_reading("serial", {"n": 5}, retain_state=False)
    assert numbers(collector.wait_for(lambda ms: len(ms) >= 1)) == [5]


def test_tls_with_wrong_ca_is_refused_and_retried(
    mqtt_broker_factory: Callable[..., MqttBroker],
    mqtt_tls_files: TlsFiles,
    outbox: Outbox,
    make_publisher: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A broker certificate not signed by the configured CA is rejected, logged, retried."""
    broker = mqtt_broker_factory(tls=mqtt_tls_files)
    assert broker.tls_port is not None
    settings = fast_settings(
        broker, port=broker.tls_port, tls=True, ca_file=str(mqtt_tls_files.other_ca_cert)
    )
    publisher = make_publisher(settings, outbox)
    wait_until(lambda: publisher.stats()["connect_failures"] >= 2, what="two rejections")
    assert not publisher.connected
    assert any(
        "certificate" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records
    )


def test_unreadable_ca_file_is_a_config_error(outbox: Outbox, tmp_path: Path) -> None:
    """A CA file that cannot be loaded stops the Publisher at construction with ConfigError."""
    settings = MqttSettings(tls=True, ca_file=str(tmp_path / "missing.crt"))
    with pytest.raises(ConfigError, match="missing.crt"):
        Publisher(settings, outbox)


def test_topics_follow_prefix_and_device() -> None:
    """Topic names are built from topic_prefix, device_id and discovery_prefix."""
    topics = Topics(MqttSettings(topic_prefix="site/a", device_id="cam2", discovery_prefix="ha"))
    assert topics.availability == "site/a/cam2/availability"
    assert topics.event == "site/a/cam2/event"
    assert topics.state("serial") == "site/a/cam2/field/serial/state"
    assert topics.discovery("serial") == "ha/sensor/cam2/serial/config"


def test_hung_broker_is_detected_by_keepalive(
    mqtt_broker: MqttBroker, mqtt_collector: Collect, outbox: Outbox, make_publisher: Any
) -> None:
    """A broker that stops answering (SIGSTOP) is dropped after keepalive; delivery resumes."""
    collector = mqtt_collector(mqtt_broker, [EVENT])
    publisher = make_publisher(fast_settings(mqtt_broker, keepalive=1), outbox)
    wait_until(lambda: publisher.connected, what="connected")
    assert mqtt_broker.proc is not None
    mqtt_broker.proc.send_signal(signal.SIGSTOP)
    try:
        publisher.publish_reading("serial", {"n": 0}, retain_state=False)
        wait_until(lambda: not publisher.connected, timeout=10, what="hang detected")
    finally:
        mqtt_broker.proc.send_signal(signal.SIGCONT)
    publisher.publish_reading("serial", {"n": 1}, retain_state=False)
    messages = collector.wait_for(lambda ms: {0, 1} <= set(numbers(ms)), timeout=15)
    assert first_occurrences(numbers(messages)) == [0, 1]
