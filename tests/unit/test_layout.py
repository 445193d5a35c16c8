"""Page layout: DIN 5008 letters come out block by block, in the letter's reading order."""

from __future__ import annotations

import pytest

from mailroom.core.domain import Box, LayoutBlock, PageImage, PageOcr, Word
from mailroom.infra.tesseract import TesseractEngine
from tests.din_letters import (
    ADDRESS,
    FOOTER,
    INFO,
    PLAIN_INFO,
    RETURN_ADDRESS,
    centred_letter,
    form_b_letter,
)
from workers.layout import analyse_layout
from workers.preprocess import prepare_page
from workers.recognize import recognize_page


@pytest.fixture(scope="module")
def engine() -> TesseractEngine:
    return TesseractEngine(language="deu", timeout=120)


@pytest.fixture(scope="module")
def form_b(engine: TesseractEngine) -> PageOcr:
    return recognize_page(prepare_page(PageImage(1, form_b_letter(), 300)), engine)[1]


@pytest.fixture(scope="module")
def centred(engine: TesseractEngine) -> PageOcr:
    return recognize_page(prepare_page(PageImage(1, centred_letter(), 300)), engine)[1]


def _blocks(result: PageOcr, kind: str) -> list[LayoutBlock]:
    assert result.layout is not None
    return [b for b in result.layout.blocks if b.kind == kind]


def _kinds(result: PageOcr) -> list[str]:
    assert result.layout is not None
    return [b.kind for b in result.layout.blocks]


def _words_of(text: str) -> list[str]:
    """The words, without the separators ("·") that OCR reads as "-" or not at all."""
    return [word for word in text.split() if any(c.isalnum() for c in word)]


def test_address_field_and_information_block_sharing_lines_are_separate_blocks(
    form_b: PageOcr,
) -> None:
    (address,) = _blocks(form_b, "address")
    info = _blocks(form_b, "info")
    assert [line.text for line in address.lines] == list(ADDRESS)
    assert [line.text for b in info for line in b.lines] == [i.replace("\t", " ") for i in INFO]
    assert "Stadt Wuppertal" in form_b.text and "Wuppertal Ihr" not in form_b.text
    assert not any("Zeichen" in line.text for line in address.lines)


def test_the_header_reads_letterhead_return_address_address_then_information_block(
    form_b: PageOcr,
) -> None:
    kinds = _kinds(form_b)
    first = [kinds.index(k) for k in ("letterhead", "return_address", "address", "info")]
    assert first == sorted(first)
    assert kinds.index("info") < kinds.index("subject") < kinds.index("body")
    (back,) = _blocks(form_b, "return_address")
    assert _words_of(back.text) == _words_of(RETURN_ADDRESS)
    assert kinds.index("closing") < kinds.index("signature") < kinds.index("footer")


def test_the_page_text_separates_blocks_by_a_blank_line(form_b: PageOcr) -> None:
    address = "\n".join(ADDRESS)
    assert f"\n\n{address}\n\nIhr Zeichen: 402.12-03/2026\nUnser Zeichen:" in form_b.text


def test_a_footer_in_three_columns_comes_out_column_by_column(form_b: PageOcr) -> None:
    footer = _blocks(form_b, "footer")
    assert [[line.text for line in b.lines] for b in footer] == [list(c) for c in FOOTER]
    assert form_b.text.endswith("\n\n".join("\n".join(column) for column in FOOTER))


def test_labels_without_colons_stay_beside_their_values_under_a_centred_letterhead(
    centred: PageOcr,
) -> None:
    kinds = _kinds(centred)
    assert kinds[:3] == ["letterhead", "address", "info"]
    (info,) = _blocks(centred, "info")
    assert [line.text for line in info.lines] == [i.replace("\t", " ") for i in PLAIN_INFO]
    (address,) = _blocks(centred, "address")
    assert [line.text for line in address.lines] == list(ADDRESS)


# -- word boxes without Tesseract ---------------------------------------------------------


def _words(rows: list[tuple[int, int, str]], line_of: dict[int, int] | None = None) -> list[Word]:
    """(left px, top px, text) -> words 40 px high, 20 px per character; one line per top."""
    tops = sorted({top for _, top, _ in rows})
    words = []
    for left, top, text in rows:
        line = (line_of or {}).get(top, tops.index(top))
        words.append(Word(text, 95.0, Box(left, top, 20 * len(text), 40), line))
    return words


def test_a_table_in_the_body_is_read_row_by_row() -> None:
    rows = []
    for n, (what, amount) in enumerate(
        [("Pos.", "Betrag"), ("Hosting", "59,44"), ("Schulung", "175,80")]
    ):
        top = 1500 + 60 * n
        rows += [(300, top, what), (1900, top, amount)]
    layout = analyse_layout(_words(rows), 2480, 3508, 300)
    assert layout.text == "Pos. Betrag\nHosting 59,44\nSchulung 175,80"


def test_a_tesseract_line_across_two_columns_is_split_at_the_gap() -> None:
    # Tesseract put the address line and the information line beside it into one line.
    rows = [
        (300, 620, "Stadt"), (420, 620, "Wuppertal"),
        (1480, 620, "Datum:"), (1650, 620, "12.03.2026"),
        (300, 680, "Neumarkt"), (480, 680, "10"), (1480, 680, "Telefon:"), (1650, 680, "0202"),
        (300, 740, "42103"), (420, 740, "Wuppertal"),
    ]  # fmt: skip
    layout = analyse_layout(_words(rows, {620: 0, 680: 1, 740: 2}), 2480, 3508, 300)
    assert layout.text == (
        "Stadt Wuppertal\nNeumarkt 10\n42103 Wuppertal\n\nDatum: 12.03.2026\nTelefon: 0202"
    )
    assert [b.kind for b in layout.blocks] == ["address", "info"]


def test_no_words_no_blocks() -> None:
    assert analyse_layout([], 2480, 3508, 300).blocks == ()


def test_an_address_line_running_into_the_information_block_stays_in_the_address() -> None:
    # The second address line ends at 1500 px (127 mm), past the information block's
    # labels (1480 px) on the other rows: no gutter is clear of it.
    rows = [
        (300, 620, "Stadt"), (420, 620, "Wuppertal"), (1480, 620, "Geschäftszeichen:"),
        (300, 680, "Amt"), (380, 680, "für"), (460, 680, "Informationssicherheit"),
        (920, 680, "und"), (1040, 680, "Datenschutzbeauftragten"), (1660, 680, "Zimmer:"),
        (300, 740, "Wegnerstraße"), (560, 740, "7"), (1480, 740, "Telefon:"),
        (300, 800, "42275"), (420, 800, "Wuppertal"), (1480, 800, "Datum:"),
    ]  # fmt: skip
    layout = analyse_layout(_words(rows), 2480, 3508, 300)
    assert [b.kind for b in layout.blocks] == ["address", "info"]
    address = "Amt für Informationssicherheit und Datenschutzbeauftragten"
    assert layout.blocks[0].lines[1].text == address
    assert layout.blocks[1].text == "Geschäftszeichen:\nZimmer:\nTelefon:\nDatum:"
