"""Stage *recognize*: OCR of one prepared page, with a safety net for orientation.

:func:`workers.preprocess.prepare_page` already turns pages upright with a cheap test, so
Tesseract's orientation detection (OSD, ~0.5 s) is only paid when the first recognition
looks wrong (low confidence or hardly any words): then OSD decides, the page is turned and
recognised again, and the better of the two results is kept.

Regions the engine could not read with confidence - handwritten notes, stamps - are
flagged: low-confidence words, and ink that no recognised word covers.

The page text is then composed from the page's layout (:mod:`workers.layout`): blocks in
reading order, so that the address field and the information block beside it do not run
into each other. An engine that gives no word boxes keeps its own text.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from mailroom.core.domain import Box, PageOcr, PreparedPage
from mailroom.infra.tesseract import OcrEngine, OrientationDetector
from workers.layout import analyse_layout
from workers.preprocess import content_box, turn

#: Below this mean word confidence a page is suspected to be turned (upright letters,
#: even degraded ones, score 85-96; turned ones well below 60).
SUSPECT_CONFIDENCE = 70.0
SUSPECT_MIN_WORDS = 8
#: Words below this confidence are flagged as regions to check.
LOW_WORD_CONFIDENCE = 50.0
_REGION_DPI = 50  # coarse grid for grouping uncovered ink into regions
_MIN_REGION_MM2 = 60.0  # ignore specks: smaller than e.g. 10 mm x 6 mm is not a note


def recognize_page(page: PreparedPage, engine: OcrEngine) -> tuple[PreparedPage, PageOcr]:
    """Recognise ``page``; returns the page as finally read (maybe turned) and its OCR.

    Blank pages are not recognised: their result has empty text and confidence None.
    """
    if page.blank:
        return page, PageOcr(number=page.number, text="", confidence=None, engine=engine.name)
    result = engine.recognize(page)
    if _suspect(result):
        page, result = _retry_turned(page, result, engine)
    return page, _with_layout(page, _flag_regions(page, result))


def _with_layout(page: PreparedPage, result: PageOcr) -> PageOcr:
    """Set the page's layout and compose its text in the layout's reading order."""
    if not result.words:
        return result
    height, width = page.image.shape[:2]
    result.layout = analyse_layout(result.words, width, height, page.dpi)
    result.text = result.layout.text
    return result


def _suspect(result: PageOcr) -> bool:
    confident = [w for w in result.words if w.confidence >= LOW_WORD_CONFIDENCE]
    return (result.confidence or 0.0) < SUSPECT_CONFIDENCE or len(confident) < SUSPECT_MIN_WORDS


def _quality(result: PageOcr) -> float:
    """Characters read with confidence: a turned page yields few, an upright one many."""
    return sum(len(w.text) * w.confidence for w in result.words if w.confidence >= 50) / 100


def _retry_turned(
    page: PreparedPage, first: PageOcr, engine: OcrEngine
) -> tuple[PreparedPage, PageOcr]:
    """Ask OSD how the page is turned (or try 180° without OSD) and keep the better read."""
    turns = [180]
    if isinstance(engine, OrientationDetector):
        orientation = engine.detect_orientation(page.image, page.dpi)
        if orientation is None or orientation.rotate == 0:
            return page, first
        turns = [orientation.rotate]
    best_page, best = page, first
    for degrees in turns:
        image = turn(page.image, degrees // 90)
        turned = replace(
            page,
            image=image,
            rotation=(page.rotation + degrees) % 360,
            content=content_box(image, page.dpi),
        )
        result = engine.recognize(turned)
        result.seconds += first.seconds
        if _quality(result) > _quality(best):
            best_page, best = turned, result
    return best_page, best


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
