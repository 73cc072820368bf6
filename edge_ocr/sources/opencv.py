"""Frames from OpenCV: a V4L2 camera index, a video file, or an RTSP/HTTP stream.

Live inputs (a camera, a stream) are read continuously, so the decoder's buffer never holds
stale frames, and one frame is kept per 1/`rate` seconds. When the input fails to open or stops
delivering, it is reopened after an exponential backoff (reconnect_min_delay doubling up to
reconnect_max_delay). A video file is sampled at `rate` frames per second of video time and is
not live: it waits for the recognizer instead of dropping frames, and ends at its last frame
(or starts over with `loop: true`). A video file that cannot be opened (missing, unreadable, not
a video) is a SourceError, not retried: waiting would not fix it, and the daemon must stop with
an error rather than report a clean end.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import cv2

from edge_ocr.config import OpencvConfig
from edge_ocr.errors import SourceError
from edge_ocr.types import Frame

log = logging.getLogger(__name__)


def _is_file(url: str | None) -> bool:
    """A video file's path, found or not; not a stream URL nor a camera's device node (which may
    come back when the camera is plugged in again)."""
    if url is None or "://" in url or url.startswith("/dev/"):
        return False
    return not Path(url).is_char_device()


def _why_not_opened(url: str) -> str:
    """Why OpenCV could not open a video file, in words a user can act on."""
    path = Path(url)
    if not path.exists():
        return "file not found"
    if path.is_dir():
        return "it is a folder, not a video file"
    if not os.access(path, os.R_OK):
        return "permission denied"
    return "OpenCV cannot read it as a video (not a video, or a format this build cannot decode)"


class OpencvSource:
    """Reads an OpenCV VideoCapture with reconnects; see the module docstring."""

    def __init__(self, cfg: OpencvConfig, rate: float) -> None:
        self._cfg = cfg
        self._interval = 1.0 / rate
        self._file = _is_file(cfg.url)
        self.live = not self._file
        self.name = f"opencv:{_redact(cfg.url)}" if cfg.url else f"opencv:/dev/video{cfg.device}"
        self._ids = itertools.count(1)
        self._cap: Any = None

    def _open(self) -> Any:
        cfg = self._cfg
        target: Any = cfg.url if cfg.url is not None else cfg.device
        cap = cv2.VideoCapture(target)
        if not cap.isOpened():
            cap.release()
            return None
        if cfg.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, cfg.width)
        if cfg.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, cfg.height)
        if cfg.fps:
            cap.set(cv2.CAP_PROP_FPS, cfg.fps)
        if not self._file:
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # a hint; not every backend takes it
        return cap

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        """Yield frames at the configured rate until stopped (or a video file ends).

        Raises SourceError when a video file cannot be opened; a camera or stream is retried.
        """
        delay = self._cfg.reconnect_min_delay
        failures = 0
        while not stop.is_set():
            self._cap = self._open()
            if self._cap is None:
                if self._file:
                    url = self._cfg.url or ""
                    raise SourceError(f"cannot open video file {url}: {_why_not_opened(url)}")
                failures += 1
                if failures == 1 or failures % 10 == 0:
                    log.warning("cannot open %s; retrying in %.1f s", self.name, delay)
                stop.wait(delay)
                delay = min(delay * 2, self._cfg.reconnect_max_delay)
                continue
            if failures:
                log.info("%s opened after %d failed attempt(s)", self.name, failures)
            failures = 0
            delay = self._cfg.reconnect_min_delay
            got_any = yield from self._read(stop)
            self.close()
            if stop.is_set():
                return
            if self._file:
                if not self._cfg.loop or not got_any:
                    log.info("%s: end of video", self.name)
                    return
                continue
            log.warning("%s stopped delivering frames; reconnecting in %.1f s", self.name, delay)
            stop.wait(delay)
            delay = min(delay * 2, self._cfg.reconnect_max_delay)

    def _read(self, stop: threading.Event) -> Generator[Frame, None, bool]:
        cap = self._cap
        next_due = 0.0
        got_any = False
        while not stop.is_set():
            if not cap.grab():
                return got_any
            now = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0 if self._file else time.monotonic()
            if now < next_due:
                continue
            ok, image = cap.retrieve()
            if not ok or image is None:
                return got_any
            got_any = True
            next_due = max(next_due + self._interval, now)
            yield Frame(
                image=image, frame_id=next(self._ids), source=self.name, captured_at=time.time()
            )
        return got_any

    def close(self) -> None:
        """Release the capture device or stream."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def _redact(url: str) -> str:
    """A URL without its password, for logs and payloads (rtsp://user:pw@host/...)."""
    if "://" in url and "@" in url.split("://", 1)[1].split("/", 1)[0]:
        scheme, rest = url.split("://", 1)
        creds, host = rest.split("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url
