"""Runs the CTC line-recognition model with onnxruntime: crops in, decoded lines out."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_ocr import ctc, lexicon, preprocess
from edge_ocr.charlm import CharLM
from edge_ocr.errors import ModelError
from edge_ocr.modelinfo import DEFAULT_VIEWS, VIEW_NAMES, ModelInfo
from edge_ocr.session import open_session, shipped_model_path

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "latin_crnn_int8.onnx"


def default_model_path() -> Path:
    """The shipped Latin model: next to an installed package, else in the source checkout."""
    return shipped_model_path(DEFAULT_MODEL_NAME)


# The first conv layer's output is [n, 32, 32, width] float32: 512 columns is 2 MiB of it. The
# cap bounds what one model call needs, and so what onnxruntime's memory arena keeps for reuse
# (session.open_session): 32 lines of the widest 512 px would otherwise need 64 MB for that tensor
# alone, held for good. Smaller calls cost little: `edge-ocr batch` reads as fast at 512 as at
# 4096 (arena off, 1000 label crops: 5.4 s both, 109 MB peak instead of 126) and 35% faster
# with the arena (3.5 s).
MAX_BATCH_COLUMNS = 512

# Views of a line the recognizer reads (the first `views` of VIEW_NAMES) before it keeps the most
# confident reading: as prepared; with a margin of MARGIN_VIEW of the height on every side (a crop
# cut tight to the letters); stretched WIDE_VIEW times (condensed type). Chosen on a generated
# validation set (docs/eval.md has what each count costs and gains).
MARGIN_VIEW = 0.12
WIDE_VIEW = 1.35
# A line whose every character the first view reads at least this sure of is not read again.
SURE_VIEW = 0.95


class Recognizer:
    """A loaded recognition model; `recognize` reads a batch of line crops in one call."""

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        threads: int = 1,
        views: int = DEFAULT_VIEWS,
        lm: CharLM | str | os.PathLike[str] | None = None,
    ) -> None:
        """`lm`: a character language model over the model's charset (or its .npz file) to
        settle unsure characters with (`ctc.rescore`); None reads greedily."""
        if not 1 <= views <= len(VIEW_NAMES):
            raise ValueError(f"views must be 1..{len(VIEW_NAMES)}, got {views}")
        self.views = views
        self.lm = lm if isinstance(lm, CharLM) or lm is None else CharLM.load(lm)
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
        if self.lm is not None and self.lm.charset != self.info.charset:
            raise ModelError(
                f"{path}: the language model's charset is not the model's (set "
                "model.language_model: null, or --no-lm, to read without one)"
            )
        log.info(
            "model %s version %s: %d characters, height %d, %d thread(s), %d view(s) a line, %s",
            path.name,
            self.info.version,
            len(self.info.charset),
            self.info.height,
            threads,
            views,
            (
                f"language model of {len(self.lm)} n-grams, "
                f"{len(self.lm.words) if self.lm.words else 'no'} words"
            )
            if self.lm
            else "no language model",
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
        max_columns: int = MAX_BATCH_COLUMNS,
    ) -> list[ctc.Decoded]:
        """Recognize lines already made by `prepare` (results in order).

        Each line is read in `self.views` views and the most confident reading is kept; its
        character positions are given in frames of the line as prepared, whichever view won.
        """
        # The line as prepared first; only lines it reads unsure of get the other views.
        first = self._batched(lines, masks, max_columns)
        best = [(read, (0.0, 1.0)) for read in first]
        if self.views > 1:
            views: list[np.ndarray] = []
            maps: list[tuple[float, float]] = []
            owner: list[int] = []
            for i, read in enumerate(first):
                if read.greedy.text and min(read.greedy.char_confidences) >= SURE_VIEW:
                    continue
                for view, mapping in self._views(lines[i])[1:]:
                    views.append(view)
                    maps.append(mapping)
                    owner.append(i)
            view_masks = [masks[i] for i in owner] if masks else None
            for i, mapping, read in zip(
                owner, maps, self._batched(views, view_masks, max_columns), strict=True
            ):
                if read.greedy.confidence > best[i][0].greedy.confidence:
                    best[i] = (read, mapping)
        step = self.info.downsample
        out = []
        for read, (offset, scale) in best:
            d = self._settle(read)
            # column in the view = (column in the line + offset) * scale
            positions = tuple((p * step / scale - offset) / step for p in d.positions)
            out.append(ctc.Decoded(d.text, d.confidence, d.char_confidences, positions))
        return out

    def _settle(self, read: _Read) -> ctc.Decoded:
        """The final reading of the chosen view: its unsure parts settled by the language
        model, when there is one (only the winning view is rescored: a third of the work)."""
        if self.lm is None:
            return read.greedy
        settled = ctc.rescore(read.logits, self.info.charset, self.lm, read.mask)
        if self.lm.words is None:
            return settled
        return lexicon.snap(settled, read.logits, self.info.charset, self.lm.words, read.mask)

    def _views(self, line: np.ndarray) -> list[tuple[np.ndarray, tuple[float, float]]]:
        """The first `self.views` views of a prepared line, each with (offset, scale): a column
        x of the line is column (x + offset) * scale of the view."""
        h, w = line.shape
        out = [(line, (0.0, 1.0))]
        if self.views >= 2:
            pad = max(1, round(MARGIN_VIEW * h))
            framed = cv2.copyMakeBorder(line, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
            width = max(self.info.min_width, round((w + 2 * pad) * h / (h + 2 * pad)))
            out.append(
                (
                    cv2.resize(framed, (width, h), interpolation=cv2.INTER_AREA),
                    (float(pad), width / (w + 2 * pad)),
                )
            )
        if self.views >= 3:
            width = min(self.info.max_width, round(w * WIDE_VIEW))
            if width > w:
                out.append(
                    (
                        cv2.resize(line, (width, h), interpolation=cv2.INTER_LINEAR),
                        (0.0, width / w),
                    )
                )
        return out

    def _batched(
        self,
        lines: Sequence[np.ndarray],
        masks: Sequence[np.ndarray | None] | None,
        max_columns: int,
    ) -> list[_Read]:
        """One greedy reading per line, in model calls of similar widths (results in order).

        One model call takes lines of similar width, at most `max_columns` columns of padded
        width in all, so a frame with many long lines does not make one huge batch: memory
        stays bounded whatever the frame holds.
        """
        results: list[_Read | None] = [None] * len(lines)
        for group in width_groups([line.shape[1] for line in lines], max_columns):
            decoded = self._run(
                [lines[i] for i in group], [masks[i] if masks else None for i in group]
            )
            for i, d in zip(group, decoded, strict=True):
                results[i] = d
        return [r for r in results if r is not None]

    def _run(self, lines: Sequence[np.ndarray], masks: Sequence[np.ndarray | None]) -> list[_Read]:
        """One model call on one batch of lines."""
        info = self.info
        batch = preprocess.batch_lines(lines, info.width_multiple, info.mean, info.std)
        (logits,) = self._session.run(None, {self._input_name: batch})  # [n, t, classes]
        out = []
        for i, line in enumerate(lines):
            own = logits[i, : -(-line.shape[1] // info.downsample)]  # the line's frames, no padding
            out.append(_Read(ctc.greedy_decode(own, info.charset, masks[i]), own, masks[i]))
        return out


@dataclass(frozen=True, eq=False)
class _Read:
    """One view's greedy reading, with what rescoring it needs."""

    greedy: ctc.Decoded
    logits: np.ndarray  # [frames of the line, classes]
    mask: np.ndarray | None


def width_groups(
    widths: Sequence[int], max_columns: int, max_lines: int | None = None
) -> list[list[int]]:
    """Indices of lines cut into batches of similar width, widest first; each batch holds at
    most `max_columns` columns of padded width (lines x its widest line), at most `max_lines`
    lines if given, and at least one line."""
    order = sorted(range(len(widths)), key=lambda i: widths[i], reverse=True)
    groups: list[list[int]] = []
    for i in order:
        if (
            groups
            and (len(groups[-1]) + 1) * widths[groups[-1][0]] <= max_columns
            and (max_lines is None or len(groups[-1]) < max_lines)
        ):
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups
