"""Benchmarks edge-ocr beside Tesseract 5 (in process) and RapidOCR (PP-OCRv4 rec, onnxruntime).

    python -m scripts.bench --out docs/benchmarks.md        # everything: ~5 min on 2 cores
    python -m scripts.bench --out /tmp/bench.md --quick     # small counts: a smoke run, ~1 min
    python -m scripts.bench --sections soak --frames 20000  # one section

On the 2-core x86 machine of docs/benchmarks.md the full run takes about 5 minutes; the soak
reads about 200 frames/s there, so its default 20000 frames take under 2 minutes (a Pi 4 should
need several times as long: scale by the frame latency).

Sections, all measured in one run on the same machine and the same generated inputs:

- `line`: latency per text line, one thread: scripts.evaluate's worker (each system in a
  process of its own) on label crops made by scripts/synth.py.
- `frame`: latency per 640x480 frame with 1, 4 and 8 fields, end to end through the daemon's
  own pipeline (config -> Daemon.recognize: regions -> recognizer -> validate, no MQTT); the
  peers read the same crops (from regions.extract) one by one.
- `backlog`: images/s over a folder of label crops (PNG): `edge-ocr batch` one image at a time,
  batched, and on all cores (intra-op threads vs worker processes); the peers serially and in
  one process per core. Wall time of the whole command, start-up and model load included.
- `memory`: peak RSS (VmHWM, /proc) of a real `edge-ocr run` on a folder source with a real
  mosquitto, beside the peak RSS of each system's `line` and `backlog` processes.
- `soak`: `--frames` frames (default 20000) through a real `edge-ocr run` from a looped video
  file with 4 fields, RSS sampled; growth after warm-up and peak RSS.

The Markdown report goes to --out, every number also to --json, and the plots to the --out
file's name with .png. Peers are set up by scripts/install-eval-deps.sh; matplotlib comes with
the `eval` extra.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from scripts.charsets import DEFAULT_CHARSET, read_charset

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
SECTIONS = ("line", "frame", "backlog", "memory", "soak")
FRAME_SIZE = (640, 480)
FIELD_COUNTS = (1, 4, 8)
ROW_HEIGHT = 60  # 8 fields stacked in a 480 px frame
MB = 1024 * 1024
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
TARGETS = {"backlog_images_s": 40.0, "soak_growth_mb": 5.0, "soak_peak_mb": 150.0}


@dataclass
class Sizes:
    """How much work each section does; --quick shrinks every count."""

    line_images: int = 500
    frames: int = 20  # distinct frames per field count
    frame_calls: int = 200  # timed calls per field count (ours)
    peer_frame_calls: int = 40
    backlog_images: int = 1000
    repeats: int = 3
    daemon_images: int = 300
    soak_frames: int = 20000

    @classmethod
    def quick(cls) -> Sizes:
        return cls(60, 5, 30, 10, 200, 1, 40, 600)


# --- measuring helpers -------------------------------------------------------------------------


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min, max and (for 5 or more values) the 5th and 95th percentile."""
    a = np.asarray(values, dtype=np.float64)
    out = {"median": float(np.median(a)), "min": float(a.min()), "max": float(a.max())}
    out["p5"], out["p95"] = (float(x) for x in np.percentile(a, [5, 95]))
    out["n"] = len(a)
    return out


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process in bytes (empty when it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    out = {}
    for key in ("VmRSS", "VmHWM"):
        m = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
        if m:
            out[key] = int(m.group(1)) * 1024
    return out


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (Linux /proc/PID/task/*/children)."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return pids


class RssSampler:
    """Samples a process tree's RSS in a thread: the series, and each process's peak (VmHWM)."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        self.pid = pid
        self.every = every
        self.series: list[tuple[float, float]] = []  # (seconds since start, tree RSS MB)
        self.peaks: dict[int, int] = {}  # pid -> VmHWM bytes
        self.marks: dict[str, float] = {}
        self._stop = threading.Event()
        self._start = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every)

    def sample(self) -> float:
        total = 0
        for p in process_tree(self.pid):
            st = proc_status(p)
            total += st.get("VmRSS", 0)
            if "VmHWM" in st:
                self.peaks[p] = max(self.peaks.get(p, 0), st["VmHWM"])
        mb = total / MB
        if total:
            self.series.append((time.monotonic() - self._start, mb))
        return mb

    @property
    def peak_mb(self) -> float:
        """The largest peak of one process of the tree (the main one, for our daemon)."""
        return max(self.peaks.values(), default=0) / MB

    @property
    def tree_peak_mb(self) -> float:
        """The largest sampled sum of the tree's RSS (all worker processes together)."""
        return max((mb for _, mb in self.series), default=0.0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def timed_command(command: Sequence[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a command to its end; wall seconds, exit status, stderr tail, RSS peaks."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        command,
        cwd=REPO,
        env=env or _env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampler = RssSampler(proc.pid)
    _, stderr = proc.communicate()
    seconds = time.perf_counter() - started
    sampler.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed ({proc.returncode}): {stderr[-2000:]}")
    return {
        "seconds": seconds,
        "stderr": stderr[-2000:],
        "peak_mb": sampler.peak_mb,
        "tree_peak_mb": sampler.tree_peak_mb,
    }


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_THREAD_LIMIT="1", **extra)
    env.pop("NOTIFY_SOCKET", None)
    return env


# --- inputs ------------------------------------------------------------------------------------


def synth_folder(out: Path, count: int, seed: int) -> Path:
    """`count` label crops as PNGs (out/png/*.png) with out/labels.tsv, by scripts/synth.py."""
    command = [
        sys.executable, "-m", "scripts.synth", "--charset", str(DEFAULT_CHARSET), "--out", str(out),
        "--count", str(count), "--seed", str(seed), "--kind", "label", "--png",
        "--workers", str(os.cpu_count() or 1),
    ]  # fmt: skip
    subprocess.run(command, cwd=REPO, env=_env(), check=True, capture_output=True)
    return out


def field_rects(count: int) -> list[tuple[int, int, int, int]]:
    """The rect of each field: rows of ROW_HEIGHT px, full width less a margin."""
    return [(10, i * ROW_HEIGHT + 2, FRAME_SIZE[0] - 20, ROW_HEIGHT - 4) for i in range(count)]


def draw_frame(
    lines: Sequence[np.ndarray], rng: np.random.Generator, fields: int = 8
) -> np.ndarray:
    """A 640x480 BGR frame: a gray, noisy plate with one label line in each field's rect."""
    w, h = FRAME_SIZE
    frame = rng.normal(170, 12, (h, w)).clip(0, 255).astype(np.uint8)
    for (x, y, rw, rh), line in zip(field_rects(fields), lines, strict=False):
        scale = min((rh - 8) / line.shape[0], (rw - 8) / line.shape[1])
        small = cv2.resize(line, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        sh, sw = small.shape
        oy, ox = y + (rh - sh) // 2, x + 4
        frame[oy : oy + sh, ox : ox + sw] = small
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)


def label_lines(count: int, seed: int) -> list[tuple[np.ndarray, str]]:
    """`count` generated label crops with their text."""
    from scripts.synth import LineGenerator

    charset = read_charset()
    gen = LineGenerator(charset, seed, kind="label")
    return [gen.sample() for _ in range(count)]


def write_config(folder: Path, model: Path, field_count: int, **sections: Any) -> Path:
    """A daemon config in `folder`: `field_count` rect fields (0: the whole image), `sections`
    merged in."""
    import yaml

    inbox = folder / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    cfg: dict[str, Any] = {
        "device_id": "bench",
        "log_level": "WARNING",
        "model": {"path": str(model)},
        "source": {"type": "folder", "folder": {"path": str(inbox)}},
        "fields": [
            {"name": f"f{i}", "rect": list(r)} for i, r in enumerate(field_rects(field_count))
        ],
        "mqtt": {"homeassistant_discovery": False},
        "outbox": {"path": str(folder / "outbox.sqlite3")},
        "health": {"status_interval": 0.5},
    }
    for key, value in sections.items():
        cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
    path = folder / "edge-ocr.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


class Broker:
    """A private mosquitto on a free port (as tests/conftest.py starts one)."""

    def __init__(self, folder: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        conf = folder / "mosquitto.conf"
        user = "user root\n" if os.geteuid() == 0 else ""
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n{user}"
        )
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("mosquitto did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class DaemonRun:
    """`python -m edge_ocr run` as a subprocess with a notify socket to read its STATUS=."""

    def __init__(self, folder: Path, config: Path) -> None:
        self.notify_path = folder / "notify.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.notify_path))
        self.sock.settimeout(0.1)
        self.frames = 0
        self.ready = False
        self.log = folder / "daemon.log"
        with self.log.open("ab") as log_file:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edge_ocr", "run", "--config", str(config)],
                cwd=folder,
                env={**_env(), "NOTIFY_SOCKET": str(self.notify_path)},
                stdout=log_file,
                stderr=log_file,
            )

    def poll_status(self) -> None:
        """Read pending datagrams: READY=1 and the processed frame count from STATUS=."""
        while True:
            try:
                data = self.sock.recv(4096).decode()
            except (TimeoutError, BlockingIOError):
                return
            self.ready = self.ready or "READY=1" in data.split("\n")
            m = re.search(r"STATUS=(\d+) frames", data)
            if m:
                self.frames = int(m.group(1))

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daemon did not start:\n{self.log.read_text()[-3000:]}")
            self.poll_status()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.sock.close()
        return self.proc.returncode


# --- sections ---------------------------------------------------------------------------------


def peer_specs() -> list[Any]:
    """The peer systems as scripts.evaluate names them: Tesseract line mode, PP-OCRv4 rec."""
    from importlib.util import find_spec

    from scripts.evaluate import expand_peers

    return expand_peers("tesseract-psm7,rapidocr", find_spec("tesserocr") is not None)


def bench_line(model: Path, synth: Path, sizes: Sizes, work: Path) -> dict[str, Any]:
    """Per-line latency with one thread, through scripts.evaluate's per-system workers."""
    from edge_ocr.charlm import default_lm_path
    from scripts.evaluate import EvalSet, model_specs, run_worker

    jobs = work / "line-jobs"
    jobs.mkdir()
    results = []
    ours = model_specs([str(model)], [(3, True)], str(default_lm_path()))  # the daemon's way
    for spec in ours + peer_specs():
        log.info("line latency: %s", spec.name)
        r = run_worker(spec, EvalSet("synth", str(synth)), sizes.line_images, 1, jobs)
        r.pop("predictions", None)
        results.append(r)
    return {"systems": results}


def _frame_config(work: Path, model: Path, fields: int) -> Any:
    from edge_ocr import config

    folder = work / f"frame-{fields}"
    folder.mkdir()
    return config.load(write_config(folder, model, fields))


def bench_frame(model: Path, sizes: Sizes, work: Path) -> dict[str, Any]:
    """Per-frame latency through Daemon.recognize, and the same crops through each peer."""
    from edge_ocr import regions
    from edge_ocr.daemon import Daemon
    from edge_ocr.types import Frame
    from scripts.evaluate import open_reader

    rng = np.random.default_rng(7)
    lines = [img for img, _ in label_lines(sizes.frames * 8, seed=11)]
    frames = [draw_frame(lines[i * 8 : i * 8 + 8], rng) for i in range(sizes.frames)]
    peers = {}
    for spec in peer_specs():
        try:
            peers[spec.name] = open_reader(spec, 1)
        except Exception as err:  # a peer that is not installed is left out, not fatal
            log.warning("%s left out of the frame benchmark: %s", spec.name, err)
    out: dict[str, Any] = {}
    for fields in FIELD_COUNTS:
        cfg = _frame_config(work, model, fields)
        daemon = Daemon(cfg)
        # The daemon's own loading and per-frame path, without the publisher and the source.
        daemon._recognizer, daemon._masks = Daemon._load_model(cfg)
        made = [Frame(f, i, "bench", time.time()) for i, f in enumerate(frames)]
        for frame in made[:3]:
            daemon.recognize(frame)
        times = []
        for n in range(sizes.frame_calls):
            started = time.perf_counter()
            daemon.recognize(made[n % len(made)])
            times.append(time.perf_counter() - started)
        row = {"edge-ocr": spread([t * 1000 for t in times])}
        for name, reader in peers.items():
            for region in regions.extract(made[0], cfg.fields, cfg.labels):
                reader.read(region.crop)  # warm-up
            times = []
            for n in range(sizes.peer_frame_calls):
                started = time.perf_counter()
                for region in regions.extract(made[n % len(made)], cfg.fields, cfg.labels):
                    reader.read(region.crop)
                times.append(time.perf_counter() - started)
            row[name] = spread([t * 1000 for t in times])
        out[str(fields)] = row
        log.info(
            "frame, %d field(s): %s",
            fields,
            ", ".join(f"{k} {v['median']:.1f} ms" for k, v in row.items()),
        )
    return out


def bench_backlog(model: Path, images: Path, sizes: Sizes, work: Path) -> dict[str, Any]:
    """Images/s of `edge-ocr batch` configurations and of the peers, on one folder of PNGs."""
    cores = os.cpu_count() or 1
    count = len(list(images.glob("*.png")))
    configs = [
        ("edge-ocr, one at a time", 1, 1, 1),
        ("edge-ocr, batched", 1, 1, 32),
        (f"edge-ocr, batched, 1 process x {cores} threads", 1, cores, 32),
        (f"edge-ocr, batched, {cores} processes x 1 thread", cores, 1, 32),
    ]
    rows = []
    out_file = work / "backlog.jsonl"
    for name, workers, threads, batch_size in configs:
        rates, peaks, tree_peaks, engine = [], [], [], []
        for _ in range(sizes.repeats):
            out_file.unlink(missing_ok=True)
            command = [
                sys.executable, "-m", "edge_ocr", "batch", str(images), "--out", str(out_file),
                "--model", str(model), "--workers", str(workers), "--threads", str(threads),
                "--batch-size", str(batch_size), "--no-progress",
            ]  # fmt: skip
            r = timed_command(command)
            rates.append(count / r["seconds"])
            peaks.append(r["peak_mb"])
            tree_peaks.append(r["tree_peak_mb"])
            m = re.search(r"([\d.]+) images/s", r["stderr"])
            engine.append(float(m.group(1)) if m else float("nan"))
        rows.append(
            {
                "system": name,
                "kind": "ours",
                "workers": workers,
                "threads": threads,
                "batch_size": batch_size,
                "images_s": spread(rates),
                "engine_images_s": float(np.median(engine)),
                "peak_mb": max(peaks),
                "tree_peak_mb": max(tree_peaks),
            }
        )
        log.info("backlog %s: %.1f images/s", name, rows[-1]["images_s"]["median"])
    steady = _steady_state(model, images, work, cores, copies=5)
    listing = work / "backlog-images.txt"
    listing.write_text("\n".join(str(p) for p in sorted(images.glob("*.png"))) + "\n")
    for spec in peer_specs():
        for procs in sorted({1, cores}):
            rates, peaks, tree_peaks = [], [], []
            for _ in range(1):  # the peers are slow: one run each
                commands = [
                    [
                        sys.executable,
                        "-m",
                        "scripts.bench",
                        "--peer-backlog",
                        json.dumps({"name": spec.name, "kind": spec.kind, "psm": spec.psm}),
                        "--peer-images",
                        str(listing),
                        "--shard",
                        f"{k}/{procs}",
                    ]  # fmt: skip
                    for k in range(procs)
                ]
                started = time.perf_counter()
                try:
                    with ThreadPoolExecutor(procs) as pool:  # the processes run side by side
                        results = list(pool.map(timed_command, commands))
                except RuntimeError as err:  # e.g. the peer is not installed
                    log.warning("%s left out of the backlog benchmark: %s", spec.name, err)
                    break
                rates.append(count / (time.perf_counter() - started))
                peaks.append(max(r["peak_mb"] for r in results))
                tree_peaks.append(sum(r["tree_peak_mb"] for r in results))
            if not rates:
                continue
            label = f"{spec.name}, {'serial' if procs == 1 else f'{procs} processes'}"
            rows.append(
                {
                    "system": label,
                    "kind": spec.name,
                    "workers": procs,
                    "threads": 1,
                    "batch_size": 1,
                    "images_s": spread(rates),
                    "peak_mb": max(peaks),
                    "tree_peak_mb": max(tree_peaks),
                }
            )
            log.info("backlog %s: %.1f images/s", label, rows[-1]["images_s"]["median"])
    return {"images": count, "rows": rows, "steady": steady}


def _steady_state(model: Path, images: Path, work: Path, cores: int, copies: int) -> dict[str, Any]:
    """Our all-core choices on `copies` times the backlog (hard links), so that process start-up
    weighs little: the measurement behind edge-ocr batch's default worker count."""
    big = work / "backlog-big"
    big.mkdir()
    for k in range(copies):
        for src in sorted(images.glob("*.png")):
            os.link(src, big / f"{k}-{src.name}")
    count = len(list(big.iterdir()))
    rows = []
    out_file = work / "steady.jsonl"
    for workers, threads in ((1, 1), (1, cores), (cores, 1)):
        rates, peaks = [], []
        for _ in range(2):
            out_file.unlink(missing_ok=True)
            command = [
                sys.executable, "-m", "edge_ocr", "batch", str(big), "--out", str(out_file),
                "--model", str(model), "--workers", str(workers), "--threads", str(threads),
                "--no-progress",
            ]  # fmt: skip
            r = timed_command(command)
            rates.append(count / r["seconds"])
            peaks.append(r["tree_peak_mb"])
        rows.append(
            {
                "workers": workers,
                "threads": threads,
                "images_s": float(np.median(rates)),
                "runs": rates,
                "tree_peak_mb": max(peaks),
            }
        )
        log.info("steady state %d x %d: %.1f images/s", workers, threads, rows[-1]["images_s"])
    return {"images": count, "rows": rows}


def peer_backlog_main(spec_json: str, listing: Path, shard: str) -> int:
    """Worker of bench_backlog: one peer reads its shard of the images, one at a time."""
    from scripts.evaluate import SystemSpec, decode_image, open_reader

    k, n = (int(x) for x in shard.split("/"))
    paths = listing.read_text().split()[k::n]
    reader = open_reader(SystemSpec(**json.loads(spec_json)), 1)
    for path in paths:
        try:
            reader.read(decode_image(path))
        except Exception as err:  # like evaluate: a crop a peer cannot read counts as read
            log.warning("%s: %s", path, err)
    return 0


def bench_memory(
    model: Path, synth: Path, sizes: Sizes, work: Path, earlier: dict[str, Any]
) -> dict[str, Any]:
    """Peak RSS of a real daemon on a folder source with a real broker, beside the peers'."""
    folder = work / "memory"
    folder.mkdir()
    broker = Broker(folder)
    try:
        config = write_config(
            folder,
            model,
            0,
            source={
                "type": "folder",
                "folder": {
                    "path": str(folder / "inbox"),
                    "settle_seconds": 0.0,
                    "poll_seconds": 0.05,
                },
            },  # fmt: skip
            mqtt={"port": broker.port, "homeassistant_discovery": False},
        )
        daemon = DaemonRun(folder, config)
        sampler = RssSampler(daemon.proc.pid, every=0.02)
        try:
            daemon.wait_ready()
            ready_mb = sampler.sample()
            pngs = sorted((synth / "png").glob("*.png"))[: sizes.daemon_images]
            inbox = folder / "inbox"
            started = time.perf_counter()
            for i, src in enumerate(pngs):
                part = inbox / f"{i:06d}.png.part"
                shutil.copyfile(src, part)
                part.rename(inbox / f"{i:06d}.png")
            deadline = time.monotonic() + 600
            while any(inbox.glob("*.png")) and time.monotonic() < deadline:
                time.sleep(0.05)
            seconds = time.perf_counter() - started
            end_mb = sampler.sample()
        finally:
            sampler.stop()
            status = daemon.stop()
    finally:
        broker.stop()
    done = len(list((folder / "inbox" / "done").glob("*.png")))
    result: dict[str, Any] = {
        "daemon": {
            "images": len(pngs),
            "done": done,
            "seconds": seconds,
            "ready_mb": ready_mb,
            "end_mb": end_mb,
            "peak_mb": sampler.peak_mb,
            "exit": status,
        },
        "systems": [],
    }
    for r in earlier.get("line", {}).get("systems", []):
        if "error" not in r:
            result["systems"].append(
                {
                    "system": r["system"],
                    "what": "scripts.evaluate worker of the line latency (with its imports)",
                    "peak_mb": r["peak_rss_mb"],
                }
            )
    for r in earlier.get("backlog", {}).get("rows", []):
        result["systems"].append(
            {
                "system": r["system"],
                "what": "backlog run (largest process)",
                "peak_mb": r["peak_mb"],
            }
        )
    log.info("daemon: ready %.0f MB, peak %.0f MB", ready_mb, sampler.peak_mb)
    return result


def make_video(path: Path, frames: int, scenes: int, seed: int) -> Path:
    """A looping MJPG video of 640x480 plates with 4 fields whose text changes each scene."""
    rng = np.random.default_rng(seed)
    lines = [img for img, _ in label_lines(scenes * 4, seed)]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, FRAME_SIZE)
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write MJPG video")
    per_scene = max(1, frames // scenes)
    for n in range(frames):
        scene = min(n // per_scene, scenes - 1)
        writer.write(draw_frame(lines[scene * 4 : scene * 4 + 4], rng, fields=4))
    writer.release()
    return path


def bench_soak(model: Path, frames: int, work: Path) -> dict[str, Any]:
    """`frames` frames through a real daemon reading a looped video, RSS sampled every 0.5 s."""
    folder = work / "soak"
    folder.mkdir()
    video = make_video(folder / "plates.avi", 250, 5, seed=5)
    broker = Broker(folder)
    try:
        config = write_config(
            folder,
            model,
            4,
            source={"type": "opencv", "opencv": {"url": str(video), "loop": True}},
            capture={"rate": 30.0},
            mqtt={"port": broker.port, "homeassistant_discovery": False},
        )
        daemon = DaemonRun(folder, config)
        sampler = RssSampler(daemon.proc.pid, every=0.5)
        points: list[tuple[float, int, float]] = []  # seconds, frames, RSS MB
        try:
            daemon.wait_ready()
            started = time.monotonic()
            last_log = started
            while daemon.frames < frames:
                if daemon.proc.poll() is not None:
                    raise RuntimeError(f"daemon died:\n{daemon.log.read_text()[-3000:]}")
                daemon.poll_status()
                now = time.monotonic()
                if not points or now - points[-1][0] - started >= 0.5:
                    points.append((now - started, daemon.frames, sampler.sample()))
                if now - last_log > 30:
                    log.info("soak: %d of %d frames, RSS %.1f MB", daemon.frames, frames,
                             points[-1][2])  # fmt: skip
                    last_log = now
            seconds = time.monotonic() - started
        finally:
            sampler.stop()
            status = daemon.stop()
    finally:
        broker.stop()
    rss = np.array([p[2] for p in points])
    done = np.array([p[1] for p in points])
    warm = rss[(done >= 0.1 * frames) & (done <= 0.2 * frames)]
    end = rss[done >= 0.9 * frames]
    baseline = float(np.median(warm)) if warm.size else float(rss[0])
    final = float(np.median(end)) if end.size else float(rss[-1])
    result = {
        "frames": int(daemon.frames),
        "fields": 4,
        "seconds": seconds,
        "frames_s": daemon.frames / seconds,
        "baseline_mb": baseline,
        "end_mb": final,
        "growth_mb": final - baseline,
        "peak_mb": sampler.peak_mb,
        "exit": status,
        "series": [[round(t, 2), int(f), round(m, 2)] for t, f, m in points],
    }
    log.info(
        "soak: %d frames in %.0f s, RSS %.1f -> %.1f MB, peak %.1f MB",
        result["frames"], seconds, baseline, final, result["peak_mb"],
    )  # fmt: skip
    return result


# --- op counts (for the Raspberry Pi section) ---------------------------------------------------


def count_macs(path: Path, shape: Sequence[int]) -> float | None:
    """Multiply-accumulates of one forward pass at a fixed input shape (Conv, MatMul, LSTM)."""
    try:
        import onnx
        from onnx import shape_inference
    except ImportError:
        return None
    try:
        model = onnx.load(str(path))
        graph_input = model.graph.input[0]
        for dim, size in zip(graph_input.type.tensor_type.shape.dim, shape, strict=True):
            dim.ClearField("dim_param")
            dim.dim_value = size
        model = shape_inference.infer_shapes(model, data_prop=True)
    except Exception as err:  # noqa: BLE001 - an op count is a nicety, never a failure
        log.warning("cannot count the operations of %s: %s", path, err)
        return None
    shapes: dict[str, list[int]] = {}
    for vi in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        shapes[vi.name] = dims
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)
    total = 0.0
    for node in model.graph.node:
        out = shapes.get(node.output[0]) if node.output else None
        if node.op_type in ("Conv", "ConvInteger", "QLinearConv"):
            weight = shapes.get(node.input[3 if node.op_type == "QLinearConv" else 1])
            if out and weight and all(out):
                total += float(np.prod(out)) * float(np.prod(weight[1:]))
        elif node.op_type in ("MatMul", "Gemm", "MatMulInteger", "QLinearMatMul"):
            a = shapes.get(node.input[0])
            if out and a and all(out) and a[-1]:
                k = a[-1] if not (node.op_type == "Gemm" and _attr(node, "transA")) else a[0]
                total += float(np.prod(out)) * k
        elif node.op_type in ("LSTM", "DynamicQuantizeLSTM"):
            x, w = shapes.get(node.input[0]), shapes.get(node.input[1])
            hidden = _attr(node, "hidden_size")
            if x and w and all(x) and hidden:
                steps, batch, inputs = x
                # W is [directions, 4*hidden, input] (LSTM) or its transpose (quantized LSTM)
                total += float(steps * batch * w[0] * 4 * hidden * (inputs + hidden))
    return total or None


def _attr(node: Any, name: str) -> int:
    return next((a.i for a in node.attribute if a.name == name), 0)


def rapidocr_model() -> Path | None:
    """The PP-OCRv4 recognition model file rapidocr-onnxruntime ships, if installed."""
    try:
        import rapidocr_onnxruntime
        from rapidocr_onnxruntime.utils import read_yaml
    except ImportError:
        return None
    package = Path(rapidocr_onnxruntime.__file__).resolve().parent
    return package / read_yaml(package / "config.yaml")["Rec"]["model_path"]


# --- the report ---------------------------------------------------------------------------------


def _ms(s: dict[str, float]) -> str:
    return f"{s['median']:.1f} ({s['p5']:.1f}–{s['p95']:.1f})"


def render(report: dict[str, Any]) -> str:
    """The Markdown report."""
    m = report["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Made by `scripts/bench.py`; every figure of a table comes from the same run, on the same",
        "generated inputs, on this machine. Re-run it with:",
        "",
        f"    {report['command']}",
        "",
        f"- date: {report['date']}; run time {report['seconds'] / 60:.1f} min",
        f"- machine: {m['cpu']}, {m['cores']} cores, load average "
        f"{' / '.join(str(x) for x in m['load_avg'])} at start; Python {m['python']}, "
        f"onnxruntime {m['onnxruntime']}",
        f"- model: `{report['model']}` ({report['model_mb']:.2f} MB)",
        "- spread: median (5th–95th percentile) unless a column says otherwise; ratios are "
        "peer median / ours (above 1: ours is faster or smaller)",
        "",
    ]
    if "line" in report:
        rows = [r for r in report["line"]["systems"] if "error" not in r]
        ours = next((r for r in rows if r["kind"] == "ours"), None)
        lines += [
            "## Latency per text line (1 thread)",
            "",
            "scripts.evaluate's measurement: each system in its own process, the recognition "
            "call on one decoded crop (preprocessing included, file decode excluded), after 3 "
            f"untimed calls; {rows[0]['n'] if rows else 0} generated label crops.",
            "",
            "| system | median ms | p95 ms | mean ms | × ours (median) | accuracy | peak RSS MB |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            ratio = r["median_ms"] / ours["median_ms"] if ours else float("nan")
            lines.append(
                f"| {r['system']} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} | "
                f"{r['mean_ms']:.2f} | {ratio:.1f}× | {100 * r['protocol_acc']:.1f}% | "
                f"{r['peak_rss_mb']:.0f} |"
            )
        for r in report["line"]["systems"]:
            if "error" in r:
                lines.append(f"| {r['system']} | failed: {r['error']} | | | | | |")
        lines += ["", "Accuracy: lower-case [a-z0-9] exact match on these synthetic labels.", ""]
    if "frame" in report:
        systems = list(next(iter(report["frame"].values())))
        lines += [
            "## Latency per 640×480 frame",
            "",
            "Ours: `Daemon.recognize` built from a config like the daemon builds it (rect fields "
            "-> regions -> one batched recognizer call -> validate), no MQTT. Peers: the same "
            "crops (regions.extract) read one by one. ms per frame.",
            "",
            "| fields | "
            + " | ".join(systems)
            + " | "
            + " | ".join(f"{s} / ours" for s in systems[1:])
            + " |",
            "|---:|" + "---:|" * (2 * len(systems) - 1),
        ]
        for fields, row in report["frame"].items():
            ours_ms = row[systems[0]]["median"]
            cells = [_ms(row[s]) for s in systems]
            ratios = [f"{row[s]['median'] / ours_ms:.1f}×" for s in systems[1:]]
            lines.append(f"| {fields} | " + " | ".join(cells + ratios) + " |")
        lines.append("")
    if "backlog" in report:
        b = report["backlog"]
        best = max(
            (r for r in b["rows"] if r["kind"] == "ours"), key=lambda r: r["images_s"]["median"]
        )
        lines += [
            "## Backlog throughput",
            "",
            f"{b['images']} generated label crops (PNG) in one folder; wall time of the whole "
            "command (process start, model load, decode, recognition, output), median of "
            f"{report['sizes']['repeats']} run(s) with min–max for ours, one run for each peer. "
            "Ours is `edge-ocr batch`; each "
            "peer reads the images one by one (decode + recognize), in one process or one per "
            f"core. Target: ≥ {TARGETS['backlog_images_s']:.0f} images/s and ahead of both peers"
            " (the original design reported 3.88 images/s for 1000 invoices).",
            "",
            "| run | workers × threads | batch | images/s | min–max | best ours ÷ this "
            "| peak RSS MB, largest process | all processes |",
            "|---|---|---:|---:|---|---:|---:|---:|",
        ]
        for r in b["rows"]:
            s = r["images_s"]
            lines.append(
                f"| {r['system']} | {r['workers']} × {r['threads']} | {r['batch_size']} | "
                f"{s['median']:.1f} | {s['min']:.1f}–{s['max']:.1f} | "
                f"{best['images_s']['median'] / s['median']:.1f}× | {r['peak_mb']:.0f} | "
                f"{r['tree_peak_mb']:.0f} |"
            )
        st = b.get("steady")
        if st:
            lines += [
                "",
                f"Steady state, ours only: the same images {st['images'] // b['images']} times "
                f"over ({st['images']} files), median of two runs each, so that start-up "
                "weighs little:",
                "",
                "| workers × threads | images/s | peak RSS MB, all processes |",
                "|---|---:|---:|",
            ]
            lines += [
                f"| {r['workers']} × {r['threads']} | {r['images_s']:.1f} | "
                f"{r['tree_peak_mb']:.0f} |"
                for r in st["rows"]
            ]
        lines += ["", report.get("backlog_note", ""), ""]
    if "memory" in report:
        d = report["memory"]["daemon"]
        lines += [
            "## Memory",
            "",
            f"A real `edge-ocr run` (folder source, whole image as one field, real mosquitto) "
            f"read {d['done']} of {d['images']} label images dropped into its inbox in "
            f"{d['seconds']:.1f} s. VmRSS/VmHWM from /proc every 20 ms.",
            "",
            "| process | what | peak RSS MB |",
            "|---|---|---:|",
            f"| edge-ocr daemon | RSS when ready {d['ready_mb']:.0f} MB, at the end "
            f"{d['end_mb']:.0f} MB | **{d['peak_mb']:.0f}** |",
        ]
        for r in report["memory"]["systems"]:
            lines.append(f"| {r['system']} | {r['what']} | {r['peak_mb']:.0f} |")
        lines.append("")
    if "soak" in report:
        s = report["soak"]
        ok_growth = s["growth_mb"] <= TARGETS["soak_growth_mb"]
        ok_peak = s["peak_mb"] <= TARGETS["soak_peak_mb"]
        lines += [
            "## Soak",
            "",
            f"{s['frames']} frames of a looped 640×480 MJPG video (250 frames, text changing "
            f"every 50) through a real `edge-ocr run` with {s['fields']} rect fields, stabilizer "
            f"and outbox, real mosquitto: {s['seconds']:.0f} s, {s['frames_s']:.1f} frames/s. "
            "RSS sampled every 0.5 s (plot below).",
            "",
            "| RSS after warm-up (10–20 % of frames) | RSS at the end (last 10 %) | growth "
            "| peak (VmHWM) |",
            "|---:|---:|---:|---:|",
            f"| {s['baseline_mb']:.1f} MB | {s['end_mb']:.1f} MB | {s['growth_mb']:+.1f} MB "
            f"({'within' if ok_growth else 'ABOVE'} the {TARGETS['soak_growth_mb']:.0f} MB "
            f"target) | {s['peak_mb']:.1f} MB ({'within' if ok_peak else 'ABOVE'} the "
            f"{TARGETS['soak_peak_mb']:.0f} MB target) |",
            "",
        ]
    if report.get("plot"):
        lines += [f"![benchmarks]({report['plot']})", ""]
    lines += pi_section(report)
    return "\n".join(lines).rstrip() + "\n"


PI4_GMAC_S = (2.0, 6.0)  # assumed sustained MAC rate of one Cortex-A72 core in onnxruntime


def pi_section(report: dict[str, Any]) -> list[str]:
    """How to run the same benchmark on a Raspberry Pi, and what op counts let one expect."""
    ops = report.get("ops", {})
    ours, peer = ops.get("edge-ocr"), ops.get("ppocrv4-rec")
    lo, hi = PI4_GMAC_S
    lines = [
        "## On a Raspberry Pi",
        "",
        "Run the same command there (Raspberry Pi OS 64-bit; `sudo apt-get install -y "
        "mosquitto`, the peers by `scripts/install-eval-deps.sh`, matplotlib by "
        "`pip install -e '.[eval]'`):",
        "",
        "    python -m scripts.bench --out docs/benchmarks-pi.md",
        "",
        "No figure in this section is a Pi measurement; it is what the operation counts predict.",
        "",
    ]
    if ours:
        line = (
            f"- Multiply-accumulates per text line (counted from the ONNX graph): ours "
            f"{ours / 1e6:.0f} M at 32×128"
        )
        if peer:
            line += f", PP-OCRv4 rec {peer / 1e6:.0f} M at its 48×320 input ({peer / ours:.0f}×)"
        lines.append(
            line + ". Tesseract's LSTM publishes no comparable count; its measured time above "
            "is the guide."
        )
        lines.append(
            f"- A Pi 4 core (Cortex-A72, 1.5–1.8 GHz, two 128-bit NEON pipes, no int8 "
            f"dot-product instructions) sustains roughly {lo:.0f}–{hi:.0f} G multiply-"
            f"accumulates/s in onnxruntime's kernels (an assumption, not a measurement). That "
            f"puts one line of ours at about {ours / hi / 1e6:.0f}–{ours / lo / 1e6:.0f} ms on "
            "one core"
            + (
                f" and PP-OCRv4's at about {peer / hi / 1e6:.0f}–{peer / lo / 1e6:.0f} ms"
                if peer
                else ""
            )
            + "; the ratio between the two should hold, since both are bound by the same "
            "kind of arithmetic."
        )
    lines += [
        "- Frames and backlogs scale from the per-line cost: a frame costs about its fields "
        "times a line. `edge-ocr batch` keeps two of a Pi 4's four cores busy by default "
        "(decoding and inference in one process, inside the memory budget); `--workers 2` "
        "uses all four for up to twice the throughput at about three times the memory. A Pi 5 "
        "(Cortex-A76 at 2.4 GHz, with dot-product instructions) should take well under half "
        "the Pi 4's times.",
        "- Memory does not follow the CPU: the model, the buffers and the Python process are "
        "the same, so peak RSS on a Pi should be close to the figures above, inside the "
        "service's `MemoryMax=300M`.",
        "",
    ]
    return lines


def plot(report: dict[str, Any], path: Path) -> bool:
    """Bars for latency and throughput, RSS over time for the soak; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed (pip install -e '.[eval]'): no plot")
        return False
    panels = [k for k in ("line", "frame", "backlog", "soak") if k in report]
    if not panels:
        return False
    cols = 2 if len(panels) > 2 else len(panels)
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.4 * cols, 4.4 * rows), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for ax, key in zip(axes.flat, panels, strict=False):
        if key == "line":
            rows = [r for r in report["line"]["systems"] if "error" not in r]
            ax.bar([r["system"] for r in rows], [r["median_ms"] for r in rows], color="C0")
            ax.errorbar(
                [r["system"] for r in rows],
                [r["median_ms"] for r in rows],
                yerr=[[0] * len(rows), [r["p95_ms"] - r["median_ms"] for r in rows]],
                fmt="none",
                ecolor="k",
                capsize=3,
            )
            ax.set_ylabel("ms per line (median, bar to p95)")
            ax.set_title("Latency per text line, 1 thread")
            ax.tick_params(axis="x", labelrotation=20)
        elif key == "frame":
            systems = list(next(iter(report["frame"].values())))
            counts = list(report["frame"])
            x = np.arange(len(counts))
            width = 0.8 / len(systems)
            for i, s in enumerate(systems):
                ax.bar(
                    x + i * width,
                    [report["frame"][c][s]["median"] for c in counts],
                    width,
                    label=s,
                )
            ax.set_xticks(x + width * (len(systems) - 1) / 2, [f"{c} fields" for c in counts])
            ax.set_ylabel("ms per 640×480 frame (median)")
            ax.set_title("Latency per frame")
            ax.legend(fontsize=8)
        elif key == "backlog":
            rows = report["backlog"]["rows"]
            names = [
                f"ours {r['workers']}×{r['threads']}, batch {r['batch_size']}"
                if r["kind"] == "ours"
                else f"{r['kind']} ×{r['workers']}"
                for r in rows
            ]
            ax.barh(
                names,
                [r["images_s"]["median"] for r in rows],
                color=["C0" if r["kind"] == "ours" else "C1" for r in rows],
            )
            ax.axvline(TARGETS["backlog_images_s"], color="k", ls="--", lw=1, label="target")
            ax.set_xlabel("images/s")
            ax.set_title(f"Backlog throughput, {report['backlog']['images']} label images")
            ax.invert_yaxis()
            ax.tick_params(axis="y", labelsize=7)
        else:
            series = report["soak"]["series"]
            ax.plot([p[1] for p in series], [p[2] for p in series], color="C0")
            ax.set_xlabel("frames processed")
            ax.set_ylabel("daemon RSS (MB)")
            ax.set_title("Soak: RSS over time")
            ax.axhline(TARGETS["soak_peak_mb"], color="k", ls="--", lw=1, label="peak target")
            ax.legend(fontsize=8)
            ax.set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    from edge_ocr.recognizer import default_model_path

    parser = argparse.ArgumentParser(
        prog="python -m scripts.bench",
        description="Benchmark edge-ocr beside Tesseract and RapidOCR; Markdown + PNG report.",
    )
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--out", type=Path, default=None, help="Markdown report (PNG beside it)")
    parser.add_argument("--json", type=Path, default=None, help="all numbers as JSON")
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    parser.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma list from {', '.join(SECTIONS)}"
    )
    parser.add_argument("--frames", type=int, default=None, help="soak frames (default 20000)")
    parser.add_argument("--images", type=int, default=None, help="backlog images (default 1000)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the work folder here")
    parser.add_argument("--peer-backlog", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--shard", default="0/1", help=argparse.SUPPRESS)
    parser.add_argument("--peer-images", dest="listing", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = parse_args(argv)
    if args.peer_backlog:
        return peer_backlog_main(args.peer_backlog, args.listing, args.shard)
    os.environ["OMP_THREAD_LIMIT"] = "1"  # before libtesseract loads: one thread, like ours
    from scripts.evaluate import machine_description

    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        log.error("unknown section(s) %s; choose from %s", ", ".join(unknown), ", ".join(SECTIONS))
        return 2
    if not args.model.is_file():
        log.error("model not found: %s", args.model)
        return 2
    sizes = Sizes.quick() if args.quick else Sizes()
    if args.frames:
        sizes.soak_frames = args.frames
    if args.images:
        sizes.backlog_images = args.images
    shown = list(sys.argv[1:] if argv is None else argv)
    report: dict[str, Any] = {
        "command": shlex.join(["python", "-m", "scripts.bench", *shown]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_description(),
        "model": str(args.model.resolve().relative_to(REPO))
        if args.model.resolve().is_relative_to(REPO)
        else str(args.model),
        "model_mb": args.model.stat().st_size / MB,
        "sizes": sizes.__dict__,
    }
    started = time.monotonic()

    def publish() -> None:
        """Write what has been measured so far: a cut-short run still leaves its report."""
        report["seconds"] = time.monotonic() - started
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            png = args.out.with_suffix(".png")
            if plot(report, png):
                report["plot"] = png.name
            args.out.write_text(render(report), encoding="utf-8")
        if args.json:
            args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False), "utf-8")

    parent = Path(str(args.model).replace("_int8", "_fp32"))
    rapid = rapidocr_model()
    report["ops"] = {
        # The FP32 parent has the int8 model's architecture and plain operators to count.
        "edge-ocr": count_macs(parent if parent.is_file() else args.model, (1, 1, 32, 128)),
        "ppocrv4-rec": count_macs(rapid, (1, 3, 48, 320)) if rapid else None,
    }
    work = Path(tempfile.mkdtemp(prefix="edge-ocr-bench-"))
    try:
        synth = None
        if {"line", "backlog", "memory"} & set(sections):
            count = max(sizes.line_images, sizes.backlog_images, sizes.daemon_images)
            log.info("generating %d label crops with scripts/synth.py", count)
            synth = synth_folder(work / "synth", count, seed=2024)
            _trim(synth, sizes)
        if "line" in sections and synth:
            report["line"] = bench_line(args.model, synth, sizes, work)
            publish()
        if "frame" in sections:
            report["frame"] = bench_frame(args.model, sizes, work)
            publish()
        if "backlog" in sections and synth:
            report["backlog"] = bench_backlog(args.model, work / "backlog", sizes, work)
            report["backlog_note"] = backlog_note(report["backlog"])
            publish()
        if "memory" in sections and synth:
            report["memory"] = bench_memory(args.model, synth, sizes, work, report)
            publish()
        if "soak" in sections:
            report["soak"] = bench_soak(args.model, sizes.soak_frames, work)
    finally:
        if args.keep:
            shutil.copytree(work, args.keep, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)
    publish()
    print(render(report))
    return 0


def _trim(synth: Path, sizes: Sizes) -> None:
    """A folder holding exactly the backlog's images (links into the generated set)."""
    backlog = synth.parent / "backlog"
    backlog.mkdir()
    for src in sorted((synth / "png").glob("*.png"))[: sizes.backlog_images]:
        os.link(src, backlog / src.name)


MEMORY_BUDGET_MB = 300.0  # the service's MemoryMax; edge-ocr batch keeps to it as well
# A default must fit with room to spare: these crops are small, and a worker's buffers grow with
# the images it reads (2 workers measured 290 MB in all on them once the arena was on).
BUDGET_HEADROOM = 0.9


def backlog_note(backlog: dict[str, Any]) -> str:
    """Which way of using the cores is fastest within the memory budget: batch's default."""
    from edge_ocr import batch

    rows = backlog.get("steady", {}).get("rows") or []
    if len(rows) < 3:
        return ""
    one, threads, procs = rows
    limit = BUDGET_HEADROOM * MEMORY_BUDGET_MB
    fitting = [r for r in rows if r["tree_peak_mb"] <= limit] or [one]
    best = max(fitting, key=lambda r: r["images_s"])
    default = (batch.DEFAULT_WORKERS, batch.default_threads())
    agrees = (best["workers"], best["threads"]) == default
    return (
        f"Processes or threads, at steady state: one process with one inference thread "
        f"{one['images_s']:.0f} images/s ({one['tree_peak_mb']:.0f} MB), {procs['workers']} "
        f"worker processes {procs['images_s']:.0f} ({procs['tree_peak_mb']:.0f} MB in all), "
        f"{threads['threads']} intra-op threads {threads['images_s']:.0f} "
        f"({threads['tree_peak_mb']:.0f} MB). One process already keeps two cores busy: its "
        "decode thread loads and prepares the next window while the model runs on the current "
        "one; intra-op threads share the cores with that decode thread. Worker "
        "processes each load a model and hold their own batch buffers, so memory grows with "
        "every worker. `edge-ocr batch` runs the fastest choice that stays inside "
        f"{BUDGET_HEADROOM:.0%} of the {MEMORY_BUDGET_MB:.0f} MB budget ({limit:.0f} MB: larger "
        "images than these crops need larger buffers) by default, one process with a thread "
        "per core: "
        f"here {default[0]} × {default[1]}"
        + (
            ", which is what this run measured."
            if agrees
            else "; THIS RUN FOUND ANOTHER CHOICE FASTER WITHIN THE BUDGET."
        )
        + " `--workers N` trades memory for the rest."
    )


if __name__ == "__main__":
    sys.exit(main())
