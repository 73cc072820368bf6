"""Durable FIFO of outgoing MQTT messages in one sqlite file: a reading put here is never lost.

Durability. The database runs in WAL mode with ``synchronous=FULL``: every ``put`` fsyncs the WAL
before it returns, so a committed message survives ``kill -9`` *and* a power cut (the usual way a
Raspberry Pi goes down), as far as the storage honours flushes. ``synchronous=NORMAL``
would survive ``kill -9`` too but may roll back the last commits on power loss; it is available
as ``Outbox(..., synchronous="NORMAL")`` for high-rate setups where an fsync per reading is too
slow. Readings are published on change, a few per second at most, so the fsync is affordable.
Acks are durable as well; losing an ack on power loss would only cause a duplicate.

One process owns the file: it is opened in exclusive locking mode, so a second daemon pointed at
the same outbox fails at start-up with an ``OutboxError`` instead of interleaving deliveries.

Bounds and what is dropped. ``max_messages`` (and optionally ``max_bytes``, counting topic and
payload bytes) bound the file during a long outage. When a ``put`` exceeds a bound, messages are
dropped oldest first in this order, and each drop is counted in a persisted counter:

1. retained messages superseded by a newer retained message on the same topic (the broker would
   only keep the newest one anyway, so nothing a late subscriber can see is lost);
2. non-retained messages (the event history), oldest first;
3. anything, oldest first (only left when every message is the latest retained one of its topic).

The message just put may itself be dropped by rule 2 or 3 if it is the oldest candidate.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from edge_ocr.errors import OutboxError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: ids are never reused
    topic       TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    qos         INTEGER NOT NULL,
    retain      INTEGER NOT NULL,
    created_at  REAL    NOT NULL,                   -- unix time
    size        INTEGER NOT NULL,                   -- topic + payload bytes, for max_bytes
    superseded  INTEGER NOT NULL DEFAULT 0          -- retained and a newer retained one exists
);
CREATE INDEX IF NOT EXISTS messages_superseded ON messages(id) WHERE superseded = 1;
CREATE INDEX IF NOT EXISTS messages_events ON messages(id) WHERE retain = 0;
CREATE INDEX IF NOT EXISTS messages_latest_retained
    ON messages(topic) WHERE retain = 1 AND superseded = 0;
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS notes (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
).split(";")
# set_note's write, also made by ack_many inside its own transaction.
_SET_NOTE = "INSERT OR REPLACE INTO notes(key, value) VALUES (?, ?)"

# Log the first drop and then one in this many, so a long outage does not flood the journal.
_DROP_LOG_EVERY = 1000


@dataclass(frozen=True)
class Message:
    """One message waiting in the outbox."""

    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    created_at: float  # unix time of put()


@dataclass(frozen=True)
class Outgoing:
    """A message to put; `Outbox.put_many` takes several in one transaction."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


class Outbox:
    """Durable FIFO of messages on disk (sqlite, WAL, synchronous=FULL), survives kill -9.

    Thread-safe: one connection guarded by a lock. ``put`` and ``ack`` return after the
    transaction is committed to disk.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        max_messages: int = 100_000,
        max_bytes: int | None = None,
        *,
        synchronous: str = "FULL",
    ) -> None:
        if max_messages < 1:
            raise ValueError(f"max_messages must be at least 1, got {max_messages}")
        if max_bytes is not None and max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1 or None, got {max_bytes}")
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError(f"synchronous must be FULL, NORMAL or EXTRA, got {synchronous!r}")
        self._path = Path(path)
        self._max_messages = max_messages
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves.
            db = sqlite3.connect(
                self._path, timeout=1.0, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as err:
            raise OutboxError(f"cannot open outbox {self._path}: {err}") from err
        try:
            # Exclusive locking before the first WAL access: no -shm file, and the file stays
            # locked against a second process until close().
            db.execute("PRAGMA locking_mode = EXCLUSIVE")
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise OutboxError(f"outbox {self._path}: cannot switch to WAL mode (got {mode})")
            db.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            db.execute("PRAGMA journal_size_limit = 4194304")  # keep the WAL file small
            db.execute("BEGIN IMMEDIATE")  # takes the exclusive lock now, fails fast if held
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                db.execute("ROLLBACK")
                raise OutboxError(
                    f"outbox {self._path} has schema version {version}, this edge-ocr reads "
                    f"{SCHEMA_VERSION}; move the file away or use a matching edge-ocr"
                )
            for statement in _SCHEMA:
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("INSERT OR IGNORE INTO counters(name, value) VALUES ('dropped', 0)")
            db.execute("COMMIT")
            count, size = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM messages"
            ).fetchone()
            dropped = db.execute("SELECT value FROM counters WHERE name = 'dropped'").fetchone()[0]
        except sqlite3.OperationalError as err:
            db.close()
            if "locked" in str(err):
                raise OutboxError(
                    f"outbox {self._path} is in use by another process (is edge-ocr running?)"
                ) from err
            raise OutboxError(f"cannot open outbox {self._path}: {err}") from err
        except sqlite3.DatabaseError as err:
            db.close()
            raise OutboxError(
                f"outbox {self._path} is not a usable database ({err}); move it away to start "
                "with an empty outbox"
            ) from err
        except OutboxError:
            db.close()
            raise
        self._db = db
        self._count: int = count
        self._bytes: int = size
        self._dropped: int = dropped
        if count:
            log.info("outbox %s: %d messages waiting from a previous run", self._path, count)

    @property
    def path(self) -> Path:
        return self._path

    def put(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        """Append one message and commit it to disk; returns its id."""
        return self.put_many([Outgoing(topic, payload, qos, retain)])[0]

    def put_many(self, messages: Sequence[Outgoing]) -> list[int]:
        """Append messages in order in one transaction (all or none); returns their ids."""
        rows = [_row(m) for m in messages]
        if self._max_bytes is not None:
            for topic, _payload, _qos, _retain, size in rows:
                if size > self._max_bytes:
                    raise OutboxError(
                        f"message on {topic} is {size} bytes, more than the outbox holds "
                        f"(max_bytes={self._max_bytes})"
                    )
        now = time.time()
        with self._lock:
            db = self._connection()
            try:
                db.execute("BEGIN IMMEDIATE")
                ids = []
                added_bytes = 0
                for topic, payload, qos, retain, size in rows:
                    if retain:
                        db.execute(
                            "UPDATE messages SET superseded = 1 "
                            "WHERE retain = 1 AND superseded = 0 AND topic = ?",
                            (topic,),
                        )
                    cur = db.execute(
                        "INSERT INTO messages(topic, payload, qos, retain, created_at, size) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (topic, payload, qos, int(retain), now, size),
                    )
                    ids.append(int(cur.lastrowid or 0))
                    added_bytes += size
                count = self._count + len(rows)
                size_total = self._bytes + added_bytes
                drops: list[tuple[int, str]] = []
                while count > self._max_messages or (
                    self._max_bytes is not None and size_total > self._max_bytes
                ):
                    victim_id, victim_topic, victim_size = self._pick_victim(db)
                    db.execute("DELETE FROM messages WHERE id = ?", (victim_id,))
                    drops.append((victim_id, victim_topic))
                    count -= 1
                    size_total -= victim_size
                if drops:
                    db.execute(
                        "UPDATE counters SET value = value + ? WHERE name = 'dropped'",
                        (len(drops),),
                    )
                db.execute("COMMIT")
            except sqlite3.Error as err:
                _rollback(db)
                raise OutboxError(f"cannot write to outbox {self._path}: {err}") from err
            self._count = count
            self._bytes = size_total
            before = self._dropped
            self._dropped += len(drops)
        for n, (victim_id, victim_topic) in enumerate(drops, start=before + 1):
            level = logging.WARNING if n == 1 or n % _DROP_LOG_EVERY == 0 else logging.DEBUG
            log.log(
                level,
                "outbox full: dropped message %d on %s (%d dropped so far)",
                victim_id,
                victim_topic,
                n,
            )
        return ids

    def peek(self, limit: int = 100, *, after: int = 0) -> list[Message]:
        """Up to `limit` messages, oldest first; `after` skips ids up to and including it."""
        with self._lock:
            db = self._connection()
            try:
                rows = db.execute(
                    "SELECT id, topic, payload, qos, retain, created_at FROM messages "
                    "WHERE id > ? ORDER BY id LIMIT ?",
                    (after, limit),
                ).fetchall()
            except sqlite3.Error as err:
                raise OutboxError(f"cannot read outbox {self._path}: {err}") from err
        return [
            Message(int(i), str(t), bytes(p), int(q), bool(r), float(c))
            for i, t, p, q, r, c in rows
        ]

    def ack(self, message_id: int) -> None:
        """Remove a delivered message; an unknown id (already acked or dropped) is ignored."""
        self.ack_many([message_id])

    def ack_many(self, message_ids: Iterable[int], notes: Mapping[str, str] | None = None) -> None:
        """Remove several delivered messages in one transaction (one fsync), and set `notes`
        (see set_note) in the same one, so they always tell what was delivered."""
        ids = [int(i) for i in message_ids]
        if not ids and not notes:
            return
        with self._lock:
            db = self._connection()
            try:
                db.execute("BEGIN IMMEDIATE")
                removed = 0
                removed_bytes = 0
                for start in range(0, len(ids), 500):  # stay below sqlite's variable limit
                    chunk = ids[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    n, size = db.execute(
                        "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM messages "
                        f"WHERE id IN ({marks})",
                        chunk,
                    ).fetchone()
                    db.execute(f"DELETE FROM messages WHERE id IN ({marks})", chunk)
                    removed += int(n)
                    removed_bytes += int(size)
                db.executemany(_SET_NOTE, list((notes or {}).items()))
                db.execute("COMMIT")
            except sqlite3.Error as err:
                _rollback(db)
                raise OutboxError(f"cannot write to outbox {self._path}: {err}") from err
            self._count -= removed
            self._bytes -= removed_bytes

    def __len__(self) -> int:
        with self._lock:
            return self._count

    @property
    def size_bytes(self) -> int:
        """Topic and payload bytes of the waiting messages."""
        with self._lock:
            return self._bytes

    @property
    def dropped(self) -> int:
        """Messages dropped because the outbox was full, over the file's whole life."""
        with self._lock:
            return self._dropped

    def get_note(self, key: str) -> str | None:
        """A small persisted value kept next to the messages (e.g. what the publisher announced)."""
        with self._lock:
            db = self._connection()
            try:
                row = db.execute("SELECT value FROM notes WHERE key = ?", (key,)).fetchone()
            except sqlite3.Error as err:
                raise OutboxError(f"cannot read outbox {self._path}: {err}") from err
        return None if row is None else str(row[0])

    def set_note(self, key: str, value: str) -> None:
        """Persist a small value under `key`, replacing the previous one."""
        with self._lock:
            db = self._connection()
            try:
                db.execute(_SET_NOTE, (key, value))
            except sqlite3.Error as err:
                raise OutboxError(f"cannot write to outbox {self._path}: {err}") from err

    def close(self) -> None:
        """Checkpoint and close the file; later calls raise OutboxError. Idempotent."""
        with self._lock:
            db, self._db = self._db, None
        if db is None:
            return
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as err:
            log.warning("outbox %s: checkpoint on close failed: %s", self._path, err)
        finally:
            db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Outbox({str(self._path)!r}, messages={self._count}, dropped={self._dropped})"

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise OutboxError(f"outbox {self._path} is closed")
        return self._db

    @staticmethod
    def _pick_victim(db: sqlite3.Connection) -> tuple[int, str, int]:
        for query in (
            "SELECT id, topic, size FROM messages WHERE superseded = 1 ORDER BY id LIMIT 1",
            "SELECT id, topic, size FROM messages WHERE retain = 0 ORDER BY id LIMIT 1",
            "SELECT id, topic, size FROM messages ORDER BY id LIMIT 1",
        ):
            row = db.execute(query).fetchone()
            if row is not None:
                return int(row[0]), str(row[1]), int(row[2])
        raise sqlite3.OperationalError("outbox over its bound but empty")  # cannot happen


def _row(message: Outgoing) -> tuple[str, bytes, int, bool, int]:
    if not isinstance(message.topic, str) or not message.topic:
        raise ValueError(f"topic must be a non-empty string, got {message.topic!r}")
    if message.qos not in (0, 1, 2):
        raise ValueError(f"qos must be 0, 1 or 2, got {message.qos!r}")
    if not isinstance(message.payload, (bytes, bytearray, memoryview)):
        raise TypeError(f"payload must be bytes, got {type(message.payload).__name__}")
    payload = bytes(message.payload)
    size = len(message.topic.encode("utf-8")) + len(payload)
    return message.topic, payload, message.qos, bool(message.retain), size


def _rollback(db: sqlite3.Connection) -> None:
    try:
        if db.in_transaction:
            db.execute("ROLLBACK")
    except sqlite3.Error as err:
        log.debug("rollback failed: %s", err)
