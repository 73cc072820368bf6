"""Snapping misread words to listed words one edit away (edge_ocr/lexicon.py), and the shipped
word list (inside models/latin_charlm.npz)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ctc_frames import frame_logits, spelled

from edge_ocr import lexicon
from edge_ocr.charlm import CharLM, default_lm_path
from edge_ocr.ctc import greedy_decode
from edge_ocr.lexicon import WordList, snap

CHARSET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .:-/"
WORDS = WordList.of(["brown", "bronze", "india", "opening", "lote", "made"])


def _read(text: str, unsure: dict[int, dict[str, float]] | None = None) -> str:
    logits = frame_logits(spelled(text, unsure), CHARSET)
    out = snap(greedy_decode(logits, CHARSET), logits, CHARSET, WORDS)
    assert len(out.positions) == len(out.text) == len(out.char_confidences)
    return out.text


def test_the_list_answers_case_insensitively_and_names_neighbours_one_edit_away() -> None:
    assert "BROWN" in WORDS and "Brown" in WORDS and "brow" not in WORDS
    assert WORDS.neighbours("BRONN") == ["brown"]  # one change
    assert WORDS.neighbours("indla") == ["india"]
    assert WORDS.neighbours("dpening") == ["opening"]
    assert WORDS.neighbours("opeinng") == ["opening"]  # two letters swapped
    assert WORDS.neighbours("brn") == []  # two edits away


def test_a_word_read_one_letter_wrong_is_snapped_in_its_own_case() -> None:
    """ "BRONN" with W a close second at the fourth letter reads BROWN; Capitalized and lower
    case readings keep their case."""
    assert _read("BRONN", {3: {"N": 0.6, "W": 0.35}}) == "BROWN"
    assert _read("Indla", {3: {"l": 0.6, "i": 0.3}}) == "India"
    assert _read("made in dpening", {8: {"d": 0.7, "o": 0.2}}) == "made in opening"


def test_what_the_network_is_sure_of_stays_as_read() -> None:
    """A sure reading is not forced into a word (codes, names), nor is a word touching a digit
    or shorter than four letters, nor one in mixed case."""
    assert _read("BRONN") == "BRONN"
    assert _read("BRONN5", {3: {"N": 0.6, "W": 0.35}}) == "BRONN5"
    assert _read("Bronn", {3: {"n": 0.6, "w": 0.35}}) == "Brown"
    assert _read("bRoNN", {3: {"N": 0.6, "W": 0.35}}) == "bRoNN"
    assert _read("lot 7", {1: {"o": 0.5, "a": 0.45}}) == "lot 7"


def test_the_word_list_is_saved_with_the_language_model(tmp_path: Path) -> None:
    from scripts.charlm import build, count_ngrams

    lm = build(count_ngrams(["made in india"] * 20, CHARSET, 3), CHARSET, 2, {"name": "t"})
    lm.words = WORDS
    lm.save(tmp_path / "lm.npz")
    again = CharLM.load(tmp_path / "lm.npz")
    assert again.words is not None and np.array_equal(again.words.keys, WORDS.keys)


def test_the_shipped_list_holds_dictionary_and_label_grammar_words() -> None:
    """The shipped model's list knows English words and the label grammar's own (Lote, Herst),
    not random letter codes."""
    path = default_lm_path()
    if not path.is_file():
        pytest.fail(f"the shipped language model {path} is missing")
    words = CharLM.load(path).words
    assert words is not None and len(words) > 50_000
    assert all(w in words for w in ["opening", "BROWN", "Lote", "Herst", "warning"])
    assert sum(w in words for w in ["MZZQ", "XQJV", "KWPT", "ZRNX"]) == 0
    assert lexicon.MIN_LETTERS == 4
