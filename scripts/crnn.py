"""The CRNN line recognizer as a plain PyTorch module: a BatchNorm conv backbone, a BiLSTM, CTC.

The channel widths and the LSTM size are constructor arguments, so a pruned network is rebuilt
as a genuinely smaller instance of this same class (scripts/prune.py).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

# Backbone plan: (kernel, pool) per conv layer; pool (2, 2) halves height and width,
# (2, 1) halves height only. Input height 32 -> 1 after the last layer; width / 4.
LAYERS: tuple[tuple[tuple[int, int], tuple[int, int] | None], ...] = (
    ((3, 3), (2, 2)),  # 32 -> 16
    ((3, 3), (2, 2)),  # 16 -> 8
    ((3, 3), None),
    ((3, 3), (2, 1)),  # 8 -> 4
    ((3, 3), None),
    ((3, 3), (2, 1)),  # 4 -> 2
    ((2, 1), None),  # 2 -> 1 (valid conv over the last two rows)
)
DOWNSAMPLE = 4


@dataclass(frozen=True)
class CrnnShape:
    """Everything needed to rebuild the network; saved in every checkpoint."""

    num_classes: int
    channels: tuple[int, ...] = (32, 64, 96, 96, 128, 128, 192)
    hidden: int = 96

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> CrnnShape:
        return cls(d["num_classes"], tuple(d["channels"]), int(d["hidden"]))


class CRNN(nn.Module):
    def __init__(self, shape: CrnnShape) -> None:
        super().__init__()
        if len(shape.channels) != len(LAYERS):
            raise ValueError(f"expected {len(LAYERS)} channel widths, got {len(shape.channels)}")
        self.shape = shape
        layers: list[nn.Module] = []
        cin = 1
        for cout, (kernel, pool) in zip(shape.channels, LAYERS, strict=True):
            padding = (kernel[0] // 2, kernel[1] // 2) if kernel == (3, 3) else (0, 0)
            layers += [
                nn.Conv2d(cin, cout, kernel, padding=padding, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            ]
            if pool is not None:
                layers.append(nn.MaxPool2d(pool, pool))
            cin = cout
        self.backbone = nn.Sequential(*layers)
        self.rnn = nn.LSTM(cin, shape.hidden, bidirectional=True, batch_first=True)
        self.head = nn.Linear(2 * shape.hidden, shape.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [b, 1, 32, w]
        f = self.backbone(x)  # [b, c, 1, w/4]
        f = f.squeeze(2).transpose(1, 2)  # [b, t, c]
        f, _ = self.rnn(f)  # [b, t, 2h]
        return self.head(f)  # [b, t, classes] raw logits

    def conv_bn_pairs(self) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
        mods = list(self.backbone)
        return [
            (m, mods[i + 1])  # type: ignore[misc]
            for i, m in enumerate(mods)
            if isinstance(m, nn.Conv2d)
        ]


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def shape_params(shape: CrnnShape) -> int:
    """Parameters of a CRNN of this shape, without building it."""
    total, cin = 0, 1
    for cout, (kernel, _) in zip(shape.channels, LAYERS, strict=True):
        total += cin * cout * kernel[0] * kernel[1] + 2 * cout  # conv (no bias) + BatchNorm
        cin = cout
    h = shape.hidden
    total += 2 * (4 * h * (cin + h) + 8 * h)  # bidirectional LSTM with two biases
    return total + 2 * h * shape.num_classes + shape.num_classes


def macs(shape: CrnnShape, width: int = 128, height: int = 32) -> int:
    """Multiply-accumulates of one forward pass for a height x width line."""
    total = 0
    cin, h, w = 1, height, width
    for cout, (kernel, pool) in zip(shape.channels, LAYERS, strict=True):
        if kernel != (3, 3):
            h = h - kernel[0] + 1
            w = w - kernel[1] + 1
        total += h * w * cout * cin * kernel[0] * kernel[1]
        if pool is not None:
            h, w = h // pool[0], w // pool[1]
        cin = cout
    t, hid = w, shape.hidden
    total += 2 * t * 4 * hid * (cin + hid)  # bidirectional LSTM
    total += t * 2 * hid * shape.num_classes
    return total


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[CRNN, dict]:
    """The network of a checkpoint, in eval mode, and the checkpoint itself."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    model = CRNN(CrnnShape.from_dict(state["shape"]))
    model.load_state_dict(state["model"])
    model.eval()
    return model, state


def save_resized(out: str | os.PathLike[str], model: CRNN, charset: str, parent: str) -> None:
    """Write a pruned or widened network as a checkpoint `scripts.train --init` starts from."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        dict(
            model=model.state_dict(),
            shape=model.shape.to_dict(),
            charset=charset,
            parent=parent,
            step=0,
        ),
        out,
    )


def describe_resize(before: CRNN, after: CRNN) -> str:
    """Channels, hidden units, parameters and MACs (32x128) before -> after, with the change."""
    a, b = before.shape, after.shape
    pa, pb = count_params(before), count_params(after)
    ma, mb = macs(a) / 1e6, macs(b) / 1e6
    return (
        f"channels {a.channels} -> {b.channels}, hidden {a.hidden} -> {b.hidden}\n"
        f"parameters {pa} -> {pb} ({pb / pa - 1:+.1%})\n"
        f"MMAC (32x128) {ma:.1f} -> {mb:.1f} ({mb / ma - 1:+.1%})"
    )
