"""Pure functions that turn an image crop into the recognizer's input tensor.

Training (scripts/train.py) builds its batches with these same functions, so the network sees
lines resized and padded on the device exactly as it saw them in training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np


def to_gray(image: np.ndarray) -> np.ndarray:
    """Return a 2-D uint8 grayscale copy of a gray, BGR or BGRA image."""
    if image.ndim == 2:
        gray = image
    elif image.ndim == 3 and image.shape[2] == 1:
        gray = image[:, :, 0]
    elif image.ndim == 3 and image.shape[2] == 3:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    elif image.ndim == 3 and image.shape[2] == 4:
        gray = cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    else:
        raise ValueError(f"unsupported image shape {image.shape}")
    if gray.dtype != np.uint8:
        gray = np.clip(gray, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(gray)


def resize_to_height(gray: np.ndarray, height: int, min_width: int, max_width: int) -> np.ndarray:
    """Scale a line to `height` keeping its aspect ratio; squeeze it if wider than `max_width`."""
    h, w = gray.shape[:2]
    if h < 1 or w < 1:
        raise ValueError(f"empty crop {w}x{h}")
    width = int(round(w * height / h))
    width = max(min_width, min(max_width, width))
    interpolation = cv2.INTER_AREA if h > height else cv2.INTER_LINEAR
    return cv2.resize(gray, (width, height), interpolation=interpolation)


def padded_width(widths: Sequence[int], multiple: int) -> int:
    """The common width of a batch: its widest line rounded up to `multiple`."""
    return int(math.ceil(max(widths) / multiple) * multiple)


def border_value(line: np.ndarray) -> float:
    """The median of a line's border pixels: the colour padding continues the background with."""
    border = np.concatenate([line[0, :], line[-1, :], line[:, 0], line[:, -1]])
    return float(np.median(border))


def batch_lines(lines: Sequence[np.ndarray], multiple: int, mean: float, std: float) -> np.ndarray:
    """Stack height-normalized uint8 lines into a float32 [n, 1, h, W] tensor.

    Each line is padded on the right with its own background colour to the batch width, then
    normalized as (x / 255 - mean) / std.
    """
    if not lines:
        raise ValueError("no lines to batch")
    height = lines[0].shape[0]
    width = padded_width([line.shape[1] for line in lines], multiple)
    batch = np.empty((len(lines), 1, height, width), dtype=np.float32)
    for i, line in enumerate(lines):
        w = line.shape[1]
        batch[i, 0, :, :w] = line
        batch[i, 0, :, w:] = border_value(line)
    batch *= 1.0 / 255.0
    batch -= mean
    batch /= std
    return batch
