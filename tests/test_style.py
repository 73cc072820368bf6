"""The house style holds across the repository: ruff's lint and format, and mypy on edge_ocr/
(../shared/STYLE.md, habit 9), so a change that breaks either fails the suite, not a review."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600
    )


def test_ruff_finds_nothing_to_lint_or_reformat() -> None:
    """`ruff check` and `ruff format --check` pass on every Python file of the repository."""
    lint = run("ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = run("ruff", "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_edge_ocr_type_checks() -> None:
    """mypy finds no type errors in the daemon's package (settings in pyproject.toml)."""
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
