"""edge_ocr.sources: picamera2 through a stand-in, OpenCV video files and reconnects."""

from __future__ import annotations

import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge_ocr.config import CaptureConfig, OpencvConfig, PicameraConfig, SourceConfig
from edge_ocr.errors import SourceError
from edge_ocr.sources import open_source
from edge_ocr.sources.opencv import OpencvSource
from edge_ocr.sources.picamera import PicameraSource


class StandInCamera:
    """An object with picamera2.Picamera2's interface; fails once after `fail_after` frames."""

    instances: list[StandInCamera] = []

    def __init__(self, camera_num: int = 0, fail_after: int | None = None) -> None:
        self.camera_num = camera_num
        self.calls: list[str] = []
        self.config: Any = None
        self.fail_after = fail_after
        self.captured = 0
        StandInCamera.instances.append(self)

    def create_video_configuration(self, main: dict[str, Any]) -> dict[str, Any]:
        return {"main": main, "use_case": "video"}

    def configure(self, config: dict[str, Any]) -> None:
        self.calls.append("configure")
        self.config = config

    def start(self) -> None:
        self.calls.append("start")

    def capture_array(self) -> np.ndarray:
        if self.fail_after is not None and self.captured >= self.fail_after:
            raise RuntimeError("camera went away")
        self.captured += 1
        w, h = self.config["main"]["size"]
        return np.full((h, w, 3), self.captured, dtype=np.uint8)

    def stop(self) -> None:
        self.calls.append("stop")

    def close(self) -> None:
        self.calls.append("close")


def take(source: Any, count: int, timeout: float = 10.0) -> list[Any]:
    stop = threading.Event()
    frames: list[Any] = []
    deadline = time.monotonic() + timeout
    for frame in source.frames(stop):
        frames.append(frame)
        if len(frames) >= count or time.monotonic() > deadline:
            stop.set()
    return frames


def test_picamera_frames_come_from_capture_array() -> None:
    """The adapter configures, starts and captures BGR frames of the configured size."""
    StandInCamera.instances.clear()
    source = PicameraSource(
        PicameraConfig(width=64, height=48), rate=50, camera_factory=StandInCamera
    )
    frames = take(source, 3)
    camera = StandInCamera.instances[0]
    assert [f.image.shape for f in frames] == [(48, 64, 3)] * 3
    assert camera.config["main"]["format"] == "RGB888"
    assert camera.calls == ["configure", "start", "stop", "close"]


def test_picamera_is_reopened_after_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """A camera that fails is closed and a new one is opened."""
    import edge_ocr.sources.picamera as picam

    monkeypatch.setattr(picam, "_MIN_DELAY", 0.01)
    StandInCamera.instances.clear()
    factory = lambda n: StandInCamera(n, fail_after=2)  # noqa: E731
    frames = take(PicameraSource(PicameraConfig(width=16, height=16), 100, factory), 4)
    assert len(frames) == 4 and len(StandInCamera.instances) == 2
    assert StandInCamera.instances[0].calls[-2:] == ["stop", "close"]


def test_picamera_rate_limits_captures() -> None:
    """At rate 20 five frames take about a fifth of a second, not less."""
    source = PicameraSource(PicameraConfig(width=16, height=16), 20, StandInCamera)
    start = time.monotonic()
    take(source, 5)
    assert time.monotonic() - start >= 0.19


def test_missing_picamera2_names_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without picamera2, choosing the picamera source is a SourceError saying what to install."""
    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(SourceError, match="python3-picamera2"):
        open_source(SourceConfig(type="picamera"), CaptureConfig())


def write_video(path: Path, frames: int = 30, fps: float = 10.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (160, 60))
    for i in range(frames):
        image = np.full((60, 160, 3), 255, dtype=np.uint8)
        cv2.putText(image, str(i), (5, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 0), 2)
        writer.write(image)
    writer.release()
    return path


def test_video_file_is_sampled_at_the_capture_rate(tmp_path: Path) -> None:
    """A 3 s video at rate 2 gives 6 frames, then the source ends."""
    video = write_video(tmp_path / "v.avi")
    source = OpencvSource(OpencvConfig(url=str(video)), rate=2)
    assert source.live is False
    frames = take(source, 100)
    assert len(frames) == 6 and frames[0].image.shape == (60, 160, 3)


def test_video_file_loops_when_asked(tmp_path: Path) -> None:
    """loop: true starts the video over at its end."""
    video = write_video(tmp_path / "v.avi", frames=10)
    source = OpencvSource(OpencvConfig(url=str(video), loop=True), rate=10)
    assert len(take(source, 25)) == 25


def test_unavailable_camera_is_retried_with_backoff(caplog: pytest.LogCaptureFixture) -> None:
    """A camera that cannot be opened is retried, with doubling delays, until stopped."""
    source = OpencvSource(
        OpencvConfig(device=63, reconnect_min_delay=0.05, reconnect_max_delay=0.2), rate=1
    )
    opened: list[float] = []
    real_open = source._open

    def counting_open() -> Any:
        opened.append(time.monotonic())
        return real_open()

    source._open = counting_open  # type: ignore[method-assign]
    stop = threading.Event()
    thread = threading.Thread(target=lambda: list(source.frames(stop)))
    thread.start()
    time.sleep(1.0)
    stop.set()
    thread.join(5)
    gaps = [b - a for a, b in zip(opened, opened[1:], strict=False)]
    assert len(opened) >= 4
    assert gaps[0] < 0.15 and max(gaps) >= 0.18
    assert "cannot open opencv:/dev/video63" in caplog.text


def test_stream_url_password_is_not_in_the_source_name() -> None:
    """An RTSP URL's password never reaches logs or payloads through the source name."""
    source = OpencvSource(OpencvConfig(url="rtsp://admin:pa55@cam.local/stream"), rate=1)
    assert "pa55" not in source.name and "cam.local" in source.name


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("gone.avi", None, "file not found"),
        ("notes.avi", b"just some text, not a video\n", "OpenCV cannot read it as a video"),
    ],
    ids=["missing", "not-a-video"],
)
def test_video_file_that_cannot_be_opened_is_an_error(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    name: str,
    content: bytes | None,
    reason: str,
) -> None:
    """A missing or non-video file raises SourceError naming the file and why, with no
    "retrying" line: the daemon exits non-zero instead of reporting a clean end."""
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    source = OpencvSource(OpencvConfig(url=str(path), reconnect_min_delay=0.05), rate=1)
    assert source.live is False
    with pytest.raises(SourceError, match=re.escape(f"cannot open video file {path}: {reason}")):
        take(source, 1)
    assert "retrying" not in caplog.text
