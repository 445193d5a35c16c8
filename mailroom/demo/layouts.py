"""DIN 5008 letter pages of many kinds, with their exact text in reading order.

``render_din_letter(seed)`` draws one A4 page at 300 dpi: form A or B (address field 27 or
45 mm from the top), letterhead left, centred or right, in colour or grey; the
return-address line, the address field, an information block right of it (Ihr Zeichen,
Unser Zeichen, Ansprechpartner, Telefon, E-Mail, Datum ...) or a date line, the subject in
bold, the body, the closing, a handwritten signature, the typed name, enclosures and a
footer in 2-3 columns; sans, serif, mono or narrow fonts at 10-12 pt. ``handwritten=
"letter"`` writes the whole letter by hand (:mod:`mailroom.demo.handwriting`), ``"notes"``
adds handwritten notes in the margin of a printed letter.

The truth text follows the dev set's convention: blocks in reading order (letterhead,
return address, address, information block, date, subject, body, closing, signer,
enclosures, footer columns), separated by a blank line; signatures, notes and stamps are
not part of it. The content comes from :mod:`mailroom.demo.din_content`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from mailroom.core.domain import GrayImage, Handwritten
from mailroom.demo.din_content import LetterContent, business, compose, shortened
from mailroom.demo.fonts import Face, FontKind, faces, truetype
from mailroom.demo.handwriting import MM, Hand, margin_note, ruled_paper, signature

ColourImage = npt.NDArray[np.uint8]  # H x W x 3, RGB
Form = Literal["A", "B"]
Position = Literal["left", "centre", "right"]
Rgb = tuple[int, int, int]
A4 = (round(210 * MM), round(297 * MM))
ACCENTS: tuple[Rgb, ...] = ((20, 50, 120), (150, 25, 35), (20, 110, 70), (200, 90, 20),
                            (90, 40, 120), (0, 120, 160))  # fmt: skip
GREYS: tuple[Rgb, ...] = ((20, 20, 20), (60, 60, 60), (100, 100, 100))
INK: Rgb = (20, 20, 20)


@dataclass(frozen=True)
class LetterStyle:
    """How a printed letter is set: DIN form, letterhead, fonts, information block."""

    form: Form
    head: Position
    face: Face
    points: float  # body text size, 10-12 pt
    accent: Rgb  # letterhead colour
    coloured: bool
    colon: bool  # information block labels end in ":"
    stacked: bool  # information block: label above value instead of beside it

    @classmethod
    def random(cls, rng: random.Random, kind: FontKind | None = None) -> LetterStyle:
        kinds: tuple[FontKind, ...] = ("sans", "sans", "serif", "serif", "mono", "narrow")
        chosen: FontKind = rng.choice(kinds) if kind is None else kind
        coloured = rng.random() < 0.5
        return cls(
            form=rng.choice(("A", "B")),
            head=rng.choice(("left", "centre", "right")),
            face=rng.choice(faces(chosen)),
            points=rng.choice((10.0, 11.0, 11.0, 12.0)),
            accent=rng.choice(ACCENTS if coloured else GREYS),
            coloured=coloured,
            colon=rng.random() < 0.6,
            stacked=rng.random() < 0.2,
        )


@dataclass(frozen=True)
class RenderedLetter:
    """A rendered page, its text in reading order and what it is."""

    image: GrayImage  # 8-bit grey, as a grey-scan line delivers the page
    colour: ColourImage  # the same page in colour
    truth: str
    handwritten: Handwritten | None
    font: str
    form: str  # "A", "B", or "hand" for a handwritten letter
    in_colour: bool  # the colour page has colour (letterhead, ink or paper)


@dataclass
class _Sheet:
    """Text set so far (drawn only once it fits) and the truth blocks by reading order."""

    ops: list[tuple[float, float, str, ImageFont.FreeTypeFont, Rgb, str]] = field(
        default_factory=list
    )
    blocks: list[tuple[float, str]] = field(default_factory=list)

    def put(self, x_mm: float, y_mm: float, text: str, font: ImageFont.FreeTypeFont,
            fill: Rgb = INK, anchor: str = "la") -> None:  # fmt: skip
        self.ops.append((x_mm * MM, y_mm * MM, text, font, fill, anchor))

    def block(self, order: float, lines: list[str]) -> None:
        if kept := [line for line in lines if line]:
            self.blocks.append((order, "\n".join(kept)))

    def truth(self) -> str:
        return "\n\n".join(text for _, text in sorted(self.blocks, key=lambda b: b[0]))


ORDER = {name: i for i, name in enumerate(
    ("letterhead", "return", "address", "info", "date", "subject", "body", "closing",
     "signer", "enclosures", "footer"))}  # fmt: skip


def _step(points: float, spacing: float = 1.22) -> float:
    """Line step in mm for a font size."""
    return points / 72 * 25.4 * spacing


def _wrap(text: str, font: ImageFont.FreeTypeFont, width_mm: float) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if current and font.getlength(candidate) > width_mm * MM:
            lines.append(current)
            current = word
        else:
            current = candidate
    return [*lines, current] if current else lines


def _letterhead(sheet: _Sheet, c: LetterContent, s: LetterStyle, limit: float) -> None:
    """The firm's name large (in the accent colour) and its contact lines, or the sender."""
    x, anchor = {"left": (25.0, "la"), "centre": (105.0, "ma"), "right": (190.0, "ra")}[s.head]
    lines = list(c.letterhead)
    big = (s.points + 7 if s.form == "B" else s.points + 4) if c.firm else s.points
    small = s.points - 2 if c.firm else s.points
    while True:
        height = _step(big, 1.3) + _step(small) * (len(lines) - 1)
        if 8 + height <= limit or len(lines) <= 2:
            break
        lines.pop(1)  # the tagline goes first
    y = 8.0 if s.form == "A" else 12.0
    sheet.put(x, y, lines[0], truetype(s.face, big, bold=c.firm), s.accent, anchor)
    y += _step(big, 1.3)
    for line in lines[1:]:
        colour = s.accent if s.coloured and c.firm else INK
        sheet.put(x, y, line, truetype(s.face, small), colour, anchor)
        y += _step(small)
    sheet.block(ORDER["letterhead"], lines)


def _info(sheet: _Sheet, c: LetterContent, s: LetterStyle, top: float) -> float:
    """The information block at 125 mm; returns where it ends (mm)."""
    size = s.points - 1
    font, small = truetype(s.face, size), truetype(s.face, size - 2)
    labels = [f"{label}:" if s.colon else label for label, _ in c.info]
    y, lines = top, []
    if s.stacked:
        for label, (_, value) in zip(labels, c.info, strict=True):
            sheet.put(125, y, label, small, (90, 90, 90))
            sheet.put(125, y + _step(size - 2, 1.1), value, font)
            y += _step(size - 2, 1.1) + _step(size, 1.35)
            lines += [label, value]
    else:
        tab = max(font.getlength(label) for label in labels) / MM + 4
        for label, (_, value) in zip(labels, c.info, strict=True):
            if 125 + tab + font.getlength(value) / MM > 202:
                continue  # too long for the block: a real letter would not print it so
            sheet.put(125, y, label, font)
            sheet.put(125 + tab, y, value, font)
            y += _step(size)
            lines.append(f"{label} {value}")
    sheet.block(ORDER["info"], lines)
    return y


def _footer(sheet: _Sheet, c: LetterContent, s: LetterStyle) -> float:
    """Geschäftsangaben in columns above the bottom edge; returns the footer's top (mm)."""
    size = 7.5 if s.face.kind != "narrow" else 8.0
    font = truetype(s.face, size)
    height = max(len(col) for col in c.footer) * _step(size)
    top = 297 - 12 - height
    width = 165 / len(c.footer)
    for number, column in enumerate(c.footer):
        for row, line in enumerate(column):
            sheet.put(25 + number * width, top + row * _step(size), line, font, (70, 70, 70))
        sheet.block(ORDER["footer"] + number, list(column))
    return top


@dataclass(frozen=True)
class _Layout:
    sheet: _Sheet
    closing_y: float  # mm, top of the closing line
    signature_y: float  # mm, top of the signature gap
    body_end: float  # mm, below the last line
    footer_top: float


def _return_address(sheet: _Sheet, line: str, s: LetterStyle, top: float) -> None:
    """The small sender line in the top 5 mm of the address field, within its 80 mm."""
    parts = line.split(" · ")
    for points in (7.0, 6.5, 6.0, 6.0):
        font = truetype(s.face, points)
        if font.getlength(line) <= 80 * MM:
            break
        if points == 6.0 and len(parts) > 2:
            line = " · ".join([parts[0], parts[-1]])  # the firm and its town
    sheet.put(25, top + 1.5, line, font, (60, 60, 60))
    sheet.block(ORDER["return"], [line])


def _set_printed(c: LetterContent, s: LetterStyle) -> _Layout:
    """All lines of a printed letter at their places (nothing drawn yet)."""
    sheet = _Sheet()
    top = 27.0 if s.form == "A" else 45.0  # the address field
    font, bold = truetype(s.face, s.points), truetype(s.face, s.points, bold=True)
    _letterhead(sheet, c, s, top - 2)
    if c.return_address:
        _return_address(sheet, c.return_address, s, top)
    y = top + 17.7
    for line in c.address:
        sheet.put(25, y, line, font)
        y += _step(s.points)
    sheet.block(ORDER["address"], list(c.address))
    end = max(top + 45, y)
    if c.info:
        end = max(end, _info(sheet, c, s, top + 5))
    elif c.date_line:
        if s.head == "right":  # a right-hand sender block: the date goes below the address
            sheet.put(190, end + 2, c.date_line, font, anchor="ra")
            end += 2 + _step(s.points)
        else:
            sheet.put(125, top + 5, c.date_line, font)
        sheet.block(ORDER["date"], [c.date_line])
    y = end + 8.5
    subject = _wrap(c.subject, bold, 165)
    for line in subject:
        sheet.put(25, y, line, bold)
        y += _step(s.points)
    sheet.block(ORDER["subject"], subject)
    y += _step(s.points)
    body: list[str] = []
    for number, paragraph in enumerate((c.salutation, *c.paragraphs)):
        lines = _wrap(paragraph, font, 165)
        for line in lines:
            sheet.put(25, y, line, font)
            y += _step(s.points, 1.3)
        y += _step(s.points)
        sheet.block(ORDER["body"] + number / 100, lines)
        body += lines
    closing_y = y
    sheet.put(25, y, c.closing, font)
    sheet.block(ORDER["closing"], [c.closing])
    signature_y = y + _step(s.points)
    y += 4.5 * _step(s.points)
    for line in c.signer:
        sheet.put(25, y, line, font)
        y += _step(s.points)
    sheet.block(ORDER["signer"], list(c.signer))
    if c.enclosures:
        y += _step(s.points)
        sheet.put(25, y, c.enclosures[0], font)
        for line in c.enclosures[1:]:
            y += _step(s.points)
            sheet.put(25, y, line, font)
        y += _step(s.points)
        sheet.block(ORDER["enclosures"], list(c.enclosures))
    footer_top = _footer(sheet, c, s) if c.footer else 297 - 12
    return _Layout(sheet, closing_y, signature_y, y, footer_top)


def _marks(pen: ImageDraw.ImageDraw, form: Form) -> None:
    """Fold marks and the hole mark at the left edge (Falz- und Lochmarke)."""
    for y in (87.0 if form == "A" else 105.0, 148.5):
        pen.line([(4 * MM, y * MM), (9 * MM, y * MM)], fill=(140, 140, 140), width=2)


def _logo(pen: ImageDraw.ImageDraw, s: LetterStyle, rng: random.Random) -> None:
    """A small figure beside the letterhead (no text in it)."""
    x = 170.0 if s.head != "right" else 25.0
    y, size = 9.0, (12 if s.form == "A" else 16)
    box = (x * MM, y * MM, (x + size) * MM, (y + size) * MM)
    if rng.random() < 0.5:
        pen.ellipse(box, fill=s.accent)
    else:
        pen.polygon([(box[0], box[3]), ((box[0] + box[2]) / 2, box[1]), (box[2], box[3])],
                    fill=s.accent)  # fmt: skip


def _paint(layout: _Layout, s: LetterStyle, c: LetterContent, rng: random.Random,
           notes: bool) -> Image.Image:  # fmt: skip
    page = Image.new("RGB", A4, (255, 255, 255))
    pen = ImageDraw.Draw(page)
    _marks(pen, s.form)
    if c.firm and s.head != "centre" and rng.random() < 0.5:
        _logo(pen, s, rng)
    if c.firm and rng.random() < 0.5:  # a rule below the letterhead, in the accent colour
        y = (25.0 if s.form == "A" else 40.0) * MM
        pen.line([(25 * MM, y), (190 * MM, y)], fill=s.accent, width=4)
    for x, y, text, font, fill, anchor in layout.sheet.ops:
        pen.text((x, y), text, font=font, fill=fill, anchor=anchor)
    signature(page, c.signature, (22 * MM, layout.signature_y * MM), rng, width=75 * MM)
    if notes:
        phrases = business()["notes"]
        top = layout.closing_y - 4
        margin_note(page, rng.choice(phrases), (110 * MM, top * MM, 195 * MM, (top + 28) * MM), rng)
        if layout.footer_top - layout.body_end > 24:
            y = layout.body_end + 3
            box = (100 * MM, y * MM, 190 * MM, (y + 20) * MM)
            margin_note(page, rng.choice(phrases), box, rng)
    return page


def _handwritten(c: LetterContent, rng: random.Random) -> tuple[Image.Image, str, Face]:
    """The whole letter written by hand on plain, lined or squared paper."""
    hand = Hand.random(rng)
    step = hand.line_step()
    ascent = truetype(hand.face, hand.points).getmetrics()[0]
    for _ in range(12):
        rows = _hand_rows(c, hand)
        if len(rows) * step < A4[1] - 40 * MM:
            break
        c = shortened(c)
    page = ruled_paper(A4, rng, step)
    pen = ImageDraw.Draw(page)
    left, sheet = rng.uniform(20, 28) * MM, _Sheet()
    y = rng.uniform(20, 30) * MM + step - ascent  # baselines on the paper's rules
    for order, line, right in rows:
        if line:
            x = A4[0] - 20 * MM - hand.width(line) if right else left + rng.uniform(-1, 1) * MM
            hand.write(pen, x, y, line, rng)
            sheet.blocks.append((order, line))
        y += step
    signature(page, c.signature, (left, y), rng, width=80 * MM)
    merged: dict[float, list[str]] = {}
    for order, line in sheet.blocks:
        merged.setdefault(order, []).append(line)
    truth = "\n\n".join("\n".join(lines) for _, lines in sorted(merged.items()))
    return page, truth, hand.face


def _hand_rows(c: LetterContent, hand: Hand) -> list[tuple[float, str, bool]]:
    """(block order, line, right-aligned) of a handwritten letter; "" is an empty row."""
    width = A4[0] - 50 * MM
    rows: list[tuple[float, str, bool]] = [(0, hand.text(line), True) for line in c.letterhead]
    rows += [(0, "", False)] + [(2, hand.text(line), False) for line in c.address]
    rows += [(0, "", False), (4, hand.text(c.date_line), True), (0, "", False)]
    rows += [(5, line, False) for line in hand.wrap(c.subject, width)] + [(0, "", False)]
    for number, paragraph in enumerate((c.salutation, *c.paragraphs)):
        rows += [(6 + number / 100, line, False) for line in hand.wrap(paragraph, width)]
        rows.append((0, "", False))
    return [*rows, (7, hand.text(c.closing), False)]


def render_din_letter(
    seed: int,
    *,
    handwritten: Handwritten | None = None,
    firm: bool | None = None,
    style: LetterStyle | None = None,
    content: LetterContent | None = None,
) -> RenderedLetter:
    """One letter page of a kind drawn from ``seed`` (or the given ``style``), with text
    drawn from it too unless ``content`` is given."""
    rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
    drawn = compose(rng.randrange(1 << 30), firm=False if handwritten == "letter" else firm)
    content = content or drawn
    if handwritten == "letter":
        page, truth, face = _handwritten(content, rng)
        form, coloured = "hand", True
    else:
        style = style or LetterStyle.random(rng)
        layout = _set_printed(content, style)
        for _ in range(12):
            if layout.body_end < layout.footer_top - 4:
                break
            content = shortened(content)
            layout = _set_printed(content, style)
        page = _paint(layout, style, content, rng, notes=handwritten == "notes")
        truth, face, form = layout.sheet.truth(), style.face, style.form
        coloured = style.coloured or handwritten == "notes"
    colour = np.asarray(page, dtype=np.uint8).copy()
    gray = np.asarray(page.convert("L"), dtype=np.uint8).copy()
    return RenderedLetter(gray, colour, truth, handwritten, face.name, form, coloured)
