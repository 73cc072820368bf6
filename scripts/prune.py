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
from pathlib import Path

import torch

from scripts.crnn import CRNN, CrnnShape, count_params, macs, shape_params


def plan_channels(
    model: CRNN, target: float, min_keep: float, multiple: int = 1
) -> list[torch.Tensor]:
    """Indices of the channels to keep in each conv layer.

    With `multiple` > 1 every layer keeps a multiple of that many channels (its strongest ones),
    rounded up: CPU kernels (oneDNN bf16 in training, int8 on ARM) run widths like 45 or 67
    markedly slower than 48 or 64.
    """
    pairs = model.conv_bn_pairs()
    gammas = [bn.weight.detach().abs() for _, bn in pairs]
    floors = [max(4, int(round(min_keep * len(g)))) for g in gammas]
    order = sorted(
        ((float(v), li, ci) for li, g in enumerate(gammas) for ci, v in enumerate(g.tolist())),
    )
    keep = [set(range(len(g))) for g in gammas]
    shape = model.shape
    base_macs, base_params = macs(shape), shape_params(shape)
    for _, li, ci in order:
        if len(keep[li]) <= floors[li]:
            continue
        keep[li].discard(ci)
        new = CrnnShape(shape.num_classes, tuple(len(k) for k in keep), shape.hidden)
        if min(1 - macs(new) / base_macs, 1 - shape_params(new) / base_params) >= target:
            break
    if multiple > 1:
        for li, g in enumerate(gammas):
            n = min(len(g), -(-len(keep[li]) // multiple) * multiple)
            keep[li] = set(torch.topk(g, n).indices.tolist())
    # Within a layer keep the strongest channels (the global order already did), in index order.
    return [torch.tensor(sorted(k), dtype=torch.long) for k in keep]


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
                removed = _removed(len(old_pairs[i - 1][1].weight), prev)
                const = _constant_out(old_pairs[i - 1][1], removed)
                shift = (oc.weight[k][:, removed].sum(dim=(2, 3)) * const).sum(dim=1)
                nb.running_mean.sub_(shift)
            prev = k
        # LSTM: input columns follow the last conv's kept channels; removed ones fold into bias.
        last_bn = old_pairs[-1][1]
        removed = _removed(len(last_bn.weight), prev)
        const = _constant_out(last_bn, removed)
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


def _removed(n: int, kept: torch.Tensor) -> torch.Tensor:
    mask = torch.ones(n, dtype=torch.bool)
    mask[kept] = False
    return torch.nonzero(mask).flatten()


def _constant_out(bn: torch.nn.BatchNorm2d, removed: torch.Tensor) -> torch.Tensor:
    """What a removed channel outputs when its scale is zero: relu(beta) (0 for none)."""
    return torch.relu(bn.bias[removed]).detach()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--ckpt", required=True)
    p.add_argument("--out", required=True)
    p.add_argument(
        "--target", type=float, default=0.45, help="fraction of MACs and of parameters to remove"
    )
    p.add_argument("--min-keep", type=float, default=0.25, help="least fraction kept per layer")
    p.add_argument("--hidden", type=int, default=0, help="LSTM hidden units to keep (0: all)")
    p.add_argument(
        "--multiple", type=int, default=8, help="round each layer's width up to a multiple of this"
    )
    args = p.parse_args(argv)

    state = torch.load(args.ckpt, map_location="cpu", weights_only=False)
    model = CRNN(CrnnShape.from_dict(state["shape"]))
    model.load_state_dict(state["model"])
    model.eval()
    keep = plan_channels(model, args.target, args.min_keep, args.multiple)
    h = args.hidden or model.shape.hidden
    hidden_keep = plan_hidden(model, h)
    new = prune(model, keep, hidden_keep)
    before, after = model.shape, new.shape
    print(f"channels {before.channels} -> {after.channels}, hidden {before.hidden} -> {h}")
    print(
        f"parameters {count_params(model)} -> {count_params(new)} "
        f"({1 - count_params(new) / count_params(model):.1%} fewer)"
    )
    print(
        f"MMAC (32x128) {macs(before) / 1e6:.1f} -> {macs(after) / 1e6:.1f} "
        f"({1 - macs(after) / macs(before):.1%} fewer)"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        dict(
            model=new.state_dict(),
            shape=after.to_dict(),
            charset=state["charset"],
            parent=str(args.ckpt),
            step=0,
        ),
        args.out,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
