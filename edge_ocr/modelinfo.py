"""What a recognition model says about itself, stored as ONNX metadata.

scripts/export.py writes these keys; the daemon reads and checks them at start-up, so a model
file alone is enough to run it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from edge_ocr.errors import ModelError

FORMAT = "edge-ocr-ctc-1"
PREFIX = "edge_ocr."

# The views of a line a Recognizer can read before it keeps the most confident reading
# (edge_ocr/recognizer.py draws them), here so the CLI and the config know them without
# importing the model stack.
VIEW_NAMES = ("plain", "margin", "wide")
DEFAULT_VIEWS = len(VIEW_NAMES)


@dataclass(frozen=True)
class ModelInfo:
    """How to feed a CTC line recognizer and read its output.

    Input: float32 [n, 1, height, width], grayscale, (x/255 - mean) / std, each line resized to
    `height` keeping its aspect (between min_width and max_width), padded right to a multiple of
    `width_multiple`. Output: logits [n, t, len(charset) + 1], class 0 the blank, with
    t = width // downsample.
    """

    charset: str
    height: int = 32
    min_width: int = 16
    max_width: int = 512
    width_multiple: int = 8
    downsample: int = 4
    mean: float = 0.5
    std: float = 0.5
    name: str = "crnn"
    version: str = "0"
    provenance: str = ""

    def to_metadata(self) -> dict[str, str]:
        """The ONNX metadata_props that describe this model."""
        return {
            PREFIX + "format": FORMAT,
            PREFIX + "charset": json.dumps(list(self.charset), ensure_ascii=False),
            PREFIX + "height": str(self.height),
            PREFIX + "min_width": str(self.min_width),
            PREFIX + "max_width": str(self.max_width),
            PREFIX + "width_multiple": str(self.width_multiple),
            PREFIX + "downsample": str(self.downsample),
            PREFIX + "normalization": json.dumps({"mean": self.mean, "std": self.std}),
            PREFIX + "name": self.name,
            PREFIX + "version": self.version,
            PREFIX + "provenance": self.provenance,
        }

    @classmethod
    def from_metadata(cls, meta: dict[str, str], source: str = "model") -> ModelInfo:
        """Parse metadata_props; a ModelError names the missing or malformed key."""
        fmt = meta.get(PREFIX + "format")
        if fmt != FORMAT:
            raise ModelError(
                f"{source}: not an edge-ocr recognition model "
                f"(metadata {PREFIX}format is {fmt!r}, expected {FORMAT!r})"
            )
        try:
            charset = "".join(json.loads(meta[PREFIX + "charset"]))
            norm = json.loads(meta[PREFIX + "normalization"])
            return cls(
                charset=charset,
                height=int(meta[PREFIX + "height"]),
                min_width=int(meta[PREFIX + "min_width"]),
                max_width=int(meta[PREFIX + "max_width"]),
                width_multiple=int(meta[PREFIX + "width_multiple"]),
                downsample=int(meta[PREFIX + "downsample"]),
                mean=float(norm["mean"]),
                std=float(norm["std"]),
                name=meta.get(PREFIX + "name", "crnn"),
                version=meta.get(PREFIX + "version", "0"),
                provenance=meta.get(PREFIX + "provenance", ""),
            )
        except KeyError as err:
            raise ModelError(f"{source}: metadata key {err.args[0]!r} is missing") from err
        except (ValueError, TypeError) as err:
            raise ModelError(f"{source}: malformed metadata: {err}") from err
