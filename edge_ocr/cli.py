"""The `edge-ocr` command: run, check-config, read, batch, demo; errors become exit codes here only.

Exit status: 0 success; 1 a runtime failure (or, for `read`, an image that could not be read);
2 an invalid configuration or command line; 3 a model that cannot be loaded.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from edge_ocr import __version__
from edge_ocr.errors import ConfigError, EdgeOcrError, ImageError, ModelError
from edge_ocr.modelinfo import DEFAULT_VIEWS, VIEW_NAMES

if TYPE_CHECKING:
    from edge_ocr.lines import LineReading

log = logging.getLogger("edge_ocr")

DEFAULT_CONFIG = "/etc/edge-ocr/edge-ocr.yaml"
EXIT_OK, EXIT_FAILURE, EXIT_CONFIG, EXIT_MODEL = 0, 1, 2, 3

_JOURNAL_PRIORITY = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}


class _JournalFormatter(logging.Formatter):
    """`<priority>logger: message`: journald keeps its own timestamps and reads the level."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{_JOURNAL_PRIORITY.get(record.levelname, 6)}>"
        return prefix + super().format(record).replace("\n", "\n" + prefix)


def setup_logging(level: str = "INFO") -> None:
    """Log to stderr; without timestamps when journald (JOURNAL_STREAM) records them."""
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(_JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


VIEWS_HELP = (
    f"views of each line read, keeping the most confident (default {DEFAULT_VIEWS}; 1 is fastest)"
)
VIEW_COUNTS = tuple(range(1, len(VIEW_NAMES) + 1))


def _add_lm_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--lm",
        type=Path,
        default=None,
        help="character language model settling unsure characters (default: shipped)",
    )
    group.add_argument(
        "--no-lm", action="store_true", help="read greedily, without the language model"
    )


def _language_model(args: argparse.Namespace) -> Path | None:
    """The language model file the options ask for (None: none)."""
    if args.no_lm:
        return None
    if args.lm is not None:
        return args.lm
    from edge_ocr.charlm import default_lm_path

    return default_lm_path()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-ocr",
        description="Read labels and nameplates from a camera or folder; publish over MQTT.",
    )
    parser.add_argument("--version", action="version", version=f"edge-ocr {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the daemon")
    run.add_argument(
        "--config",
        "-c",
        default=os.environ.get("EDGE_OCR_CONFIG", DEFAULT_CONFIG),
        help=f"YAML config file (default: $EDGE_OCR_CONFIG or {DEFAULT_CONFIG})",
    )

    check = sub.add_parser("check-config", help="check a config file (and load its model)")
    check.add_argument("config", help="YAML config file")
    check.add_argument("--no-model", action="store_true", help="do not load the model")

    read = sub.add_parser(
        "read", help="recognize each image as one line of text (--detect: find its lines)"
    )
    read.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="image files; '-' reads more paths from stdin, one per line",
    )
    read.add_argument("--model", type=Path, default=None, help="ONNX model (default: shipped)")
    read.add_argument("--threads", type=int, default=1, help="CPU threads for the model")
    read.add_argument(
        "--views", type=int, choices=VIEW_COUNTS, default=DEFAULT_VIEWS, help=VIEWS_HELP
    )
    _add_lm_options(read)
    read.add_argument("--json", action="store_true", help="one JSON object per image")
    read.add_argument("--allowed", default=None, help="only these characters may be read")
    read.add_argument(
        "--detect", action="store_true", help="find every text line of each image and read them"
    )
    read.add_argument(
        "--detector", type=Path, default=None, help="detector ONNX model (default: shipped)"
    )
    read.add_argument(
        "--max-side",
        type=int,
        default=None,
        help="with --detect: frames larger than this many px are scaled down to it before "
        "detection (default: the detector's own, 640; larger finds smaller text, slower)",
    )
    read.add_argument(
        "--no-zoom",
        action="store_true",
        help="with --detect: one detection pass (default: a second, closer look around small "
        "text the first pass finds)",
    )

    batch = sub.add_parser("batch", help="read every image of a folder (a backlog), on all cores")
    batch.add_argument("folder", type=Path, help="folder of images, each read as one line")
    batch.add_argument(
        "--out", type=Path, default=None, help="FILE.jsonl or FILE.csv; appended to, resumable"
    )
    batch.add_argument("--workers", type=int, default=None, help="processes (default: 1)")
    batch.add_argument("--threads", type=int, default=None, help="model threads (default: cores)")
    batch.add_argument("--batch-size", type=int, default=None, help="lines per model call")
    batch.add_argument("--model", type=Path, default=None, help="ONNX model (default: shipped)")
    batch.add_argument("--allowed", default=None, help="only these characters may be read")
    batch.add_argument(
        "--views", type=int, choices=VIEW_COUNTS, default=DEFAULT_VIEWS, help=VIEWS_HELP
    )
    _add_lm_options(batch)
    batch.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

    view = sub.add_parser(
        "label-view",
        help="warp a picture's label to its canonical view, with its fields drawn on it",
    )
    view.add_argument("label", help="the label's name in the config")
    view.add_argument("image", help="a picture from the camera with the label in it")
    view.add_argument("out", type=Path, help="where to write the view (PNG, JPEG, ...)")
    view.add_argument(
        "--config",
        default=DEFAULT_CONFIG,
        help=f"the YAML configuration (default: {DEFAULT_CONFIG})",
    )

    demo = sub.add_parser("demo", help="render sample labels, run the daemon, show MQTT results")
    demo.add_argument(
        "--host",
        default=None,
        help="MQTT broker (default: a local one; "
        "started from the mosquitto binary if none listens on localhost:1883)",
    )
    demo.add_argument("--port", type=int, default=1883)
    demo.add_argument("--model", type=Path, default=None, help="ONNX model (default: shipped)")
    demo.add_argument("--keep", action="store_true", help="keep the temporary folder")
    demo.add_argument("--timeout", type=float, default=60.0, help="give up after this long")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `edge-ocr` console script."""
    from edge_ocr.memory import release_freed_memory

    args = _parser().parse_args(argv)
    # Every command runs models whose freed buffers must go back to the system (memory.py).
    release_freed_memory()
    try:
        if args.command == "run":
            return _run(args.config)
        if args.command == "check-config":
            return _check_config(args.config, load_model=not args.no_model)
        if args.command == "read":
            return _read(args)
        if args.command == "batch":
            return _batch(args)
        if args.command == "label-view":
            return _label_view(args)
        return _demo(args)
    except ConfigError as err:
        print(f"edge-ocr: configuration error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    except ModelError as err:
        print(f"edge-ocr: model error: {err}", file=sys.stderr)
        return EXIT_MODEL
    except EdgeOcrError as err:
        print(f"edge-ocr: {err}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader of our output left (`edge-ocr read ... | head -1`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error at exit
        return 128 + signal.SIGPIPE


def _run(config_file: str) -> int:
    from edge_ocr import config
    from edge_ocr.daemon import Daemon

    setup_logging("INFO")
    cfg = config.load(config_file)
    setup_logging(cfg.log_level)
    return Daemon(cfg).run()


def _check_config(config_file: str, *, load_model: bool) -> int:
    from edge_ocr import config

    cfg = config.load(config_file)
    if load_model:
        from edge_ocr.daemon import field_masks
        from edge_ocr.recognizer import Recognizer

        model = cfg.model
        field_masks(
            Recognizer(model.path, model.threads, model.views, model.language_model), cfg.fields
        )
    names = ", ".join(f.name for f in cfg.fields) or "(whole image)"
    print(f"{config_file}: OK")
    print(f"  device {cfg.device_id}; source {cfg.source.type}; fields {names}")
    print(
        f"  model {cfg.model.path}; MQTT {cfg.mqtt.host}:{cfg.mqtt.port}"
        f"{' TLS' if cfg.mqtt.tls else ''}; outbox {cfg.outbox.path}"
    )
    return EXIT_OK


def _image_paths(items: Sequence[str]) -> Iterator[str]:
    for item in items:
        if item == "-":
            for line in sys.stdin:
                line = line.strip()
                if line:
                    yield line
        else:
            yield item


def _load_image(path: str) -> object:
    from edge_ocr import imagefile

    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ImageError(f"cannot read file: {err.strerror or err}") from err
    if not data:
        raise ImageError("empty file")
    header = imagefile.inspect(data)
    imagefile.check_size(header, 100_000_000)
    if not header.complete:
        raise ImageError(f"truncated {header.format.upper()} file")
    return imagefile.decode(data, header)


def _read(args: argparse.Namespace) -> int:
    from edge_ocr.recognizer import Recognizer, default_model_path

    setup_logging("WARNING")
    if args.threads < 1:
        raise ConfigError(f"--threads: must be at least 1, got {args.threads}")
    _check_allowed(args.allowed)
    recognizer = Recognizer(
        args.model or default_model_path(), args.threads, args.views, _language_model(args)
    )
    try:
        mask = recognizer.mask(args.allowed)
    except ValueError as err:
        raise ConfigError(f"--allowed: {err}") from err
    detector = None
    if args.detect:
        from edge_ocr.detect import MAX_SIDE_RANGE, Detector

        low, high = MAX_SIDE_RANGE
        if args.max_side is not None and not low <= args.max_side <= high:
            raise ConfigError(f"--max-side: must be {low}..{high}, got {args.max_side}")
        detector = Detector(args.detector, args.threads, args.max_side, not args.no_zoom)
    elif args.detector is not None:
        raise ConfigError("--detector: only with --detect")
    elif args.max_side is not None:
        raise ConfigError("--max-side: only with --detect")
    elif args.no_zoom:
        raise ConfigError("--no-zoom: only with --detect")
    failures = 0
    for path in _image_paths(args.images):
        try:
            image = _load_image(path)
            start = time.perf_counter()
            if detector is not None:
                from edge_ocr.lines import read_lines

                lines = read_lines(image, detector, recognizer)  # type: ignore[arg-type]
            else:
                (line,) = recognizer.recognize([image], [mask])  # type: ignore[list-item]
            ms = (time.perf_counter() - start) * 1000
        except (ImageError, ValueError) as err:
            failures += 1
            print(f"edge-ocr: {path}: {err}", file=sys.stderr)
            continue
        if detector is not None:
            _print_lines(path, lines, ms, args.json)
        elif args.json:
            print(
                json.dumps(
                    {
                        "path": path,
                        "text": line.text,
                        "confidence": round(line.confidence, 4),
                        "ms": round(ms, 1),
                        "chars": _chars(line.text, line.char_confidences),
                    },
                    ensure_ascii=False,
                ),
                flush=True,
            )
        else:
            print(f"{path}\t{line.text}\t{line.confidence:.3f}", flush=True)
    return EXIT_FAILURE if failures else EXIT_OK


def _check_allowed(allowed: str | None) -> None:
    if allowed is not None and not allowed:
        raise ConfigError("--allowed: must name at least one character")


def _chars(text: str, confidences: Sequence[float]) -> list[dict[str, object]]:
    return [{"char": c, "confidence": p} for c, p in zip(text, confidences, strict=True)]


def _print_lines(path: str, lines: Sequence[LineReading], ms: float, as_json: bool) -> None:
    """One image's detected lines: a JSON object, or one tab-separated row per line."""
    if as_json:
        body = {
            "path": path,
            "ms": round(ms, 1),
            "lines": [
                {**line.to_json(), "chars": _chars(line.text, line.char_confidences)}
                for line in lines
            ],
        }
        print(json.dumps(body, ensure_ascii=False), flush=True)
        return
    for line in lines:
        quad = " ".join(f"{x:.0f},{y:.0f}" for x, y in line.quad)
        print(f"{path}\t{line.text}\t{line.confidence:.3f}\t{quad}", flush=True)


def _batch(args: argparse.Namespace) -> int:
    from edge_ocr import batch

    setup_logging("WARNING")
    if any(n is not None and n < 1 for n in (args.workers, args.threads, args.batch_size)):
        raise ConfigError("--workers, --threads and --batch-size must be at least 1")
    _check_allowed(args.allowed)
    options = batch.BatchOptions(
        folder=args.folder,
        out=args.out,
        model=args.model,
        workers=args.workers or batch.DEFAULT_WORKERS,
        threads=args.threads or batch.default_threads(),
        batch_size=args.batch_size or batch.DEFAULT_BATCH_SIZE,
        allowed=args.allowed,
        views=args.views,
        lm=_language_model(args),
        progress=not args.no_progress,
    )
    s = batch.run(options)
    print(
        f"edge-ocr batch: {s.read} read, {s.errors} error(s), {s.skipped} already done, "
        f"{s.rate:.1f} images/s, {100 * s.padding:.0f}% padding",
        file=sys.stderr,
    )
    return EXIT_FAILURE if s.errors else EXIT_OK


def _label_view(args: argparse.Namespace) -> int:
    """Write the canonical view of a label found in a picture, each field on it outlined and
    named: where to measure a new field's rect, and a check of the ones configured."""
    import cv2
    import numpy as np

    from edge_ocr import anchor, config, regions

    setup_logging("WARNING")
    cfg = config.load(args.config)
    names = [label.name for label in cfg.labels]
    if args.label not in names:
        known = ", ".join(names) if names else "none"
        raise ConfigError(f"no label named '{args.label}' in {args.config}; labels: {known}")
    try:
        image = _load_image(args.image)
    except ImageError as err:
        raise EdgeOcrError(f"{args.image}: {err}") from err
    finder = anchor.finders(cfg.labels)[args.label]
    view = finder.view(image)  # type: ignore[arg-type]
    if view is None:
        print(f"edge-ocr: label '{args.label}' not found in {args.image}", file=sys.stderr)
        return EXIT_FAILURE
    if view.ndim == 2:
        view = cv2.cvtColor(view, cv2.COLOR_GRAY2BGR)
    height, width = view.shape[:2]
    drawn = 0
    for field in cfg.fields:
        if field.label != args.label:
            continue
        quad = regions.quad_on_label(field, finder.size)
        points = np.round(np.array(quad, dtype=np.float32)).astype(np.int32)
        cv2.polylines(view, [points], True, (0, 0, 255), 2)
        x, y = int(points[0][0]), max(12, int(points[0][1]) - 4)
        cv2.putText(view, field.name, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 255), 1)
        drawn += 1
    try:
        written = cv2.imwrite(str(args.out), view)
    except cv2.error:
        written = False
    if not written:
        raise EdgeOcrError(f"cannot write {args.out} (a writable path ending in .png, .jpg, ...)")
    print(
        f"{args.out}: label '{args.label}', canonical view {width}x{height} px, "
        f"{drawn} field(s) drawn"
    )
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from edge_ocr import demo

    setup_logging("WARNING")
    return demo.run(
        out=lambda line: print(line, flush=True),
        host=args.host,
        port=args.port,
        model=args.model,
        keep=args.keep,
        timeout=args.timeout,
    )
