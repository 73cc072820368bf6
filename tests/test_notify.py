"""edge_ocr.notify: sd_notify datagrams on a real unix socket."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from edge_ocr.notify import Notifier


def listen(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    return sock


def test_ready_and_status_arrive_as_one_datagram(tmp_path: Path) -> None:
    """ready() sends READY=1 and STATUS= in one message."""
    sock = listen(tmp_path / "n.sock")
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "n.sock")})
    assert notifier.ready("all good")
    assert sock.recv(1024) == b"READY=1\nSTATUS=all good"
    notifier.close()
    sock.close()


def test_watchdog_stopping_and_reloading_messages(tmp_path: Path) -> None:
    """WATCHDOG=1, STOPPING=1 and RELOADING=1 (with MONOTONIC_USEC) are sent as is."""
    sock = listen(tmp_path / "n.sock")
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "n.sock")})
    notifier.watchdog()
    notifier.stopping()
    notifier.reloading()
    assert sock.recv(1024) == b"WATCHDOG=1"
    assert sock.recv(1024) == b"STOPPING=1"
    assert sock.recv(1024).startswith(b"RELOADING=1\nMONOTONIC_USEC=")
    notifier.close()
    sock.close()


def test_abstract_socket_address(tmp_path: Path) -> None:
    """An address starting with '@' is in the abstract namespace."""
    name = f"edge-ocr-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    Notifier({"NOTIFY_SOCKET": "@" + name}).send("STATUS=x")
    assert sock.recv(1024) == b"STATUS=x"
    sock.close()


def test_without_notify_socket_nothing_is_sent() -> None:
    """Outside systemd every call is a no-op."""
    notifier = Notifier({})
    assert not notifier.enabled and not notifier.ready()


def test_watchdog_interval_from_environment() -> None:
    """WATCHDOG_USEC gives the interval, only for our own pid."""
    assert Notifier({"WATCHDOG_USEC": "2000000"}).watchdog_interval == 2.0
    other = {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}
    assert Notifier(other).watchdog_interval is None
