"""Tests for scripts/scenes.py: the synthetic scene generator and its CLI."""

from __future__ import annotations

import glob
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("PIL")

from scripts.charsets import DEFAULT_CHARSET, read_charset  # noqa: E402
from scripts.scenes import MAX_SIDE, MIN_SIDE, SceneGenerator, main  # noqa: E402

CHARSET_FILE = DEFAULT_CHARSET
CHARSET = read_charset()
IC03 = Path(__file__).resolve().parents[2] / "shared" / "data" / "ic03_scenes"


@pytest.fixture(scope="module")
def fonts() -> list[str]:
    """Four DejaVu faces (sans, serif, mono): quick to measure, different enough."""
    names = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSans-Bold.ttf")
    found = [p for p in glob.glob("/usr/share/fonts/truetype/dejavu/*.ttf") if p.endswith(names)]
    if not found:
        pytest.skip("no DejaVu fonts installed")
    return found


@pytest.fixture(scope="module")
def scenes(fonts: list[str]) -> list:
    """Twenty scenes of the mixed kind."""
    gen = SceneGenerator(CHARSET, seed=11, fonts=fonts)
    return [gen.sample() for _ in range(20)]


def _signed_area(quad: np.ndarray) -> float:
    x, y = quad[:, 0], quad[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def test_same_seed_gives_same_scenes(fonts: list[str]) -> None:
    """Two generators with the same charset, seed and fonts draw identical scenes."""
    a = SceneGenerator(CHARSET, seed=5, fonts=fonts)
    b = SceneGenerator(CHARSET, seed=5, fonts=fonts)
    for _ in range(3):
        (img_a, lines_a), (img_b, lines_b) = a.sample(), b.sample()
        np.testing.assert_array_equal(img_a, img_b)
        assert [ln.text for ln in lines_a] == [ln.text for ln in lines_b]
        for la, lb in zip(lines_a, lines_b, strict=True):
            np.testing.assert_array_equal(la.quad, lb.quad)


def test_different_seeds_give_different_scenes(fonts: list[str]) -> None:
    """Different seeds draw different texts."""
    a = SceneGenerator(CHARSET, seed=1, fonts=fonts).sample()[1]
    b = SceneGenerator(CHARSET, seed=2, fonts=fonts).sample()[1]
    assert [ln.text for ln in a] != [ln.text for ln in b]


def test_scenes_are_colour_frames_of_the_promised_sizes(scenes: list) -> None:
    """Every scene is a uint8 BGR frame whose longest side lies in 320..1280 px."""
    for image, _ in scenes:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert MIN_SIDE <= max(image.shape[:2]) <= MAX_SIDE


def test_line_quads_lie_inside_the_frame_clockwise_from_top_left(scenes: list) -> None:
    """Line quads are inside the frame, clockwise, and start at the text's top-left corner."""
    total = 0
    for image, lines in scenes:
        h, w = image.shape[:2]
        for line in lines:
            q = line.quad
            assert q.shape == (4, 2) and q.dtype == np.float32
            assert (q[:, 0] >= -1).all() and (q[:, 0] <= w + 1).all()
            assert (q[:, 1] >= -1).all() and (q[:, 1] <= h + 1).all()
            assert _signed_area(q) > 0  # clockwise on screen (y down)
            assert q[1, 0] > q[0, 0] and q[3, 1] > q[0, 1]  # rotations stay within 45 degrees
            total += 1
    assert total >= 20


def test_words_make_up_their_line_and_sit_inside_it(scenes: list) -> None:
    """A line's text is its words joined by spaces and each word's centre lies in the line."""
    for _, lines in scenes:
        for line in lines:
            assert line.text == " ".join(word.text for word in line.words)
            outline = line.quad.reshape(-1, 1, 2)
            for word in line.words:
                centre = word.quad.mean(axis=0)
                inside = cv2.pointPolygonTest(outline, (float(centre[0]), float(centre[1])), True)
                assert inside > -1.0


def test_text_is_visible_where_the_quads_say(scenes: list) -> None:
    """Inside a line's box the pixels vary more than the frame does on average (ink is there)."""
    contrasted = checked = 0
    for image, lines in scenes:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
        for line in lines:
            x0, y0 = np.floor(line.quad.min(axis=0)).astype(int)
            x1, y1 = np.ceil(line.quad.max(axis=0)).astype(int)
            patch = gray[max(0, y0) : y1, max(0, x0) : x1]
            if patch.size < 40:
                continue
            checked += 1
            contrasted += float(patch.std()) > 8
    assert contrasted >= 0.9 * checked


def test_cli_writes_images_and_ic03_style_annotations(tmp_path: Path, fonts: list[str]) -> None:
    """The CLI writes images/NNNN.jpg and one ic03_scenes-format record (plus lines) each."""
    out = tmp_path / "scenes"
    args = ["--out", str(out), "--count", "3", "--seed", "4", "--fonts", ",".join(fonts)]
    assert main(args) == 0
    records = [json.loads(x) for x in (out / "annotations.jsonl").read_text().splitlines()]
    assert [r["image"] for r in records] == [
        "images/0000.jpg",
        "images/0001.jpg",
        "images/0002.jpg",
    ]
    reference_keys = {"image", "width", "height", "words"}
    if (IC03 / "annotations.jsonl").exists():
        first = json.loads((IC03 / "annotations.jsonl").read_text().splitlines()[0])
        reference_keys = set(first) - {"orig"}
        assert set(first["words"][0]) == {"text", "quad"}
    for record in records:
        assert reference_keys <= set(record) and "lines" in record
        image = cv2.imread(str(out / record["image"]))
        assert image.shape[:2] == (record["height"], record["width"])
        for item in record["words"] + record["lines"]:
            assert set(item) == {"text", "quad"} and item["text"]
            assert len(item["quad"]) == 4 and all(len(p) == 2 for p in item["quad"])
        words = " ".join(w["text"] for w in record["words"])
        assert words == " ".join(line["text"] for line in record["lines"])


@pytest.mark.parametrize("kind", ["label", "words"])
def test_each_kind_draws_text_lines(fonts: list[str], kind: str) -> None:
    """Label-only and sign-only generators both draw frames with text lines."""
    gen = SceneGenerator(CHARSET, 3, kind, fonts)
    assert sum(len(gen.sample()[1]) for _ in range(3)) > 0


def test_unknown_kind_is_refused(fonts: list[str]) -> None:
    """A kind the generator does not know is a ValueError naming the choices."""
    with pytest.raises(ValueError, match="kind must be one of"):
        SceneGenerator(CHARSET, 3, "posters", fonts)


def _line_heights(gen: SceneGenerator, count: int) -> list[float]:
    """Each line's height as a fraction of its frame's longest side, over `count` scenes."""
    heights = []
    for _ in range(count):
        image, lines = gen.sample()
        for line in lines:
            q = line.quad
            heights.append(float(np.linalg.norm(q[3] - q[0])) / max(image.shape[:2]))
    return heights


def test_far_scenes_are_large_frames_with_smaller_text(fonts: list[str]) -> None:
    """`sides` bounds the frames and a lower `min_em` draws smaller text than the default does
    from the same seed: the set the detector's max_side is chosen on."""
    far = SceneGenerator(CHARSET, 8, fonts=fonts, sides=(1280, 1600), min_em=4)
    for image, _ in (far.sample() for _ in range(4)):
        assert 1280 <= max(image.shape[:2]) <= 1600
    near = _line_heights(SceneGenerator(CHARSET, 8, fonts=fonts), 16)
    small = _line_heights(SceneGenerator(CHARSET, 8, fonts=fonts, min_em=4), 16)
    assert np.median(small) < 0.8 * np.median(near)
    with pytest.raises(ValueError, match="sides"):
        SceneGenerator(CHARSET, 8, fonts=fonts, sides=(1600, 1280))


def test_sign_letters_are_sometimes_drawn_as_their_outlines(fonts: list[str]) -> None:
    """Hollow letters (fire alarms, shop signs): the same word's outline, its inside empty."""
    gen = SceneGenerator(CHARSET, 5, fonts=fonts)
    face = gen._lines._bold[0]
    _, filled, boxes = gen._render_line("HOLD", 60, "font", face)
    _, hollow, hollow_boxes = gen._render_line("HOLD", 60, "hollow", face)
    assert hollow_boxes == boxes and hollow.shape == filled.shape
    assert 0.1 * filled.sum() < hollow.sum() < 0.8 * filled.sum()
    # The middle of the H's left stem is ink when filled and empty in the outline.
    x0, y0, x1, y1 = boxes[0][1]
    stem = filled[(y0 + y1) // 2, x0 : x0 + 60 // 4]
    middle = x0 + int(np.flatnonzero(stem > 0.5).mean())
    assert filled[(y0 + y1) // 2, middle] > 0.5 and hollow[(y0 + y1) // 2, middle] < 0.5
