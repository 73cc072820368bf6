"""How narrow a word space a recognizer still reads: phrases drawn in many fonts, no photo effects,
their word spaces set to a range of widths; prints, per model, the lines read with exactly their
spaces (no space lost, none added) for each width and letter spacing.

    python -m scripts.spaces --model models/latin_crnn_int8.onnx --model runs/export/rX_int8.onnx
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np

from scripts.charsets import DEFAULT_CHARSET, read_charset
from scripts.synthlib.fonts import list_fonts, load_faces
from scripts.synthlib.glyphs import render_font

PHRASES = (
    "panel spam",
    "Use by 05/09",
    "Typ: E9-4/4",
    "IOTA Secy towed",
    "Ref. KP366",
    "Made in EU",
    "BEST BEFORE",
    "Serial: 4471",
)
SPACES_EM = (0.15, 0.2, 0.25, 0.3, 0.4)
TRACKING_EM = (0.0, 0.1)
SIZE = 28  # px to the em: a legible line, so the space is all that is tested


def phrase_images(faces: int, seed: int) -> list[tuple[float, float, str, np.ndarray]]:
    """(space em, tracking em, text, image): every phrase in `faces` fonts drawn by `seed`, dark
    on white, for every space width and letter spacing."""
    pool = load_faces(list_fonts(), read_charset(DEFAULT_CHARSET))
    chosen = random.Random(seed).sample(pool, min(faces, len(pool)))
    out = []
    for tracking in TRACKING_EM:
        for space in SPACES_EM:
            for face in chosen:
                for text in PHRASES:
                    if not set(text) - {" "} <= face.coverage:
                        continue
                    ink = render_font(face.path, text, SIZE, tracking * SIZE, space=space * SIZE)
                    image = 255 - ink.mask
                    out.append((space, tracking, text, np.pad(image, 4, constant_values=255)))
    return out


def spaces_right(recognizer: object, lines: list[tuple[str, np.ndarray]]) -> int:
    """How many of the (text, image) lines `recognizer` reads with exactly their spaces."""
    read = recognizer.recognize([image for _, image in lines])  # type: ignore[attr-defined]
    return sum(r.text.count(" ") == t.count(" ") for (t, _), r in zip(lines, read, strict=True))


def main(argv: list[str] | None = None) -> None:
    from edge_ocr.charlm import default_lm_path
    from edge_ocr.recognizer import Recognizer

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", type=Path, required=True)
    p.add_argument("--faces", type=int, default=40, help="fonts drawn from those installed")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    images = phrase_images(args.faces, args.seed)
    header = " | ".join(f"{s} em" for s in SPACES_EM)
    print(f"| model | letters | {header} |\n|---|---|{'---:|' * len(SPACES_EM)}")
    for model in args.model:
        recognizer = Recognizer(model, threads=1, lm=default_lm_path())
        for tracking in TRACKING_EM:
            cells = []
            for space in SPACES_EM:
                cell = [(t, im) for s, tr, t, im in images if s == space and tr == tracking]
                cells.append(f"{spaces_right(recognizer, cell)}/{len(cell)}")
            letters = "as the font sets them" if tracking == 0 else f"{tracking} em further apart"
            print(f"| {model.name} | {letters} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
