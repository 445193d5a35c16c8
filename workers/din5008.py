"""DIN 5008 zones of a letter page: which block is the letterhead, the address field, ...

The blocks come from :mod:`workers.layout` in reading order (white space only). This module
names them by the geometry DIN 5008 fixes for forms A and B (millimetres from the page's
top left corner) and by what a letter's parts look like:

- **Anschriftfeld** (address field): 85 x 45 mm, 20 mm from the left edge (25 mm is common),
  its top 27 mm (form A) or 45 mm (form B) from the top edge. Its first lines are the
  Zusatz- und Vermerkzone, where the **Rücksendeangabe** (return address) stands in small
  print above the recipient.
- **Informationsblock** (information block: Ihr Zeichen, Unser Zeichen, Telefon, Datum):
  right of the address field, from 125 mm from the left edge. (A row of reference
  columns below the address field, the Bezugszeichenzeile, is not named yet.)
- **Briefkopf** (letterhead) above both; then the date line, the subject (Betreff), the
  salutation and text, the closing (Grußformel) with name and function, enclosures
  (Anlagen), and at the bottom of the page the **Geschäftsangaben** (footer: board,
  register entries, bank details), often in columns and in smaller print.

Only the header is reordered (letterhead, return address, address field, information block,
date line, whatever columns the white space found); every other block keeps its place.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from mailroom.core.domain import BlockKind, Box, LayoutBlock, LayoutLine

MM_PER_INCH = 25.4
#: Where the address field may start (mm from the left edge; DIN: 20 or 25) ...
ADDRESS_LEFT_MM = (8.0, 60.0)
#: ... and where it lies (left, top, right, bottom in mm): forms A (27-72 mm from the top)
#: and B (45-90 mm), 85 mm wide, with room for a shifted scan and a wider margin.
ADDRESS_ZONE_MM = (8.0, 24.0, 120.0, 100.0)
#: The recipient's first line stands at most this far from the top (form B: 62.7 mm).
ADDRESS_TOP_LAST_MM = 80.0
#: The information block starts 125 mm from the left ...
INFO_BLOCK_LEFT_MM = 125.0
#: ... or, as scans shift and letters vary, from this far.
INFO_LEFT_MM = 95.0
#: The header (letterhead, address field, information block) ends above this line.
HEADER_BOTTOM_MM = 120.0
#: The footer lies in the bottom part of the page (A4: 297 mm high) ...
FOOTER_ZONE_MM = 50.0
#: ... in smaller print than the text, or well apart from it (line heights).
FOOTER_APART = 2.5
#: Print smaller than this share of the text's is "small" (return address, footer).
SMALL_PRINT = 0.85

_DATE = re.compile(
    r"\b\d{1,2}\.\s?\d{1,2}\.\s?\d{2,4}\b|\b\d{4}-\d{2}-\d{2}\b"
    r"|\b\d{1,2}\.\s?(Jan|Feb|Mär|Mar|Apr|Mai|Jun|Jul|Aug|Sep|Okt|Nov|Dez)\w*\.?\s+\d{4}\b"
)
_CLOSING = re.compile(r"\bgr(ü|ue|u)(ß|ss)|\bhochachtungsvoll\b", re.IGNORECASE)
_SALUTATION = re.compile(r"^(sehr geehrte|liebe|lieber|hallo|guten tag)\b", re.IGNORECASE)
_SUBJECT = re.compile(r"^betr(eff|\.)", re.IGNORECASE)
_ENCLOSURES = re.compile(r"^(anlage|anlagen|verteiler)\b", re.IGNORECASE)
#: The labels of a DIN 5008 information block (Bezugszeichen), which are often set without
#: a colon ("Unser Zeichen  AB 12-345"). Contact labels (Telefon, E-Mail) are left out:
#: the letterhead has those lines too.
_INFO_LABEL = re.compile(
    r"^(ihr(e)?\s+(zeichen|nachricht|schreiben|antrag)|unser(e)?\s+(zeichen|nachricht)"
    r"|ansprechpartner(in)?\b|sachbearbeit(ung|er|erin)\b|bearbeiter(in)?\b|auskunft\b"
    r"|durchwahl\b|zimmer\b|(akten|geschäfts|kassen)zeichen\b|kunden-?nummer\b|datum\b)",
    re.IGNORECASE,
)

_HEADER_ORDER: dict[str, int] = {
    "letterhead": 0,
    "return_address": 1,
    "address": 2,
    "info": 3,
    "date": 4,
}


@dataclass(frozen=True)
class PageGeometry:
    """A page's size (pixels), resolution and text line height (pixels)."""

    width: int
    height: int
    dpi: int
    unit: float

    def mm(self, pixels: float) -> float:
        return pixels * MM_PER_INCH / self.dpi


@dataclass(frozen=True)
class Draft:
    """A block found by white space, not yet named: its lines and each line's print size."""

    lines: tuple[LayoutLine, ...]
    heights: tuple[float, ...]

    @property
    def box(self) -> Box:
        return union([line.box for line in self.lines])

    @property
    def first(self) -> str:
        return self.lines[0].text


def union(boxes: Sequence[Box]) -> Box:
    left, top = min(b.left for b in boxes), min(b.top for b in boxes)
    right = max(b.left + b.width for b in boxes)
    bottom = max(b.top + b.height for b in boxes)
    return Box(left, top, right - left, bottom - top)


def in_information_zone(box: Box, page: PageGeometry) -> bool:
    """Whether ``box`` starts where DIN 5008 puts the information block (right, header)."""
    return page.mm(box.left) >= INFO_LEFT_MM and page.mm(box.top) < HEADER_BOTTOM_MM


def in_address_column(box: Box, page: PageGeometry) -> bool:
    """Whether ``box`` starts at the left edge of the address field (and the text)."""
    left = page.mm(box.left)
    return ADDRESS_LEFT_MM[0] <= left <= ADDRESS_LEFT_MM[1] and page.mm(box.top) < HEADER_BOTTOM_MM


def in_footer(box: Box, page: PageGeometry) -> bool:
    """Whether ``box`` starts in the bottom part of the page, where the footer stands."""
    return box.top >= page.height - FOOTER_ZONE_MM * page.dpi / MM_PER_INCH


def labelled(text: str) -> bool:
    """Whether a line reads like an information-block row: a label with a colon, or one of
    DIN 5008's reference labels, which are often set without one ("Unser Zeichen  AB
    12-345")."""
    return ":" in text or _INFO_LABEL.match(text.strip()) is not None


def is_date(text: str) -> bool:
    """Whether ``text`` holds a date (12.03.2026, 2026-03-12, 12. März 2026)."""
    return _DATE.search(text) is not None


def name_blocks(drafts: list[Draft], page: PageGeometry) -> list[LayoutBlock]:
    """The drafts as named blocks, the header in letter order, the rest as found."""
    drafts = _split_letterhead_from_labels(_split_return_address(drafts, page), page)
    kinds: list[BlockKind] = ["other"] * len(drafts)
    address = _address(drafts, page)
    body_start = 0
    if address is not None:
        body_start = _name_header(drafts, kinds, address, page)
    footer_start = _footer_start(drafts, page, body_start)
    _name_text(drafts[body_start:footer_start], kinds, body_start, with_subject=address is not None)
    for index in range(footer_start, len(drafts)):
        kinds[index] = "footer"
    order = sorted(range(body_start), key=lambda i: (_HEADER_ORDER.get(kinds[i], 5), i))
    order += list(range(body_start, len(drafts)))
    return [LayoutBlock(kinds[i], drafts[i].box, drafts[i].lines) for i in order]


def _text_print(drafts: Sequence[Draft]) -> float:
    heights = [h for d in drafts for h in d.heights]
    return float(statistics.median(heights)) if heights else 1.0


def _split_return_address(drafts: list[Draft], page: PageGeometry) -> list[Draft]:
    """A block whose first line is in small print above larger lines: two blocks.

    The return address stands in the address field's first line, often only a few
    millimetres above the recipient, so white space alone does not part them.
    """
    out: list[Draft] = []
    for d in drafts:
        rest = d.heights[1:]
        if (
            len(d.lines) >= 3
            and page.mm(d.box.top) < HEADER_BOTTOM_MM
            and d.heights[0] < SMALL_PRINT * statistics.median(rest)
        ):
            out += [Draft(d.lines[:1], d.heights[:1]), Draft(d.lines[1:], d.heights[1:])]
        else:
            out.append(d)
    return out


def _split_letterhead_from_labels(drafts: list[Draft], page: PageGeometry) -> list[Draft]:
    """A right-hand header column of plain lines, then label lines: letterhead and info.

    A letterhead set on the right often runs straight into the information block below
    it ("Der Landrat / Düsseldorfer Straße 26 / Ihre Nachricht vom: ..."), without the
    white space the two would need to part.
    """
    out: list[Draft] = []
    for d in drafts:
        labels = [labelled(line.text) for line in d.lines]
        first = labels.index(True) if True in labels else 0
        rest = labels[first:]
        if (
            in_information_zone(d.box, page)
            and first >= 2
            and len(rest) >= 2
            and 2 * sum(rest) >= len(rest)
        ):
            out += [
                Draft(d.lines[:first], d.heights[:first]),
                Draft(d.lines[first:], d.heights[first:]),
            ]
        else:
            out.append(d)
    return out


def _address(drafts: list[Draft], page: PageGeometry) -> int | None:
    """The block that lies in the address field (DIN 5008 form A or B) and fills it most."""
    best, best_area = None, 0.0
    for index, d in enumerate(drafts):
        box = d.box
        if len(d.lines) < 2 or len(d.lines) > 10:
            continue
        if not (ADDRESS_LEFT_MM[0] <= page.mm(box.left) <= ADDRESS_LEFT_MM[1]):
            continue
        if page.mm(box.top) > ADDRESS_TOP_LAST_MM:
            continue
        inside = _overlap_mm2(box, ADDRESS_ZONE_MM, page)
        area = page.mm(box.width) * page.mm(box.height)
        if inside >= 0.6 * area and inside > best_area:
            best, best_area = index, inside
    return best


def _overlap_mm2(box: Box, zone: tuple[float, float, float, float], page: PageGeometry) -> float:
    """The area (mm²) of ``box`` inside ``zone`` (left, top, right, bottom in mm)."""
    left, top = page.mm(box.left), page.mm(box.top)
    right, bottom = page.mm(box.left + box.width), page.mm(box.top + box.height)
    width = min(right, zone[2]) - max(left, zone[0])
    height = min(bottom, zone[3]) - max(top, zone[1])
    return max(width, 0.0) * max(height, 0.0)


def _name_header(
    drafts: list[Draft], kinds: list[BlockKind], address: int, page: PageGeometry
) -> int:
    """Name letterhead, return address, address field, information block and date line.

    Returns the index of the first block after the header.
    """
    kinds[address] = "address"
    field = drafts[address].box
    above = address - 1
    if above >= 0 and _is_return_address(drafts[above], field, page):
        kinds[above] = "return_address"
    end = address + 1
    while end < len(drafts) and _beside_header(drafts[end], field, page):
        end += 1
    for index in range(end):
        if kinds[index] == "other":
            kinds[index] = _header_kind(drafts[index], index > address, field, page)
    while end < len(drafts) and _date_line(drafts[end]):
        kinds[end] = "date"
        end += 1
    return end


def _header_kind(d: Draft, after: bool, field: Box, page: PageGeometry) -> BlockKind:
    """A header block other than the address field: letterhead, information block or date."""
    box = d.box
    if box.top + box.height < field.top - page.unit:
        return "letterhead"  # above the address field: the sender's letterhead
    if box.top < field.top - page.unit and not any(labelled(line.text) for line in d.lines):
        return "letterhead"  # starts above it, and no labels: the letterhead set right
    if after and _date_line(d):
        return "date"
    return "info" if after or box.left >= field.left + field.width else "letterhead"


def _date_line(d: Draft) -> bool:
    """A line with a date and no label ("Wuppertal, 12.03.2026"; "Datum: ..." is info)."""
    return len(d.lines) <= 2 and is_date(d.first) and ":" not in d.first


def _is_return_address(d: Draft, address: Box, page: PageGeometry) -> bool:
    box = d.box
    close = 0 <= address.top - (box.top + box.height) <= 2 * page.unit
    aligned = abs(page.mm(box.left - address.left)) <= 10
    return len(d.lines) == 1 and close and aligned


def _beside_header(d: Draft, address: Box, page: PageGeometry) -> bool:
    """Whether a block after the address field still belongs to the header: it stands
    beside the address field or where the information block stands."""
    box = d.box
    beside = box.top < address.top + address.height and box.left >= address.left + address.width
    return beside or in_information_zone(box, page)


def _footer_start(drafts: list[Draft], page: PageGeometry, body_start: int) -> int:
    """The first block of the trailing run in the footer zone (small print or set apart)."""
    text_print = _text_print(drafts[body_start:]) if drafts[body_start:] else 1.0
    start = len(drafts)
    while start > body_start and in_footer(drafts[start - 1].box, page):
        start -= 1
    if start == len(drafts):
        return start
    footer = drafts[start:]
    small = _text_print(footer) < SMALL_PRINT * text_print
    previous_bottom = max((d.box.top + d.box.height for d in drafts[body_start:start]), default=0)
    apart = min(d.box.top for d in footer) - previous_bottom >= FOOTER_APART * page.unit
    return start if small or apart else len(drafts)


def _name_text(
    drafts: list[Draft], kinds: list[BlockKind], offset: int, *, with_subject: bool
) -> None:
    """Subject, body, closing, signature and enclosures, in the blocks between."""
    closed = False
    for position, d in enumerate(drafts):
        index = offset + position
        kind: BlockKind = "body"
        if _ENCLOSURES.match(d.first):
            kind = "enclosures"
        elif closed:
            kind = "signature"
        elif _CLOSING.search(d.first) and len(d.lines) <= 3:
            kind, closed = "closing", True
        elif _SUBJECT.match(d.first) or (
            with_subject and position == 0 and len(d.lines) <= 3 and not _SALUTATION.match(d.first)
        ):
            kind = "subject"
        kinds[index] = kind
