"""Looks inside PNG, JPEG and BMP files before decoding them: format, size, completeness.

A watched folder receives whatever a user or a scanner drops into it. Reading the dimensions
from the header first means a 20000x20000 image is refused without allocating 400 MB, and
checking the trailer (PNG IEND, JPEG EOI, BMP declared size) tells a file still being written
from a finished one.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import cv2
import numpy as np

from edge_ocr.errors import ImageError

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class Truncated(ImageError):
    """The file ends inside its header: perhaps still being written."""


@dataclass(frozen=True)
class Header:
    """What a file's header says about the image in it."""

    format: str  # "png" | "jpeg" | "bmp"
    width: int
    height: int
    complete: bool  # the file's end marker is present
    alpha: bool = False


def inspect(data: bytes) -> Header:
    """Read format, size and completeness without decoding; ImageError if it is no image."""
    if data.startswith(_PNG_SIGNATURE):
        return _png(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg(data)
    if data.startswith(b"BM"):
        return _bmp(data)
    raise ImageError("not a supported image (PNG, JPEG or BMP)")


def _png(data: bytes) -> Header:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise Truncated("truncated PNG header")
    width, height = struct.unpack(">II", data[16:24])
    color_type = data[25]
    complete = b"IEND" in data[-32:]
    return Header("png", width, height, complete, alpha=color_type in (4, 6))


def _jpeg(data: bytes) -> Header:
    pos = 2
    size: tuple[int, int] | None = None
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ImageError(f"corrupt JPEG: no marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01,) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _JPEG_SOF:
            if pos + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            size = (width, height)
        if marker == 0xDA:  # start of scan: entropy-coded data follows up to EOI
            if size is None:
                raise ImageError("corrupt JPEG: image data before its size")
            # Entropy-coded data never holds FF D9 (FF is stuffed as FF 00), so an EOI after the
            # first scan means the file is whole; EXIF thumbnails lie before it and do not count.
            complete = data.find(b"\xff\xd9", pos + 2 + length) >= 0
            return Header("jpeg", size[0], size[1], complete)
        pos += 2 + length
    if size is None:
        raise Truncated("truncated JPEG header")
    return Header("jpeg", size[0], size[1], False)


def _bmp(data: bytes) -> Header:
    if len(data) < 26:
        raise Truncated("truncated BMP header")
    (declared,) = struct.unpack("<I", data[2:6])
    width, height = struct.unpack("<ii", data[18:26])
    if width <= 0 or height == 0:
        raise ImageError(f"corrupt BMP header: size {width}x{height}")
    return Header("bmp", width, abs(height), len(data) >= declared)


def check_size(header: Header, max_pixels: int) -> None:
    """ImageError when the image is empty or holds more than `max_pixels` pixels."""
    if header.width < 1 or header.height < 1:
        raise ImageError(f"image has no pixels ({header.width}x{header.height})")
    pixels = header.width * header.height
    if pixels > max_pixels:
        raise ImageError(
            f"image too large: {header.width}x{header.height} = {pixels} pixels, "
            f"more than max_pixels {max_pixels}"
        )


def decode(data: bytes, header: Header) -> np.ndarray:
    """Decode to 2-D grayscale uint8 (the recognizer reads gray; a third of BGR's memory).

    Transparent pixels are composed onto white, so dark text on a transparent background stays
    readable. EXIF orientation is applied by OpenCV.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    if header.alpha:
        image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        if image is not None and image.ndim == 3 and image.shape[2] == 4:
            alpha = image[:, :, 3:4].astype(np.float32) / 255.0
            color = image[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
            image = cv2.cvtColor(color.astype(np.uint8), cv2.COLOR_BGR2GRAY)
        elif image is not None and image.ndim == 3 and image.shape[2] == 2:
            image = image[:, :, 0]
    else:
        image = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    if image is None or image.size == 0:
        raise ImageError(f"cannot decode {header.format.upper()} data (corrupt file)")
    if image.dtype != np.uint8:
        image = (
            (image / 257).astype(np.uint8) if image.dtype == np.uint16 else image.astype(np.uint8)
        )
    return image
