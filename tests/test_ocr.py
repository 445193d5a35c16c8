"""Recognition with real Tesseract: turned pages, blank pages, handwritten notes, failures."""

from __future__ import annotations

import numpy as np
import pytest

from mailroom.domain import PageImage, PageOcr, PreparedPage
from mailroom.errors import MissingDependencyError, OcrTimeout
from mailroom.samples.scan import EXAMPLE_LETTER, degrade, layout_lines, render_page
from workers.engines.tesseract import TesseractEngine
from workers.preprocess import prepare_page, turn
from workers.recognize import recognize_page

SEED = 7


@pytest.fixture(scope="module")
def engine() -> TesseractEngine:
    return TesseractEngine(language="deu", timeout=120)


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    return render_page(EXAMPLE_LETTER, seed=SEED)


def _words_found(text: str) -> float:
    """Share of the letter's words that appear in ``text``."""
    expected = " ".join(layout_lines(EXAMPLE_LETTER, seed=SEED)).split()
    found = set(text.split())
    return sum(word in found for word in expected) / len(expected)


class RefusingEngine:
    """An engine that must not be called (fault injection through the interface)."""

    name = "refusing"

    def recognize(self, page: PreparedPage) -> PageOcr:
        raise AssertionError(f"page {page.number} should not have been recognised")


def test_upside_down_page_comes_out_readable(engine: TesseractEngine, clean: np.ndarray) -> None:
    scan = degrade(clean, rotate=180, skew=2.0, noise=0.2, jpeg_quality=60, seed=1)
    page, result = recognize_page(prepare_page(PageImage(1, scan, 300)), engine)
    assert page.rotation == 180
    assert _words_found(result.text) > 0.95
    assert "Unterhaltsvorschuss" in result.text and "404.21-07/2024" in result.text
    assert result.confidence is not None and result.confidence > 85
    assert result.pdf is not None and result.pdf.startswith(b"%PDF")


def test_turned_page_missed_by_preprocessing_is_caught_by_orientation_detection(
    engine: TesseractEngine, clean: np.ndarray
) -> None:
    # Hand recognition an upside-down page as if it were upright.
    wrong = PreparedPage(number=1, image=turn(clean, 2), dpi=300)
    page, result = recognize_page(wrong, engine)
    assert page.rotation == 180
    assert _words_found(result.text) > 0.95


def test_blank_back_side_is_flagged_and_not_recognised(clean: np.ndarray) -> None:
    back = degrade(np.full_like(clean, 255), noise=0.2, background="grey", seed=2)
    prepared = prepare_page(PageImage(2, back, 300))
    page, result = recognize_page(prepared, RefusingEngine())
    assert page.blank
    assert result.text == "" and result.confidence is None and result.words == []


def test_handwritten_note_is_flagged_as_low_confidence_region(
    engine: TesseractEngine, clean: np.ndarray
) -> None:
    scan = degrade(clean, handwriting=True, seed=3)
    _, result = recognize_page(prepare_page(PageImage(1, scan, 300)), engine)
    bottom = [box for box in result.low_confidence_regions if box.top > 0.8 * scan.shape[0]]
    assert bottom, result.low_confidence_regions
    assert _words_found(result.text) > 0.95
    # Scribbles do not turn into long junk words in the text (Tesseract read e.g.
    # "BEEEEEEN SVTVTUTSTSURAAAAARE" at confidence 0 from them).
    after_signature = result.text.rsplit("Jürgen Weiß", 1)[1]
    assert len(after_signature.strip()) <= 4, after_signature


def test_missing_language_names_the_package_to_install() -> None:
    with pytest.raises(MissingDependencyError) as caught:
        TesseractEngine(language="xyz")
    assert "tesseract-ocr-xyz" in str(caught.value)


def test_tesseract_over_its_time_limit_raises_ocr_timeout(clean: np.ndarray) -> None:
    impatient = TesseractEngine(language="deu", timeout=0.05)
    with pytest.raises(OcrTimeout):
        impatient.recognize(PreparedPage(number=1, image=clean, dpi=300))
