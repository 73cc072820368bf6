"""edge_ocr.anchor: fields placed on a label are read at their place on it, wherever it is.

A nameplate is drawn at test time (an ArUco marker, fixed print, and values drawn with the same
`draw` the daemon tests use), photographed by a perspective warp under several camera poses,
and its fields are cut out by regions.extract and read by the shipped model.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml
from conftest_daemon import draw

from edge_ocr import anchor, config, regions
from edge_ocr.config import FieldConfig, LabelConfig, MarkerConfig, OutlineConfig, ReferenceConfig
from edge_ocr.errors import ConfigError
from edge_ocr.types import Frame

SIZE = (600, 400)  # the label's canonical width, height
MARKER = (20.0, 20.0, 90.0, 90.0)  # where the marker is printed on it
VALUES = {"model": ("PUMP7", (140, 20)), "serial": ("AB12", (330, 180))}
FRAME = (960, 720)


# --- drawing --------------------------------------------------------------------------------


def template() -> np.ndarray:
    """The label's fixed print: marker, headings, a logo, a rule; no values."""
    label = np.full((SIZE[1], SIZE[0], 3), 255, dtype=np.uint8)
    x, y, w, h = (int(v) for v in MARKER)
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    label[y : y + h, x : x + w] = cv2.aruco.generateImageMarker(dictionary, 7, w)[:, :, None]
    font = cv2.FONT_HERSHEY_SIMPLEX
    for text, at in (("MODEL", (140, 130)), ("SERIAL NO", (40, 230)), ("RATING", (40, 330))):
        cv2.putText(label, text, at, font, 0.7, (0, 0, 0), 2, cv2.LINE_AA)
    cv2.circle(label, (520, 320), 40, (0, 0, 0), 6)
    cv2.fillPoly(label, [np.array([[500, 300], [545, 310], [510, 345]])], (0, 0, 0))
    cv2.line(label, (30, 150), (570, 150), (0, 0, 0), 2)
    cv2.rectangle(label, (8, 8), (SIZE[0] - 9, SIZE[1] - 9), (0, 0, 0), 2)
    return label


def nameplate() -> tuple[np.ndarray, dict[str, tuple[float, float, float, float]]]:
    """The template with its values printed in, and each value's rect on the label."""
    label = template()
    rects = {}
    for field, (word, (x, y)) in VALUES.items():
        printed = draw(word, height=36)
        h, w = printed.shape[:2]
        label[y : y + h, x : x + w] = printed
        rects[field] = (float(x), float(y), float(w), float(h))
    return label, rects


def photograph(
    label: np.ndarray,
    *,
    turn: float = 0.0,
    scale: float = 0.8,
    shift: tuple[float, float] = (0.0, 0.0),
    tilt: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The label on a textured grey surface, turned clockwise by `turn` degrees, scaled,
    shifted from the frame's center and tilted (keystone); with its canonical -> frame map."""
    h, w = label.shape[:2]
    src = anchor.corners(w, h)
    points = (src - [w / 2, h / 2]) * scale
    points[:2, 0] *= 1 - tilt  # the top edge farther from the camera than the bottom
    points[2:, 0] *= 1 + tilt
    a = np.radians(turn)
    turned = points @ np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    dst = (turned + [FRAME[0] / 2 + shift[0], FRAME[1] / 2 + shift[1]]).astype(np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    # Drawn at twice the size and averaged down, as a lens and sensor would blur it; pixel
    # centers are whole numbers, so frame x is at 2x + 0.5 in the large drawing.
    big = (FRAME[0] * 2, FRAME[1] * 2)
    enlarge = np.array([[2.0, 0.0, 0.5], [0.0, 2.0, 0.5], [0.0, 0.0, 1.0]])
    background = cv2.resize(surface(), big, interpolation=cv2.INTER_NEAREST)
    transparent = cv2.BORDER_TRANSPARENT
    sharp = cv2.warpPerspective(
        label, enlarge @ matrix, big, dst=background, borderMode=transparent
    )
    return cv2.resize(sharp, FRAME, interpolation=cv2.INTER_AREA), matrix


def surface() -> np.ndarray:
    """A mottled dark grey surface the size of a frame."""
    rng = np.random.default_rng(7)
    blocks = rng.integers(50, 100, (FRAME[1] // 8, FRAME[0] // 8), dtype=np.uint8)
    grey = cv2.resize(blocks, FRAME, interpolation=cv2.INTER_NEAREST)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)


def frame(image: np.ndarray) -> Frame:
    return Frame(image=image, frame_id=1, source="test", captured_at=0.0)


# --- configurations -------------------------------------------------------------------------


def marker_label() -> LabelConfig:
    return LabelConfig(
        name="plate", find="marker", size=SIZE, marker=MarkerConfig(id=7, rect=MARKER)
    )


def outline_label(turned: int = 0) -> LabelConfig:
    return LabelConfig(
        name="plate", find="outline", size=SIZE, outline=OutlineConfig(turned=turned)
    )


def reference_label(path: Path) -> LabelConfig:
    cv2.imwrite(str(path), template())
    return LabelConfig(name="plate", find="reference", reference=ReferenceConfig(image=path))


def fields_on(rects: dict[str, tuple[float, float, float, float]]) -> tuple[FieldConfig, ...]:
    return tuple(FieldConfig(name=name, label="plate", rect=rect) for name, rect in rects.items())


POSES = {
    "square-on": {"scale": 1.0},
    "turned-30-shifted": {"turn": 30, "scale": 0.8, "shift": (80, -40), "tilt": 0.15},
    "turned-minus-60-small": {"turn": -60, "scale": 0.65, "shift": (-100, 40), "tilt": -0.2},
}


def check_read_in_place(
    labels: tuple[LabelConfig, ...],
    pose: dict[str, Any],
    recognizer: Any,
    expected: Any,
    *,
    within_px: float = 3.0,
) -> None:
    """Each value field's region lies where the value is in the frame and reads as the value."""
    label, rects = nameplate()
    image, matrix = photograph(label, **pose)
    found = regions.extract(frame(image), fields_on(rects), labels)
    assert [r.field for r in found] == list(rects)
    for region in found:
        truth = anchor.to_frame(matrix, regions.rect_quad(*rects[region.field]))
        assert np.abs(np.asarray(region.quad) - truth).max() < within_px, region.field
    texts = [d.text for d in recognizer.recognize([r.crop for r in found])]
    assert texts == [expected(word) for word, _ in VALUES.values()]


# --- finding the label -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "pose", list(POSES.values()) + [{"turn": 180, "tilt": 0.1}], ids=list(POSES) + ["upside-down"]
)
def test_marker_label_fields_are_read_in_place_from_any_camera_pose(
    pose: dict[str, Any], recognizer: Any, expected: Any
) -> None:
    """With a marker, a field is read at its place on the label however the label lies, even
    upside down, and its region says where that is in the frame."""
    # Four corners of a small marker, extended over the whole label: a few px off at worst.
    check_read_in_place((marker_label(),), pose, recognizer, expected, within_px=6.0)


@pytest.mark.parametrize("pose", list(POSES.values()), ids=list(POSES))
def test_outline_label_fields_are_read_in_place_from_any_camera_pose(
    pose: dict[str, Any], recognizer: Any, expected: Any
) -> None:
    """By its outline alone, a label turned up to 90 degrees is read at the right places."""
    check_read_in_place((outline_label(),), pose, recognizer, expected)


@pytest.mark.parametrize(
    "pose", list(POSES.values()) + [{"turn": 180, "tilt": 0.1}], ids=list(POSES) + ["upside-down"]
)
def test_reference_label_fields_are_read_in_place_from_any_camera_pose(
    pose: dict[str, Any], recognizer: Any, expected: Any, tmp_path: Path
) -> None:
    """Matched to a picture of the blank label, the filled-in label is read in place."""
    check_read_in_place((reference_label(tmp_path / "plate.png"),), pose, recognizer, expected)


def test_outline_reads_an_upside_down_label_only_when_told_it_is_turned() -> None:
    """An outline looks the same upside down: `turned: 180` says which way up the label is."""
    label, rects = nameplate()
    image, matrix = photograph(label, turn=175)
    field = FieldConfig(name="serial", label="plate", rect=rects["serial"])
    truth = anchor.to_frame(matrix, regions.rect_quad(*rects["serial"]))
    (upright,) = regions.extract(frame(image), (field,), (outline_label(turned=180),))
    assert np.abs(np.asarray(upright.quad) - truth).max() < 4.0
    (wrong,) = regions.extract(frame(image), (field,), (outline_label(turned=0),))
    assert np.abs(np.asarray(wrong.quad) - truth).max() > 50


@pytest.mark.parametrize("turned", [90, 180, 270])
def test_outline_reads_a_label_lying_the_way_turned_says(
    turned: int, recognizer: Any, expected: Any
) -> None:
    """A camera mounted sideways or upside down is set with `turned`; the label may then
    still lie up to 90 degrees either way from it."""
    pose = {"turn": turned - 35, "scale": 0.7, "tilt": 0.1}
    check_read_in_place((outline_label(turned),), pose, recognizer, expected)


def test_reference_picture_rescaled_to_size_places_fields_on_that_grid(
    tmp_path: Path, recognizer: Any, expected: Any
) -> None:
    """With `size`, a reference label's canonical view is the picture scaled to that size."""
    label, rects = nameplate()
    image, matrix = photograph(label, turn=25, tilt=0.1)
    half = dataclasses.replace(reference_label(tmp_path / "plate.png"), size=(300, 200))
    halved = {name: tuple(v / 2 for v in rect) for name, rect in rects.items()}
    found = regions.extract(frame(image), fields_on(halved), (half,))  # type: ignore[arg-type]
    for region in found:
        truth = anchor.to_frame(matrix, regions.rect_quad(*rects[region.field]))
        assert np.abs(np.asarray(region.quad) - truth).max() < 3.0
    texts = [d.text for d in recognizer.recognize([r.crop for r in found])]
    assert texts == [expected(word) for word, _ in VALUES.values()]


def test_view_shows_the_label_upright_at_its_canonical_size() -> None:
    """LabelFinder.view gives the label as drawn, to measure where fields are on it."""
    label, _ = nameplate()
    image, _ = photograph(label, turn=-20, tilt=0.1)
    view = anchor.LabelFinder(outline_label()).view(image)
    assert view is not None and view.shape == label.shape

    def difference(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.abs(cv2.blur(a, (9, 9)).astype(int) - cv2.blur(b, (9, 9))).mean())

    assert difference(view, label) < 5 < 20 < difference(view[::-1, ::-1], label)


# --- not found: nothing read from the wrong place --------------------------------------------


@pytest.mark.parametrize("find", ["outline", "marker", "reference"])
def test_frame_without_the_label_reads_none_of_its_fields_and_counts_it(
    find: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Without the label in view its fields give no region (counted, logged at debug); a
    field in frame coordinates is still read."""
    made = {
        "outline": outline_label,
        "marker": marker_label,
        "reference": lambda: reference_label(tmp_path / "plate.png"),
    }
    labels = (made[find](),)
    fields = (
        FieldConfig(name="serial", label="plate", rect=(330, 180, 150, 80)),
        FieldConfig(name="clock", rect=(10, 10, 200, 50)),
    )
    with caplog.at_level(logging.DEBUG, logger="edge_ocr.regions"):
        found = regions.extract(frame(surface()), fields, labels)
    assert [r.field for r in found] == ["clock"]
    assert anchor.finders(labels)["plate"].missed == 1
    assert "label plate not found" in caplog.text


def test_field_cut_off_by_the_frame_edge_is_not_read() -> None:
    """A label half out of view: fields still in the frame are read, the cut one is not."""
    label, rects = nameplate()
    image, _ = photograph(label, scale=1.0, shift=(450, 0))  # right half beyond the frame
    labels = (marker_label(),)
    found = regions.extract(frame(image), fields_on(rects), labels)
    assert [r.field for r in found] == ["model"]
    assert anchor.finders(labels)["plate"].cut_off == 1


def test_outline_cut_by_the_frame_edge_is_not_taken_for_the_label() -> None:
    """A label partly out of view is not found by its outline: the visible part would
    otherwise pass for a smaller label, and fields would be read from the wrong place."""
    label, rects = nameplate()
    image, _ = photograph(label, scale=1.0, shift=(300, 0))
    labels = (outline_label(),)
    assert regions.extract(frame(image), fields_on(rects), labels) == []
    assert anchor.finders(labels)["plate"].missed == 1


def test_marker_seen_twice_is_not_trusted() -> None:
    """Two labels with the same marker id in view: which is meant cannot be known, so neither
    is read."""
    label, rects = nameplate()
    small = cv2.resize(label, (300, 200))
    image = surface()
    image[50:250, 50:350] = small
    image[400:600, 500:800] = small
    labels = (marker_label(),)
    assert regions.extract(frame(image), fields_on(rects), labels) == []


def test_finders_are_built_once_per_configuration(tmp_path: Path) -> None:
    """Frames of one configuration share its finders; a reloaded one gets its own, so a
    replaced reference picture is read again."""
    labels = (reference_label(tmp_path / "plate.png"),)
    assert anchor.finders(labels) is anchor.finders(labels)
    reloaded = (reference_label(tmp_path / "plate.png"),)
    assert reloaded == labels and anchor.finders(reloaded) is not anchor.finders(labels)


# --- configuration --------------------------------------------------------------------------


@pytest.fixture
def write(tmp_path: Path) -> Any:
    """Write a config with these labels and fields (and valid paths) and return its path."""
    model = tmp_path / "model.onnx"
    model.write_bytes(b"not loaded by the config checks")
    (tmp_path / "inbox").mkdir()
    cv2.imwrite(str(tmp_path / "plate.png"), template())

    def make(labels: list[dict[str, Any]], fields: list[dict[str, Any]]) -> Path:
        raw = {
            "model": {"path": str(model)},
            "source": {"folder": {"path": str(tmp_path / "inbox")}},
            "outbox": {"path": str(tmp_path / "outbox.sqlite3")},
            "labels": labels,
            "fields": fields,
        }
        path = tmp_path / "edge-ocr.yaml"
        path.write_text(yaml.safe_dump(raw))
        return path

    return make


MARKER_YAML = {
    "name": "plate",
    "find": "marker",
    "size": [600, 400],
    "marker": {"id": 7, "rect": [20, 20, 90, 90]},
}


def test_config_with_labels_reads_fields_in_place(
    write: Any, recognizer: Any, expected: Any
) -> None:
    """A loaded YAML config (a relative reference path, fields on two labels) reads the
    values the way the daemon calls it."""
    _, rects = nameplate()
    path = write(
        [MARKER_YAML, {"name": "photo", "find": "reference", "reference": {"image": "plate.png"}}],
        [
            {"name": "model", "label": "plate", "rect": list(rects["model"])},
            {"name": "serial", "label": "photo", "rect": list(rects["serial"])},
        ],
    )
    cfg = config.load(path, environ={})
    assert (
        cfg.labels[1].reference is not None
        and cfg.labels[1].reference.image == path.parent / "plate.png"
    )
    image, _ = photograph(nameplate()[0], turn=15, tilt=0.1)
    found = regions.extract(frame(image), cfg.fields, cfg.labels)
    texts = [d.text for d in recognizer.recognize([r.crop for r in found])]
    assert texts == [expected("PUMP7"), expected("AB12")]


def problems(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        config.load(path, environ={})
    return str(info.value)


@pytest.mark.parametrize(
    "labels,fields,message",
    [
        (
            [MARKER_YAML],
            [{"name": "a", "label": "plat"}],
            "fields[0].label: no label named 'plat' (did you mean 'plate'?); labels: plate",
        ),
        (
            [{"name": "plate", "find": "marker", "size": [600, 400]}],
            [],
            "labels[0].marker: is required for find: marker",
        ),
        (
            [{"name": "plate", "find": "reference", "reference": {"image": "missing.png"}}],
            [],
            "labels[0].reference.image: file not found, got 'missing.png'",
        ),
        (
            [
                {
                    **MARKER_YAML,
                    "marker": {"id": 7, "rect": [20, 20, 90, 90], "dictionary": "DICT_4X4_51"},
                }
            ],
            [],
            "labels[0].marker.dictionary: must be one of DICT_4X4_50, ",
        ),
        (
            [{**MARKER_YAML, "marker": {"id": 50, "rect": [20, 20, 90, 90]}}],
            [],
            "labels[0].marker.id: DICT_4X4_50 holds ids 0 to 49, got 50",
        ),
        (
            [{**MARKER_YAML, "marker": {"id": 7, "rect": [550, 20, 90, 90]}}],
            [],
            "labels[0].marker.rect: must lie inside the label's 600x400 canonical view",
        ),
        (
            [{"name": "plate", "find": "outline"}],
            [],
            "labels[0].size: is required for find: outline ([width, height] in pixels)",
        ),
        (
            [{**MARKER_YAML, "find": "outline"}],
            [],
            "labels[0].marker: only used with find: marker, this label has outline",
        ),
        (
            [{"name": "plate", "find": "edges", "size": [600]}],
            [],
            "labels[0].find: must be one of outline, marker, reference, got 'edges'",
        ),
        (
            [MARKER_YAML, MARKER_YAML],
            [],
            "labels[1].name: duplicate label name 'plate'",
        ),
        (
            [MARKER_YAML],
            [{"name": "a", "label": "plate", "rect": [500, 300, 200, 50]}],
            "fields[0].rect: must lie on the label 'plate' (its canonical view is 600x400 px)",
        ),
        (
            [{"name": "plate", "find": "reference", "reference": {"image": "plate.png"}}],
            [{"name": "a", "label": "plate", "quad": [[0, 0], [700, 0], [700, 50], [0, 50]]}],
            "fields[0].quad: must lie on the label 'plate' (its canonical view is 600x400 px)",
        ),
        (
            [{**MARKER_YAML, "outline": {"turned": 45}}],
            [],
            "labels[0].outline.turned: must be one of 0, 90, 180, 270, got 45",
        ),
    ],
    ids=[
        "unknown-label",
        "marker-without-marker-section",
        "missing-reference-file",
        "bad-dictionary",
        "id-beyond-dictionary",
        "marker-off-the-label",
        "outline-without-size",
        "section-of-another-method",
        "unknown-method",
        "duplicate-label",
        "field-off-the-label",
        "field-off-the-reference-picture",
        "bad-turn",
    ],
)
def test_label_mistakes_are_config_errors_naming_the_key(
    write: Any, labels: list[dict[str, Any]], fields: list[dict[str, Any]], message: str
) -> None:
    """Each mistake in labels, or in a field placed on one, is reported by its key path."""
    assert message in problems(write(labels, fields))


def test_reference_picture_without_detail_is_refused(write: Any, tmp_path: Path) -> None:
    """A reference picture too plain to match (a blank card) is refused when the config is
    checked, not discovered frame by frame."""
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((400, 600), 255, np.uint8))
    (tmp_path / "notes.png").write_text("not a picture")
    msg = problems(
        write(
            [
                {"name": "a", "find": "reference", "reference": {"image": "blank.png"}},
                {"name": "b", "find": "reference", "reference": {"image": "notes.png"}},
            ],
            [],
        )
    )
    assert "labels[0].reference.image: 0 ORB features in blank.png, fewer than min_inliers" in msg
    assert "labels[1].reference.image: cannot be read as an image" in msg


def test_aruco_dictionaries_are_those_of_opencv() -> None:
    """Every dictionary name the config accepts exists in OpenCV with that many markers."""
    for name, count in config.ARUCO_DICTIONARIES.items():
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, name))
        assert dictionary.bytesList.shape[0] == count, name


def test_label_view_command_writes_the_upright_label_with_its_fields_outlined(
    write: Any, tmp_path: Path, capsys: Any
) -> None:
    """`edge-ocr label-view` shows a snapshot's label square on at its canonical size, the
    configured fields outlined in red where they are read; a picture without the label, or a
    label not in the config, is an error saying so."""
    from edge_ocr import cli

    _, rects = nameplate()
    path = write(
        [MARKER_YAML], [{"name": "serial", "label": "plate", "rect": list(rects["serial"])}]
    )
    snapshot, _ = photograph(nameplate()[0], turn=25, scale=0.7, tilt=0.1)
    cv2.imwrite(str(tmp_path / "snapshot.png"), snapshot)
    out = tmp_path / "view.png"
    args = ["label-view", "--config", str(path), "plate", str(tmp_path / "snapshot.png")]
    assert cli.main([*args, str(out)]) == 0
    assert "600x400" in capsys.readouterr().out
    view = cv2.imread(str(out))
    assert view.shape[:2] == (SIZE[1], SIZE[0])
    red = (view[:, :, 2] > 180) & (view[:, :, 1] < 80) & (view[:, :, 0] < 80)
    ys, xs = np.nonzero(red)
    x, y, w, h = rects["serial"]
    # the outline sits on the field's rect (the name is written just above it)
    assert abs(xs.min() - x) <= 3 and abs(xs.max() - (x + w)) <= 3
    assert abs(ys.max() - (y + h)) <= 3
    # the rest of the view is the label itself, upright: its marker where the config puts it
    mx, my, mw, mh = (int(v) for v in MARKER)
    assert view[my + 5 : my + mh - 5, mx + 5 : mx + mw - 5].mean() < 200  # the black marker
    assert view[my - 8 : my - 2, mx : mx + mw].mean() > 200  # its white margin above

    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), surface())
    assert cli.main([*args[:-1], str(blank), str(tmp_path / "none.png")]) == 1
    assert "label 'plate' not found" in capsys.readouterr().err
    assert not (tmp_path / "none.png").exists()
    assert cli.main([*args[:-2], "plat", str(blank), str(out)]) == 2
    assert "no label named 'plat'" in capsys.readouterr().err
