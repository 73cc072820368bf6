"""Turn an ink mask into a photographed line: surface, print or relief, light, camera and crop.

All images here are float32 in [0, 1] until `finish` quantizes them. Each function takes the random
sources it needs (`random.Random` for decisions, `numpy.random.Generator` for pixel noise) so a
seeded generator reproduces every sample exactly.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Scene:
    """A composed canvas before cropping: the image, where the main text is, and its em size."""

    image: np.ndarray  # [h, w] float32 in 0..1
    text_mask: np.ndarray  # [h, w] float32 in 0..1, only the line the label describes
    size: int


# -- surfaces --------------------------------------------------------------------------------


def _smooth_noise(shape: tuple[int, int], cell: float, g: np.random.Generator) -> np.ndarray:
    """Zero-mean noise with features about `cell` px wide, roughly in -1..1."""
    h, w = shape
    small = g.standard_normal((max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)))
    return cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)


def background(
    shape: tuple[int, int],
    level: float,
    r: random.Random,
    g: np.random.Generator,
    metal: bool = False,
) -> np.ndarray:
    """A surface around `level`: flat, gradient, paper, brushed metal, grain, lines, a sticker
    edge, or soft blobs of out-of-focus scenery."""
    h, w = shape
    kinds = ("flat", "gradient", "paper", "brushed", "grain", "lines", "edge", "blobs")
    weights = (
        (0.5, 1.0, 0.5, 3.0, 2.0, 0.2, 0.2, 0.2)
        if metal
        else (2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 0.8, 1.2)
    )
    kind = r.choices(kinds, weights=weights)[0]
    img = np.full(shape, level, np.float32)
    if kind == "gradient":
        angle = r.uniform(0, 2 * math.pi)
        ramp = (
            np.cos(angle) * np.arange(w)[None, :] / w
            + np.sin(angle) * np.arange(h)[:, None] / max(h, 1)
        ).astype(np.float32)
        img += r.uniform(-0.3, 0.3) * (ramp - ramp.mean())
    elif kind == "paper":
        img += r.uniform(0.02, 0.08) * _smooth_noise(shape, r.uniform(4, 30), g)
    elif kind == "brushed":
        streaks = g.standard_normal(shape).astype(np.float32)
        k = r.randint(9, 41)
        streaks = cv2.blur(streaks, (k, 1)) * math.sqrt(k)
        img += r.uniform(0.015, 0.05) * streaks
        img += r.uniform(0.0, 0.08) * _smooth_noise(shape, w / 3 + 1, g)
    elif kind == "grain":
        img += (
            r.uniform(0.02, 0.06)
            * cv2.GaussianBlur(
                g.standard_normal(shape).astype(np.float32), (0, 0), r.uniform(0.6, 1.5)
            )
            * 2
        )
    elif kind == "lines":
        for _ in range(r.randint(1, 4)):
            value = level + r.uniform(-0.4, 0.4)
            thick = r.randint(1, 3)
            if r.random() < 0.6:
                y = r.randint(0, h - 1)
                cv2.line(img, (0, y), (w - 1, y + r.randint(-3, 3)), value, thick)
            else:
                x = r.randint(0, w - 1)
                cv2.line(img, (x, 0), (x + r.randint(-3, 3), h - 1), value, thick)
    elif kind == "blobs":  # shapes behind a sign, photographed out of focus
        for _ in range(r.randint(2, 6)):
            value = float(np.clip(level + r.uniform(-0.3, 0.3), 0, 1))
            centre = (r.randint(0, w), r.randint(0, h))
            axes = (r.randint(2, max(3, w // 3)), r.randint(2, max(3, h)))
            cv2.ellipse(img, centre, axes, r.uniform(0, 180), 0, 360, value, -1)
        img = cv2.GaussianBlur(img, (0, 0), r.uniform(1.5, 6))
    elif kind == "edge":  # the border of a sticker or plate running through the crop
        other = level + r.choice((-1, 1)) * r.uniform(0.15, 0.5)
        if r.random() < 0.5:
            x = r.randint(1, max(2, w // 8))
            img[:, slice(0, x) if r.random() < 0.5 else slice(w - x, w)] = other
        else:
            y = r.randint(1, max(2, h // 6))
            img[slice(0, y) if r.random() < 0.5 else slice(h - y, h), :] = other
    return img


def clutter(image: np.ndarray, level: float, r: random.Random) -> None:
    """Draw a few unrelated strokes (scratches, arcs, partial symbols) into `image` in place."""
    h, w = image.shape
    for _ in range(r.randint(1, 3)):
        value = level + r.uniform(-0.35, 0.35)
        thick = r.randint(1, 2)
        if r.random() < 0.5:
            p1 = (r.randint(0, w), r.randint(0, h))
            p2 = (p1[0] + r.randint(-w // 3, w // 3), p1[1] + r.randint(-h, h))
            cv2.line(image, p1, p2, value, thick, cv2.LINE_AA)
        else:
            centre = (r.randint(0, w), r.randint(0, h))
            axes = (r.randint(3, max(4, h)), r.randint(3, max(4, h)))
            cv2.ellipse(
                image,
                centre,
                axes,
                r.uniform(0, 180),
                0,
                r.randint(60, 360),
                value,
                thick,
                cv2.LINE_AA,
            )


# -- text on the surface ---------------------------------------------------------------------


def gray_pair(r: random.Random, hard: float) -> tuple[float, float]:
    """Background and ink gray levels, as colour print would turn out in a gray camera image.

    `hard` (0..1) lowers the least contrast allowed: easy samples are clearly readable.
    """
    style = r.random()
    if style < 0.5:  # dark on light
        bg, fg = r.uniform(0.55, 0.98), r.uniform(0.0, 0.35)
    elif style < 0.78:  # light on dark
        bg, fg = r.uniform(0.0, 0.45), r.uniform(0.6, 1.0)
    else:  # coloured print: luma of two random colours

        def luma() -> float:
            return 0.299 * r.random() + 0.587 * r.random() + 0.114 * r.random()

        bg, fg = luma(), luma()
    least = 0.45 - 0.33 * hard
    if abs(fg - bg) < least:  # push the ink away from the surface
        fg = bg + (least if bg < 0.5 else -least) * r.uniform(1.0, 1.5)
    if r.random() < 0.25 * hard:  # faded or low-contrast print
        fg = bg + (fg - bg) * r.uniform(0.3, 0.6)
    if abs(fg - bg) < 0.12:  # below this even a person squints
        up = fg >= bg if 0.12 <= bg <= 0.88 else bg < 0.5  # stay inside 0..1
        fg = bg + (0.12 if up else -0.12)
    return bg, float(np.clip(fg, 0.0, 1.0))


def print_ink(
    surface: np.ndarray,
    mask: np.ndarray,
    ink: float,
    hard: float,
    r: random.Random,
    g: np.random.Generator,
) -> np.ndarray:
    """Lay ink of gray `ink` over `surface` where `mask` says, with worn or uneven coverage."""
    alpha = mask
    if r.random() < 0.1 + 0.3 * hard:  # worn print: ink thinner in patches, never gone
        wear = np.clip(_smooth_noise(mask.shape, r.uniform(3, 12), g), 0, 1)
        alpha = mask * (1.0 - r.uniform(0.2, 0.3 + 0.35 * hard) * wear)
    if r.random() < 0.15:  # ink bleed: strokes slightly fatter and softer
        alpha = np.clip(cv2.GaussianBlur(alpha, (0, 0), r.uniform(0.5, 1.0)) * 1.4, 0, 1)
    if r.random() < 0.04:  # thermal printer with dead heating elements: thin blank streaks
        h, w = alpha.shape
        alpha = alpha.copy()
        for _ in range(r.randint(1, 3)):
            if r.random() < 0.5:
                alpha[r.randrange(h), :] = 0
            else:
                alpha[:, r.randrange(w)] = 0
    return surface * (1 - alpha) + ink * alpha


def outline(
    surface: np.ndarray, mask: np.ndarray, size: int, level: float, r: random.Random
) -> np.ndarray:
    """Paint a contour of gray `level` around the letters (signs, logos, stickers)."""
    width = max(1, round(size * r.uniform(0.03, 0.1)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    grown = cv2.dilate(mask, kernel)
    return surface * (1 - grown) + level * grown


def relief(
    surface: np.ndarray, mask: np.ndarray, size: int, hard: float, r: random.Random
) -> np.ndarray:
    """Stamped, embossed or engraved text: visible through the shading of its edges."""
    soft = cv2.GaussianBlur(mask, (0, 0), max(0.6, size * r.uniform(0.02, 0.06)))
    gx = cv2.Sobel(soft, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(soft, cv2.CV_32F, 0, 1, ksize=3)
    angle = r.uniform(0, 2 * math.pi)
    direction = r.choice((-1.0, 1.0))  # raised or sunk
    shade = direction * (math.cos(angle) * gx + math.sin(angle) * gy)
    # Thin strokes give weak gradients: normalize so `depth` is the contrast actually seen.
    shade *= 1.0 / max(float(np.abs(shade).max()), 1e-3)
    depth = r.uniform(0.15, 0.4) * (1.2 - 0.6 * hard)
    out = surface + depth * shade
    # The stamped floor is often darker (dirt, oxide, paint fill) or brighter (fresh cut).
    floor = r.uniform(-0.35, 0.2) * (1.2 - 0.6 * hard)
    return out + floor * mask


def drop_shadow(surface: np.ndarray, mask: np.ndarray, size: int, r: random.Random) -> np.ndarray:
    """Darken the surface under a shifted, blurred copy of the text (raised letters, signs)."""
    dx, dy = r.uniform(-0.08, 0.08) * size, r.uniform(0.02, 0.1) * size
    shifted = cv2.warpAffine(
        mask, np.float32([[1, 0, dx], [0, 1, dy]]), (mask.shape[1], mask.shape[0])
    )
    shadow = cv2.GaussianBlur(shifted, (0, 0), max(0.5, size * r.uniform(0.02, 0.08)))
    return surface * (1 - r.uniform(0.2, 0.6) * shadow)


# -- geometry --------------------------------------------------------------------------------


def warp(images: list[np.ndarray], size: int, r: random.Random) -> list[np.ndarray]:
    """Apply one random rotation/shear/perspective (and sometimes a curve) to all `images`."""
    h, w = images[0].shape
    angle = r.gauss(0, 1.6) if r.random() < 0.8 else r.uniform(-5, 5)
    angle = max(-5.0, min(5.0, angle))
    shear = r.gauss(0, 0.08) if r.random() < 0.3 else 0.0
    sx = r.uniform(0.8, 1.15) if r.random() < 0.4 else 1.0
    cx, cy = w / 2, h / 2
    a = math.radians(angle)
    affine = np.array(
        [
            [sx * math.cos(a), -math.sin(a) + shear, 0],
            [sx * math.sin(a), math.cos(a), 0],
            [0, 0, 1],
        ]
    )
    to_centre = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]])
    back = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]])
    matrix = back @ affine @ to_centre
    if r.random() < 0.35:  # perspective: the label is not facing the camera
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        j = size * 0.25
        dst = src + np.float32([[r.uniform(-j, j), r.uniform(-j, j)] for _ in range(4)])
        matrix = cv2.getPerspectiveTransform(src, dst) @ matrix
    out = [
        cv2.warpPerspective(
            im, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )
        for im in images
    ]
    if r.random() < 0.12:  # text on a bottle, pipe or bent plate
        bend = r.uniform(-0.25, 0.25) * size
        xs = np.arange(w, dtype=np.float32)
        offset = bend * ((2 * xs / max(w - 1, 1) - 1) ** 2 - 0.5)
        map_x = np.broadcast_to(xs[None, :], (h, w)).astype(np.float32)
        map_y = (np.arange(h, dtype=np.float32)[:, None] + offset[None, :]).astype(np.float32)
        out = [
            cv2.remap(im, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            for im in out
        ]
    return out


# Of crops a little too small vertically: at most this share of the text's height cut off.
VERTICAL_CUT = 0.05
# Of crops, on each side: cut flush with the outer letter. 0.12 until the eighth training cycle,
# which still dropped flush last letters of real crops (TO read T).
FLUSH_SHARE = 0.2


def crop(
    scene: Scene,
    r: random.Random,
    clip_top: bool = True,
    clip_bottom: bool = True,
    clip_left: bool = True,
    clip_right: bool = True,
    neighbours: np.ndarray | None = None,
) -> Scene:
    """Cut the text out like a detector would: tight or loose, and sometimes a few pixels too
    small at the top (if `clip_top`) or bottom (if `clip_bottom`), or flush with the first
    (`clip_left`) or last (`clip_right`) letter, cutting a sliver off its edge.

    `neighbours` [h, w] holds pieces of the words before and after the line: on a side where
    there is one, the crop ends at its outer edge, cutting through that letter."""
    # Relative to the strongest stroke: thin or tiny text whose mask never gets near 1 (warped
    # 9 px dot-matrix, say) must not be cut down to its few strongest columns.
    level = 0.35 * float(scene.text_mask.max())
    if level <= 0:
        return scene
    rows = np.flatnonzero(scene.text_mask.max(axis=1) > level)
    cols = np.flatnonzero(scene.text_mask.max(axis=0) > level)
    h, w = scene.image.shape
    size = scene.size
    text_h = rows[-1] - rows[0] + 1

    def margin(lo: float, hi: float) -> int:
        return int(round(r.uniform(lo, hi) * size))

    loose = r.random() < 0.25
    top = margin(0.0, 0.55 if loose else 0.2)
    bottom = margin(0.0, 0.55 if loose else 0.2)
    if r.random() < 0.1:  # detector box a little too small vertically
        # At most half a stroke: a whole one takes the bar off an E (read F) or a T (read I);
        # with cuts of 3-12% of the text height, 0.2.11 misread 18% of the lines losing over 2%
        # of their ink at the crop, 7.5% of the rest.
        cut = -int(round(text_h * r.uniform(0.02, VERTICAL_CUT)))
        if clip_top and (r.random() < 0.5 or not clip_bottom):
            top = cut
        elif clip_bottom:
            bottom = cut
    left = margin(0.02, 0.7 if loose else 0.25)
    right = margin(0.02, 0.7 if loose else 0.25)
    # Word crops in the wild are often cut flush with the outer letters: the recognizer must
    # not drop a first or last letter that touches the edge (a sliver of an em at most, so the
    # letter stays what it is; never where that letter is a mark a sliver could erase).
    # At most a third of the outer stroke, too: 0.05 em is all of an I in a light face (IP20
    # read P20).
    if clip_left and r.random() < FLUSH_SHARE:
        left = max(margin(-0.05, 0.0), -(_edge_stroke(scene.text_mask, level, cols[0], 1) // 3))
    if clip_right and r.random() < FLUSH_SHARE:
        right = max(margin(-0.05, 0.0), -(_edge_stroke(scene.text_mask, level, cols[-1], -1) // 3))
    y0, y1 = max(0, rows[0] - top), min(h, rows[-1] + 1 + bottom)
    x0, x1 = max(0, cols[0] - left), min(w, cols[-1] + 1 + right)
    if neighbours is not None and neighbours.max() > 0:
        near = np.flatnonzero(neighbours[y0:y1].max(axis=0) > 0.35 * float(neighbours.max()))
        before, after = near[near < cols[0]], near[near > cols[-1]]
        if before.size:
            x0 = int(before[0])
        if after.size:
            x1 = int(after[-1]) + 1
    return Scene(scene.image[y0:y1, x0:x1], scene.text_mask[y0:y1, x0:x1], size)


def _edge_stroke(mask: np.ndarray, level: float, col: int, step: int) -> int:
    """How wide (px) the strokes are that make the line's outer edge at column `col` (its first
    ink column, `step` 1, or its last, -1): the median run of ink into the line along the rows
    inked there."""
    ink = (mask[:, col:] if step > 0 else mask[:, col::-1]) > level
    edge = ink[ink[:, 0]]
    # The first empty column of each row (its run's length), or the whole width if none.
    runs = np.where(edge.all(axis=1), edge.shape[1], np.argmin(edge, axis=1))
    return int(np.median(runs))


# -- light and camera ------------------------------------------------------------------------


def lighting(image: np.ndarray, hard: float, r: random.Random) -> np.ndarray:
    """Uneven light: a brightness ramp, a cast shadow edge, or a specular highlight."""
    h, w = image.shape
    if r.random() < 0.35:
        angle = r.uniform(0, 2 * math.pi)
        ramp = (
            np.cos(angle) * (np.arange(w)[None, :] / w - 0.5)
            + np.sin(angle) * (np.arange(h)[:, None] / max(h, 1) - 0.5)
        ).astype(np.float32)
        image = image * (1 + r.uniform(0.2, 0.9) * ramp)
    if r.random() < 0.12:  # a hard shadow edge across the label
        x0 = r.uniform(0, w)
        slope = r.uniform(-2, 2)
        xs = np.arange(w, dtype=np.float32)[None, :] - (x0 + slope * np.arange(h)[:, None])
        soft = max(1.0, r.uniform(0.5, 6))
        side = 0.5 + 0.5 * np.tanh(xs / (2 * soft))  # logistic step, overflow-free
        if r.random() < 0.5:
            side = 1 - side
        image = image * (1 - r.uniform(0.25, 0.6) * side.astype(np.float32))
    if r.random() < 0.05 + 0.2 * hard:  # glare: a bright blob over part of the text
        cx, cy = r.uniform(0, w), r.uniform(0, h)
        sx, sy = r.uniform(0.05, 0.4) * w, r.uniform(0.2, 1.0) * h
        xs = (np.arange(w, dtype=np.float32)[None, :] - cx) / sx
        ys = (np.arange(h, dtype=np.float32)[:, None] - cy) / sy
        blob = np.exp(-(xs * xs + ys * ys))
        # Veiling light: adds brightness that saturates, squeezing contrast without erasing it.
        image = 1 - (1 - np.clip(image, 0, 1)) * (1 - r.uniform(0.3, 0.5 + 0.4 * hard) * blob)
    return image


def light(image: np.ndarray, bands: Bands | None, hard: float, r: random.Random) -> np.ndarray:
    """`lighting` that leaves every letter legible: a draw that takes more than 1 - LEGIBLE of
    the strokes' contrast in any em-wide band of the line (`stroke_bands`: glare that washes
    out a word, a shadow's edge over a faint print) is drawn again milder, and after three such
    draws the line stays unlit. The mean over the whole line hides such losses: a label
    `SN: M5S-36849-V` whose `SN:` was erased passed the line-wide checks."""
    before = band_contrasts(image, bands)
    for _ in range(3):
        lit = lighting(image, hard, r)
        if np.all(band_contrasts(lit, bands) >= LEGIBLE * before):
            return lit
        hard *= 0.4
    return image


def ensure_legible(image: np.ndarray, text_mask: np.ndarray, size: int, floor: float) -> np.ndarray:
    """Raise the contrast between the strokes and the surface right beside them to at least
    `floor` where effects stacked up to hide it (a shadow or a ramp of light can leave text
    faint against its own neighbourhood while the frame as a whole has contrast to spare).

    Samples nobody could read would only teach the recognizer to guess.
    """
    image = np.clip(image, 0, 1)
    regions = stroke_regions(text_mask, size)
    if regions is None or stroke_contrast(image, regions) >= floor:
        return image
    ink, near = regions
    outside = float(image[near].mean())
    contrast = float(image[ink].mean()) - outside
    sign = 1.0 if (contrast > 0 if contrast != 0 else outside < 0.5) else -1.0
    coverage = np.minimum(text_mask * (1 / float(text_mask.max())), 1.0)
    # Soft strokes take the change in proportion to their coverage: scale it so the averages
    # move apart by the whole shortfall.
    spread = max(float(coverage[ink].mean()) - float(coverage[near].mean()), 0.1)

    def apart(img: np.ndarray) -> float:
        return sign * (float(img[ink].mean()) - float(img[near].mean()))

    # Strokes near white (black) clip when pushed further, per pixel, however much room their
    # mean has: move the ink while that gains most of the shortfall, else the surface, and
    # repeat until the floor is met.
    for _ in range(6):
        now = apart(image)
        short = floor - now
        if short <= 1e-6:
            break
        shift = sign * short / spread
        moved = np.clip(image + shift * coverage, 0, 1)
        if apart(moved) - now < 0.5 * short:
            moved = np.clip(image - shift * (1 - coverage), 0, 1)
        image = moved
    return image


def _motion_kernel(length: int, angle: float) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    c = (length - 1) / 2
    dx, dy = math.cos(angle) * c, math.sin(angle) * c
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1)
    return kernel / max(kernel.sum(), 1e-6)


def _disk_kernel(radius: float) -> np.ndarray:
    n = int(math.ceil(radius)) * 2 + 1
    yy, xx = np.mgrid[0:n, 0:n] - (n - 1) / 2
    kernel = np.clip(radius + 0.5 - np.hypot(yy, xx), 0, 1).astype(np.float32)
    return kernel / kernel.sum()


def stroke_regions(text_mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The ink of the text and the bare surface within a quarter em of it; None if either is
    empty (nothing to measure)."""
    # Relative to the strongest stroke: thin type at a few pixels never gets near full coverage.
    top = float(text_mask.max())
    ink = text_mask > 0.6 * top
    if top <= 0 or not ink.any():
        return None
    reach = max(5, int(size / 4) | 1)  # at least 2 px past the ink: soft tiny strokes
    near = cv2.dilate(ink.astype(np.uint8), np.ones((reach, reach), np.uint8)) > 0
    near &= text_mask < 0.05 * top
    return (ink, near) if near.any() else None


def stroke_contrast(image: np.ndarray, regions: tuple[np.ndarray, np.ndarray] | None) -> float:
    """How far the strokes still stand out from the surface right beside them (0..1), with
    `regions` from `stroke_regions` (1.0 when there is nothing to measure).

    Blur mixes ink with the surface next to it, so this falls with blur that is heavy for the
    stroke width, while a wide ramp of light barely moves it.
    """
    if regions is None:
        return 1.0
    ink, near = regions
    return abs(float(image[ink].mean()) - float(image[near].mean()))


@dataclass(frozen=True)
class Bands:
    """The ink of a line and the bare surface beside it (`stroke_regions`), counted in bands an
    em wide along the line: `starts` are the bands' first columns (from `lo`), `keep` the bands
    with enough of both to measure."""

    ink: np.ndarray  # [h, hi - lo] bool
    near: np.ndarray
    lo: int
    hi: int
    starts: np.ndarray
    ink_count: np.ndarray
    near_count: np.ndarray
    keep: np.ndarray


def stroke_bands(text_mask: np.ndarray, size: int) -> Bands | None:
    """The line's strokes in em-wide bands, so an effect that hides a few letters shows in their
    band while the line's mean barely moves; None when there is nothing to measure."""
    regions = stroke_regions(text_mask, size)
    if regions is None:
        return None
    ink, near = regions
    cols = np.flatnonzero(ink.any(axis=0))
    lo, hi = int(cols[0]), int(cols[-1]) + 1
    ink, near = ink[:, lo:hi], near[:, lo:hi]
    starts = np.arange(0, hi - lo, max(8, size))
    ink_count = np.add.reduceat(ink.sum(axis=0), starts)
    near_count = np.add.reduceat(near.sum(axis=0), starts)
    keep = (ink_count >= 4) & (near_count > 0)
    return Bands(ink, near, lo, hi, starts, ink_count, near_count, keep)


def band_contrasts(image: np.ndarray, bands: Bands | None) -> np.ndarray:
    """How far the strokes stand out from the surface beside them in each measurable band."""
    if bands is None or not bands.keep.any():
        return np.ones(0, np.float32)
    part = image[:, bands.lo : bands.hi]
    ink = np.add.reduceat((part * bands.ink).sum(axis=0), bands.starts)
    near = np.add.reduceat((part * bands.near).sum(axis=0), bands.starts)
    k = bands.keep
    return np.abs(ink[k] / bands.ink_count[k] - near[k] / bands.near_count[k]).astype(np.float32)


def camera(
    scene: Scene,
    hard: float,
    r: random.Random,
    g: np.random.Generator,
    bands: Bands | None,
) -> np.ndarray:
    """Optics and sensor: blur (gaussian, motion, defocus), few pixels, and noise.

    `scene.size` is the text's em in px, so blur is measured against the strokes; `hard` (0..1)
    sets how far each degradation may go. Optics that leave the strokes less than LEGIBLE of
    their contrast (or under LEGIBLE_FLOOR) in any em-wide band of the line are drawn again
    milder, and noise stays well under what the faintest band keeps: a label on a sample nobody
    could read is only noise to learn from. `bands` are the scene's `stroke_bands`.
    """
    before = band_contrasts(scene.image, bands)
    for attempt in range(3):
        image = _optics(scene.image, scene.size, hard if attempt < 2 else 0.0, r)
        after = band_contrasts(image, bands)
        if np.all(after >= np.maximum(LEGIBLE * before, LEGIBLE_FLOOR)) or attempt == 2:
            break
        hard *= 0.4
    if r.random() < 0.7:
        weakest = float(after.min()) if len(after) else 1.0
        sigma = min(r.uniform(0.004, 0.015 + 0.07 * hard), weakest / NOISE_MARGIN)
        image = image + sigma * g.standard_normal(image.shape, dtype=np.float32)
    return image


LEGIBLE = 0.45  # share of the stroke contrast the optics must leave
LEGIBLE_FLOOR = 0.06  # and never less than this (on 0..1 gray)
# The faintest em-wide band of a printed and lit line, before the camera: enough for the optics to
# take their share and still leave LEGIBLE_FLOOR. latin-crnn 0.2.11 misread 25% of 3000 label lines
# (generator of 185ce39) whose faintest band was under 0.12, 5% of those above 0.3 (whole words
# hidden in a shadow or clutter the ink's gray); it read 91.4% of 3000 lines with or without this.
PRINT_FLOOR = LEGIBLE_FLOOR / LEGIBLE
NOISE_MARGIN = 3.0  # pixel noise sigma at most 1/NOISE_MARGIN of the stroke contrast left
# Text of an em under this many px is drawn small (far away) and upscaled to the output: blurred
# like larger text (a 2-4 px smear, a 1.4 px defocus disk), latin-crnn 0.2.11 misread 21% of such
# label lines, 8% of the rest, most of them blobs nobody could read (18% with a light blur only).
TINY = 15


def _optics(image: np.ndarray, size: int, hard: float, r: random.Random) -> np.ndarray:
    h, w = image.shape
    stroke = max(1.0, size / 10)  # about one stroke width
    blur = r.random()
    if size < TINY:
        # Letters a few pixels tall are soft already (antialiasing, the warp's resampling, the
        # upscale to the output): the counters are a pixel or two, so a smear or a defocus disk
        # of that much runs the letters into blobs. A light gaussian at most.
        if blur < 0.3 + 0.2 * hard:
            image = cv2.GaussianBlur(image, (0, 0), r.uniform(0.2, 0.5))
    elif blur < 0.25 + 0.2 * hard:
        image = cv2.GaussianBlur(image, (0, 0), stroke * r.uniform(0.15, 0.3 + 0.6 * hard))
    elif blur < 0.33 + 0.25 * hard:
        # In strokes, not pixels: a 3 px smear is nothing on 40 px letters, illegible on 10 px.
        length = r.randint(2, max(2, round(stroke * (1.5 + 2.0 * hard))))
        image = cv2.filter2D(image, -1, _motion_kernel(length, r.uniform(0, math.pi)))
    elif blur < 0.38 + 0.3 * hard:
        image = cv2.filter2D(image, -1, _disk_kernel(stroke * r.uniform(0.4, 0.6 + 0.8 * hard)))
    if r.random() < 0.15 + 0.3 * hard:  # seen from afar: letters only 9..16 px tall
        target = r.uniform(16 - 7 * hard, 16)
        factor = size * 0.75 / target
        if factor > 1.2:
            small = (max(4, int(w / factor)), max(4, int(h / factor)))
            image = cv2.resize(image, small, interpolation=cv2.INTER_AREA)
            up = r.choice((cv2.INTER_LINEAR, cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_NEAREST))
            image = cv2.resize(image, (w, h), interpolation=up)
    return image


def finish(
    image: np.ndarray, hard: float, r: random.Random, bands: Bands | None = None
) -> np.ndarray:
    """Contrast/gamma jitter, quantize to uint8, and JPEG artefacts for part of the samples.

    With the line's `bands` (`stroke_bands`), a result that leaves any band's strokes under
    LEGIBLE_FLOOR is finished again without gamma and at the mildest JPEG quality: a gamma that
    flattens the dark end under faint dark print left 2% of 3000 generated label lines at a
    contrast of 0.01-0.07, and latin-crnn 0.2.11 misread 45% of them."""
    out = _finish(image, hard, r, gamma=True)
    if bands is not None:
        after = band_contrasts(out.astype(np.float32) * (1 / 255), bands)
        if len(after) and after.min() < LEGIBLE_FLOOR:
            out = _finish(image, 0.0, r, gamma=False)
    return out


def _finish(image: np.ndarray, hard: float, r: random.Random, gamma: bool) -> np.ndarray:
    if r.random() < 0.3 and gamma:
        image = np.clip(image, 0, 1) ** r.uniform(0.6, 1.6)
    out = np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
    if r.random() < 0.45:
        ok, buf = cv2.imencode(
            ".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, r.randint(int(85 - 75 * hard), 92)]
        )
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return out
