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
