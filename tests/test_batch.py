"""edge_ocr.batch and `edge-ocr batch`: backlog reading, output formats, errors, resume."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest_daemon import draw, write_image

from edge_ocr import batch
from edge_ocr.batch import BatchOptions, Prepared

REPO = Path(__file__).resolve().parent.parent
WORDS = ["HELLO", "A1B2", "IP65", "230V", "50HZ", "MOTOR", "LOT 7", "KW"]


def make_folder(folder: Path, count: int) -> list[Path]:
    """`count` drawn labels in `folder`, cycling through WORDS."""
    folder.mkdir(exist_ok=True)
    return [
        write_image(folder / f"{i:04d}.png", draw(WORDS[i % len(WORDS)], height=24))
        for i in range(count)
    ]


def make_many(folder: Path, count: int) -> list[Path]:
    """`count` images, enough that a run cannot finish between its first flush and a signal
    (the model reads several hundred small labels a second): 100 drawn, the rest hard links."""
    drawn = make_folder(folder, 100)
    links = [folder / f"link{i:04d}.png" for i in range(count - len(drawn))]
    for i, link in enumerate(links):
        os.link(drawn[i % len(drawn)], link)
    return drawn + links


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def edge_ocr_batch(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge_ocr", "batch", "--no-progress", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_every_image_is_read_once_as_a_json_line(
    tmp_path: Path, model_path: Path, expected: Callable[[str], str]
) -> None:
    """Each image gives one record with its text, confidences and batch information."""
    images = make_folder(tmp_path / "in", 20)
    out = tmp_path / "out.jsonl"
    summary = batch.run(BatchOptions(tmp_path / "in", out, model_path, batch_size=4))
    got = {r["path"]: r for r in records(out)}
    assert sorted(got) == sorted(str(p) for p in images)
    assert summary.read == 20 and summary.errors == 0 and summary.batches == 5
    for i, path in enumerate(images):
        r = got[str(path)]
        if WORDS[i % len(WORDS)] == "HELLO":  # a word the model reads at any batch padding
            assert r["text"] == expected("HELLO")
        assert 0 <= r["confidence"] <= 1 and r["ms"] >= 0 and 1 <= r["batch_size"] <= 4
        assert [c["char"] for c in r["chars"]] == list(r["text"])


def test_worker_processes_read_the_same_as_one_process(tmp_path: Path, model_path: Path) -> None:
    """Two worker processes give the same text for every image as one process does.

    What else shares a model call moves the scores a little (right padding, and the LSTM's
    activations are quantized per call), which can flip a borderline space ("LOT 7" / "LOT7"
    with 0.2.4): compared the way the standard protocol compares, as in test_recognizer.
    """
    make_folder(tmp_path / "in", 24)
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    batch.run(BatchOptions(tmp_path / "in", one, model_path, workers=1, batch_size=4))
    batch.run(BatchOptions(tmp_path / "in", two, model_path, workers=2, batch_size=4))

    def protocol(text: str) -> str:
        return "".join(c for c in text.lower() if c.isalnum())

    texts = [{r["path"]: protocol(r["text"]) for r in records(f)} for f in (one, two)]
    assert texts[0] == texts[1] and len(texts[0]) == 24
    assert len({r["batch"] for r in records(two)}) == 6  # batch ids unique across workers


def test_unreadable_files_become_error_records(tmp_path: Path, model_path: Path) -> None:
    """Corrupt, truncated, empty and oversized files are recorded as errors; the rest are read."""
    folder = tmp_path / "in"
    make_folder(folder, 3)
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    (folder / "text.jpg").write_text("not an image at all")
    (folder / "empty.bmp").write_bytes(b"")
    whole = (folder / "0000.png").read_bytes()
    (folder / "truncated.png").write_bytes(whole[: len(whole) // 2])
    (folder / "notes.txt").write_text("not an image name: not listed")
    out = tmp_path / "out.jsonl"
    summary = batch.run(BatchOptions(folder, out, model_path))
    got = {Path(r["path"]).name: r for r in records(out)}
    bad = {"corrupt.png", "text.jpg", "empty.bmp", "truncated.png"}
    assert set(got) == bad | {"0000.png", "0001.png", "0002.png"}
    assert all("error" in got[name] and "text" not in got[name] for name in bad)
    assert "truncated" in got["truncated.png"]["error"]
    assert summary.errors == 4 and summary.read == 3


def test_csv_output_is_chosen_by_the_extension(
    tmp_path: Path, model_path: Path, expected: Callable[[str], str]
) -> None:
    """A .csv output gets a header row and one row per image, errors in the error column."""
    folder = tmp_path / "in"
    make_folder(folder, 4)
    (folder / "bad.png").write_text("nope, with a\nnewline")
    out = tmp_path / "out.csv"
    batch.run(BatchOptions(folder, out, model_path, batch_size=2))
    rows = list(csv.DictReader(out.open(newline="")))
    assert list(rows[0]) == list(batch.CSV_COLUMNS)
    by_name = {Path(r["path"]).name: r for r in rows}
    assert by_name["0000.png"]["text"] == expected(WORDS[0])
    assert 0 <= float(by_name["0000.png"]["confidence"]) <= 1 and by_name["0000.png"]["error"] == ""
    assert len(by_name["0001.png"]["chars"].split()) == len(by_name["0001.png"]["text"])
    assert by_name["bad.png"]["error"] and by_name["bad.png"]["text"] == ""
    assert len(out.read_text().splitlines()) == 6  # one line per record, header included


def test_a_second_run_skips_images_already_in_the_output(tmp_path: Path, model_path: Path) -> None:
    """Running again on the same output reads only the images added since."""
    folder = tmp_path / "in"
    make_folder(folder, 5)
    out = tmp_path / "out.csv"
    batch.run(BatchOptions(folder, out, model_path))
    write_image(folder / "new.png", draw("NEW"))
    summary = batch.run(BatchOptions(folder, out, model_path))
    assert (summary.skipped, summary.read) == (5, 1)
    paths = [r["path"] for r in csv.DictReader(out.open(newline=""))]
    assert len(paths) == len(set(paths)) == 6


def test_a_csv_record_of_a_file_name_with_a_newline_is_not_read_again(
    tmp_path: Path, model_path: Path
) -> None:
    """A file name may hold a newline: its CSV record spans two lines (quoted), and a resumed
    run still finds it there instead of reading the image again and again."""
    folder = tmp_path / "in"
    make_folder(folder, 2)
    write_image(folder / "two\nlines.png", draw("ODD"))
    out = tmp_path / "out.csv"
    assert batch.run(BatchOptions(folder, out, model_path)).read == 3
    summary = batch.run(BatchOptions(folder, out, model_path))
    assert (summary.skipped, summary.read) == (3, 0)
    rows = list(csv.DictReader(out.open(newline="")))
    assert sorted(Path(r["path"]).name for r in rows) == sorted([p.name for p in folder.iterdir()])
    assert next(r["text"] for r in rows if "\n" in r["path"]) == "ODD"


def test_a_torn_last_line_is_cut_and_its_image_read_again(tmp_path: Path, model_path: Path) -> None:
    """A record torn by a kill is removed; its image is read again, the others are not."""
    folder = tmp_path / "in"
    images = make_folder(folder, 6)
    out = tmp_path / "out.jsonl"
    batch.run(BatchOptions(folder, out, model_path))
    lines = out.read_text().splitlines(keepends=True)
    torn = json.loads(lines[-1])["path"]
    out.write_text("".join(lines[:-1]) + lines[-1][:25])  # the last line lost its end
    summary = batch.run(BatchOptions(folder, out, model_path))
    assert (summary.skipped, summary.read) == (5, 1)
    got = records(out)
    assert sorted(r["path"] for r in got) == sorted(str(p) for p in images)
    assert got[-1]["path"] == torn


def test_a_damaged_line_in_the_middle_is_read_again(tmp_path: Path, model_path: Path) -> None:
    """A whole line that does not parse (e.g. zeros after a power cut) does not count as done."""
    folder = tmp_path / "in"
    make_folder(folder, 4)
    out = tmp_path / "out.jsonl"
    batch.run(BatchOptions(folder, out, model_path))
    lines = out.read_text().splitlines(keepends=True)
    damaged = json.loads(lines[1])["path"]
    out.write_text(lines[0] + "\0" * 40 + "\n" + "".join(lines[2:]))
    summary = batch.run(BatchOptions(folder, out, model_path))
    assert summary.read == 1 and records_paths_tail(out) == damaged


def records_paths_tail(out: Path) -> str:
    return str(json.loads(out.read_text().splitlines()[-1])["path"])


def test_resume_after_sigkill_repeats_and_skips_nothing(tmp_path: Path, model_path: Path) -> None:
    """`edge-ocr batch` killed with SIGKILL mid-run, then run again: every image exactly once."""
    folder = tmp_path / "in"
    images = make_many(folder, 3000)
    out = tmp_path / "out.jsonl"
    args = (str(folder), "--out", str(out), "--model", str(model_path))
    proc = edge_ocr_batch(*args, "--workers", "2", "--batch-size", "2")
    deadline = time.monotonic() + 60
    while not (out.exists() and out.stat().st_size > 2000):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no output within 60 s"
        time.sleep(0.005)
    children = _children(proc.pid)
    proc.kill()
    proc.communicate(timeout=30)
    written = out.read_text()
    assert written.count("\n") < len(images), "the run finished before it could be killed"
    _wait_gone(children)  # workers notice their parent is gone and exit

    again = edge_ocr_batch(*args, "--workers", "2")
    _, stderr = again.communicate(timeout=120)
    assert again.returncode == 0, stderr
    paths = [r["path"] for r in records(out)]
    assert len(paths) == len(set(paths)) == len(images)
    assert set(paths) == {str(p) for p in images}


def test_ctrl_c_stops_with_status_130_and_keeps_whole_records(
    tmp_path: Path, model_path: Path
) -> None:
    """SIGINT ends the run with 130; every line written is whole, and a rerun finishes the rest."""
    folder = tmp_path / "in"
    images = make_many(folder, 3000)
    out = tmp_path / "out.csv"
    args = (str(folder), "--out", str(out), "--model", str(model_path), "--batch-size", "2")
    proc = edge_ocr_batch(*args)
    deadline = time.monotonic() + 60
    while not (out.exists() and out.stat().st_size > 1500):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no output within 60 s"
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert out.read_text().endswith("\n")
    again = edge_ocr_batch(*args)
    again.communicate(timeout=120)
    paths = [r["path"] for r in csv.DictReader(out.open(newline=""))]
    assert sorted(paths) == sorted(str(p) for p in images)


def test_batch_cli_rejects_a_batch_size_of_zero(tmp_path: Path) -> None:
    """A batch size below 1 is a usage error: exit status 2."""
    proc = edge_ocr_batch(str(tmp_path), "--batch-size", "0")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "--batch-size" in stderr


def test_batch_cli_missing_folder_fails_with_status_1(tmp_path: Path) -> None:
    """A folder that does not exist is reported by name with exit status 1."""
    proc = edge_ocr_batch(str(tmp_path / "nowhere"))
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "nowhere" in stderr


def test_lines_are_batched_by_similar_width() -> None:
    """by_width sorts lines by width, so each batch holds neighbours in width; errors stay out."""
    widths = [300, 20, 310, 25, 150, 160, 30]
    lines = [Prepared(Path(f"{w}.png"), np.zeros((32, w), np.uint8)) for w in widths]
    lines.append(Prepared(Path("bad.png"), None, "corrupt"))
    groups = by_width_names(batch.by_width(lines, 2, max_columns=10_000))
    assert groups == [["310", "300"], ["160", "150"], ["30", "25"], ["20"]]


def test_a_batch_of_wide_lines_holds_fewer_lines() -> None:
    """A batch never holds more columns than max_columns (lines x widest), so memory is bounded."""
    widths = [310, 300, 160, 150, 140, 20]
    lines = [Prepared(Path(f"{w}.png"), np.zeros((32, w), np.uint8)) for w in widths]
    groups = by_width_names(batch.by_width(lines, 8, max_columns=700))
    assert groups == [["310", "300"], ["160", "150", "140", "20"]]


def by_width_names(groups: list[list[Prepared]]) -> list[list[str]]:
    return [[p.path.stem for p in group] for group in groups]


def test_progress_line_shows_count_rate_and_eta() -> None:
    """The progress line says how many are done of how many, the rate and the time left."""
    stream = io.StringIO()
    progress = batch.Progress(200, stream)
    progress.update(50, errors=2)
    line = progress.line(now=progress._start + 10.0)
    assert "50/200" in line and "25.0%" in line and "5.0 img/s" in line
    assert "ETA 0:30" in line and "2 error(s)" in line
    assert stream.getvalue().count("\n") == 1  # not a terminal: whole lines, not \r redraws


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _wait_gone(pids: list[int], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    for pid in pids:
        while Path(f"/proc/{pid}").exists() and _state(pid) != "Z":
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                pytest.fail(f"worker {pid} outlived its killed parent")
            time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "X"


def test_resume_from_another_working_directory_repeats_nothing(
    tmp_path: Path, model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run started with a relative folder and resumed from elsewhere skips what it read:
    records name images by absolute path."""
    images = make_folder(tmp_path / "in", 4)
    out = tmp_path / "out.jsonl"
    monkeypatch.chdir(tmp_path)
    batch.run(BatchOptions(Path("in"), out, model_path))
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    summary = batch.run(BatchOptions(Path("../in"), out, model_path))
    assert (summary.skipped, summary.read) == (4, 0)
    assert sorted(r["path"] for r in records(out)) == sorted(str(p) for p in images)


def test_a_second_run_on_the_same_output_is_refused(tmp_path: Path, model_path: Path) -> None:
    """Two runs appending to one file would write every image twice: the second is refused
    while the first holds the file, and the file is left as the first wrote it."""
    make_folder(tmp_path / "in", 2)
    out = tmp_path / "out.jsonl"
    first = batch.Output(out)
    try:
        with pytest.raises(batch.EdgeOcrError, match="another edge-ocr batch is writing it"):
            batch.run(BatchOptions(tmp_path / "in", out, model_path))
    finally:
        first.close()
    assert out.read_text() == ""
    assert batch.run(BatchOptions(tmp_path / "in", out, model_path)).read == 2
