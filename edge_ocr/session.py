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

    ModelError names the file when it is missing or onnxruntime cannot load it. The memory
    arena is off: it would keep the largest batch's buffers for good; without it, memory
    follows the work (edge_ocr/memory.py returns what is freed).
    """
    import onnxruntime as ort  # imported here so config checks need not load it

    if not path.is_file():
        raise ModelError(f"{what} file not found: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = False
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as err:  # onnxruntime raises its own untyped errors
        raise ModelError(f"cannot load {what} {path}: {err}") from err
    return session, dict(session.get_modelmeta().custom_metadata_map)
