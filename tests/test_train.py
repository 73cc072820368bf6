"""Tests for scripts/train.py: a smoke run of the recognizer's training through its real data
worker, resumed where it stopped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scripts import train  # noqa: E402
from scripts.crnn import CrnnShape  # noqa: E402


def test_smoke_training_resumes_from_its_last_checkpoint(tmp_path: Path) -> None:
    """Two steps of a tiny net through a spawned data worker write the curve and checkpoints;
    the same command with more steps continues from step 2, not from scratch."""
    run = tmp_path / "run"
    common = ["--run", str(run), "--channels", "8,8,8,8,8,8,8", "--hidden", "8"]
    common += ["--batch", "2", "--workers", "1", "--threads", "1", "--warmup", "1"]
    common += ["--val-count", "2", "--eval-every", "2", "--real", str(tmp_path / "none")]
    common += ["--label-share", "0.8"]  # the mix reaches the spawned worker
    common += ["--replay", "0.5"]  # step 2 of 4 replays step 1's hardest lines
    common += ["--truncate", "0.25"]  # of 2 lines a batch, the harder one is not learned from
    common += ["--ema", "0.5"]
    assert train.main([*common, "--steps", "2"]) == 0
    first = torch.load(run / "last.pt", map_location="cpu", weights_only=False)
    assert first["step"] == 2 and first["samples"] == 4
    assert train.main([*common, "--steps", "4"]) == 0
    last = torch.load(run / "last.pt", map_location="cpu", weights_only=False)
    assert last["step"] == 4 and last["samples"] == 8
    assert CrnnShape.from_dict(last["shape"]).hidden == 8
    rows = (run / "curve.tsv").read_text().splitlines()
    assert rows[0].startswith("step\t") and [r.split("\t")[0] for r in rows[1:]] == ["2", "4"]
    assert (run / "best.pt").exists()
    ema = torch.load(run / "ema.pt", map_location="cpu", weights_only=False)
    assert ema["step"] == 4 and ema["model"].keys() == last["model"].keys()
    assert any(not torch.equal(ema["model"][k], last["model"][k]) for k in ema["model"])


def test_weight_average_follows_the_weights_by_its_decay() -> None:
    """`--ema`: each step moves the running mean (1 - decay) of the way to the new weights;
    BatchNorm's integer batch counter is the network's own."""
    mean = train.WeightAverage(0.75, {"w": torch.zeros(2), "n": torch.tensor(0)})
    for _ in range(2):
        mean.update({"w": torch.tensor([4.0, -4.0]), "n": torch.tensor(7)})
    assert torch.allclose(mean.state["w"], torch.tensor([1.75, -1.75]))
    assert int(mean.state["n"]) == 7
    with pytest.raises(SystemExit):
        train.main(["--run", "unused", "--ema", "1.0"])


def test_bf16_only_where_the_cpu_computes_it(tmp_path: Path) -> None:
    """`--precision auto` trains in bf16 only on CPUs with bf16 instructions (emulated bf16 made
    training 9x slower on an AVX2-only EPYC); an explicit choice wins either way."""
    avx2 = tmp_path / "avx2"
    avx2.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma avx512f\n")
    zen4 = tmp_path / "zen4"
    zen4.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n")
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd asimddp bf16 i8mm\n")
    assert not train.native_bf16("cpu", str(avx2))
    assert train.native_bf16("cpu", str(zen4))
    assert train.native_bf16("cpu", str(arm))
    assert not train.native_bf16("cpu", str(tmp_path / "missing"))
    assert train.use_bf16("bf16", "cpu") and not train.use_bf16("fp32", "cpu")


def test_hard_lines_are_trained_on_once_more_hardest_first() -> None:
    """`--replay`: every `every`-th step is a batch of the lines earlier batches found hardest
    (highest loss per character), each replayed once; easy lines never come back."""
    hard = train.HardLines(share=0.25, batch=4, seed=0)
    assert hard.every == 4 and hard.per_batch == 2
    assert not hard.due(3)  # nothing offered yet
    for b in range(3):
        lines = [np.full((32, 40 + 8 * i), b, np.uint8) for i in range(4)]
        texts = [f"b{b}l{i}" for i in range(4)]
        hard.offer(lines, texts, torch.tensor([0.1, 2.0 + b, 0.2, 1.0 + b]))
    assert [hard.due(s) for s in range(4)] == [False, False, False, True]
    lines, texts = hard.take()
    assert len(set(texts)) == 4
    assert set(texts) <= {f"b{b}l{i}" for b in range(3) for i in (1, 3)}  # the high-loss ones
    assert [line.shape[1] for line in lines] == sorted(line.shape[1] for line in lines)
    assert len(hard.pool) == 2 and not hard.due(7)  # taken lines leave the pool
    with pytest.raises(ValueError, match="--replay"):
        train.HardLines(share=0.9, batch=4, seed=0)


def test_truncation_leaves_out_the_highest_loss_lines() -> None:
    """`--truncate`: a batch's lines of highest loss per character (generated lines past
    reading) are left out of its loss; nothing is left out at 0, and at least one line when
    any share is asked for."""
    losses = torch.tensor([0.3, 9.0, 0.1, 0.2, 7.0, 0.4, 0.5, 0.6, 0.7, 0.8])
    assert sorted(train.kept_lines(losses, 0.2).tolist()) == [0, 2, 3, 5, 6, 7, 8, 9]
    assert sorted(train.kept_lines(losses, 0.0).tolist()) == list(range(10))
    assert sorted(train.kept_lines(losses, 0.01).tolist()) == [0, 2, 3, 4, 5, 6, 7, 8, 9]
    with pytest.raises(SystemExit):
        train.main(["--run", "unused", "--truncate", "0.5"])
