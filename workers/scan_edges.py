"""Scanner borders and punch holes (Scannerrand, Lochung), painted over with paper before OCR.

Scans of letters often show a dark band along some edges - the scanner lid or the feeder's
backing where the page did not cover the glass, wedge-shaped when the page lay askew - and,
for letters that were filed, two punch holes (ISO 838: 6 mm across, 80 mm apart, centres
12 mm from the edge). Tesseract reads both as junk characters, and a band's long straight
edge pulls the skew and orientation analysis of :mod:`workers.preprocess` towards the scan's
axes; a blank back side with a border would not be recognised as blank.

Both are found on the 150 dpi analysis copy, where "dark" means darker than 60 % of the
paper:

* **Border**: for every row (left and right edge) and every column (top and bottom edge),
  the length of the dark run that starts at the edge. A running median over 10 mm along the
  edge ignores the runs of letters or rules that happen to touch the edge, and only bands at
  least 1 mm wide count. Text that is separated from the band by any strip of paper is not
  part of the run and is never painted over; text that touches the band may lose the
  strokes that touch it.
* **Punch holes**: dark, filled, round blobs 4.5-9 mm across whose centre lies within 30 mm
  of an edge (any edge: the page may be turned), painted with 0.6 mm to spare for the soft
  edge of the hole. Letters are smaller and not filled; a filled dot that large in the
  margin would be painted too.

Everything found is painted with the paper's brightness, on the analysis copy and on the
page (bands as polygons, so the cost follows the band's area).

Measured with ``benchmarks/cleanup.py`` on 16 degraded 300 dpi A4 corpus letters with a
2-7 mm border and punch holes: pooled CER 6.4 % with them left in (skewed pages were not
straightened, some read at 12-53 % CER), 0.29 % with them painted over - the same as the
same pages scanned without border and holes. The search and painting take 11-16 ms per
page (machine shared with other jobs), about 11 ms of it on pages where nothing is found.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from mailroom.core.domain import GrayImage

#: Darker than this share of the paper's brightness is ink, lid or hole.
DARK_RATIO = 0.6
#: Running median along an edge, and the narrowest band that counts as a border.
SMOOTH_MM, MIN_BORDER_MM = 10.0, 1.0
#: Rows (columns) within this share of the median's window count as "nearby".
NEAR_SHARE = 0.1
#: Painted beyond the measured band: the blurred transition from lid to paper.
BORDER_SPARE_PX = 2
#: A band reaches at most this share of the page inwards from its edge.
MAX_BORDER_SHARE = 1 / 3
HOLE_MM = (4.5, 9.0)
HOLE_REACH_MM, HOLE_SPARE_MM = 30.0, 0.6

IntArray = npt.NDArray[np.int32]


@dataclass
class ScanEdges:
    """Border widths and punch holes found on an analysis copy (its pixels).

    ``left``/``right`` hold one width per row, ``top``/``bottom`` one per column; 0 where
    that edge has no border. ``holes`` are (x, y, radius) circles.
    """

    left: IntArray
    right: IntArray
    top: IntArray
    bottom: IntArray
    holes: list[tuple[float, float, float]] = field(default_factory=list)

    @property
    def found(self) -> bool:
        bands = (self.left, self.right, self.top, self.bottom)
        return bool(self.holes) or any(bool(band.any()) for band in bands)


def remove_scan_edges(
    image: GrayImage, small: GrayImage, small_dpi: int
) -> tuple[GrayImage, GrayImage, ScanEdges]:
    """Paint borders and punch holes with paper, on the page and on its analysis copy.

    ``small`` is ``image`` scaled to ``small_dpi``. Returns new arrays where something was
    found, the inputs themselves otherwise.
    """
    paper = float(np.percentile(small[::4, ::4], 90))
    dark = small < paper * DARK_RATIO
    edges = find_scan_edges(dark, small_dpi)
    if not edges.found:
        return image, small, edges
    tone = round(paper)
    return _paint(image, edges, tone), _paint(small, edges, tone), edges


def find_scan_edges(dark: npt.NDArray[np.bool_], dpi: int) -> ScanEdges:
    """Borders and punch holes in the dark mask of a page scaled to ``dpi``."""
    px_per_mm = dpi / 25.4
    window = int(SMOOTH_MM * px_per_mm) | 1
    min_width = MIN_BORDER_MM * px_per_mm
    edges = ScanEdges(
        left=_band(dark, window, min_width),
        right=_band(dark[:, ::-1], window, min_width),
        top=_band(dark.T, window, min_width),
        bottom=_band(dark[::-1].T, window, min_width),
    )
    # A hole that touches a band merges with it into one blob far too large for a hole:
    # the band's painting covers what it can of it, the search below rejects it.
    edges.holes = _holes(dark, px_per_mm)
    return edges


def _band(dark: npt.NDArray[np.bool_], window: int, min_width: float) -> IntArray:
    """Per row: width of the dark band at the row's start (0 where there is none)."""
    reach = max(int(dark.shape[1] * MAX_BORDER_SHARE), 1)
    paper = ~dark[:, :reach]
    runs = np.argmax(paper, axis=1).astype(np.int32)  # first paper pixel (0 if none)
    runs[~paper.any(axis=1)] = reach
    smooth = np.median(_windows(runs, window), axis=1)
    # Never wider than the dark run of a nearby row: where the median overshoots (at the
    # corner of two bands), paper and text beyond the true band stay as they are.
    near = np.max(_windows(runs, int(window * NEAR_SHARE) | 1), axis=1)
    band = np.where(smooth >= min_width, np.ceil(np.minimum(smooth, near)) + BORDER_SPARE_PX, 0)
    return np.minimum(band, reach).astype(np.int32)


def _windows(values: IntArray, window: int) -> IntArray:
    """Every ``window``-long run of ``values`` centred on each element (edges repeated)."""
    return sliding_window_view(np.pad(values, window // 2, mode="edge"), window)


def _holes(dark: npt.NDArray[np.bool_], px_per_mm: float) -> list[tuple[float, float, float]]:
    """Filled round blobs of punch-hole size whose centre lies near an edge."""
    h, w = dark.shape
    reach = int(HOLE_REACH_MM * px_per_mm)
    # The margins as four strips that do not overlap (the corners belong to the sides).
    strips = [(0, 0, h, reach), (0, w - reach, h, w), (0, reach, reach, w - reach)]
    strips.append((h - reach, reach, h, w - reach))
    holes = []
    for top, left, bottom, right in strips:
        # Every second pixel (75 dpi) is plenty for blobs 6 mm across, and 4x cheaper.
        zone = dark[top:bottom:2, left:right:2].astype(np.uint8)
        count, _, stats, centroids = cv2.connectedComponentsWithStats(zone, connectivity=8)
        for (_, _, bw, bh, area), (x, y) in zip(stats[1:count], centroids[1:count], strict=True):
            if _hole_shaped(int(bw), int(bh), int(area), px_per_mm / 2):
                radius = max(bw, bh) + HOLE_SPARE_MM * px_per_mm
                holes.append((2 * float(x) + 0.5 + left, 2 * float(y) + 0.5 + top, float(radius)))
    return holes


def _hole_shaped(width: int, height: int, area: int, px_per_mm: float) -> bool:
    """Punch-hole size, round (not a stroke) and filled (a large "O" is a ring)."""
    smallest, largest = (size * px_per_mm for size in HOLE_MM)
    if not (smallest <= width <= largest and smallest <= height <= largest):
        return False
    return 0.75 <= width / height <= 1.33 and 0.6 <= area / (width * height) <= 0.9


def _paint(image: GrayImage, edges: ScanEdges, tone: int) -> GrayImage:
    """A copy of ``image`` (any scale of the analysis copy) with borders and holes painted."""
    out = image.copy()
    h, w = out.shape
    scale_y, scale_x = h / edges.left.shape[0], w / edges.top.shape[0]
    # Each band is a polygon: the edge, and the band's inner side through the middle of
    # every row (column) of the analysis copy. Filling it costs what the band's area costs.
    rows = (np.arange(edges.left.shape[0]) + 0.5) * scale_y
    columns = (np.arange(edges.top.shape[0]) + 0.5) * scale_x
    for band, along, length, scale, place in (
        (edges.left, rows, h, scale_x, lambda depth, at: (depth - 1, at)),
        (edges.right, rows, h, scale_x, lambda depth, at: (w - depth, at)),
        (edges.top, columns, w, scale_y, lambda depth, at: (at, depth - 1)),
        (edges.bottom, columns, w, scale_y, lambda depth, at: (at, h - depth)),
    ):
        if not band.any():
            continue
        depth = np.ceil(band * scale)  # 0 puts the inner side just outside the image
        depths = np.concatenate([depth[:1], depth, depth[-1:], [0.0, 0.0]])
        positions = np.concatenate([[-1.0], along, [float(length)], [float(length), -1.0]])
        polygon = np.stack(place(depths, positions), axis=1).round().astype(np.int32)
        cv2.fillPoly(out, [polygon], tone)
    for x, y, radius in edges.holes:
        centre = (round(((x + 0.5) * scale_x - 0.5) * 16), round(((y + 0.5) * scale_y - 0.5) * 16))
        cv2.circle(out, centre, round(radius * scale_x * 16), tone, -1, cv2.LINE_8, shift=4)
    return out
