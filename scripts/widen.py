"""Grow a trained CRNN into a wider one that starts out computing what it did (Net2WiderNet).

    python -m scripts.widen --ckpt models/latin_crnn.pt --out runs/wide/init.pt \
        --channels 32,64,96,96,128,128,192 --hidden 128

Every new conv channel or LSTM hidden unit is a copy of an existing one of its layer (the same
incoming weights, BatchNorm parameters and statistics), and whatever reads the copies reads each
with the original's outgoing weight divided by the number of copies, so the sum is unchanged
(Chen, Goodfellow and Shlens, 2016, "Net2Net: Accelerating Learning via Knowledge Transfer").
Copies would stay copies under training (same inputs, same gradients), so `--noise` scales
their incoming weights by 1 + noise x N(0, 1): the wider network starts a hair away from its
parent and its copies drift apart. It is the opposite of scripts/prune.py; train it on with
`python -m scripts.train --init OUT ...`.
"""

from __future__ import annotations

import argparse

import torch

from scripts.crnn import CRNN, CrnnShape, describe_resize, load_checkpoint, save_resized


def grow_map(old: int, new: int, generator: torch.Generator) -> torch.Tensor:
    """Which old unit each of `new` units copies: the old ones first, then random old ones."""
    if new < old:
        raise ValueError(f"cannot widen {old} units to {new}")
    extra = torch.randint(old, (new - old,), generator=generator)
    return torch.cat([torch.arange(old), extra])


def _share(mapping: torch.Tensor, old: int) -> torch.Tensor:
    """1 / (copies of its original) for each new unit: what a reader scales its weight by."""
    return 1.0 / torch.bincount(mapping, minlength=old)[mapping].float()


def _jitter(w: torch.Tensor, rows: torch.Tensor, noise: float, generator: torch.Generator) -> None:
    """Scale rows `rows` of `w` by 1 + noise x N(0, 1), elementwise, in place."""
    if noise and len(rows):
        w[rows] *= 1 + noise * torch.randn(w[rows].shape, generator=generator)


def widen(
    model: CRNN, channels: tuple[int, ...], hidden: int, noise: float = 0.0, seed: int = 0
) -> CRNN:
    """A CRNN with `channels` and `hidden` whose function is `model`'s (exactly, at noise 0)."""
    old = model.shape
    if len(channels) != len(old.channels):
        raise ValueError(f"expected {len(old.channels)} channel widths, got {len(channels)}")
    g = torch.Generator().manual_seed(seed)
    new = CRNN(CrnnShape(old.num_classes, tuple(channels), hidden))
    new.eval()
    with torch.no_grad():
        prev, prev_share = torch.tensor([0]), torch.ones(1)
        for (oc, ob), (nc, nb), width in zip(
            model.conv_bn_pairs(), new.conv_bn_pairs(), channels, strict=True
        ):
            m = grow_map(oc.out_channels, width, g)
            nc.weight.copy_(oc.weight[m][:, prev] * prev_share[None, :, None, None])
            _jitter(nc.weight, torch.arange(oc.out_channels, width), noise, g)
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(nb, name).copy_(getattr(ob, name)[m])
            prev, prev_share = m, _share(m, oc.out_channels)
        heads = []
        for suffix in ("", "_reverse"):
            m = grow_map(old.hidden, hidden, g)
            rows = torch.cat([m + gate * old.hidden for gate in range(4)])
            fresh = torch.cat(
                [torch.arange(old.hidden, hidden) + gate * hidden for gate in range(4)]
            )
            share = _share(m, old.hidden)
            for part, cols in (("weight_ih_l0", (prev, prev_share)), ("weight_hh_l0", (m, share))):
                w = getattr(model.rnn, part + suffix)[rows][:, cols[0]] * cols[1][None, :]
                getattr(new.rnn, part + suffix).copy_(w)
                _jitter(getattr(new.rnn, part + suffix), fresh, noise, g)
            for part in ("bias_ih_l0", "bias_hh_l0"):
                getattr(new.rnn, part + suffix).copy_(getattr(model.rnn, part + suffix)[rows])
            heads.append((m, share))
        cols = torch.cat([heads[0][0], heads[1][0] + old.hidden])
        new.head.weight.copy_(model.head.weight[:, cols] * torch.cat([heads[0][1], heads[1][1]]))
        new.head.bias.copy_(model.head.bias)
    return new


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--ckpt", required=True, help="a trained checkpoint (run last.pt or weights)")
    p.add_argument("--out", required=True, help="widened checkpoint, for the trainer's --init")
    p.add_argument("--channels", required=True, help="new conv widths, comma-separated")
    p.add_argument("--hidden", type=int, required=True, help="new LSTM hidden units")
    p.add_argument("--noise", type=float, default=0.01, help="relative jitter of the copies")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    model, state = load_checkpoint(args.ckpt)
    channels = tuple(int(c) for c in args.channels.split(","))
    try:
        new = widen(model, channels, args.hidden, args.noise, args.seed)
    except ValueError as e:
        raise SystemExit(f"{args.ckpt}: {e}") from None
    print(describe_resize(model, new))
    save_resized(args.out, new, state["charset"], str(args.ckpt))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
