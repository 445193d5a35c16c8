"""DIN 5008 letters drawn with PIL for the layout tests: what goes where, in millimetres.

Each letter is a list of :class:`Piece` (a column of lines at a position); the page puts
them on a clean A4 page at 300 dpi. The address field and the information block share
text lines, the footer stands in columns, as printed business letters do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mailroom.core.domain import GrayImage

DPI = 300
MM = DPI / 25.4
A4 = (round(210 * MM), round(297 * MM))
FONTS = Path("/usr/share/fonts/truetype/dejavu")


@dataclass(frozen=True)
class Piece:
    """Lines set from ``(left, top)`` in mm; ``tab`` puts a second column at left + tab."""

    left: float
    top: float
    lines: tuple[str, ...]
    points: float = 11.0
    tab: float | None = None  # label/value lines: "label\tvalue"
    centred: bool = False
    font: str = "DejaVuSans.ttf"


def draw(pieces: list[Piece]) -> GrayImage:
    page = Image.new("L", A4, 255)
    pen = ImageDraw.Draw(page)
    for piece in pieces:
        font = ImageFont.truetype(str(FONTS / piece.font), round(piece.points / 72 * DPI))
        step = piece.points / 72 * DPI * 1.25
        for number, line in enumerate(piece.lines):
            y = piece.top * MM + number * step
            label, _, value = line.partition("\t")
            x = piece.left * MM
            if piece.centred:
                x -= pen.textlength(label, font=font) / 2
            pen.text((x, y), label, fill=15, font=font)
            if value and piece.tab is not None:
                pen.text(((piece.left + piece.tab) * MM, y), value, fill=15, font=font)
    return np.asarray(page, dtype=np.uint8).copy()


LETTERHEAD = ("Gebäudereinigung Hoffmann GmbH", "Kaiserstraße 12 · 42103 Wuppertal")
RETURN_ADDRESS = "Gebäudereinigung Hoffmann GmbH · Kaiserstraße 12 · 42103 Wuppertal"
ADDRESS = ("Stadt Wuppertal", "Ordnungsamt", "Johannes-Rau-Platz 1", "42275 Wuppertal")
INFO = (
    "Ihr Zeichen:\t402.12-03/2026",
    "Unser Zeichen:\tHO/kl 26-114",
    "Auskunft erteilt:\tHerr Pohl",
    "Telefon:\t0202 563-1234",
    "Datum:\t12.03.2026",
)
SUBJECT = "Antrag auf Sondernutzung einer öffentlichen Verkehrsfläche"
BODY = (
    "Sehr geehrte Damen und Herren,",
    "",
    "für die Reinigung der Fassade benötigen wir vom 20. bis 24. April eine",
    "Fläche von zwölf Quadratmetern vor dem Haus Kaiserstraße 12.",
    "",
    "Mit freundlichen Grüßen",
    "",
    "Markus Hoffmann",
)
FOOTER = (
    ("Gebäudereinigung Hoffmann GmbH", "Kaiserstraße 12", "42103 Wuppertal"),
    ("Geschäftsführer: Markus Hoffmann", "Amtsgericht Wuppertal", "HRB 12345"),
    ("Stadtsparkasse Wuppertal", "IBAN DE12 3305 0000 0001 2345 67", "BIC WUPSDE33XXX"),
)


def form_b_letter() -> GrayImage:
    """Form B: letterhead left, address field 25 mm / 45 mm, information block at 125 mm
    on the address field's lines (labels with colons, values at a tab stop), footer in
    three columns."""
    return draw(
        [
            Piece(25, 15, LETTERHEAD[:1], points=16),
            Piece(25, 24, LETTERHEAD[1:], points=10),
            Piece(25, 47, (RETURN_ADDRESS,), points=7),
            Piece(25, 52, ADDRESS),
            Piece(125, 52, INFO, tab=33, points=10),
            Piece(25, 98, (SUBJECT,)),
            Piece(25, 110, BODY),
            Piece(25, 272, FOOTER[0], points=8),
            Piece(87, 272, FOOTER[1], points=8),
            Piece(149, 272, FOOTER[2], points=8),
        ]
    )


CENTRED_HEAD = ("Kanzlei Dr. Berger", "Rechtsanwälte · Friedrich-Ebert-Straße 40 · 42103 Wuppertal")
PLAIN_INFO = (
    "Ihr Zeichen\t104.21-07/2026",
    "Unser Zeichen\tBE 17/26",
    "Sachbearbeiterin\tFrau Yilmaz",
    "Datum\t3. Februar 2026",
)


def centred_letter() -> GrayImage:
    """A serif letter: centred letterhead, form A address field (27 mm), an information
    block whose labels have no colon and whose values stand at a tab stop."""
    serif = "DejaVuSerif.ttf"
    return draw(
        [
            Piece(105, 10, CENTRED_HEAD[:1], points=15, centred=True, font=serif),
            Piece(105, 18, CENTRED_HEAD[1:], points=9, centred=True, font=serif),
            Piece(20, 40, ADDRESS, font=serif),
            Piece(125, 40, PLAIN_INFO, tab=38, points=10, font=serif),
            Piece(20, 85, (SUBJECT,), font=serif),
            Piece(20, 97, BODY, font=serif),
        ]
    )
