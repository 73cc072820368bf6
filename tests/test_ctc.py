"""CTC decoding: collapsed repeats, blanks between doubles, masks, confidences and positions."""

from __future__ import annotations

import numpy as np

from edge_ocr import ctc

CHARSET = "ab c"


def _logits(frames: list[int], classes: int = len(CHARSET) + 1) -> np.ndarray:
    """Logits whose best class per frame is `frames[t]`, with a clear margin."""
    x = np.zeros((len(frames), classes), dtype=np.float32)
    x[np.arange(len(frames)), frames] = 8.0
    return x


def test_repeats_collapse_and_a_blank_separates_double_letters() -> None:
    """a a _ a b b -> 'aab': repeats merge, a blank between two a's keeps both."""
    out = ctc.greedy_decode(_logits([1, 1, 0, 1, 2, 2]), CHARSET)
    assert out.text == "aab"
    assert len(out.char_confidences) == 3
    assert 0.9 < out.confidence <= 1.0


def test_positions_give_the_first_frame_of_each_character() -> None:
    """Each character's position is the frame where it starts, so spaces split a line into words."""
    out = ctc.greedy_decode(_logits([0, 1, 1, 0, 3, 0, 0, 2, 4, 0]), CHARSET)
    assert out.text == "a bc"
    assert out.positions == (1, 4, 7, 8)


def test_mask_makes_the_best_allowed_character_win() -> None:
    """With only 'b' allowed, a frame whose best class is 'a' decodes as 'b', not nothing."""
    x = _logits([1, 0])
    x[0, 2] = 4.0  # 'b' second best
    mask = ctc.allowed_mask(CHARSET, "b")
    assert ctc.greedy_decode(x, CHARSET, mask).text == "b"


def test_length_ignores_batch_padding_frames() -> None:
    """Frames past `length` (padding of a wider line in the batch) are not decoded."""
    out = ctc.greedy_decode(_logits([1, 0, 2, 2]), CHARSET, length=2)
    assert out.text == "a"
    assert out.positions == (0,)


def test_line_likelihood_sums_every_path_that_reads_the_text() -> None:
    """log_likelihoods agrees with summing P(path) over all paths that collapse to each text,
    double letters (which need a blank between) and texts the frames cannot hold included."""
    import itertools

    rng = np.random.default_rng(0)
    probs = rng.random((5, 4))
    probs /= probs.sum(axis=1, keepdims=True)
    texts = [[1], [1, 2], [2, 2], [1, 2, 3], [], [3, 3, 3], [1, 1, 1, 1]]
    totals = dict.fromkeys(map(tuple, texts), 0.0)
    for path in itertools.product(range(4), repeat=5):
        read = tuple(c for i, c in enumerate(path) if c and (i == 0 or path[i - 1] != c))
        if read in totals:
            totals[read] += float(np.prod(probs[np.arange(5), path]))
    got = ctc.log_likelihoods(np.log(probs), texts)
    for text, value in zip(texts, got, strict=True):
        total = totals[tuple(text)]
        assert (value < -1e20) if total == 0 else abs(value - np.log(total)) < 1e-9
