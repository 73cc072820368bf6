"""scripts/spaces.py: word spaces of a set width, and the shipped model reading them."""

from __future__ import annotations

import pytest

pytest.importorskip("PIL")

from scripts import spaces  # noqa: E402


def test_shipped_model_reads_font_width_spaces_and_the_table_names_every_width(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A phrase set with a font's usual word space (0.3 em) is read with its spaces, wider spaces
    draw wider lines, and the script's table has a cell for every width and letter spacing."""
    images = spaces.phrase_images(faces=4, seed=3)
    width = {
        s: sum(im.shape[1] for sp, tr, _, im in images if sp == s and tr == 0)
        for s in spaces.SPACES_EM
    }
    ordered = list(width.values())
    assert all(a < b for a, b in zip(ordered, ordered[1:], strict=False))

    from edge_ocr.recognizer import Recognizer, default_model_path

    recognizer = Recognizer(default_model_path(), threads=1)
    usual = [(t, im) for sp, tr, t, im in images if sp == 0.3 and tr == 0]
    assert spaces.spaces_right(recognizer, usual) >= 0.9 * len(usual)

    spaces.main(["--model", str(default_model_path()), "--faces", "2"])
    rows = [r for r in capsys.readouterr().out.splitlines() if r.startswith("| latin_crnn")]
    assert len(rows) == len(spaces.TRACKING_EM)
    assert all(r.count("/") == len(spaces.SPACES_EM) for r in rows)
