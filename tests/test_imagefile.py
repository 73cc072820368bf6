"""edge_ocr.imagefile: format, size and completeness from the header, before decoding."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from edge_ocr import imagefile
from edge_ocr.errors import ImageError


def encoded(suffix: str, w: int = 64, h: int = 32) -> bytes:
    image = np.full((h, w, 3), 200, dtype=np.uint8)
    cv2.putText(image, "A1", (4, h - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
    ok, data = cv2.imencode(suffix, image)
    assert ok
    return data.tobytes()


@pytest.mark.parametrize("suffix,fmt", [(".png", "png"), (".jpg", "jpeg"), (".bmp", "bmp")])
def test_header_gives_format_and_size(suffix: str, fmt: str) -> None:
    """PNG, JPEG and BMP headers give the format and the image size."""
    header = imagefile.inspect(encoded(suffix, 64, 32))
    assert (header.format, header.width, header.height, header.complete) == (fmt, 64, 32, True)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp"])
def test_cut_off_file_is_incomplete(suffix: str) -> None:
    """A file cut short has no end marker (or is shorter than its BMP header says)."""
    data = encoded(suffix, 200, 100)
    assert imagefile.inspect(data[: len(data) * 2 // 3]).complete is False


def test_huge_png_is_refused_from_its_header_alone() -> None:
    """A 20000x20000 PNG header is refused without decoding anything."""
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    header = imagefile.inspect(b"\x89PNG\r\n\x1a\n" + chunk)
    with pytest.raises(ImageError, match="too large: 20000x20000"):
        imagefile.check_size(header, 25_000_000)


def test_text_file_is_not_an_image() -> None:
    """Bytes without an image signature are refused as not an image."""
    with pytest.raises(ImageError, match="not a supported image"):
        imagefile.inspect(b"hello, this is text\n")


def test_decode_gives_grayscale() -> None:
    """Decoding yields a 2-D uint8 array of the header's size."""
    data = encoded(".jpg", 64, 32)
    image = imagefile.decode(data, imagefile.inspect(data))
    assert image.shape == (32, 64) and image.dtype == np.uint8


def test_transparent_png_is_composed_on_white() -> None:
    """Fully transparent pixels become white, so dark text stays readable."""
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)  # black and fully transparent
    data = cv2.imencode(".png", rgba)[1].tobytes()
    image = imagefile.decode(data, imagefile.inspect(data))
    assert image.min() == 255


def test_corrupt_body_fails_to_decode() -> None:
    """A PNG with a valid header and garbage data is refused at decoding."""
    data = bytearray(encoded(".png", 64, 32))
    data[40:-20] = bytes(len(data) - 60)
    with pytest.raises(ImageError):
        imagefile.decode(bytes(data), imagefile.inspect(bytes(data)))
