"""Tests for scripts/detmetrics.py and scripts/evaluate_det.py: quad IoU, matching, don't-care
words, end-to-end counting, the letterboxed frames, and one real run on a two-frame folder."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_ocr.regions import rect_quad
from scripts import evaluate_det
from scripts.detmetrics import Counts, count_image, is_dont_care, match_greedy, quad_iou, scores
from scripts.evaluate_det import (
    SceneSet,
    check_targets,
    compare_to_peer,
    load_frame,
    load_scene_set,
    plan_sets,
    plan_systems,
    proportional_words,
)


def test_iou_of_a_quad_with_itself_is_one() -> None:
    """Identical quads overlap completely, whatever their corner order."""
    quad = ((10, 10), (50, 12), (48, 30), (9, 28))
    assert quad_iou(quad, quad) == pytest.approx(1.0)
    assert quad_iou(quad, tuple(reversed(quad))) == pytest.approx(1.0)


def test_iou_of_half_overlapping_rectangles_is_one_third() -> None:
    """Two 10x10 squares sharing half their area: intersection 50, union 150."""
    assert quad_iou(rect_quad(0, 0, 10, 10), rect_quad(5, 0, 10, 10)) == pytest.approx(1 / 3)


def test_iou_of_disjoint_or_degenerate_quads_is_zero() -> None:
    """Quads that do not meet, or a quad with no area, overlap nothing."""
    assert quad_iou(rect_quad(0, 0, 10, 10), rect_quad(20, 0, 10, 10)) == 0.0
    assert quad_iou(rect_quad(0, 0, 10, 10), ((0, 0), (5, 5), (10, 10), (2, 2))) == 0.0


def test_iou_of_a_rotated_square_with_an_upright_one() -> None:
    """A square turned 45 degrees inside its circumscribing square covers half of it."""
    diamond = ((5, 0), (10, 5), (5, 10), (0, 5))
    assert quad_iou(diamond, rect_quad(0, 0, 10, 10)) == pytest.approx(0.5)


def test_iou_takes_numpy_quads() -> None:
    """Detector output ([4, 2] float arrays) scores the same as tuples of points."""
    a = np.float32(rect_quad(0, 0, 10, 10))
    assert quad_iou(a, rect_quad(5, 0, 10, 10)) == pytest.approx(1 / 3)


def test_matching_is_one_to_one_and_prefers_the_higher_iou() -> None:
    """Two detections on one word: the better one wins it; the other stays unmatched."""
    gt = [rect_quad(0, 0, 100, 20)]
    det = [rect_quad(10, 0, 100, 20), rect_quad(1, 0, 100, 20)]
    (match,) = match_greedy(gt, det)
    assert match[:2] == (0, 1)
    assert match[2] == pytest.approx(99 / 101)


def test_matching_ignores_pairs_below_the_threshold() -> None:
    """A detection covering a third of a word is no match at IoU >= 0.5."""
    assert match_greedy([rect_quad(0, 0, 30, 10)], [rect_quad(0, 0, 10, 10)]) == []


def test_dont_care_is_fewer_than_three_protocol_characters() -> None:
    """Case and punctuation do not count towards the three characters."""
    assert is_dont_care("Al") and is_dont_care("A-1") and is_dont_care("'.'")
    assert not is_dont_care("Ab1") and not is_dont_care("X-RAY")


def test_a_missed_dont_care_word_is_not_a_miss() -> None:
    """Nothing detected on a frame of a short word: no misses, no detections."""
    counts = count_image([(rect_quad(0, 0, 20, 10), "IN")], [])
    assert counts == Counts(gt_cared=0, gt_dont_care=1)


def test_a_detection_on_a_dont_care_word_is_no_false_positive() -> None:
    """A detection matched to a don't-care word leaves the count; one elsewhere is a false hit."""
    gt = [(rect_quad(0, 0, 20, 10), "IN"), (rect_quad(50, 0, 60, 10), "EXIT")]
    det = [(rect_quad(0, 0, 20, 10), "in"), (rect_quad(200, 0, 40, 10), "junk")]
    counts = count_image(gt, det)
    assert counts == Counts(
        gt_cared=1, gt_dont_care=1, detections=1, detections_ignored=1, hits=0, read=0
    )
    assert scores(counts)["det_precision"] == 0.0
    assert scores(counts)["det_recall"] == 0.0


def test_e2e_counts_a_word_read_when_its_match_has_the_same_protocol_text() -> None:
    """Case and punctuation are forgiven; a wrong letter is a detection hit but not a read word."""
    gt = [(rect_quad(0, 0, 50, 10), "Exit"), (rect_quad(0, 20, 50, 10), "PUSH")]
    det = [(rect_quad(1, 0, 50, 10), "EXIT!"), (rect_quad(0, 21, 50, 10), "PUSN")]
    counts = count_image(gt, det)
    assert (counts.hits, counts.read, counts.detections, counts.gt_cared) == (2, 1, 2, 2)
    s = scores(counts)
    assert s["det_f1"] == pytest.approx(1.0)
    assert s["e2e_recall"] == pytest.approx(0.5)
    assert s["e2e_precision"] == pytest.approx(0.5)


def test_e2e_needs_the_box_too() -> None:
    """The right text in the wrong place reads nothing and is a false positive."""
    counts = count_image([(rect_quad(0, 0, 50, 10), "EXIT")], [(rect_quad(0, 40, 50, 10), "exit")])
    assert (counts.hits, counts.read, counts.detections, counts.gt_cared) == (0, 0, 1, 1)


def test_a_slanted_word_matches_its_upright_box_as_a_rectangle() -> None:
    """ICDAR 2003 boxes a slanted word upright: a tight slanted quad covers 3/8 of that box (no
    match), its bounding rectangle all of it (read) when the set is scored as rectangles."""
    gt = [(rect_quad(0, 0, 100, 40), "Essex")]
    det = [(((0, 25), (100, 0), (100, 15), (0, 40)), "ESSEX")]
    assert quad_iou(gt[0][0], det[0][0]) == pytest.approx(0.375)
    assert count_image(gt, det).read == 0
    assert count_image(gt, det, rectangles=True).read == 1


def test_detected_words_without_protocol_text_are_dropped() -> None:
    """A lone punctuation mark is no answer and no false positive."""
    counts = count_image([], [(rect_quad(0, 0, 5, 10), "-")])
    assert counts.detections == 0


def test_counts_add_up_over_frames() -> None:
    """A set's scores come from counts summed over its frames, not from averaged ratios."""
    total = Counts(gt_cared=1, detections=1, hits=1, read=1) + Counts(gt_cared=3, detections=1)
    assert scores(total)["e2e_recall"] == pytest.approx(0.25)
    assert scores(total)["det_precision"] == pytest.approx(0.5)
    assert scores(Counts())["e2e_f1"] == 0.0


def test_proportional_words_share_the_box_by_character_count() -> None:
    """'AB CDE' spread over 60 px: characters 10 px each, cut halfway through the space."""
    (q1, w1), (q2, w2) = proportional_words(rect_quad(0, 0, 60, 10), "AB CDE")
    assert (w1, w2) == ("AB", "CDE")
    assert q1[1][0] == pytest.approx(20.0)
    assert q2[0][0] == pytest.approx(20.0) and q2[1][0] == pytest.approx(60.0)


def _write_frame(folder: Path, name: str, words: list[tuple[str, tuple[int, int]]]) -> dict:
    """A light frame with dark printed words; their boxes measured from the ink."""
    image = np.full((240, 320, 3), 235, np.uint8)
    gt = []
    for text, (x, y) in words:
        cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 1.1, (20, 20, 20), 3)
        (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 1.1, 3)
        gt.append({"text": text, "quad": [list(p) for p in rect_quad(x, y - h, w, h + base)]})
    (folder / "images").mkdir(exist_ok=True)
    cv2.imwrite(str(folder / "images" / name), image)
    return {"image": f"images/{name}", "width": 320, "height": 240, "words": gt}


def test_letterboxed_frames_keep_their_shape_and_the_quads_follow(tmp_path: Path) -> None:
    """A 320x240 frame in a 160x160 box is halved; the quads are halved with it."""
    record = _write_frame(tmp_path, "0.png", [("EXIT", (20, 100))])
    (tmp_path / "annotations.jsonl").write_text(json.dumps(record) + "\n")
    (image,) = load_scene_set(SceneSet("t", str(tmp_path), size=(160, 160)))
    frame = load_frame(image, (160, 160))
    assert frame.shape == (160, 160, 3)
    assert (frame[120:, :] == 128).all()  # the border below the halved picture
    x, y = record["words"][0]["quad"][0]
    assert image.words[0][0][0] == pytest.approx((x / 2, y / 2))


def test_frames_with_too_many_lines_are_left_out(tmp_path: Path) -> None:
    """max_lines keeps frames by their 'lines' list, or by their words when there is none."""
    one = {"image": "a.png", "width": 10, "height": 10, "words": [], "lines": [{}] * 9}
    two = {
        "image": "b.png",
        "width": 10,
        "height": 10,
        "words": [{"text": "a", "quad": [[0, 0]] * 4}],
    }
    (tmp_path / "annotations.jsonl").write_text(json.dumps(one) + "\n" + json.dumps(two) + "\n")
    kept = load_scene_set(SceneSet("t", str(tmp_path), max_lines=8))
    assert [Path(i.path).name for i in kept] == ["b.png"]


def test_peer_ratios_and_targets_compare_with_rapidocr() -> None:
    """Ours at a tenth of the latency, 40% of the RSS and a better recall meets every target."""
    base = {"set": "ic03_scenes", "p95_ms": 1.0}
    results = [
        {**base, "system": "ours", "kind": "ours", "median_ms": 10.0, "peak_rss_mb": 80.0,
         "e2e_recall": 0.6},
        {**base, "system": "rapidocr", "kind": "rapidocr", "median_ms": 100.0,
         "peak_rss_mb": 200.0, "e2e_recall": 0.5},
        {**base, "set": "scenes_640", "system": "ours", "kind": "ours", "median_ms": 60.0,
         "peak_rss_mb": 80.0, "e2e_recall": 0.9},
    ]  # fmt: skip
    (ratio,) = compare_to_peer(results)
    assert ratio["latency_ratio"] == pytest.approx(0.1)
    assert ratio["rss_ratio"] == pytest.approx(0.4)
    verdicts = [t["met"] for t in check_targets(results)]
    assert verdicts == [True, True, True, False]  # the 640x480 frame takes 60 ms > 50 ms


def test_a_real_run_on_two_frames_writes_the_report(tmp_path: Path) -> None:
    """The classical detector and our recognizer read a two-frame folder end to end."""
    data = tmp_path / "data" / "ic03_scenes"
    data.mkdir(parents=True)
    records = [
        _write_frame(data, "0.png", [("EXIT", (40, 80)), ("4711", (40, 170))]),
        _write_frame(data, "1.png", [("PUSH", (60, 120))]),
    ]
    (data / "annotations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    out, out_json = tmp_path / "detection.md", tmp_path / "detection.json"
    argv = ["--systems", "ours-classical", "--sets", "ic03_scenes", "--data", str(data.parent)]
    argv += ["--out", str(out), "--json", str(out_json)]
    assert evaluate_det.main(argv) == 0
    report = json.loads(out_json.read_text())
    (result,) = report["results"]
    assert result["images"] == 2 and result["counts"]["gt_cared"] == 3
    assert result["e2e_recall"] > 0 and result["median_ms"] > 0  # printed words get read
    assert result["peak_rss_mb"] > 0 and result["model_mb"] > 0
    assert "| ours-classical |" in out.read_text()
    # ICDAR 2003's upright boxes: scored as rectangles, the systems' own quads kept beside
    assert {"det_recall", "e2e_recall"} <= set(result["as_quads"])
    assert "Compared as the systems' own quads" in out.read_text()


def test_ours_at_another_max_side_is_a_system_of_its_own() -> None:
    """`ours@N` runs our detector with max_side N beside plain `ours`, `ours-1pass` without
    the closer look at small text; other systems and impossible sizes take no @N."""
    det, rec = Path("det.onnx"), Path("rec.onnx")
    systems = plan_systems("ours,ours@640,ours-1pass@1280,ours-classical@960", det, rec)
    assert [(s.name, s.kind, s.max_side, s.zoom) for s in systems] == [
        ("ours", "ours", None, True),
        ("ours@640", "ours", 640, True),
        ("ours-1pass@1280", "ours", 1280, False),
        ("ours-classical@960", "ours-classical", 960, True),
    ]
    for bad in ("rapidocr@640", "ours@big", "ours@10"):
        with pytest.raises(ValueError, match="@N"):
            plan_systems(bad, det, rec)


def test_generated_sets_live_in_folders_of_their_names(tmp_path: Path) -> None:
    """scenes_test and scenes_far are folders of the generated dir; scenes_640 is scenes_test
    letterboxed into 640x480."""
    names = "scenes_test,scenes_640,scenes_far,scenes_val,scenes_near"
    sets = {s.name: s for s in plan_sets(names, tmp_path, tmp_path)}
    assert sets["scenes_far"].path == str(tmp_path / "scenes_far")
    assert sets["scenes_val"].path == str(tmp_path / "scenes_val")
    assert sets["scenes_near"].path == str(tmp_path / "scenes_near")
    assert sets["scenes_640"].path == sets["scenes_test"].path == str(tmp_path / "scenes_test")
    assert sets["scenes_640"].size == (640, 480) and sets["scenes_test"].size is None
    assert not any(s.rectangles for s in sets.values())  # generated truth: quads
    (real,) = plan_sets("ic03_scenes", tmp_path, tmp_path)
    assert real.rectangles  # ICDAR 2003 truth: upright rectangles
