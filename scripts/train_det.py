"""Train the text-line detector (scripts/detnet.py) on generated scenes, on CPU (bf16 autocast
where the CPU has it, see `scripts.train.native_bf16`).

    python -m scripts.train_det --run runs/det --steps 6000 --threads 1 --workers 1

Resumable: re-running the same command continues from RUN/last.pt (raise --steps to go on).
Every --eval-every steps it logs the loss and precision/recall/F1 of whole lines at IoU 0.5 on a
fixed generated validation set (run through edge_ocr.detect's own post-processing) to
RUN/curve.tsv; the best F1 is kept as RUN/best.pt. Network slimming, as for the recognizer:
--sparsity L applies a proximal L1 step to every BatchNorm scale (the bn_sparse column is the
fraction below 0.01), so scripts/prune_det.py can remove the channels that reach zero.

Targets (DB): each line's quad shrunk by edge_ocr.detect.shrink_distance is the positive kernel
on a 1/2-resolution map; lines too small to read are "don't care". Loss: BCE over the positives
and the hardest negatives (3 per positive) plus a dice loss. Scenes are slow to draw, so each
data worker keeps a pool of recent scenes and cuts several random crops (scale-jittered) from
each.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset

from edge_ocr import detect, preprocess
from scripts import detmetrics
from scripts.charsets import DEFAULT_CHARSET, read_charset
from scripts.detnet import STRIDE, DetNet, DetShape, count_params, macs
from scripts.train import (
    add_precision_argument,
    add_sparsity_arguments,
    bn_sparsity,
    build_optimizer,
    lr_at,
    prox_l1,
    save,
    use_bf16,
)

SCALE = detect.DetectorInfo()  # input normalization the exported model declares

REPO = Path(__file__).resolve().parent.parent
MIN_LINE_HEIGHT = 5.0  # input pixels: thinner lines are neither text nor background in the loss
VAL_SEED = 999_331


# -- geometry of the targets -------------------------------------------------------------------


def quad_size(quad: np.ndarray) -> tuple[float, float]:
    """Mean width (top and bottom edges) and height (left and right edges) of a quad."""
    q = np.asarray(quad, np.float64)
    width = 0.5 * (np.hypot(*(q[1] - q[0])) + np.hypot(*(q[2] - q[3])))
    height = 0.5 * (np.hypot(*(q[3] - q[0])) + np.hypot(*(q[2] - q[1])))
    return float(width), float(height)


def offset_quad(quad: np.ndarray, distance: float) -> np.ndarray:
    """A convex quad (clockwise in image coordinates) with every edge moved `distance` outwards
    (inwards when negative)."""
    q = np.asarray(quad, np.float64)  # [4, 2]
    edges = np.roll(q, -1, axis=0) - q  # edge i runs from corner i to corner i+1
    normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1)  # outward for clockwise (y down)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-9)
    points = q + normals * distance  # one point on each moved edge
    out = np.empty_like(q)
    for i in range(4):
        j = (i - 1) % 4  # corner i joins edge j (incoming) and edge i (outgoing)
        a = np.stack([edges[j], -edges[i]], axis=1)
        if abs(np.linalg.det(a)) < 1e-9:
            out[i] = q[i] + normals[i] * distance
            continue
        t = np.linalg.solve(a, points[i] - points[j])
        out[i] = points[j] + edges[j] * t[0]
    return out.astype(np.float32)


def draw_targets(
    lines: Sequence[np.ndarray], size: tuple[int, int], unclip_ratio: float
) -> tuple[np.ndarray, np.ndarray]:
    """Kernel target and loss weight (0 = don't care) on the 1/STRIDE map of a (w, h) input.

    A map pixel is on a kernel when at least half of it is covered (drawn 4x finer and
    averaged: fillPoly alone would fatten every kernel by its boundary pixels).
    """
    fine = 4
    w, h = size[0] // STRIDE, size[1] // STRIDE
    target = np.zeros((h * fine, w * fine), np.uint8)
    ignore = np.zeros((h * fine, w * fine), np.uint8)
    to_fine = fine / STRIDE
    for quad in lines:
        width, height = quad_size(quad)
        if height < MIN_LINE_HEIGHT or width < 2:
            pts = np.round((quad * to_fine - 0.5) * 16).astype(np.int32)
            cv2.fillPoly(ignore, [pts], 255, cv2.LINE_8, shift=4)
            continue
        kernel = offset_quad(quad, -detect.shrink_distance(width, height, unclip_ratio))
        pts = np.round((kernel * to_fine - 0.5) * 16).astype(np.int32)
        cv2.fillPoly(target, [pts], 255, cv2.LINE_8, shift=4)
    target_map = cv2.resize(target, (w, h), interpolation=cv2.INTER_AREA) >= 128
    ignore_map = cv2.resize(ignore, (w, h), interpolation=cv2.INTER_AREA) > 0
    return target_map.astype(np.float32), (~ignore_map | target_map).astype(np.float32)


# -- data --------------------------------------------------------------------------------------


def random_crop(
    image: np.ndarray,
    quads: Sequence[np.ndarray],
    crop: int,
    scale: float,
    rng: random.Random,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """A crop x crop gray window of the image scaled by `scale` and the quads moved with it."""
    h, w = image.shape[:2]
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    x0 = rng.randint(min(0, sw - crop), max(0, sw - crop))
    y0 = rng.randint(min(0, sh - crop), max(0, sh - crop))
    # One affine warp does the scaling, the crop and the padding (black: not text).
    matrix = np.float32([[sw / w, 0, -x0], [0, sh / h, -y0]])
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out = cv2.warpAffine(image, matrix, (crop, crop), flags=interpolation, borderValue=0)
    moved = [q * np.float32([sw / w, sh / h]) - np.float32([x0, y0]) for q in quads]
    return out, moved


class SceneCrops(IterableDataset):
    """Endless batches of crops of generated scenes, with their kernel targets and weights."""

    def __init__(
        self,
        charset: str,
        batch: int,
        crop: int,
        seed: int,
        unclip_ratio: float,
        pool: int = 48,
        fresh: int = 2,
        fonts: list[str] | None = None,
    ) -> None:
        self.charset, self.batch, self.crop, self.seed = charset, batch, crop, seed
        self.unclip_ratio, self.pool, self.fresh, self.fonts = unclip_ratio, pool, fresh, fonts

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        from scripts.scenes import SceneGenerator

        worker = torch.utils.data.get_worker_info()
        wid = worker.id if worker is not None else 0
        cv2.setNumThreads(1)
        gen = SceneGenerator(self.charset, seed=self.seed * 1000 + wid, fonts=self.fonts)
        rng = random.Random(self.seed * 7919 + wid)
        pool: list[tuple[np.ndarray, list[np.ndarray]]] = []
        while True:
            for _ in range(self.fresh if len(pool) >= self.batch else self.batch):
                image, lines = gen.sample()
                gray = preprocess.to_gray(image)
                # Kept at the size the detector sees (longest side 640), less memory per scene.
                s = min(1.0, 640 / max(gray.shape))
                if s < 1:
                    gray = cv2.resize(gray, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
                pool.append((gray, [ln.quad * s for ln in lines]))
                if len(pool) > self.pool:
                    pool.pop(rng.randrange(len(pool) - 1))
            images, targets, weights = [], [], []
            for _ in range(self.batch):
                gray, quads = rng.choice(pool[-self.pool :])
                scale = math.exp(rng.uniform(math.log(0.5), math.log(1.6)))
                crop, moved = random_crop(gray, quads, self.crop, scale, rng)
                if rng.random() < 0.2:
                    crop = 255 - crop  # light-on-dark as often as dark-on-light
                target, weight = draw_targets(moved, (self.crop, self.crop), self.unclip_ratio)
                images.append(
                    detect.normalize(crop, detect.DetectorInfo.mean, detect.DetectorInfo.std)
                )
                targets.append(target)
                weights.append(weight)
            yield (
                torch.from_numpy(np.stack(images)[:, None]),
                torch.from_numpy(np.stack(targets)[:, None]),
                torch.from_numpy(np.stack(weights)[:, None]),
            )


# -- loss --------------------------------------------------------------------------------------


def db_loss(
    logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, neg_ratio: float = 3.0
) -> torch.Tensor:
    """Balanced BCE (all positives, the hardest negatives) plus dice, on [b, 1, h, w] maps."""
    bce = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    positive = (target > 0.5) & (weight > 0)
    negative = (target <= 0.5) & (weight > 0)
    n_pos = int(positive.sum())
    n_neg = min(int(negative.sum()), max(int(n_pos * neg_ratio), 256))
    pos_loss = bce[positive].sum()
    neg_loss = torch.topk(bce[negative], n_neg).values.sum() if n_neg else bce.sum() * 0
    balanced = (pos_loss + neg_loss) / (n_pos + n_neg + 1e-6)
    prob = torch.sigmoid(logits) * weight
    dice = 1 - 2 * (prob * target).sum() / (prob.sum() + (target * weight).sum() + 1e-6)
    return balanced + dice


# -- evaluation --------------------------------------------------------------------------------


def prf(matched: int, predicted: int, truth: int) -> tuple[float, float, float]:
    p = matched / predicted if predicted else 0.0
    r = matched / truth if truth else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def val_set(
    charset: str, count: int, seed: int = VAL_SEED, fonts: list[str] | None = None
) -> list[tuple[np.ndarray, list]]:
    from scripts.scenes import SceneGenerator

    gen = SceneGenerator(charset, seed=seed, fonts=fonts)
    out = []
    for _ in range(count):
        image, lines = gen.sample()
        out.append((preprocess.to_gray(image), [ln.quad for ln in lines]))
    return out


@torch.no_grad()
def probability_maps(
    model: nn.Module,
    items: Sequence[tuple[np.ndarray, list[np.ndarray]]],
    info: detect.DetectorInfo,
) -> list[np.ndarray]:
    """The model's kernel probability map of each frame, resized as the Detector resizes it."""
    model.eval()
    maps = []
    for gray, _ in items:
        x = torch.from_numpy(detect.network_input(gray, info, info.max_side))
        maps.append(torch.sigmoid(model(x)).float()[0, 0].numpy())
    model.train()
    return maps


def score_maps(
    maps: Sequence[np.ndarray],
    items: Sequence[tuple[np.ndarray, list[np.ndarray]]],
    info: detect.DetectorInfo,
) -> tuple[float, float, float]:
    """Line P/R/F1 at IoU 0.5 of probability maps, post-processed as the Detector does."""
    matched = n_pred = n_true = 0
    for prob, (gray, quads) in zip(maps, items, strict=True):
        h, w = gray.shape
        found = [np.float32(line.quad) for line in detect.lines_from_map(prob, w, h, info)]
        matched += len(detmetrics.match_greedy(quads, found))
        n_pred += len(found)
        n_true += len(quads)
    return prf(matched, n_pred, n_true)


def evaluate(
    model: nn.Module,
    items: Sequence[tuple[np.ndarray, list[np.ndarray]]],
    info: detect.DetectorInfo,
) -> tuple[float, float, float]:
    """Line P/R/F1 at IoU 0.5 of the model on generated frames."""
    return score_maps(probability_maps(model, items, info), items, info)


# -- main --------------------------------------------------------------------------------------


def parse_shape(text: str) -> DetShape:
    """'16:24,24:48,48:96,96,96:128,128:32:32' -> stem : stages (';'-free) : neck : head."""
    parts = text.split(":")
    stages = tuple(tuple(int(c) for c in s.split(",")) for s in parts[1:-2])
    return DetShape(int(parts[0]), stages, int(parts[-2]), int(parts[-1]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--run", required=True, help="run folder (checkpoints, curve.tsv)")
    p.add_argument("--charset", default=str(DEFAULT_CHARSET))
    p.add_argument("--steps", type=int, default=6000, help="total steps (extendable on resume)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=384, help="training crop side (multiple of 32)")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    add_sparsity_arguments(p)
    p.add_argument(
        "--shape",
        default="16:24,24:48,48,48:96,96,96:160,160:32:32",
        help="stem:stage1:stage2:stage3:stage4:neck:head widths",
    )
    p.add_argument("--init", help="start from this checkpoint's weights and shape (fine-tuning)")
    p.add_argument("--unclip-ratio", type=float, default=1.5)
    p.add_argument("--pool", type=int, default=48, help="scenes each worker keeps for crops")
    p.add_argument("--fresh", type=int, default=2, help="new scenes drawn per batch")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    p.add_argument("--workers", type=int, default=1, help="scene generation processes")
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--ckpt-every", type=int, default=100)
    p.add_argument("--val-count", type=int, default=100)
    add_precision_argument(p)
    p.add_argument("--fonts", help="comma-separated font files (default: every usable one)")
    args = p.parse_args(argv)
    fonts = args.fonts.split(",") if args.fonts else None

    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread left behind when main() returns
    if args.threads:
        torch.set_num_threads(args.threads)
    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    charset = read_charset(args.charset)
    last = run / "last.pt"
    state = init = None
    if last.exists():
        state = torch.load(last, map_location="cpu", weights_only=False)
        shape = DetShape.from_dict(state["shape"])
        print(f"resuming {last} at step {state['step']}", file=sys.stderr)
    elif args.init:
        init = torch.load(args.init, map_location="cpu", weights_only=False)
        shape = DetShape.from_dict(init["shape"])
    else:
        shape = parse_shape(args.shape)
    info = detect.DetectorInfo(unclip_ratio=args.unclip_ratio)
    model = DetNet(shape).to(memory_format=torch.channels_last)
    opt = build_optimizer(model, args.lr, args.weight_decay)
    step, samples, elapsed, best = 0, 0, 0.0, -1.0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, samples, elapsed = state["step"], state["samples"], state["elapsed"]
        best = state.get("best", -1.0)
    elif init is not None:
        model.load_state_dict(init["model"])
    print(
        f"model: {count_params(model)} parameters, {macs(shape) / 1e6:.1f} MMAC at 640x480, "
        f"shape {shape}",
        file=sys.stderr,
    )
    (run / "args.json").write_text(json.dumps(vars(args), indent=1))
    val = val_set(charset, args.val_count, fonts=fonts)
    curve = run / "curve.tsv"
    if not curve.exists():
        curve.write_text("step\tsamples\thours\tloss\tlr\tbn_sparse\tval_p\tval_r\tval_f1\n")

    data = SceneCrops(
        charset,
        args.batch,
        args.crop,
        args.seed + step,
        args.unclip_ratio,
        args.pool,
        args.fresh,
        fonts,
    )
    # spawn, not fork: a forked worker can inherit a lock held by one of the parent's threads.
    loader = DataLoader(
        data,
        batch_size=None,
        num_workers=args.workers,
        persistent_workers=args.workers > 0,
        prefetch_factor=4 if args.workers else None,
        multiprocessing_context="spawn" if args.workers else None,
    )
    bf16 = use_bf16(args.precision, "cpu")

    def save_last() -> None:
        save(
            last,
            model=model.state_dict(),
            optimizer=opt.state_dict(),
            shape=shape.to_dict(),
            step=step,
            samples=samples,
            elapsed=elapsed,
            best=best,
            unclip_ratio=args.unclip_ratio,
            args=vars(args),
        )

    bar = tqdm(total=args.steps, initial=step, dynamic_ncols=True, mininterval=10)
    losses: list[float] = []
    t0 = time.time()
    for images, targets, weights in loader:
        if step >= args.steps:
            break
        lr = lr_at(step, args.steps, args.lr, args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(images)
        loss = db_loss(logits.float(), targets, weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if args.sparsity and step >= args.sparsity_start:
            prox_l1(model, lr * args.sparsity)
        step += 1
        samples += images.shape[0]
        losses.append(float(loss))
        bar.update(1)
        if step % 25 == 0:
            bar.set_postfix(
                loss=f"{np.mean(losses[-50:]):.3f}",
                lr=f"{lr:.2e}",
                sparse=f"{bn_sparsity(model):.2f}",
            )
        now = time.time()
        if step % args.eval_every == 0 or step == args.steps:
            precision, recall, f1 = evaluate(model, val, info)
            row = [
                str(step),
                str(samples),
                f"{(elapsed + now - t0) / 3600:.3f}",
                f"{np.mean(losses[-args.eval_every :]):.4f}",
                f"{lr:.2e}",
                f"{bn_sparsity(model):.3f}",
                f"{precision:.4f}",
                f"{recall:.4f}",
                f"{f1:.4f}",
            ]
            with curve.open("a") as f:
                f.write("\t".join(row) + "\n")
            bar.write(f"step {step}: P {precision:.3f} R {recall:.3f} F1 {f1:.3f}")
            if f1 > best:
                best = f1
                save(
                    run / "best.pt",
                    model=model.state_dict(),
                    shape=shape.to_dict(),
                    step=step,
                    unclip_ratio=args.unclip_ratio,
                    score=f1,
                )
        if step % args.ckpt_every == 0 or step == args.steps or step % args.eval_every == 0:
            elapsed += now - t0
            t0 = now
            save_last()
    bar.close()
    elapsed += time.time() - t0
    save_last()
    print(f"done: {step} steps, {samples} crops, {elapsed / 3600:.2f} h", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
