"""Network slimming of the text-line detector: remove the channels training drove to zero.

    python -m scripts.prune_det --ckpt runs/det-slim/last.pt --out runs/det-pruned/init.pt \\
        --target 0.4

The detector's counterpart of scripts/prune.py, and it shares that script's global ranking
(`plan_keep`) and folding. What differs is which channels must go together. A DetNet's channels
fall into groups, each removed as one:
- a block's pointwise output and the depthwise conv after it (a depthwise conv has exactly the
  channels of its input), and likewise the stem and the first depthwise conv;
- the four laterals and the smooth depthwise conv: the laterals' outputs are summed, so they
  share one channel set (the neck);
- the smooth pointwise output (the head), read by the final 1x1 conv.
A group's channel is ranked by the mean |BatchNorm scale| of the group's layers (train with
`scripts.train_det --sparsity` first). A removed channel's output is the constant relu(beta)
wherever its scale is zero; every 1x1 conv that read it gets that constant folded into its
BatchNorm mean (the final conv: into its bias). So when all of a removed channel's scales are
zero, the pruned network computes exactly what its parent did. The result is a genuinely smaller
DetNet (a smaller DetShape, not masks): fine-tune it with
`python -m scripts.train_det --init OUT ...`.
"""

from __future__ import annotations

import argparse
import io
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from scripts.detnet import DetNet, DetShape, count_params, macs, shape_params
from scripts.export_det import load_checkpoint
from scripts.prune import (
    add_plan_arguments,
    folded_shift,
    plan_keep,
    removed_channels,
    rounded_width,
)


@dataclass(frozen=True)
class Link:
    """One conv_bn layer of a DetNet: the channel group it writes, and whose output it reads."""

    layer: nn.Sequential  # conv, BatchNorm, ReLU
    group: int
    source: int | None  # index of the Link it reads (None: depthwise, or the image)


@dataclass(frozen=True)
class Wiring:
    links: list[Link]
    head: int  # index of the Link the final 1x1 conv reads
    groups: int  # 0: stem, then each block's pointwise output in order, then neck, head


def wiring(net: DetNet) -> Wiring:
    """The channel groups of a DetNet and how its layers read them (same for any DetShape)."""
    links: list[Link] = []

    def add(layer: nn.Module, group: int, source: int | None) -> int:
        assert isinstance(layer, nn.Sequential)
        links.append(Link(layer, group, source))
        return len(links) - 1

    prev = add(net.stem, 0, None)
    groups = 1
    stage_ends = []
    for stage in net.stages:
        for block in stage:
            depthwise = add(block[0], links[prev].group, None)
            prev = add(block[1], groups, depthwise)
            groups += 1
        stage_ends.append(prev)
    neck = groups
    for lateral, end in zip(net.laterals, stage_ends, strict=True):
        add(lateral, neck, end)
    depthwise = add(net.smooth[0], neck, None)
    head = add(net.smooth[1], neck + 1, depthwise)
    return Wiring(links, head, neck + 2)


def shape_for(shape: DetShape, widths: list[int]) -> DetShape:
    """The DetShape whose channel groups (numbered as in `wiring`) have these widths."""
    blocks = iter(widths[1:-2])
    stages = tuple(tuple(next(blocks) for _ in stage) for stage in shape.stages)
    return DetShape(widths[0], stages, widths[-2], widths[-1])


def group_scores(net: DetNet) -> list[torch.Tensor]:
    """Per group, each channel's mean |BatchNorm scale| over the layers that write it."""
    w = wiring(net)
    scores = []
    for g in range(w.groups):
        gammas = [link.layer[1].weight.detach().abs() for link in w.links if link.group == g]
        scores.append(torch.stack(gammas).mean(dim=0))
    return scores


def plan_channels(
    net: DetNet, target: float, min_keep: float, multiple: int = 1
) -> list[torch.Tensor]:
    """Indices of the channels to keep in each group, `target` fewer MACs and parameters.

    The cost is measured on the widths rounded up to `multiple`, so the rounded network still
    meets the target (the detector's widths are small: rounding 9 channels up to 16 matters).
    """
    scores = group_scores(net)
    full = [len(s) for s in scores]

    def cost(widths: list[int]) -> tuple[int, int]:
        rounded = [rounded_width(w, multiple, n) for w, n in zip(widths, full, strict=True)]
        new = shape_for(net.shape, rounded)
        return macs(new), shape_params(new)

    return plan_keep(scores, cost, target, min_keep, multiple)


def prune(net: DetNet, keep: list[torch.Tensor]) -> DetNet:
    """A smaller DetNet with the kept channels' weights; removed inputs folded in."""
    new = DetNet(shape_for(net.shape, [len(k) for k in keep])).eval()
    old_w, new_w = wiring(net), wiring(new)
    with torch.no_grad():
        for old, fresh in zip(old_w.links, new_w.links, strict=True):
            rows = keep[old.group]
            oc, ob = old.layer[0], old.layer[1]
            nc, nb = fresh.layer[0], fresh.layer[1]
            weight = oc.weight[rows]  # [out, in, kh, kw]; depthwise: in is 1
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(nb, name).copy_(getattr(ob, name)[rows])
            if old.source is None:
                nc.weight.copy_(weight)
                continue
            source = old_w.links[old.source]
            cols = keep[source.group]
            nc.weight.copy_(weight[:, cols])
            removed = removed_channels(len(source.layer[1].weight), cols)
            nb.running_mean.sub_(folded_shift(weight, removed, source.layer[1]))
        source = old_w.links[old_w.head]
        cols = keep[source.group]
        removed = removed_channels(len(source.layer[1].weight), cols)
        new.out.weight.copy_(net.out.weight[:, cols])
        new.out.bias.copy_(net.out.bias + folded_shift(net.out.weight, removed, source.layer[1]))
    return new


def weights_bytes(net: nn.Module) -> int:
    """Size of the network's state_dict as torch.save writes it."""
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    return buffer.tell()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_plan_arguments(p, target=0.4)
    args = p.parse_args(argv)

    net, state = load_checkpoint(args.ckpt)
    keep = plan_channels(net, args.target, args.min_keep, args.multiple)
    new = prune(net, keep)
    before, after = net.shape, new.shape
    print(f"shape  {before}\n    -> {after}")
    rows = [
        ("parameters", count_params(net), count_params(new), "{:,}"),
        ("MMAC 640x480", macs(before) / 1e6, macs(after) / 1e6, "{:.1f}"),
        ("weights MB", weights_bytes(net) / 1e6, weights_bytes(new) / 1e6, "{:.3f}"),
    ]
    print(f"{'':14} {'parent':>10} {'pruned':>10} {'change':>8}")
    for name, a, b, fmt in rows:
        print(f"{name:14} {fmt.format(a):>10} {fmt.format(b):>10} {b / a - 1:>+8.1%}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        dict(
            model=new.state_dict(),
            shape=after.to_dict(),
            step=0,
            unclip_ratio=state.get("unclip_ratio", 1.5),
            parent=str(args.ckpt),
        ),
        args.out,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
