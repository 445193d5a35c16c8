"""Stage *preprocess*: make a scanned page upright, straight and clean before OCR.

Measured on this machine (300 dpi German letters): a 3x3 median filter plus deskewing took
the mean CER of skewed, speckled pages from 18 % to 0.07 %; Otsu or adaptive binarisation
on top made it slightly worse, so the page stays grayscale and Tesseract binarises it.
All analysis runs on a 150 dpi copy of the page; the whole stage costs about 60 ms per page.
Last, the *content box* is found (:func:`content_box`): Tesseract reads only the part of the
page with ink on it, which saves it 13 % of its time.

Dark scanner borders and punch holes are painted over with paper first
(:mod:`workers.scan_edges`, about 15 ms); left in, they mislead the skew and orientation
analysis and Tesseract (corpus pages with both: 6.4 % CER kept, 0.29 % painted over).

A page OpenCV cannot work with (fewer than ``MIN_SIDE`` pixels across, or anything else
OpenCV or numpy refuse on it) is bad input (:mod:`workers.library_errors`): the document
is quarantined with the reason, never retried as if the failure could pass.

Orientation is found without Tesseract: the direction of the text lines (projection
profiles) separates 0/180 from 90/270, and the ink above and below the lines' x-height band
(German has far more ascenders - capitals, b d f h k l t ß, umlaut dots - than descenders)
separates 0 from 180. The page is left upright when that test is undecided. Whatever it
decided, a page whose reading is not plausible German has its orientation checked again
(:mod:`workers.orientation`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from mailroom.core.domain import Box, GrayImage, PageImage, PreparedPage
from mailroom.core.errors import CorruptFile
from workers.library_errors import bad_input_errors
from workers.scan_edges import HOLE_REACH_MM, remove_scan_edges

WORKING_DPI = 300
MIN_DPI, MAX_DPI = 200, 400
ANALYSIS_DPI = 150
#: Narrower or lower pages (in pixels) are refused: the analysis copies would be empty.
MIN_SIDE = 16
#: Pages narrower than the two margin strips of the punch-hole search (a till receipt) are
#: not searched for borders and holes: OpenCV 5.0 crashes the process (SIGSEGV) on the
#: empty strip between them, and a strip that narrow has no punch holes anyway.
_NARROWEST_FOR_EDGES = 2 * int(HOLE_REACH_MM * ANALYSIS_DPI / 25.4)
MAX_SKEW = 5.0
#: Darker than this share of the local paper brightness counts as ink.
INK_RATIO = 0.7
#: A page is turned 180° only when descenders outweigh ascenders by this share.
UPRIGHT_MARGIN = 0.15
#: Darker than this on a quarter-size copy of the prepared page is content worth reading.
CONTENT_INK = 215
#: White paper left around the content for Tesseract (it needs some border).
CONTENT_MARGIN_MM = 5.0
#: Ink pixels sampled for the text direction (coarse) and for the exact skew (fine).
COARSE_SAMPLE, FINE_SAMPLE = 20_000, 60_000


@dataclass
class PageAnalysis:
    """What the cheap analysis of a page found (all angles in OpenCV's convention)."""

    blank: bool
    quarter_turns: int = 0  # clockwise quarter turns that make the text upright
    skew: float = 0.0  # counter-clockwise degrees that straighten the text
    upright_score: float = 0.0  # >0: ascenders dominate (upright); near 0: undecided


def prepare_page(page: PageImage, *, clean_edges: bool = True) -> PreparedPage:
    """Resolution, denoising, borders and holes, blank test, upright, deskew, even paper.

    The returned page is what OCR reads and what the searchable PDF shows. ``clean_edges``
    off keeps borders and holes (for comparison in ``benchmarks/cleanup.py``). Raises
    :class:`CorruptFile` (or :class:`FileTooLarge`) for a page the libraries refuse.
    """
    with bad_input_errors(f"page {page.number} cannot be prepared for OCR"):
        return _prepare(page, clean_edges=clean_edges)


def _prepare(page: PageImage, *, clean_edges: bool) -> PreparedPage:
    height, width = page.image.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise CorruptFile(
            f"page {page.number} has only {width} x {height} pixels, too small for a page",
            hint="rescan the document",
        )
    image, dpi = normalise_resolution(page.image, page.dpi)
    image = _u8(cv2.medianBlur(image, 3))
    small = _analysis_copy(image, dpi)
    if clean_edges and small.shape[1] > _NARROWEST_FOR_EDGES:
        # Before any analysis: a border's straight edge would pull the skew estimate
        # towards the scan's axes, and a blank back side with a border is still blank.
        image, small, _ = remove_scan_edges(image, small, ANALYSIS_DPI)
    background = _background(small)
    ink = _ink_mask(small, background)
    analysis = analyse(ink)
    if analysis.blank:
        return PreparedPage(number=page.number, image=image, dpi=dpi, blank=True)
    image = normalise_background(image, background)
    image = turn(image, analysis.quarter_turns)
    if abs(analysis.skew) >= 0.05:
        image = rotate_exact(image, analysis.skew)
    return PreparedPage(
        number=page.number,
        image=image,
        dpi=dpi,
        rotation=analysis.quarter_turns * 90,
        skew_degrees=round(analysis.skew, 2),
        content=content_box(image, dpi),
    )


def straighten(image: GrayImage, dpi: int) -> tuple[GrayImage, float]:
    """Deskew a page already turned upright; returns it and the angle corrected.

    For a page whose orientation was corrected after :func:`prepare_page`
    (:mod:`workers.orientation`): the skew found then belonged to the wrong orientation.
    """
    small = _analysis_copy(image, dpi)
    all_rows, all_cols = _ink_points(_ink_mask(small, _background(small)))
    if len(all_rows) == 0:
        return image, 0.0
    rows, cols = _sample(all_rows, FINE_SAMPLE), _sample(all_cols, FINE_SAMPLE)
    skew, _ = _search_skew(rows, cols, 0.0, MAX_SKEW, 0.5)
    for step, span in ((0.1, 0.5), (0.02, 0.1)):
        skew, _ = _search_skew(rows, cols, skew, span, step)
    if abs(skew) < 0.05:
        return image, 0.0
    return rotate_exact(image, skew), skew


def _u8(array: npt.NDArray[np.generic]) -> GrayImage:
    """OpenCV's results typed as the 8-bit page images they are (no copy)."""
    return np.asarray(array, dtype=np.uint8)


def normalise_resolution(image: GrayImage, dpi: int) -> tuple[GrayImage, int]:
    """Bring pages below 200 or above 400 dpi to 300 dpi (Tesseract's sweet spot)."""
    if MIN_DPI <= dpi <= MAX_DPI:
        return image, dpi
    factor = WORKING_DPI / dpi
    method = cv2.INTER_CUBIC if factor > 1 else cv2.INTER_AREA
    return _u8(cv2.resize(image, None, fx=factor, fy=factor, interpolation=method)), WORKING_DPI


def turn(image: GrayImage, quarter_turns: int) -> GrayImage:
    """Turn the page clockwise by ``quarter_turns`` x 90 degrees."""
    quarter = quarter_turns % 4
    if quarter == 0:
        return image
    # cv2.rotate copies in one pass: ~5 ms for an A4 page against ~35 ms for np.rot90
    # followed by the copy into a contiguous array that OpenCV and Tesseract need.
    codes = {1: cv2.ROTATE_90_CLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_COUNTERCLOCKWISE}
    return _u8(cv2.rotate(image, codes[quarter]))


def rotate_exact(image: GrayImage, degrees: float) -> GrayImage:
    """Turn counter-clockwise by ``degrees`` about the centre, filling corners with paper.

    Nearest-neighbour: every pixel keeps a grey value the scanner measured (no smoothing),
    in 12 ms instead of 30 ms for bilinear on an A4 page; on the 60-page benchmark corpus
    the CER was the same (0.11 % against 0.15 %, the difference on handwritten notes).
    """
    h, w = image.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return _u8(
        cv2.warpAffine(
            image, matrix, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE
        )
    )


def content_box(image: GrayImage, dpi: int) -> Box | None:
    """The part of a prepared page that holds ink, widened by ``CONTENT_MARGIN_MM``.

    Tesseract's page analysis costs time in proportion to the image's area, blank paper
    included: reading only this box took 13 % less Tesseract time on the benchmark corpus
    (letters leave wide margins and often half the page empty). Found on a quarter-size
    copy, where single specks average out to light grey; stamps and handwriting count as
    ink. None if the page shows no ink (OCR then reads the whole page).
    """
    height, width = image.shape
    small = cv2.resize(image, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    ink = small < CONTENT_INK
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if not len(rows):
        return None
    margin = round(CONTENT_MARGIN_MM / 25.4 * dpi)
    left, top = max(int(cols[0]) * 4 - margin, 0), max(int(rows[0]) * 4 - margin, 0)
    right = min((int(cols[-1]) + 1) * 4 + margin, width)
    bottom = min((int(rows[-1]) + 1) * 4 + margin, height)
    return Box(left=left, top=top, width=right - left, height=bottom - top)


def normalise_background(image: GrayImage, background_small: GrayImage) -> GrayImage:
    """Divide by the paper's brightness: grey or unevenly lit paper becomes white.

    Skipped on pages whose paper is already white and even (saves ~30 ms).
    """
    low, high = _percentiles(background_small, 0.02, 0.98)
    if low >= 225 and high - low <= 20:
        return image
    h, w = image.shape
    background = cv2.resize(background_small, (w, h), interpolation=cv2.INTER_LINEAR)
    return _u8(cv2.divide(image, background, scale=255))


def _percentiles(image: GrayImage, *shares: float) -> list[int]:
    """Grey values below which the given shares of the pixels lie (from a histogram)."""
    histogram = cv2.calcHist([image], [0], None, [256], [0, 256]).ravel()
    counts = np.cumsum(histogram)
    return [int(np.searchsorted(counts, share * counts[-1])) for share in shares]


# --- analysis on a 150 dpi copy -----------------------------------------------------


def _analysis_copy(image: GrayImage, dpi: int) -> GrayImage:
    factor = ANALYSIS_DPI / dpi
    return _u8(cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA))


def _background(small: GrayImage) -> GrayImage:
    """The paper's brightness: text removed by a 2.5 mm maximum filter, then smoothed."""
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (15, 15))
    paper = cv2.dilate(small, kernel)
    paper = cv2.blur(paper, (31, 31))
    return np.maximum(paper, 1).astype(np.uint8)


def _ink_mask(small: GrayImage, background: GrayImage) -> npt.NDArray[np.bool_]:
    """Ink: darker than ``INK_RATIO`` of the paper around it (integer arithmetic)."""
    scale = 1000
    limit = background.astype(np.uint32) * round(INK_RATIO * scale)
    return small.astype(np.uint32) * scale < limit


def analyse(ink: npt.NDArray[np.bool_]) -> PageAnalysis:
    """Blank test, text direction, skew and upright test on a 150 dpi ink mask.

    The direction is decided on a coarse search over a small sample of ink pixels (lines
    across give a sharp row profile, lines down a sharp column profile); only the winning
    direction's angle is refined, on a larger sample. About 10 ms per page.
    """
    if _is_blank(ink):
        return PageAnalysis(blank=True)
    all_rows, all_cols = _ink_points(ink)
    rows, cols = _sample(all_rows, COARSE_SAMPLE), _sample(all_cols, COARSE_SAMPLE)
    across, score_h = _search_skew(rows, cols, 0.0, MAX_SKEW, 0.5)
    down, score_v = _search_skew(cols, rows, 0.0, MAX_SKEW, 0.5)
    quarter, skew = 0, across
    rows, cols = _sample(all_rows, FINE_SAMPLE), _sample(all_cols, FINE_SAMPLE)
    if score_v > score_h * 1.15:
        # Lines run top to bottom: turn a quarter clockwise, then decide 90 vs 270 below.
        # Turned, the pixel (y, x) sits at (x, h - 1 - y); the column profile's best angle
        # is the turned page's skew with the sign flipped.
        quarter, skew = 1, -down
        rows, cols = cols, (ink.shape[0] - 1) - rows
        ink = np.ascontiguousarray(np.rot90(ink, k=-1))
    for step, span in ((0.1, 0.5), (0.02, 0.1)):
        skew, _ = _search_skew(rows, cols, skew, span, step)
    straight = _rotate_mask(ink, skew)
    score = upright_score(straight)
    if score < -UPRIGHT_MARGIN:
        quarter += 2
    return PageAnalysis(blank=False, quarter_turns=quarter % 4, skew=skew, upright_score=score)


def _ink_points(
    ink: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Row and column coordinates of every ink pixel, in raster order."""
    points = cv2.findNonZero(ink.view(np.uint8))  # (n, 1, 2) as (x, y); 5x numpy's nonzero
    if points is None:
        empty = np.zeros(0, np.float32)
        return empty, empty
    xy = points.reshape(-1, 2).astype(np.float32)
    return xy[:, 1], xy[:, 0]


def _sample(values: npt.NDArray[np.float32], size: int) -> npt.NDArray[np.float32]:
    """About ``size`` of the points: every n-th in raster order, spread over the whole
    page like a random sample, without the cost of drawing one."""
    stride = max(1, -(-len(values) // size))
    return values[::stride]


def _is_blank(ink: npt.NDArray[np.bool_]) -> bool:
    """A back side: hardly any ink, and no group of character-sized marks."""
    if ink.mean() > 0.003:
        return False
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    heights, areas = stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_AREA]
    glyphs = int(np.count_nonzero((heights >= 4) & (heights <= 60) & (areas >= 6)))
    return glyphs < 6


def _profile_score(
    rows: npt.NDArray[np.float32], cols: npt.NDArray[np.float32], degrees: float
) -> float:
    """Sharpness of the row profile after turning by ``degrees`` (OpenCV convention)."""
    angle = np.deg2rad(degrees)
    projected = rows * np.float32(np.cos(angle)) - cols * np.float32(np.sin(angle))
    projected -= projected.min()
    histogram = np.bincount(projected.astype(np.int32)).astype(np.float64)
    return float(np.sum(np.diff(histogram) ** 2))


def _search_skew(
    rows: npt.NDArray[np.float32],
    cols: npt.NDArray[np.float32],
    centre: float,
    span: float,
    step: float,
) -> tuple[float, float]:
    """The angle in ``centre ± span`` (and within ±5°) that makes text lines sharpest."""
    best, best_score = centre, -1.0
    for degrees in np.arange(centre - span, centre + span + step / 2, step):
        if abs(degrees) > MAX_SKEW + 1e-6:
            continue
        score = _profile_score(rows, cols, float(degrees))
        if score > best_score:
            best, best_score = float(degrees), score
    return best, best_score


def _rotate_mask(ink: npt.NDArray[np.bool_], degrees: float) -> npt.NDArray[np.bool_]:
    if abs(degrees) < 0.05:
        return ink
    mask = ink.astype(np.uint8) * 255
    h, w = mask.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(mask, matrix, (w, h), flags=cv2.INTER_NEAREST) > 0


def upright_score(ink: npt.NDArray[np.bool_]) -> float:
    """(ascender ink - descender ink) / both, over all text lines of a straight page.

    Clearly positive for upright Latin text, clearly negative for text upside down.
    """
    profile = ink.sum(axis=1).astype(np.float64)
    rows = profile > 2
    above = below = 0.0
    start = None
    for y, inside in enumerate([*rows.tolist(), False]):
        if inside and start is None:
            start = y
        elif not inside and start is not None:
            line = profile[start:y]
            if 6 <= len(line) <= 60:
                core = np.nonzero(line >= 0.45 * line.max())[0]
                above += float(line[: core[0]].sum())
                below += float(line[core[-1] + 1 :].sum())
            start = None
    total = above + below
    return 0.0 if total == 0 else (above - below) / total
