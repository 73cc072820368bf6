"""Tests for the character language model (edge_ocr/charlm.py, scripts/charlm.py) and for
settling unsure readings with it (edge_ocr.ctc.rescore)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from ctc_frames import frame_logits, spelled

from edge_ocr import ctc
from edge_ocr.charlm import CharLM, default_lm_path
from edge_ocr.errors import ModelError
from scripts.charlm import build, count_ngrams, generated_text
from scripts.charlm import main as build_main
from scripts.charsets import read_charset

CHARSET = "abcdefghijklmnopqrstuvwxyz0123456789 .:-/"
TEXTS = ["indoor use only", "keep dry", "made in germany", "serial no: 4711", "model 22"] * 40


@pytest.fixture(scope="module")
def lm() -> CharLM:
    """An order-4 model of a few label phrases."""
    return build(count_ngrams(TEXTS, CHARSET, 4), CHARSET, 2, {"name": "test"})


def test_a_phrase_it_has_seen_beats_one_letter_off(lm: CharLM) -> None:
    """ "indoor" reads far likelier than "imdoor", "keep dry" than "keep drv"."""
    a, b, c, d = lm.score(["indoor use only", "imdoor use only", "keep dry", "keep drv"])
    assert a > b + 5 and c > d + 5


def test_every_context_is_a_distribution(lm: CharLM) -> None:
    """After any context (seen, partly seen, never seen), the probabilities of every character
    and the end of line add up to one: backoff weights and discounts are consistent."""
    following = [i + 1 for i in range(len(CHARSET))] + [lm.eos]
    for context in ("ind", "xq ", "l 2", ""):
        ids = [lm.bos] * (lm.order - 1 - len(context)) + lm.ids(context)
        windows = np.array([ids + [c] for c in following], np.int64)
        assert np.exp(lm.logprob(windows)).sum() == pytest.approx(1.0, abs=2e-3)


def test_a_saved_model_loads_back_and_scores_alike(lm: CharLM, tmp_path: Path) -> None:
    """save/load keeps the scores (log values stored at half precision) and the metadata."""
    path = tmp_path / "lm.npz"
    lm.save(path)
    again = CharLM.load(path)
    texts = ["indoor use only", "qqq", "model 4711"]
    np.testing.assert_allclose(again.score(texts), lm.score(texts), atol=0.05)
    assert (again.charset, again.order, len(again), again.meta["name"]) == (
        CHARSET,
        4,
        len(lm),
        "test",
    )


def test_a_missing_or_foreign_file_is_a_model_error(tmp_path: Path) -> None:
    """A path that is not there, or not a model, fails with a ModelError naming it."""
    with pytest.raises(ModelError, match="not found"):
        CharLM.load(tmp_path / "nope.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="bad.npz"):
        CharLM.load(bad)


def test_generated_text_is_the_recognizers_own_and_reproducible() -> None:
    """The build text is label lines and words within the charset, the same for one seed."""
    charset = read_charset()
    a = list(generated_text(charset, 400, seed=3))
    assert a == list(generated_text(charset, 400, seed=3)) != list(generated_text(charset, 400, 4))
    assert all(text and set(text) <= set(charset) for text in a)
    assert any(ch.isdigit() for text in a for ch in text)  # label lines
    assert any(text.isalpha() and len(text) > 3 for text in a)  # words


def test_the_build_script_writes_a_loadable_model(tmp_path: Path) -> None:
    """`python -m scripts.charlm` writes a model whose provenance says what went in."""
    out = tmp_path / "lm.npz"
    assert build_main(["--out", str(out), "--lines", "3000", "--order", "3"]) == 0
    model = CharLM.load(out)
    assert model.order == 3 and len(model) > 1000
    assert "--lines 3000" in model.meta["provenance"] and "no real text" in model.meta["provenance"]


def test_the_shipped_model_prefers_label_text() -> None:
    """The shipped model knows the words and tokens labels carry."""
    path = default_lm_path()
    if not path.is_file():
        pytest.fail(f"the shipped language model {path} is missing")
    shipped = CharLM.load(path)
    good, bad = shipped.score(["Ins.Cl. F  230V~ 50Hz", "Ims.Cl. F  23OV~ 5OHz"])
    assert good > bad + 10


# -- rescoring -------------------------------------------------------------------------------


def _logits(frames: list[dict[str, float]]) -> np.ndarray:
    return frame_logits(frames, CHARSET)


def test_an_unsure_character_is_settled_by_the_language_model(lm: CharLM) -> None:
    """ "i?door": 'm' at 0.55 and 'n' at 0.40 reads "imdoor" greedily, "indoor" rescored."""
    logits = _logits(spelled("indoor", {1: {"m": 0.55, "n": 0.40}}))
    assert ctc.greedy_decode(logits, CHARSET).text == "imdoor"
    out = ctc.rescore(logits, CHARSET, lm)
    assert out.text == "indoor"
    assert out.char_confidences[1] == pytest.approx(0.40, abs=1e-3)
    assert len(out.positions) == len(out.char_confidences) == 6
    assert out.positions[1] == 2  # the character's own frame


def test_a_character_read_too_faintly_is_put_back(lm: CharLM) -> None:
    """A blank frame where 'o' reached 0.3 between "ind" and "or" gives "indoor"."""
    frames = spelled("ind") + [{"o": 0.3}, {}] + spelled("or")
    logits = _logits(frames)
    assert ctc.greedy_decode(logits, CHARSET).text == "indor"
    assert ctc.rescore(logits, CHARSET, lm).text == "indoor"


def test_a_confident_reading_is_left_alone(lm: CharLM) -> None:
    """Text the model has never seen, read with confidence, comes back exactly as read."""
    logits = _logits(spelled("qx7zv"))
    greedy = ctc.greedy_decode(logits, CHARSET)
    assert ctc.rescore(logits, CHARSET, lm) == greedy


def test_nothing_read_is_not_made_into_text(lm: CharLM) -> None:
    """A blank line with a faint hint of a letter stays empty: no text is made up."""
    logits = _logits([{}, {"i": 0.3}, {}, {"n": 0.2}, {}])
    assert ctc.rescore(logits, CHARSET, lm).text == ""


def test_rescoring_keeps_to_the_allowed_characters(lm: CharLM) -> None:
    """With only digits allowed, no letter comes back, however much the model likes it."""
    logits = _logits(spelled("4711", {1: {"7": 0.5, "o": 0.45}}))
    mask = ctc.allowed_mask(CHARSET, "0123456789")
    out = ctc.rescore(logits, CHARSET, lm, mask)
    assert out.text.isdigit()


def test_far_apart_edits_are_each_settled(lm: CharLM) -> None:
    """Two unsure characters in different words are both fixed, the weight counted once each."""
    logits = _logits(
        spelled("indoor use only", {1: {"m": 0.55, "n": 0.40}, 12: {"b": 0.6, "n": 0.35}})
    )
    assert ctc.greedy_decode(logits, CHARSET).text == "imdoor use obly"
    assert ctc.rescore(logits, CHARSET, lm).text == "indoor use only"
    assert math.isfinite(ctc.rescore(logits, CHARSET, lm).confidence)
