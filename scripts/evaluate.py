"""Measures our recognition models beside peer OCR systems on the same labelled line crops.

    python -m scripts.evaluate --model models/latin_crnn_int8.onnx --peers tesseract,rapidocr \
        --sets ic03_860,iiit5k_train --out docs/eval.md --json eval.json

Every (system, set) pair runs in its own worker process (`python -m scripts.evaluate --worker
JOB.json`), so one system's libraries and buffers never show up in another's peak RSS. The parent
collects the workers' JSON and writes one Markdown report and one JSON file.

Latency is per line with one thread: the recognition call on one decoded image, preprocessing
included, file decode excluded, after a few untimed warm-up calls.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from edge_ocr.errors import ImageError
from scripts.metrics import load_labeled_folder, score

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_SETS = ("ic03_860", "iiit5k_train")
SYNTH_SET = "synth"
WARMUP_CALLS = 3
MB = 1024 * 1024

# Peer names accepted by --peers, each expanding to the systems it stands for.
PEER_GROUPS = {
    "tesseract": ("tesseract-psm8", "tesseract-psm7"),
    "tesseract-psm8": ("tesseract-psm8",),
    "tesseract-psm7": ("tesseract-psm7",),
    "tesseract-cli": ("tesseract-cli-psm8", "tesseract-cli-psm7"),
    "rapidocr": ("ppocrv4-rec",),
}


@dataclass(frozen=True)
class SystemSpec:
    """One system to measure: `kind` picks the reader, `model` or `psm` configure it."""

    name: str
    kind: str  # "ours", "tesseract", "tesseract-cli" or "rapidocr"
    model: str = ""
    psm: int = 0
    views: int = 1  # ours: views of each line (edge_ocr.recognizer.VIEW_NAMES)
    lm: str = ""  # ours: the character language model file ("": greedy readings)


@dataclass(frozen=True)
class EvalSet:
    """A labelled folder (labels.tsv + images) under a short name for the tables."""

    name: str
    path: str


# ---------------------------------------------------------------------------------------------
# Readers: one per kind of system, each turning one BGR crop into text. Built only in workers.


class Reader(Protocol):
    model_bytes: int
    version: str
    description: str
    # Whose peak RSS is the system's: this process, or (for a CLI) its child processes.
    rusage_who: int

    def read(self, image: np.ndarray) -> str: ...


class OurReader:
    """An edge-ocr model through the daemon's own Recognizer (grayscale, height-normalized)."""

    rusage_who = resource.RUSAGE_SELF

    def __init__(self, model: str, threads: int, views: int, lm: str = "") -> None:
        from edge_ocr.memory import release_freed_memory
        from edge_ocr.recognizer import VIEW_NAMES, Recognizer

        release_freed_memory()  # set up as the daemon and the CLI set themselves up

        self._recognizer = Recognizer(model, threads, views, lm or None)
        info = self._recognizer.info
        self.model_bytes = Path(model).stat().st_size + (Path(lm).stat().st_size if lm else 0)
        self.version = f"{info.name} {info.version}"
        self.description = (
            f"edge-ocr Recognizer, {Path(model).name}, height {info.height}, "
            f"{len(info.charset)} characters, {views} view(s) a line "
            f"({', '.join(VIEW_NAMES[:views])}; the most confident reading kept)"
            + (f", unsure characters settled by {Path(lm).name}" if lm else ", greedy")
        )

    def read(self, image: np.ndarray) -> str:
        return self._recognizer.recognize([image])[0].text


class TesseractReader:
    """Tesseract in process through tesserocr: LSTM engine, English, one page-segmentation mode."""

    rusage_who = resource.RUSAGE_SELF

    def __init__(self, psm: int, threads: int) -> None:
        import tesserocr

        self._api = tesserocr.PyTessBaseAPI(lang="eng", psm=psm, oem=tesserocr.OEM.LSTM_ONLY)
        traineddata = Path(self._api.GetDatapath()) / "eng.traineddata"
        self.model_bytes = traineddata.stat().st_size
        self.version = tesserocr.tesseract_version().split()[1]
        self.description = (
            f"tesserocr {_package_version('tesserocr')} on libtesseract {self.version}, "
            f"OEM LSTM_ONLY, PSM {psm}, {traineddata} (RGB input as decoded)"
        )

    def read(self, image: np.ndarray) -> str:
        rgb = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        height, width = rgb.shape[:2]
        self._api.SetImageBytes(rgb.tobytes(), width, height, 3, 3 * width)
        return str(self._api.GetUTF8Text()).strip()


class TesseractCliReader:
    """Fallback when tesserocr is missing: the `tesseract` program, one process per image.

    Its latency includes PNG encoding and process start-up, and its RSS is the child's, so its
    numbers are not comparable with the in-process systems.
    """

    rusage_who = resource.RUSAGE_CHILDREN

    def __init__(self, psm: int, threads: int) -> None:
        self._command = ["tesseract", "stdin", "stdout", "-l", "eng", "--oem", "1"]
        self._command += ["--psm", str(psm)]
        self._env = dict(os.environ, OMP_THREAD_LIMIT=str(threads))
        listing = subprocess.run(
            ["tesseract", "--list-langs"], capture_output=True, text=True, check=True
        ).stdout
        tessdata = Path(listing.split('"')[1]) if '"' in listing else Path(".")
        traineddata = tessdata / "eng.traineddata"
        self.model_bytes = traineddata.stat().st_size if traineddata.is_file() else 0
        banner = subprocess.run(
            ["tesseract", "--version"], capture_output=True, text=True, check=True
        ).stdout
        self.version = banner.split()[1]
        self.description = (
            f"FALLBACK tesseract CLI {self.version}, one process per image (latency includes "
            f"process start-up and PNG encode; RSS is the child's), OEM 1, PSM {psm}"
        )

    def read(self, image: np.ndarray) -> str:
        ok, png = cv2.imencode(".png", image)
        if not ok:
            raise ImageError("cannot encode crop as PNG")
        done = subprocess.run(
            self._command, input=png.tobytes(), capture_output=True, check=True, env=self._env
        )
        return done.stdout.decode("utf-8", errors="replace").strip()


class RapidOcrReader:
    """PP-OCRv4's recognizer alone, as rapidocr-onnxruntime builds it from its own config."""

    rusage_who = resource.RUSAGE_SELF

    def __init__(self, threads: int) -> None:
        import rapidocr_onnxruntime
        from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer
        from rapidocr_onnxruntime.utils import read_yaml

        package = Path(rapidocr_onnxruntime.__file__).resolve().parent
        config = read_yaml(package / "config.yaml")["Rec"]
        model = package / config["model_path"]
        config.update(
            model_path=str(model),
            intra_op_num_threads=threads,
            inter_op_num_threads=1,
            use_cuda=False,
            use_dml=False,
        )
        self._recognizer = TextRecognizer(config)
        self.model_bytes = model.stat().st_size
        self.version = _package_version("rapidocr-onnxruntime")
        self.description = (
            f"rapidocr-onnxruntime {self.version} TextRecognizer, {model.name}, "
            f"input {config['rec_img_shape']} (BGR, resized to height 48, zero-padded to "
            f"width >= 320), no detector or classifier"
        )

    def read(self, image: np.ndarray) -> str:
        results, _ = self._recognizer([image])
        return str(results[0][0])


def open_reader(spec: SystemSpec, threads: int) -> Reader:
    """Load the system `spec` names; its libraries are imported only here, in the worker."""
    if spec.kind == "ours":
        return OurReader(spec.model, threads, spec.views, spec.lm)
    if spec.kind == "tesseract":
        return TesseractReader(spec.psm, threads)
    if spec.kind == "tesseract-cli":
        return TesseractCliReader(spec.psm, threads)
    if spec.kind == "rapidocr":
        return RapidOcrReader(threads)
    raise ValueError(f"unknown system kind {spec.kind!r}")


def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


# ---------------------------------------------------------------------------------------------
# Worker: measures one system on one set, in a process of its own.


def current_rss_bytes() -> int:
    """This process's resident set size now (Linux /proc)."""
    with open("/proc/self/statm") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes(who: int = resource.RUSAGE_SELF) -> int:
    """Peak RSS so far of this process (or of its largest waited-for child); Linux reports KiB."""
    return resource.getrusage(who).ru_maxrss * 1024


def decode_image(path: str) -> np.ndarray:
    """A BGR uint8 image from disk; ImageError when it cannot be read."""
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise ImageError(f"cannot decode image {path}")
    return image


def summarize_latency(seconds: Sequence[float]) -> dict[str, float]:
    """Median, 95th percentile and mean of per-line latencies, in milliseconds."""
    if not seconds:
        raise ValueError("no latencies to summarize")
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    return {
        "median_ms": float(np.median(ms)),
        "p95_ms": float(np.percentile(ms, 95)),
        "mean_ms": float(ms.mean()),
    }


def run_job(spec: SystemSpec, eval_set: EvalSet, limit: int | None, threads: int) -> dict:
    """Read every image of `eval_set` with `spec`; scores, latencies and memory as a dict."""
    items = load_labeled_folder(eval_set.path, limit)
    if not items:
        raise ValueError(f"{eval_set.path}: no labelled images")
    rss_before = current_rss_bytes()
    started = time.perf_counter()
    reader = open_reader(spec, threads)
    load_s = time.perf_counter() - started
    # A CLI system lives in its child processes: this process's RSS says nothing about it.
    in_process = reader.rusage_who == resource.RUSAGE_SELF
    rss_after_load = current_rss_bytes() if in_process else None

    # The first calls pay for lazy allocations and kernel selection; keep them out of timings.
    first = decode_image(items[0][0])
    for _ in range(WARMUP_CALLS):
        reader.read(first)

    predictions: list[str] = []
    latencies: list[float] = []
    failures: list[str] = []
    for path, _ in items:
        image = decode_image(path)
        started = time.perf_counter()
        try:
            text = reader.read(image)
        except Exception as err:  # a crop one system cannot read counts as an empty answer
            text = ""
            failures.append(f"{path}: {err}")
            log.warning("%s failed on %s: %s", spec.name, path, err)
        latencies.append(time.perf_counter() - started)
        predictions.append(text)

    scores = score(predictions, [text for _, text in items])
    return {
        "system": spec.name,
        "kind": spec.kind,
        "set": eval_set.name,
        "n": len(items),
        **scores,
        **summarize_latency(latencies),
        "peak_rss_mb": peak_rss_bytes(reader.rusage_who) / MB,
        "rss_after_load_mb": rss_after_load / MB if rss_after_load is not None else None,
        "rss_before_load_mb": rss_before / MB,
        "load_s": load_s,
        "model_mb": reader.model_bytes / MB,
        "version": reader.version,
        "description": reader.description,
        "failures": failures,
        "predictions": predictions,
    }


def worker_main(job_path: str) -> int:
    """Run the job a parent wrote to `job_path` and write its result where the job says."""
    job = json.loads(Path(job_path).read_text())
    threads = int(job["threads"])
    # libgomp reads this when libtesseract loads, i.e. inside open_reader, after this line.
    os.environ["OMP_THREAD_LIMIT"] = str(threads)
    result = run_job(SystemSpec(**job["system"]), EvalSet(**job["set"]), job["limit"], threads)
    Path(job["result"]).write_text(json.dumps(result))
    return 0


# ---------------------------------------------------------------------------------------------
# Parent: plans the jobs, spawns the workers, writes the report.


def expand_peers(peers: str, tesserocr_available: bool) -> list[SystemSpec]:
    """The peer systems a --peers value names ('' or 'none' for none), in the order given.

    When tesserocr cannot be imported the in-process Tesseract systems become the clearly
    named CLI fallback instead of failing every job.
    """
    specs: list[SystemSpec] = []
    for token in (t.strip() for t in peers.split(",")):
        if not token or token == "none":
            continue
        if token not in PEER_GROUPS:
            raise ValueError(f"unknown peer {token!r}; choose from {', '.join(PEER_GROUPS)}")
        for name in PEER_GROUPS[token]:
            if name.startswith("tesseract-psm") and not tesserocr_available:
                log.warning("tesserocr is not importable: using the tesseract CLI for %s", name)
                name = name.replace("tesseract-", "tesseract-cli-")
            if name.startswith("tesseract-cli-"):
                spec = SystemSpec(name, "tesseract-cli", psm=int(name.rsplit("psm", 1)[1]))
            elif name.startswith("tesseract-"):
                spec = SystemSpec(name, "tesseract", psm=int(name.rsplit("psm", 1)[1]))
            else:
                spec = SystemSpec(name, "rapidocr")
            if spec not in specs:
                specs.append(spec)
    return specs


def parse_readings(value: str) -> list[tuple[int, bool]]:
    """A --views value: comma list of view counts, each with "+lm" to use the language model
    (e.g. "1,3,3+lm")."""
    out = []
    for item in (v.strip() for v in value.split(",")):
        count, plus, rest = item.partition("+")
        if not count.isdigit() or (plus and rest != "lm"):
            raise argparse.ArgumentTypeError(f"{item!r}: a view count, optionally +lm")
        out.append((int(count), bool(plus)))
    return out


def model_specs(
    models: Sequence[str], views: Sequence[tuple[int, bool]] = ((3, False),), lm: str = ""
) -> list[SystemSpec]:
    """Our models as systems, named by file stem (by path where two stems collide), each read
    in every way `views` gives: (view count, with the language model `lm`); the name says
    which when there are several."""
    paths = [Path(m).resolve() for m in models]
    stems = [p.stem for p in paths]
    specs = []
    for m, path, stem in zip(models, paths, stems, strict=True):
        name = stem if stems.count(stem) == 1 else str(Path(m))
        for v, with_lm in views:
            label = name if len(views) == 1 else f"{name} x{v}" + ("+lm" if with_lm else "")
            if with_lm and not lm:
                raise ValueError("+lm needs a language model file")
            model_lm = str(Path(lm).resolve()) if with_lm else ""
            specs.append(SystemSpec(label, "ours", model=str(path), views=v, lm=model_lm))
    return specs


def resolve_sets(
    names: str | None, extra: Sequence[str], data_dir: Path, synth_dir: Path | None
) -> list[EvalSet]:
    """The sets to run: named ones under `data_dir` ('synth' is `synth_dir`), then name=path ones.

    Without --sets the default is the two real sets (and synth when a synth dir is given),
    unless name=path sets were given, which then run alone.
    """
    if names is None:
        chosen = [] if extra else list(DEFAULT_SETS) + ([SYNTH_SET] if synth_dir else [])
    else:
        chosen = [n.strip() for n in names.split(",") if n.strip()]
    sets: list[EvalSet] = []
    for name in chosen:
        if name == SYNTH_SET:
            if synth_dir is None:
                raise ValueError("set 'synth' needs --synth-dir (made by scripts/synth.py)")
            sets.append(EvalSet(name, str(synth_dir.resolve())))
        else:
            sets.append(EvalSet(name, str((data_dir / name).resolve())))
    for item in extra:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--set expects name=path, got {item!r}")
        sets.append(EvalSet(name, str(Path(path).resolve())))
    names_seen = [s.name for s in sets]
    duplicates = sorted({n for n in names_seen if names_seen.count(n) > 1})
    if duplicates:
        raise ValueError(f"set names used twice: {', '.join(duplicates)}")
    for s in sets:
        if not (Path(s.path) / "labels.tsv").is_file():
            raise ValueError(f"set {s.name!r}: no labels.tsv in {s.path}")
    return sets


def run_worker(
    spec: SystemSpec, eval_set: EvalSet, limit: int | None, threads: int, workdir: Path
) -> dict:
    """Measure one (system, set) in a fresh `python -m scripts.evaluate --worker` process."""
    stem = f"{len(list(workdir.iterdir())):03d}"
    job_path, result_path, stderr_path = (workdir / f"{stem}.{s}" for s in ("job", "out", "err"))
    job = {
        "system": asdict(spec),
        "set": asdict(eval_set),
        "limit": limit,
        "threads": threads,
        "result": str(result_path),
    }
    job_path.write_text(json.dumps(job))
    env = dict(os.environ, OMP_THREAD_LIMIT=str(threads))
    command = [sys.executable, "-m", "scripts.evaluate", "--worker", str(job_path)]
    with stderr_path.open("w") as stderr:
        done = subprocess.run(command, cwd=REPO, env=env, stdout=stderr, stderr=stderr)
    if done.returncode != 0 or not result_path.is_file():
        tail = stderr_path.read_text(errors="replace").strip().splitlines()[-15:]
        log.error(
            "%s on %s failed (exit %d):\n%s",
            spec.name,
            eval_set.name,
            done.returncode,
            "\n".join(tail),
        )
        return {
            "system": spec.name,
            "kind": spec.kind,
            "set": eval_set.name,
            "error": tail[-1] if tail else f"exit {done.returncode}",
        }
    result: dict = json.loads(result_path.read_text())
    return result


def speed_ratios(results: Sequence[dict]) -> list[dict[str, Any]]:
    """Per set, each peer median latency over each of ours: above 1 means ours is faster."""
    ok = [r for r in results if "error" not in r]
    ours = [r for r in ok if r["kind"] == "ours"]
    peers = [r for r in ok if r["kind"] != "ours"]
    ratios = []
    for mine in ours:
        for peer in peers:
            if peer["set"] == mine["set"] and mine["median_ms"] > 0:
                ratios.append(
                    {
                        "ours": mine["system"],
                        "peer": peer["system"],
                        "set": mine["set"],
                        "median_ratio": peer["median_ms"] / mine["median_ms"],
                    }
                )
    return ratios


def machine_description() -> dict[str, Any]:
    """CPU, core count and load when the run started: latency depends on all three."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        if names:
            cpu = names[0]
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "nice": os.nice(0),
        "python": platform.python_version(),
        "onnxruntime": _package_version("onnxruntime"),
    }


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _mb(x: float | None) -> str:
    return "–" if x is None else f"{x:.0f}"


def render_markdown(report: dict) -> str:
    """The human-readable report: header, system × set table, speed ratios, system notes."""
    machine = report["machine"]
    lines = [
        "# Recognition evaluation",
        "",
        f"- command: `{report['command']}`",
        f"- date: {report['date']}",
        f"- machine: {machine['cpu']}, {machine['cores']} cores, load average "
        f"{' / '.join(str(x) for x in machine['load_avg'])} at start, nice {machine['nice']}; "
        f"Python {machine['python']}, onnxruntime {machine['onnxruntime']}",
        f"- latency: per line, {report['threads']} thread(s), recognition call including "
        f"preprocessing, excluding image decode, after {report['warmup_calls']} untimed calls",
        "- memory: each system × set in its own process; peak RSS is getrusage ru_maxrss, "
        "RSS after load is /proc after building the system (before any image)",
        "- accuracy: protocol = lower-case, [a-z0-9] only, exact match; exact = raw strings; "
        "CER = edit distance / len(ground truth), mean over lines",
        "",
        "| system | set | n | protocol acc | exact acc | CER | median ms | p95 ms "
        "| peak RSS MB | RSS after load MB | model MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        if "error" in r:
            lines.append(f"| {r['system']} | {r['set']} | failed: {r['error']} |" + " |" * 8)
            continue
        lines.append(
            f"| {r['system']} | {r['set']} | {r['n']} | {_pct(r['protocol_acc'])} "
            f"| {_pct(r['exact_acc'])} | {r['cer']:.3f} | {r['median_ms']:.1f} "
            f"| {r['p95_ms']:.1f} | {r['peak_rss_mb']:.0f} | {_mb(r['rss_after_load_mb'])} "
            f"| {r['model_mb']:.1f} |"
        )
    if report["speed_ratios"]:
        lines += [
            "",
            "Speed: peer median latency / ours (above 1 means ours is faster).",
            "",
            "| ours | peer | " + " | ".join(report["sets"]) + " |",
            "|---|---|" + "---:|" * len(report["sets"]),
        ]
        pairs = dict.fromkeys((x["ours"], x["peer"]) for x in report["speed_ratios"])
        for ours, peer in pairs:
            cells = []
            for set_name in report["sets"]:
                match = [
                    x["median_ratio"]
                    for x in report["speed_ratios"]
                    if (x["ours"], x["peer"], x["set"]) == (ours, peer, set_name)
                ]
                cells.append(f"{match[0]:.2f}×" if match else "–")
            lines.append(f"| {ours} | {peer} | " + " | ".join(cells) + " |")
    described = {r["system"]: r["description"] for r in report["results"] if "description" in r}
    if described:
        lines += ["", "Systems:", ""]
        lines += [f"- **{name}**: {text}" for name, text in described.items()]
    failing = [r for r in report["results"] if r.get("failures")]
    for r in failing:
        lines.append(
            f"- {r['system']} on {r['set']}: {len(r['failures'])} crop(s) raised and "
            "were scored as empty"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.evaluate",
        description="Measure edge-ocr models beside Tesseract and PP-OCRv4 on labelled crops.",
    )
    parser.add_argument("--model", action="append", default=[], help="our ONNX model (repeat)")
    parser.add_argument(
        "--peers",
        default="tesseract,rapidocr",
        help=f"comma list from {', '.join(PEER_GROUPS)}, or 'none' (default: tesseract,rapidocr)",
    )
    parser.add_argument(
        "--sets",
        default=None,
        help="comma list of set names under --data, 'synth' for --synth-dir "
        "(default: ic03_860,iiit5k_train, plus synth when --synth-dir is given)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="an extra labelled folder (labels.tsv + images); repeatable",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help=f"folder holding the named sets (default: {DEFAULT_DATA})",
    )
    parser.add_argument(
        "--synth-dir",
        type=Path,
        default=None,
        help="folder made by `python -m scripts.synth --png`",
    )
    parser.add_argument(
        "--views",
        type=parse_readings,
        default=[(3, True)],
        help="how our models read each line, comma list of view counts, +lm to settle unsure "
        "characters with the language model: a row per item (default 3+lm, the daemon's way)",
    )
    parser.add_argument(
        "--lm",
        type=Path,
        default=None,
        help="the character language model for +lm (default: the shipped one)",
    )
    parser.add_argument("--limit", type=int, default=None, help="first N lines of each set")
    parser.add_argument("--threads", type=int, default=1, help="threads per system (default 1)")
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown report here")
    parser.add_argument("--json", type=Path, default=None, help="write all numbers here")
    parser.add_argument("--worker", metavar="JOB", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    if args.worker:
        return worker_main(args.worker)

    from importlib.util import find_spec

    from edge_ocr.charlm import default_lm_path

    try:
        systems = model_specs(
            args.model, args.views, str(args.lm or default_lm_path())
        ) + expand_peers(args.peers, find_spec("tesserocr") is not None)
        sets = resolve_sets(args.sets, args.set, args.data, args.synth_dir)
    except ValueError as err:
        log.error("%s", err)
        return 2
    if not systems:
        log.error("nothing to measure: give --model and/or --peers")
        return 2

    shown_argv = list(sys.argv[1:] if argv is None else argv)
    report: dict[str, Any] = {
        "command": shlex.join(["python", "-m", "scripts.evaluate", *shown_argv]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_description(),
        "threads": args.threads,
        "warmup_calls": WARMUP_CALLS,
        "limit": args.limit,
        "sets": {s.name: s.path for s in sets},
        "results": [],
    }
    with tempfile.TemporaryDirectory(prefix="edge-ocr-eval-") as tmp:
        for spec in systems:
            for eval_set in sets:
                log.info("measuring %s on %s", spec.name, eval_set.name)
                result = run_worker(spec, eval_set, args.limit, args.threads, Path(tmp))
                if "error" not in result:
                    log.info(
                        "%s on %s: protocol %.1f%%, median %.1f ms, peak RSS %.0f MB",
                        spec.name,
                        eval_set.name,
                        100 * result["protocol_acc"],
                        result["median_ms"],
                        result["peak_rss_mb"],
                    )
                report["results"].append(result)
    report["speed_ratios"] = speed_ratios(report["results"])

    markdown = render_markdown(report)
    print(markdown)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(markdown, encoding="utf-8")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    return 1 if any("error" in r for r in report["results"]) else 0


if __name__ == "__main__":
    sys.exit(main())
