"""Find usable fonts on the system and know which characters each one really draws.

A font is usable when it draws every digit and basic Latin letter with a real glyph. A character a
font lacks would come out as its .notdef glyph (a box, or nothing) while the label says otherwise,
so coverage is measured per font and character by comparing each glyph with the font's .notdef.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

# Debian installs most fonts under /usr/share/fonts; TeX Gyre lives in the texmf tree.
FONT_ROOTS: tuple[str, ...] = (
    "/usr/share/fonts",
    "/usr/share/texmf/fonts/opentype/public/tex-gyre",
)
FONT_SUFFIXES = (".ttf", ".otf", ".pfb", ".t1")
# Sfnt before Type 1: the same URW face ships as .otf, .t1 and .pfb; keep the first.
_SUFFIX_RANK = {suffix: rank for rank, suffix in enumerate(FONT_SUFFIXES)}

# Fonts that draw pictures, formulas, or scripts other than Latin in the Latin code points, plus
# DSEG: seven-segment looks are drawn by synthlib.glyphs where the label stays unambiguous.
_EXCLUDED = re.compile(
    r"symbol|math|emoji|dingbat|d050000l|music|braille|dseg|wingding|webding|icon|awesome"
    r"|keyboard|inverted|outline|nushu|smallcaps|small ?caps",
    re.IGNORECASE,
)
REQUIRED_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_PROBE_SIZE = 24
_SIGNATURE_TEXT = "Hamburgefonstiv 0123456789 QRgj"
# Code points no Latin font maps: they show what the font draws for a missing glyph.
_MISSING_PROBES = ("\U0010fffd", "\ue83a")


def _mask_bytes(font: ImageFont.FreeTypeFont, text: str) -> tuple[tuple[int, int], bytes]:
    """The rendered pixels of `text`, cut to its bounding box, and that box's size."""
    left, top, right, bottom = font.getbbox(text)
    width, height = right - left, bottom - top
    if width <= 0 or height <= 0:
        return (0, 0), b""
    image = Image.new("L", (width, height), 0)
    ImageDraw.Draw(image).text((-left, -top), text, font=font, fill=255)
    return (width, height), image.tobytes()


def glyph_coverage(font: ImageFont.FreeTypeFont, chars: Iterable[str]) -> frozenset[str]:
    """The characters of `chars` that `font` draws with a real glyph (space always counts)."""
    notdef = {_mask_bytes(font, probe) for probe in _MISSING_PROBES}
    covered = set()
    for ch in set(chars):
        if ch == " ":
            covered.add(ch)
            continue
        if not ch.isprintable():
            continue
        size, data = _mask_bytes(font, ch)
        if size[0] == 0 or size[1] == 0 or not any(data):
            continue  # empty glyph for a visible character: missing
        if (size, data) in notdef:
            continue
        covered.add(ch)
    return frozenset(covered)


def _caps_only(font: ImageFont.FreeTypeFont) -> bool:
    """Whether lower-case letters come out as capitals or small capitals (no ascender on 'h')."""
    same = sum(_mask_bytes(font, ch) == _mask_bytes(font, ch.upper()) for ch in "aegnr")
    h_height = font.getbbox("h")[3] - font.getbbox("h")[1]
    n_height = font.getbbox("n")[3] - font.getbbox("n")[1]
    return same >= 3 or h_height < 1.15 * n_height


def _candidate_files(roots: Sequence[str]) -> list[str]:
    files = []
    for root in roots:
        for dirpath, _dirs, names in os.walk(root, followlinks=True):
            for name in names:
                if name.lower().endswith(FONT_SUFFIXES) and not _EXCLUDED.search(name):
                    files.append(os.path.join(dirpath, name))
    # Deterministic order, sfnt before Type 1 so duplicates keep the sfnt copy.
    return sorted(set(files), key=lambda p: (_SUFFIX_RANK[os.path.splitext(p)[1].lower()], p))


@functools.lru_cache(maxsize=4)
def _list_fonts(roots: tuple[str, ...]) -> tuple[str, ...]:
    kept: list[str] = []
    seen_names: set[tuple[str, str]] = set()
    seen_signatures: set[bytes] = set()
    for path in _candidate_files(roots):
        try:
            font = ImageFont.truetype(path, _PROBE_SIZE)
            family, style = font.getname()
        except OSError as err:
            log.debug("skipping unreadable font %s: %s", path, err)
            continue
        family, style = family or "", style or ""
        if _EXCLUDED.search(family) or _EXCLUDED.search(style):
            continue
        name_key = (family.lower().replace(" ", ""), style.lower().replace(" ", ""))
        if name_key in seen_names:
            continue
        if len(glyph_coverage(font, REQUIRED_CHARS)) < len(REQUIRED_CHARS):
            continue
        # Script fonts (Noto Sans Armenian ...) often carry a copy of Noto Sans' Latin: same look.
        signature = hashlib.sha1(
            b"".join(_mask_bytes(font, part)[1] for part in _SIGNATURE_TEXT.split())
        ).digest()
        if signature in seen_signatures:
            continue
        seen_names.add(name_key)
        seen_signatures.add(signature)
        kept.append(path)
    return tuple(sorted(kept))


def list_fonts(roots: Sequence[str] = FONT_ROOTS) -> list[str]:
    """Paths of installed fonts that draw basic Latin and digits, one file per distinct face."""
    return list(_list_fonts(tuple(roots)))


@dataclass(frozen=True)
class FontFace:
    """One font file, the family it belongs to, and the charset characters it really draws."""

    path: str
    family: str
    style: str
    coverage: frozenset[str]

    @property
    def monospace(self) -> bool:
        return "mono" in self.family.lower() or "courier" in self.family.lower()

    @property
    def bold(self) -> bool:
        return any(w in self.style.lower() for w in ("bold", "black", "heavy", "semibold"))


def load_faces(paths: Sequence[str], charset: str) -> list[FontFace]:
    """Describe each font in `paths` with its coverage of `charset`, dropping unreadable files."""
    faces = []
    for path in paths:
        try:
            font = ImageFont.truetype(path, _PROBE_SIZE)
        except OSError as err:
            log.warning("cannot load font %s: %s", path, err)
            continue
        family, style = font.getname()
        coverage = glyph_coverage(font, charset)
        if _caps_only(font):
            # Bebas Neue and friends draw capitals for lower-case codes: the label would lie.
            coverage = frozenset(ch for ch in coverage if not ch.islower())
        if len(coverage) < 2:
            continue
        faces.append(FontFace(path, family or path, style or "", coverage))
    return faces


@functools.lru_cache(maxsize=2048)
def font_at(path: str, size: int) -> ImageFont.FreeTypeFont:
    """A cached FreeType font object for `path` at pixel `size`."""
    return ImageFont.truetype(path, size)
