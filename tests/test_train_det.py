"""Tests for scripts/train_det.py and scripts/export_det.py: targets, a smoke run, the export."""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from edge_ocr import detect  # noqa: E402
from scripts import export_det, train_det  # noqa: E402
from scripts.train_det import STRIDE, draw_targets, offset_quad, quad_size  # noqa: E402

TINY_SHAPE = "8:8:8:8:8:8:8"


@pytest.fixture(scope="module")
def fonts() -> str:
    """Two common fonts: quick to measure, enough to draw scenes."""
    found = sorted(glob.glob("/usr/share/fonts/truetype/dejavu/DejaVuSans*.ttf"))[:2]
    if not found:
        pytest.skip("no DejaVu fonts installed")
    return ",".join(found)


def test_offset_quad_moves_every_edge_by_the_distance() -> None:
    """Shrinking a 100x20 rectangle by 3 px gives the 94x14 rectangle inside it."""
    quad = np.float32([[10, 10], [110, 10], [110, 30], [10, 30]])
    np.testing.assert_allclose(
        offset_quad(quad, -3), [[13, 13], [107, 13], [107, 27], [13, 27]], atol=1e-4
    )


def test_kernel_grown_back_by_the_unclip_rule_is_the_line() -> None:
    """The kernel training draws, unclipped as the detector does, recovers the line's size."""
    for width, height in ((200.0, 20.0), (30.0, 30.0), (60.0, 12.0)):
        d = detect.shrink_distance(width, height, 1.5)
        kw, kh = width - 2 * d, height - 2 * d
        assert kh > 0.35 * height
        assert detect.unclip_distance(kw, kh, 1.5) == pytest.approx(d, rel=1e-6)


def test_targets_mark_kernels_and_ignore_tiny_lines() -> None:
    """A readable line becomes a kernel inside it; a 3-px line is neither text nor background."""
    line = np.float32([[40, 40], [240, 40], [240, 80], [40, 80]])
    tiny = np.float32([[40, 200], [140, 200], [140, 203], [40, 203]])
    target, weight = draw_targets([line, tiny], (320, 320), 1.5)
    assert target.shape == (320 // STRIDE, 320 // STRIDE)
    ys, xs = np.nonzero(target)
    assert xs.min() * STRIDE >= 40 and (xs.max() + 1) * STRIDE <= 240
    assert ys.min() * STRIDE >= 40 and (ys.max() + 1) * STRIDE <= 80
    width, height = quad_size(line)
    assert (ys.max() - ys.min() + 1) * STRIDE == pytest.approx(height * 0.4, abs=STRIDE + 1)
    assert weight[200 // STRIDE, 90 // STRIDE] == 0
    assert weight[150 // STRIDE, 150 // STRIDE] == 1


def test_smoke_training_resumes_and_exports_a_loadable_detector(tmp_path: Path, fonts: str) -> None:
    """A few steps of a tiny net write last.pt and the curve, resume, and export ONNX files
    the Detector loads with the settings the export wrote."""
    run = tmp_path / "run"
    common = ["--run", str(run), "--shape", TINY_SHAPE, "--batch", "2", "--crop", "128"]
    common += ["--workers", "0", "--threads", "1", "--val-count", "2", "--eval-every", "2"]
    common += ["--fonts", fonts, "--pool", "4", "--warmup", "1"]
    assert train_det.main([*common, "--steps", "2"]) == 0
    assert train_det.main([*common, "--steps", "4"]) == 0
    rows = (run / "curve.tsv").read_text().splitlines()
    assert rows[0].startswith("step\t") and [r.split("\t")[0] for r in rows[1:]] == ["2", "4"]
    assert (run / "best.pt").exists()

    out = tmp_path / "det"
    args = ["--ckpt", str(run / "last.pt"), "--out", str(out), "--version", "9.9"]
    args += ["--calib", "2", "--fonts", fonts, "--box-threshold", "0.55"]
    assert export_det.main(args) == 0
    for suffix in ("_fp32.onnx", "_int8.onnx"):
        detector = detect.Detector(tmp_path / f"det{suffix}", max_side=320)
        assert detector.info.version == "9.9"
        assert detector.info.box_threshold == 0.55
        assert detector.info.stride == STRIDE
        prob = detector.probability(np.zeros((256, 320, 3), np.uint8))
        assert prob.shape == (256 // STRIDE, 320 // STRIDE)
        assert isinstance(detector.detect(np.zeros((256, 320), np.uint8)), list)
