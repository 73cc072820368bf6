"""The recognizer batches lines by width within a column budget and keeps the callers' order."""

from __future__ import annotations

from conftest_daemon import draw

from edge_ocr.recognizer import Recognizer, default_model_path, width_groups


def test_width_groups_respect_the_column_budget_widest_first() -> None:
    """Batches hold similar widths, never more than the budget unless one line alone is wider."""
    widths = [100, 512, 90, 300, 120, 600]
    groups = width_groups(widths, max_columns=640)
    assert sorted(i for g in groups for i in g) == list(range(len(widths)))
    assert groups[0] == [5]  # wider than the budget on its own: a batch of one
    for g in groups:
        assert len(g) == 1 or len(g) * max(widths[i] for i in g) <= 640
        assert [widths[i] for i in g] == sorted((widths[i] for i in g), reverse=True)


def test_small_batches_read_the_same_as_one_batch_in_the_callers_order() -> None:
    """Splitting a frame's lines into several model calls changes neither text nor order."""
    rec = Recognizer(default_model_path())
    words = ["PUMP 7", "IP65", "SERIAL 4711", "A1B2C3", "OK"]
    lines = [rec.prepare(draw(w)) for w in words]
    whole = rec.recognize_prepared(lines, max_columns=100_000)
    split = rec.recognize_prepared(lines, max_columns=200)

    # Batch content moves the scores a little (right padding; the LSTM's activations are
    # quantized per call), which can flip a space or a letter's case: compare what the
    # standard protocol compares.
    def protocol(texts: list[str]) -> list[str]:
        return ["".join(c for c in t.lower() if c.isalnum()) for t in texts]

    alone = [rec.recognize_prepared([line])[0].text for line in lines]
    assert protocol([d.text for d in split]) == protocol([d.text for d in whole])
    assert protocol([d.text for d in split]) == protocol(alone)
    assert len(set(protocol(alone))) == len(words)  # distinct lines: order is really checked


def test_each_view_maps_the_line_columns_it_shows() -> None:
    """A mark at column x of a line sits at (x + offset) * scale in every view, so character
    positions read in any view land back on the right place of the line."""
    import numpy as np

    rec = Recognizer(default_model_path(), views=3)
    line = np.full((rec.info.height, 200), 230, np.uint8)
    line[:, 120:124] = 20  # a dark bar at columns 120..123
    views = rec._views(line)
    assert len(views) == 3
    for view, (offset, scale) in views:
        assert view.shape[0] == rec.info.height
        dark = np.flatnonzero(view[view.shape[0] // 2] < 128)
        assert abs(dark.mean() - (121.5 + offset) * scale) <= 1.5


def test_several_views_keep_the_most_confident_reading() -> None:
    """With 3 views a line is read as cut, with a margin and stretched; the reading returned
    is the most confident of the three, unless the line as cut was read sure of every
    character (then it is not read again); 1 view reads the line as cut only."""
    import pytest

    from edge_ocr.recognizer import SURE_VIEW

    # Look-alikes side by side (B/8, S/5) leave any model unsure; plain codes it reads sure.
    words = ["SN 0815-4711", "IP65", "Lot B12", "Ref. 6845-1075-19", "B8B8 S5S5"]
    one = Recognizer(default_model_path(), views=1)
    three = Recognizer(default_model_path(), views=3)
    reread = 0
    for word in words:
        image = draw(word, height=24)
        line = three.prepare(image)
        alone = [one.recognize_prepared([v], max_columns=1)[0] for v, _ in three._views(line)]
        (best,) = three.recognize_prepared([line], max_columns=1)
        if min(alone[0].char_confidences) >= SURE_VIEW:
            top = alone[0]
        else:
            top = max(alone, key=lambda d: d.confidence)
            reread += 1
        assert (best.text, best.confidence) == (top.text, top.confidence)
        assert one.recognize([image])[0].text == alone[0].text
    assert 0 < reread < len(words)  # both ways are taken
    with pytest.raises(ValueError, match="views must be 1..3"):
        Recognizer(default_model_path(), views=4)


def test_the_language_model_settles_unsure_reads_and_must_share_the_charset() -> None:
    """With the shipped language model a clear print is read exactly, and greedily the same
    letters (a faint space may go either way: the language model settles it); a model over
    another charset is refused at start."""
    import pytest

    from edge_ocr.charlm import CharLM, default_lm_path
    from edge_ocr.errors import ModelError
    from scripts.charlm import build, count_ngrams

    greedy = Recognizer(default_model_path())
    settled = Recognizer(default_model_path(), lm=default_lm_path())
    for word in ["Indoor use only", "SN 0815-4711", "230V~ 50Hz"]:
        image = draw(word, height=24)
        assert settled.recognize([image])[0].text == word
        assert greedy.recognize([image])[0].text.replace(" ", "") == word.replace(" ", "")
    other = build(count_ngrams(["abc"] * 3, "abc", 2), "abc", 1, {})
    with pytest.raises(ModelError, match="charset"):
        Recognizer(default_model_path(), lm=other)
    assert isinstance(settled.lm, CharLM)
