"""Finding a shipped ONNX model and opening it with onnxruntime, the same way for every model."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from edge_ocr.errors import ModelError


def shipped_model_path(name: str) -> Path:
    """A model shipped with edge-ocr: next to an installed package (<prefix>/share/edge-ocr/
    models), else in the source checkout's models/ (the latter when neither exists)."""
    candidates = [
        Path(sys.prefix) / "share" / "edge-ocr" / "models" / name,
        Path(__file__).resolve().parent.parent / "models" / name,
    ]
    for path in candidates:
        if path.is_file():
            return path
    return candidates[-1]


def open_session(path: Path, threads: int, what: str = "model") -> tuple[Any, dict[str, str]]:
    """A CPU inference session on `threads` threads and the model's custom metadata.

    ModelError names the file when it is missing or onnxruntime cannot load it.

    The memory arena is on: it keeps the buffers of the largest call for the next ones, which
    is bounded here (the detector's input by its max_side, a recognizer call by
    recognizer.MAX_BATCH_COLUMNS). Without it every buffer over glibc's mmap threshold is
    mapped afresh on each call and the kernel faults in and zeroes its pages every time: a
    640x480 frame of <= 8 lines took 41-45 ms to detect and read instead of 23-26 (peak RSS 129
    -> 143 MB), a daemon reading 4 fields a frame ran 19 frames/s instead of 29 and peaked
    at 143 MB instead of 128 (the heap churned), `edge-ocr batch` read 1000 label crops in
    5.4 s instead of 3.5 (109 MB both).
    """
    import onnxruntime as ort  # imported here so config checks need not load it

    if not path.is_file():
        raise ModelError(f"{what} file not found: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = True
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as err:  # onnxruntime raises its own untyped errors
        raise ModelError(f"cannot load {what} {path}: {err}") from err
    return session, dict(session.get_modelmeta().custom_metadata_map)
