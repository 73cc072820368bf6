"""Delivers the outbox to an MQTT broker in order, with availability and Home Assistant discovery.

Topics (``<prefix>`` = ``topic_prefix``, ``<device>`` = ``device_id``)::

    <prefix>/<device>/availability           "online" / "offline", retained, QoS 1 (last will)
    <prefix>/<device>/event                  every reading, JSON, not retained
    <prefix>/<device>/field/<field>/state    latest reading of a field, same JSON, retained
    <discovery_prefix>/sensor/<device>/<field>/config   Home Assistant discovery, retained
    <discovery_prefix>/status                (subscribed) Home Assistant's "online" birth message

Discovery and retained state. `announce_fields` queues the configs in the outbox like any
message; the worker also publishes the last announced configs, and the last state it delivered
of each field, again on every (re)connect and whenever Home Assistant says "online". A broker
that lost its retained messages (restarted without persistence) or a restarted Home Assistant
gets the sensors and their values back without a restart of the daemon or a new reading. The
last delivered states are kept in the outbox file too, written in the same transaction as the
acks that delivered them, so after a restart of the daemon `announce_fields` restores those of
fields still configured.

Delivery. Callers only write to the `Outbox` (committed to disk) and return; one worker thread
owns the paho client and feeds it from the outbox while connected, at most ``max_inflight``
unacknowledged messages at a time, so paho's memory never holds more than that during an
outage. A message leaves the outbox only when the broker acknowledged it (PUBACK for QoS 1; for
QoS 0, once written to the socket). After a reconnect, or a restart of the process, delivery
starts again from the oldest unacknowledged message: at-least-once, in order; a message may be
delivered twice, never skipped or reordered among first deliveries.

Session. MQTT 3.1.1 with ``clean_session=True`` and a fixed client id (``client_id``, default
``device_id``). The outbox is the session: a broker-side session would only make paho resend
its own copies on reconnect, next to ours. The fixed id makes a restarted device take over its
old half-open connection at once, so the old connection's last will ("offline") is published
before the new "online" instead of minutes after it.

Each connection is a fresh paho client run from our own select() loop (paho's external-loop
API), so no paho state survives a disconnect and no paho thread is started.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion

from edge_ocr.errors import ConfigError, OutboxError
from edge_ocr.outbox import Outbox, Outgoing

log = logging.getLogger(__name__)
_paho_log = logging.getLogger(f"{__name__}.paho")

#: Version of the reading payload layout; added as ``"schema"`` when the daemon did not set it.
PAYLOAD_SCHEMA = 1

#: Field names and device ids are single topic levels and Home Assistant object ids.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")

ONLINE = b"online"
OFFLINE = b"offline"

_NOTE_OWNED_TOPICS = "mqtt.owned_retained_topics"
_NOTE_STATE = "mqtt.state:"  # + state topic: its last delivered payload ("" once removed)
_REPEAT_LOG_INTERVAL = 300.0  # seconds between repeats of the same connection error at WARNING
_SELECT_TIMEOUT = 0.5  # upper bound between keepalive checks


@dataclass(frozen=True)
class MqttSettings:
    """How to reach the broker and where to publish; built by the config loader."""

    host: str = "localhost"
    port: int = 1883
    client_id: str | None = None  # default: device_id
    username: str | None = None
    password: str | None = None  # never logged; hidden in repr
    tls: bool = False
    ca_file: str | None = None  # None: the system's trusted CAs
    cert_file: str | None = None  # client certificate, with key_file
    key_file: str | None = None
    tls_insecure: bool = False  # skip the host name check (the chain is still verified)
    keepalive: int = 30
    topic_prefix: str = "edge-ocr"
    device_id: str = "edge-ocr"
    qos: int = 1
    reconnect_min_delay: float = 1.0
    reconnect_max_delay: float = 30.0
    homeassistant_discovery: bool = True
    discovery_prefix: str = "homeassistant"
    max_inflight: int = 20
    connect_timeout: float = 10.0  # TCP connect + TLS handshake

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "password" and value is not None:
                parts.append("password='***'")
            else:
                parts.append(f"{f.name}={value!r}")
        return f"MqttSettings({', '.join(parts)})"

    def problems(self) -> list[str]:
        """Every invalid value as ``"<field>: <problem>"``; empty when the settings are usable."""
        found = []
        if not self.host:
            found.append("host: must not be empty")
        if not 1 <= self.port <= 65535:
            found.append(f"port: must be 1..65535, got {self.port}")
        if self.client_id is not None and not self.client_id:
            found.append("client_id: must not be empty (leave it out to use device_id)")
        if self.password is not None and self.username is None:
            found.append("password: needs a username")
        if not self.tls and (self.ca_file or self.cert_file or self.key_file or self.tls_insecure):
            found.append("tls: ca_file, cert_file, key_file and tls_insecure need tls: true")
        if self.key_file and not self.cert_file:
            found.append("key_file: needs cert_file")
        if not 1 <= self.keepalive <= 65535:
            found.append(f"keepalive: must be 1..65535 seconds, got {self.keepalive}")
        for name in ("topic_prefix", "discovery_prefix"):
            problem = _topic_problem(getattr(self, name))
            if problem:
                found.append(f"{name}: {problem}")
        if not NAME_PATTERN.match(self.device_id):
            found.append(f"device_id: only letters, digits, '_' and '-', got {self.device_id!r}")
        if self.qos not in (0, 1):
            found.append(f"qos: must be 0 or 1, got {self.qos}")
        if not self.reconnect_min_delay > 0:
            found.append(f"reconnect_min_delay: must be > 0, got {self.reconnect_min_delay}")
        if not self.reconnect_max_delay >= self.reconnect_min_delay:
            found.append("reconnect_max_delay: must be >= reconnect_min_delay")
        if not 1 <= self.max_inflight <= 1000:
            found.append(f"max_inflight: must be 1..1000, got {self.max_inflight}")
        if not self.connect_timeout > 0:
            found.append(f"connect_timeout: must be > 0, got {self.connect_timeout}")
        return found


class Topics:
    """The topic layout of one device (see the module docstring)."""

    def __init__(self, settings: MqttSettings) -> None:
        self._base = f"{settings.topic_prefix}/{settings.device_id}"
        self._discovery = f"{settings.discovery_prefix}/sensor/{settings.device_id}"
        self._homeassistant_status = f"{settings.discovery_prefix}/status"

    @property
    def availability(self) -> str:
        return f"{self._base}/availability"

    @property
    def event(self) -> str:
        return f"{self._base}/event"

    def state(self, field: str) -> str:
        return f"{self._base}/field/{field}/state"

    def is_state(self, topic: str) -> bool:
        """Whether `topic` is some field's retained state topic."""
        return topic.startswith(f"{self._base}/field/") and topic.endswith("/state")

    def discovery(self, field: str) -> str:
        return f"{self._discovery}/{field}/config"

    @property
    def homeassistant_status(self) -> str:
        return self._homeassistant_status


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON with ``schema`` set; numpy scalars and datetimes are converted."""
    body = dict(payload)
    body.setdefault("schema", PAYLOAD_SCHEMA)
    return json.dumps(
        _finite(body), separators=(",", ":"), ensure_ascii=False, default=_json_default
    ).encode("utf-8")


class Publisher:
    """Connects, keeps the connection alive, and delivers the outbox in order; thread-safe;
    never blocks callers on the network."""

    def __init__(
        self,
        settings: MqttSettings,
        outbox: Outbox,
        *,
        model_version: str = "",
        software_version: str = "",
    ) -> None:
        problems = settings.problems()
        if problems:
            raise ConfigError("invalid MQTT settings: " + "; ".join(problems))
        self._settings = settings
        self._outbox = outbox
        self._topics = Topics(settings)
        self._model_version = model_version
        self._software_version = software_version
        self._client_id = settings.client_id or settings.device_id
        self._tls_context = _tls_context(settings) if settings.tls else None

        self._lock = threading.Lock()  # guards the counters read by stats()
        self._idle = threading.Condition()  # notified after every batch of acks
        self._stop_requested = threading.Event()
        self._drain_deadline = 0.0  # stop(): stop feeding, publish "offline"
        self._stop_deadline = 0.0  # stop(): disconnect even without PUBACK for "offline"
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)

        self._connected = False
        self._published = 0
        self._connects = 0
        self._connect_failures = 0
        self._rejected = 0
        self._last_error: str | None = None
        self._last_error_logged_at = -math.inf
        self._discovery_configs: dict[str, bytes] = {}  # topic -> config, as last announced
        self._states: dict[str, bytes] = {}  # state topic -> the last payload the broker acked

        # Owned by the worker thread, valid for one connection.
        self._inflight: dict[int, int] = {}  # paho mid -> outbox id
        self._inflight_states: dict[int, tuple[str, bytes]] = {}  # mid -> (state topic, payload)
        self._done_mids: list[int] = []  # filled by on_publish, drained by the worker
        self._last_sent_id = 0
        self._refused: str | None = None
        self._offline_mid: int | None = None
        self._offline_acked = False
        # Publish the configs and states again at the worker's next turn: set on connect and on
        # Home Assistant's birth message (worker), and by announce_fields (caller) when it
        # brought back states an earlier run delivered.
        self._restore = False

    # --- public API -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread; it connects in the background, with backoff."""
        if self._thread is not None or self._stop_requested.is_set():
            raise RuntimeError("a Publisher starts once; make a new one after stop()")
        self._thread = threading.Thread(
            target=self._run, name=f"mqtt-publisher-{self._client_id}", daemon=True
        )
        self._thread.start()

    def publish_reading(
        self, field: str, payload: Mapping[str, Any], *, retain_state: bool = True
    ) -> None:
        """Queue a reading: the event, then the field's retained state. Returns once on disk.

        Raises ValueError for a field name that is not a single safe topic level, and
        OutboxError when the outbox cannot be written (e.g. the disk is full).
        """
        _check_name("field", field)
        body = dict(payload)
        body.setdefault("field", field)
        data = encode_payload(body)
        qos = self._settings.qos
        messages = [Outgoing(self._topics.event, data, qos, False)]
        if retain_state:
            messages.append(Outgoing(self._topics.state(field), data, qos, True))
        self._outbox.put_many(messages)
        self._wake()

    def announce_fields(self, fields: list[str]) -> None:
        """Publish Home Assistant discovery for these fields (retained), clear what an
        earlier announcement published that is no longer wanted, and publish again the states
        of these fields that an earlier run delivered (kept in the outbox file).

        The topics announced are remembered in the outbox file, so a field dropped from the
        configuration while the daemon was stopped still has its discovery config and
        retained state removed (empty retained payloads) at the next start.
        """
        for field in fields:
            _check_name("field", field)
        wanted: dict[str, bytes] = {}
        if self._settings.homeassistant_discovery:
            for field in fields:
                wanted[self._topics.discovery(field)] = self._discovery_config(field)
        state_topics = [self._topics.state(f) for f in fields]
        owned_now = set(wanted) | set(state_topics)
        owned_before = self._owned_topics()
        stale = sorted(owned_before - owned_now)
        qos = self._settings.qos
        messages = [Outgoing(topic, b"", qos, True) for topic in stale]
        messages += [Outgoing(topic, config, qos, True) for topic, config in wanted.items()]
        # Messages first, note second: a crash in between repeats the clean-up, never skips it.
        if messages:
            self._outbox.put_many(messages)
        self._outbox.set_note(_NOTE_OWNED_TOPICS, json.dumps(sorted(owned_now)))
        # What an earlier run delivered, for a broker that lost it while the daemon was away.
        saved = {t: self._outbox.get_note(_NOTE_STATE + t) for t in state_topics}
        with self._lock:
            self._discovery_configs = wanted
            states = {t: p.encode() for t, p in saved.items() if p}
            restored = states.keys() - self._states.keys()
            states.update({t: p for t, p in self._states.items() if t in owned_now})
            self._states = states
        if stale:
            log.info("removing %d retained topics no longer configured: %s", len(stale), stale)
        if restored:
            self._restore = True  # publish them at once, also on a connection already up
        self._wake()

    def _owned_topics(self) -> set[str]:
        """The retained topics the last announce_fields published (persisted in the outbox)."""
        note = self._outbox.get_note(_NOTE_OWNED_TOPICS) or "[]"
        try:
            return {str(topic) for topic in json.loads(note)}
        except (ValueError, TypeError):
            log.warning("ignoring an unreadable note of announced topics: %r", note[:200])
            return set()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every message in the outbox is acknowledged; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: len(self._outbox) == 0, timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Deliver what can be delivered within `timeout`, publish "offline", disconnect.

        Undelivered messages stay in the outbox for the next start. The outbox itself is left
        open: it belongs to the caller.
        """
        thread = self._thread
        if thread is not None and not self._stop_requested.is_set():
            timeout = max(0.0, timeout)
            self._stop_deadline = time.monotonic() + timeout
            self._drain_deadline = self._stop_deadline - min(1.0, timeout / 4)
            self._stop_requested.set()
            self._wake()
            # A connect() in progress can block for connect_timeout before it notices.
            thread.join(timeout + self._settings.connect_timeout + 1.0)
            if thread.is_alive():
                log.error("MQTT worker did not stop within %.1f s", timeout)
                return
        self._stop_requested.set()
        self._wake_r.close()
        self._wake_w.close()

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def topics(self) -> Topics:
        return self._topics

    def stats(self) -> dict[str, Any]:
        """Counters for health reporting; cheap, safe from any thread."""
        with self._lock:
            connects = self._connects
            result: dict[str, Any] = {
                "connected": self._connected,
                "published": self._published,
                "connects": connects,
                "reconnects": max(0, connects - 1),
                "connect_failures": self._connect_failures,
                "rejected": self._rejected,
                "inflight": len(self._inflight),
                "last_error": self._last_error,
            }
        result["pending"] = len(self._outbox)
        result["dropped"] = self._outbox.dropped
        return result

    # --- discovery --------------------------------------------------------------------------

    def _discovery_config(self, field: str) -> bytes:
        s = self._settings
        model = "edge-ocr"
        if self._model_version:
            model = f"edge-ocr (model {self._model_version})"
        device: dict[str, Any] = {
            "identifiers": [f"edge-ocr_{s.device_id}"],
            "name": s.device_id,
            "manufacturer": "edge-ocr",
            "model": model,
        }
        origin: dict[str, Any] = {"name": "edge-ocr"}
        if self._software_version:
            device["sw_version"] = self._software_version
            origin["sw_version"] = self._software_version
        config = {
            "name": field,
            "unique_id": f"edge-ocr_{s.device_id}_{field}",
            "state_topic": self._topics.state(field),
            "value_template": "{{ value_json.text }}",
            "json_attributes_topic": self._topics.state(field),
            "availability_topic": self._topics.availability,
            "payload_available": ONLINE.decode(),
            "payload_not_available": OFFLINE.decode(),
            "qos": s.qos,
            "icon": "mdi:text-recognition",
            "device": device,
            "origin": origin,
        }
        return json.dumps(config, separators=(",", ":")).encode("utf-8")

    # --- worker thread ----------------------------------------------------------------------

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already woken (buffer full) or stopped

    def _run(self) -> None:
        s = self._settings
        delay = s.reconnect_min_delay
        while not self._stop_requested.is_set():
            accepted = False
            try:
                accepted = self._serve_one_connection()
            except Exception:  # the worker must outlive any surprise; the outbox keeps the data
                log.exception("MQTT worker: unexpected error; reconnecting")
            if self._stop_requested.is_set():
                break
            if accepted:
                delay = s.reconnect_min_delay
            # Jitter spreads a fleet's reconnects after a broker restart.
            wait = delay * random.uniform(0.5, 1.0)
            log.debug("reconnecting in %.2f s", wait)
            self._stop_requested.wait(wait)
            if not accepted:
                delay = min(delay * 2, s.reconnect_max_delay)
        log.debug("MQTT worker stopped")

    def _new_client(self) -> paho.Client:
        s = self._settings
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._client_id,
            clean_session=True,
            protocol=MQTTProtocolVersion.MQTTv311,
        )
        # paho logs a lost connection at ERROR; we report it ourselves, so its lines go to DEBUG.
        client.on_log = _log_paho
        client.connect_timeout = s.connect_timeout
        # We never hand paho more than max_inflight outbox messages (+ availability and the
        # configs and states published again on connect; paho queues any beyond its limit).
        with self._lock:
            again = len(self._discovery_configs) + len(self._states)
        client.max_inflight_messages_set(s.max_inflight + 2 + again)
        client.will_set(self._topics.availability, OFFLINE, qos=1, retain=True)
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if self._tls_context is not None:
            client.tls_set_context(self._tls_context)
            if s.tls_insecure:
                client.tls_insecure_set(True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _serve_one_connection(self) -> bool:
        """Connect, deliver until the connection ends or stop() asks; True if CONNACK accepted."""
        s = self._settings
        self._inflight.clear()
        self._inflight_states.clear()
        self._done_mids.clear()
        self._last_sent_id = 0
        self._refused = None
        self._offline_mid = None
        self._offline_acked = False
        self._restore = False
        try:
            client = self._new_client()
            client.connect(s.host, s.port, s.keepalive)
        except ssl.SSLCertVerificationError as err:
            self._note_failure(f"TLS certificate of {s.host}:{s.port} rejected: {err}", True)
            return False
        except (OSError, ssl.SSLError, ValueError) as err:
            self._note_failure(f"cannot connect to {s.host}:{s.port}: {err}")
            return False
        accepted = False
        try:
            accepted = self._loop(client)
        finally:
            self._settle()
            with self._lock:
                self._connected = False
            sock = client.socket()
            if sock is not None:
                sock.close()  # without DISCONNECT, so the broker publishes the last will
        if self._refused is not None:
            self._note_failure(self._refused, True)
        elif not accepted and not self._stop_requested.is_set():
            self._note_failure(f"{s.host}:{s.port} closed the connection before accepting it")
        return accepted

    def _loop(self, client: paho.Client) -> bool:
        accepted = False
        online_sent = False
        while self._refused is None:
            if self._connected:
                accepted = True
                if not online_sent:
                    client.publish(self._topics.availability, ONLINE, qos=1, retain=True)
                    online_sent = True
                    # The broker may have lost its retained messages (restarted without
                    # persistence): the outbox delivered them once, this restores them.
                    self._restore = True
                if self._restore:
                    self._restore = False
                    self._publish_retained(client)
            self._settle()
            if self._connected and self._offline_mid is None:
                self._feed(client)
            if self._stop_requested.is_set():
                now = time.monotonic()
                if not self._connected:
                    # Lost while draining, or CONNACK still missing at the drain deadline.
                    if accepted or now >= self._drain_deadline:
                        return accepted
                else:
                    drained = not self._inflight and len(self._outbox) == 0
                    if self._offline_mid is None and (drained or now >= self._drain_deadline):
                        info = client.publish(
                            self._topics.availability, OFFLINE, qos=1, retain=True
                        )
                        self._offline_mid = info.mid
                    if self._offline_acked or now >= self._stop_deadline:
                        client.disconnect()  # written at once; the broker drops the last will
                        log.info(
                            "disconnected from %s:%d", self._settings.host, self._settings.port
                        )
                        return accepted
            sock = client.socket()
            if sock is None:
                return accepted
            pending = sock.pending() if isinstance(sock, ssl.SSLSocket) else 0
            timeout = 0.0 if pending else _SELECT_TIMEOUT
            if self._stop_requested.is_set():
                timeout = min(timeout, max(0.01, self._stop_deadline - time.monotonic()))
            wlist = [sock] if client.want_write() else []
            readable, _, _ = select.select([sock, self._wake_r], wlist, [], timeout)
            if self._wake_r in readable:
                _drain(self._wake_r)
            if sock in readable or pending:
                client.loop_read()
            if client.socket() is not None and client.want_write():
                client.loop_write()
            if client.socket() is not None:
                client.loop_misc()
        return accepted

    def _feed(self, client: paho.Client) -> None:
        room = self._settings.max_inflight - len(self._inflight)
        if room <= 0:
            return
        for message in self._outbox.peek(room, after=self._last_sent_id):
            try:
                info = client.publish(message.topic, message.payload, message.qos, message.retain)
            except ValueError as err:
                # Not publishable ever (a wildcard in the topic, a huge payload): left in place
                # it would block every message behind it, so it goes, loudly.
                log.error(
                    "message %d on %r cannot be published (%s); removing it from the outbox",
                    message.id,
                    message.topic,
                    err,
                )
                self._outbox.ack(message.id)
                with self._lock:
                    self._rejected += 1
                self._last_sent_id = message.id
                continue
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                log.debug(
                    "publish of message %d failed: %s", message.id, paho.error_string(info.rc)
                )
                return  # the connection is gone; the loop notices and we resend next time
            self._inflight[info.mid] = message.id
            if message.retain and self._topics.is_state(message.topic):
                self._inflight_states[info.mid] = (message.topic, message.payload)
            self._last_sent_id = message.id

    def _publish_retained(self, client: paho.Client) -> None:
        """Publish the last announced discovery configs and the fields' last delivered states
        again, outside the outbox.

        Not from the outbox: behind a backlog they would come minutes late, and they need no
        durability, as every connect publishes them again. Their acks match no outbox message.
        A state still waiting in the outbox is newer and follows, in order, from there.
        """
        with self._lock:
            configs = dict(self._discovery_configs)
            states = dict(self._states)
        for topic, payload in [*configs.items(), *states.items()]:
            client.publish(topic, payload, self._settings.qos, retain=True)
        if configs or states:
            log.debug("published %d config(s) and %d state(s) again", len(configs), len(states))

    def _settle(self) -> None:
        """Turn broker acknowledgements into outbox acks (one transaction per batch)."""
        if not self._done_mids:
            return
        done = [self._inflight.pop(mid) for mid in self._done_mids if mid in self._inflight]
        delivered = self._inflight_states
        states = dict(delivered.pop(mid) for mid in self._done_mids if mid in delivered)
        self._done_mids.clear()
        with self._lock:
            for topic, payload in states.items():
                if payload:
                    self._states[topic] = payload
                else:  # an empty retained payload removed it
                    self._states.pop(topic, None)
        if not done:
            return
        notes = {_NOTE_STATE + topic: payload.decode() for topic, payload in states.items()}
        try:
            self._outbox.ack_many(done, notes)
        except OutboxError as err:
            # Delivered but still on disk: it will be sent again (a duplicate, not a loss).
            log.error("cannot remove %d delivered messages from the outbox: %s", len(done), err)
            return
        with self._lock:
            self._published += len(done)
        with self._idle:
            self._idle.notify_all()

    def _note_failure(self, message: str, needs_user: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            self._connect_failures += 1
            repeated = message == self._last_error
            self._last_error = message
        if not repeated or now - self._last_error_logged_at >= _REPEAT_LOG_INTERVAL:
            self._last_error_logged_at = now
            # ERROR for what only a person can fix (credentials, certificates).
            log.log(
                logging.ERROR if needs_user else logging.WARNING,
                "%s; retrying in the background",
                message,
            )
        else:
            log.debug("%s; retrying in the background", message)

    # --- paho callbacks (run on the worker thread, inside client.loop_*) --------------------

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        s = self._settings
        if reason.is_failure:
            self._refused = f"broker {s.host}:{s.port} refused the connection: {reason}"
            return
        with self._lock:
            self._connected = True
            self._connects += 1
            self._last_error = None
        self._last_error_logged_at = -math.inf
        if s.homeassistant_discovery:
            client.subscribe(self._topics.homeassistant_status, qos=1)
        log.info(
            "connected to %s:%d as %s; %d message(s) waiting",
            s.host,
            s.port,
            self._client_id,
            len(self._outbox),
        )

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        was_connected = self._connected
        with self._lock:
            self._connected = False
        if was_connected and not self._stop_requested.is_set():
            log.warning(
                "connection to %s:%d lost; %d message(s) waiting",
                self._settings.host,
                self._settings.port,
                len(self._outbox),
            )

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        # Home Assistant's birth message: it (re)started and needs the configs again. A retained
        # copy comes with every subscription, right after the connect already published them.
        if (
            msg.topic == self._topics.homeassistant_status
            and msg.payload == ONLINE
            and not msg.retain
        ):
            log.info("Home Assistant is online: publishing its configs and states again")
            self._restore = True

    def _on_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason: Any, properties: Any
    ) -> None:
        # For QoS 0 this runs inside client.publish(), before _feed knows the mid: record only.
        if mid == self._offline_mid:
            self._offline_acked = True
        else:
            self._done_mids.append(mid)


def _tls_context(settings: MqttSettings) -> ssl.SSLContext:
    """Built once at start-up, so a missing or broken certificate file stops the daemon."""
    try:
        context = ssl.create_default_context(cafile=settings.ca_file)
        if settings.cert_file:
            context.load_cert_chain(settings.cert_file, settings.key_file)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(
            f"mqtt TLS: cannot load ca_file/cert_file/key_file "
            f"({settings.ca_file}, {settings.cert_file}, {settings.key_file}): {err}"
        ) from err
    return context


def _check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ValueError(f"{kind} name must be letters, digits, '_' or '-', got {name!r}")


def _topic_problem(topic: str) -> str | None:
    if not topic:
        return "must not be empty"
    if any(c in topic for c in "+#\0"):
        return f"must not contain '+', '#' or NUL, got {topic!r}"
    if "" in topic.split("/"):
        return f"must not start or end with '/' or contain '//', got {topic!r}"
    return None


def _log_paho(client: paho.Client, userdata: Any, level: int, message: str) -> None:
    _paho_log.debug("%s", message)


def _drain(sock: socket.socket) -> None:
    try:
        while sock.recv(4096):
            pass
    except (BlockingIOError, OSError):
        pass


def _finite(value: Any) -> Any:
    """JSON has no NaN or Infinity: they become null instead of invalid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy scalars and arrays, without importing numpy
        return _finite(value.tolist())
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)  # a reading is never lost to an unexpected type
