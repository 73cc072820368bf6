"""Opening an ONNX model with onnxruntime the way every edge-ocr model is run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_ocr.errors import ModelError


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
