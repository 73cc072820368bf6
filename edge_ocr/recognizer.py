"""Runs the CTC line-recognition model with onnxruntime: crops in, decoded lines out."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge_ocr import ctc, preprocess
from edge_ocr.errors import ModelError
from edge_ocr.modelinfo import ModelInfo
from edge_ocr.session import open_session

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "latin_crnn_int8.onnx"


def default_model_path() -> Path:
    """The shipped Latin model: next to an installed package, else in the source checkout."""
    candidates = [
        Path(sys.prefix) / "share" / "edge-ocr" / "models" / DEFAULT_MODEL_NAME,
        Path(__file__).resolve().parent.parent / "models" / DEFAULT_MODEL_NAME,
    ]
    for path in candidates:
        if path.is_file():
            return path
    return candidates[-1]


class Recognizer:
    """A loaded recognition model; `recognize` reads a batch of line crops in one call."""

    def __init__(self, model_path: str | os.PathLike[str], threads: int = 1) -> None:
        path = Path(model_path)
        self._session, meta = open_session(path, threads)
        self.info = ModelInfo.from_metadata(meta, source=str(path))
        self.path = path
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ModelError(f"{path}: expected one input of shape [n, 1, h, w]")
        self._input_name = inputs[0].name
        classes = self._session.get_outputs()[0].shape[-1]
        if isinstance(classes, int) and classes != len(self.info.charset) + 1:
            raise ModelError(
                f"{path}: output has {classes} classes but the charset has "
                f"{len(self.info.charset)} characters (+1 blank)"
            )
        log.info(
            "model %s version %s: %d characters, height %d, %d thread(s)",
            path.name,
            self.info.version,
            len(self.info.charset),
            self.info.height,
            threads,
        )

    def mask(self, allowed: str | None) -> np.ndarray | None:
        """The class mask for a set of allowed characters (ValueError if the model lacks one)."""
        return ctc.allowed_mask(self.info.charset, allowed)

    def prepare(self, crop: np.ndarray) -> np.ndarray:
        """Grayscale and height-normalize one crop (uint8 [height, w])."""
        info = self.info
        return preprocess.resize_to_height(
            preprocess.to_gray(crop), info.height, info.min_width, info.max_width
        )

    def recognize(
        self,
        crops: Sequence[np.ndarray],
        masks: Sequence[np.ndarray | None] | None = None,
    ) -> list[ctc.Decoded]:
        """Recognize each crop as one text line, all in one batched model call."""
        if not crops:
            return []
        lines = [self.prepare(crop) for crop in crops]
        return self.recognize_prepared(lines, masks)

    def recognize_prepared(
        self,
        lines: Sequence[np.ndarray],
        masks: Sequence[np.ndarray | None] | None = None,
    ) -> list[ctc.Decoded]:
        """Recognize lines already made by `prepare`, in one batched model call."""
        info = self.info
        batch = preprocess.batch_lines(lines, info.width_multiple, info.mean, info.std)
        (logits,) = self._session.run(None, {self._input_name: batch})  # [n, t, classes]
        results = []
        for i, line in enumerate(lines):
            length = -(-line.shape[1] // info.downsample)
            mask = masks[i] if masks is not None else None
            results.append(ctc.greedy_decode(logits[i], info.charset, mask, length))
        return results
