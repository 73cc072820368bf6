"""Detector slimming: the pruned DetNet is genuinely smaller and starts out computing its parent."""

from __future__ import annotations

import copy
import functools
import glob
from collections.abc import Iterator
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from scripts import prune_det, train_det  # noqa: E402
from scripts.detnet import DetNet, DetShape, count_params, macs, shape_params  # noqa: E402
from scripts.prune import removed_channels  # noqa: E402

SHAPE = DetShape(16, ((16, 24), (32, 32), (48, 48), (64, 64)), 24, 16)


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Tiny nets: one thread (a second one only spins while another process holds the cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.cache
def _parent() -> DetNet:
    """A DetNet with random scales and shifts and BatchNorm statistics of its activations."""
    torch.manual_seed(0)
    net = DetNet(SHAPE)
    with torch.no_grad():
        for _, bn in net.conv_bn_pairs():
            bn.weight.uniform_(0.05, 1.5)
            bn.bias.uniform_(-0.3, 0.5)  # mostly positive: the folded constants are not zero
            bn.momentum = None  # running statistics: the plain mean over the passes below
        net.out.weight.uniform_(-1.0, 1.0)
        net.out.bias.uniform_(-0.5, 0.5)
        # Statistics of real activations, so the input still shows in the output.
        net.train()
        for _ in range(2):
            net(torch.randn(4, 1, 64, 64))
    return net.eval()


def _slimmed_net() -> DetNet:
    """A fresh copy of the parent network (tests change its scales)."""
    return copy.deepcopy(_parent())


def _zero_removed_scales(net: DetNet, keep: list[torch.Tensor]) -> None:
    """Set to zero every BatchNorm scale of the channels the plan removes."""
    with torch.no_grad():
        for link in prune_det.wiring(net).links:
            bn = link.layer[1]
            bn.weight[removed_channels(len(bn.weight), keep[link.group])] = 0.0


def test_shape_params_counts_what_the_network_holds() -> None:
    """The parameter count the planner uses is the built network's."""
    for shape in (DetShape(), SHAPE, DetShape(8, ((8, 16), (8,), (24, 8, 8), (16,)), 8, 16)):
        assert shape_params(shape) == count_params(DetNet(shape))


def test_pruned_network_has_the_planned_smaller_shape() -> None:
    """A 40% target rebuilds a smaller DetNet whose widths are the plan's, multiples of 8."""
    net = _slimmed_net()
    keep = prune_det.plan_channels(net, target=0.4, min_keep=0.25, multiple=8)
    small = prune_det.prune(net, keep)
    widths = [len(k) for k in keep]
    assert small.shape == prune_det.shape_for(SHAPE, widths)
    assert all(w % 8 == 0 for w in widths)
    assert count_params(small) <= 0.6 * count_params(net)
    assert macs(small.shape) <= 0.6 * macs(net.shape)
    assert small(torch.randn(1, 1, 64, 96)).shape == (1, 1, 32, 48)


def test_neck_is_one_channel_set_for_the_summed_laterals() -> None:
    """The four laterals and the smooth depthwise conv write the same group, pruned together."""
    net = _slimmed_net()
    wiring = prune_det.wiring(net)
    neck_layers = {id(m) for m in (*net.laterals, net.smooth[0])}
    neck = [link.group for link in wiring.links if id(link.layer) in neck_layers]
    assert len(neck) == 5 and len(set(neck)) == 1
    assert wiring.groups == 2 + sum(len(s) for s in SHAPE.stages) + 1


def test_removing_zero_scale_channels_keeps_the_output_exactly() -> None:
    """With the removed channels' scales at zero, the pruned net's logits are its parent's."""
    net = _slimmed_net()
    keep = prune_det.plan_channels(net, target=0.4, min_keep=0.25, multiple=8)
    _zero_removed_scales(net, keep)
    small = prune_det.prune(net, keep).eval()
    x = torch.randn(2, 1, 64, 96)
    with torch.no_grad():
        ref, out = net(x), small(x)
    assert (ref[0] - ref[1]).abs().max() > 0.5  # the logits depend on the input
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_copying_other_channels_would_change_the_output() -> None:
    """The exactness above is not vacuous: keeping other channels of one group breaks it."""
    net = _slimmed_net()
    keep = prune_det.plan_channels(net, target=0.4, min_keep=0.25, multiple=8)
    _zero_removed_scales(net, keep)
    group = next(g for g, k in enumerate(keep) if len(k) < 48 and len(k) >= 8)
    wrong = list(keep)
    n = len(prune_det.group_scores(net)[group])
    wrong[group] = torch.cat([keep[group][1:], removed_channels(n, keep[group])[:1]]).sort().values
    small = prune_det.prune(net, wrong).eval()
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        assert not torch.allclose(small(x), net(x), rtol=1e-3, atol=1e-3)


def test_pruned_checkpoint_fine_tunes_with_train_det_init(tmp_path: Path) -> None:
    """The checkpoint prune_det writes starts a train_det --init run (with --sparsity) at its
    smaller shape, and the curve logs the BatchNorm sparsity."""
    fonts = sorted(glob.glob("/usr/share/fonts/truetype/dejavu/DejaVuSans*.ttf"))[:1]
    if not fonts:
        pytest.skip("no DejaVu fonts installed")
    parent = tmp_path / "parent.pt"
    net = _slimmed_net()
    torch.save(dict(model=net.state_dict(), shape=SHAPE.to_dict(), step=5), parent)
    init = tmp_path / "pruned" / "init.pt"
    assert prune_det.main(["--ckpt", str(parent), "--out", str(init), "--target", "0.4"]) == 0
    pruned_shape = DetShape.from_dict(torch.load(init, weights_only=False)["shape"])
    assert shape_params(pruned_shape) < shape_params(SHAPE)

    run = tmp_path / "run"
    args = ["--run", str(run), "--init", str(init), "--steps", "1", "--batch", "1"]
    args += ["--crop", "64", "--workers", "0", "--threads", "1", "--val-count", "1"]
    args += ["--eval-every", "1", "--pool", "1", "--fresh", "1", "--fonts", fonts[0]]
    args += ["--sparsity", "0.5", "--warmup", "1"]
    assert train_det.main(args) == 0
    last = torch.load(run / "last.pt", weights_only=False)
    assert DetShape.from_dict(last["shape"]) == pruned_shape
    header, row = (run / "curve.tsv").read_text().splitlines()[:2]
    assert "bn_sparse" in header.split("\t")
    assert len(row.split("\t")) == len(header.split("\t"))
