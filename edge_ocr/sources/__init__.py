"""Frame sources: a watched folder, an OpenCV capture, a Raspberry Pi camera; and the factory.

Every source has `name`, `live` and `frames(stop)`. A live source (a camera, a stream) keeps
producing whether or not anyone keeps up, so the daemon drops its frames when the queue is full;
a non-live one (a folder, a video file) waits for room instead, so no file is skipped.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Protocol

from edge_ocr.config import CaptureConfig, SourceConfig
from edge_ocr.types import Frame


class Source(Protocol):
    """What the daemon needs from a frame source."""

    name: str
    live: bool

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        """Yield frames until `stop` is set (or the source ends, e.g. a video file)."""
        ...

    def close(self) -> None:
        """Release the device or stream."""
        ...


def open_source(source: SourceConfig, capture: CaptureConfig) -> Source:
    """The configured source; SourceError when it cannot work here (e.g. picamera2 missing)."""
    if source.type == "folder":
        from edge_ocr.sources.folder import FolderSource

        return FolderSource(source.folder)
    if source.type == "opencv":
        from edge_ocr.sources.opencv import OpencvSource

        return OpencvSource(source.opencv, capture.rate)
    from edge_ocr.sources.picamera import PicameraSource

    return PicameraSource(source.picamera, capture.rate)
