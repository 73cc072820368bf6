"""Draw a text as an ink mask: with a font, as dot-matrix print, seven-segment digits or stencil.

Every renderer returns an `Ink`: a uint8 mask (255 = full ink) with a few pixels of empty border,
the text the mask really shows, and the nominal text height in pixels. Colours, textures and
distortions are applied later (synthlib.effects); here only shapes are made.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .fonts import font_at


@dataclass(frozen=True)
class Ink:
    """Shapes of a line of text: `mask` [h, w] uint8, what it reads, and its em size in px."""

    mask: np.ndarray
    text: str
    size: int


def _draw(
    font: ImageFont.FreeTypeFont,
    text: str,
    tracking: float = 0.0,
    rise: Sequence[float] | None = None,
    space: float | None = None,
) -> np.ndarray:
    """Render `text` in white on black, `tracking` extra px between characters, each character
    moved up by its `rise` in px (letters punched one by one never line up) and, if given, a word
    space `space` px wide instead of the font's (plus the tracking)."""
    ascent, descent = font.getmetrics()
    pad = max(2, font.size // 4)
    lift = int(max((abs(v) for v in rise), default=0)) if rise else 0
    if tracking == 0 and not rise and space is None:
        width = int(font.getlength(text)) + 2 * pad + font.size // 2
        positions = [(0.0, 0.0, text)]
    else:
        positions = []
        x = 0.0
        for i, ch in enumerate(text):
            positions.append((x, -rise[i] if rise else 0.0, ch))
            x += (space if ch == " " and space is not None else font.getlength(ch)) + tracking
        width = int(max(x, 1)) + 2 * pad + font.size // 2
    height = ascent + descent + 2 * (pad + lift)
    image = Image.new("L", (max(width, 1), height), 0)
    draw = ImageDraw.Draw(image)
    for x, y, part in positions:
        draw.text((pad + x, pad + lift + y), part, fill=255, font=font)
    return np.asarray(image)


def trim(mask: np.ndarray, pad: int) -> np.ndarray:
    """Cut `mask` to its ink bounding box plus `pad` empty pixels on each side."""
    rows = np.flatnonzero(mask.max(axis=1))
    cols = np.flatnonzero(mask.max(axis=0))
    if rows.size == 0:
        return np.zeros((2 * pad + 1, 2 * pad + 1), np.uint8)
    cut = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return cv2.copyMakeBorder(cut, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)


def render_font(
    path: str,
    text: str,
    size: int,
    tracking: float = 0.0,
    rise: Sequence[float] | None = None,
    space: float | None = None,
) -> Ink:
    """`text` in the font at `path` with an em of `size` px, letters `tracking` px further apart,
    if given each shifted up by its `rise` in px and word spaces `space` px wide."""
    font = font_at(path, size)
    return Ink(trim(_draw(font, text, tracking, rise, space), 2), text, size)


def clear_space(
    path: str, text: str, size: int, tracking: float, space: float | None, margin: float
) -> float | None:
    """The word-space width in px that leaves every word gap of `text` (set in the font at
    `path`, an em of `size` px, letters `tracking` px further apart) at least `margin` em wider
    than its widest gap between two letters: `space` (None: the font's own) where it already
    does, else the width that does. Ink gaps, not advances: a colon's or a 1's side bearings
    can make a letter gap as wide as a narrow word space."""
    font = font_at(path, size)
    width = font.getlength(" ") if space is None else space
    widest = 0.0  # widest letter gap
    words: list[tuple[float, int]] = []  # per word gap: the gap without its spaces, spaces
    before: tuple[str, int] | None = None  # the last inked character and its ink's right edge
    spaces = 0
    for ch in text:
        if ch == " ":
            spaces += 1
            continue
        left, _, right, _ = font.getbbox(ch)
        if right <= left:
            continue
        if before is not None:
            gap = font.getlength(before[0]) - before[1] + tracking + left
            if spaces:
                words.append((gap, spaces))
            else:
                widest = max(widest, gap)
        before, spaces = (ch, right), 0
    # Plus a pixel: each glyph is drawn at a whole-pixel position.
    need = max(
        ((widest + margin * size + 1 - gap) / n - tracking for gap, n in words), default=width
    )
    return need if need > width else space


def render_stencil(path: str, text: str, size: int, rng: random.Random) -> Ink:
    """`text` with the bridges of a stencil: closed shapes are cut through by thin vertical gaps."""
    font = font_at(path, size)
    tracking = size * rng.uniform(0.04, 0.15)
    mask = _draw(font, text, tracking).copy()
    pad = max(2, font.size // 4)
    gap = max(2, round(size * rng.uniform(0.08, 0.14)))
    x = 0.0
    for ch in text:
        width = font.getlength(ch)
        if ch in _STENCIL_CUT:
            left, _, right, _ = font.getbbox(ch)
            centre = int(pad + x + (left + right) / 2)
            mask[:, max(0, centre - gap // 2) : centre - gap // 2 + gap] = 0
        x += width + tracking
    return Ink(trim(mask, 2), text, size)


# Characters whose counters would fall out of a stencil: they get a bridge through the middle.
_STENCIL_CUT = set("ABDOPQRabdegopq04689@&%$ODGUC0")


def render_dot_matrix(path: str, text: str, rng: random.Random) -> Ink:
    """`text` as a dot-matrix printer or display shows it: a coarse bitmap drawn with round dots.

    The font is drawn large, thin strokes thickened to a dot or more, and averaged down to a
    grid whose capitals are 8..9 cells tall (9..10 where there are lower-case letters: a 7-row
    grid leaves them 5 rows, where an m's three stems run into a block and a t loses its bar).
    """
    font = font_at(path, 48)
    left, top, right, bottom = font.getbbox("H")
    cap = max(1, bottom - top)
    lower = any(ch.islower() for ch in text)
    rows = rng.choice((9, 9, 10) if lower else (8, 9, 9))
    big = _draw(font, text, rng.choice((0.0, 0.0, 6.0)))
    big = _thicken(big, _stroke_width(font), cap / rows * rng.uniform(0.9, 1.5))
    scale = rows / cap
    grid = cv2.resize(
        big,
        (max(1, round(big.shape[1] * scale)), max(1, round(big.shape[0] * scale))),
        interpolation=cv2.INTER_AREA,
    )
    grid = trim((grid > rng.uniform(70, 120)).astype(np.uint8), 1)
    cell = rng.randint(3, 7)
    radius = cell * rng.uniform(0.4, 0.55)
    yy, xx = np.mgrid[0:cell, 0:cell] + 0.5 - cell / 2
    dot = np.clip((radius - np.hypot(yy, xx)) + 0.5, 0, 1)
    if rng.random() < 0.3:  # square pixels of an LED/LCD matrix
        dot = np.where((np.abs(yy) < radius) & (np.abs(xx) < radius), 1.0, 0.0)
    mask = np.kron(grid, (dot * 255).astype(np.uint8))
    return Ink(trim(mask.astype(np.uint8), 2), text, round(cell * rows * 1.4))


def _stroke_width(font: ImageFont.FreeTypeFont) -> float:
    """The width in px of the font's vertical stems: half the ink across an H's legs."""
    mask = _draw(font, "H")
    rows = np.flatnonzero(mask.max(axis=1) > 127)
    row = mask[rows[0] + (rows[-1] - rows[0]) // 4]
    return max(1.0, float((row > 127).sum()) / 2)


def _thicken(mask: np.ndarray, stroke: float, target: float) -> np.ndarray:
    """Thicken strokes `stroke` px wide to about `target` px: a thin face sampled onto a coarse
    grid loses whole strokes. Bold faces are left as they are (thinning one erases the narrow
    middle stem of a monospaced m)."""
    k = int(round(target - stroke))
    if k < 2:
        return mask
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))


# Segments: a top, b top-right, c bottom-right, d bottom, e bottom-left, f top-left, g middle.
SEVEN_SEGMENT: dict[str, str] = {
    "0": "abcdef",
    "1": "bc",
    "2": "abdeg",
    "3": "abcdg",
    "4": "bcfg",
    "5": "acdfg",
    "6": "acdefg",
    "7": "abc",
    "8": "abcdefg",
    "9": "abcdfg",
    "A": "abcefg",
    "b": "cdefg",
    "C": "adef",
    "c": "deg",
    "d": "bcdeg",
    "E": "adefg",
    "F": "aefg",
    "H": "bcefg",
    "h": "cefg",
    "J": "bcde",
    "L": "def",
    "n": "ceg",
    "o": "cdeg",
    "P": "abefg",
    "r": "eg",
    "t": "defg",
    "U": "bcdef",
    "u": "cde",
    "y": "bcdfg",
    "-": "g",
    "_": "d",
    "°": "abfg",
    " ": "",
}


def _segment_polygons(width: float, height: float, thick: float) -> dict[str, np.ndarray]:
    """Hexagonal segments of one digit cell with its origin at the top left."""
    t, h2 = thick, height / 2

    def horizontal(y: float) -> np.ndarray:
        return np.array(
            [
                (t * 0.6, y),
                (t, y - t / 2),
                (width - t, y - t / 2),
                (width - t * 0.6, y),
                (width - t, y + t / 2),
                (t, y + t / 2),
            ]
        )

    def vertical(x: float, y0: float, y1: float) -> np.ndarray:
        return np.array(
            [
                (x, y0 + t * 0.6),
                (x + t / 2, y0 + t),
                (x + t / 2, y1 - t),
                (x, y1 - t * 0.6),
                (x - t / 2, y1 - t),
                (x - t / 2, y0 + t),
            ]
        )

    return {
        "a": horizontal(t / 2),
        "g": horizontal(h2),
        "d": horizontal(height - t / 2),
        "f": vertical(t / 2, 0, h2),
        "b": vertical(width - t / 2, 0, h2),
        "e": vertical(t / 2, h2, height),
        "c": vertical(width - t / 2, h2, height),
    }


def render_seven_segment(text: str, rng: random.Random) -> Ink:
    """`text` on a seven-segment display; characters it cannot show unambiguously are dropped.

    '.' lights the decimal point of the digit before it and ':' is a narrow cell, as on real
    displays. Unlit segments may glow faintly (LCD ghosting) without changing the label.
    """
    height = float(rng.randint(24, 48))
    width = height * rng.uniform(0.45, 0.62)
    thick = height * rng.uniform(0.09, 0.16)
    gap = max(1.0, thick * rng.uniform(0.1, 0.35))  # dark seam between adjacent segments
    skew = rng.uniform(0.0, 0.22) if rng.random() < 0.7 else 0.0
    spacing = width * rng.uniform(0.25, 0.5)
    ghost = rng.randint(15, 60) if rng.random() < 0.3 else 0
    polygons = _segment_polygons(width, height, thick - gap)
    shown = []
    cells: list[tuple[str, float]] = []
    x = thick
    for ch in text:
        if ch == "." and cells and cells[-1][0] not in ".:":
            cells.append((".", x - spacing * 0.55))
            shown.append(ch)
        elif ch == ":":
            cells.append((":", x))
            x += thick * 2 + spacing
            shown.append(ch)
        elif ch in SEVEN_SEGMENT:
            cells.append((ch, x))
            x += width + spacing
            shown.append(ch)
    pad = int(thick * 2)
    canvas_w = int(x + height * skew + 2 * pad)
    canvas = np.zeros((int(height) + 2 * pad, max(canvas_w, 4)), np.uint8)
    shear = np.array([[1.0, -skew], [0.0, 1.0]])

    def fill(points: np.ndarray, x0: float, value: int) -> None:
        pts = points @ shear.T + (x0 + pad + height * skew, pad)
        cv2.fillPoly(canvas, [np.round(pts * 4).astype(np.int32)], value, cv2.LINE_AA, shift=2)

    dot = np.array([(0, 0), (thick, 0), (thick, thick), (0, thick)], dtype=float)
    for ch, x0 in cells:
        if ch == ".":
            fill(dot + (0, height - thick), x0, 255)
        elif ch == ":":
            fill(dot + (0, height * 0.28), x0, 255)
            fill(dot + (0, height * 0.66), x0, 255)
        else:
            lit = SEVEN_SEGMENT[ch]
            for name, poly in polygons.items():
                if name in lit:
                    fill(poly, x0, 255)
                elif ghost and ch != " ":
                    fill(poly, x0, ghost)
    return Ink(trim(canvas, 2), "".join(shown).strip(), int(height))
