"""Network slimming: remove the channels whose BatchNorm scale training drove to zero.

    python -m scripts.prune --ckpt runs/latin/last.pt --out runs/latin-pruned/init.pt --target 0.45

Channels are ranked globally by |BatchNorm scale| and removed, lowest first, until the network
has `--target` fewer multiply-accumulates (32x128 line) and `--target` fewer parameters; each
layer keeps at least `--min-keep` of its channels. LSTM hidden units can be removed too
(`--hidden`), ranked by the weight the classifier gives them. The result is a genuinely smaller
CRNN (fewer channels, not masks): fine-tune it with `python -m scripts.train --init OUT ...`.
A removed channel's output is the constant relu(beta); it is folded into the next layer's
BatchNorm mean (or the LSTM bias), so the pruned network starts out computing nearly what its
parent did.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

import torch

from scripts.crnn import (
    CRNN,
    CrnnShape,
    describe_resize,
    load_checkpoint,
    macs,
    save_resized,
    shape_params,
)


def plan_keep(
    scores: Sequence[torch.Tensor],
    cost: Callable[[list[int]], tuple[int, int]],
    target: float,
    min_keep: float,
    multiple: int = 1,
) -> list[torch.Tensor]:
    """Indices of the channels to keep in each channel group, for any network.

    `scores[g]` ranks group g's channels (|BatchNorm scale|); `cost(widths)` gives the
    (MACs, parameters) of the network with those group widths. Channels are removed globally,
    lowest score first, until both costs are `target` below the full network's; each group
    keeps at least `min_keep` of its channels (and 4). With `multiple` > 1 every group keeps a
    multiple of that many channels (its strongest ones), rounded up: CPU kernels (oneDNN bf16
    in training, int8 on ARM) run widths like 45 or 67 markedly slower than 48 or 64.
    """
    floors = [max(4, int(round(min_keep * len(g)))) for g in scores]
    order = sorted(
        ((float(v), gi, ci) for gi, g in enumerate(scores) for ci, v in enumerate(g.tolist())),
    )
    keep = [set(range(len(g))) for g in scores]
    base = cost([len(g) for g in scores])
    for _, gi, ci in order:
        if len(keep[gi]) <= floors[gi]:
            continue
        keep[gi].discard(ci)
        now = cost([len(k) for k in keep])
        if min(1 - n / b for n, b in zip(now, base, strict=True)) >= target:
            break
    if multiple > 1:
        for gi, g in enumerate(scores):
            n = rounded_width(len(keep[gi]), multiple, len(g))
            keep[gi] = set(torch.topk(g, n).indices.tolist())
    # Within a group keep the strongest channels (the global order already did), in index order.
    return [torch.tensor(sorted(k), dtype=torch.long) for k in keep]


def rounded_width(width: int, multiple: int, full: int) -> int:
    """`width` rounded up to a multiple of `multiple`, at most the layer's `full` width."""
    return min(full, -(-width // multiple) * multiple)


def plan_channels(
    model: CRNN, target: float, min_keep: float, multiple: int = 1
) -> list[torch.Tensor]:
    """Indices of the channels to keep in each conv layer (see `plan_keep`)."""
    shape = model.shape

    def cost(widths: list[int]) -> tuple[int, int]:
        new = CrnnShape(shape.num_classes, tuple(widths), shape.hidden)
        return macs(new), shape_params(new)

    gammas = [bn.weight.detach().abs() for _, bn in model.conv_bn_pairs()]
    return plan_keep(gammas, cost, target, min_keep, multiple)


def plan_hidden(model: CRNN, keep_hidden: int) -> list[torch.Tensor]:
    """Per LSTM direction, the hidden units with the largest classifier weights."""
    h = model.shape.hidden
    w = model.head.weight.detach()  # [classes, 2h]
    return [
        torch.sort(torch.topk(w[:, d * h : (d + 1) * h].norm(dim=0), keep_hidden).indices).values
        for d in range(2)
    ]


def prune(model: CRNN, keep: list[torch.Tensor], hidden_keep: list[torch.Tensor]) -> CRNN:
    old = model.shape
    new_shape = CrnnShape(old.num_classes, tuple(len(k) for k in keep), len(hidden_keep[0]))
    new = CRNN(new_shape)
    new.eval()
    old_pairs, new_pairs = model.conv_bn_pairs(), new.conv_bn_pairs()
    prev = torch.tensor([0])
    with torch.no_grad():
        for i, ((oc, ob), (nc, nb)) in enumerate(zip(old_pairs, new_pairs, strict=True)):
            k = keep[i]
            nc.weight.copy_(oc.weight[k][:, prev])
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(nb, name).copy_(getattr(ob, name)[k])
            # Fold the removed input channels of this layer (constant relu(beta) after a zero
            # scale) into this layer's BatchNorm mean.
            if i > 0:
                removed = removed_channels(len(old_pairs[i - 1][1].weight), prev)
                nb.running_mean.sub_(folded_shift(oc.weight[k], removed, old_pairs[i - 1][1]))
            prev = k
        # LSTM: input columns follow the last conv's kept channels; removed ones fold into bias.
        last_bn = old_pairs[-1][1]
        removed = removed_channels(len(last_bn.weight), prev)
        const = constant_out(last_bn, removed)
        h_old, h_new = old.hidden, new_shape.hidden
        for d, suffix in enumerate(("", "_reverse")):
            units = hidden_keep[d]
            rows = torch.cat([units + g * h_old for g in range(4)])
            w_ih = getattr(model.rnn, "weight_ih_l0" + suffix)
            w_hh = getattr(model.rnn, "weight_hh_l0" + suffix)
            b_ih = getattr(model.rnn, "bias_ih_l0" + suffix)
            b_hh = getattr(model.rnn, "bias_hh_l0" + suffix)
            getattr(new.rnn, "weight_ih_l0" + suffix).copy_(w_ih[rows][:, prev])
            getattr(new.rnn, "weight_hh_l0" + suffix).copy_(w_hh[rows][:, units])
            getattr(new.rnn, "bias_ih_l0" + suffix).copy_(
                b_ih[rows] + (w_ih[rows][:, removed] * const).sum(dim=1)
            )
            getattr(new.rnn, "bias_hh_l0" + suffix).copy_(b_hh[rows])
        cols = torch.cat([hidden_keep[0], hidden_keep[1] + h_old])
        new.head.weight.copy_(model.head.weight[:, cols])
        new.head.bias.copy_(model.head.bias)
    assert h_new == len(hidden_keep[1])
    return new


def removed_channels(n: int, kept: torch.Tensor) -> torch.Tensor:
    mask = torch.ones(n, dtype=torch.bool)
    mask[kept] = False
    return torch.nonzero(mask).flatten()


def constant_out(bn: torch.nn.BatchNorm2d, removed: torch.Tensor) -> torch.Tensor:
    """What a removed channel outputs when its scale is zero: relu(beta) (0 for none)."""
    return torch.relu(bn.bias[removed]).detach()


def folded_shift(
    weight: torch.Tensor, removed: torch.Tensor, source: torch.nn.BatchNorm2d
) -> torch.Tensor:
    """What removed input channels, each the constant `constant_out` of the BatchNorm `source`,
    add to every output channel of a conv with `weight` [out, in, kh, kw].

    The kernel is summed: exact for a 1x1 conv, away from the zero-padded border for larger ones.
    """
    return (weight[:, removed].sum(dim=(2, 3)) * constant_out(source, removed)).sum(dim=1)


def add_plan_arguments(p: argparse.ArgumentParser, target: float) -> None:
    """The options every pruning CLI shares: checkpoint in and out, target, floor, rounding."""
    p.add_argument("--ckpt", required=True, help="a checkpoint trained with --sparsity")
    p.add_argument("--out", required=True, help="pruned checkpoint, for the trainer's --init")
    p.add_argument(
        "--target", type=float, default=target, help="fraction of MACs and of parameters to remove"
    )
    p.add_argument("--min-keep", type=float, default=0.25, help="least fraction kept per layer")
    p.add_argument(
        "--multiple", type=int, default=8, help="round each layer's width up to a multiple of this"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_plan_arguments(p, target=0.45)
    p.add_argument("--hidden", type=int, default=0, help="LSTM hidden units to keep (0: all)")
    args = p.parse_args(argv)

    model, state = load_checkpoint(args.ckpt)
    keep = plan_channels(model, args.target, args.min_keep, args.multiple)
    hidden_keep = plan_hidden(model, args.hidden or model.shape.hidden)
    new = prune(model, keep, hidden_keep)
    print(describe_resize(model, new))
    save_resized(args.out, new, state["charset"], str(args.ckpt))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
