"""Tests for scripts/metrics.py: protocol normalization, CER, scoring and the labels loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.metrics import cer, edit_distance, load_labeled_folder, normalize_protocol, score


def test_normalize_protocol_lowercases_and_keeps_only_alphanumerics() -> None:
    """Case, punctuation and spaces vanish; digits stay."""
    assert normalize_protocol("Hello, World-42!") == "helloworld42"


def test_normalize_protocol_drops_non_ascii_letters() -> None:
    """Accented letters are outside [a-z0-9] and are dropped, not folded."""
    assert normalize_protocol("Café") == "caf"


def test_edit_distance_counts_insertions_deletions_substitutions() -> None:
    """The classic kitten/sitting pair is three edits, in either order."""
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("sitting", "kitten") == 3
    assert edit_distance("", "abc") == 3
    assert edit_distance("abc", "abc") == 0


def test_cer_is_edit_distance_over_ground_truth_length() -> None:
    """One wrong character in four is a CER of 0.25."""
    assert cer("TEST", "TEXT") == pytest.approx(0.25)


def test_cer_is_case_sensitive() -> None:
    """CER works on the raw strings, so a case change is an error."""
    assert cer("abc", "ABC") == pytest.approx(1.0)


def test_cer_can_exceed_one_when_prediction_is_longer() -> None:
    """Insertions beyond the ground truth length push CER above 1."""
    assert cer("abcdef", "ab") == pytest.approx(2.0)


def test_cer_of_empty_ground_truth_is_zero_or_one() -> None:
    """An empty label cannot divide by zero: 0 when both are empty, else 1."""
    assert cer("", "") == 0.0
    assert cer("x", "") == 1.0


def test_score_separates_protocol_and_exact_accuracy() -> None:
    """A case-only or punctuation-only miss passes the protocol but not the exact match."""
    result = score(["hello", "World!", "abc"], ["HELLO", "World", "xyz"])
    assert result["protocol_acc"] == pytest.approx(2 / 3)
    assert result["exact_acc"] == pytest.approx(0.0)
    assert set(result) == {"protocol_acc", "exact_acc", "cer"}


def test_score_mean_cer_averages_per_line() -> None:
    """Mean CER is the average of per-line CERs, not pooled over characters."""
    result = score(["ab", "abcd"], ["ab", "abcx"])
    assert result["cer"] == pytest.approx((0.0 + 0.25) / 2)
    assert result["exact_acc"] == pytest.approx(0.5)


def test_score_rejects_mismatched_lengths() -> None:
    """Predictions and ground truths must pair up one to one."""
    with pytest.raises(ValueError):
        score(["a"], ["a", "b"])


def test_score_rejects_empty_input() -> None:
    """Scoring nothing is a mistake, not an accuracy of zero."""
    with pytest.raises(ValueError):
        score([], [])


def _write_labels(folder: Path, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "labels.tsv").write_text(text, encoding="utf-8")


def test_load_labeled_folder_resolves_paths_against_the_folder(tmp_path: Path) -> None:
    """Image paths come back absolute, relative to the labels file's folder."""
    _write_labels(tmp_path / "set", "images/0.png\tHELLO\nimages/1.png\tWorld 42\n")
    items = load_labeled_folder(tmp_path / "set")
    assert items == [
        (str(tmp_path / "set" / "images" / "0.png"), "HELLO"),
        (str(tmp_path / "set" / "images" / "1.png"), "World 42"),
    ]


def test_load_labeled_folder_keeps_spaces_and_tabs_in_text(tmp_path: Path) -> None:
    """Only the first tab splits; the rest of the line, spaces included, is the text."""
    _write_labels(tmp_path, "a.png\t  two words \n")
    assert load_labeled_folder(tmp_path)[0][1] == "  two words "


def test_load_labeled_folder_honours_limit(tmp_path: Path) -> None:
    """`limit` returns the first N items in file order."""
    _write_labels(tmp_path, "".join(f"{i}.png\tw{i}\n" for i in range(10)))
    items = load_labeled_folder(tmp_path, limit=3)
    assert [text for _, text in items] == ["w0", "w1", "w2"]


def test_load_labeled_folder_skips_blank_lines_and_crlf(tmp_path: Path) -> None:
    """Blank lines are ignored and Windows line endings do not leak into the text."""
    _write_labels(tmp_path, "a.png\tA\r\n\r\nb.png\tB\r\n")
    assert [text for _, text in load_labeled_folder(tmp_path)] == ["A", "B"]


def test_load_labeled_folder_rejects_line_without_tab(tmp_path: Path) -> None:
    """A malformed line names the file and line number."""
    _write_labels(tmp_path, "a.png\tA\nb.png B\n")
    with pytest.raises(ValueError, match=r"labels.tsv:2"):
        load_labeled_folder(tmp_path)


def test_load_labeled_folder_requires_labels_file(tmp_path: Path) -> None:
    """A folder without labels.tsv is a clear error."""
    with pytest.raises(FileNotFoundError):
        load_labeled_folder(tmp_path)
