"""The text-line detector as a plain PyTorch module: a DB-style segmentation network.

A depthwise-separable backbone (1/2 .. 1/32), a light feature pyramid summed top-down to 1/4,
and a head that predicts, per pixel of a 1/2-resolution map, whether it lies on the shrunk
kernel of a text line. Every convolution is followed by BatchNorm (network slimming can rank
its channels). All widths are in `DetShape`, saved in every checkpoint, so a pruned network is
rebuilt as a smaller instance of this same class.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

STRIDE = 2  # output map: 1/2 of the input


@dataclass(frozen=True)
class DetShape:
    """Everything needed to rebuild the network; saved in every checkpoint.

    `stages[i]` lists the output widths of stage i's blocks (the first block halves the size);
    stages run at 1/4, 1/8, 1/16 and 1/32 of the input.
    """

    stem: int = 16
    stages: tuple[tuple[int, ...], ...] = ((24, 24), (48, 48), (96, 96, 96), (128, 128))
    neck: int = 32
    head: int = 32

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DetShape:
        return cls(
            int(d["stem"]),
            tuple(tuple(int(c) for c in s) for s in d["stages"]),
            int(d["neck"]),
            int(d["head"]),
        )


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class SepConv(nn.Sequential):
    """Depthwise 3x3 (maybe strided) then pointwise 1x1, each with BatchNorm and ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__(conv_bn(cin, cin, 3, stride, groups=cin), conv_bn(cin, cout, 1))


class DetNet(nn.Module):
    def __init__(self, shape: DetShape) -> None:
        super().__init__()
        if len(shape.stages) != 4:
            raise ValueError(f"expected 4 stages, got {len(shape.stages)}")
        self.shape = shape
        self.stem = conv_bn(1, shape.stem, 3, 2)
        stages = []
        cin = shape.stem
        for widths in shape.stages:
            blocks = []
            for i, cout in enumerate(widths):
                blocks.append(SepConv(cin, cout, 2 if i == 0 else 1))
                cin = cout
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.laterals = nn.ModuleList(conv_bn(s[-1], shape.neck, 1) for s in shape.stages)
        self.smooth = SepConv(shape.neck, shape.head)
        # STRIDE * STRIDE sub-pixels per 1/4 cell, rearranged by pixel_shuffle to a 1/2 map.
        self.out = nn.Conv2d(shape.head, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [b, 1, h, w], h and w multiples of 32
        f = self.stem(x)  # [b, stem, h/2, w/2]
        features = []
        for stage in self.stages:
            f = stage(f)
            features.append(f)  # [b, c_i, h/4 .. h/32, ...]
        p = self.laterals[3](features[3])  # [b, neck, h/32, w/32]
        for i in (2, 1, 0):
            p = self.laterals[i](features[i]) + F.interpolate(p, scale_factor=2.0, mode="nearest")
        p = self.smooth(p)  # [b, head, h/4, w/4]
        return F.pixel_shuffle(self.out(p), 2)  # [b, 1, h/2, w/2] logits

    def conv_bn_pairs(self) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
        pairs = []
        for m in self.modules():
            if isinstance(m, nn.Sequential) and len(m) == 3 and isinstance(m[1], nn.BatchNorm2d):
                pairs.append((m[0], m[1]))
        return pairs


class Probability(nn.Module):
    """The exported graph: the kernel probability instead of logits."""

    def __init__(self, net: DetNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x))  # [b, 1, h/2, w/2]


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def shape_params(shape: DetShape) -> int:
    """Parameters of `DetNet(shape)` without building it (conv weights, BN scale and shift)."""

    def conv_bn_params(cin: int, cout: int, kernel: int, groups: int = 1) -> int:
        return cout * (cin // groups) * kernel * kernel + 2 * cout

    total = conv_bn_params(1, shape.stem, 3)
    cin = shape.stem
    for widths in shape.stages:
        for cout in widths:
            total += conv_bn_params(cin, cin, 3, cin) + conv_bn_params(cin, cout, 1)
            cin = cout
        total += conv_bn_params(cin, shape.neck, 1)
    total += conv_bn_params(shape.neck, shape.neck, 3, shape.neck)
    total += conv_bn_params(shape.neck, shape.head, 1)
    return total + shape.head * 4 + 4


def macs(shape: DetShape, width: int = 640, height: int = 480) -> int:
    """Multiply-accumulates of one forward pass on a height x width input."""
    total = 0
    h, w = height // 2, width // 2
    total += h * w * 9 * shape.stem
    cin = shape.stem
    sizes = []
    for widths in shape.stages:
        for i, cout in enumerate(widths):
            if i == 0:
                h, w = h // 2, w // 2
            total += h * w * (9 * cin + cin * cout)
            cin = cout
        sizes.append((h, w, cin))
    for h, w, c in sizes:
        total += h * w * c * shape.neck
    h, w, _ = sizes[0]
    total += h * w * (9 * shape.neck + shape.neck * shape.head + shape.head * 4)
    return total
