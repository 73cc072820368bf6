"""Train the CRNN line recognizer on generated text lines, on CPU or GPU (bf16 autocast where the
hardware computes bf16, else fp32: see `native_bf16`).

    python -m scripts.train --run runs/latin --steps 30000

Resumable: re-running the same command continues from RUN/last.pt. Every --eval-every steps it
logs CER and line accuracy on a generated validation set and on ../shared/data/* (evaluation
only: the real sets never feed the optimizer) to RUN/curve.tsv. Network slimming: --sparsity L
applies a proximal L1 step to every BatchNorm scale, so unimportant channels reach zero and
scripts/prune.py can remove them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset

from edge_ocr import ctc, preprocess
from edge_ocr.modelinfo import ModelInfo
from scripts import metrics
from scripts.charsets import DEFAULT_CHARSET, read_charset
from scripts.crnn import CRNN, DOWNSAMPLE, CrnnShape, count_params, macs
from scripts.synth import LABEL_SHARE

REPO = Path(__file__).resolve().parent.parent
DEFAULT_REAL = REPO.parent / "shared" / "data"
REAL_SETS = ("ic03_860", "iiit5k_train")


def encode(text: str, index: dict[str, int]) -> list[int]:
    return [index[c] for c in text if c in index]


def make_batch(
    lines: list[np.ndarray], texts: list[str], index: dict[str, int], info: ModelInfo
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    images = torch.from_numpy(
        preprocess.batch_lines(lines, info.width_multiple, info.mean, info.std)
    )
    encoded = [encode(t, index) for t in texts]
    targets = torch.tensor([c for e in encoded for c in e], dtype=torch.long)
    target_lengths = torch.tensor([len(e) for e in encoded], dtype=torch.long)
    input_lengths = torch.tensor(
        [math.ceil(line.shape[1] / info.downsample) for line in lines], dtype=torch.long
    )
    return images, targets, target_lengths, input_lengths


# A worker generates this many batches at a time, sorts their lines by width and cuts batches
# of similar widths; the loader's queue holds two such pools, so the worker goes on generating
# the next pool while the trainer takes the last (with a queue shorter than a pool the worker
# waited on a full queue, then the trainer on an empty one: a quarter of the CPU went idle).
POOL_BATCHES = 8


class SynthBatches(IterableDataset):
    """Endless batches of generated lines, grouped by width so little of a batch is padding."""

    def __init__(
        self,
        charset: str,
        info: ModelInfo,
        batch: int,
        seed: int,
        kind: str,
        label_share: float = LABEL_SHARE,
    ) -> None:
        self.charset, self.info, self.batch, self.seed, self.kind = charset, info, batch, seed, kind
        self.label_share = label_share

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        from scripts.synth import LineGenerator

        worker = torch.utils.data.get_worker_info()
        wid = worker.id if worker is not None else 0
        cv2.setNumThreads(1)
        gen = LineGenerator(
            self.charset,
            seed=self.seed * 1000 + wid,
            kind=self.kind,
            label_share=self.label_share,
        )
        info = self.info
        rng = random.Random(self.seed * 7919 + wid)
        while True:
            samples = []
            for _ in range(self.batch * POOL_BATCHES):
                img, text = gen.sample()
                if not text:
                    continue
                line = preprocess.resize_to_height(img, info.height, info.min_width, info.max_width)
                # CTC needs at least one frame per character (two between repeats).
                if math.ceil(line.shape[1] / info.downsample) < 2 * len(text):
                    continue
                samples.append((line, text))
            samples.sort(key=lambda s: s[0].shape[1])
            chunks = [samples[i : i + self.batch] for i in range(0, len(samples), self.batch)]
            rng.shuffle(chunks)
            for chunk in chunks:
                if len(chunk) == self.batch:
                    yield [s[0] for s in chunk], [s[1] for s in chunk]


def as_is(batch: object) -> object:
    """The loader's collate: a worker's (lines, texts) unchanged, not turned into tensors."""
    return batch


class HardLines:
    """Online hard example mining: the lines each batch found hardest, trained on once more.

    Each ordinary batch offers its `per_batch` lines of highest loss per character; every
    `every`-th step is a batch of offered lines of similar widths (each trained on once more,
    then dropped). The pool keeps the `capacity` hardest offered, so a replay batch is drawn from
    lines the network misread or nearly did: the rare look-alikes (O and 0 in a code, a thin 1
    or dot) a generated mix shows too seldom for a small network to settle.
    """

    def __init__(self, share: float, batch: int, seed: int) -> None:
        if not 0.0 < share <= 0.5:
            raise ValueError(f"--replay must be in (0, 0.5], got {share}")
        self.every = round(1 / share)
        self.batch = batch
        self.per_batch = math.ceil(batch / (self.every - 1))
        self.capacity = 4 * batch
        self.pool: list[tuple[float, np.ndarray, str]] = []
        self.rng = random.Random(seed)

    def offer(self, lines: list[np.ndarray], texts: list[str], losses: torch.Tensor) -> None:
        order = losses.argsort(descending=True)[: self.per_batch].tolist()
        self.pool += [(float(losses[i]), lines[i], texts[i]) for i in order]
        if len(self.pool) > self.capacity:
            self.pool.sort(key=lambda item: -item[0])
            del self.pool[self.capacity :]

    def due(self, step: int) -> bool:
        return step % self.every == self.every - 1 and len(self.pool) >= self.batch

    def take(self) -> tuple[list[np.ndarray], list[str]]:
        """A batch of pooled lines of similar widths, removed from the pool."""
        self.pool.sort(key=lambda item: item[1].shape[1])
        start = self.rng.randrange(len(self.pool) - self.batch + 1)
        chunk = self.pool[start : start + self.batch]
        del self.pool[start : start + self.batch]
        return [c[1] for c in chunk], [c[2] for c in chunk]


def kept_lines(losses: torch.Tensor, share: float) -> torch.Tensor:
    """The indices of the lines a step learns from: all but the `share` of highest loss per
    character (loss truncation, Kang & Hashimoto 2020). Some generated lines come out past
    reading (glare or a shadow erasing glyphs, a crop cutting them, blur): they hold the
    highest losses of a batch and teach only noise. Of 0.2.13's 22 highest-loss lines of 2000
    validation labels, 17 were past reading and one was a legible misread (model card)."""
    drop = math.ceil(share * len(losses)) if share else 0
    return losses.argsort()[: len(losses) - drop]


class WeightAverage:
    """An exponential moving average of a network's weights and BatchNorm statistics (`--ema`),
    updated after every step. The mean of a cycle's start and end reads better than either
    (0.2.11, 0.2.13); a running mean over the cycle's steps is the same idea without choosing the
    two points. Integer entries (BatchNorm's batch counters) follow the network."""

    def __init__(self, decay: float, state: dict[str, torch.Tensor]) -> None:
        self.decay = decay
        self.state = {k: v.detach().clone() for k, v in state.items()}

    @torch.no_grad()
    def update(self, state: dict[str, torch.Tensor]) -> None:
        for k, v in state.items():
            mean = self.state[k]
            if mean.is_floating_point():
                mean.lerp_(v.detach(), 1.0 - self.decay)
            else:
                mean.copy_(v)


def load_eval_set(
    items: list[tuple[np.ndarray, str]], info: ModelInfo
) -> list[tuple[np.ndarray, str]]:
    return [
        (
            preprocess.resize_to_height(
                preprocess.to_gray(img), info.height, info.min_width, info.max_width
            ),
            text,
        )
        for img, text in items
    ]


def real_set(folder: Path, info: ModelInfo, limit: int | None) -> list[tuple[np.ndarray, str]]:
    items = []
    for path, text in metrics.load_labeled_folder(folder, limit):
        img = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        if img is not None:
            items.append((img, text))
    return load_eval_set(items, info)


@torch.no_grad()
def predict(
    model: nn.Module,
    lines: list[np.ndarray],
    charset: str,
    info: ModelInfo,
    device: str,
    batch: int = 64,
) -> list[str]:
    model.eval()
    order = sorted(range(len(lines)), key=lambda i: lines[i].shape[1])
    preds: list[str] = [""] * len(lines)
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        chunk = [lines[i] for i in idx]
        x = torch.from_numpy(
            preprocess.batch_lines(chunk, info.width_multiple, info.mean, info.std)
        ).to(device)
        logits = model(x).float().cpu().numpy()
        for j, i in enumerate(idx):
            length = math.ceil(lines[i].shape[1] / info.downsample)
            preds[i] = ctc.greedy_decode(logits[j], charset, None, length).text
    model.train()
    return preds


def bn_sparsity(model: CRNN, threshold: float = 0.01) -> float:
    gammas = torch.cat([bn.weight.detach().abs().flatten() for _, bn in model.conv_bn_pairs()])
    return float((gammas < threshold).float().mean())


def prox_l1(model: CRNN, amount: float) -> None:
    """Soft-threshold every BatchNorm scale by `amount` (the proximal step of an L1 penalty)."""
    with torch.no_grad():
        for _, bn in model.conv_bn_pairs():
            w = bn.weight
            w.copy_(torch.sign(w) * torch.clamp(w.abs() - amount, min=0.0))


def add_sparsity_arguments(p: argparse.ArgumentParser) -> None:
    """--sparsity and --sparsity-start: network slimming's L1 penalty on BatchNorm scales."""
    p.add_argument(
        "--sparsity",
        type=float,
        default=0.0,
        help="L1 strength on BatchNorm scales (proximal step lr*L per step)",
    )
    p.add_argument("--sparsity-start", type=int, default=0)


def lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))


def build_optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or ".bias" in name else decay).append(p)
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=lr,
    )


def native_bf16(device: str, cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether `device` computes bf16 in hardware. On a CPU without it (x86 before AVX512-BF16 or
    AMX, Arm before the BF16 extension) torch emulates bf16 matrix products: latin-crnn trained
    at 0.17 steps/s under bf16 autocast on an AVX2-only EPYC, 1.5 steps/s in fp32."""
    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    try:
        flags = set(Path(cpuinfo).read_text().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def add_precision_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--precision",
        choices=("auto", "bf16", "fp32"),
        default="auto",
        help="bf16 autocast or fp32; auto: bf16 where the hardware has it (default)",
    )


def use_bf16(precision: str, device: str) -> bool:
    return precision == "bf16" or (precision == "auto" and native_bf16(device))


def save(path: Path, **state: object) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--run", required=True, help="run folder (checkpoints, curve.tsv)")
    p.add_argument("--charset", default=str(DEFAULT_CHARSET))
    p.add_argument("--steps", type=int, default=30000, help="total steps (extendable on resume)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    add_sparsity_arguments(p)
    p.add_argument("--channels", default="32,64,96,96,128,128,192")
    p.add_argument("--hidden", type=int, default=96)
    p.add_argument("--init", help="start from this checkpoint's weights and shape (fine-tuning)")
    p.add_argument("--kind", default="mixed", help="generator mix: mixed, words, label")
    p.add_argument(
        "--label-share",
        type=float,
        default=LABEL_SHARE,
        help=f"share of label lines in the mixed kind (default {LABEL_SHARE})",
    )
    p.add_argument(
        "--replay",
        type=float,
        default=0.0,
        help="share of steps trained on the hardest lines seen, once more (0: none)",
    )
    p.add_argument(
        "--truncate",
        type=float,
        default=0.0,
        help="share of each batch's highest-loss lines left out of its loss (0: none)",
    )
    p.add_argument(
        "--ema",
        type=float,
        default=0.0,
        help="also keep an exponential moving average of the weights with this decay per step "
        "(e.g. 0.999), written to RUN/ema.pt; 0: off",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    p.add_argument("--workers", type=int, default=2, help="data generation processes")
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--ckpt-every", type=int, default=250)
    p.add_argument("--val-count", type=int, default=1000)
    p.add_argument("--real", default=str(DEFAULT_REAL), help="folder with ic03_860, iiit5k_train")
    p.add_argument("--real-limit", type=int, default=None)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    add_precision_argument(p)
    args = p.parse_args(argv)
    if not 0.0 <= args.truncate < 0.5:
        p.error(f"--truncate must be in [0, 0.5), got {args.truncate}")
    if args.ema and not 0.0 < args.ema < 1.0:
        p.error(f"--ema must be in (0, 1), got {args.ema}")

    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread left behind when main() returns
    if args.threads:
        torch.set_num_threads(args.threads)
    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    charset = read_charset(args.charset)
    last = run / "last.pt"
    state = None
    if last.exists():
        state = torch.load(last, map_location="cpu", weights_only=False)
        shape = CrnnShape.from_dict(state["shape"])
        print(f"resuming {last} at step {state['step']}", file=sys.stderr)
    elif args.init:
        init = torch.load(args.init, map_location="cpu", weights_only=False)
        shape = CrnnShape.from_dict(init["shape"])
    else:
        channels = tuple(int(c) for c in args.channels.split(","))
        shape = CrnnShape(len(charset) + 1, channels, args.hidden)
    if shape.num_classes != len(charset) + 1:
        raise SystemExit(f"checkpoint has {shape.num_classes} classes, charset {len(charset)}+1")
    info = ModelInfo(charset=charset, downsample=DOWNSAMPLE)
    device = args.device
    model = CRNN(shape).to(device)
    if device == "cpu":
        model = model.to(memory_format=torch.channels_last)
    opt = build_optimizer(model, args.lr, args.weight_decay)
    step, samples, elapsed, best = 0, 0, 0.0, -1.0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, samples, elapsed = state["step"], state["samples"], state["elapsed"]
        best = state.get("best", -1.0)
    elif args.init:
        model.load_state_dict(init["model"])
    ema = None
    if args.ema:  # a resumed run goes on with its average, on the network's device
        start = state["ema"] if state is not None and "ema" in state else model.state_dict()
        ema = WeightAverage(args.ema, {k: v.to(device) for k, v in start.items()})
    bf16 = use_bf16(args.precision, device)
    print(
        f"model: {count_params(model)} parameters, {macs(shape, 128) / 1e6:.1f} MMAC per 32x128 "
        f"line, channels {shape.channels}, hidden {shape.hidden}; "
        f"{'bf16 autocast' if bf16 else 'fp32'} on {device}",
        file=sys.stderr,
    )
    (run / "args.json").write_text(json.dumps(vars(args), indent=1))

    from scripts.synth import LineGenerator

    val_gen = LineGenerator(charset, seed=999_331, kind=args.kind)
    val = load_eval_set([val_gen.sample() for _ in range(args.val_count)], info)
    evals = {"synth": val}
    for name in REAL_SETS:
        folder = Path(args.real) / name
        if folder.is_dir():
            evals[name] = real_set(folder, info, args.real_limit)
    curve = run / "curve.tsv"
    if not curve.exists():
        cols = ["step", "samples", "hours", "loss", "lr", "bn_sparse"]
        for name in evals:
            cols += [f"{name}_acc", f"{name}_exact", f"{name}_cer"]
        curve.write_text("\t".join(cols) + "\n")

    data = SynthBatches(charset, info, args.batch, args.seed + step, args.kind, args.label_share)
    # spawn, not fork: a forked worker can inherit a lock held by one of the parent's threads
    # (OpenMP, OpenCV) and hang before its first batch.
    loader = DataLoader(
        data,
        batch_size=None,
        collate_fn=as_is,
        num_workers=args.workers,
        persistent_workers=args.workers > 0,
        prefetch_factor=2 * POOL_BATCHES if args.workers else None,
        multiprocessing_context="spawn" if args.workers else None,
    )
    ctc_loss = nn.CTCLoss(blank=0, reduction="none", zero_infinity=True)
    index = {c: i + 1 for i, c in enumerate(charset)}
    hard = HardLines(args.replay, args.batch, args.seed + step) if args.replay else None

    def save_last() -> None:
        extra: dict[str, object] = {}
        if ema is not None:
            extra["ema"] = ema.state
            save(run / "ema.pt", model=ema.state, shape=shape.to_dict(), step=step, charset=charset)
        save(
            last,
            model=model.state_dict(),
            optimizer=opt.state_dict(),
            shape=shape.to_dict(),
            step=step,
            samples=samples,
            elapsed=elapsed,
            best=best,
            charset=charset,
            args=vars(args),
            **extra,
        )

    bar = tqdm(total=args.steps, initial=step, dynamic_ncols=True, mininterval=5)
    losses: list[float] = []
    t0 = time.time()
    batches = iter(loader)
    while step < args.steps:
        replayed = hard is not None and hard.due(step)
        # a replay step takes no generated batch: the worker's next one waits for the next step
        lines, texts = hard.take() if replayed else next(batches)
        images, targets, target_lengths, input_lengths = make_batch(lines, texts, index, info)
        lr = lr_at(step, args.steps, args.lr, args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        images = images.to(device)
        if device == "cpu":
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
            logits = model(images)
        log_probs = logits.float().log_softmax(-1).transpose(0, 1)  # [t, b, classes]
        per_char = ctc_loss(log_probs, targets, input_lengths, target_lengths) / target_lengths
        kept = kept_lines(per_char.detach(), args.truncate)
        loss = per_char[kept].mean()  # CTCLoss's "mean", over the lines kept
        if hard is not None and not replayed:
            ids = kept.tolist()
            hard.offer([lines[i] for i in ids], [texts[i] for i in ids], per_char.detach()[kept])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if args.sparsity and step >= args.sparsity_start:
            prox_l1(model, lr * args.sparsity)
        if ema is not None:
            ema.update(model.state_dict())
        step += 1
        samples += images.shape[0]
        losses.append(loss.item())
        bar.update(1)
        if step % 50 == 0:
            bar.set_postfix(
                loss=f"{np.mean(losses[-50:]):.3f}",
                lr=f"{lr:.2e}",
                sparse=f"{bn_sparsity(model):.2f}",
            )
        now = time.time()
        if step % args.eval_every == 0 or step == args.steps:
            row = [
                str(step),
                str(samples),
                f"{(elapsed + now - t0) / 3600:.3f}",
                f"{np.mean(losses[-200:]):.4f}",
                f"{lr:.2e}",
                f"{bn_sparsity(model):.3f}",
            ]
            report = []
            scores = {}
            for name, items in evals.items():
                preds = predict(model, [s[0] for s in items], charset, info, device)
                sc = scores[name] = metrics.score(preds, [s[1] for s in items])
                row += [f"{sc['protocol_acc']:.4f}", f"{sc['exact_acc']:.4f}", f"{sc['cer']:.4f}"]
                report.append(f"{name} {sc['protocol_acc']:.3f}/{sc['exact_acc']:.3f}")
            with curve.open("a") as f:
                f.write("\t".join(row) + "\n")
            bar.write(f"step {step}: " + "  ".join(report))
            score = scores["synth"]["exact_acc"]  # the generated set picks the best checkpoint
            if score > best:
                best = score
                save(
                    run / "best.pt",
                    model=model.state_dict(),
                    shape=shape.to_dict(),
                    step=step,
                    charset=charset,
                    score=score,
                )
        if step % args.ckpt_every == 0 or step == args.steps or step % args.eval_every == 0:
            elapsed += now - t0
            t0 = now
            save_last()
    bar.close()
    elapsed += time.time() - t0
    save_last()
    print(f"done: {step} steps, {samples} lines, {elapsed / 3600:.2f} h", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
