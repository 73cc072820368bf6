"""Growing a CRNN (scripts/widen.py): the wider network starts out computing its parent."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from scripts import widen as widen_script  # noqa: E402
from scripts.crnn import CRNN, CrnnShape, count_params  # noqa: E402
from scripts.widen import widen  # noqa: E402

SMALL = CrnnShape(num_classes=20, channels=(8, 12, 12, 16, 16, 16, 24), hidden=16)
WIDE = ((12, 16, 20, 20, 24, 24, 40), 28)


def _trained_looking(shape: CrnnShape) -> CRNN:
    """A CRNN with BatchNorm parameters and statistics away from their defaults."""
    torch.manual_seed(0)
    model = CRNN(shape)
    with torch.no_grad():
        for _, bn in model.conv_bn_pairs():
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
            bn.running_mean.uniform_(-0.1, 0.1)
            bn.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_widened_network_reads_exactly_as_its_parent() -> None:
    """Without jitter, more channels and hidden units give the same logits on any line."""
    model = _trained_looking(SMALL)
    wide = widen(model, *WIDE, noise=0.0)
    assert wide.shape.channels == WIDE[0] and wide.shape.hidden == WIDE[1]
    assert count_params(wide) > 1.5 * count_params(model)
    x = torch.randn(3, 1, 32, 96)
    with torch.no_grad():
        torch.testing.assert_close(wide(x), model(x), atol=1e-4, rtol=1e-4)


def test_jitter_moves_the_copies_only_a_little() -> None:
    """With jitter the copies differ from their originals, and the output barely moves."""
    model = _trained_looking(SMALL)
    wide = widen(model, *WIDE, noise=0.01, seed=3)
    x = torch.randn(2, 1, 32, 64)
    with torch.no_grad():
        ref, out = model(x), wide(x)
    assert not torch.equal(out, ref)
    assert (out - ref).abs().max() < 0.05 * ref.abs().max()


def test_narrowing_is_refused_with_the_layer_sizes(tmp_path: Path) -> None:
    """Asking the CLI for fewer hidden units names the sizes instead of pruning silently."""
    ckpt = tmp_path / "small.pt"
    model = _trained_looking(SMALL)
    torch.save({"model": model.state_dict(), "shape": SMALL.to_dict(), "charset": "x"}, ckpt)
    args = ["--ckpt", str(ckpt), "--out", str(tmp_path / "w.pt"), "--hidden", "8"]
    with pytest.raises(SystemExit, match="cannot widen 16 units to 8"):
        widen_script.main([*args, "--channels", ",".join(map(str, SMALL.channels))])
    assert widen_script.main([*args[:-1], "28", "--channels", "12,16,20,20,24,24,40"]) == 0
    state = torch.load(tmp_path / "w.pt", weights_only=False)
    assert CrnnShape.from_dict(state["shape"]).hidden == 28
