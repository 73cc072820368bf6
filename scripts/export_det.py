"""Export a trained detector checkpoint to ONNX (FP32) and quantize it to INT8 with onnxruntime.

    python -m scripts.export_det --ckpt runs/det/best.pt --out models/text_det --version 0.1.0 \
        [--tune 100] [--compare data/scenes_test]

writes OUT_fp32.onnx and OUT_int8.onnx: input "image" float32 [1, 1, h, w] (any h, w that are
multiples of 32), output "prob" [1, 1, h/2, w/2]. Both carry the detector's metadata
(edge_ocr.detect.DetectorInfo: kind, format, normalization, stride, thresholds, unclip ratio,
version, provenance), so edge_ocr.detect.Detector needs nothing else. INT8 is static QDQ
(per-channel int8 weights, uint8 activations calibrated on generated scenes at the size the
detector runs them). --tune N picks the binarization and box thresholds and the unclip ratio
with the best line F1 on N generated validation scenes. --compare DIR scores both files on a
scenes folder written by scripts/scenes.py (whole lines, P/R/F1 at IoU 0.5) and times them on
one thread at 640x480.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

from edge_ocr import detect
from scripts import detmetrics
from scripts.charsets import DEFAULT_CHARSET, read_charset
from scripts.detnet import STRIDE, DetNet, DetShape, Probability
from scripts.export import check_weight_range, set_metadata
from scripts.train_det import VAL_SEED, prf, probability_maps, score_maps, val_set

# Post-processing settings tried by --tune (box threshold, binarization, unclip ratio).
BIN_THRESHOLDS = (0.2, 0.3, 0.4, 0.5)
BOX_THRESHOLDS = (0.5, 0.6, 0.7)
UNCLIP_RATIOS = (1.0, 1.2, 1.35, 1.5, 1.7)


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[DetNet, dict]:
    """The network of a checkpoint, in eval mode, and the checkpoint itself."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    model = DetNet(DetShape.from_dict(state["shape"]))
    model.load_state_dict(state["model"])
    model.eval()
    return model, state


def export_fp32(model: DetNet, info: detect.DetectorInfo, out: Path) -> None:
    dummy = torch.zeros(1, 1, 480, 640)
    torch.onnx.export(
        Probability(model.float().to(memory_format=torch.contiguous_format)).eval(),
        (dummy,),
        str(out),
        input_names=["image"],
        output_names=["prob"],
        dynamic_axes={"image": {2: "height", 3: "width"}, "prob": {2: "map_h", 3: "map_w"}},
        opset_version=17,
        dynamo=False,
    )
    set_metadata(out, info)


class SceneCalibration:
    """Feeds generated scenes, resized as the detector resizes frames, to the static quantizer."""

    def __init__(
        self,
        charset: str,
        info: detect.DetectorInfo,
        count: int,
        seed: int,
        fonts: list[str] | None = None,
    ) -> None:
        from scripts.scenes import SceneGenerator

        gen = SceneGenerator(charset, seed=seed, fonts=fonts)
        batches = []
        for _ in range(count):
            image = detect.network_input(gen.sample()[0], info, info.max_side)
            batches.append({"image": image})
        self._batches = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def quantize(
    fp32: Path,
    out: Path,
    charset: str,
    info: detect.DetectorInfo,
    calib_count: int,
    seed: int,
    fonts: list[str] | None = None,
) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre),
            str(out),
            SceneCalibration(charset, info, calib_count, seed, fonts),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            reduce_range=True,  # 7-bit weights: see scripts.export.WEIGHT_RANGE
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
    check_weight_range(out)
    set_metadata(out, info)


def tune(
    model: DetNet, info: detect.DetectorInfo, charset: str, count: int, fonts: list[str] | None
) -> detect.DetectorInfo:
    """The post-processing settings with the best line F1 on `count` generated validation
    scenes (the training run's validation seed, never the test set)."""
    items = val_set(charset, count, VAL_SEED, fonts)
    maps = probability_maps(model, items, info)
    best, best_f1 = info, -1.0
    for bin_threshold in BIN_THRESHOLDS:
        for box_threshold in BOX_THRESHOLDS:
            for ratio in UNCLIP_RATIOS:
                trial = replace(
                    info,
                    bin_threshold=bin_threshold,
                    box_threshold=max(box_threshold, bin_threshold),
                    unclip_ratio=ratio,
                )
                f1 = score_maps(maps, items, trial)[2]
                if f1 > best_f1:
                    best, best_f1 = trial, f1
    print(
        f"tuned on {count} validation scenes: bin {best.bin_threshold}, box "
        f"{best.box_threshold}, unclip {best.unclip_ratio}: F1 {best_f1:.3f}"
    )
    return best


def score_folder(detector: detect.Detector, folder: Path) -> tuple[float, float, float]:
    """Whole-line P/R/F1 at IoU 0.5 on a scenes folder (annotations.jsonl with "lines")."""
    from scripts.scenes import load_annotations

    matched = n_pred = n_true = 0
    for record in load_annotations(folder):
        image = cv2.imread(str(folder / record["image"]), cv2.IMREAD_COLOR)
        truth = [line["quad"] for line in record["lines"]]
        found = [line.quad for line in detector.detect(image)]
        matched += len(detmetrics.match_greedy(truth, found))
        n_pred += len(found)
        n_true += len(truth)
    return prf(matched, n_pred, n_true)


def latency_ms(detector: detect.Detector, runs: int = 20) -> float:
    """Median wall time of `detect` on a 640x480 frame (after one warm-up call)."""
    frame = np.full((480, 640, 3), 200, np.uint8)
    for i in range(8):
        cv2.putText(frame, f"LINE {i} 230V 50Hz", (30, 50 + 50 * i), 0, 1.0, (20, 20, 20), 2)
    detector.detect(frame)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        detector.detect(frame)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--ckpt", required=True)
    p.add_argument("--out", required=True, help="output prefix: writes PREFIX_fp32.onnx, _int8")
    p.add_argument("--charset", default=str(DEFAULT_CHARSET))
    p.add_argument("--version", default="0")
    p.add_argument("--name", default="text-det")
    p.add_argument(
        "--provenance", default="trained by scripts/train_det.py on generated scenes only"
    )
    p.add_argument("--max-side", type=int, default=640, help="default longest side of the input")
    p.add_argument("--bin-threshold", type=float, default=0.3)
    p.add_argument("--box-threshold", type=float, default=0.5)
    p.add_argument("--no-int8", action="store_true")
    p.add_argument("--calib", type=int, default=64, help="generated scenes for calibration")
    p.add_argument("--seed", type=int, default=515151)
    p.add_argument("--compare", type=Path, help="scenes folder to score FP32 and INT8 on")
    p.add_argument(
        "--tune",
        type=int,
        default=0,
        help="pick thresholds and unclip ratio on this many validation scenes (0: as given)",
    )
    p.add_argument("--unclip-ratio", type=float, help="default: the ratio training shrank by")
    p.add_argument("--fonts", help="comma-separated font files for calibration (default: all)")
    args = p.parse_args(argv)
    fonts = args.fonts.split(",") if args.fonts else None

    model, state = load_checkpoint(args.ckpt)
    info = detect.DetectorInfo(
        stride=STRIDE,
        max_side=args.max_side,
        bin_threshold=args.bin_threshold,
        box_threshold=args.box_threshold,
        unclip_ratio=args.unclip_ratio or float(state.get("unclip_ratio", 1.5)),
        name=args.name,
        version=args.version,
        provenance=f"{args.provenance} (step {state.get('step', '?')})",
    )
    charset = read_charset(args.charset)
    if args.tune:
        info = tune(model, info, charset, args.tune, fonts)
    prefix = Path(args.out)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    fp32 = prefix.with_name(prefix.name + "_fp32.onnx")
    export_fp32(model, info, fp32)
    outputs = [fp32]
    print(f"{fp32}: {fp32.stat().st_size / 1e6:.3f} MB")
    if not args.no_int8:
        int8 = prefix.with_name(prefix.name + "_int8.onnx")
        quantize(fp32, int8, charset, info, args.calib, args.seed, fonts)
        outputs.append(int8)
        print(f"{int8}: {int8.stat().st_size / 1e6:.3f} MB")
    if args.compare:
        for path in outputs:
            detector = detect.Detector(path, threads=1)
            precision, recall, f1 = score_folder(detector, args.compare)
            print(
                f"{path.name}: P {precision:.3f} R {recall:.3f} F1 {f1:.3f}, "
                f"{latency_ms(detector):.1f} ms at 640x480 on 1 thread"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
