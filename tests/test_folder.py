"""edge_ocr.sources.folder: finished files only, each once, failures moved aside with a reason."""

from __future__ import annotations

import os
import shutil
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
from conftest_daemon import draw, wait_until, write_image

from edge_ocr.config import FolderConfig
from edge_ocr.sources.folder import FolderSource
from edge_ocr.types import Frame


def make_source(inbox: Path, **kw: object) -> FolderSource:
    opts: dict[str, object] = {
        "path": inbox,
        "settle_seconds": 0.2,
        "poll_seconds": 0.05,
        "incomplete_seconds": 0.6,
    }
    opts.update(kw)
    return FolderSource(FolderConfig(**opts))  # type: ignore[arg-type]


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


class Runner:
    """Runs a source's frames() on a thread and collects what it yields."""

    def __init__(self, source: FolderSource) -> None:
        self.source = source
        self.frames: list[Frame] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for frame in self.source.frames(self.stop):
            self.frames.append(frame)

    def names(self) -> list[str]:
        return [f.path.name for f in self.frames if f.path is not None]

    def wait(self, count: int, timeout: float = 10.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while len(self.frames) < count:
            assert time.monotonic() < deadline, f"only {self.names()}"
            time.sleep(0.02)
        return self.names()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


@pytest.fixture
def run() -> Iterator[object]:
    runners: list[Runner] = []

    def start(source: FolderSource) -> Runner:
        runners.append(Runner(source))
        return runners[-1]

    yield start
    for r in runners:
        r.close()


def png_bytes(text: str = "AB12") -> bytes:
    return cv2.imencode(".png", draw(text))[1].tobytes()


def test_finished_file_is_read_as_a_gray_frame(inbox: Path, run: object) -> None:
    """A PNG dropped in the folder becomes one grayscale frame carrying its path."""
    write_image(inbox / "a.png", draw("HELLO"))
    r = run(make_source(inbox))  # type: ignore[operator]
    assert r.wait(1) == ["a.png"]
    assert r.frames[0].image.ndim == 2 and r.frames[0].path == inbox / "a.png"


def test_patterns_ignore_the_case_of_file_names(inbox: Path, run: object) -> None:
    """Cameras and phones write .JPG or .Png: the default patterns take every case; other files
    are left alone."""
    for name in ("a.PNG", "b.Png", "c.jpeg"):
        (inbox / name).write_bytes(png_bytes())
    (inbox / "notes.txt").write_text("not an image")
    r = run(make_source(inbox))  # type: ignore[operator]
    assert sorted(r.wait(3)) == ["a.PNG", "b.Png", "c.jpeg"]
    time.sleep(0.3)
    assert len(r.frames) == 3


def test_file_being_written_is_not_read_half_way(inbox: Path, run: object) -> None:
    """A file still growing is read only after its last write, whole."""
    data = png_bytes()
    r = run(make_source(inbox, settle_seconds=0.3))  # type: ignore[operator]
    with open(inbox / "slow.png", "wb") as f:
        for i in range(0, len(data), max(1, len(data) // 8)):
            f.write(data[i : i + max(1, len(data) // 8)])
            f.flush()
            time.sleep(0.1)
            assert r.frames == []
    r.wait(1)
    assert r.frames[0].image.shape == draw("AB12").shape[:2]


def test_temporary_names_are_ignored(inbox: Path, run: object) -> None:
    """.part, ~ and dotfiles are never read, however long they sit there."""
    for name in ("x.png.part", "x.png~", ".x.png", "x.png.tmp"):
        (inbox / name).write_bytes(png_bytes())
    write_image(inbox / "real.png", draw("A"))
    r = run(make_source(inbox))  # type: ignore[operator]
    assert r.wait(1) == ["real.png"]
    time.sleep(0.5)
    assert r.names() == ["real.png"]


def test_each_file_is_yielded_once(inbox: Path, run: object) -> None:
    """A file not yet marked done is not yielded again by the same run."""
    write_image(inbox / "a.png", draw("A"))
    r = run(make_source(inbox))  # type: ignore[operator]
    r.wait(1)
    time.sleep(0.5)
    assert r.names() == ["a.png"]


def test_done_moves_the_file_to_the_done_folder(inbox: Path, run: object) -> None:
    """done() moves the file out of the watched folder into done/."""
    write_image(inbox / "a.png", draw("A"))
    source = make_source(inbox)
    r = run(source)  # type: ignore[operator]
    r.wait(1)
    source.done(r.frames[0])
    assert not (inbox / "a.png").exists() and (inbox / "done" / "a.png").exists()


def test_done_with_delete_removes_the_file(inbox: Path, run: object) -> None:
    """done_action: delete deletes instead of moving."""
    write_image(inbox / "a.png", draw("A"))
    source = make_source(inbox, done_action="delete")
    r = run(source)  # type: ignore[operator]
    r.wait(1)
    source.done(r.frames[0])
    assert list(inbox.rglob("a.png")) == []


def test_same_name_dropped_again_does_not_overwrite_done_file(inbox: Path, run: object) -> None:
    """A second file of the same name is kept beside the first in done/."""
    source = make_source(inbox)
    r = run(source)  # type: ignore[operator]
    for i in range(2):
        write_image(inbox / "a.png", draw("A"))
        r.wait(i + 1)
        source.done(r.frames[i])
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["a-1.png", "a.png"]


def test_file_not_done_is_read_again_after_restart(inbox: Path, run: object) -> None:
    """A file yielded but never marked done (a crash) is read again by a new source."""
    write_image(inbox / "a.png", draw("A"))
    first = run(make_source(inbox))  # type: ignore[operator]
    first.wait(1)
    first.close()
    second = run(make_source(inbox))  # type: ignore[operator]
    assert second.wait(1) == ["a.png"]


def test_done_file_is_not_read_after_restart(inbox: Path, run: object) -> None:
    """A file marked done is not read by a new source."""
    write_image(inbox / "a.png", draw("A"))
    source = make_source(inbox)
    first = run(source)  # type: ignore[operator]
    first.wait(1)
    source.done(first.frames[0])
    first.close()
    write_image(inbox / "b.png", draw("B"))
    second = run(make_source(inbox))  # type: ignore[operator]
    assert second.wait(1) == ["b.png"]
    time.sleep(0.3)
    assert second.names() == ["b.png"]


def test_files_are_read_oldest_first(inbox: Path, run: object) -> None:
    """Files waiting together are read in order of modification time."""
    for i, name in enumerate(["c.png", "a.png", "b.png"]):
        write_image(inbox / name, draw(name))
        t = time.time() - 100 + i
        os.utime(inbox / name, (t, t))
    r = run(make_source(inbox))  # type: ignore[operator]
    assert r.wait(3) == ["c.png", "a.png", "b.png"]


def huge_png() -> bytes:
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    idat = zlib.compress(b"\0" * 1000)
    body = struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(">I", zlib.crc32(idat))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + chunk + body + end


def corrupt_png() -> bytes:
    data = bytearray(png_bytes())
    data[50:-20] = b"\x55" * (len(data) - 70)
    return bytes(data)


BAD_FILES = {
    "empty.png": (b"", "empty file"),
    "truncated.jpg": (cv2.imencode(".jpg", draw("TRUNC"))[1].tobytes()[:600], "truncated JPEG"),
    "huge.png": (huge_png(), "too large: 20000x20000"),
    "notes.png": (b"just some text, not an image\n", "not a supported image"),
    "corrupt.png": (corrupt_png(), "cannot decode"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_unusable_file_is_moved_to_failed_with_a_reason(
    inbox: Path, run: object, name: str
) -> None:
    """Empty, truncated, huge, non-image and corrupt files go to failed/ with <name>.reason.txt."""
    data, reason = BAD_FILES[name]
    (inbox / name).write_bytes(data)
    source = make_source(inbox)
    r = run(source)  # type: ignore[operator]
    note = inbox / "failed" / f"{name}.reason.txt"
    deadline = time.monotonic() + 10
    while not note.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert reason in note.read_text()
    assert (inbox / "failed" / name).exists() and not (inbox / name).exists()
    assert r.frames == []


def test_bad_file_does_not_stop_the_good_ones(inbox: Path, run: object) -> None:
    """Files after a failed one are still read."""
    (inbox / "bad.png").write_bytes(b"garbage")
    write_image(inbox / "good.png", draw("OK"))
    r = run(make_source(inbox))  # type: ignore[operator]
    assert r.wait(1) == ["good.png"]


def test_truncated_file_completed_in_time_is_read(inbox: Path, run: object) -> None:
    """A file missing its end marker is waited for, and read once completed."""
    data = png_bytes()
    (inbox / "late.png").write_bytes(data[:-30])
    r = run(make_source(inbox, incomplete_seconds=30))  # type: ignore[operator]
    time.sleep(0.6)
    assert r.frames == []
    with open(inbox / "late.png", "ab") as f:
        f.write(data[-30:])
    assert r.wait(1) == ["late.png"]


def test_failed_via_the_daemon_records_its_reason(inbox: Path, run: object) -> None:
    """failed(frame, reason) moves a yielded file aside with that reason."""
    write_image(inbox / "a.png", draw("A"))
    source = make_source(inbox)
    r = run(source)  # type: ignore[operator]
    r.wait(1)
    source.failed(r.frames[0], "recognition failed: boom")
    assert (
        inbox / "failed" / "a.png.reason.txt"
    ).read_text() == "a.png: recognition failed: boom\n"


def test_huge_image_is_refused_without_decoding(inbox: Path, run: object) -> None:
    """The 20000x20000 image is refused quickly, and memory does not grow by its pixels."""
    import resource

    (inbox / "huge.png").write_bytes(huge_png())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r = run(make_source(inbox))  # type: ignore[operator]
    deadline = time.monotonic() + 10
    while not (inbox / "failed" / "huge.png").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 100_000 and r.frames == []


def test_removed_done_and_failed_folders_are_made_again(inbox: Path, run: object) -> None:
    """With done/ and failed/ removed while running, a good file is read once and moved to a new
    done/, and a corrupt one to a new failed/ with its reason; neither is read again."""
    source = make_source(inbox)
    r = run(source)  # type: ignore[operator]
    wait_until(lambda: (inbox / "done").is_dir() and (inbox / "failed").is_dir())
    shutil.rmtree(inbox / "done")
    shutil.rmtree(inbox / "failed")
    write_image(inbox / "good.png", draw("OK"))
    (inbox / "corrupt.png").write_bytes(corrupt_png())
    r.wait(1)
    source.done(r.frames[0])
    note = inbox / "failed" / "corrupt.png.reason.txt"
    wait_until(note.exists)
    time.sleep(0.5)  # ten polls: time enough to read either file again
    assert r.names() == ["good.png"]
    assert (inbox / "done" / "good.png").exists() and not (inbox / "good.png").exists()
    assert (inbox / "failed" / "corrupt.png").exists() and not (inbox / "corrupt.png").exists()
    assert "cannot decode" in note.read_text()
    assert (source.done_count, source.failed_count) == (1, 1)


def test_file_that_cannot_be_moved_is_not_read_again(
    inbox: Path, run: object, caplog: pytest.LogCaptureFixture
) -> None:
    """When done/ and failed/ cannot be made (a file is in their place), a good and a corrupt
    file stay where they are, the good one is read once, and each error is logged once."""
    source = make_source(inbox)
    r = run(source)  # type: ignore[operator]
    wait_until(lambda: (inbox / "done").is_dir() and (inbox / "failed").is_dir())
    for folder in ("done", "failed"):
        (inbox / folder).rmdir()
        (inbox / folder).write_text("not a folder\n")
    write_image(inbox / "good.png", draw("OK"))
    (inbox / "corrupt.png").write_bytes(corrupt_png())
    r.wait(1)
    source.done(r.frames[0])
    wait_until(lambda: "corrupt.png to" in caplog.text)
    time.sleep(0.5)
    assert r.names() == ["good.png"]
    assert (inbox / "good.png").exists() and (inbox / "corrupt.png").exists()
    assert caplog.text.count(f"cannot move {inbox / 'good.png'}") == 1
    assert caplog.text.count(f"cannot move {inbox / 'corrupt.png'}") == 1
