"""The charsets the models read, one file each holding the characters on one line.

Light on purpose (no torch, no OpenCV): every script that takes `--charset` reads it here.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_CHARSET = Path(__file__).with_name("latin.txt")


def read_charset(path: str | os.PathLike[str] = DEFAULT_CHARSET) -> str:
    """A charset file's characters (ValueError if one is there twice)."""
    text = Path(path).read_text(encoding="utf-8").rstrip("\n")
    if len(set(text)) != len(text):
        raise ValueError(f"{path}: duplicate characters in charset")
    return text
