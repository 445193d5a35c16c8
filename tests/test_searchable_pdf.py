"""Searchable PDF: page images with an invisible text layer at the right place."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from pypdf import PdfReader

from mailroom.domain import PageImage, PageOcr, PreparedPage
from mailroom.samples.scan import EXAMPLE_LETTER, degrade, render_page
from workers.engines.tesseract import TesseractEngine
from workers.preprocess import prepare_page
from workers.recognize import recognize_page
from workers.searchable_pdf import build_searchable_pdf


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[PageOcr]]:
    """A two-page scan (letter turned upside down + blank back side) made searchable."""
    engine = TesseractEngine(language="deu")
    clean = render_page(EXAMPLE_LETTER, seed=11)
    scans = [
        degrade(clean, rotate=180, skew=1.0, seed=1),
        degrade(np.full_like(clean, 255), noise=0.2, seed=2),
    ]
    done = [
        recognize_page(prepare_page(PageImage(n, s, 300)), engine) for n, s in enumerate(scans, 1)
    ]
    pdf = build_searchable_pdf([p for p, _ in done], [r for _, r in done])
    path = tmp_path_factory.mktemp("pdf") / "searchable.pdf"
    path.write_bytes(pdf)
    return path, [r for _, r in done]


def _pdftotext(path: Path, page: int, *extra: str) -> str:
    cmd = ["pdftotext", *extra, "-f", str(page), "-l", str(page), str(path), "-"]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def test_text_layer_holds_the_recognised_words_on_the_right_page(
    document: tuple[Path, list[PageOcr]],
) -> None:
    path, _ = document
    assert len(PdfReader(path).pages) == 2
    first = _pdftotext(path, 1)
    assert "Unterhaltsvorschuss" in first and "404.21-07/2024" in first
    assert _pdftotext(path, 2).strip() == ""  # blank page: image only


def test_words_sit_where_they_are_on_the_page_image(document: tuple[Path, list[PageOcr]]) -> None:
    path, results = document
    word = next(w for w in results[0].words if w.text == "Unterhaltsvorschuss")
    layout = _pdftotext(path, 1, "-bbox")
    line = next(line for line in layout.splitlines() if ">Unterhaltsvorschuss<" in line)
    x_min = float(line.split('xMin="')[1].split('"')[0])
    y_min = float(line.split('yMin="')[1].split('"')[0])
    assert x_min == pytest.approx(word.box.left / 300 * 72, abs=3)
    assert y_min == pytest.approx(word.box.top / 300 * 72, abs=4)


def test_page_images_are_never_jbig2(document: tuple[Path, list[PageOcr]]) -> None:
    path, _ = document
    filters = []
    for page in PdfReader(path).pages:
        for image in page.images:
            assert image.indirect_reference is not None
            stream = image.indirect_reference.get_object()
            filters.append(str(stream["/Filter"]))  # type: ignore[index]
    assert len(filters) == 2
    assert not any("JBIG2" in f for f in filters)


def test_blank_page_keeps_its_size_in_the_pdf(document: tuple[Path, list[PageOcr]]) -> None:
    path, _ = document
    first, second = PdfReader(path).pages
    assert float(second.mediabox.width) == pytest.approx(float(first.mediabox.width), abs=1)
    assert float(second.mediabox.width) == pytest.approx(595, abs=2)  # A4 at 300 dpi


def test_pages_and_results_must_match() -> None:
    page = PreparedPage(number=1, image=np.full((100, 100), 255, np.uint8), dpi=300, blank=True)
    with pytest.raises(ValueError):
        build_searchable_pdf([page], [])
