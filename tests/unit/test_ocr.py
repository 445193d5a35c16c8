"""Recognition with real Tesseract: turned pages, blank pages, handwritten notes, failures."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from benchmarks.corpus import char_errors
from mailroom.core.domain import PageImage, PageOcr, PreparedPage
from mailroom.core.errors import MissingDependencyError, OcrTimeout
from mailroom.demo.scan import EXAMPLE_LETTER, degrade, layout_lines, render_page
from mailroom.infra.tesseract import TesseractEngine
from tests.scan_edges_helpers import near_the_edge
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


def _cer(text: str) -> float:
    truth = "\n".join(layout_lines(EXAMPLE_LETTER, seed=SEED))
    edits, chars = char_errors(truth, text)
    return edits / chars


def test_page_with_scanner_border_and_punch_holes_reads_as_well_as_the_clean_page(
    engine: TesseractEngine, clean: np.ndarray
) -> None:
    plain = degrade(clean, noise=0.15, jpeg_quality=70, seed=12)
    dirty = degrade(clean, noise=0.15, jpeg_quality=70, border=6.0, punch_holes=True, seed=12)
    _, plain_result = recognize_page(prepare_page(PageImage(1, plain, 300)), engine)
    _, dirty_result = recognize_page(prepare_page(PageImage(1, dirty, 300)), engine)
    assert _cer(dirty_result.text) <= _cer(plain_result.text) + 0.002
    assert _words_found(dirty_result.text) > 0.95


def test_letter_starting_close_to_the_scan_edge_keeps_all_its_words(
    engine: TesseractEngine, clean: np.ndarray
) -> None:
    near = near_the_edge(clean, left_mm=3.5, top_mm=4.0)
    plain = degrade(near, noise=0.1, seed=13)
    bordered = degrade(near, noise=0.1, border=2.5, seed=13)  # bands up to 2.5 mm wide
    texts = [
        recognize_page(prepare_page(PageImage(1, scan, 300)), engine)[1].text
        for scan in (plain, bordered)
    ]
    first_words = [line.split()[0] for line in layout_lines(EXAMPLE_LETTER, seed=SEED) if line]
    plain_missing, bordered_missing = (
        {word for word in first_words if word not in text.split()} for text in texts
    )
    assert bordered_missing <= plain_missing  # the words nearest the edge are all kept
    assert _words_found(texts[1]) >= _words_found(texts[0]) - 0.005
    assert _words_found(texts[1]) > 0.95


def test_reading_only_the_content_keeps_words_in_page_coordinates(
    engine: TesseractEngine, clean: np.ndarray
) -> None:
    prepared = prepare_page(PageImage(1, degrade(clean, skew=1.0, noise=0.1, seed=4), 300))
    assert prepared.content is not None and prepared.content.top > 0
    cropped = engine.recognize(prepared)
    whole = engine.recognize(replace(prepared, content=None))
    assert cropped.pdf_box == prepared.content and whole.pdf_box is not None
    assert cropped.text == whole.text
    for a, b in zip(cropped.words, whole.words, strict=True):
        assert a.text == b.text
        assert abs(a.box.left - b.box.left) <= 2 and abs(a.box.top - b.box.top) <= 2
