"""scripts.bench: the pieces that do not time anything (inputs, statistics, the report)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from scripts import bench


def test_spread_gives_median_extremes_and_percentiles() -> None:
    """spread() reports median, min, max, 5th and 95th percentile and the count."""
    s = bench.spread([float(x) for x in range(1, 101)])
    assert s["median"] == 50.5 and s["min"] == 1 and s["max"] == 100 and s["n"] == 100
    assert 5 < s["p5"] < 6 and 95 < s["p95"] < 96


def test_eight_field_rects_fit_inside_a_640x480_frame() -> None:
    """Every field rect lies inside the frame and no two overlap."""
    rects = bench.field_rects(8)
    for x, y, w, h in rects:
        assert x >= 0 and y >= 0 and x + w <= 640 and y + h <= 480
    for (_, y0, _, h0), (_, y1, _, _) in zip(rects, rects[1:], strict=False):
        assert y0 + h0 <= y1


def test_a_drawn_frame_has_dark_text_inside_each_field() -> None:
    """draw_frame pastes one line per field: each field's rect holds dark pixels."""
    rng = np.random.default_rng(0)
    line = np.full((40, 200), 255, np.uint8)
    line[10:30, 20:180] = 0
    frame = bench.draw_frame([line] * 4, rng, fields=4)
    assert frame.shape == (480, 640, 3)
    for x, y, w, h in bench.field_rects(4):
        assert (frame[y : y + h, x : x + w] < 40).sum() > 100
    x, y, w, h = bench.field_rects(8)[5]
    assert (frame[y : y + h, x : x + w] < 40).sum() == 0


def test_the_process_sampler_sees_this_process() -> None:
    """RssSampler reads VmRSS/VmHWM of a live process from /proc."""
    if not Path("/proc/self/status").exists():
        pytest.skip("no /proc")
    sampler = bench.RssSampler(os.getpid(), every=0.01)
    mb = sampler.sample()
    sampler.stop()
    assert mb > 1 and sampler.peak_mb >= mb * 0.5


def test_the_report_names_each_section_and_the_targets() -> None:
    """render() writes every measured section, the ratios and the Raspberry Pi section."""
    s = bench.spread([1.0, 2.0, 3.0])
    report = {
        "command": "python -m scripts.bench",
        "date": "today",
        "seconds": 60,
        "machine": {
            "cpu": "cpu", "cores": 2, "load_avg": [0, 0, 0], "python": "3", "onnxruntime": "1",
        },
        "model": "models/m.onnx",
        "model_mb": 1.0,
        "sizes": bench.Sizes().__dict__,
        "frame": {"1": {"edge-ocr": s, "tesseract-psm7": bench.spread([4.0, 5.0, 6.0])}},
        "soak": {
            "frames": 100, "fields": 4, "seconds": 10, "frames_s": 10, "baseline_mb": 100,
            "end_mb": 101, "growth_mb": 1, "peak_mb": 120, "series": [[0, 0, 100]],
        },
        "ops": {"edge-ocr": 50e6, "ppocrv4-rec": 500e6},
    }  # fmt: skip
    text = bench.render(report)
    assert "## Latency per 640×480 frame" in text and "2.5×" in text
    assert "## Soak" in text and "within the 5 MB target" in text
    assert "## On a Raspberry Pi" in text and "(10×)" in text
