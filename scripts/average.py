"""Average the weights of training snapshots of one network (stochastic weight averaging).

    python -m scripts.average --out runs/swa/avg.pt runs/r14/last.pt runs/r15/last.pt

Each recognizer training cycle is a warm restart from the last one's weights, so the ends of
consecutive cycles lie in one basin of the loss; the mean of their weights is a network of the
same shape that often generalizes better than any of them (Izmailov et al., 2018, "Averaging
Weights Leads to Wider Optima"). Averaging their outputs instead does not work for CTC: two
networks put a character's peak on neighbouring frames, and the mean of two half-peaks decodes
as blanks. BatchNorm's running statistics are averaged too; `--bn-batches N` re-estimates them
on N batches of generated lines instead. The result is a checkpoint `scripts.export` and
`scripts.train --init` take.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence
from pathlib import Path

import torch

from scripts.crnn import CRNN, DOWNSAMPLE, CrnnShape


def average_states(states: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of state dicts of one shape; integer entries (BatchNorm's batch
    counters) are taken from the first."""
    if not states:
        raise ValueError("nothing to average")
    keys = list(states[0])
    for state in states[1:]:
        if list(state) != keys or any(state[k].shape != states[0][k].shape for k in keys):
            raise ValueError("the snapshots are not of one network shape")
    return {
        k: (
            torch.stack([s[k] for s in states]).mean(dim=0)
            if states[0][k].is_floating_point()
            else states[0][k].clone()
        )
        for k in keys
    }


def reestimate_batchnorm(model: CRNN, batches: int, charset: str, seed: int) -> None:
    """Replace the BatchNorm running statistics by their mean over `batches` generated batches."""
    from edge_ocr.modelinfo import ModelInfo
    from scripts.train import SynthBatches

    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative mean over every batch seen
    info = ModelInfo(charset=charset, downsample=DOWNSAMPLE)
    data = SynthBatches(charset, info, 64, seed, "mixed")
    model.train()
    with torch.no_grad():
        for images, *_ in itertools.islice(iter(data), batches):
            model(images)
    model.eval()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("ckpt", nargs="+", help="snapshots of one network (run last.pt or .pt weights)")
    p.add_argument("--out", required=True, help="checkpoint to write")
    p.add_argument("--bn-batches", type=int, default=0, help="re-estimate BatchNorm statistics")
    p.add_argument("--seed", type=int, default=4242, help="generator seed for --bn-batches")
    args = p.parse_args(argv)

    snapshots = [torch.load(c, map_location="cpu", weights_only=False) for c in args.ckpt]
    shapes = {str(s["shape"]) for s in snapshots}
    charsets = {s["charset"] for s in snapshots}
    if len(shapes) != 1 or len(charsets) != 1:
        raise SystemExit("the snapshots differ in network shape or charset")
    shape = CrnnShape.from_dict(snapshots[0]["shape"])
    model = CRNN(shape)
    model.load_state_dict(average_states([s["model"] for s in snapshots]))
    if args.bn_batches:
        torch.set_num_threads(1)
        reestimate_batchnorm(model, args.bn_batches, snapshots[0]["charset"], args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "model": model.state_dict(),
            "shape": snapshots[0]["shape"],
            "charset": snapshots[0]["charset"],
            "step": 0,
            "source": [str(c) for c in args.ckpt],
        },
        out,
    )
    print(f"{out}: mean of {len(snapshots)} snapshots")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
