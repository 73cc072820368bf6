"""Backlog mode: read every image of a folder as one text line, as fast as the CPU allows.

    edge-ocr batch FOLDER [--out FILE.jsonl|FILE.csv] [--workers N] [--threads N] ...

How it is fast. Images are loaded (header checked, decoded to gray) and prepared
(height-normalized) in a thread pool while the model runs on the previous window, so decoding
overlaps inference; OpenCV and onnxruntime both release the GIL. Each window of
`batch_size * WINDOW_BATCHES` images is sorted by prepared width and cut into batches, so the
lines of one batch have nearly the same width and little of the tensor is padding. By default
one process runs the model with an intra-op thread per core (inside the memory budget); with
`workers > 1` each worker process runs this same pipeline on its share of the images (every
N-th path) and sends its records to the parent, the only writer of the output (faster, but a
model and its buffers in memory per worker).

How it resumes. The output file is appended to and flushed after every batch; on a restart the
paths already in it are skipped. A record torn by a kill (a last line without its newline, or one
that does not parse) is cut off, so its image is read again: nothing is repeated, nothing is
skipped. Records name each image by its absolute path, so a run resumed from another working
directory skips the same images. One run at a time writes a file: a second one on the same
output is refused (an exclusive lock on it).

An image that cannot be read (corrupt, truncated, not an image, too large) becomes an error
record ({"path", "error"}) and the run goes on.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from edge_ocr import imagefile
from edge_ocr.config import IMAGE_PATTERNS
from edge_ocr.errors import EdgeOcrError, ImageError, SourceError
from edge_ocr.recognizer import DEFAULT_VIEWS, MAX_BATCH_COLUMNS, width_groups
from edge_ocr.sources.folder import is_temporary

log = logging.getLogger(__name__)

# Measured on a 2-core x86 machine with the shipped model (docs/benchmarks.md, "Backlog
# throughput"): worker processes were fastest (about 1.1-1.5x one process) but each loads its
# own model and batch buffers: two came to about 470 MB in all, past the 300 MB budget. Within
# the budget one process with an intra-op thread per core beat one thread (about 1.1-1.2x, in
# 165-180 MB), its decode thread overlapping both. So by default: one process, all cores as
# intra-op threads; --workers N trades memory for the rest.
DEFAULT_WORKERS = 1


def default_threads() -> int:
    """One onnxruntime intra-op thread per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


DEFAULT_BATCH_SIZE = 32
WINDOW_BATCHES = 8  # images sorted by width together: batch_size * WINDOW_BATCHES
MAX_PIXELS = 25_000_000  # like a watched folder's default max_pixels
MAX_FILE_BYTES = 50_000_000
IMAGE_SUFFIXES = tuple(sorted({p.lstrip("*").lower() for p in IMAGE_PATTERNS}))
CSV_COLUMNS = ("path", "text", "confidence", "chars", "batch", "batch_size", "ms", "error")

Record = dict[str, Any]


@dataclass(frozen=True)
class BatchOptions:
    """What `edge-ocr batch` was asked to do."""

    folder: Path
    out: Path | None = None  # None: JSON lines on stdout, no resume
    model: Path | None = None  # None: the shipped model
    workers: int = DEFAULT_WORKERS
    threads: int = 1
    batch_size: int = DEFAULT_BATCH_SIZE
    allowed: str | None = None
    views: int = DEFAULT_VIEWS
    lm: Path | None = None  # character language model (.npz); None: greedy readings
    progress: bool = True


@dataclass
class Summary:
    """What a run did."""

    total: int = 0  # images in the folder
    skipped: int = 0  # already in the output file
    read: int = 0
    errors: int = 0
    seconds: float = 0.0
    batches: int = 0
    padding: float = 0.0  # share of the batch tensors that was padding
    _widths: list[int] = field(default_factory=lambda: [0, 0], repr=False)  # lines, padded

    @property
    def rate(self) -> float:
        """Images per second in this run (errors included)."""
        done = self.read + self.errors
        return done / self.seconds if self.seconds > 0 else 0.0


# --- finding and loading images -------------------------------------------------------------


def list_images(folder: Path) -> list[Path]:
    """The image files directly in `folder` (PNG, JPEG, BMP by suffix), sorted by name."""
    if not folder.is_dir():
        raise SourceError(f"folder not found: {folder}")
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if is_temporary(entry.name) or not entry.name.lower().endswith(IMAGE_SUFFIXES):
                continue
            try:
                if entry.is_file():
                    found.append(folder / entry.name)
            except OSError:
                continue
    return sorted(found)


def load_gray(path: Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read and decode one image to gray after checking its header; ImageError if unusable."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImageError(f"file too large: {size} bytes, more than {MAX_FILE_BYTES}")
        data = path.read_bytes()
    except OSError as err:
        raise ImageError(f"cannot read file: {err.strerror or err}") from err
    if not data:
        raise ImageError("empty file")
    header = imagefile.inspect(data)
    imagefile.check_size(header, max_pixels)
    if not header.complete:
        raise ImageError(f"truncated {header.format.upper()} file")
    return imagefile.decode(data, header)


@dataclass(frozen=True)
class Prepared:
    """One image after loading and preparation: a line for the model, or why there is none."""

    path: Path
    line: np.ndarray | None  # uint8 [height, w]
    error: str | None = None


def prepare_one(recognizer: Any, path: Path) -> Prepared:
    """Load and height-normalize one image; an unusable image carries its error instead."""
    try:
        return Prepared(path, recognizer.prepare(load_gray(path)))
    except (ImageError, ValueError) as err:
        return Prepared(path, None, str(err))
    except Exception as err:  # one odd file must not end a backlog run
        log.exception("unexpected error preparing %s", path)
        return Prepared(path, None, f"{type(err).__name__}: {err}")


# --- the pipeline -----------------------------------------------------------------------------


def by_width(
    lines: Sequence[Prepared], batch_size: int, max_columns: int = MAX_BATCH_COLUMNS
) -> list[list[Prepared]]:
    """Cut prepared lines into batches of similar width (widest first); errors left out.

    A batch holds at most `batch_size` lines and at most `max_columns` columns of padded width
    (lines x widest line), so a batch of wide lines is smaller.
    """
    ok = [p for p in lines if p.line is not None]
    widths = [p.line.shape[1] for p in ok]  # type: ignore[union-attr]
    return [[ok[i] for i in group] for group in width_groups(widths, max_columns, batch_size)]


def recognize_paths(
    recognizer: Any,
    paths: Sequence[Path],
    *,
    batch_size: int,
    mask: np.ndarray | None = None,
    prep_threads: int = 1,
    batch_ids: Iterator[int] | None = None,
) -> Iterator[list[Record]]:
    """Yield the records of `paths`, one list per model batch (error records in lists of their own).

    The next window is loaded and prepared by `prep_threads` threads while the current one is
    recognized.
    """
    window = batch_size * WINDOW_BATCHES
    windows = [paths[i : i + window] for i in range(0, len(paths), window)]
    ids = batch_ids if batch_ids is not None else iter(range(1, 1 << 62))
    multiple = recognizer.info.width_multiple
    with ThreadPoolExecutor(prep_threads, thread_name_prefix="prepare") as pool:

        def submit(chunk: Sequence[Path]) -> list[Future[Prepared]]:
            return [pool.submit(prepare_one, recognizer, p) for p in chunk]

        pending = submit(windows[0]) if windows else []
        for n in range(len(windows)):
            prepared = [f.result() for f in pending]
            pending = submit(windows[n + 1]) if n + 1 < len(windows) else []
            errors = [{"path": str(p.path), "error": p.error} for p in prepared if p.error]
            if errors:
                yield errors
            for group in by_width(prepared, batch_size):
                lines = [p.line for p in group]
                started = time.perf_counter()
                decoded = recognizer.recognize_prepared(lines, [mask] * len(lines))
                ms = (time.perf_counter() - started) * 1000
                batch_id = next(ids)
                width = -(-max(x.shape[1] for x in lines) // multiple) * multiple  # type: ignore[union-attr]
                yield [
                    {
                        "path": str(p.path),
                        "text": d.text,
                        "confidence": round(d.confidence, 4),
                        "chars": [
                            {"char": c, "confidence": round(q, 4)}
                            for c, q in zip(d.text, d.char_confidences, strict=True)
                        ],
                        "batch": batch_id,
                        "batch_size": len(group),
                        "ms": round(ms / len(group), 2),
                        "_widths": (p.line.shape[1], width),  # type: ignore[union-attr]
                    }
                    for p, d in zip(group, decoded, strict=True)
                ]


# --- output: JSON lines or CSV, appended, resumable --------------------------------------------


class Output:
    """The result file: JSON lines, or CSV for a .csv name; appended to, flushed per batch."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.csv = path is not None and path.suffix.lower() == ".csv"
        self.done: set[str] = set()
        self._fd: int | None = None
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.close()
            raise EdgeOcrError(f"{path}: another edge-ocr batch is writing it") from None
        try:
            self.done = self._recover(path)
        except EdgeOcrError:
            self.close()
            raise
        if self.csv and os.fstat(self._fd).st_size == 0:
            self._append(",".join(CSV_COLUMNS) + "\n")

    def _recover(self, path: Path) -> set[str]:
        """The paths already recorded; a torn or unreadable tail is cut off the file."""
        data = path.read_bytes()
        keep = data.rfind(b"\n") + 1  # a last line without its newline was torn by a kill
        done: set[str] = set()
        offset = good_end = 0
        pending = b""  # a CSV record whose quoted file name holds a newline goes on
        for number, raw in enumerate(data[:keep].split(b"\n")[:-1]):
            offset += len(raw) + 1
            if self.csv:
                raw = pending + raw
                if raw.count(b'"') % 2:  # inside quotes: the newline is the field's own
                    pending = raw + b"\n"
                    continue
                pending = b""
            line = raw.decode("utf-8", errors="replace")
            if self.csv and number == 0:
                if line.rstrip("\r\n") != ",".join(CSV_COLUMNS):
                    raise EdgeOcrError(f"{path}: not a CSV file written by edge-ocr batch")
                good_end = offset
                continue
            recorded = self._parse(line)
            if recorded is None:
                log.warning("%s: line %d is damaged; its image is read again", path, number + 1)
                continue
            done.add(os.path.abspath(recorded))
            good_end = offset
        if good_end < len(data):
            torn = len(data) - good_end
            log.warning("%s: cutting off %d byte(s) of a torn last record", path, torn)
            with open(path, "r+b") as f:
                f.truncate(good_end)
        return done

    def _parse(self, line: str) -> str | None:
        """The path a written line records, or None when the line is damaged."""
        if self.csv:
            try:
                row = next(csv.reader([line]))
            except (csv.Error, StopIteration):
                return None
            return row[0] if len(row) == len(CSV_COLUMNS) and row[0] else None
        try:
            record = json.loads(line)
        except ValueError:
            return None
        path = record.get("path") if isinstance(record, dict) else None
        ok = isinstance(path, str) and ("text" in record or "error" in record)
        return path if ok else None

    def write(self, records: Iterable[Record]) -> None:
        """Append records and flush them, so a kill after this call loses none of them."""
        buf = io.StringIO()
        if self.csv:
            writer = csv.writer(buf, lineterminator="\n")
            for r in records:
                writer.writerow(_csv_row(r))
        else:
            for r in records:
                buf.write(json.dumps(_public(r), ensure_ascii=False) + "\n")
        self._append(buf.getvalue())

    def _append(self, text: str) -> None:
        """Write straight to the file (no buffer to lose): a kill tears at most the last line."""
        if self._fd is None:
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        data = memoryview(text.encode("utf-8"))
        while data:
            data = data[os.write(self._fd, data) :]

    def close(self) -> None:
        """Sync the file to disk and close it."""
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None


def _public(record: Record) -> Record:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def _csv_row(r: Record) -> list[str]:
    if "error" in r:
        # One record, one line (a newline in a file name is quoted, and _recover joins it):
        # a newline in a message would break the torn-line check.
        return [r["path"], "", "", "", "", "", "", " ".join(str(r["error"]).split())]
    chars = " ".join(f"{c['confidence']:.4f}" for c in r["chars"])
    return [
        r["path"], r["text"], f"{r['confidence']:.4f}", chars,
        str(r["batch"]), str(r["batch_size"]), f"{r['ms']:.2f}", "",
    ]  # fmt: skip


# --- progress on stderr -------------------------------------------------------------------------


class Progress:
    """A one-line progress bar on stderr (a line every 10 s when stderr is not a terminal)."""

    def __init__(self, total: int, stream: IO[str] | None = None, enabled: bool = True) -> None:
        self.total = total
        self.done = 0
        self.errors = 0
        self._stream = stream or sys.stderr
        self._enabled = enabled and total > 0
        self._tty = self._stream.isatty()
        self._start = time.monotonic()
        self._last = 0.0
        self._every = 0.2 if self._tty else 10.0

    def update(self, done: int, errors: int = 0) -> None:
        self.done += done
        self.errors += errors
        now = time.monotonic()
        if self._enabled and (now - self._last >= self._every or self.done >= self.total):
            self._last = now
            self._draw(now)

    def line(self, now: float | None = None) -> str:
        """The progress line: bar, count, percent, rate, ETA, errors."""
        elapsed = (now or time.monotonic()) - self._start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = self.total - self.done
        eta = _duration(left / rate) if rate > 0 else "?"
        share = self.done / self.total if self.total else 1.0
        bar = "#" * int(share * 24)
        return (
            f"[{bar:<24}] {self.done}/{self.total} {100 * share:5.1f}% "
            f"{rate:6.1f} img/s ETA {eta}" + (f" {self.errors} error(s)" if self.errors else "")
        )

    def _draw(self, now: float) -> None:
        if self._tty:
            self._stream.write("\r" + self.line(now) + "\033[K")
        else:
            self._stream.write(self.line(now) + "\n")
        self._stream.flush()

    def close(self) -> None:
        if self._enabled and self._tty:
            self._stream.write("\n")
            self._stream.flush()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


# --- running ----------------------------------------------------------------------------------


def run(options: BatchOptions, progress_stream: IO[str] | None = None) -> Summary:
    """Read every image of `options.folder` not yet in the output; the run's Summary."""
    if options.batch_size < 1 or options.workers < 1 or options.threads < 1:
        raise ValueError("batch size, workers and threads must be at least 1")
    paths = list_images(Path(os.path.abspath(options.folder)))
    out = Output(options.out)
    summary = Summary(total=len(paths))
    todo = [p for p in paths if str(p) not in out.done]  # both absolute
    summary.skipped = len(paths) - len(todo)
    if summary.skipped:
        log.info("%d of %d image(s) already in %s", summary.skipped, len(paths), options.out)
    progress = Progress(len(todo), progress_stream, enabled=options.progress)
    started = time.monotonic()
    try:
        if todo:
            workers = min(options.workers, -(-len(todo) // options.batch_size))
            batches = (
                _run_in_process(options, todo)
                if workers == 1
                else _run_workers(options, todo, workers)
            )
            for records in batches:
                out.write(records)
                errors = sum(1 for r in records if "error" in r)
                summary.errors += errors
                summary.read += len(records) - errors
                widths = [r["_widths"] for r in records if "_widths" in r]
                if widths:
                    summary.batches += 1
                    summary._widths[0] += sum(line for line, _ in widths)
                    summary._widths[1] += sum(padded for _, padded in widths)
                progress.update(len(records), errors)
    finally:
        summary.seconds = time.monotonic() - started
        if summary._widths[1]:
            summary.padding = 1.0 - summary._widths[0] / summary._widths[1]
        progress.close()
        out.close()
    return summary


def _open_recognizer(options: BatchOptions) -> tuple[Any, np.ndarray | None]:
    import cv2

    from edge_ocr.recognizer import Recognizer, default_model_path

    cv2.setNumThreads(1)  # decode threads, not OpenCV's own pool, use the spare core
    recognizer = Recognizer(
        options.model or default_model_path(), options.threads, options.views, options.lm
    )
    try:
        mask = recognizer.mask(options.allowed)
    except ValueError as err:
        from edge_ocr.errors import ConfigError

        raise ConfigError(f"--allowed: {err}") from err
    return recognizer, mask


def _run_in_process(options: BatchOptions, paths: Sequence[Path]) -> Iterator[list[Record]]:
    recognizer, mask = _open_recognizer(options)
    yield from recognize_paths(recognizer, paths, batch_size=options.batch_size, mask=mask)


def _run_workers(
    options: BatchOptions, paths: Sequence[Path], workers: int
) -> Iterator[list[Record]]:
    """Run `workers` processes on every workers-th path each; yield their batches as they come."""
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited threads
    results: Any = ctx.Queue(maxsize=4 * workers)
    procs = [
        ctx.Process(
            target=_worker_main,
            args=(options, list(paths[k::workers]), k, results, os.getpid()),
            name=f"batch-worker-{k}",
            daemon=True,
        )
        for k in range(workers)
    ]
    for p in procs:
        p.start()
    running = set(range(workers))
    try:
        while running:
            try:
                kind, k, payload = results.get(timeout=1.0)
            except queue.Empty:
                dead = [k for k in running if not procs[k].is_alive()]
                if dead and results.empty():
                    raise EdgeOcrError(
                        f"worker {dead[0]} died (exit {procs[dead[0]].exitcode}); "
                        "run the same command again to finish"
                    ) from None
                continue
            if kind == "batch":
                yield payload
            elif kind == "done":
                running.discard(k)
            else:  # "failed": the worker could not start (model error) or crashed
                raise EdgeOcrError(f"worker {k}: {payload}")
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(5)
        results.close()
        results.cancel_join_thread()


def _worker_main(
    options: BatchOptions, paths: list[Path], k: int, results: Any, parent: int
) -> None:
    """One worker process: its own model, its own decode thread, records to the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    _exit_with_parent(parent)
    try:
        recognizer, mask = _open_recognizer(options)
        ids = iter(range(k + 1, 1 << 62, options.workers))  # batch ids unique across workers
        for records in recognize_paths(
            recognizer, paths, batch_size=options.batch_size, mask=mask, batch_ids=ids
        ):
            results.put(("batch", k, records))
        results.put(("done", k, None))
    except Exception as err:
        results.put(("failed", k, f"{type(err).__name__}: {err}"))
    results.close()
    results.join_thread()


def _exit_with_parent(parent: int, every: float = 0.5) -> None:
    """End this worker when its parent is gone (e.g. killed with -9), instead of idling on.

    `parent` comes from the parent itself: one killed while this worker was starting is
    already gone when this runs, and os.getppid() here would name the new, adoptive parent.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
