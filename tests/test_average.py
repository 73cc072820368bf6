"""Tests for scripts/average.py: the mean of snapshots' weights, as a checkpoint export takes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from scripts import average
from scripts.crnn import CRNN, CrnnShape, load_checkpoint

CHARSET = "0123456789AB"


def _snapshot(path: Path, seed: int, shape: CrnnShape) -> CRNN:
    torch.manual_seed(seed)
    model = CRNN(shape)
    for m in model.modules():  # running statistics that differ between the snapshots
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    torch.save({"model": model.state_dict(), "shape": shape.to_dict(), "charset": CHARSET}, path)
    return model


def test_the_average_is_the_mean_of_the_snapshots_and_loads_for_export(tmp_path: Path) -> None:
    """Every weight and running statistic is the mean of the two snapshots'; the checkpoint
    loads as a network of the same shape, whose outputs differ from both snapshots'."""
    shape = CrnnShape(len(CHARSET) + 1, (8, 8, 8, 8, 8, 8, 16), 16)
    a = _snapshot(tmp_path / "a.pt", 1, shape)
    b = _snapshot(tmp_path / "b.pt", 2, shape)
    out = tmp_path / "avg.pt"
    assert average.main([str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), "--out", str(out)]) == 0
    model, state = load_checkpoint(out)
    assert state["charset"] == CHARSET
    sa, sb, sm = a.state_dict(), b.state_dict(), model.state_dict()
    for key, value in sm.items():
        if value.is_floating_point():
            torch.testing.assert_close(value, (sa[key] + sb[key]) / 2)
    x = torch.rand(1, 1, 32, 64)
    with torch.no_grad():
        outputs = [m.eval()(x) for m in (a, b, model)]
    assert not torch.allclose(outputs[2], outputs[0]) and not torch.allclose(outputs[2], outputs[1])


def test_snapshots_of_different_shapes_are_refused(tmp_path: Path) -> None:
    """Pruned and unpruned networks cannot be averaged: the script says so and writes nothing."""
    _snapshot(tmp_path / "a.pt", 1, CrnnShape(len(CHARSET) + 1, (8, 8, 8, 8, 8, 8, 16), 16))
    _snapshot(tmp_path / "b.pt", 2, CrnnShape(len(CHARSET) + 1, (8, 8, 8, 8, 8, 8, 8), 16))
    out = tmp_path / "avg.pt"
    with pytest.raises(SystemExit, match="shape"):
        average.main([str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), "--out", str(out)])
    assert not out.exists()
