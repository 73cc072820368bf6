"""edge_ocr.regions: configured fields cut out of a frame, straightened and turned."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_ocr import regions
from edge_ocr.config import FieldConfig
from edge_ocr.types import Frame


def frame(image: np.ndarray) -> Frame:
    return Frame(image=image, frame_id=1, source="test", captured_at=0.0)


def marked(w: int = 120, h: int = 40) -> np.ndarray:
    """A white label with a black block in its top-left corner."""
    image = np.full((h, w), 255, dtype=np.uint8)
    image[:10, :10] = 0
    return image


def test_no_fields_reads_the_whole_image_as_one_line() -> None:
    """Without configured fields there is one region, `text`, covering the frame."""
    image = marked()
    (region,) = regions.extract(frame(image), ())
    assert region.field == "text" and region.crop.shape == image.shape


def test_rect_crops_the_rectangle() -> None:
    """A rect field gives exactly that part of the frame."""
    image = np.arange(100 * 200, dtype=np.uint32).reshape(100, 200).astype(np.uint8)
    (region,) = regions.extract(frame(image), (FieldConfig(name="a", rect=(10, 20, 30, 5)),))
    assert np.array_equal(region.crop, image[20:25, 10:40])


def test_quad_of_a_tilted_label_is_warped_upright() -> None:
    """A label rotated in the frame comes back upright, marker top-left, at its own size."""
    label = marked(120, 40)
    canvas = np.full((300, 300), 255, dtype=np.uint8)
    canvas[130:170, 90:210] = label
    matrix = cv2.getRotationMatrix2D((150, 150), 30, 1.0)  # counter-clockwise
    tilted = cv2.warpAffine(canvas, matrix, (300, 300), borderValue=255)
    corners = np.array([[90, 130, 1], [210, 130, 1], [210, 170, 1], [90, 170, 1]], float)
    quad = tuple(tuple(map(float, p)) for p in (matrix @ corners.T).T)
    (region,) = regions.extract(frame(tilted), (FieldConfig(name="a", quad=quad),))
    assert abs(region.crop.shape[1] - 120) <= 1 and abs(region.crop.shape[0] - 40) <= 1
    assert region.crop[2:8, 2:8].mean() < 60  # the marker, top-left
    assert region.crop[-8:, -30:].mean() > 200  # white elsewhere


@pytest.mark.parametrize("degrees,corner", [(90, (0, -1)), (180, (-1, -1)), (270, (-1, 0))])
def test_rotate_turns_the_crop_clockwise(degrees: int, corner: tuple[int, int]) -> None:
    """rotate: 90/180/270 turns the crop clockwise; the top-left marker moves with it."""
    field = FieldConfig(name="a", rotate=degrees)
    (region,) = regions.extract(frame(marked(120, 40)), (field,))
    expected_shape = (40, 120) if degrees == 180 else (120, 40)
    assert region.crop.shape == expected_shape
    y, x = corner
    assert region.crop[y, x] == 0


def test_a_field_outside_the_frame_is_left_out_with_why_and_the_others_are_cut() -> None:
    """A rect or quad wholly outside the frame (a smaller frame than configured) gives no
    region and its reason; the fields that are inside are still cut out."""
    fields = (
        FieldConfig(name="far", rect=(500, 500, 10, 10)),
        FieldConfig(name="quad", quad=((300, 300), (340, 300), (340, 320), (300, 320))),
        FieldConfig(name="near", rect=(0, 0, 50, 20)),
    )
    missed: dict[str, str] = {}
    found = regions.extract(frame(marked()), fields, missed=missed)
    assert [r.field for r in found] == ["near"]
    assert set(missed) == {"far", "quad"}
    assert all("outside the" in why for why in missed.values())


def test_fields_carry_their_rules() -> None:
    """Each region keeps its field's allowed characters and pattern."""
    field = FieldConfig(name="a", rect=(0, 0, 50, 20), allowed="0123", pattern="[0-3]+")
    (region,) = regions.extract(frame(marked()), (field,))
    assert (region.allowed, region.pattern) == ("0123", "[0-3]+")
