"""edge_ocr.cli: the `edge-ocr` command's subcommands and exit statuses."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from conftest_daemon import (
    SMALL_PRINT,
    box_overlap,
    draw,
    draw_plate,
    draw_small_print,
    spaces_aside,
    write_image,
)

from edge_ocr import cli

REPO = Path(__file__).resolve().parent.parent


def edge_ocr(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_ocr", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def test_read_json_gives_one_object_per_image(
    tmp_path: Path, model_path: Path, expected: Callable[[str], str]
) -> None:
    """`read --json` prints path, text, confidence, ms and per-character confidences."""
    a = write_image(tmp_path / "a.png", draw("HELLO"))
    b = write_image(tmp_path / "b.jpg", draw("A1B2"))
    result = edge_ocr("read", "--json", "--model", str(model_path), str(a), str(b))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["path"] for line in lines] == [str(a), str(b)]
    assert lines[0]["text"] == expected("HELLO")
    for line in lines:
        assert 0 <= line["confidence"] <= 1 and line["ms"] >= 0
        assert [c["char"] for c in line["chars"]] == list(line["text"])


def test_read_reports_an_unreadable_image_and_reads_the_rest(
    tmp_path: Path, model_path: Path
) -> None:
    """A bad image is named on stderr, the others are still read, and the status is 1."""
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    good = write_image(tmp_path / "good.png", draw("OK"))
    missing = tmp_path / "missing.png"
    result = edge_ocr("read", "--model", str(model_path), str(bad), str(missing), str(good))
    assert result.returncode == 1
    assert f"{bad}: not a supported image" in result.stderr
    assert f"{missing}: cannot read file" in result.stderr
    assert result.stdout.startswith(f"{good}\t")


def test_read_takes_paths_from_stdin(tmp_path: Path, model_path: Path) -> None:
    """`-` reads image paths from standard input, one per line."""
    paths = [str(write_image(tmp_path / f"{i}.png", draw(str(i)))) for i in range(3)]
    result = edge_ocr("read", "--model", str(model_path), "-", stdin="\n".join(paths) + "\n")
    assert result.returncode == 0, result.stderr
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == paths


def test_read_allowed_characters_constrain_the_decoder(tmp_path: Path, model_path: Path) -> None:
    """With --allowed only those characters can appear in the text."""
    image = write_image(tmp_path / "a.png", draw("HELLO 42"))
    result = edge_ocr(
        "read", "--json", "--allowed", "0123456789", "--model", str(model_path), str(image)
    )
    assert set(json.loads(result.stdout)["text"]) <= set("0123456789")


@pytest.mark.parametrize(
    "args,message",
    [
        (("--threads", "0"), "--threads: must be at least 1, got 0"),
        (("--allowed", ""), "--allowed: must name at least one character"),
    ],
)
def test_read_refuses_options_that_cannot_work(
    tmp_path: Path, model_path: Path, args: tuple[str, ...], message: str
) -> None:
    """No threads, or no allowed character, is a usage error (2), as in the config file."""
    image = write_image(tmp_path / "a.png", draw("OK"))
    result = edge_ocr("read", *args, "--model", str(model_path), str(image))
    assert result.returncode == 2 and message in result.stderr and result.stdout == ""


def test_read_into_a_pipe_closed_early_ends_quietly(tmp_path: Path, model_path: Path) -> None:
    """`edge-ocr read *.png | head -1`: when the reader leaves, no traceback on stderr."""
    paths = [str(write_image(tmp_path / f"{i}.png", draw(f"N{i}"))) for i in range(10)]
    proc = subprocess.Popen(  # 1000 lines to print: far more than one can before the close
        [sys.executable, "-m", "edge_ocr", "read", "--model", str(model_path), *paths * 100],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(paths[0].encode())
    proc.stdout.close()  # as `head -1` does
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


def test_read_with_a_missing_model_exits_3(tmp_path: Path) -> None:
    """A model that cannot be loaded is a model error with exit status 3."""
    result = edge_ocr("read", "--model", str(tmp_path / "none.onnx"), "x.png")
    assert result.returncode == 3 and "model file not found" in result.stderr


def test_check_config_accepts_a_valid_file(tmp_path: Path, model_path: Path) -> None:
    """check-config loads the model, checks the fields against it, and exits 0."""
    (tmp_path / "inbox").mkdir()
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model": {"path": str(model_path)},
                "source": {"folder": {"path": str(tmp_path / "inbox")}},
                "outbox": {"path": str(tmp_path / "o.sqlite3")},
                "fields": [{"name": "n", "allowed": "0123456789"}],
            }
        )
    )
    result = edge_ocr("check-config", str(config))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_check_config_refuses_characters_the_model_lacks(tmp_path: Path, model_path: Path) -> None:
    """A field allowing a character outside the model's charset is a config error."""
    (tmp_path / "inbox").mkdir()
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model": {"path": str(model_path)},
                "source": {"folder": {"path": str(tmp_path / "inbox")}},
                "outbox": {"path": str(tmp_path / "o.sqlite3")},
                "fields": [{"name": "n", "allowed": "0123\u4e2d"}],
            }
        )
    )
    result = edge_ocr("check-config", str(config))
    assert result.returncode == 2 and "fields[0].allowed" in result.stderr


def test_run_with_a_missing_config_file_exits_2(tmp_path: Path) -> None:
    """`run` with a config file that does not exist says so and exits 2."""
    result = edge_ocr("run", "--config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2 and "config file not found" in result.stderr


def test_logs_under_journald_carry_priority_and_no_timestamp(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With JOURNAL_STREAM set, log lines are `<priority>logger: message`, no timestamp."""
    monkeypatch.setenv("JOURNAL_STREAM", "8:1234")
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        cli.setup_logging("INFO")
        logging.getLogger("edge_ocr.test").warning("disk %s is full", "/var")
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
    assert capsys.readouterr().err == "<4>edge_ocr.test: disk /var is full\n"


def test_logs_outside_journald_carry_a_timestamp(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without JOURNAL_STREAM, log lines start with a timestamp and the level."""
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        cli.setup_logging("INFO")
        logging.getLogger("edge_ocr.test").info("hello")
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
    assert re.match(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO edge_ocr.test: hello\n$", capsys.readouterr().err
    )


def test_read_detect_finds_and_reads_every_line_in_reading_order(
    tmp_path: Path, model_path: Path, expected: Callable[[str], str]
) -> None:
    """`read --detect --json` gives each printed line of a frame with its text and quad."""
    words = ["PUMP7", "IP65", "4711"]
    frame, boxes = draw_plate(words)
    image = write_image(tmp_path / "plate.jpg", frame)
    result = edge_ocr("read", "--detect", "--json", "--model", str(model_path), str(image))
    assert result.returncode == 0, result.stderr
    (body,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert body["path"] == str(image) and body["ms"] > 0
    lines = body["lines"]
    assert [line["text"] for line in lines] == [expected(w) for w in words]
    for line, box in zip(lines, boxes, strict=True):
        assert len(line["quad"]) == 4 and box_overlap(line["quad"], box) > 0.5
        assert 0 < line["confidence"] <= 1
        assert [c["char"] for c in line["chars"]] == list(line["text"])


def test_read_detect_on_an_empty_frame_reads_no_lines(tmp_path: Path) -> None:
    """A frame without text gives an empty list of lines, not an error."""
    image = write_image(tmp_path / "blank.png", draw_plate([" "])[0])
    result = edge_ocr("read", "--detect", "--json", str(image))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["lines"] == []


def test_read_settles_unsure_characters_unless_told_not_to(tmp_path: Path) -> None:
    """read uses the shipped language model; --no-lm reads each character on its own (the same
    letters on clear print, a faint space may go either way); a language model that is not
    there fails the start with exit 3, naming the file."""
    image = write_image(tmp_path / "a.png", draw("Indoor use only"))
    with_lm = edge_ocr("read", "--json", str(image))
    without = edge_ocr("read", "--json", "--no-lm", str(image))
    assert with_lm.returncode == without.returncode == 0, with_lm.stderr + without.stderr
    assert json.loads(with_lm.stdout)["text"] == "Indoor use only"
    assert json.loads(without.stdout)["text"].replace(" ", "") == "Indooruseonly"
    missing = edge_ocr("read", "--lm", str(tmp_path / "nope.npz"), str(image))
    assert missing.returncode == 3 and "nope.npz" in missing.stderr
    both = edge_ocr("read", "--lm", "x.npz", "--no-lm", str(image))
    assert both.returncode == 2


def test_read_detector_without_detect_is_a_usage_error(tmp_path: Path) -> None:
    """--detector, --max-side or --no-zoom alone is refused with exit 2, naming the option."""
    image = write_image(tmp_path / "a.png", draw("A"))
    result = edge_ocr("read", "--detector", "x.onnx", str(image))
    assert result.returncode == 2 and "--detector" in result.stderr
    result = edge_ocr("read", "--max-side", "960", str(image))
    assert result.returncode == 2 and "--max-side" in result.stderr
    result = edge_ocr("read", "--no-zoom", str(image))
    assert result.returncode == 2 and "--no-zoom" in result.stderr


def test_read_detect_max_side_trades_small_text_for_speed(tmp_path: Path) -> None:
    """Small print in a 1920x1080 frame is past one look at the default 640 px, and read with
    --max-side 1280; an impossible size is refused, naming the option."""
    image = write_image(tmp_path / "far.png", draw_small_print())
    result = edge_ocr("read", "--detect", "--json", "--no-zoom", str(image))
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["lines"]) < len(SMALL_PRINT)
    result = edge_ocr("read", "--detect", "--json", "--max-side", "1280", str(image))
    read = [line["text"] for line in json.loads(result.stdout)["lines"]]
    assert spaces_aside(read) == spaces_aside(SMALL_PRINT)
    result = edge_ocr("read", "--detect", "--max-side", "10", str(image))
    assert result.returncode == 2 and "--max-side" in result.stderr
