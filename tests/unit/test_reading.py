"""Reading every page right (#11), with real Tesseract: orientation checked for plausible
text, separators read from their ink, handwriting flagged, hard scans."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from benchmarks.corpus import reading_page
from benchmarks.devset import line_errors
from config.settings import Settings
from mailroom.core.domain import Box, PageImage, PageOcr, PreparedPage, Word
from mailroom.core.errors import MissingDependencyError
from mailroom.core.states import DocumentState as S
from mailroom.demo.din_content import compose
from mailroom.demo.layouts import LetterStyle, render_din_letter
from mailroom.demo.scan import degrade, png_bytes
from mailroom.infra.db import models
from mailroom.infra.tesseract import TesseractEngine
from mailroom.runtime.context import AppContext
from mailroom.runtime.pipeline import rasterize_stage, recognize_stage
from mailroom.runtime.processor import DocumentProcessor
from mailroom.runtime.registration import register_file
from mailroom.services.cases import import_cases_csv
from tests.letters import CASE_REF, case_csv
from workers.orientation import check_orientation
from workers.plausibility import WordList, dictionary_share, german_letters
from workers.preprocess import prepare_page, turn
from workers.punctuation import fix_separators
from workers.recognize import recognize_page
from workers.segments import text_words

WORDS = WordList(["stadt", "brief", "antrag", "gelesen"])


@pytest.fixture(scope="module")
def engine() -> TesseractEngine:
    return TesseractEngine(language="deu", timeout=120)


@pytest.fixture(scope="module")
def letter() -> np.ndarray:
    """A clean printed DIN letter, form B, information block right."""
    return render_din_letter(21, firm=True).image


def _word(text: str, confidence: float = 90.0, box: Box = Box(0, 0, 120, 40)) -> Word:
    return Word(text, confidence, box)


def _squeezed(block: str) -> list[str]:
    """A block's lines without white space (OCR may miss a space, not a line)."""
    return ["".join(line.split()) for line in block.splitlines() if line.strip()]


def _lines(result: PageOcr) -> list[str]:
    return [line for line in result.text.splitlines() if line.strip()]


# --- without Tesseract --------------------------------------------------------------


def test_dictionary_share_counts_only_confident_words_lying_across() -> None:
    words = [
        _word("Stadt"),
        _word("Brief,"),
        _word("Xqzvbn"),
        _word("Antrag", confidence=20),  # not read with confidence
        _word("gelesen", box=Box(0, 0, 30, 160)),  # standing on end: read from a turned line
        _word("42103"),  # no word: not counted
    ]
    assert dictionary_share(words, WORDS) == pytest.approx(2 / 5)
    assert german_letters(words, WORDS) == len("Stadt") + len("Brief,")
    assert dictionary_share([_word("4711")], WORDS) is None


def test_an_undecided_trial_puts_the_page_back_as_it_was_scanned() -> None:
    """Nothing reads in any orientation: the cheap test's turn is not trusted either."""
    image = np.full((400, 300), 255, np.uint8)
    page = PreparedPage(number=1, image=image, dpi=300, rotation=90)
    first = PageOcr(1, "", 20.0, words=[_word("xq", 20)])
    read: list[tuple[int, int]] = []

    def engine(prepared: PreparedPage) -> PageOcr:
        read.append(prepared.image.shape[:2])
        return PageOcr(1, "", 20.0, words=[_word("xq", 20)])

    final, result = check_orientation(page, first, engine, WORDS)
    assert final.rotation == 0 and result.orientation_check == "corrected"
    assert final.image.shape == (300, 400)  # turned back a quarter
    assert len(read) == 5  # four trials on the middle square, then the whole page


# --- with Tesseract -----------------------------------------------------------------


def test_upright_heavily_degraded_colour_page_stays_upright(engine: TesseractEngine) -> None:
    page = reading_page(3, None)  # heavy, upright, a colour JPEG with a stamp
    assert page.colour and page.level == "heavy" and page.rotation == 0
    recognized = recognize_stage(rasterize_stage(page.data, None, Settings()), engine)
    assert recognized.pages[0].rotation == 0
    edits, chars = line_errors(page.truth, recognized.text)
    assert edits / chars < 0.08


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_turned_pages_come_back(engine: TesseractEngine, letter: np.ndarray, degrees: int) -> None:
    scan = degrade(letter, rotate=degrees, skew=0.8, noise=0.1, seed=degrees)
    page, result = recognize_page(prepare_page(PageImage(1, scan, 300)), engine)
    assert page.rotation == (360 - degrees) % 360
    assert "Johannes-Rau-Platz 1" in result.text


def test_a_page_the_cheap_test_turned_wrongly_is_corrected(
    engine: TesseractEngine, letter: np.ndarray
) -> None:
    """An upright page handed over turned a quarter (as the ink test may do with a narrow
    face or a sparse page) comes out upright, and the page says the check corrected it."""
    wrong = PreparedPage(number=1, image=turn(letter, 1), dpi=300, rotation=90)
    page, result = recognize_page(wrong, engine)
    assert page.rotation == 0 and result.orientation_check == "corrected"
    assert result.dictionary_share is not None and result.dictionary_share > 0.6
    assert "Johannes-Rau-Platz 1" in result.text


def test_address_and_information_block_lines_come_out_as_separate_blocks(
    engine: TesseractEngine,
) -> None:
    rendered = render_din_letter(21, firm=True)
    blocks = rendered.truth.split("\n\n")
    address = next(b for b in blocks if b.startswith("Stadt Wuppertal"))
    info = next(b for b in blocks if "Datum" in b and b is not address)
    _, result = recognize_page(prepare_page(PageImage(1, rendered.image, 300)), engine)
    assert result.layout is not None
    kinds = [b.kind for b in result.layout.blocks]
    assert kinds.index("address") < kinds.index("info")
    read = {b.kind: b.text for b in result.layout.blocks}
    assert _squeezed(read["address"]) == _squeezed(address)  # all its lines, no info rows
    assert _squeezed(read["info"]) == _squeezed(info)


def test_middle_dots_and_dashes_are_read_from_their_ink(engine: TesseractEngine) -> None:
    rendered = render_din_letter(21, firm=True)
    letterhead = rendered.truth.split("\n\n")[0]
    letterhead_rows = [line for line in letterhead.splitlines() if " · " in line]
    assert letterhead_rows
    _, result = recognize_page(prepare_page(PageImage(1, rendered.image, 300)), engine)
    lines = _lines(result)
    assert all(row in lines for row in letterhead_rows), (letterhead_rows, lines)
    # Without the correction Tesseract's own reading has a hyphen or a guillemet there.
    raw_page = prepare_page(PageImage(1, rendered.image, 300))
    raw = engine.recognize(raw_page)
    assert any(w.text in "-»+:" for w in raw.words if len(w.text) == 1)
    assert any(w.text == "·" for w in fix_separators(raw_page.image, raw.words))


def test_a_thin_or_coloured_letterhead_is_read(engine: TesseractEngine) -> None:
    style = LetterStyle.random(random.Random(4), "serif")
    style = replace(style, coloured=True, accent=(230, 140, 40))  # a light orange letterhead
    rendered = render_din_letter(33, style=style)
    page = np.asarray(rendered.colour)
    gray = prepare_page(PageImage(1, np.asarray(page.mean(axis=2), np.uint8), 300))
    _, result = recognize_page(gray, engine)
    head = rendered.truth.split("\n\n")[0].splitlines()
    assert head[0] in _lines(result), (head, _lines(result)[:5])


def test_a_handwritten_letter_is_flagged_and_a_printed_one_is_not(
    engine: TesseractEngine, letter: np.ndarray
) -> None:
    hand = render_din_letter(12, handwritten="letter")
    recognized = recognize_stage([PageImage(1, hand.image, 300)], engine)
    assert recognized.handwritten == "letter"
    assert {r.kind for r in recognized.results[0].handwriting} >= {"text"}
    printed = recognize_stage([PageImage(1, letter, 300)], engine)
    assert printed.handwritten is None
    assert all(r.kind != "text" for r in printed.results[0].handwriting)


@pytest.mark.slow
def test_a_handwritten_letter_goes_to_review_while_its_printed_twin_is_routed(
    ctx: AppContext, tmp_path: Path
) -> None:
    with ctx.db.session() as session:
        import_cases_csv(session, case_csv(tmp_path / "cases.csv"), ctx.fileplan)
    content = replace(
        compose(8, firm=False),
        subject=f"Elterngeld für Mia Schneider, Ihr Zeichen {CASE_REF}",
    )
    processor = DocumentProcessor(ctx, "test-worker")
    decided = {}
    for kind in (None, "letter"):
        rendered = render_din_letter(8, handwritten=kind, content=content)
        path = tmp_path / f"{kind or 'printed'}.png"
        path.write_bytes(png_bytes(rendered.image))
        doc = register_file(ctx, ctx.scan_lines[0], path, move=False, publish=False)
        assert doc is not None
        processor.handle(doc.id)
        with ctx.db.session() as session:
            row = session.get(models.Document, doc.id)
            assert row is not None
            decided[kind] = (row.state, row.handwritten, row.reasons or [])
    assert decided[None][:2] == (S.ROUTED, None)
    state, handwritten, reasons = decided["letter"]
    assert state == S.REVIEW and handwritten == "letter"
    assert any(reason.startswith("Handschriftlicher Brief") for reason in reasons), reasons


def test_an_upright_page_nothing_reads_on_stays_as_scanned() -> None:
    """Undecided, and not turned by the cheap test: a few letters of "German" read in a
    turned square do not turn the page."""
    image = np.full((400, 300), 255, np.uint8)
    page = PreparedPage(number=1, image=image, dpi=300, rotation=0)
    first = PageOcr(1, "", 20.0, words=[_word("xq", 20)])
    turns = iter([[], [_word("Brief")], [], []])

    def engine(prepared: PreparedPage) -> PageOcr:
        return PageOcr(1, "", 60.0, words=next(turns, []))

    final, result = check_orientation(page, first, engine, WORDS)
    assert final is page and final.rotation == 0 and result.orientation_check == "kept"


def test_separators_keep_full_stops_line_end_hyphens_and_survive_empty_boxes() -> None:
    """A dot on the baseline stays a full stop, a hyphen ending a line stays, and a box at
    or beyond the page's edge does not crash OpenCV (it would kill the worker)."""
    image = np.full((100, 400), 255, np.uint8)
    image[60:66, 150:156] = 0  # a dot on the baseline of words 20..66 px high
    line = [_word("Stadt", box=Box(10, 20, 120, 46)), _word(".", box=Box(150, 60, 6, 6))]
    line += [_word("Ende", box=Box(170, 20, 90, 46))]
    assert [w.text for w in fix_separators(image, line)] == ["Stadt", ".", "Ende"]
    image[40:46, 290:296] = 0  # a dot at mid height, glued to the word before it
    image[25:66, 205:280] = 0  # the word's letters
    glued = [_word("Stadt", box=Box(10, 20, 120, 46)), _word("Ende-", box=Box(200, 20, 96, 46))]
    split = [*glued, _word("Schluss", box=Box(310, 20, 80, 46))]
    assert [w.text for w in fix_separators(image, split)] == ["Stadt", "Ende", "·", "Schluss"]
    assert [w.text for w in fix_separators(image, glued)] == ["Stadt", "Ende-"]  # ends the line
    edge = [_word("Stadt", box=Box(10, 20, 120, 46)), _word("ab-", box=Box(400, 20, 10, 46))]
    edge += [_word("Ende", box=Box(170, 20, 90, 46)), _word("xy-", box=Box(50, 20, 0, 46))]
    edge += [_word("Schluss", box=Box(300, 20, 90, 46))]
    texts = [w.text for w in fix_separators(image, edge)]
    assert texts == ["Stadt", "ab-", "Ende", "xy-", "Schluss"]


def test_a_missing_word_list_names_the_package_to_install(tmp_path: Path) -> None:
    with pytest.raises(MissingDependencyError) as raised:
        WordList.load(tmp_path / "ngerman")
    assert "wngerman" in (raised.value.hint or "")


def test_a_weakly_read_token_on_a_line_of_print_is_kept_and_noise_is_not() -> None:
    label = Word("Kassenzeichen:", 81.0, Box(1464, 591, 223, 28), line=4)
    value = Word("3576.1303.7669", 23.0, Box(1770, 595, 218, 31), line=4)
    tick = Word("~/", 12.0, Box(2000, 590, 30, 30), line=4)
    alone = Word("Oo7", 15.0, Box(300, 900, 60, 30), line=9)
    kept = text_words([label, value, tick, alone], min_confidence=30.0)
    assert kept == [label, value]


def test_a_dot_glued_to_the_word_after_it_is_split_off() -> None:
    image = np.full((100, 400), 255, np.uint8)
    image[40:46, 200:206] = 0  # a dot at mid height ...
    image[25:66, 215:290] = 0  # ... before the word's digits
    line = [Word("Straße", 90.0, Box(10, 20, 120, 46)), Word("-42369", 88.0, Box(198, 20, 94, 46))]
    assert [w.text for w in fix_separators(image, line)] == ["Straße", "·", "42369"]
