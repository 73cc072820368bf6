"""Synthetic scenes for training and evaluating the text-line detector: frames and line quads.

    from scripts.scenes import SceneGenerator
    gen = SceneGenerator(charset, seed=1)
    image, lines = gen.sample()   # image: uint8 [h, w, 3] BGR; lines: list[SceneLine]

A scene is a background (textures, gradients, blurred shapes, clutter that is not text: lines,
grids, barcodes, icons) with one or several labels, nameplates, stickers or painted signs on it.
Each carries text lines drawn with the recognizer's fonts and renderers (scripts/synthlib), seen
through a perspective, under uneven light, blurred, noisy and JPEG-compressed. Every line and
every word knows its quadrilateral in the frame (from the rendered glyph extents), clockwise
from the text's top-left. The same (charset, seed, fonts, kind) always yields the same scenes.

CLI:

    python -m scripts.scenes --out DIR --count N --seed S [--workers W] [--preview FILE.png] \
        [--kind mixed|label|words] [--fonts A.ttf,B.ttf] [--sides 320,1280] [--min-em 9]

writes DIR/images/NNNN.jpg and DIR/annotations.jsonl, one JSON object per image in the format of
../shared/data/ic03_scenes (SOURCE.txt there), plus a "lines" list of whole lines:

    {"image": "images/0000.jpg", "width": W, "height": H,
     "words": [{"text": "...", "quad": [[x, y], [x, y], [x, y], [x, y]]}, ...],
     "lines": [{"text": "...", "quad": [[x, y], [x, y], [x, y], [x, y]]}, ...]}

Image i is drawn by a generator seeded from (S, i // 50), so the output does not depend on
--workers.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from scripts.charsets import DEFAULT_CHARSET, read_charset
from scripts.synth import KINDS, LineGenerator, shard_seed
from scripts.synthlib import effects
from scripts.synthlib.fonts import font_at, list_fonts
from scripts.synthlib.glyphs import (
    SEVEN_SEGMENT,
    Ink,
    render_dot_matrix,
    render_font,
    render_seven_segment,
    render_stencil,
)

__all__ = ["KINDS", "SceneGenerator", "SceneLine", "SceneWord", "load_annotations"]

log = logging.getLogger(__name__)

MIN_SIDE, MAX_SIDE = 320, 1280  # longest side of a frame, drawn around 800 px
MIN_EM = 9.0  # least em of a label's text, in pixels of the frame scaled to 640 px
CHUNK = 50  # images drawn by one generator in the CLI
_ASPECTS = (4 / 3, 4 / 3, 16 / 9, 3 / 2, 1.0, 3 / 4)


def check_sizes(sides: tuple[int, int], min_em: float) -> None:
    """ValueError unless `sides` (least, most longest side of a frame) and `min_em` can be drawn."""
    if not 64 <= sides[0] <= sides[1]:
        raise ValueError(f"sides must be 64 <= least <= most, not {sides}")
    if not 1 <= min_em <= 48:
        raise ValueError(f"min_em must be 1..48, not {min_em:g}")


@dataclass(frozen=True, eq=False)
class SceneWord:
    """One word of a line: its quad in the frame (float32 [4, 2], clockwise from top-left)."""

    quad: np.ndarray
    text: str


@dataclass(frozen=True, eq=False)
class SceneLine:
    """One text line: its quad in the frame (float32 [4, 2], clockwise from top-left), its text,
    and its words."""

    quad: np.ndarray
    text: str
    words: tuple[SceneWord, ...] = ()


@dataclass(frozen=True)
class _Block:
    """Text lines laid out on a flat panel before it is placed: masks in panel pixels."""

    ink: np.ndarray  # [ph, pw] float32 0..1
    lines: list[tuple[str, np.ndarray, list[tuple[str, np.ndarray]]]]  # text, quad, words
    size: int  # em of the body text in px


def _rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)


def _luma(bgr: np.ndarray) -> float:
    return float(0.114 * bgr[0] + 0.587 * bgr[1] + 0.299 * bgr[2])


class SceneGenerator:
    """Draws (image, lines) samples: frames with labels, nameplates and signs."""

    def __init__(
        self,
        charset: str,
        seed: int,
        kind: str = "mixed",
        fonts: list[str] | None = None,
        sides: tuple[int, int] = (MIN_SIDE, MAX_SIDE),
        min_em: float = MIN_EM,
    ) -> None:
        """`sides`: the least and most longest side of a frame; `min_em`: the least text em
        in pixels of the frame scaled to 640 px (below the default, text the detector sees
        at 640 px is too small for it: a set for choosing how large frames are detected)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        check_sizes(sides, min_em)
        self.sides = (int(sides[0]), int(sides[1]))
        self.min_em = float(min_em)
        seed = int(seed) & 0xFFFFFFFFFFFFFFFF
        self.kind = kind
        # Fonts, their coverage and the text grammar are the recognizer's (scripts/synth.py).
        self._lines = LineGenerator(charset, seed, fonts, "mixed")
        self.source = self._lines.source
        self._r = random.Random(seed ^ 0x5CE4E)
        self._g = np.random.default_rng(seed ^ 0x5CE4E)
        self._seven_segment_ok = sum(ch in charset for ch in "0123456789") >= 8

    # -- public -------------------------------------------------------------------------------

    def sample(self) -> tuple[np.ndarray, list[SceneLine]]:
        """One scene: uint8 [h, w, 3] BGR and its text lines (in no particular order)."""
        r = self._r
        least, most = self.sides
        longest = int(r.triangular(least, most, min(max(800, least), most)))
        aspect = r.choice(_ASPECTS)
        w, h = (
            (longest, round(longest / aspect))
            if aspect >= 1
            else (round(longest * aspect), longest)
        )
        hard = r.random() ** 2
        image = self._background(h, w)
        placed: list[np.ndarray] = []  # [4, 2] quads of the panels placed so far
        lines: list[SceneLine] = []
        count = r.choices((1, 2, 3, 4, 5), weights=(4, 4, 3, 2, 1))[0]
        for _ in range(count):
            is_sign = self.kind == "words" or (self.kind == "mixed" and r.random() < 0.3)
            block = self._sign_block() if is_sign else self._label_block()
            if block is None:
                continue
            lines += self._place(image, block, placed, is_sign, hard)
        image = self._finish(image, hard)
        return image, lines

    # -- text blocks --------------------------------------------------------------------------

    def _label_block(self) -> _Block | None:
        """A label or nameplate: 1..8 lines, maybe a bigger title, left or centred."""
        r = self._r
        renderer = "font"
        x = r.random()
        if x < 0.05 and self._seven_segment_ok:
            renderer = "seven_segment"
        elif x < 0.12:
            renderer = "dot_matrix"
        elif x < 0.17:
            renderer = "stencil"
        n = r.choices(range(1, 9), weights=(2, 3, 3, 3, 2, 2, 1, 1))[0]
        if renderer == "seven_segment":
            n = r.randint(1, 3)
        size = int(r.triangular(14, 40, 22))
        texts, sizes = [], []
        for i in range(n):
            if renderer == "seven_segment":
                text = self.source.display_reading()
            elif i == 0 and r.random() < 0.3:
                text = self.source.line("words").upper()
            else:
                text = self.source.line("label")
            texts.append(text)
            sizes.append(int(size * r.uniform(1.3, 2.0)) if i == 0 and r.random() < 0.35 else size)
        return self._layout(texts, sizes, renderer, r.choice(("left",) * 3 + ("centre",)))

    def _sign_block(self) -> _Block | None:
        """A sign or shop front: one to three lines of big words."""
        r = self._r
        n = r.choices((1, 2, 3), weights=(5, 3, 1))[0]
        size = int(r.triangular(24, 72, 36))
        texts = []
        for _ in range(n):
            words = [self.source.cased(self.source.word()) for _ in range(r.randint(1, 3))]
            texts.append(self.source.clean(" ".join(words)) or self.source.random_chars())
        x = r.random()
        renderer = "stencil" if x < 0.08 else "hollow" if x < 0.16 else "font"
        return self._layout(texts, [size] * n, renderer, r.choice(("left", "centre", "centre")))

    def _layout(
        self, texts: Sequence[str], sizes: Sequence[int], renderer: str, align: str
    ) -> _Block | None:
        r = self._r
        face = None
        if renderer == "hollow":  # outlines need strokes wide enough to have an inside
            face = r.choice(self._lines._bold)
            texts = ["".join(ch for ch in t if ch in face.coverage) for t in texts]
        elif renderer in ("font", "stencil", "dot_matrix"):
            face, _ = self._lines._face_for("".join(texts))
        leading = r.uniform(1.15, 1.7)
        rows = []  # (text, line mask, word boxes in line coords)
        for text, size in zip(texts, sizes, strict=True):
            row = self._render_line(text, size, renderer, face)
            if row is not None:
                rows.append(row)
        if not rows:
            return None
        widest = max(m.shape[1] for _, m, _ in rows)
        body = min(sizes)
        heights = [m.shape[0] for _, m, _ in rows]
        y = 0.0
        tops = []
        for i, hh in enumerate(heights):
            tops.append(int(y))
            step = max(hh, sizes[i] * leading) if i + 1 == len(heights) else sizes[i] * leading
            y += max(step, hh * 1.05)
        height = int(tops[-1] + heights[-1])
        ink = np.zeros((height, widest), np.float32)
        lines = []
        for (_, mask, boxes), top in zip(rows, tops, strict=True):
            mh, mw = mask.shape
            left = 0 if align == "left" else (widest - mw) // 2
            region = ink[top : top + mh, left : left + mw]
            np.maximum(region, mask[: region.shape[0]], out=region)
            words = [
                (t, _rect(x0 + left, y0 + top, x1 + left, y1 + top))
                for t, (x0, y0, x1, y1) in boxes
            ]
            quad = _rect(
                min(q[0, 0] for _, q in words),
                min(q[0, 1] for _, q in words),
                max(q[2, 0] for _, q in words),
                max(q[2, 1] for _, q in words),
            )
            lines.append((" ".join(t for t, _ in words), quad, words))
        return _Block(ink, lines, body)

    def _render_line(
        self, text: str, size: int, renderer: str, face
    ) -> tuple[str, np.ndarray, list[tuple[str, tuple[float, float, float, float]]]] | None:
        """One line as a float mask and each word's ink box (x0, y0, x1, y1) in it."""
        r = self._r
        words = text.split()
        if face is not None:
            words = ["".join(ch for ch in w if ch in face.coverage) for w in words]
        words = [w for w in words if w]
        if renderer == "seven_segment":
            words = [w for w in words if all(ch in SEVEN_SEGMENT or ch in ".:" for ch in w)]
        if not words:
            return None
        tracking = size * r.uniform(-0.02, 0.15) if r.random() < 0.25 else 0.0
        space = size * r.uniform(0.28, 0.6)
        placed: list[tuple[str, Ink, float]] = []  # word, ink, top relative to the baseline
        look = r.random()  # one look (segment shape, dot pitch, stencil gaps) for the line
        for word in words:
            if renderer == "seven_segment":
                ink = render_seven_segment(word, random.Random(look))
                top = -float(ink.mask.shape[0] - 4)
            elif renderer == "dot_matrix":
                assert face is not None
                ink = render_dot_matrix(face.path, word, random.Random(look))
                top = -float(ink.mask.shape[0] - 4)
            else:
                assert face is not None
                if renderer == "stencil":
                    ink = render_stencil(face.path, word, size, random.Random(look))
                else:
                    ink = render_font(face.path, word, size, tracking)
                if renderer == "hollow":  # letters drawn as their outline (signs, fire alarms)
                    edge = 2 * max(1, round(size * 0.04)) + 1
                    inside = cv2.erode(ink.mask, np.ones((edge, edge), np.uint8))
                    ink = Ink(cv2.subtract(ink.mask, inside), ink.text, ink.size)
                top = float(font_at(face.path, size).getbbox(word, anchor="ls")[1])
            if ink.text and ink.mask.max() > 0:
                placed.append((ink.text, ink, top))
        if not placed:
            return None
        highest = min(t for _, _, t in placed)
        lowest = max(t + ink.mask.shape[0] - 4 for _, ink, t in placed)
        width = sum(ink.mask.shape[1] - 4 for _, ink, _ in placed) + space * (len(placed) - 1)
        mask = np.zeros((int(lowest - highest) + 6, int(width) + 6), np.float32)
        boxes = []
        x = 2.0
        for word, ink, top in placed:
            mh, mw = ink.mask.shape
            y = int(round(top - highest)) + 2
            xi = int(round(x))
            region = mask[y - 2 : y - 2 + mh, xi - 2 : xi - 2 + mw]
            np.maximum(
                region, ink.mask[: region.shape[0], : region.shape[1]] * (1 / 255), out=region
            )
            boxes.append((word, (xi, y, xi + mw - 4, y + mh - 4)))
            x += mw - 4 + space
        return " ".join(w for w, _ in boxes), mask, boxes

    # -- placing a block into the scene --------------------------------------------------------

    def _place(
        self, image: np.ndarray, block: _Block, placed: list[np.ndarray], is_sign: bool, hard: float
    ) -> list[SceneLine]:
        """Draw `block` on a panel, warp it into `image` in place; its lines in frame coords."""
        r = self._r
        h, w = image.shape[:2]
        size = block.size
        painted = is_sign and r.random() < 0.5  # letters painted straight on the wall
        margin = size * (r.uniform(0.2, 0.8) if painted else r.uniform(0.4, 1.8))
        mx, my = int(margin * r.uniform(1.0, 2.0)), int(margin)
        ink = cv2.copyMakeBorder(block.ink, my, my, mx, mx, cv2.BORDER_CONSTANT, value=0)
        ph, pw = ink.shape
        # Em size as the detector sees it (frame scaled to 640 px): 9..48 px on labels, up to
        # 150 on signs (a camera close to a sign: letters a fifth of the frame tall); smaller
        # text is past reading once the frame is scaled down.
        low = math.log(self.min_em)
        em = math.exp(r.uniform(low, math.log(150 if is_sign else 48))) * max(h, w) / 640
        scale = em / size
        fit = min(0.95 * w / pw, 0.95 * h / ph)
        scale = min(scale, fit)
        if scale * size < 5:
            return []
        quad = None
        for _ in range(12):
            candidate = self._pose(pw, ph, scale, w, h)
            if candidate is not None and not any(_overlap(candidate, q) for q in placed):
                quad = candidate
                break
        if quad is None:
            return []
        placed.append(quad)
        x0, y0 = np.floor(quad.min(axis=0)).astype(int)
        x1, y1 = np.ceil(quad.max(axis=0)).astype(int) + 1
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        wall = _luma(image[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0)) if painted else None
        patch, alpha = self._panel(ink, wall, hard)
        src = _rect(0, 0, pw, ph)
        matrix = cv2.getPerspectiveTransform(src, quad - np.float32([x0, y0]))
        size_out = (x1 - x0, y1 - y0)
        # Downscaling by warping alone aliases thin strokes away: pre-blur the panel instead.
        if scale < 0.7:
            sigma = 0.45 / scale
            patch = cv2.GaussianBlur(patch, (0, 0), sigma)
            alpha = cv2.GaussianBlur(alpha, (0, 0), sigma) if painted else alpha
        warped = cv2.warpPerspective(patch, matrix, size_out, flags=cv2.INTER_LINEAR)
        a = cv2.warpPerspective(alpha, matrix, size_out, flags=cv2.INTER_LINEAR)[..., None]
        region = image[y0:y1, x0:x1]
        region[:] = region * (1 - a) + warped * a
        if not painted and r.random() < 0.3:  # the panel's shadow on the wall behind it
            shadow = cv2.GaussianBlur(a[..., 0], (0, 0), max(1.0, em * 0.3))
            dx, dy = int(em * r.uniform(-0.3, 0.3)), int(em * r.uniform(0.1, 0.4))
            shadow = np.roll(shadow, (dy, dx), axis=(0, 1)) * (1 - a[..., 0])
            region[:] = region * (1 - r.uniform(0.2, 0.5) * shadow[..., None])
        out = []
        for text, line_quad, words in block.lines:
            line_q = _transform(line_quad + np.float32([mx, my]), matrix) + np.float32([x0, y0])
            word_qs = tuple(
                SceneWord(_transform(q + np.float32([mx, my]), matrix) + np.float32([x0, y0]), t)
                for t, q in words
            )
            out.append(SceneLine(line_q, text, word_qs))
        return out

    def _pose(self, pw: int, ph: int, scale: float, w: int, h: int) -> np.ndarray | None:
        """Where a pw x ph panel lands in a w x h frame: rotated, in perspective, inside it."""
        r = self._r
        x = r.random()
        if x < 0.65:
            angle = r.gauss(0, 3)
        elif x < 0.93:
            angle = r.uniform(-12, 12)
        else:
            angle = r.uniform(-30, 30)
        a = math.radians(angle)
        corners = _rect(0, 0, pw, ph) - np.float32([pw / 2, ph / 2])
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], np.float32)
        pts = corners @ rot.T * scale
        if r.random() < 0.5:  # not facing the camera: corners pulled in or out
            j = 0.12 * min(pw, ph) * scale + 0.04 * max(pw, ph) * scale * r.random()
            pts = pts + np.float32([[r.uniform(-j, j), r.uniform(-j, j)] for _ in range(4)])
            if r.random() < 0.5:  # a side further away: one vertical edge shorter
                k = r.uniform(0.0, 0.25)
                side = r.choice((0, 1))
                idx = (1, 2) if side else (0, 3)
                mid = (pts[idx[0]] + pts[idx[1]]) / 2
                for i in idx:
                    pts[i] = mid + (pts[i] - mid) * (1 - k)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        span = hi - lo
        if span[0] > w - 4 or span[1] > h - 4:
            return None
        cx = r.uniform(2 - lo[0], w - 2 - hi[0])
        cy = r.uniform(2 - lo[1], h - 2 - hi[1])
        return (pts + np.float32([cx, cy])).astype(np.float32)

    def _panel(
        self, ink: np.ndarray, wall: float | None, hard: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """The panel in colour (float32 [ph, pw, 3]) and where it covers the wall [ph, pw].

        `wall` is the gray level behind letters painted straight on the wall (None: a plate).
        """
        r, g = self._r, self._g
        painted = wall is not None
        ph, pw = ink.shape
        size = max(8, int(min(ph, pw) * 0.2))
        bg, fg = effects.gray_pair(r, hard)
        if wall is not None:  # the letters must stand out from whatever wall they are on
            bg = wall
            fg = wall + (1 if wall < 0.5 else -1) * r.uniform(0.3 - 0.15 * hard, 0.6)
            fg = float(np.clip(fg, 0, 1))
        stamped = not painted and r.random() < 0.12
        if stamped:
            bg = r.uniform(0.3, 0.8)
        surface = effects.background((ph, pw), bg, r, g, metal=stamped)
        other = np.zeros_like(ink)
        if not painted:
            self._decorate_panel(other, ink, r)
        all_ink = np.minimum(ink + other, 1.0)
        if stamped:
            gray = effects.relief(surface, all_ink, size, hard, r)
        else:
            x = r.random()
            if x < 0.1:
                surface = effects.drop_shadow(surface, all_ink, size, r)
            elif x < 0.16:
                level = fg + (0.5 if fg < 0.5 else -0.5) * r.uniform(0.6, 1.0)
                surface = effects.outline(surface, all_ink, size, level, r)
            gray = effects.print_ink(surface, all_ink, fg, hard, r, g)
        colour_bg = self._colour(bg, saturation=0.15 if stamped else r.uniform(0, 0.8))
        colour_fg = self._colour(fg, saturation=r.uniform(0, 0.6))
        t = ((gray - bg) / (fg - bg))[..., None]
        patch = np.clip(colour_bg + t * (colour_fg - colour_bg), 0, 1).astype(np.float32)
        if painted:
            grown = cv2.dilate(all_ink, np.ones((3, 3), np.uint8))
            return patch, np.clip(grown * 1.2, 0, 1).astype(np.float32)
        alpha = np.zeros((ph, pw), np.float32)
        radius = int(min(ph, pw) * r.uniform(0, 0.2)) if r.random() < 0.4 else 0
        _rounded_rect(alpha, radius)
        if r.random() < 0.3:  # a printed or embossed border
            m = int(min(ph, pw) * r.uniform(0.03, 0.12))
            thick = max(1, int(size * r.uniform(0.05, 0.15)))
            border = np.zeros_like(alpha)
            cv2.rectangle(border, (m, m), (pw - 1 - m, ph - 1 - m), 1.0, thick)
            patch = patch * (1 - border[..., None]) + colour_fg * border[..., None]
        return patch, alpha

    def _decorate_panel(self, other: np.ndarray, ink: np.ndarray, r: random.Random) -> None:
        """Non-text marks on a label where there is room: rules, a barcode, logos, a QR-like
        block."""
        ph, pw = ink.shape
        free = cv2.dilate((ink > 0.1).astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
        for _ in range(r.choices((0, 1, 2, 3), weights=(3, 3, 2, 1))[0]):
            kind = r.random()
            mark = np.zeros_like(other)
            bw, bh = int(pw * r.uniform(0.1, 0.4)), int(ph * r.uniform(0.1, 0.35))
            x0, y0 = r.randint(0, max(0, pw - bw)), r.randint(0, max(0, ph - bh))
            if kind < 0.35:  # barcode
                x = x0
                unit = max(1, int(bw / r.uniform(40, 90)))
                while x < x0 + bw:
                    bar = unit * r.randint(1, 4)
                    mark[y0 : y0 + bh, x : x + bar] = 1.0
                    x += bar + unit * r.randint(1, 4)
            elif kind < 0.55:  # a horizontal rule
                y = r.randint(0, ph - 1)
                cv2.line(mark, (0, y), (pw - 1, y), 1.0, max(1, ph // 60))
            elif kind < 0.75:  # a logo: circle, triangle or filled square
                c = (x0 + bw // 2, y0 + bh // 2)
                s = max(3, min(bw, bh) // 2)
                shape = r.random()
                if shape < 0.4:
                    cv2.circle(mark, c, s, 1.0, -1 if r.random() < 0.5 else max(1, s // 6))
                elif shape < 0.75:
                    tri = np.array([[c[0], c[1] - s], [c[0] + s, c[1] + s], [c[0] - s, c[1] + s]])
                    cv2.polylines(mark, [tri.astype(np.int32)], True, 1.0, max(1, s // 5))
                else:
                    cv2.rectangle(mark, (c[0] - s, c[1] - s), (c[0] + s, c[1] + s), 1.0, -1)
            else:  # QR-like block of square modules
                n = r.randint(11, 25)
                cell = max(1, min(bw, bh) // n)
                bits = (self._g.random((n, n)) < 0.5).astype(np.float32)
                block = np.kron(bits, np.ones((cell, cell), np.float32))
                bh2, bw2 = block.shape
                mark[y0 : y0 + bh2, x0 : x0 + bw2] = block[: ph - y0, : pw - x0]
            # Only where it keeps clear of the text, so no line is crossed out.
            if not (mark > 0)[~free].any():
                np.maximum(other, mark, out=other)

    def _colour(self, level: float, saturation: float) -> np.ndarray:
        """A BGR colour of gray value about `level`, as saturated as asked."""
        r = self._r
        hue = np.array([r.random(), r.random(), r.random()], np.float32)
        c = level + saturation * (hue - hue.mean())
        c = c + (level - _luma(c))
        return np.clip(c, 0, 1).astype(np.float32)

    # -- background ---------------------------------------------------------------------------

    def _background(self, h: int, w: int) -> np.ndarray:
        """A wall, desk, machine or street: textures, shapes and clutter, none of it text."""
        r, g = self._r, self._g
        level = r.uniform(0.15, 0.85)
        gray = effects.background((h, w), level, r, g, metal=r.random() < 0.2)
        low = self._colour(level, r.uniform(0, 0.5))
        image = np.broadcast_to(low, (h, w, 3)) * (gray / max(level, 1e-3))[..., None]
        image = np.ascontiguousarray(image, dtype=np.float32)
        if r.random() < 0.6:  # a colour gradient across the frame
            other = self._colour(r.uniform(0.1, 0.9), r.uniform(0, 0.6))
            angle = r.uniform(0, 2 * math.pi)
            ramp = (
                np.cos(angle) * np.linspace(0, 1, w)[None, :]
                + np.sin(angle) * np.linspace(0, 1, h)[:, None]
            )
            ramp = ((ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6))[..., None]
            mix = r.uniform(0.2, 0.8)
            image = image * (1 - mix * ramp) + other * mix * ramp
        for _ in range(r.choices((0, 2, 5, 10), weights=(1, 3, 3, 2))[0]):
            self._shape(image, r)
        if r.random() < 0.5:  # scenery out of focus, sharp objects in front
            image = cv2.GaussianBlur(image, (0, 0), r.uniform(0.8, 4))
        for _ in range(r.choices((0, 2, 5, 9), weights=(1, 3, 3, 2))[0]):
            self._clutter(image, r)
        return image.astype(np.float32)

    def _shape(self, image: np.ndarray, r: random.Random) -> None:
        """A filled object: box, disk, polygon, band or tiles (walls, windows, machines)."""
        h, w = image.shape[:2]
        colour = tuple(float(v) for v in self._colour(r.uniform(0.05, 0.95), r.uniform(0, 0.8)))
        kind = r.random()
        if kind < 0.35:
            x0, y0 = r.randint(-w // 4, w), r.randint(-h // 4, h)
            cv2.rectangle(
                image, (x0, y0), (x0 + r.randint(20, w), y0 + r.randint(20, h)), colour, -1
            )
        elif kind < 0.55:
            cv2.circle(
                image,
                (r.randint(0, w), r.randint(0, h)),
                r.randint(10, max(11, h // 2)),
                colour,
                -1,
                cv2.LINE_AA,
            )
        elif kind < 0.8:
            n = r.randint(3, 7)
            pts = np.array(
                [[r.randint(-w // 4, w + w // 4), r.randint(-h // 4, h + h // 4)] for _ in range(n)]
            )
            cv2.fillPoly(image, [cv2.convexHull(pts.astype(np.int32))], colour, cv2.LINE_AA)
        elif kind < 0.9:  # tiles or bricks
            step = r.randint(12, 60)
            thick = max(1, step // r.randint(6, 14))
            for y in range(0, h, step):
                cv2.line(image, (0, y), (w, y), colour, thick)
                off = step // 2 if (y // step) % 2 and r.random() < 0.5 else 0
                for x in range(off, w, step * r.randint(1, 3)):
                    cv2.line(image, (x, y), (x, y + step), colour, thick)
        else:  # a band: shelf, pipe, road marking
            y = r.randint(0, h)
            cv2.line(
                image,
                (0, y),
                (w, y + r.randint(-h // 4, h // 4)),
                colour,
                r.randint(4, max(5, h // 8)),
            )

    def _clutter(self, image: np.ndarray, r: random.Random) -> None:
        """Thin marks that are not text: lines, arcs, grids, hatching, dots, bars, icons."""
        h, w = image.shape[:2]
        colour = tuple(float(v) for v in self._colour(r.uniform(0, 1), r.uniform(0, 0.7)))
        thick = r.randint(1, 4)
        kind = r.random()
        x, y = r.randint(0, w), r.randint(0, h)
        s = r.randint(8, max(9, min(h, w) // 4))
        if kind < 0.25:
            cv2.line(
                image,
                (x, y),
                (x + r.randint(-w, w), y + r.randint(-h // 2, h // 2)),
                colour,
                thick,
                cv2.LINE_AA,
            )
        elif kind < 0.4:
            cv2.ellipse(
                image,
                (x, y),
                (s, r.randint(4, s)),
                r.uniform(0, 180),
                0,
                r.randint(60, 360),
                colour,
                thick,
                cv2.LINE_AA,
            )
        elif kind < 0.5:  # grid or mesh
            step = r.randint(6, 30)
            for k in range(0, s * 2, step):
                cv2.line(image, (x + k, y), (x + k, y + s * 2), colour, 1)
                cv2.line(image, (x, y + k), (x + s * 2, y + k), colour, 1)
        elif kind < 0.6:  # hatching
            step = r.randint(4, 12)
            for k in range(0, s * 2, step):
                cv2.line(image, (x + k, y), (x + k - s, y + s), colour, 1, cv2.LINE_AA)
        elif kind < 0.7:  # dots: rivets, holes, perforations
            step = r.randint(8, 30)
            for k in range(r.randint(3, 12)):
                cv2.circle(image, (x + k * step, y), max(1, step // 5), colour, -1, cv2.LINE_AA)
        elif kind < 0.8:  # a barcode
            unit = r.randint(1, 3)
            bx = x
            for _ in range(r.randint(15, 50)):
                bar = unit * r.randint(1, 4)
                cv2.rectangle(image, (bx, y), (bx + bar - 1, y + s), colour, -1)
                bx += bar + unit * r.randint(1, 4)
        elif kind < 0.9:  # an icon: arrow, triangle, cross
            pts = np.array([[x, y], [x + s, y + s // 2], [x, y + s], [x + s // 3, y + s // 2]])
            if r.random() < 0.5:
                pts = np.array([[x, y + s], [x + s // 2, y], [x + s, y + s]])
            cv2.polylines(image, [pts.astype(np.int32)], True, colour, thick, cv2.LINE_AA)
        else:  # a scribble: cables, cracks
            pts = [(x, y)]
            for _ in range(r.randint(3, 8)):
                pts.append((pts[-1][0] + r.randint(-s, s), pts[-1][1] + r.randint(-s, s)))
            cv2.polylines(image, [np.array(pts, np.int32)], False, colour, thick, cv2.LINE_AA)

    # -- light and camera ---------------------------------------------------------------------

    def _finish(self, image: np.ndarray, hard: float) -> np.ndarray:
        """Light, optics, sensor noise and JPEG over the whole frame."""
        r, g = self._r, self._g
        h, w = image.shape[:2]
        luma = image @ np.float32([0.114, 0.587, 0.299])
        lit = effects.lighting(luma, hard, r)  # ramps, a shadow edge, glare
        image = image * ((lit + 0.02) / (luma + 0.02))[..., None]
        blur = r.random()
        if blur < 0.3 + 0.3 * hard:
            image = cv2.GaussianBlur(image, (0, 0), r.uniform(0.3, 0.8 + 1.2 * hard))
        elif blur < 0.4 + 0.3 * hard:
            length = r.randint(3, 3 + int(6 * hard))
            image = cv2.filter2D(image, -1, effects._motion_kernel(length, r.uniform(0, math.pi)))
        if r.random() < 0.8:
            sigma = r.uniform(0.004, 0.02 + 0.05 * hard)
            image = image + sigma * g.standard_normal((h, w, 1), dtype=np.float32)
            image = image + 0.3 * sigma * g.standard_normal((h, w, 3), dtype=np.float32)
        if r.random() < 0.3:
            image = np.clip(image, 0, 1) ** r.uniform(0.7, 1.5)
        out = np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
        if r.random() < 0.7:
            quality = r.randint(int(90 - 60 * hard), 95)
            ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok:
                out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        return out


def _transform(quad: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(quad.reshape(1, 4, 2).astype(np.float32), matrix)[0]


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two panels' axis-aligned boxes touch (panels never hide each other's text)."""
    (ax0, ay0), (ax1, ay1) = a.min(axis=0), a.max(axis=0)
    (bx0, by0), (bx1, by1) = b.min(axis=0), b.max(axis=0)
    return bool(ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1)


def _rounded_rect(alpha: np.ndarray, radius: int) -> None:
    h, w = alpha.shape
    alpha[:] = 1.0
    if radius < 2:
        return
    corner = np.zeros((radius, radius), np.float32)
    cv2.circle(corner, (radius - 1, radius - 1), radius - 1, 1.0, -1, cv2.LINE_AA)
    alpha[:radius, :radius] = corner
    alpha[:radius, w - radius :] = corner[:, ::-1]
    alpha[h - radius :, :radius] = corner[::-1]
    alpha[h - radius :, w - radius :] = corner[::-1, ::-1]


# -- files -----------------------------------------------------------------------------------


def _quad_json(quad: np.ndarray) -> list[list[int]]:
    return [[int(round(float(x))), int(round(float(y)))] for x, y in quad]


def annotation(name: str, image: np.ndarray, lines: Sequence[SceneLine]) -> dict:
    """The annotations.jsonl record of one scene (ic03_scenes format plus "lines")."""
    return {
        "image": name,
        "width": int(image.shape[1]),
        "height": int(image.shape[0]),
        "words": [
            {"text": word.text, "quad": _quad_json(word.quad)}
            for line in lines
            for word in line.words
        ],
        "lines": [{"text": line.text, "quad": _quad_json(line.quad)} for line in lines],
    }


def load_annotations(folder: str | os.PathLike[str]) -> list[dict]:
    """The records of DIR/annotations.jsonl, in order."""
    with open(os.path.join(folder, "annotations.jsonl"), encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@dataclass(frozen=True)
class _Job:
    index: int
    start: int
    count: int
    seed: int
    charset: str
    kind: str
    fonts: tuple[str, ...]
    out: str
    sides: tuple[int, int] = (MIN_SIDE, MAX_SIDE)
    min_em: float = MIN_EM


def _make_chunk(job: _Job) -> list[dict]:
    gen = SceneGenerator(
        job.charset,
        shard_seed(job.seed, job.index),
        job.kind,
        list(job.fonts),
        job.sides,
        job.min_em,
    )
    records = []
    for k in range(job.count):
        image, lines = gen.sample()
        name = f"images/{job.start + k:04d}.jpg"
        cv2.imwrite(os.path.join(job.out, name), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        records.append(annotation(name, image, lines))
    return records


def draw_lines(image: np.ndarray, lines: Sequence[SceneLine]) -> np.ndarray:
    """A copy of `image` with line quads in green (top edge in red) and word quads in blue."""
    out = image.copy()
    for line in lines:
        for word in line.words:
            cv2.polylines(out, [np.round(word.quad).astype(np.int32)], True, (255, 128, 0), 1)
        q = np.round(line.quad).astype(np.int32)
        cv2.polylines(out, [q], True, (0, 200, 0), 2)
        cv2.line(out, tuple(q[0]), tuple(q[1]), (0, 0, 255), 2)
    return out


def contact_sheet(
    scenes: Sequence[tuple[np.ndarray, list[SceneLine]]], cell: int = 400
) -> np.ndarray:
    """Scenes with their quads drawn, scaled into a grid of cells, for eyeballing."""
    columns = 3
    rows = math.ceil(len(scenes) / columns)
    sheet = np.full((rows * (cell + 4), columns * (cell + 4), 3), 40, np.uint8)
    for i, (image, lines) in enumerate(scenes):
        drawn = draw_lines(image, lines)
        h, w = drawn.shape[:2]
        s = cell / max(h, w)
        small = cv2.resize(drawn, (int(w * s), int(h * s)), interpolation=cv2.INTER_AREA)
        y, x = (i // columns) * (cell + 4), (i % columns) * (cell + 4)
        sheet[y : y + small.shape[0], x : x + small.shape[1]] = small
    return sheet


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.scenes",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--charset", default=str(DEFAULT_CHARSET), help="file with the charset")
    parser.add_argument("--out", help="output folder")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--kind", choices=KINDS, default="mixed")
    parser.add_argument("--preview", help="write a contact sheet of 12 scenes to this PNG")
    parser.add_argument("--fonts", help="comma-separated font files (default: every usable one)")
    parser.add_argument(
        "--sides",
        default=f"{MIN_SIDE},{MAX_SIDE}",
        help=f"least,most longest side of a frame in px (default {MIN_SIDE},{MAX_SIDE})",
    )
    parser.add_argument(
        "--min-em",
        type=float,
        default=MIN_EM,
        help=f"least text em in px of the frame scaled to 640 (default {MIN_EM:g})",
    )
    args = parser.parse_args(argv)
    try:
        least, most = (int(v) for v in args.sides.split(","))
    except ValueError:
        parser.error(f"--sides must be two integers LEAST,MOST, not {args.sides!r}")
    sides = (least, most)
    try:
        check_sizes(sides, args.min_em)
    except ValueError as err:
        parser.error(str(err))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    charset = read_charset(args.charset)
    fonts = tuple(args.fonts.split(",") if args.fonts else list_fonts())
    if args.preview:
        gen = SceneGenerator(charset, args.seed, args.kind, list(fonts), sides, args.min_em)
        cv2.imwrite(args.preview, contact_sheet([gen.sample() for _ in range(12)]))
        print(f"preview: {args.preview}")
    if not args.out:
        return 0
    os.makedirs(os.path.join(args.out, "images"), exist_ok=True)
    jobs = [
        _Job(
            i,
            start,
            min(CHUNK, args.count - start),
            args.seed,
            charset,
            args.kind,
            fonts,
            args.out,
            sides,
            args.min_em,
        )
        for i, start in enumerate(range(0, args.count, CHUNK))
    ]
    start = time.perf_counter()
    if args.workers > 1:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(args.workers) as pool:
            chunks = pool.map(_make_chunk, jobs)
    else:
        chunks = [_make_chunk(job) for job in jobs]
    with open(os.path.join(args.out, "annotations.jsonl"), "w", encoding="utf-8") as fh:
        for records in chunks:
            for record in records:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    elapsed = time.perf_counter() - start
    print(f"{args.count} scenes in {elapsed:.1f} s ({args.count / elapsed:.1f}/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
