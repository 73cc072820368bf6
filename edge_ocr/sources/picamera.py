"""Frames from a Raspberry Pi camera through picamera2, imported only when this source is used.

picamera2 comes from Raspberry Pi OS (`sudo apt install python3-picamera2`, with a venv made
with --system-site-packages) or `pip install edge-ocr[camera]`; everything else in edge-ocr runs
without it. A failing camera is closed and reopened with a doubling backoff.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from edge_ocr.config import PicameraConfig
from edge_ocr.errors import SourceError
from edge_ocr.types import Frame

log = logging.getLogger(__name__)

_MIN_DELAY = 1.0
_MAX_DELAY = 30.0


def _picamera2_factory() -> Callable[[int], Any]:
    try:
        module = importlib.import_module("picamera2")
    except ImportError as err:
        raise SourceError(
            "source.type is picamera but picamera2 is not installed: on Raspberry Pi OS run "
            "`sudo apt install python3-picamera2` and create the venv with "
            "--system-site-packages, or `pip install 'edge-ocr[camera]'`"
        ) from err
    return module.Picamera2  # type: ignore[no-any-return]


class PicameraSource:
    """Captures from picamera2 at `rate` frames per second.

    `camera_factory(camera_number)` makes the camera object; it defaults to
    picamera2.Picamera2, and tests hand in a stand-in with the same methods.
    """

    live = True

    def __init__(
        self,
        cfg: PicameraConfig,
        rate: float,
        camera_factory: Callable[[int], Any] | None = None,
    ) -> None:
        self._cfg = cfg
        self._interval = 1.0 / rate
        self._factory = camera_factory or _picamera2_factory()
        self.name = f"picamera:{cfg.camera}"
        self._ids = itertools.count(1)
        self._camera: Any = None

    def _open(self) -> Any:
        camera = self._factory(self._cfg.camera)
        main = {"size": (self._cfg.width, self._cfg.height), "format": "RGB888"}
        make = getattr(camera, "create_video_configuration", None)
        # picamera2's "RGB888" is B, G, R in memory: the order OpenCV expects.
        camera.configure(make(main=main) if make else {"main": main})
        camera.start()
        return camera

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        """Yield frames until stopped, reopening the camera after failures."""
        delay = _MIN_DELAY
        while not stop.is_set():
            try:
                self._camera = self._open()
                next_due = time.monotonic()
                while not stop.is_set():
                    wait = next_due - time.monotonic()
                    if wait > 0 and stop.wait(wait):
                        break
                    image = self._camera.capture_array()
                    next_due = max(next_due + self._interval, time.monotonic())
                    delay = _MIN_DELAY
                    yield Frame(
                        image=image,
                        frame_id=next(self._ids),
                        source=self.name,
                        captured_at=time.time(),
                    )
            except Exception as err:  # picamera2/libcamera raise assorted untyped errors
                log.warning("%s failed (%s); reopening in %.1f s", self.name, err, delay)
                self.close()
                stop.wait(delay)
                delay = min(delay * 2, _MAX_DELAY)
        self.close()

    def close(self) -> None:
        """Stop and close the camera."""
        camera, self._camera = self._camera, None
        if camera is None:
            return
        for method in ("stop", "close"):
            try:
                getattr(camera, method)()
            except Exception as err:  # closing a broken camera may fail again; nothing to do
                log.debug("camera %s() failed: %s", method, err)
