"""A watched folder: each finished image file becomes one frame, and is handled exactly once.

When a file is ready. Temporary names (dotfiles, `*.part`, `*.tmp`, `*~`, ...) are ignored, so
a writer that writes under such a name and renames when done is always safe. Other files must
keep the same size, mtime and inode for `settle_seconds` and be seen unchanged by two scans;
then the header is read, and a PNG without IEND, a JPEG without EOI or a short BMP is taken for
a file still being written until it has been unchanged for `incomplete_seconds`, after which it
is failed as truncated. Empty files are treated the same way.

Once only, across restarts. A file stays in the folder until the daemon calls `done` (its
readings are committed to the outbox) or `failed`; only then is it moved (or deleted). A
crash before that leaves the file in place and it is read again at the next start: nothing is
lost, and the one window where a duplicate can happen (readings committed, file not yet moved)
is covered by the payload's stable `reading_id`. Failed files go to the failed folder with a
`<name>.reason.txt` beside them; the reason is written before the move, so a crash between the
two repeats the same move with the same reason. A done or failed folder removed while the daemon
runs is made again. A file that still cannot be moved out (e.g. no permission) is logged once and
left alone until it changes or the daemon restarts: it is never read and published in a loop.
"""

from __future__ import annotations

import fnmatch
import itertools
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from edge_ocr import imagefile
from edge_ocr.config import FolderConfig
from edge_ocr.errors import ImageError, SourceError
from edge_ocr.types import Frame

log = logging.getLogger(__name__)

TEMP_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".download", ".swp", "~")


def is_temporary(name: str) -> bool:
    """True for names that writers use while a file is still being written."""
    lower = name.lower()
    return name.startswith((".", "~")) or lower.endswith(TEMP_SUFFIXES)


@dataclass
class _Seen:
    key: tuple[int, int, int]  # size, mtime_ns, inode
    since: float  # monotonic time the key was first seen
    waiting_key: tuple[int, int, int] | None = None  # looked incomplete at this key
    stuck: bool = False  # handled, but could not be moved out: not read again at this key


class FolderSource:
    """Yields finished image files of one folder, oldest first; see the module docstring."""

    live = False

    def __init__(self, cfg: FolderConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = "folder"
        self._cfg = cfg
        self._clock = clock
        self._seen: dict[str, _Seen] = {}
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.done_count = 0
        self.failed_count = 0
        if not cfg.path.is_dir():
            raise SourceError(f"watched folder not found: {cfg.path}")

    # --- producing frames -------------------------------------------------------------------

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        """Yield each ready file once per run; files not finished stay for the next run."""
        for folder in (self._cfg.failed_folder,) + (
            (self._cfg.done_folder,) if self._cfg.done_action == "move" else ()
        ):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise SourceError(f"cannot create folder {folder}: {err}") from err
        log.info("watching %s for %s", self._cfg.path, " ".join(self._cfg.patterns))
        while not stop.is_set():
            for path, stable_for in self._ready():
                if stop.is_set():
                    return
                frame = self._load(path, stable_for)
                if frame is not None:
                    yield frame
            stop.wait(self._cfg.poll_seconds)

    def close(self) -> None:
        """Nothing to release; files not yet done stay where they are."""

    def _matches(self, name: str) -> bool:
        return not is_temporary(name) and any(
            fnmatch.fnmatchcase(name.lower(), p.lower()) for p in self._cfg.patterns
        )

    def _ready(self) -> list[tuple[Path, float]]:
        """Files unchanged long enough, oldest first, with how long they have been unchanged."""
        now = self._clock()
        wall = time.time()
        present: set[str] = set()
        ready: list[tuple[int, str, float]] = []
        try:
            entries = list(os.scandir(self._cfg.path))
        except OSError as err:
            log.warning("cannot list %s: %s", self._cfg.path, err)
            return []
        with self._lock:
            for entry in entries:
                name = entry.name
                if not self._matches(name):
                    continue
                try:
                    if not entry.is_file():
                        continue
                    st = entry.stat()
                except OSError:
                    continue  # vanished between listing and stat
                present.add(name)
                if name in self._in_flight:
                    continue
                key = (st.st_size, st.st_mtime_ns, st.st_ino)
                seen = self._seen.get(name)
                if seen is None or seen.key != key:
                    self._seen[name] = _Seen(key, now)
                    continue
                if seen.stuck:
                    continue
                # Unchanged across two scans: its age by mtime counts as stable time too, so
                # files already waiting at start-up go at once.
                stable_for = max(now - seen.since, wall - st.st_mtime)
                if stable_for < self._cfg.settle_seconds:
                    continue
                if seen.waiting_key == key and stable_for < self._cfg.incomplete_seconds:
                    continue  # looked unfinished and has not changed since: no need to re-read
                ready.append((st.st_mtime_ns, name, stable_for))
            for name in list(self._seen):
                if name not in present:
                    del self._seen[name]
        ready.sort()
        return [(self._cfg.path / name, stable_for) for _, name, stable_for in ready]

    def _load(self, path: Path, stable_for: float) -> Frame | None:
        """Read and decode one file; fail it (moved, with a reason) when it is unusable."""
        cfg = self._cfg
        try:
            st = path.stat()
            if st.st_size == 0:
                return self._unfinished(path, stable_for, "empty file (0 bytes)")
            if st.st_size > cfg.max_file_bytes:
                raise ImageError(
                    f"file too large: {st.st_size} bytes, more than max_file_bytes "
                    f"{cfg.max_file_bytes}"
                )
            data = path.read_bytes()
            try:
                header = imagefile.inspect(data)
            except imagefile.Truncated as err:
                return self._unfinished(path, stable_for, str(err))
            imagefile.check_size(header, cfg.max_pixels)
            if not header.complete:
                return self._unfinished(
                    path,
                    stable_for,
                    f"truncated {header.format.upper()} file: the end marker is missing",
                )
            image = imagefile.decode(data, header)
            del data
        except FileNotFoundError:
            return None  # removed by someone else; forgotten at the next scan
        except ImageError as err:
            self._fail_path(path, str(err))
            return None
        except OSError as err:
            self._fail_path(path, f"cannot read file: {err.strerror or err}")
            return None
        with self._lock:
            self._in_flight.add(path.name)
        return Frame(
            image=image,
            frame_id=next(self._ids),
            source=self.name,
            captured_at=st.st_mtime,
            path=path,
        )

    def _unfinished(self, path: Path, stable_for: float, reason: str) -> Frame | None:
        """Wait for a file that looks unfinished; fail it once it has waited long enough."""
        if stable_for >= self._cfg.incomplete_seconds:
            self._fail_path(path, f"{reason} (unchanged for {stable_for:.0f} s)")
            return None
        with self._lock:
            seen = self._seen.get(path.name)
            if seen is not None:
                seen.waiting_key = seen.key
        log.debug("%s looks unfinished (%s); waiting", path.name, reason)
        return None

    # --- settling files ---------------------------------------------------------------------

    def done(self, frame: Frame) -> None:
        """The frame's readings are safely in the outbox: move or delete its file."""
        path = _path_of(frame)
        try:
            if self._cfg.done_action == "delete":
                path.unlink()
                _fsync_dir(path.parent)
            else:
                _make_folder(self._cfg.done_folder)
                _move(path, self._cfg.done_folder)
        except OSError as err:
            if _vanished(path, err):
                log.warning("%s vanished before it could be marked done", path)
            else:
                # It stays in the folder and would be read again after a restart: say so loudly.
                log.error(
                    "cannot %s %s: %s; it is not read again until it changes or the daemon "
                    "restarts",
                    self._cfg.done_action,
                    path,
                    err,
                )
                self._hold(path)
                return
        self._forget(path.name)
        self.done_count += 1

    def failed(self, frame: Frame, reason: str) -> None:
        """The frame could not be read: move its file to the failed folder with the reason."""
        self._fail_path(_path_of(frame), reason)

    def release(self, frame: Frame) -> None:
        """Hand a file back untouched (e.g. the outbox was full); it is read again later."""
        self._forget(_path_of(frame).name)

    def _forget(self, name: str) -> None:
        with self._lock:
            self._in_flight.discard(name)
            self._seen.pop(name, None)

    def _hold(self, path: Path) -> None:
        """Keep a file that could not be moved out from being read again while it is unchanged.

        Forgetting it instead would have the next scan read and publish it again, every poll.
        """
        try:
            st = path.stat()
        except OSError:
            self._forget(path.name)  # gone after all: nothing left to read again
            return
        with self._lock:
            self._in_flight.discard(path.name)
            key = (st.st_size, st.st_mtime_ns, st.st_ino)
            self._seen[path.name] = _Seen(key, self._clock(), stuck=True)

    def _fail_path(self, path: Path, reason: str) -> None:
        log.warning("%s failed: %s", path.name, reason)
        folder = self._cfg.failed_folder
        try:
            _make_folder(folder)
            target = _free_name(folder, path.name)
            note = target.with_name(target.name + ".reason.txt")
            note.write_text(f"{path.name}: {reason}\n", encoding="utf-8")
            _move(path, folder, target)
        except OSError as err:
            if _vanished(path, err):
                self._forget(path.name)
                return
            log.error(
                "cannot move %s to %s: %s; it is not read again until it changes or the daemon "
                "restarts",
                path,
                folder,
                err,
            )
            self._hold(path)
            return
        self._forget(path.name)
        self.failed_count += 1


def _path_of(frame: Frame) -> Path:
    if frame.path is None:
        raise ValueError("not a frame from a folder")
    return frame.path


def _free_name(folder: Path, name: str) -> Path:
    """`folder/name`, or `folder/stem-1.ext`, ... when a file of that name is already there."""
    target = folder / name
    stem, suffix = os.path.splitext(name)
    n = 0
    while target.exists():
        n += 1
        target = folder / f"{stem}-{n}{suffix}"
    return target


def _vanished(path: Path, err: OSError) -> bool:
    """True when `err` came from `path` itself being gone, not from a missing target folder."""
    return isinstance(err, FileNotFoundError) and not os.path.lexists(path)


def _make_folder(folder: Path) -> None:
    """Make a done/failed folder again when someone removed it while the daemon runs."""
    if folder.is_dir():
        return
    if not os.path.lexists(folder):
        log.warning("%s is missing; making it again", folder)
    folder.mkdir(parents=True, exist_ok=True)  # FileExistsError when a file is in its place


def _move(path: Path, folder: Path, target: Path | None = None) -> None:
    """Move a file into `folder` durably (rename, or copy and delete across filesystems)."""
    target = target or _free_name(folder, path.name)
    try:
        os.rename(path, target)
    except OSError as err:
        if err.errno != 18:  # EXDEV: another filesystem
            raise
        shutil.copy2(path, target)
        with open(target, "rb") as f:
            os.fsync(f.fileno())
        path.unlink()
    _fsync_dir(folder)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
