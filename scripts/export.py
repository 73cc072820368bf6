"""Export a trained CRNN checkpoint to ONNX (FP32) and quantize it to INT8 with onnxruntime.

    python -m scripts.export --ckpt runs/latin/best.pt --out models/latin_crnn --version 1.0

writes OUT_fp32.onnx and OUT_int8.onnx. Both carry the model's metadata (charset, input height,
normalization, version, provenance: edge_ocr/modelinfo.py), so the daemon needs nothing else.
INT8: the convolutions and the classifier are quantized statically (QDQ, per-channel weights,
activations calibrated on generated lines); the LSTM is quantized dynamically (int8 weights,
activations quantized per call), because a static QDQ LSTM is not supported by onnxruntime.
Weights use 7 of the 8 bits (`reduce_range`): x86 CPUs without VNNI multiply uint8 activations by
int8 weights in pairs summed into int16, which saturates with full-range weights (see
`WEIGHT_RANGE`).
`--int8 static` leaves the LSTM in float, `--int8 dynamic` quantizes every op dynamically:
compare them with scripts/evaluate.py.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from edge_ocr import preprocess
from edge_ocr.modelinfo import ModelInfo
from scripts.crnn import CRNN, DOWNSAMPLE, load_checkpoint


def export_fp32(model: CRNN, info: ModelInfo, out: Path) -> None:
    dummy = torch.zeros(2, 1, info.height, 128)
    torch.onnx.export(
        model.float().to(memory_format=torch.contiguous_format),
        (dummy,),
        str(out),
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "batch", 3: "width"}, "logits": {0: "batch", 1: "time"}},
        opset_version=17,
        dynamo=False,
    )
    set_metadata(out, info)


def set_metadata(path: Path, info: ModelInfo) -> None:
    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in info.to_metadata().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "edge-ocr"
    onnx.save(model, str(path))


class LineCalibration:
    """Feeds generated lines, batched like the daemon batches them, to the static quantizer."""

    def __init__(self, charset: str, info: ModelInfo, count: int, seed: int, batch: int = 16):
        from scripts.synth import LineGenerator

        gen = LineGenerator(charset, seed=seed)
        lines = [
            preprocess.resize_to_height(
                gen.sample()[0], info.height, info.min_width, info.max_width
            )
            for _ in range(count)
        ]
        lines.sort(key=lambda line: line.shape[1])
        self._batches = iter(
            [
                {
                    "image": preprocess.batch_lines(
                        lines[i : i + batch], info.width_multiple, info.mean, info.std
                    )
                }
                for i in range(0, len(lines), batch)
            ]
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


# The int8 weights span [-64, 64]: a pair of uint8 x int8 products (2 x 255 x 64 = 32,640) then
# fits int16, the intermediate of onnxruntime's u8s8 kernels on AVX2 without VNNI, which
# saturates with full-range weights.
# latin-crnn 0.2.11 was quantized to full range and read 87.3% of iiit5k_train (one view) on an
# AVX2-only EPYC against 89.2% in FP32; with 7-bit weights 89.5%. No kernel can saturate then,
# so CPUs with and without VNNI (and Arm's) compute the same integers.
WEIGHT_RANGE = (-64, 64)


def int8_weight_span(path: Path) -> tuple[int, int]:
    """The lowest and highest int8 weight stored in an ONNX file."""
    weights = [
        numpy_helper.to_array(t)
        for t in onnx.load(str(path)).graph.initializer
        if t.data_type == onnx.TensorProto.INT8
    ]
    if not weights:
        raise ValueError(f"{path}: no int8 weights")
    return min(int(w.min()) for w in weights), max(int(w.max()) for w in weights)


def check_weight_range(path: Path) -> None:
    """Refuse a quantized file whose weights could saturate a CPU without VNNI."""
    low, high = int8_weight_span(path)
    if low < WEIGHT_RANGE[0] or high > WEIGHT_RANGE[1]:
        raise RuntimeError(f"{path}: int8 weights span [{low}, {high}], beyond {WEIGHT_RANGE}")


def quantize(
    fp32: Path, out: Path, mode: str, charset: str, info: ModelInfo, calib_count: int, seed: int
) -> None:
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        if mode == "dynamic":
            quantize_dynamic(
                str(pre),
                str(out),
                weight_type=QuantType.QInt8,
                per_channel=True,
                reduce_range=True,
            )
        else:
            static_out = out if mode == "static" else Path(tmp) / "static.onnx"
            quantize_static(
                str(pre),
                str(static_out),
                LineCalibration(charset, info, calib_count, seed),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                reduce_range=True,
                op_types_to_quantize=["Conv", "MatMul", "Gemm"],
                calibrate_method=CalibrationMethod.MinMax,
                extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
            )
            if mode == "static+lstm":
                quantize_dynamic(
                    str(static_out),
                    str(out),
                    weight_type=QuantType.QInt8,
                    reduce_range=True,
                    op_types_to_quantize=["LSTM"],
                )
    check_weight_range(out)
    set_metadata(out, info)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--ckpt", required=True)
    p.add_argument("--out", required=True, help="output prefix: writes PREFIX_fp32.onnx, _int8")
    p.add_argument("--version", default="0")
    p.add_argument("--name", default="latin-crnn")
    p.add_argument("--provenance", default="trained by scripts/train.py on generated lines only")
    p.add_argument(
        "--int8", default="static+lstm", choices=["static+lstm", "static", "dynamic", "none"]
    )
    p.add_argument("--calib", type=int, default=512, help="generated lines for calibration")
    p.add_argument("--seed", type=int, default=424242)
    p.add_argument(
        "--weights",
        action="store_true",
        help="also write PREFIX.pt: the weights alone, to resume training from with "
        "`scripts.train --init PREFIX.pt` (the run folder is not kept)",
    )
    args = p.parse_args(argv)

    model, state = load_checkpoint(args.ckpt)
    charset = state["charset"]
    info = ModelInfo(
        charset=charset,
        downsample=DOWNSAMPLE,
        name=args.name,
        version=args.version,
        provenance=args.provenance,
    )
    prefix = Path(args.out)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    fp32 = prefix.with_name(prefix.name + "_fp32.onnx")
    export_fp32(model, info, fp32)
    print(f"{fp32}: {fp32.stat().st_size / 1e6:.2f} MB")
    if args.weights:
        weights = prefix.with_name(prefix.name + ".pt")
        torch.save(
            {k: state[k] for k in ("model", "shape", "charset") if k in state}
            | {"source": str(args.ckpt), "step": state.get("step", 0)},
            weights,
        )
        print(f"{weights}: {weights.stat().st_size / 1e6:.2f} MB")
    if args.int8 != "none":
        int8 = prefix.with_name(prefix.name + "_int8.onnx")
        quantize(fp32, int8, args.int8, charset, info, args.calib, args.seed)
        print(f"{int8}: {int8.stat().st_size / 1e6:.2f} MB ({args.int8})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
