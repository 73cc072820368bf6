"""Tests for scripts/synth.py: the synthetic text-line generator and its CLI."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PIL")

from PIL import ImageFont  # noqa: E402

from scripts.charsets import DEFAULT_CHARSET, read_charset  # noqa: E402
from scripts.synth import LineGenerator, list_fonts, load_shard, main  # noqa: E402
from scripts.synthlib.fonts import glyph_coverage  # noqa: E402

CHARSET_FILE = DEFAULT_CHARSET
CHARSET = read_charset()


@pytest.fixture(scope="module")
def fonts() -> list[str]:
    """A handful of common fonts: enough variety, quick to measure."""
    found = sorted(glob.glob("/usr/share/fonts/truetype/dejavu/DejaVuSans*.ttf"))
    found += sorted(glob.glob("/usr/share/fonts/truetype/liberation*/LiberationSerif-*.ttf"))
    if not found:
        pytest.skip("no DejaVu/Liberation fonts installed")
    return found[:8]


def test_same_seed_gives_same_samples(fonts: list[str]) -> None:
    """Two generators with the same charset, seed and fonts produce identical sequences."""
    a = LineGenerator(CHARSET, seed=7, fonts=fonts)
    b = LineGenerator(CHARSET, seed=7, fonts=fonts)
    for _ in range(30):
        (img_a, text_a), (img_b, text_b) = a.sample(), b.sample()
        assert text_a == text_b
        np.testing.assert_array_equal(img_a, img_b)


def test_different_seeds_give_different_samples(fonts: list[str]) -> None:
    """Different seeds produce different texts."""
    texts_a = _texts(LineGenerator(CHARSET, seed=1, fonts=fonts), 20)
    texts_b = _texts(LineGenerator(CHARSET, seed=2, fonts=fonts), 20)
    assert texts_a != texts_b


def _texts(gen: LineGenerator, n: int) -> list[str]:
    return [gen.sample()[1] for _ in range(n)]


@pytest.mark.parametrize("kind", ["mixed", "label", "words"])
def test_samples_are_sane_uint8_lines_with_charset_labels(fonts: list[str], kind: str) -> None:
    """Every sample is a 2-D uint8 image of plausible size whose label uses only charset chars."""
    gen = LineGenerator(CHARSET, seed=3, fonts=fonts, kind=kind)
    allowed = set(CHARSET)
    for _ in range(150):
        img, text = gen.sample()
        assert isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 2
        h, w = img.shape
        assert 16 <= h <= 96 and 4 <= w <= 4000
        assert text and text == text.strip() and set(text) <= allowed
        assert img.std() > 0  # not a blank image


def test_given_text_is_rendered_and_returned(fonts: list[str]) -> None:
    """sample(text=...) returns that text with the image."""
    gen = LineGenerator(CHARSET, seed=0, fonts=fonts)
    for given in ("IP65", "S/N: 4A7-22913-X", "-20°C...+60°C", "HOTEL"):
        img, text = gen.sample(text=given)
        assert text == given
        assert img.ndim == 2 and img.shape[1] > img.shape[0] // 2


def test_given_text_loses_only_characters_outside_the_charset(fonts: list[str]) -> None:
    """Characters missing from the charset are dropped from a given text."""
    gen = LineGenerator("0123456789 cosABC", seed=0, fonts=fonts)
    _, text = gen.sample(text="cos φ 0.82")
    assert text == "cos 082"


def test_glyph_coverage_leaves_out_characters_drawn_as_notdef(fonts: list[str]) -> None:
    """A character the font has no glyph for (drawn as its .notdef box) is not covered."""
    font = ImageFont.truetype(fonts[0], 24)
    assert glyph_coverage(font, "A7中\ue83a") == {"A", "7"}


def test_characters_no_font_draws_are_dropped_from_the_label(fonts: list[str]) -> None:
    """A charset character that no font has a glyph for never appears in a label."""
    gen = LineGenerator("AB7中", seed=0, fonts=fonts)
    assert gen.sample(text="A中B7")[1] == "AB7"
    for _ in range(30):
        assert "中" not in gen.sample()[1]


def test_list_fonts_finds_latin_fonts_without_symbol_fonts() -> None:
    """list_fonts returns existing font files and leaves out symbol, math and emoji fonts."""
    found = list_fonts()
    if not found:
        pytest.skip("no fonts installed")
    assert all(os.path.isfile(p) for p in found)
    names = " ".join(os.path.basename(p).lower() for p in found)
    for excluded in ("symbol", "math", "emoji", "d050000l"):
        assert excluded not in names


def _run_cli(out: Path, workers: int) -> list[tuple[np.ndarray, str]]:
    assert (
        main(
            [
                "--charset",
                str(CHARSET_FILE),
                "--out",
                str(out),
                "--count",
                "50",
                "--seed",
                "11",
                "--workers",
                str(workers),
                "--shard-size",
                "20",
                "--png",
            ]
        )
        == 0
    )
    samples = []
    for shard in sorted(out.glob("shard-*.npz")):
        samples += load_shard(str(shard))
    return samples


def test_cli_writes_count_samples_reproducibly_across_worker_counts(tmp_path: Path) -> None:
    """The CLI writes --count samples as shards, PNGs and labels.tsv, same for 1 or 2 workers."""
    one = _run_cli(tmp_path / "one", workers=1)
    two = _run_cli(tmp_path / "two", workers=2)
    assert len(one) == 50 and len(list((tmp_path / "one").glob("shard-*.npz"))) == 3
    lines = (tmp_path / "one" / "labels.tsv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 50 and len(list((tmp_path / "one" / "png").glob("*.png"))) == 50
    assert [t for _, t in one] == [t for _, t in two]
    for (img_a, _), (img_b, _) in zip(one, two, strict=True):
        np.testing.assert_array_equal(img_a, img_b)


def test_camera_never_blurs_or_noises_the_strokes_away() -> None:
    """The hardest optics and sensor noise still leave the text readable: in every em-wide
    stretch of the line the strokes keep part of their contrast against the surface beside
    them, and the noise stays well below the faintest stretch's."""
    import random

    import cv2

    from scripts.synthlib import effects

    drawn = np.zeros((40, 240), np.uint8)
    cv2.putText(drawn, "Ser. 0815-7", (6, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 255, 1)
    mask = drawn.astype(np.float32) / 255
    size = 28
    image = 0.8 - 0.2 * mask  # thin, low-contrast print
    scene = effects.Scene(image.astype(np.float32), mask, size)
    bands = effects.stroke_bands(mask, size)
    before = effects.band_contrasts(scene.image, bands)
    worst, noisiest = 1.0, 0.0
    for seed in range(300):
        out = effects.camera(scene, 1.0, random.Random(seed), np.random.default_rng(seed), bands)
        worst = min(worst, float((effects.band_contrasts(out, bands) / before).min()))
        noise = float((out - cv2.GaussianBlur(out, (0, 0), 2))[mask < 0.01].std())
        noisiest = max(noisiest, noise / float(before.min()))
    assert worst >= 0.25
    assert noisiest < 0.4


def test_light_never_washes_out_part_of_a_line() -> None:
    """Glare or a shadow's edge may dim a label, but no em-wide stretch of it (a word, `SN:`)
    loses more than LEGIBLE of its contrast, where the plain lighting draws sometimes erase
    one while the line as a whole keeps its contrast."""
    import random

    import cv2

    from scripts.synthlib import effects

    drawn = np.zeros((40, 300), np.uint8)
    cv2.putText(drawn, "SN: M5S-36849-V", (6, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 255, 2)
    mask = drawn.astype(np.float32) / 255
    size = 28
    image = (0.85 - 0.35 * mask).astype(np.float32)  # gray print on a light label
    bands = effects.stroke_bands(mask, size)
    assert bands is not None and bands.keep.sum() >= 8
    before = effects.band_contrasts(image, bands)
    plain_worst, worst = 1.0, 1.0
    for seed in range(400):
        plain = effects.lighting(image, 1.0, random.Random(seed))
        plain_worst = min(plain_worst, float((effects.band_contrasts(plain, bands) / before).min()))
        lit = effects.light(image, bands, 1.0, random.Random(seed))
        worst = min(worst, float((effects.band_contrasts(lit, bands) / before).min()))
    assert plain_worst < 0.3
    assert worst >= effects.LEGIBLE


def test_faint_thin_type_is_raised_to_a_legible_contrast() -> None:
    """Thin type a few pixels tall never reaches full coverage in its mask, and a shadow can
    leave it faint against the surface right beside it while the canvas as a whole has
    contrast: the legibility floor still applies, measured beside the strokes."""
    import cv2

    from scripts.synthlib import effects

    drawn = np.zeros((20, 120), np.uint8)
    cv2.putText(drawn, "0815-7 AB", (2, 14), cv2.FONT_HERSHEY_PLAIN, 0.8, 255, 1)
    mask = cv2.GaussianBlur(drawn.astype(np.float32) / 255, (0, 0), 0.8) * 0.7
    assert 0 < mask.max() < 0.6  # no pixel fully covered
    image = np.full(mask.shape, 0.2, np.float32)
    image[:, 60:] = 0.9  # half the canvas lit, half in shadow
    image = image - 0.03 * mask / mask.max()  # the ink barely darker than its surface
    size = 10
    regions = effects.stroke_regions(mask, size)
    assert effects.stroke_contrast(image, regions) < 0.06
    out = effects.ensure_legible(image, mask, size, 0.12)
    # Stroke pixels on the lit half clip at white when the ink is pushed: the floor is still met.
    assert effects.stroke_contrast(out, regions) >= 0.12 - 1e-6


def test_crops_are_sometimes_flush_with_the_outer_letters_but_never_cut_a_mark() -> None:
    """Like word crops in the wild, some crops touch the first or last letter (a sliver of an
    em at most is cut); where that character is a mark a sliver could erase, never."""
    import random

    import cv2

    from scripts.synthlib import effects

    drawn = np.zeros((60, 300), np.uint8)
    cv2.putText(drawn, "HOLD 42", (40, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 255, 3)
    mask = drawn.astype(np.float32) / 255
    size = 36
    ink = np.flatnonzero(mask.max(axis=0) > 0.35)
    columns = np.broadcast_to(np.arange(300, dtype=np.float32), mask.shape)  # x in each pixel
    scene = effects.Scene(columns.copy(), mask, size)

    def cuts(left: bool, right: bool) -> tuple[list[int], list[int]]:
        """Per crop, how many columns of the outer letters its left and right edge cut off."""
        lefts, rights = [], []
        for seed in range(400):
            out = effects.crop(scene, random.Random(seed), clip_left=left, clip_right=right)
            x0, x1 = int(out.image[0, 0]), int(out.image[0, -1])
            lefts.append(max(0, x0 - int(ink[0])))
            rights.append(max(0, int(ink[-1]) - x1))
        return lefts, rights

    lefts, rights = cuts(True, True)
    assert 0 < sum(c > 0 for c in lefts) < 100 and 0 < sum(c > 0 for c in rights) < 100
    assert max(lefts) <= 0.05 * size + 1 and max(rights) <= 0.05 * size + 1
    lefts, rights = cuts(False, False)
    assert max(lefts) == 0 and max(rights) == 0

    # A light face's I is a stem of 2 px at this size: 0.05 em (2 px) would cut all of it (IP20
    # read P20); a cut takes at most a third of the outer stroke, so none of this one.
    stem = mask.copy()
    stem[:, :60] = 0
    stem[14:46, 50:52] = 1.0
    scene = effects.Scene(columns.copy(), stem, size)  # what `cuts` crops
    ink = np.flatnonzero(stem.max(axis=0) > 0.35)
    lefts, rights = cuts(True, True)
    assert max(lefts) == 0 and 0 < sum(c > 0 for c in rights) < 100


def test_pieces_of_neighbouring_words_are_cut_through_and_never_whole_letters(
    fonts: list[str],
) -> None:
    """Word crops from a line of text often show part of the next word's first letter (or the
    previous word's last): the generator draws such a piece over a word space from the line, on
    its baseline, never more than part of the letter nor a lone stem (that reads as I or l),
    and the crop cuts through it."""
    import random

    from scripts.synth import _Look
    from scripts.synthlib import effects

    gen = LineGenerator(CHARSET, seed=11, fonts=fonts, kind="words")
    widths = []
    for _ in range(20):
        ink = gen._render("HOLD", _Look("font", None), False)
        h, w = ink.mask.shape
        left, top = 3 * ink.size, ink.size
        canvas = np.zeros((h + 2 * top, w + 2 * left), np.float32)
        gen._side_fragments(canvas, ink, left, top, ("left", "right"))
        cols = np.flatnonzero(canvas.max(axis=0) > 0)
        rows = np.flatnonzero(canvas.max(axis=1) > 0)
        assert cols.size, "no piece drawn"
        before, after = cols[cols < left], cols[cols >= left + w]
        assert not np.any((cols >= left) & (cols < left + w)), "a piece overlaps the line"
        gap = (left + 2) - (before[-1] + 1) if before.size else (after[0] - (left + w - 2))
        assert gap >= 0.3 * ink.size  # over a word space away: wider than any letter gap
        for piece in (before, after):  # at most 65 % of a letter (the widest is about an em)
            if piece.size:
                widths.append((piece[-1] - piece[0] + 1) / ink.size)
                assert widths[-1] <= 0.65 + 2 / ink.size
                # at least 35 % of a letter 0.3 em or wider: more than a lone stem
                assert widths[-1] >= 0.35 * 0.3 - 2 / ink.size
        assert rows[0] < top + h and rows[-1] >= top  # beside the line, not above or below it
    # Whole capitals are about 0.65 em wide on average: the pieces are well short of that.
    assert len(widths) >= 30 and float(np.mean(widths)) < 0.4

    # The crop keeps the whole line and ends at the outer edge of each piece.
    mask = np.zeros((60, 300), np.float32)
    mask[20:40, 100:200] = 1.0
    pieces = np.zeros_like(mask)
    pieces[22:40, 70:78] = 1.0
    pieces[20:40, 215:221] = 1.0
    columns = np.broadcast_to(np.arange(300, dtype=np.float32), mask.shape).copy()
    for seed in range(50):
        out = effects.crop(effects.Scene(columns, mask, 24), random.Random(seed), neighbours=pieces)
        assert (int(out.image[0, 0]), int(out.image[0, -1])) == (70, 220)


def test_some_short_lines_are_letter_spaced_with_word_spaces_still_wider(fonts: list[str]) -> None:
    """Signs set letter-spaced (DEBENHAMS, L I T T E R) are drawn too: some short lines have
    their letters 0.3-1 em apart, never a long one, and a word space stays wider than the
    letter gaps around it, so the label's spaces are still what the picture shows."""
    from scripts.synth import WIDE_TRACKING_CHARS, WIDE_TRACKING_EM, _Look
    from scripts.synthlib.glyphs import render_font

    gen = LineGenerator(CHARSET, seed=5, fonts=fonts, kind="words")
    spaced = {True: 0, False: 0}
    for i in range(600):
        text = "EXIT" if i % 2 else "Lot 7 of 12, box 4 of 9 and more"
        gen._render(text, _Look("font", None), False)
        printed = gen._printed
        assert printed is not None
        wide = printed.tracking >= WIDE_TRACKING_EM[0] * printed.size - 1e-6
        spaced[len(text) <= WIDE_TRACKING_CHARS] += wide
    assert 10 <= spaced[True] <= 60 and spaced[False] == 0

    size = 40
    for em in WIDE_TRACKING_EM:
        gaps = _ink_gaps(render_font(fonts[0], "HH HH", size, em * size).mask)
        assert len(gaps) == 3  # between the H's: letter gap, word gap, letter gap
        assert gaps[1] > max(gaps[0], gaps[2]) + 0.2 * size


def _ink_gaps(mask: np.ndarray) -> list[int]:
    """The widths of the empty column runs between a mask's runs of ink, left to right."""
    columns = mask.max(axis=0) > 0.5
    edges = np.flatnonzero(np.diff(columns.astype(np.int8)))  # starts and ends of ink runs
    return [int(b - a) for a, b in zip(edges[1::2], edges[2::2], strict=False)]


def test_word_spaces_vary_from_narrow_to_wide_and_stay_wider_than_letter_gaps(
    fonts: list[str],
) -> None:
    """Condensed and tightly set signs have word spaces far narrower than a font's own: some
    lines are drawn with spaces 0.15-0.5 em wide, so narrow and wide ones both occur, and the
    space is still the widest gap on its line, so the label's spaces are what the picture shows."""
    from scripts.synth import VARIABLE_SPACE_EM, _Look
    from scripts.synthlib.glyphs import render_font

    gen = LineGenerator(CHARSET, seed=9, fonts=fonts, kind="words")
    widths = []
    for _ in range(600):
        gen._render("Lot 7 of 12", _Look("font", None), False)
        printed = gen._printed
        assert printed is not None
        widths.append(printed.space / printed.size)
    own = ImageFont.truetype(fonts[0], 100).getlength(" ") / 100
    assert sum(w < 0.2 for w in widths) >= 10  # narrower than common fonts' own spaces
    assert sum(w > own + 0.05 for w in widths) >= 10
    assert min(widths) >= VARIABLE_SPACE_EM[0] - 1e-6

    size = 40
    for tracking in (-0.04, 0.0, 0.22):
        mask = render_font(fonts[0], "HH HH", size, tracking * size, space=0.15 * size).mask
        gaps = _ink_gaps(mask)
        assert len(gaps) == 3 and gaps[1] > max(gaps[0], gaps[2]) + 0.08 * size


def test_label_word_spaces_are_clearly_wider_than_any_letter_gap(
    fonts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A nameplate's space must be a space to the eye: on a label line every word gap is at least
    LABEL_SPACE_MARGIN em wider than the widest letter gap, the space widened where a colon's or
    a 1's side bearings widen a letter gap or the drawn space is narrow."""
    from scripts.synth import LABEL_SPACE_MARGIN, _Look
    from scripts.synthlib.glyphs import clear_space, render_font

    # Upright faces: a slanted one's column gaps are not the gaps its letters' boxes leave.
    upright = [f for f in fonts if "Oblique" not in f and "Italic" not in f]
    text = "H1: 1. 1H"  # ink gaps, in order: H-1, 1-:, word, 1-., word, 1-H

    def margin_px(mask: np.ndarray) -> int | None:
        gaps = _ink_gaps(mask)
        if len(gaps) != 6:  # glyphs touching: nothing to measure
            return None
        return min(gaps[2], gaps[4]) - max(gaps[0], gaps[1], gaps[3], gaps[5])

    size = 40
    for font in upright:
        narrow = 0.02 * size  # a space hardly wider than a letter gap
        assert margin_px(render_font(font, text, size, space=narrow).mask) < (
            LABEL_SPACE_MARGIN * size
        )
        space = clear_space(font, text, size, 0.0, narrow, LABEL_SPACE_MARGIN)
        assert space is not None and space > narrow
        assert margin_px(render_font(font, text, size, space=space).mask) >= (
            LABEL_SPACE_MARGIN * size - 2  # whole pixels
        )

    # Through the generator, every drawn space hardly wider than a letter gap: widened all the same.
    monkeypatch.setattr("scripts.synth.VARIABLE_SPACE_SHARE", 1.0)
    monkeypatch.setattr("scripts.synth.VARIABLE_SPACE_EM", (0.0, 0.03))
    gen = LineGenerator(CHARSET, seed=13, fonts=upright, kind="label")
    measured = 0
    for _ in range(300):
        drawn = margin_px(gen._render(text, _Look("font", None), True).mask)
        printed = gen._printed
        assert printed is not None
        if drawn is not None:
            measured += 1
            assert drawn >= LABEL_SPACE_MARGIN * printed.size - 2
    assert measured >= 100


def test_scene_words_include_the_short_words_real_text_is_full_of() -> None:
    """Real scene text is full of words of one to three letters (to, of, IN); a word list drawn
    uniformly has few. The scene-word lines hold them often enough to learn, without crowding
    out the longer words."""
    import random

    from scripts.synthlib.content import TextSource

    source = TextSource(CHARSET, random.Random(3))
    if not source.words:
        pytest.skip("no word list installed")
    lines = [source.line("words") for _ in range(4000)]
    short = sum(len(line) <= 3 for line in lines) / len(lines)
    assert 0.10 <= short <= 0.30
    assert sum(len(line) <= 2 for line in lines) >= 0.02 * len(lines)


def test_code_letters_among_digits_leave_out_i_o_and_q() -> None:
    """Serial, model, part and lot codes draw their letters without I, O and Q, as makers do
    (O and 0 differ only by width in most faces); words and letter fields keep them."""
    import random
    import re

    from scripts.synthlib.content import TextSource

    source = TextSource(CHARSET, random.Random(5))
    codes = [
        f()
        for f in (source.serial, source.model, source.part_number, source.lot)
        for _ in range(400)
    ]
    # Letters touching a digit, after the key ("SN: ", "LOT NO.") is taken off.
    touching = "".join(
        m.group(0)
        for code in codes
        for m in re.finditer(r"(?<=\d)[A-Z]|[A-Z](?=\d)", code.split(":")[-1].split(". ")[-1])
    )
    assert len(touching) > 500
    assert not set(touching) & set("IOQ")
    labels = [source.line("label") for _ in range(2000)]
    assert any("O" in line for line in labels)  # words keep their O (MOTOR, POWER)


def test_dot_matrix_keeps_the_stems_of_an_m_apart() -> None:
    """A dot-matrix line shows each stem of an m as its own column of dots, however thin the
    face it is sampled from and however heavily it is thickened: 7-row grids ran the stems into
    a block and dropped a thin face's strokes."""
    import random

    from scripts.synthlib.glyphs import render_dot_matrix

    faces = [
        p
        for p in list_fonts()
        if os.path.basename(p)
        in ("FreeMono.ttf", "DejaVuSansMono.ttf", "LiberationMono-Regular.ttf")
    ]
    if len(faces) < 2:
        pytest.skip("DejaVu Sans Mono / FreeMono not installed")
    for path in faces:
        for seed in range(20):
            ink = render_dot_matrix(path, "m", random.Random(seed))
            ys = np.flatnonzero(ink.mask.max(axis=1) > 127)
            legs = ink.mask[(ys[0] + ys[-1]) // 2 : ys[-1] + 1] > 127  # under the arch
            starts, ends = _runs(legs.max(axis=0))
            # One dot's width: the typical run of ink along a row of the legs.
            dot = float(np.median(np.concatenate([np.subtract(*_runs(r)[::-1]) for r in legs])))
            # Columns of dots a sliver apart belong to one stem; stems are a dot or more apart.
            runs = 1 + int(np.sum(starts[1:] - ends[:-1] > 0.6 * dot))
            assert runs == 3, (os.path.basename(path), seed, runs)


def _runs(row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the runs of True along `row` start and end (exclusive)."""
    edges = np.flatnonzero(np.diff(np.r_[0, row.astype(np.int8), 0]))
    return edges[::2], edges[1::2]


def test_finishing_never_flattens_faint_print_below_the_floor() -> None:
    """Gamma and JPEG may change how a line looks, but dark print on a dark surface that the
    camera left legible keeps at least LEGIBLE_FLOOR of contrast in every em-wide band (a
    gamma of 1.6 alone takes 0.09 down to 0.03)."""
    import random

    import cv2

    from scripts.synthlib import effects

    drawn = np.zeros((40, 260), np.uint8)
    cv2.putText(drawn, "LOT 24A-0815", (6, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 255, 2)
    mask = drawn.astype(np.float32) / 255
    image = (0.12 - 0.09 * mask).astype(np.float32)
    bands = effects.stroke_bands(mask, 28)
    plain, floored = [], []
    for seed in range(200):
        for out, into in (
            (effects.finish(image, 1.0, random.Random(seed)), plain),
            (effects.finish(image, 1.0, random.Random(seed), bands), floored),
        ):
            into.append(float(effects.band_contrasts(out.astype(np.float32) / 255, bands).min()))
    assert min(plain) < 0.04
    assert min(floored) >= effects.LEGIBLE_FLOOR


def test_tiny_text_is_never_smeared_into_blobs() -> None:
    """Text a few pixels tall is never blurred more than a half-pixel gaussian would: its
    counters are a pixel or two, and a smear or defocus disk of that much leaves blobs."""
    import random

    import cv2

    from scripts.synthlib import effects

    drawn = np.zeros((20, 110), np.uint8)
    cv2.putText(drawn, "SN 4815-B", (2, 15), cv2.FONT_HERSHEY_PLAIN, 0.9, 255, 1)
    mask = drawn.astype(np.float32) / 255
    size = 11
    image = (0.9 - 0.7 * mask).astype(np.float32)
    bands = effects.stroke_bands(mask, size)
    softest = effects.band_contrasts(cv2.GaussianBlur(image, (0, 0), 0.5), bands)
    scene = effects.Scene(image, mask, size)
    worst = min(
        float(
            np.min(
                effects.band_contrasts(
                    effects.camera(scene, 1.0, random.Random(s), np.random.default_rng(s), bands),
                    bands,
                )
                - softest
            )
        )
        for s in range(300)
    )
    assert worst > -0.03


def test_no_word_of_a_printed_line_fades_into_its_surface(
    fonts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clutter, a shadow's edge or glare over a faint print can leave a word as dark as the
    surface around it while the line as a whole has contrast: before the camera, every em-wide
    band of a printed (not stamped) line keeps at least PRINT_FLOOR."""
    from scripts.synthlib import effects

    faintest: list[float] = []
    stamped: list[bool] = []
    real_camera, real_relief = effects.camera, effects.relief

    def relief(*args, **kwargs):  # type: ignore[no-untyped-def]
        stamped[-1] = True
        return real_relief(*args, **kwargs)

    def camera(scene, hard, r, g, bands=None):  # type: ignore[no-untyped-def]
        contrasts = effects.band_contrasts(scene.image, bands)
        if len(contrasts) and not stamped[-1]:
            faintest.append(float(contrasts.min()))
        return real_camera(scene, hard, r, g, bands)

    monkeypatch.setattr(effects, "relief", relief)
    monkeypatch.setattr(effects, "camera", camera)
    gen = LineGenerator(CHARSET, seed=21, fonts=fonts, kind="label")
    for _ in range(300):
        stamped.append(False)
        gen.sample()
    assert len(faintest) > 200
    # Three draws, each milder, then the last is kept: almost never still faint.
    assert np.mean(np.array(faintest) < effects.PRINT_FLOOR) < 0.01


def test_nameplate_lines_come_from_the_grammar_and_mixed_lines_keep_rare_symbols(
    fonts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random strings over the charset teach the rare symbols but are no nameplate's text: the
    mixed kind (training) draws some, the label kind (nameplate test sets) none."""
    from scripts.synthlib.content import TextSource

    drawn = {"n": 0}
    real = TextSource.random_chars

    def counted(self: TextSource) -> str:
        drawn["n"] += 1
        return real(self)

    monkeypatch.setattr(TextSource, "random_chars", counted)
    counts = {}
    for kind in ("label", "mixed"):
        drawn["n"] = 0
        gen = LineGenerator(CHARSET, seed=4, fonts=fonts, kind=kind)
        for _ in range(400):
            gen._pick_text(True, gen._pick_look(True))
        counts[kind] = drawn["n"]
    assert counts["label"] == 0
    assert 5 <= counts["mixed"] <= 40


def test_a_box_too_small_vertically_never_takes_a_whole_bar_off_a_letter(
    fonts: list[str],
) -> None:
    """Detector boxes are sometimes a little too small at the top or bottom; the cut stays
    within half a stroke of a regular face, so an E keeps its bottom bar (not an F) and a T its
    top (not an I)."""
    import random

    from scripts.synthlib import effects
    from scripts.synthlib.glyphs import render_font

    regular = [f for f in fonts if os.path.basename(f) == "DejaVuSans.ttf"]
    if not regular:
        pytest.skip("DejaVu Sans not installed")
    mask = render_font(regular[0], "ETE", 40).mask.astype(np.float32) / 255
    rows = np.flatnonzero(mask.max(axis=1) > 0.35)
    left = np.flatnonzero(mask.max(axis=0) > 0.35)[0]
    column = mask[:, left + 8] > 0.35  # through the E's bars
    bar = int(np.sum(column[rows[-1] - 10 : rows[-1] + 1]))  # its bottom bar's thickness
    ys = np.broadcast_to(np.arange(mask.shape[0], dtype=np.float32)[:, None], mask.shape)
    scene = effects.Scene(ys.copy(), mask, 40)
    cut = 0
    for seed in range(600):
        out = effects.crop(scene, random.Random(seed))
        top, bottom = int(out.image[0, 0]), int(out.image[-1, 0])
        cut = max(cut, top - int(rows[0]), int(rows[-1]) - bottom)
    assert 0 < cut <= bar / 2 + 0.5, (cut, bar)


def test_the_mixed_kind_draws_label_lines_at_the_share_asked(fonts: list[str]) -> None:
    """Training can weigh nameplates against scene words: the mixed kind's share of label
    lines is a parameter (0.5 unless given), and a share outside 0..1 is refused."""
    picked: list[bool] = []

    def shares(label_share: float | None) -> float:
        extra = {} if label_share is None else {"label_share": label_share}
        gen = LineGenerator(CHARSET, seed=12, fonts=fonts, kind="mixed", **extra)
        real = gen._pick_look
        picked.clear()

        def spy(is_label: bool, given: str | None = None):  # type: ignore[no-untyped-def]
            picked.append(is_label)
            return real(is_label, given)

        gen._pick_look = spy  # type: ignore[method-assign]
        for _ in range(300):
            gen.sample()
        return sum(picked) / len(picked)

    assert 0.4 < shares(None) < 0.6
    assert shares(0.85) > 0.78
    with pytest.raises(ValueError, match="label_share"):
        LineGenerator(CHARSET, seed=1, fonts=fonts, label_share=1.5)
