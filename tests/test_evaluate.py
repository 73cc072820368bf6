"""Tests for scripts/evaluate.py: planning, latency summaries, ratios, report and one real run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_ocr.modelinfo import ModelInfo
from scripts import evaluate
from scripts.evaluate import (
    EvalSet,
    SystemSpec,
    expand_peers,
    model_specs,
    parse_readings,
    render_markdown,
    resolve_sets,
    speed_ratios,
    summarize_latency,
)

CHARSET = "0123456789abcdefghijklmnopqrstuvwxyz"


def test_summarize_latency_reports_milliseconds() -> None:
    """Seconds in, median / p95 / mean in milliseconds out."""
    stats = summarize_latency([i / 1000 for i in range(1, 101)])
    assert stats["median_ms"] == pytest.approx(50.5)
    assert stats["p95_ms"] == pytest.approx(95.05)
    assert stats["mean_ms"] == pytest.approx(50.5)


def test_summarize_latency_rejects_empty_input() -> None:
    """No timings is an error, not a zero latency."""
    with pytest.raises(ValueError):
        summarize_latency([])


def test_expand_peers_tesseract_means_word_and_line_modes() -> None:
    """'tesseract' stands for PSM 8 and PSM 7 in process; 'rapidocr' for PP-OCRv4 rec."""
    specs = expand_peers("tesseract,rapidocr", tesserocr_available=True)
    assert specs == [
        SystemSpec("tesseract-psm8", "tesseract", psm=8),
        SystemSpec("tesseract-psm7", "tesseract", psm=7),
        SystemSpec("ppocrv4-rec", "rapidocr"),
    ]


def test_expand_peers_falls_back_to_named_cli_without_tesserocr() -> None:
    """Without tesserocr the Tesseract systems run through the CLI and say so in their name."""
    specs = expand_peers("tesseract-psm8", tesserocr_available=False)
    assert specs == [SystemSpec("tesseract-cli-psm8", "tesseract-cli", psm=8)]


def test_expand_peers_none_and_empty_mean_no_peers() -> None:
    """'none' or an empty list measures only our models."""
    assert expand_peers("none", tesserocr_available=True) == []
    assert expand_peers("", tesserocr_available=True) == []


def test_expand_peers_drops_repeated_systems() -> None:
    """Overlapping names measure each system once."""
    specs = expand_peers("tesseract,tesseract-psm8", tesserocr_available=True)
    assert [s.name for s in specs] == ["tesseract-psm8", "tesseract-psm7"]


def test_expand_peers_rejects_unknown_name() -> None:
    """A typo names the choices instead of silently measuring less."""
    with pytest.raises(ValueError, match="choose from"):
        expand_peers("tesseract,paddle", tesserocr_available=True)


def test_model_specs_name_by_stem_unless_stems_collide(tmp_path: Path) -> None:
    """Models are named by file stem; two files with one stem keep their paths apart."""
    specs = model_specs(["models/a.onnx", "models/b.onnx", "runs/x/b.onnx"])
    assert [s.name for s in specs] == ["a", "models/b.onnx", "runs/x/b.onnx"]
    assert all(s.kind == "ours" and Path(s.model).is_absolute() for s in specs)


def test_each_way_of_reading_is_a_row_of_its_own(tmp_path: Path) -> None:
    """--views 1,3+lm reads each model once per item; only +lm rows use the language model."""
    lm = tmp_path / "lm.npz"
    specs = model_specs(["models/a.onnx"], parse_readings("1,3+lm"), str(lm))
    assert [(s.name, s.views, s.lm) for s in specs] == [("a x1", 1, ""), ("a x3+lm", 3, str(lm))]
    with pytest.raises(argparse.ArgumentTypeError, match="optionally"):
        parse_readings("3+lx")


def _labelled_folder(folder: Path, words: list[str]) -> Path:
    """A labels.tsv set of words drawn black on white, made at test time."""
    (folder / "images").mkdir(parents=True)
    rows = []
    for i, word in enumerate(words):
        image = np.full((32, 16 * len(word) + 16, 3), 255, np.uint8)
        cv2.putText(image, word, (6, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2)
        cv2.imwrite(str(folder / "images" / f"{i}.png"), image)
        rows.append(f"images/{i}.png\t{word}\n")
    (folder / "labels.tsv").write_text("".join(rows), encoding="utf-8")
    return folder


def test_resolve_sets_defaults_to_the_two_real_sets(tmp_path: Path) -> None:
    """With no --sets the real sets under --data run, plus synth when a synth dir is given."""
    for name in ("ic03_860", "iiit5k_train"):
        _labelled_folder(tmp_path / name, ["ab"])
    synth = _labelled_folder(tmp_path / "gen", ["cd"])
    assert [s.name for s in resolve_sets(None, [], tmp_path, None)] == ["ic03_860", "iiit5k_train"]
    sets = resolve_sets(None, [], tmp_path, synth)
    assert [s.name for s in sets] == ["ic03_860", "iiit5k_train", "synth"]
    assert sets[2].path == str(synth.resolve())


def test_resolve_sets_named_pairs_run_alone_by_default(tmp_path: Path) -> None:
    """--set name=path without --sets measures just those folders."""
    folder = _labelled_folder(tmp_path / "plates", ["ab"])
    assert resolve_sets(None, [f"plates={folder}"], tmp_path, None) == [
        EvalSet("plates", str(folder.resolve()))
    ]


def test_resolve_sets_synth_without_dir_is_an_error(tmp_path: Path) -> None:
    """Asking for the synth set without --synth-dir says what is missing."""
    with pytest.raises(ValueError, match="--synth-dir"):
        resolve_sets("synth", [], tmp_path, None)


def test_resolve_sets_rejects_folder_without_labels(tmp_path: Path) -> None:
    """A set folder must hold labels.tsv before any worker starts."""
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no labels.tsv"):
        resolve_sets("empty", [], tmp_path, None)


def test_resolve_sets_rejects_malformed_and_duplicate_pairs(tmp_path: Path) -> None:
    """--set needs name=path, and two sets cannot share a name."""
    folder = _labelled_folder(tmp_path / "a", ["ab"])
    with pytest.raises(ValueError, match="name=path"):
        resolve_sets(None, [str(folder)], tmp_path, None)
    with pytest.raises(ValueError, match="used twice"):
        resolve_sets(None, [f"x={folder}", f"x={folder}"], tmp_path, None)


def _result(system: str, kind: str, set_name: str, median_ms: float) -> dict:
    return {
        "system": system,
        "kind": kind,
        "set": set_name,
        "n": 10,
        "protocol_acc": 0.9,
        "exact_acc": 0.8,
        "cer": 0.05,
        "median_ms": median_ms,
        "p95_ms": 2 * median_ms,
        "mean_ms": median_ms,
        "peak_rss_mb": 80.0,
        "rss_after_load_mb": 70.0,
        "model_mb": 1.5,
        "description": f"{system} described",
        "failures": [],
    }


def test_speed_ratios_divide_peer_median_by_ours_per_set() -> None:
    """Each of ours against each peer on the same set; failed rows are left out."""
    results = [
        _result("crnn", "ours", "s1", 2.0),
        _result("crnn", "ours", "s2", 4.0),
        _result("tess", "tesseract", "s1", 6.0),
        _result("tess", "tesseract", "s2", 4.0),
        {"system": "pp", "kind": "rapidocr", "set": "s1", "error": "boom"},
    ]
    ratios = speed_ratios(results)
    assert [(r["set"], r["peer"], r["median_ratio"]) for r in ratios] == [
        ("s1", "tess", pytest.approx(3.0)),
        ("s2", "tess", pytest.approx(1.0)),
    ]


def test_render_markdown_has_table_ratios_and_failures() -> None:
    """The report shows a row per result, the ratio table, and failed rows as failed."""
    results = [
        _result("crnn", "ours", "s1", 2.0),
        _result("tess", "tesseract", "s1", 6.0),
        {"system": "pp", "kind": "rapidocr", "set": "s1", "error": "ImportError: no"},
    ]
    report = {
        "command": "python -m scripts.evaluate --limit 10",
        "date": "2024-01-01 00:00 UTC",
        "machine": {
            "cpu": "Test CPU",
            "cores": 2,
            "load_avg": [0.1, 0.2, 0.3],
            "nice": 0,
            "python": "3.11",
            "onnxruntime": "1.0",
        },
        "threads": 1,
        "warmup_calls": 3,
        "sets": {"s1": "/data/s1"},
        "results": results,
        "speed_ratios": speed_ratios(results),
    }
    text = render_markdown(report)
    assert "`python -m scripts.evaluate --limit 10`" in text
    assert "Test CPU, 2 cores" in text
    assert "| crnn | s1 | 10 | 90.0% | 80.0% | 0.050 | 2.0 | 4.0 | 80 | 70 | 1.5 |" in text
    assert "| crnn | tess | 3.00× |" in text
    assert "| pp | s1 | failed: ImportError: no |" in text
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| system"))
    separator = lines[lines.index(header) + 1]
    assert header.count("|") == separator.count("|")


def _tiny_model(path: Path) -> Path:
    """A random-weights ONNX model honouring the edge-ocr contract: [n,1,32,w] -> [n,w/4,C+1]."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    classes = len(CHARSET) + 1
    weight = numpy_helper.from_array(rng.normal(size=(1, classes)).astype(np.float32), "w")
    bias = numpy_helper.from_array(rng.normal(size=(classes,)).astype(np.float32), "b")
    axes = numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "axes")
    axis = numpy_helper.from_array(np.array([2], dtype=np.int64), "axis")
    nodes = [
        helper.make_node(
            "AveragePool", ["image"], ["pooled"], kernel_shape=[32, 4], strides=[32, 4]
        ),  # [n, 1, 1, w/4]
        helper.make_node("Squeeze", ["pooled", "axes"], ["columns"]),  # [n, w/4]
        helper.make_node("Unsqueeze", ["columns", "axis"], ["features"]),  # [n, w/4, 1]
        helper.make_node("MatMul", ["features", "w"], ["scores"]),  # [n, w/4, C+1]
        helper.make_node("Add", ["scores", "b"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 1, 32, "w"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", "t", classes])],
        initializer=[weight, bias, axes, axis],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    helper.set_model_props(model, ModelInfo(charset=CHARSET, name="tiny").to_metadata())
    onnx.save(model, str(path))
    return path


def test_evaluate_runs_our_model_in_a_worker_and_writes_reports(tmp_path: Path) -> None:
    """A full run spawns a worker, scores every line and writes Markdown and JSON."""
    model = _tiny_model(tmp_path / "tiny.onnx")
    folder = _labelled_folder(tmp_path / "words", ["ab1", "cd", "xyz"])
    out, out_json = tmp_path / "eval.md", tmp_path / "eval.json"
    rc = evaluate.main(
        [
            "--model",
            str(model),
            "--peers",
            "none",
            "--views",
            "3",  # its own charset: no language model
            "--set",
            f"words={folder}",
            "--out",
            str(out),
            "--json",
            str(out_json),
        ]
    )
    assert rc == 0
    report = json.loads(out_json.read_text())
    (result,) = report["results"]
    assert result["system"] == "tiny" and result["set"] == "words" and result["n"] == 3
    assert len(result["predictions"]) == 3
    assert 0.0 <= result["protocol_acc"] <= 1.0
    assert result["median_ms"] > 0 and result["p95_ms"] >= result["median_ms"]
    assert result["peak_rss_mb"] >= result["rss_after_load_mb"] > 0
    assert result["model_mb"] == pytest.approx(model.stat().st_size / 2**20)
    assert "| tiny | words | 3 |" in out.read_text()


def test_evaluate_reports_a_failed_worker_and_exits_nonzero(tmp_path: Path) -> None:
    """A system that cannot load becomes a failed row and a non-zero exit, not a crash."""
    bad_model = tmp_path / "bad.onnx"
    bad_model.write_bytes(b"not a model")
    folder = _labelled_folder(tmp_path / "words", ["ab"])
    out_json = tmp_path / "eval.json"
    rc = evaluate.main(
        [
            "--model",
            str(bad_model),
            "--peers",
            "none",
            "--set",
            f"words={folder}",
            "--json",
            str(out_json),
        ]
    )
    assert rc == 1
    (result,) = json.loads(out_json.read_text())["results"]
    assert "ModelError" in result["error"]
