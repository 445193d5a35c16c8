"""Page text from Tesseract's TSV: lines and paragraphs follow the page, not Tesseract's guesses."""

from __future__ import annotations

from mailroom.infra.tesseract import compose_text, parse_tsv

HEADER = (
    "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
)


def _tsv(rows: list[tuple[int, int, int, int, int, float, str]]) -> str:
    """rows: (block, par, line, left, top, conf, text); every word 40 px high, 100 px wide."""
    out = [HEADER]
    for n, (block, par, line, left, top, conf, text) in enumerate(rows, 1):
        out.append(f"5\t1\t{block}\t{par}\t{line}\t{n}\t{left}\t{top}\t100\t40\t{conf}\t{text}")
    return "\n".join(out) + "\n"


def test_address_lines_split_into_paragraphs_by_tesseract_stay_one_block() -> None:
    tsv = _tsv(
        [
            (1, 1, 1, 200, 100, 95, "Stadt"),
            (1, 1, 1, 310, 100, 95, "Wuppertal"),
            (2, 1, 1, 200, 155, 93, "Jugendamt"),  # next line, new "paragraph" per Tesseract
            (3, 1, 1, 200, 210, 91, "42275"),
            (3, 1, 1, 310, 210, 91, "Wuppertal"),
            (4, 1, 1, 200, 330, 96, "Betreff:"),  # after a blank line on the page
            (4, 1, 1, 310, 330, 96, "Antrag"),
        ]
    )
    assert compose_text(tsv) == "Stadt Wuppertal\nJugendamt\n42275 Wuppertal\n\nBetreff: Antrag"


def test_a_second_column_starts_a_paragraph_and_junk_words_are_left_out() -> None:
    tsv = _tsv(
        [
            (1, 1, 1, 200, 100, 95, "Anna"),
            (1, 1, 2, 200, 155, 95, "Schneider"),
            (2, 1, 1, 1400, 100, 90, "Telefon"),  # right-hand column beside the address
            (2, 1, 2, 1400, 155, 12, "BEEEEEEN"),  # scribble read at low confidence
        ]
    )
    assert compose_text(tsv) == "Anna\nSchneider\n\nTelefon"
    assert [w.text for w in parse_tsv(tsv)][-1] == "BEEEEEEN"  # kept in the word list


def test_empty_page_gives_empty_text() -> None:
    assert compose_text(HEADER + "\n") == ""
