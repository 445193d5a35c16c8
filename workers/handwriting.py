"""Handwriting (Handschrift): letters written by hand, handwritten notes, signatures.

Two questions, answered from the page image and Tesseract's words:

**Is the page's text written by hand?** Print sits on a ruler-straight baseline, its
letters are separate shapes, and Tesseract reads it with confidence. Handwriting has none
of that, and each measure alone misleads (a casual print font reads well; a degraded page
reads badly), so :func:`page_features` measures the one that holds for every hand, joined-up or
printed: the *baseline wander*, in each text line of four or more words, the standard
deviation of the words' baselines (found from each word's ink profile) from the line's
straight fit, in x-heights. Print stays below 0.03, handwriting, even a neat one, lies at
0.04 and far above. A page with too few such lines (a short note, a postscript page) is
judged by a weak reading instead: low mean confidence and few German dictionary words.
(Counting connected ink shapes per letter, for joined-up writing, was tried and dropped:
serif print breaks into as many shapes as cursive joins.)

**Where is the handwriting on a printed page?** Ink that no confidently read word covers
(:func:`workers.recognize` finds those regions) is handwriting unless it is a stamp: a
stamp is framed by straight lines or is read as printed words. A region beside or just
above the typed name under the closing is a *signature*; anything else a *note*.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from mailroom.core.domain import Box, GrayImage, HandKind, HandRegion, LayoutBlock, PageLayout, Word
from workers.din5008 import union

#: Darker than this (0-255) is ink inside a word's box (pages are background-normalised).
INK = 150
#: Words with at least this many letters are measured; lines with at least LINE_WORDS such
#: words.
MIN_LETTERS = 3
LINE_WORDS = 4
#: A line whose words' baselines stray from its straight fit by at least this (standard
#: deviation, in x-heights) is handwritten; a page is when the median of its lines is.
#: Printed letters of the own corpus, clean to heavily degraded, stay below 0.03
#: (sub-pixel jitter of the baseline estimate); see benchmarks/reading.py.
WANDER = 0.033
#: With fewer measurable lines than this, a page counts as handwritten when it is read
#: this weakly (mean word confidence and German word share both low).
MIN_LINES = 3
WEAK_CONFIDENCE, WEAK_SHARE = 50.0, 0.35


@dataclass(frozen=True)
class LineWander:
    """One text line's baseline wander (x-heights) and its box."""

    wander: float
    box: Box


@dataclass(frozen=True)
class PageFeatures:
    """What :func:`page_features` measured on one page."""

    lines: tuple[LineWander, ...]
    confidence: float | None
    dictionary_share: float | None

    @property
    def wander(self) -> float | None:
        """Median baseline wander of the measured lines."""
        return statistics.median(line.wander for line in self.lines) if self.lines else None


def page_features(
    image: GrayImage, words: Sequence[Word], confidence: float | None, share: float | None
) -> PageFeatures:
    """Measure each text line's baseline wander over the page's words."""
    by_line: dict[int, list[tuple[Word, float, float]]] = {}
    for word in words:
        letters = sum(ch.isalpha() for ch in word.text)
        if letters < MIN_LETTERS or word.box.width < 4 or word.box.height < 4:
            continue
        ink = _crop(image, word.box) < INK
        if not ink.any():
            continue
        baseline, x_height = _baseline(ink)
        by_line.setdefault(word.line, []).append((word, word.box.top + baseline, x_height))
    lines = [w for w in map(_line_wander, by_line.values()) if w is not None]
    return PageFeatures(tuple(lines), confidence, share)


def written_by_hand(features: PageFeatures) -> bool:
    """Whether the page's text is handwritten (see the module docstring)."""
    if len(features.lines) >= MIN_LINES:
        return (features.wander or 0.0) >= WANDER
    if features.dictionary_share is None or features.confidence is None:
        return False  # no words to judge by (figures, a photo): not a handwritten letter
    return features.confidence < WEAK_CONFIDENCE and features.dictionary_share < WEAK_SHARE


def _crop(image: GrayImage, box: Box) -> GrayImage:
    return image[box.top : box.top + box.height, box.left : box.left + box.width]


def _baseline(ink: np.ndarray) -> tuple[float, float]:
    """(baseline row, x-height) of a word: the band where most of its ink lies."""
    profile = ink.sum(axis=1).astype(np.float64)
    core = np.nonzero(profile >= 0.5 * profile.max())[0]
    return float(core[-1] + 1), float(core[-1] + 1 - core[0])


def _line_wander(points: list[tuple[Word, float, float]]) -> LineWander | None:
    """Standard deviation of the words' baselines from their straight fit, in x-heights."""
    if len(points) < LINE_WORDS:
        return None
    xs = np.array([w.box.left + w.box.width / 2 for w, _, _ in points])
    ys = np.array([y for _, y, _ in points])
    if float(np.ptp(xs)) == 0.0:
        return None
    slope, offset = np.polyfit(xs, ys, 1)
    x_height = statistics.median(h for _, _, h in points)
    wander = float(np.std(ys - (slope * xs + offset))) / max(x_height, 1.0)
    return LineWander(wander, union([w.box for w, _, _ in points]))


# --- regions ------------------------------------------------------------------------

#: A stamp's frame: straight ink runs at least this long (mm) across and down.
FRAME_ACROSS_MM, FRAME_DOWN_MM = 15.0, 8.0
#: Below the closing (Grußformel), this far (mm) is where the signature goes.
SIGNATURE_BELOW_MM = 35.0
#: Lower or narrower regions (mm) are rules, scanner edges and specks, not writing.
MIN_HAND_MM = 3.0
#: Words read at least this confidently are print; a region that spans a row of such
#: words, at most PRINT_HEIGHTS times their height and PRINT_GAP_MM beside them, is print
#: read weakly (or print under a blot).
PRINT_CONFIDENCE = 70.0
PRINT_GAP_MM = 30.0
#: Regions are found on a coarse grid and grow by its closing: up to this many word heights.
PRINT_HEIGHTS = 2.6
#: Ink covering more of a region than this is a logo or a filled shape, not pen strokes.
MAX_FILL = 0.3


def hand_regions(
    image: GrayImage,
    dpi: int,
    features: PageFeatures,
    by_hand: bool,
    unexplained: Sequence[Box],
    layout: PageLayout | None,
    words: Sequence[Word] = (),
) -> list[HandRegion]:
    """The page's handwriting: its text blocks when the page is written by hand, then the
    unexplained ink regions (``unexplained``) that are no stamp, no rule or edge, no logo
    and no weakly read print, as signatures or notes."""
    found: list[HandRegion] = []
    blocks = layout.blocks if layout is not None else ()
    if by_hand:
        for block in blocks:
            lines = [line for line in features.lines if block.box.holds_centre_of(line.box)]
            if lines and all(line.wander < WANDER for line in lines):
                continue  # a printed block on a handwritten page (a form, a label)
            found.append(HandRegion(block.box, "text"))
    mm = dpi / 25.4
    confident = [w for w in words if w.confidence >= PRINT_CONFIDENCE]
    for box in unexplained:
        if (
            min(box.height, box.width) < MIN_HAND_MM * mm
            or any(region.box.holds_centre_of(box) for region in found)
            or _solid(image, box)
            or _framed(image, box, mm)
            or _in_print_line(box, confident, mm)
        ):
            continue
        kind: HandKind = "signature" if _signature_place(box, blocks, mm) else "note"
        found.append(HandRegion(box, kind))
    return found


def _in_print_line(box: Box, confident: Sequence[Word], mm: float) -> bool:
    """Whether ``box`` continues a row of confidently read print."""
    for word in confident:
        height = word.box.height
        shared = min(box.top + box.height, word.box.top + height) - max(box.top, word.box.top)
        if shared < 0.8 * height:
            continue
        if not 0.6 * height <= box.height <= PRINT_HEIGHTS * height:
            continue
        gap = max(
            word.box.left - (box.left + box.width), box.left - (word.box.left + word.box.width)
        )
        if gap <= PRINT_GAP_MM * mm:
            return True
    return False


def _solid(image: GrayImage, box: Box) -> bool:
    """A logo or filled shape: ink covers much of the region."""
    crop = _crop(image, box)
    return crop.size > 0 and float((crop < INK).mean()) > MAX_FILL


def _framed(image: GrayImage, box: Box, mm: float) -> bool:
    """A stamp: its ink holds straight runs across and down (a frame)."""
    ink = (_crop(image, box) < INK).astype(np.uint8)
    across, down = int(FRAME_ACROSS_MM * mm), int(FRAME_DOWN_MM * mm)
    if ink.shape[1] < across or ink.shape[0] < down:
        return False
    rows = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((1, across), np.uint8))
    cols = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((down, 1), np.uint8))
    return bool(rows.any() and cols.any())


def _signature_place(box: Box, blocks: Sequence[LayoutBlock], mm: float) -> bool:
    """Whether ``box`` lies where a letter is signed: below the closing, above or beside
    the typed name."""
    top, bottom = box.top, box.top + box.height
    for block in blocks:
        b_top, b_bottom = block.box.top, block.box.top + block.box.height
        reach = SIGNATURE_BELOW_MM * mm
        if block.kind == "closing" and b_top - 2 * mm <= top <= b_bottom + reach:
            return True
        if block.kind == "signature" and b_top - reach <= bottom <= b_bottom + 5 * mm:
            return True
    return False
