"""Synthetic text lines for training and evaluating the recognizer: grayscale crops and their text.

    from scripts.synth import LineGenerator
    gen = LineGenerator(charset, seed=1)
    img, text = gen.sample()             # img: [h, w] uint8, h about 16..96; text within charset
    img, text = gen.sample(text="IP65")  # a given text (characters outside the charset dropped)

The same (charset, seed, fonts, kind) always yields the same sequence of samples.

CLI:

    python -m scripts.synth --charset scripts/charsets/latin.txt --out DIR --count N --seed S \
        --workers W [--kind mixed|label|words] [--shard-size 1000] [--png] [--preview FILE.png]

writes DIR/shard-00000.npz, DIR/shard-00001.npz, ... Shard i holds samples drawn by a generator
seeded from (S, i), so the output does not depend on --workers or scheduling. A shard is a plain
numpy archive (no pickle) with three arrays:

    pixels  uint8 [sum of h*w]   all images flattened and concatenated
    shapes  int32 [n, 2]         (h, w) of each image, in order
    labels  str   [n]            the transcription of each image

`load_shard(path)` turns one back into a list of (image, text). With --png the images are also
written as DIR/png/00000000.png with DIR/labels.tsv ("file<TAB>text" per line) for people to see.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import random
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from scripts.charsets import read_charset
from scripts.synthlib import effects
from scripts.synthlib.content import TextSource
from scripts.synthlib.fonts import FontFace, font_at, list_fonts, load_faces
from scripts.synthlib.glyphs import (
    SEVEN_SEGMENT,
    Ink,
    clear_space,
    render_dot_matrix,
    render_font,
    render_seven_segment,
    render_stencil,
)

__all__ = ["KINDS", "LineGenerator", "list_fonts", "load_shard", "write_shard"]

log = logging.getLogger(__name__)

KINDS = ("mixed", "label", "words")
LABEL_SHARE = 0.5  # of the mixed kind's lines: label/nameplate lines, the rest words
SEVEN_SEGMENT_SHARE = 0.05  # of label lines: seven-segment display readings
# Of the mixed kind's label-set lines: random strings over the whole charset, which keep rare
# symbols in the training signal. They are no nameplate's text, so the label kind (the nameplate
# validation and test sets) has none: 0.2.11 misread 8 of the 31 in a 600-line draw, where I, l
# and 1 or O and 0 have no context to tell them apart (4% of label-kind lines through 09c7865).
SOUP_SHARE = 0.04
# Crops that show a cut-off piece of the next word at a side (word crops from a line of text):
# the share of scene-word and of label lines that get one, at the left, the right or both.
SIDE_FRAGMENT_SHARE = {"words": 0.08, "label": 0.03}
# The share of the letter's width a piece keeps, and the gap to it in word spaces (plus 0.06 em).
# Less than a third of a wide letter is a lone stem (H cut at 20% is an I) and a gap of under a
# word space is a letter gap in wide-tracked type: both taught latin-crnn 0.2.6 (pieces of
# 15-65% at 0.8-1.6 spaces) to drop real first and last letters (BANK read BAN).
SIDE_FRAGMENT_KEEP = (0.35, 0.65)
SIDE_FRAGMENT_GAP = (1.1, 1.8)
LONE_STEMS = frozenset("Iil1j|!.,:;'\"`")
# Of font-set lines up to WIDE_TRACKING_CHARS long: letter-spaced signage (DEBENHAMS, LITTER),
# letters 0.3-1 em apart; the word space grows by the tracking too, so it stays the wider gap.
# latin-crnn 0.2.5, never shown such lines, read 27% of words set 0.7 em apart right (spaces read
# between the letters), 99% at 0.5 em and all at 0.35 em.
WIDE_TRACKING_SHARE = 0.06
WIDE_TRACKING_EM = (0.3, 1.0)
WIDE_TRACKING_CHARS = 14
# Of other font-set lines with a word space: the space set 0.15-0.5 em wide instead of the font's
# own (0.2-0.33 em). Condensed, justified and hand-set signs and scene lines have narrow ones;
# latin-crnn 0.2.8, shown only the fonts' spaces, read 9% of phrases with 0.2 em spaces and 32%
# with 0.15 em spaces without one (panel spam read panelspam).
VARIABLE_SPACE_SHARE = 0.3
VARIABLE_SPACE_EM = (0.15, 0.5)
# On a label line every word gap is at least this many em wider than its widest letter gap (the
# space widened where it is not): a space no wider than the gap a colon's or a 1's bearings leave
# is a coin flip. latin-crnn 0.2.11 read 4.0% of 3000 generated label lines whose narrowest word
# gap was under 0.2 em wider than their widest letter gap with a space too many or too few, 2.3%
# at 0.2-0.3 em, 0.6% beyond; but with 0.25 em, a cycle trained on it (r23) learned to miss
# narrow spaces (scripts.spaces, 0.15 em: 198 of 320 phrases against 0.2.11's 249), and real
# labels and signs have them. So only spaces hardly wider than a letter gap are widened.
LABEL_SPACE_MARGIN = 0.1
# Words in family names that name a member of a design rather than the design itself
# ("Roboto Condensed", "Inter Display", "Linux Libertine O").
_WIDTH_OR_WEIGHT = re.compile(r"\b(display|condensed|narrow|medium|light|bold|italic|cn|minus|o)\b")
# Small marks that sit at the top or bottom of the line and vanish when the box clips there.
_HIGH_MARKS = set("°'\"`^~*")
_LOW_MARKS = set("_.,;:")
# Styles that do not survive being sampled onto a dot grid of 8-10 rows: too thin or slanted, or
# so bold that a monospaced m's three stems run into one block (a dot-matrix line's weight comes
# from how far glyphs.render_dot_matrix thickens a regular face instead).
_NOT_FOR_DOTS = ("thin", "light", "hairline", "italic", "oblique", "bold", "black", "heavy")
MIN_HEIGHT, MAX_HEIGHT = 16, 96


@lru_cache(maxsize=8)
def _faces(paths: tuple[str, ...], charset: str) -> tuple[FontFace, ...]:
    return tuple(load_faces(paths, charset))


def _family_key(face: FontFace) -> str:
    """Group weights and widths of one design so each design is drawn about equally often."""
    name = _WIDTH_OR_WEIGHT.sub("", face.family.lower())
    return "".join(name.split())


@dataclass(frozen=True)
class _Look:
    """How one sample is drawn."""

    renderer: str  # "font", "stencil", "dot_matrix" or "seven_segment"
    face: FontFace | None


@dataclass(frozen=True)
class _Printed:
    """How the last line set in a font was set: its neighbours are set the same way."""

    face: FontFace
    size: int
    tracking: float
    space: float  # a word space's width in px, without the tracking


class LineGenerator:
    """Draws (image, text) samples of single text lines: scene words and label/nameplate lines."""

    def __init__(
        self,
        charset: str,
        seed: int,
        fonts: list[str] | None = None,
        kind: str = "mixed",
        label_share: float = LABEL_SHARE,
    ) -> None:
        """`label_share` is the share of label/nameplate lines in the mixed kind."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        if not 0.0 <= label_share <= 1.0:
            raise ValueError(f"label_share must be within 0..1, not {label_share}")
        self.label_share = label_share
        if not charset.strip():
            raise ValueError("empty charset")
        self.charset = charset
        self.kind = kind
        seed = int(seed) & 0xFFFFFFFFFFFFFFFF
        self._r = random.Random(seed)
        self._g = np.random.default_rng(seed)
        paths = tuple(list_fonts() if fonts is None else fonts)
        self.faces = _faces(paths, charset)
        if not self.faces:
            raise ValueError(f"none of {len(paths)} fonts draws characters of the charset")
        families: dict[str, list[FontFace]] = {}
        for face in self.faces:
            families.setdefault(_family_key(face), []).append(face)
        self._families = [families[k] for k in sorted(families)]
        self._bold = [f for f in self.faces if f.bold and not f.monospace] or list(self.faces)
        self._matrix = [
            f
            for f in self.faces
            if f.monospace and not any(w in f.style.lower() for w in _NOT_FOR_DOTS)
        ] or list(self.faces)
        self.source = TextSource(charset, self._r)
        self._printed: _Printed | None = None
        self._seven_segment_ok = sum(ch in charset for ch in "0123456789") >= 8

    # -- public -------------------------------------------------------------------------------

    def sample(self, text: str | None = None) -> tuple[np.ndarray, str]:
        """One sample: a 2-D uint8 image and the text it shows (only charset characters)."""
        r = self._r
        is_label = True  # a given text is set like a label line
        if text is None:
            is_label = self.kind == "label" or (
                self.kind == "mixed" and r.random() < self.label_share
            )
            look = self._pick_look(is_label)
            text = self._pick_text(is_label, look)
        else:
            text = self.source.clean(text) or self.source.random_chars()
            look = self._pick_look(is_label=True, given=text)
        ink = self._render(text, look, is_label)
        if not ink.text:  # nothing drawable survived: fall back to plain font text
            ink = self._render(self.source.random_chars(), _Look("font", None), is_label)
        sides = self._pick_sides(is_label)
        return self._photograph(ink, relief_bias=look.renderer != "font", sides=sides), ink.text

    # -- text and look ------------------------------------------------------------------------

    def _pick_look(self, is_label: bool, given: str | None = None) -> _Look:
        r = self._r
        x = r.random()
        if is_label:
            seven = x < SEVEN_SEGMENT_SHARE and self._seven_segment_ok
            if given is not None:
                seven = seven and all(ch in SEVEN_SEGMENT or ch in ".:" for ch in given)
            if seven:
                return _Look("seven_segment", None)
            if x < 0.11:
                return _Look("dot_matrix", r.choice(self._matrix))
            if x < 0.15:
                return _Look("stencil", r.choice(self._bold))
        elif x < 0.02:
            return _Look("stencil", r.choice(self._bold))
        return _Look("font", None)

    def _pick_sides(self, is_label: bool) -> tuple[str, ...]:
        """Which sides of the crop show a piece of the neighbouring word: none mostly."""
        r = self._r
        share = SIDE_FRAGMENT_SHARE["label" if is_label else "words"]
        if self._printed is None or r.random() >= share:
            return ()
        return r.choice((("left",), ("right",), ("right",), ("left", "right")))

    def _pick_text(self, is_label: bool, look: _Look) -> str:
        if look.renderer == "seven_segment":
            return self.source.display_reading()
        if self.kind == "mixed" and is_label and self._r.random() < SOUP_SHARE:
            return self.source.random_chars()
        return self.source.line("label" if is_label else "words")

    def _face_for(self, text: str) -> tuple[FontFace, str]:
        """A face that draws every character of `text`; else the best one, missing chars dropped."""
        r = self._r
        needed = set(text)
        best: FontFace | None = None
        for _ in range(12):
            face = r.choice(r.choice(self._families))
            if needed <= face.coverage:
                return face, text
            if best is None or len(needed & face.coverage) > len(needed & best.coverage):
                best = face
        covering = [f for f in self.faces if needed <= f.coverage]
        if covering:
            return r.choice(covering), text
        assert best is not None
        return best, "".join(ch for ch in text if ch in best.coverage)

    def _render(self, text: str, look: _Look, is_label: bool) -> Ink:
        r = self._r
        self._printed = None
        if look.renderer == "seven_segment":
            return render_seven_segment(text, r)
        face = look.face
        if face is None or not set(text) <= face.coverage:
            face, text = self._face_for(text)
        text = " ".join(text.split())
        if look.renderer == "dot_matrix":
            return render_dot_matrix(face.path, text, r)
        if r.random() < 0.15:
            size = r.randint(10, 14)  # far away: few pixels per letter, upscaled later
        else:
            size = int(r.triangular(16, 52, 26))
        if look.renderer == "stencil":
            return render_stencil(face.path, text, size, r)
        tracking = 0.0
        space = None
        if len(text) <= WIDE_TRACKING_CHARS and r.random() < WIDE_TRACKING_SHARE:
            tracking = size * r.uniform(*WIDE_TRACKING_EM)
        else:
            if r.random() < 0.3:
                tracking = size * r.uniform(-0.04, 0.22)
            if " " in text and r.random() < VARIABLE_SPACE_SHARE:
                space = size * r.uniform(*VARIABLE_SPACE_EM)
        if is_label and " " in text:
            space = clear_space(face.path, text, size, tracking, space, LABEL_SPACE_MARGIN)
        rise = None
        if r.random() < 0.06:  # characters stamped or stuck on one by one
            wobble = size * r.uniform(0.02, 0.07)
            rise = [r.uniform(-wobble, wobble) for _ in text]
        ink = render_font(face.path, text, size, tracking, rise, space)
        if space is None:
            space = font_at(face.path, size).getlength(" ")
        self._printed = _Printed(face, size, tracking, space)
        return ink

    # -- appearance ---------------------------------------------------------------------------

    def _photograph(self, ink: Ink, relief_bias: bool, sides: Sequence[str] = ()) -> np.ndarray:
        r, g = self._r, self._g
        size = ink.size
        # Room for the widest crop margin plus how far rotation (5 deg) and horizontal stretch
        # (15 %) move the ends of a long line, so no letter leaves the canvas; a neighbouring
        # word's first or last letter needs another word gap and letter.
        width = ink.mask.shape[1]
        pad = int(size * 0.9 + 0.05 * width) + 4
        pad_x = int(size * (1.9 if sides else 0.9) + 0.09 * width) + 4
        text = cv2.copyMakeBorder(ink.mask, pad, pad, pad_x, pad_x, cv2.BORDER_CONSTANT, value=0)
        text = text.astype(np.float32) * (1 / 255)
        other = np.zeros_like(text)
        decorated = self._decorate(other, ink, pad_x, pad)
        side = np.zeros_like(text)
        if sides:
            self._side_fragments(side, ink, pad_x, pad, sides)
            text, other, side = effects.warp([text, other, side], size, r)
            other = np.maximum(other, side)
        elif decorated:
            text, other = effects.warp([text, other], size, r)
        else:
            (text,) = effects.warp([text], size, r)
        # Most samples easy to read, a tail of hard ones (median difficulty 0.18). Tiny text is
        # hard enough already: stacking every degradation on it would leave nothing to read.
        hard = r.random() ** 2.5
        if size < effects.TINY:
            hard *= 0.5
        # Clutter, a shadow's edge or glare can leave a word as faint as the surface around it
        # while the line as a whole passes: such a print is drawn again, milder. (Relief shows
        # letters by their shaded edges, not by a darker or lighter mean: not measured so.)
        line_bands = effects.stroke_bands(text, size)
        for _ in range(3):
            image, stamped = self._print(
                text, np.minimum(text + other, 1.0), line_bands, size, hard, relief_bias
            )
            contrasts = effects.band_contrasts(image, line_bands)
            if stamped or not len(contrasts) or contrasts.min() >= effects.PRINT_FLOOR:
                break
            hard *= 0.4
        # A box clipping the top could erase a degree sign or quote, the bottom a period.
        chars = set(ink.text)
        scene = effects.crop(
            effects.Scene(image, text, size),
            r,
            clip_top=not chars & _HIGH_MARKS,
            clip_bottom=not chars & _LOW_MARKS,
            clip_left=ink.text[:1].isalnum(),
            clip_right=ink.text[-1:].isalnum(),
            neighbours=side if sides else None,
        )
        bands = effects.stroke_bands(scene.text_mask, scene.size)
        image = effects.camera(scene, hard, r, g, bands)
        out = effects.finish(image, hard, r, bands)
        return self._fit_height(out, small=size < effects.TINY)

    def _print(
        self,
        text: np.ndarray,
        all_ink: np.ndarray,
        bands: effects.Bands | None,
        size: int,
        hard: float,
        relief_bias: bool,
    ) -> tuple[np.ndarray, bool]:
        """The line printed or stamped on a surface and lit, with at least a legible contrast
        over the whole line, and whether it is stamped (in relief); `text` is the line's own
        ink and `bands` its `effects.stroke_bands`, `all_ink` with whatever shares the crop."""
        r, g = self._r, self._g
        bg, fg = effects.gray_pair(r, hard)
        # Relief shows letters by the shading of their edges: at a few pixels a letter it shades
        # into blobs nobody could read, so tiny text is printed.
        stamped = r.random() < (0.2 if relief_bias else 0.08) and size >= effects.TINY
        if stamped:  # metal plates and cast parts: mid-gray, brushed or grainy
            bg = r.uniform(0.3, 0.8)
            surface = effects.background(text.shape, bg, r, g, metal=True)
        else:
            surface = effects.background(text.shape, bg, r, g)
        if r.random() < 0.12:
            effects.clutter(surface, bg, r)
        if stamped:
            image = effects.relief(surface, all_ink, size, hard, r)
        else:
            x = r.random()
            if x < 0.1:
                surface = effects.drop_shadow(surface, all_ink, size, r)
            elif x < 0.16:  # contour in a third gray, far from the ink
                level = fg + (0.5 if fg < 0.5 else -0.5) * r.uniform(0.6, 1.0)
                surface = effects.outline(surface, all_ink, size, level, r)
            image = effects.print_ink(surface, all_ink, fg, hard, r, g)
        image = effects.light(image, bands, hard, r)
        return effects.ensure_legible(image, text, size, 0.16 - 0.08 * hard), stamped

    def _decorate(self, other: np.ndarray, ink: Ink, left: int, top: int) -> bool:
        """Draw neighbouring lines, underlines or frames sharing the crop; False if none drawn.

        The line's mask sits in `other` with its top-left corner at (`left`, `top`).
        """
        r = self._r
        h, w = ink.mask.shape
        drawn = False
        if r.random() < 0.2:
            for above in (True, False):
                if r.random() < 0.6:
                    self._neighbour(other, ink, left, top, above)
                    drawn = True
        if r.random() < 0.03:
            self._barcode(other, ink, left, top)
            drawn = True
        x = r.random()
        if x < 0.06:  # underline
            y = top + h + int(ink.size * r.uniform(-0.05, 0.12))
            thick = max(1, int(ink.size * r.uniform(0.04, 0.1)))
            cv2.line(other, (left, y), (left + w, y), 1.0, thick)
        elif x < 0.1:  # printed frame or box around the value
            m = int(ink.size * r.uniform(0.1, 0.3))
            thick = max(1, int(ink.size * r.uniform(0.03, 0.08)))
            cv2.rectangle(other, (left - m, top - m), (left + w + m, top + h + m), 1.0, thick)
        return drawn or x < 0.1

    def _side_fragments(
        self, side: np.ndarray, ink: Ink, left: int, top: int, sides: Sequence[str]
    ) -> None:
        """Draw the part of the next word's first (or the previous word's last) letter that a
        crop cut through the gap after (before) the line would still show.

        Set in the line's face, size and tracking, on its baseline, a word space away; 15-65 %
        of the letter's width is kept, so the crop (cut at the piece's outer edge) never shows a
        whole letter the label leaves out. The line's mask sits in `side` at (`left`, `top`).
        """
        r, printed = self._r, self._printed
        assert printed is not None
        font = font_at(printed.face.path, printed.size)
        main_top = font.getbbox(ink.text)[1]
        space = printed.space + printed.tracking
        h, w = ink.mask.shape
        upper = ink.text.isupper()
        for where in sides:
            word = r.choice(self.source.line("words").split() or ["a"])
            ch = word[0] if where == "right" else word[-1]
            ch = ch.upper() if upper else ch
            if ch in LONE_STEMS or not ch.strip() or ch not in printed.face.coverage:
                continue
            glyph = render_font(printed.face.path, ch, printed.size).mask  # 2 px border
            ink_width = glyph.shape[1] - 4
            if ink_width < 0.3 * printed.size:
                continue  # a narrow letter's piece is a stem: read as I, l or 1, not a piece
            keep = max(1, round(ink_width * r.uniform(*SIDE_FRAGMENT_KEEP)))
            gap = round(space * r.uniform(*SIDE_FRAGMENT_GAP) + 0.06 * printed.size)
            # Both masks are trimmed to their ink with 2 px: align the tops of their boxes as
            # the font places them above the shared baseline.
            y = top + font.getbbox(ch)[1] - main_top
            if where == "right":
                piece = glyph[:, : 2 + keep]
                x = left + w - 2 + gap - 2
            else:
                piece = glyph[:, glyph.shape[1] - 2 - keep :]
                x = left + 2 - gap - keep
            ph, pw = piece.shape
            y0, y1 = max(0, y), min(side.shape[0], y + ph)
            x0, x1 = max(0, x), min(side.shape[1], x + pw)
            if y1 > y0 and x1 > x0:
                region = piece[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32) * (1 / 255)
                side[y0:y1, x0:x1] = np.maximum(side[y0:y1, x0:x1], region)

    def _barcode(self, other: np.ndarray, ink: Ink, left: int, top: int) -> None:
        """Bars above the line, as printed over the digits of an EAN/UPC or Code 128 label."""
        r = self._r
        w = ink.mask.shape[1]
        bottom = top - int(ink.size * r.uniform(0.05, 0.3))
        upper = max(0, bottom - int(ink.size * r.uniform(1.0, 3.0)))
        unit = max(1, round(ink.size * r.uniform(0.04, 0.1)))
        x = left + int(r.uniform(-0.1, 0.1) * w)
        end = min(other.shape[1], left + w + int(r.uniform(-0.1, 0.1) * w))
        while x < end:
            bar = unit * r.randint(1, 4)
            other[upper:bottom, max(0, x) : max(0, x + bar)] = 1.0
            x += bar + unit * r.randint(1, 4)

    def _neighbour(self, other: np.ndarray, ink: Ink, left: int, top: int, above: bool) -> None:
        """Paste part of another text line just above or below, as on a dense label."""
        r = self._r
        text = self.source.line("label" if r.random() < 0.6 else "words")
        face, text = self._face_for(text)
        mask = render_font(face.path, text, ink.size).mask.astype(np.float32) * (1 / 255)
        gap = int(ink.size * r.uniform(0.1, 0.5))
        hh, ww = other.shape
        mh, mw = mask.shape
        y = top - gap - mh if above else top + ink.mask.shape[0] + gap
        x = left + int(r.uniform(-0.3, 0.3) * ink.mask.shape[1])
        y0, y1 = max(0, y), min(hh, y + mh)
        x0, x1 = max(0, x), min(ww, x + mw)
        if y1 > y0 and x1 > x0:
            region = mask[y0 - y : y1 - y, x0 - x : x1 - x]
            other[y0:y1, x0:x1] = np.maximum(other[y0:y1, x0:x1], region)

    def _fit_height(self, image: np.ndarray, small: bool) -> np.ndarray:
        h, w = image.shape
        scale = 1.0
        if small:
            scale = self._r.uniform(2.0, 3.5)
        if h * scale > MAX_HEIGHT:
            scale = self._r.uniform(48, MAX_HEIGHT) / h
        if h * scale < MIN_HEIGHT:
            scale = MIN_HEIGHT / h
        if scale == 1.0:
            return image
        size = (max(1, round(w * scale)), max(MIN_HEIGHT, round(h * scale)))
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        return cv2.resize(image, size, interpolation=interpolation)


# -- shards ----------------------------------------------------------------------------------


def write_shard(path: str, samples: Sequence[tuple[np.ndarray, str]]) -> None:
    """Write samples as one pickle-free .npz shard (format in the module docstring)."""
    shapes = np.array([img.shape for img, _ in samples], dtype=np.int32).reshape(-1, 2)
    pixels = (
        np.concatenate([img.ravel() for img, _ in samples]) if samples else np.zeros(0, np.uint8)
    )
    labels = np.array([text for _, text in samples], dtype=str)
    tmp = path + ".tmp.npz"
    np.savez(tmp, pixels=pixels, shapes=shapes, labels=labels)
    os.replace(tmp, path)


def load_shard(path: str) -> list[tuple[np.ndarray, str]]:
    """Read a shard written by `write_shard` back into (image, text) pairs."""
    with np.load(path, allow_pickle=False) as data:
        pixels, shapes, labels = data["pixels"], data["shapes"], data["labels"]
    out = []
    offset = 0
    for (h, w), text in zip(shapes.tolist(), labels.tolist(), strict=True):
        out.append((pixels[offset : offset + h * w].reshape(h, w), str(text)))
        offset += h * w
    return out


def shard_seed(seed: int, index: int) -> int:
    """The generator seed of shard `index`: independent streams, fixed by (seed, index) alone."""
    return int(np.random.SeedSequence([seed & 0xFFFFFFFF, index]).generate_state(1)[0])


@dataclass(frozen=True)
class _ShardJob:
    index: int
    count: int
    seed: int
    charset: str
    kind: str
    fonts: tuple[str, ...]
    out: str


def _make_shard(job: _ShardJob) -> tuple[int, list[tuple[np.ndarray, str]]]:
    gen = LineGenerator(job.charset, shard_seed(job.seed, job.index), list(job.fonts), job.kind)
    samples = [gen.sample() for _ in range(job.count)]
    write_shard(os.path.join(job.out, f"shard-{job.index:05d}.npz"), samples)
    return job.index, samples


def contact_sheet(
    samples: Sequence[tuple[np.ndarray, str]], columns: int = 3, cell: tuple[int, int] = (420, 64)
) -> np.ndarray:
    """A grid of samples, each scaled into a cell above its label, for eyeballing realism."""
    from PIL import Image, ImageDraw, ImageFont  # only the preview needs text drawing here

    cw, ch = cell
    label_h = 18
    rows = math.ceil(len(samples) / columns)
    sheet = Image.new("L", (columns * (cw + 8), rows * (ch + label_h + 8)), 200)
    draw = ImageDraw.Draw(sheet)
    fonts = [p for p in list_fonts() if "DejaVuSans.ttf" in p]
    font = ImageFont.truetype(fonts[0], 13) if fonts else ImageFont.load_default()
    for i, (img, text) in enumerate(samples):
        h, w = img.shape
        scale = min(ch / h, cw / w)
        small = cv2.resize(
            img,
            (max(1, int(w * scale)), max(1, int(h * scale))),
            interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
        )
        x, y = (i % columns) * (cw + 8) + 4, (i // columns) * (ch + label_h + 8) + 4
        sheet.paste(Image.fromarray(small), (x, y))
        draw.text((x, y + ch + 1), f"{text}  [{w}x{h}]", fill=0, font=font)
    return np.asarray(sheet)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.synth",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--charset", required=True, help="file holding the charset on one line")
    parser.add_argument("--out", help="output directory for shards")
    parser.add_argument("--count", type=int, default=1000, help="number of samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--kind", choices=KINDS, default="mixed")
    parser.add_argument("--shard-size", type=int, default=1000)
    parser.add_argument("--png", action="store_true", help="also write PNGs and labels.tsv")
    parser.add_argument("--preview", help="write a contact sheet of ~60 samples to this PNG")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    charset = read_charset(args.charset)
    fonts = tuple(list_fonts())
    _faces(fonts, charset)  # measured once here; forked workers inherit the cache
    if args.preview:
        gen = LineGenerator(charset, args.seed, list(fonts), args.kind)
        sheet = contact_sheet([gen.sample() for _ in range(60)])
        cv2.imwrite(args.preview, sheet)
        print(f"preview: {args.preview}")
    if not args.out:
        return 0
    os.makedirs(args.out, exist_ok=True)
    jobs = [
        _ShardJob(
            i,
            min(args.shard_size, args.count - start),
            args.seed,
            charset,
            args.kind,
            fonts,
            args.out,
        )
        for i, start in enumerate(range(0, args.count, args.shard_size))
    ]
    start = time.perf_counter()
    labels_fh = (
        open(os.path.join(args.out, "labels.tsv"), "w", encoding="utf-8") if args.png else None
    )
    if args.png:
        os.makedirs(os.path.join(args.out, "png"), exist_ok=True)
    done = 0
    try:
        if args.workers > 1:
            import multiprocessing

            with multiprocessing.get_context("fork").Pool(args.workers) as pool:
                results = pool.imap(_make_shard, jobs)
                for index, samples in results:
                    done += len(samples)
                    _write_pngs(args.out, index, args.shard_size, samples, labels_fh)
        else:
            for job in jobs:
                index, samples = _make_shard(job)
                done += len(samples)
                _write_pngs(args.out, index, args.shard_size, samples, labels_fh)
    finally:
        if labels_fh:
            labels_fh.close()
    elapsed = time.perf_counter() - start
    print(
        f"{done} lines in {len(jobs)} shards, {elapsed:.1f} s, {done / elapsed:.0f} lines/s "
        f"with {args.workers} worker(s)"
    )
    return 0


def _write_pngs(
    out: str, index: int, shard_size: int, samples: Sequence[tuple[np.ndarray, str]], labels_fh
) -> None:  # type: ignore[no-untyped-def]
    if labels_fh is None:
        return
    for k, (img, text) in enumerate(samples):
        name = f"png/{index * shard_size + k:08d}.png"
        cv2.imwrite(os.path.join(out, name), img)
        labels_fh.write(f"{name}\t{text}\n")


if __name__ == "__main__":
    sys.exit(main())
