"""Typed values passed between pipeline stages (intake -> rasterize -> preprocess -> OCR ->
extract -> classify -> match case -> decide -> store). Stages take and return these;
nothing here touches a database, a queue or a file."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

GrayImage = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Box:
    """A rectangle in page pixels (of the prepared, upright page)."""

    left: int
    top: int
    width: int
    height: int

    def holds_centre_of(self, other: Box) -> bool:
        """Whether ``other``'s centre lies in this box (``other`` may stick out a little)."""
        x, y = other.left + other.width / 2, other.top + other.height / 2
        return self.left <= x <= self.left + self.width and self.top <= y <= self.top + self.height


@dataclass
class PageImage:
    """One page as rasterised from the original (before any cleanup)."""

    number: int  # 1-based
    image: GrayImage  # 8-bit grayscale, H x W
    dpi: int


@dataclass
class PreparedPage:
    """A page after preprocessing: upright, deskewed, cleaned, at working resolution."""

    number: int
    image: GrayImage
    dpi: int
    rotation: int = 0  # degrees turned clockwise to make it upright: 0/90/180/270
    skew_degrees: float = 0.0  # skew that was corrected
    blank: bool = False  # a blank page (back side of a duplex scan): not recognised
    #: The part of the page that holds ink, with a margin: what OCR reads (None: all).
    content: Box | None = None


@dataclass(frozen=True)
class Word:
    text: str
    confidence: float  # 0..100 as Tesseract reports it
    box: Box
    line: int = 0  # running line number on the page


#: What a block of a letter page is (DIN 5008 zones; ``other`` when nothing fits).
BlockKind = Literal[
    "letterhead",  # Briefkopf: the sender's name, address, contact lines
    "return_address",  # Rücksendeangabe: the small sender line above the address field
    "address",  # Anschriftfeld: the recipient
    "info",  # Informationsblock / Bezugszeichen: Ihr Zeichen, Unser Zeichen, Datum, ...
    "date",  # the date line (Ort, Datum)
    "subject",  # Betreff
    "body",  # salutation and text
    "closing",  # Grußformel
    "signature",  # the typed name(s) and function below the closing
    "enclosures",  # Anlagen, Verteiler
    "footer",  # Geschäftsangaben: bank details, register entries, board
    "other",
]


@dataclass(frozen=True)
class LayoutLine:
    """One text line of a block: its words joined by spaces, and its box (page pixels)."""

    text: str
    box: Box


@dataclass(frozen=True)
class LayoutBlock:
    """One block of a page (address field, information block, a paragraph, ...)."""

    kind: BlockKind
    box: Box  # page pixels of the prepared page
    lines: tuple[LayoutLine, ...]

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


@dataclass(frozen=True)
class PageLayout:
    """The blocks of one page in reading order; the page text follows them."""

    blocks: tuple[LayoutBlock, ...] = ()
    dpi: int = 300

    @property
    def text(self) -> str:
        """Blocks separated by a blank line, lines by a line break."""
        return "\n\n".join(block.text for block in self.blocks)


#: Handwriting on a page or in a document (Handschrift): ``letter`` - the text is written by
#: hand; ``notes`` - printed, with handwritten notes beside signatures; None - none found.
Handwritten = Literal["letter", "notes"]
#: What a handwritten region is: running text, a note on a printed page, a signature.
HandKind = Literal["text", "note", "signature"]
#: How the page's orientation was settled: None - the first reading was plausible;
#: ``kept`` - other orientations were tried and read worse; ``corrected`` - one read better.
OrientationCheck = Literal["kept", "corrected"]


@dataclass(frozen=True)
class HandRegion:
    """A region of handwriting on the prepared page."""

    box: Box
    kind: HandKind


@dataclass
class PageOcr:
    """Tesseract's result for one page."""

    number: int
    text: str
    confidence: float | None  # mean word confidence 0..100; None for blank pages
    words: list[Word] = field(default_factory=list)
    #: One-page PDF holding only the invisible text layer (no image), from the same OCR run.
    pdf: bytes | None = None
    #: The part of the page that PDF covers (page pixels); None: the whole page.
    pdf_box: Box | None = None
    low_confidence_regions: list[Box] = field(default_factory=list)
    #: The page's blocks in reading order (:mod:`workers.layout`); None: not analysed.
    layout: PageLayout | None = None
    engine: str = ""  # e.g. "tesseract 5.3.0 (deu)"
    seconds: float = 0.0
    #: Share (0..1) of the page's words found in the German dictionary; None: no words.
    dictionary_share: float | None = None
    orientation_check: OrientationCheck | None = None
    #: True when a second, differently prepared pass read the page (its first was poor).
    second_pass: bool = False
    handwritten: Handwritten | None = None
    handwriting: list[HandRegion] = field(default_factory=list)


@dataclass(frozen=True)
class Reference:
    """A reference number found in the text (Aktenzeichen, Kassenzeichen, ...)."""

    kind: Literal["aktenzeichen", "kassenzeichen", "kundennummer", "other"]
    raw: str  # as it stands in the text
    normalized: str  # see classifiers.references.normalize
    unit_hint: str | None = None  # a file-plan unit whose reference pattern matched
    context: str = ""  # the label in front of it ("Ihr Zeichen", "Az.")


@dataclass
class Extraction:
    """What was read out of the letter's text."""

    references: list[Reference] = field(default_factory=list)
    letter_date: date | None = None
    sender: str | None = None  # Absender block, one line per entry joined by ", "
    recipient: str | None = None  # Empfänger block
    subject: str | None = None  # Betreff
    #: Departments the letter is addressed to ("An das Jugendamt"), as file-plan ids.
    addressed_departments: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # person names seen (for case confirmation)


@dataclass(frozen=True)
class CaseCandidate:
    case_id: int
    aktenzeichen: str
    unit_code: str
    how: Literal["exact", "tolerant"]
    name_confirmed: bool = False


@dataclass
class CaseMatch:
    """Result of matching references against open cases (Vorgänge)."""

    case: CaseCandidate | None = None  # set only when exactly one case fits
    candidates: list[CaseCandidate] = field(default_factory=list)  # all that fit
    ambiguous: bool = False


@dataclass(frozen=True)
class Alternative:
    unit_code: str
    department_id: str
    probability: float


@dataclass
class RoutingResult:
    """The router's proposal for one document."""

    department_id: str | None
    unit_code: str | None
    case_id: int | None
    confidence: float  # calibrated probability that department and unit are right
    decision: Literal["auto", "review"]
    alternatives: list[Alternative] = field(default_factory=list)  # runner-ups, best first
    reasons: list[str] = field(default_factory=list)  # human-readable, German
    classifier_version: str = ""


@dataclass(frozen=True)
class DocumentInput:
    """What the pipeline needs to know about a registered document (loaded by the worker)."""

    id: str
    source_name: str
    media_type: str
    original_key: str
    sha256: str
    size_bytes: int
    received_at: datetime
    scan_line: dict[str, Any]
    batch: dict[str, Any] | None


@dataclass
class Recognized:
    """The prepared pages and their OCR results, in page order."""

    pages: list[PreparedPage]
    results: list[PageOcr]

    @property
    def text(self) -> str:
        return "\n\n".join(r.text for r in self.results if r.text)

    @property
    def handwritten(self) -> Handwritten | None:
        """``letter`` when at least half the pages with text are handwritten (a tie counts as a
        handwritten letter: it goes to review); ``notes`` when any page has
        handwriting besides signatures; else None."""
        read = [r for r in self.results if r.confidence is not None]
        if read and 2 * sum(r.handwritten == "letter" for r in read) >= len(read):
            return "letter"
        return "notes" if any(r.handwritten for r in read) else None

    @property
    def blank_pages(self) -> list[int]:
        """Numbers of the pages found blank (not recognised)."""
        return [p.number for p in self.pages if p.blank]

    @property
    def mean_confidence(self) -> float | None:
        confs = [r.confidence for r in self.results if r.confidence is not None]
        return round(sum(confs) / len(confs), 2) if confs else None
