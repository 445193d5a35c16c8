"""Preprocess: pages come out upright, straight and clean; blank back sides are flagged."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mailroom.domain import PageImage
from mailroom.samples.scan import EXAMPLE_LETTER, degrade, render_page
from workers.preprocess import prepare_page


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
