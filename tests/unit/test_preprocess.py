"""Preprocess: pages come out upright, straight and clean; blank back sides are flagged."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mailroom.core.domain import PageImage
from mailroom.demo.scan import EXAMPLE_LETTER, degrade, render_page
from tests.scan_edges_helpers import near_the_edge
from workers.preprocess import content_box, prepare_page


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    return render_page(EXAMPLE_LETTER, seed=4)


def test_three_degree_skewed_page_is_straightened(clean: np.ndarray) -> None:
    skewed = degrade(clean, skew=3.0, noise=0.2, seed=1)
    prepared = prepare_page(PageImage(number=1, image=skewed, dpi=300))
    assert prepared.skew_degrees == pytest.approx(-3.0, abs=0.15)
    # Preparing the result again finds nothing left to straighten.
    again = prepare_page(PageImage(number=1, image=prepared.image, dpi=300))
    assert abs(again.skew_degrees) <= 0.1
    assert again.rotation == 0


@pytest.mark.parametrize(("turned", "expected"), [(0, 0), (90, 270), (180, 180), (270, 90)])
def test_turned_page_is_turned_upright(clean: np.ndarray, turned: int, expected: int) -> None:
    scan = degrade(clean, rotate=turned, skew=-1.5, blur=0.8, background="grey", seed=2)
    prepared = prepare_page(PageImage(number=1, image=scan, dpi=300))
    assert prepared.rotation == expected
    assert prepared.image.shape == clean.shape  # portrait again


def test_blank_back_side_is_flagged(clean: np.ndarray) -> None:
    back = np.full_like(clean, 255)
    scan = degrade(back, noise=0.3, background="uneven", jpeg_quality=50, seed=3)
    prepared = prepare_page(PageImage(number=2, image=scan, dpi=300))
    assert prepared.blank


def test_page_with_a_single_line_is_not_blank(clean: np.ndarray) -> None:
    one_line = render_page(["Anlage: Kopie des Bescheids vom 3. März 2024"], seed=4)
    prepared = prepare_page(
        PageImage(number=1, image=degrade(one_line, noise=0.2, seed=5), dpi=300)
    )
    assert not prepared.blank


def test_grey_paper_becomes_white(clean: np.ndarray) -> None:
    grey = degrade(clean, background="grey", seed=6)
    prepared = prepare_page(PageImage(number=1, image=grey, dpi=300))
    assert np.median(grey) < 230
    assert np.median(prepared.image) >= 245


@pytest.mark.parametrize("dpi", [150, 600])
def test_resolution_is_normalised_to_300_dpi(clean: np.ndarray, dpi: int) -> None:
    factor = dpi / 300
    height, width = round(clean.shape[0] * factor), round(clean.shape[1] * factor)
    resized = np.asarray(
        cv2.resize(clean, (width, height), interpolation=cv2.INTER_AREA), dtype=np.uint8
    )
    prepared = prepare_page(PageImage(number=1, image=resized, dpi=dpi))
    assert prepared.dpi == 300
    assert abs(prepared.image.shape[1] - clean.shape[1]) <= 2


# --- scanner borders and punch holes ---------------------------------------------------

MM = 300 / 25.4


def _dark_share(region: np.ndarray) -> float:
    return float(np.mean(region < 128))


def _frame(image: np.ndarray, mm: float) -> np.ndarray:
    """The pixels within ``mm`` of any edge."""
    d = round(mm * MM)
    return np.concatenate(
        [image[:d].ravel(), image[-d:].ravel(), image[:, :d].ravel(), image[:, -d:].ravel()]
    )


def _hole_regions(image: np.ndarray) -> list[np.ndarray]:
    """Where ISO 838 puts the two filing holes: 12 mm from the left, 80 mm apart."""
    h = image.shape[0]
    x0, x1 = round(6 * MM), round(18 * MM)
    return [
        image[round(y - 6 * MM) : round(y + 6 * MM), x0:x1]
        for y in (h / 2 - 40 * MM, h / 2 + 40 * MM)
    ]


def test_scanner_border_and_punch_holes_come_out_as_white_paper(clean: np.ndarray) -> None:
    scan = degrade(clean, border=6.0, punch_holes=True, noise=0.15, jpeg_quality=70, seed=7)
    assert _dark_share(_frame(scan, 1.5)) > 0.9
    assert all(_dark_share(hole) > 0.15 for hole in _hole_regions(scan))
    prepared = prepare_page(PageImage(number=1, image=scan, dpi=300))
    assert prepared.rotation == 0 and abs(prepared.skew_degrees) < 0.1
    assert _dark_share(_frame(prepared.image, 8.0)) < 0.001
    assert np.median(_frame(prepared.image, 8.0)) >= 245
    for hole in _hole_regions(prepared.image):
        assert _dark_share(hole) == 0.0
        assert hole.min() >= 150  # not even a grey ring is left


def test_punch_holes_of_a_page_fed_sideways_are_removed(clean: np.ndarray) -> None:
    scan = degrade(clean, punch_holes=True, rotate=90, seed=8)  # the holes are at the top
    prepared = prepare_page(PageImage(number=1, image=scan, dpi=300))
    assert prepared.rotation == 270
    for hole in _hole_regions(prepared.image):
        assert _dark_share(hole) == 0.0


def test_border_does_not_spoil_the_skew_estimate(clean: np.ndarray) -> None:
    scan = degrade(clean, skew=2.0, border=7.0, seed=9)
    prepared = prepare_page(PageImage(number=1, image=scan, dpi=300))
    assert prepared.skew_degrees == pytest.approx(-2.0, abs=0.15)
    assert _dark_share(_frame(prepared.image, 3.0)) < 0.001


def test_blank_back_side_with_border_and_holes_is_still_flagged(clean: np.ndarray) -> None:
    back = degrade(np.full_like(clean, 255), border=5.0, punch_holes=True, noise=0.2, seed=10)
    assert not prepare_page(PageImage(number=2, image=back, dpi=300), clean_edges=False).blank
    assert prepare_page(PageImage(number=2, image=back, dpi=300)).blank


def test_border_removal_keeps_text_that_starts_close_to_the_edge(clean: np.ndarray) -> None:
    near = near_the_edge(clean, left_mm=3.5, top_mm=4.0)
    bordered = degrade(near, border=2.5, seed=11)  # bands up to 2.5 mm, at least 1 mm of paper
    without = prepare_page(PageImage(number=1, image=near, dpi=300))
    cleaned = prepare_page(PageImage(number=1, image=bordered, dpi=300))
    # Every ink pixel of the letter is still there (the border itself is within 3 mm).
    inside = (slice(round(3 * MM), None), slice(round(3 * MM), None))
    text_ink = without.image[inside] < 128
    kept = cleaned.image[inside] < 128
    assert text_ink.sum() > 10_000
    assert (text_ink & kept).sum() >= 0.995 * text_ink.sum()
    assert _dark_share(_frame(cleaned.image, 1.0)) < 0.01
    # And nothing is painted on a page without a border.
    untouched = prepare_page(PageImage(number=1, image=near, dpi=300), clean_edges=False)
    assert np.array_equal(untouched.image, without.image)


def test_content_box_holds_all_ink_and_leaves_out_empty_paper(clean: np.ndarray) -> None:
    scan = degrade(clean, skew=1.0, noise=0.2, jpeg_quality=60, seed=5)
    prepared = prepare_page(PageImage(number=1, image=scan, dpi=300))
    box = prepared.content
    assert box is not None
    ys, xs = np.nonzero(prepared.image < 128)
    margin = 5 / 25.4 * 300 - 4  # 5 mm, less the quarter-size grid
    assert box.left <= xs.min() - margin and box.top <= ys.min() - margin
    assert box.left + box.width >= xs.max() + margin
    assert box.top + box.height >= ys.max() + margin
    # The example letter fills the upper part of the page: much of it is left out.
    height, width = prepared.image.shape
    assert box.width * box.height < 0.8 * width * height


def test_page_without_ink_has_no_content_box() -> None:
    white = np.full((3508, 2480), 255, np.uint8)
    assert content_box(white, 300) is None
