"""Stage *recognize*: OCR of one prepared page, checked for plausibility, with its
layout and handwriting.

1. The page is read once (Tesseract, psm 3) and its German word share taken
   (:mod:`workers.plausibility`).
2. **Orientation.** :func:`workers.preprocess.prepare_page` already turned the page with a
   cheap test; a reading that is not plausible German (low confidence, few dictionary
   words) has the other orientations tried on a middle square of the page
   (:mod:`workers.orientation`), and the page is turned only when one reads clearly better.
3. **Second pass.** A page still read poorly is prepared differently - contrast stretched
   so that light and coloured print turns dark - and
   read again; the reading with more confident German words is kept
   (:func:`second_pass`, ``PageOcr.second_pass``).
4. Middle dots, en dashes and bullets that Tesseract misread are corrected from their ink
   (:mod:`workers.punctuation`; the PDF's invisible text layer keeps Tesseract's reading).
5. Regions the engine could not read with confidence - handwritten notes, stamps,
   signatures - are found: low-confidence words, and ink that no recognised word covers.
6. The page text is composed from the page's layout (:mod:`workers.layout`): blocks in
   reading order, so that the address field and the information block beside it do not
   run into each other. An engine that gives no word boxes keeps its own text.
7. **Handwriting** (:mod:`workers.handwriting`): a page whose lines wander off a straight
   baseline is written by hand (``handwritten = "letter"``, its blocks as ``text``
   regions); unexplained ink that is no stamp is a signature or a note.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from mailroom.core.domain import Box, PageOcr, PreparedPage
from mailroom.infra.tesseract import OcrEngine
from workers.handwriting import hand_regions, page_features, written_by_hand
from workers.layout import analyse_layout
from workers.orientation import Read, check_orientation, plausible
from workers.plausibility import WordList, dictionary_share, german_letters, wordlist
from workers.punctuation import fix_separators

#: Words below this confidence are flagged as regions to check.
LOW_WORD_CONFIDENCE = 50.0
_REGION_DPI = 50  # coarse grid for grouping uncovered ink into regions
_MIN_REGION_MM2 = 60.0  # ignore specks: smaller than e.g. 10 mm x 6 mm is not a note
#: A page read with less mean confidence or German word share than this is read a second
#: time, prepared differently.
POOR_CONFIDENCE = 80.0
POOR_SHARE = 0.6


def recognize_page(
    page: PreparedPage, engine: OcrEngine, vocabulary: WordList | None = None
) -> tuple[PreparedPage, PageOcr]:
    """Recognise ``page``; returns the page as finally read (maybe turned) and its OCR.

    Blank pages are not recognised: their result has empty text and confidence None.
    ``vocabulary`` defaults to the system's German word list.
    """
    if page.blank:
        return page, PageOcr(number=page.number, text="", confidence=None, engine=engine.name)
    words = vocabulary if vocabulary is not None else wordlist()

    def read(prepared: PreparedPage) -> PageOcr:
        result = engine.recognize(prepared)
        result.dictionary_share = dictionary_share(result.words, words)
        return result

    result = read(page)
    if (result.words or page.rotation) and not plausible(result):
        page, result = check_orientation(page, result, read, words)
    if result.words and _poor(result):
        page, result = second_pass(page, result, read, words)
    result.words = fix_separators(page.image, result.words)
    result = _with_layout(page, _flag_regions(page, result))
    if result.words:
        _find_handwriting(page, result)
    return page, result


def _poor(result: PageOcr) -> bool:
    return (result.confidence or 0.0) < POOR_CONFIDENCE or (
        result.dictionary_share or 0.0
    ) < POOR_SHARE


def second_pass(
    page: PreparedPage, first: PageOcr, read: Read, vocabulary: WordList
) -> tuple[PreparedPage, PageOcr]:
    """Read ``page`` again with its contrast stretched; keep the better reading."""
    stretched = replace(page, image=stretch_contrast(page.image))
    result = read(stretched)
    result.seconds += first.seconds
    first.seconds = result.seconds  # whichever reading is kept carries both passes
    if german_letters(result.words, vocabulary) <= german_letters(first.words, vocabulary):
        return page, first
    result.second_pass = True
    result.orientation_check = first.orientation_check
    return page, result


def stretch_contrast(image: np.ndarray) -> np.ndarray:
    """Light ink made dark: grey values stretched so that the darkest 1 % become black and
    the paper (the 60th percentile) white, then darkened with a gamma of 2."""
    low, paper = np.percentile(image[::4, ::4], (1, 60))
    if paper - low < 10:
        return image
    scaled = np.clip((image.astype(np.float32) - low) / (paper - low), 0.0, 1.0)
    return (np.power(scaled, 2.0) * 255).astype(np.uint8)


def _find_handwriting(page: PreparedPage, result: PageOcr) -> None:
    """Set ``handwritten`` and ``handwriting`` on ``result``."""
    features = page_features(page.image, result.words, result.confidence, result.dictionary_share)
    by_hand = written_by_hand(features)
    result.handwriting = hand_regions(
        page.image,
        page.dpi,
        features,
        by_hand,
        result.low_confidence_regions,
        result.layout,
        result.words,
    )
    if by_hand:
        result.handwritten = "letter"
    elif any(region.kind == "note" for region in result.handwriting):
        result.handwritten = "notes"


def _with_layout(page: PreparedPage, result: PageOcr) -> PageOcr:
    """Set the page's layout and compose its text in the layout's reading order."""
    if not result.words:
        return result
    height, width = page.image.shape[:2]
    result.layout = analyse_layout(result.words, width, height, page.dpi)
    result.text = result.layout.text
    return result


def _flag_regions(page: PreparedPage, result: PageOcr) -> PageOcr:
    """Set ``low_confidence_regions``: low-confidence words and ink no word explains."""
    scale = _REGION_DPI / page.dpi
    small = cv2.resize(page.image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ink = (small < 160).astype(np.uint8)
    for word in result.words:
        x0, y0 = int(word.box.left * scale), int(word.box.top * scale)
        x1 = int((word.box.left + word.box.width) * scale) + 1
        y1 = int((word.box.top + word.box.height) * scale) + 1
        if word.confidence >= LOW_WORD_CONFIDENCE:
            ink[max(y0 - 1, 0) : y1 + 1, max(x0 - 1, 0) : x1 + 1] = 0  # explained
        else:
            ink[y0:y1, x0:x1] = 1  # read, but not trusted
    ink[:2, :] = ink[-2:, :] = 0  # scanner edges are not content
    ink[:, :2] = ink[:, -2:] = 0
    # Close gaps of ~8 mm across and ~4 mm down: one note or stamp becomes one region.
    grouped = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, np.ones((9, 17), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(grouped, connectivity=8)
    min_area = _MIN_REGION_MM2 * (_REGION_DPI / 25.4) ** 2
    regions = []
    for left, top, width, height, area in stats[1:count]:
        if width * height < min_area or area < 0.1 * min_area:
            continue
        regions.append(
            Box(
                left=int(left / scale),
                top=int(top / scale),
                width=int(width / scale),
                height=int(height / scale),
            )
        )
    result.low_confidence_regions = regions
    return result
