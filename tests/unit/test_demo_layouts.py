"""DIN 5008 sample letters of many kinds: deterministic pages, truth in reading order, labels,
and one page read back with real Tesseract."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from benchmarks.corpus import reading_kinds
from benchmarks.devset import normalise_whitespace
from mailroom.core.domain import PageImage
from mailroom.core.errors import ConfigurationError
from mailroom.demo.din_content import business
from mailroom.demo.fonts import faces, truetype
from mailroom.demo.layouts import LetterStyle, render_din_letter
from mailroom.infra.tesseract import TesseractEngine
from mailroom.runtime.pipeline import recognize_stage


def _blocks(text: str) -> list[str]:
    return text.split("\n\n")


def _index(blocks: list[str], predicate: str) -> int:
    return next(i for i, block in enumerate(blocks) if predicate in block)


def test_the_same_seed_draws_the_same_page_and_text() -> None:
    first, again = render_din_letter(5), render_din_letter(5)
    assert np.array_equal(first.image, again.image)
    assert first.truth == again.truth and first.font == again.font
    other = render_din_letter(6)
    assert other.truth != first.truth


def test_a_firms_letter_has_its_blocks_in_reading_order() -> None:
    letter = render_din_letter(11, firm=True)
    blocks = _blocks(letter.truth)
    address = _index(blocks, "Stadt Wuppertal\n")
    info = _index(blocks, "Datum")
    assert " · " in blocks[address - 1]  # the return-address line comes right before it
    assert 1 < address < info
    assert "\n" not in blocks[info + 1]  # the subject: one line after the information block
    greetings = ("Mit ", "Freundliche", "Viele", "Hochachtungsvoll")
    closing = next(i for i, block in enumerate(blocks) if block.startswith(greetings))
    assert info < closing < len(blocks) - 2  # then signer and footer columns
    assert letter.image.dtype == np.uint8 and letter.image.shape == (3508, 2480)
    assert letter.form in ("A", "B") and letter.handwritten is None


def test_a_handwritten_letter_carries_its_label_and_a_handwriting_font() -> None:
    letter = render_din_letter(3, handwritten="letter")
    assert letter.handwritten == "letter" and letter.form == "hand"
    assert letter.font in {face.name for face in faces("hand")}
    assert _blocks(letter.truth)[1].startswith("Stadt Wuppertal")


def test_handwritten_notes_are_on_the_page_but_not_in_the_text() -> None:
    plain = render_din_letter(8)
    noted = render_din_letter(8, handwritten="notes")
    assert noted.handwritten == "notes" and noted.in_colour
    assert not any(note in noted.truth for note in business()["notes"] if len(note) > 8)
    assert not np.array_equal(plain.image, noted.image)


def test_a_missing_font_names_its_package() -> None:
    face = replace(faces("sans")[0], regular=Path("/nonexistent/Font.ttf"), package="fonts-x")
    with pytest.raises(ConfigurationError, match="apt-get install fonts-x"):
        truetype(face, 11)


def test_the_reading_corpus_has_its_share_of_handwriting() -> None:
    kinds = reading_kinds(120, seed=0)
    assert kinds.count("letter") == 12 and kinds.count("notes") == 18
    assert kinds == reading_kinds(120, seed=0) != reading_kinds(120, seed=1)


def test_address_and_information_block_read_back_as_separate_lines() -> None:
    rng = random.Random(2)
    style = replace(LetterStyle.random(rng, "sans"), form="B", head="left", stacked=False,
                    face=faces("sans")[0], points=11.0)  # fmt: skip
    letter = render_din_letter(21, firm=True, style=style)
    engine = TesseractEngine(language="deu", timeout=120)
    recognized = recognize_stage([PageImage(1, letter.image, 300)], engine)
    read = {normalise_whitespace(line) for line in recognized.text.splitlines()}
    blocks = _blocks(letter.truth)
    address = blocks[_index(blocks, "Stadt Wuppertal\n")].splitlines()
    info = blocks[_index(blocks, "Datum")].splitlines()
    assert len(info) >= 4
    for line in [*address, *info]:
        assert normalise_whitespace(line) in read, (line, recognized.text)
