"""Stage *layout*: a page's blocks and their reading order, from the OCR word boxes.

Tesseract reads the words well but often joins what only sits side by side: in a DIN 5008
letter the address field (left) and the information block (right) share text lines, and
"Stadt Wuppertal" and "Auskunft erteilt: Herr Pohl" came out as one line. This stage
rebuilds the page from the words' boxes (Tesseract's TSV), in three steps:

1. **Segments** (:mod:`workers.segments`). Each Tesseract line is split where its words
   leave a wide gap (a second column, a tab stop); specks and doubles are left out.
2. **Blocks, by white space** (a recursive XY cut). A region is cut where a horizontal
   band of at least :data:`ROW_GAP` line heights holds no segment (a blank line) or a
   vertical one of at least :data:`COLUMN_GAP` line heights (a gutter between columns),
   whichever is the clearer, and each part is cut again; parts are read top to bottom and
   left to right. A gutter is *not* a block boundary when the column left of it holds the
   labels of the column right of it (``Datum:`` | ``08.10.2026``): labels ending in a colon,
   or, in the letter's header, a column that starts right of the DIN 5008 address field
   (:func:`workers.din5008.in_information_zone`) with rows beside the other column's.
   Columns whose rows all pair up are a table, read row by row too (:func:`one_table`),
   except the address field beside the information block and the footer's columns.
3. **Kinds.** :func:`workers.din5008.name_blocks` names the blocks (letterhead, address
   field, information block, ...) by DIN 5008 geometry and puts the header in letter order.

Inside a block, segments on the same row form one line; no line joins two blocks, and a
column without blank lines is parted into paragraphs where its lines stand clearly further
apart than around (:func:`paragraphs`). The page text is the blocks' lines, blocks
separated by a blank line. Left out: words below Tesseract's noise confidence (as in
:func:`mailroom.infra.tesseract.compose_text`) unless they are tokens on a line of print
(:func:`workers.segments.text_words`), specks (a lone "|" or "/" from a stamp's border or
a punch hole) and words Tesseract read twice, once on a line of their own.
A page whose Tesseract lines do not run level (read turned, or wild handwriting) keeps
Tesseract's own line order.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

from mailroom.core.domain import Box, LayoutBlock, LayoutLine, PageLayout, Word
from mailroom.infra.tesseract import NOISE_CONFIDENCE
from workers.din5008 import (
    HEADER_BOTTOM_MM,
    INFO_BLOCK_LEFT_MM,
    INFO_LEFT_MM,
    Draft,
    PageGeometry,
    in_address_column,
    in_footer,
    in_information_zone,
    is_date,
    labelled,
    name_blocks,
    union,
)
from workers.segments import Segment, line_height, segments, text_words

#: A blank band at least this high (line heights) separates blocks above and below it.
ROW_GAP = 1.1
#: Inside a column, a band of at least NARROW_ROW_GAP line heights parts paragraphs if it
#: is GAP_CONTRAST times the bands beside it (lines that nearly touch count as
#: USUAL_ROW_GAP apart; see :func:`paragraphs`); a region without any cut is parted at its
#: widest band of NARROW_ROW_GAP if that reveals columns (:func:`xy_cut`).
NARROW_ROW_GAP = 0.6
GAP_CONTRAST = 1.8
USUAL_ROW_GAP = 0.3
#: A blank band at least this wide (line heights) separates columns.
COLUMN_GAP = 2.0
#: In the header, a gutter beside at least this many rows may be crossed by one line.
CROSSED_ROWS = 4
#: Segments whose vertical centres lie within this (line heights) are on one row.
SAME_ROW = 0.5

Span = tuple[int, int]


def analyse_layout(
    words: Sequence[Word],
    width: int,
    height: int,
    dpi: int,
    *,
    min_confidence: float = NOISE_CONFIDENCE,
) -> PageLayout:
    """The blocks of one page in reading order, from its words (boxes in page pixels)."""
    kept = text_words(words, min_confidence)
    if not kept:
        return PageLayout((), dpi)
    if not level_lines(kept):
        return PageLayout((_as_read(kept),), dpi)
    unit = line_height(kept)
    page = PageGeometry(width, height, dpi, unit)
    segs = segments(kept, unit)
    if not segs:
        return PageLayout((), dpi)
    leaves = xy_cut(segs, page)
    drafts = [_draft(rows(leaf, unit)) for leaf in leaves]
    return PageLayout(tuple(name_blocks(drafts, page)), dpi)


def level_lines(words: Sequence[Word]) -> bool:
    """Whether most words stand in lines that run level across the page.

    On a page read turned by 90° (or in wild handwriting) Tesseract's "lines" climb up
    and down the page; boxes cannot tell its reading order better than Tesseract then.
    """
    by_line: dict[int, list[Word]] = {}
    for w in words:
        by_line.setdefault(w.line, []).append(w)
    steep = 0
    for line in by_line.values():
        top = min(w.box.top for w in line)
        bottom = max(w.box.top + w.box.height for w in line)
        if len(line) > 1 and bottom - top > 2 * statistics.median(w.box.height for w in line):
            steep += len(line)
    return 2 * steep <= len(words)


def _as_read(words: Sequence[Word]) -> LayoutBlock:
    """All words as one block in Tesseract's own line order."""
    by_line: dict[int, list[Word]] = {}
    for w in words:
        by_line.setdefault(w.line, []).append(w)
    lines = [
        LayoutLine(" ".join(w.text for w in line), Segment.of(line).box)
        for _, line in sorted(by_line.items())
    ]
    return LayoutBlock("other", union([line.box for line in lines]), tuple(lines))


def gaps(spans: Sequence[Span]) -> list[Span]:
    """The blank stretches between the spans' union, in order (start, end)."""
    out: list[Span] = []
    ordered = sorted(spans)
    end = ordered[0][1]
    for start, stop in ordered[1:]:
        if start > end:
            out.append((end, start))
        end = max(end, stop)
    return out


def xy_cut(segs: list[Segment], page: PageGeometry) -> list[list[Segment]]:
    """The page cut recursively at blank rows and gutters: the leaves in reading order."""
    row_gaps = [g for g in gaps([(s.top, s.bottom) for s in segs]) if _size(g) >= _row_min(page)]
    col_gaps = column_gaps(segs, page)
    if not row_gaps and not col_gaps:
        return _narrow_cut(segs, page) or paragraphs(segs, page)
    row_score = max((_size(g) / _row_min(page) for g in row_gaps), default=0.0)
    col_score = max((_size(g) / _col_min(page) for g in col_gaps), default=0.0)
    if col_score > row_score:
        parts = _split(segs, col_gaps, lambda s: s.left)
    else:
        parts = _split(segs, row_gaps, lambda s: s.top)
    return [leaf for part in parts for leaf in xy_cut(part, page)]


def _narrow_cut(segs: list[Segment], page: PageGeometry) -> list[list[Segment]] | None:
    """A region without a clear cut, parted at its widest row gap if that reveals columns.

    A line that reaches a little under two columns (a name line just below the address
    field and the information block) leaves neither a blank row nor a clear gutter.
    """
    row_gaps = [
        g for g in gaps([(s.top, s.bottom) for s in segs]) if _size(g) >= NARROW_ROW_GAP * page.unit
    ]
    if not row_gaps:
        return None
    parts = _split(segs, [max(row_gaps, key=_size)], lambda s: s.top)
    if not any(column_gaps(part, page) for part in parts):
        return None
    return [leaf for part in parts for leaf in xy_cut(part, page)]


def _size(gap: Span) -> int:
    return gap[1] - gap[0]


def paragraphs(segs: list[Segment], page: PageGeometry) -> list[list[Segment]]:
    """A column without blank lines, parted where its rows stand clearly further apart.

    Some letters set paragraphs apart by half a line only, and some set the address
    field's lines wider apart than the text's, so no one gap size tells them apart on
    the whole page; within one column a gap parts paragraphs when it is at least
    :data:`NARROW_ROW_GAP` line heights and :data:`GAP_CONTRAST` times the narrower of
    the gaps beside it. The order does not change.
    """
    row_gaps = gaps([(s.top, s.bottom) for s in segs])
    breaks = []
    for index, gap in enumerate(row_gaps):
        beside = [_size(g) for g in row_gaps[max(index - 1, 0) : index + 2] if g is not gap]
        wide = _size(gap) >= NARROW_ROW_GAP * page.unit
        usual = max(min(beside, default=0), USUAL_ROW_GAP * page.unit)
        if wide and beside and _size(gap) >= GAP_CONTRAST * usual:
            breaks.append(gap)
    return _split(segs, breaks, lambda s: s.top) if breaks else [segs]


def _row_min(page: PageGeometry) -> float:
    return ROW_GAP * page.unit


def _col_min(page: PageGeometry) -> float:
    return COLUMN_GAP * page.unit


def _split(
    segs: list[Segment], cuts: list[Span], start: Callable[[Segment], int]
) -> list[list[Segment]]:
    """``segs`` in the stretches between ``cuts`` (each segment by where it starts)."""
    parts: list[list[Segment]] = [[] for _ in range(len(cuts) + 1)]
    for s in segs:
        position = start(s)
        index = sum(position >= gap[1] for gap in cuts)
        parts[index].append(s)
    return [part for part in parts if part]


def column_gaps(segs: list[Segment], page: PageGeometry) -> list[Span]:
    """Gutters wide enough to separate columns, except those inside one table.

    In the header, where no clear gutter parts the address field from the information
    block, a band that one line crosses may (:func:`gutters`).
    """
    heights = [s.bottom - s.top for s in segs]
    threshold = COLUMN_GAP * max(page.unit, float(statistics.median(heights)))
    wide = [g for g in gaps([(s.left, s.right) for s in segs]) if _size(g) >= threshold]
    kept = _columns(segs, wide, page)
    if kept or page.mm(max(s.bottom for s in segs)) >= HEADER_BOTTOM_MM:
        return kept
    crossing = 1 if len(rows(segs, page.unit)) >= CROSSED_ROWS else 0
    bands = [
        g
        for g in gutters(segs, crossing)
        if _size(g) >= threshold
        and page.mm(g[1]) >= INFO_LEFT_MM
        and page.mm(g[0]) <= INFO_BLOCK_LEFT_MM
    ]
    return _columns(segs, bands, page, address_beside_info=True)


def _columns(
    segs: list[Segment], cuts: list[Span], page: PageGeometry, *, address_beside_info: bool = False
) -> list[Span]:
    """The cuts (left to right) whose columns on either side are not one table.

    With ``address_beside_info``, only cuts between the address field and the
    information block.
    """
    ends = [None, *(g[1] for g in cuts), None]
    kept = []
    for index, gap in enumerate(cuts):
        left = _column(segs, ends[index], gap[1])
        right = _column(segs, gap[1], ends[index + 2])
        if not left or not right or one_table(left, right, page):
            continue
        if not address_beside_info or _address_beside_info(left, right, page):
            kept.append(gap)
    return kept


def _column(segs: list[Segment], start: int | None, stop: int | None) -> list[Segment]:
    """The segments that start between two cuts' ends (None: the region's edge)."""
    return [
        s for s in segs if (start is None or s.left >= start) and (stop is None or s.left < stop)
    ]


def gutters(segs: list[Segment], crossing: int) -> list[Span]:
    """Vertical bands that at most ``crossing`` segments cross, inside the segments' span.

    In the header, one long line may run from the address field into the information
    block's band (an address line longer than the field, a stamp); it stays with the
    column it starts in (see :func:`_split`).
    """
    if crossing == 0:
        return []
    events = sorted([(s.left, 1) for s in segs] + [(s.right, -1) for s in segs])
    out: list[Span] = []
    covered, start = 0, None
    for x, step in events:
        covered += step
        if covered <= crossing and start is None:
            start = x
        elif covered > crossing and start is not None:
            if x > start:
                out.append((start, x))
            start = None
    first_right = min(s.right for s in segs)
    last_left = max(s.left for s in segs)
    return [(a, b) for a, b in out if a >= first_right and b <= last_left]


def one_table(left: list[Segment], right: list[Segment], page: PageGeometry) -> bool:
    """Whether columns ``left`` and ``right`` are read row by row, as one table.

    Only columns whose rows sit beside each other can be. They are one table when ``left``
    holds labels: most of its rows end in a colon, or it starts right of the address field
    in the header, where DIN 5008 puts the information block ("Ihr Zeichen", "Datum", each
    beside its value). The address field beside the information block is never one
    table. Other columns whose rows all pair up (Pos. | Bezeichnung | Betrag) are a table
    unless they stand in the footer, whose columns are read one after the other.
    """
    unit = page.unit
    left_rows, right_rows = rows(left, unit), rows(right, unit)
    left_beside = _beside(left_rows, right_rows, unit)
    if 2 * left_beside < len(left_rows):
        return False
    if 2 * sum(row[-1].text.rstrip().endswith(":") for row in left_rows) >= len(left_rows):
        return True
    if in_information_zone(_box(left), page):
        return True
    if _address_beside_info(left, right, page):
        return False
    right_beside = _beside(right_rows, left_rows, unit)
    paired = 3 * left_beside >= 2 * len(left_rows) and 3 * right_beside >= 2 * len(right_rows)
    return paired and min(len(left_rows), len(right_rows)) >= 2 and not in_footer(_box(left), page)


def _address_beside_info(left: list[Segment], right: list[Segment], page: PageGeometry) -> bool:
    """Whether ``left`` starts at the address field and ``right`` reads like an
    information block beside it."""
    right_box = _box(right)
    return in_address_column(_box(left), page) and _information_block(
        rows(right, page.unit), right_box, page
    )


def _beside(rows_a: list[list[Segment]], rows_b: list[list[Segment]], unit: float) -> int:
    """How many rows of ``rows_a`` have a row of ``rows_b`` beside them."""
    return sum(any(abs(_middle(a) - _middle(b)) <= SAME_ROW * unit for b in rows_b) for a in rows_a)


def _information_block(block_rows: list[list[Segment]], box: Box, page: PageGeometry) -> bool:
    """Rows that read like an information block: labels with values, or a date."""
    if not in_information_zone(box, page):
        return False
    pairs = sum(len(row) >= 2 or labelled(_text(row)) for row in block_rows)
    return 2 * pairs >= len(block_rows) or any(is_date(_text(row)) for row in block_rows)


def _text(row: list[Segment]) -> str:
    return " ".join(s.text for s in row)


def rows(segs: list[Segment], unit: float) -> list[list[Segment]]:
    """The segments grouped into text rows, top to bottom, each row left to right.

    The segments of one Tesseract line stay one row (handwritten lines wave up and down);
    lines whose middles lie level join into one row (a label and its value that Tesseract
    read as two lines).
    """
    by_line: dict[int, list[Segment]] = {}
    for s in segs:
        by_line.setdefault(s.words[0].line, []).append(s)
    out: list[list[Segment]] = []
    for line in sorted(by_line.values(), key=_middle):
        if out and abs(_middle(line) - _middle(out[-1])) <= SAME_ROW * unit:
            out[-1].extend(line)
        else:
            out.append(list(line))
    return [sorted(row, key=lambda s: s.left) for row in out]


def _middle(row: list[Segment]) -> float:
    return sum(s.middle for s in row) / len(row)


def _box(segs: Sequence[Segment]) -> Box:
    left, top = min(s.left for s in segs), min(s.top for s in segs)
    right, bottom = max(s.right for s in segs), max(s.bottom for s in segs)
    return Box(left, top, right - left, bottom - top)


def _draft(block_rows: list[list[Segment]]) -> Draft:
    """One block's lines and the height of each line's print (median word height)."""
    lines = [LayoutLine(_text(row), _box(row)) for row in block_rows]
    heights = [
        float(statistics.median(w.box.height for s in row for w in s.words)) for row in block_rows
    ]
    return Draft(tuple(lines), tuple(heights))
