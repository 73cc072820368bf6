"""Network slimming: the pruned CRNN is genuinely smaller and starts out computing its parent."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from scripts.crnn import CRNN, CrnnShape, count_params, macs  # noqa: E402
from scripts.prune import plan_channels, plan_hidden, prune  # noqa: E402


def _slimmed_model(zero_fraction: float) -> CRNN:
    """A CRNN whose BatchNorm scales look like the end of a sparsity phase."""
    torch.manual_seed(0)
    model = CRNN(CrnnShape(num_classes=20))
    with torch.no_grad():
        for _, bn in model.conv_bn_pairs():
            n = len(bn.weight)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
            bn.running_mean.uniform_(-0.1, 0.1)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight[torch.randperm(n)[: int(zero_fraction * n)]] = 0.0
    return model.eval()


def test_pruned_network_has_fewer_channels_parameters_and_macs() -> None:
    """Pruning to a 45% MAC target rebuilds a smaller network, not a masked one."""
    model = _slimmed_model(0.5)
    keep = plan_channels(model, target=0.45, min_keep=0.25)
    small = prune(model, keep, plan_hidden(model, model.shape.hidden))
    assert all(a <= b for a, b in zip(small.shape.channels, model.shape.channels, strict=True))
    assert sum(small.shape.channels) < sum(model.shape.channels)
    assert macs(small.shape) <= 0.55 * macs(model.shape)
    assert count_params(small) < 0.7 * count_params(model)


def test_removing_zero_scale_channels_keeps_the_output() -> None:
    """Channels whose scale is zero are removed with their constant folded into the next layer."""
    model = _slimmed_model(0.5)
    keep = plan_channels(model, target=0.45, min_keep=0.25)
    small = prune(model, keep, plan_hidden(model, model.shape.hidden)).eval()
    x = torch.randn(2, 1, 32, 96)
    with torch.no_grad():
        ref, out = model(x), small(x)
    assert out.shape == ref.shape
    assert (out - ref).abs().max() < 0.05 * ref.abs().max()


def test_every_layer_keeps_its_floor() -> None:
    """An aggressive target never empties a layer below --min-keep of its channels."""
    model = _slimmed_model(0.9)
    keep = plan_channels(model, target=0.95, min_keep=0.25)
    for kept, width in zip(keep, model.shape.channels, strict=True):
        assert len(kept) >= max(4, round(0.25 * width))


def test_hidden_units_can_be_pruned() -> None:
    """--hidden shrinks the LSTM and the classifier follows."""
    model = _slimmed_model(0.0)
    keep = [torch.arange(c) for c in model.shape.channels]
    small = prune(model, keep, plan_hidden(model, 48))
    assert small.shape.hidden == 48
    assert small(torch.randn(1, 1, 32, 64)).shape[-1] == 20


def test_widths_round_up_to_a_multiple_and_keep_the_strongest_channels() -> None:
    """With multiple=8 every layer keeps a multiple of 8 channels, its largest scales among them."""
    model = _slimmed_model(0.3)
    keep = plan_channels(model, target=0.4, min_keep=0.25, multiple=8)
    for k, (_, bn) in zip(keep, model.conv_bn_pairs(), strict=True):
        assert len(k) % 8 == 0 or len(k) == len(bn.weight)
        gammas = bn.weight.detach().abs()
        dropped = torch.ones(len(gammas), dtype=torch.bool)
        dropped[k] = False
        if dropped.any():
            assert gammas[k].min() >= gammas[dropped].max()
