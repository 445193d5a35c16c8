"""The one module that runs Tesseract (through pytesseract).

One Tesseract run per page produces the per-word boxes and confidences (TSV, from which
the text is composed) and the page's invisible text layer as a one-page PDF
(``textonly_pdf``: the page image is added by :mod:`workers.searchable_pdf`, which already
has it as a JPEG, so Tesseract does not spend ~0.1 s encoding it a second time). The page
image goes to Tesseract as an uncompressed TIFF file whose *path* is handed to
pytesseract: given a PIL image, pytesseract would PNG-encode it first (about 0.6 s per A4
page), and Leptonica reads PGM files slowly (see :func:`write_page_image`). Tesseract runs
with ``OMP_THREAD_LIMIT=1`` (set for the worker process when the engine is made;
pytesseract passes the process environment on): with OpenMP threads two workers on two
cores fight and a page takes 7-8 s instead of 1.3 s; parallelism comes from worker
processes instead.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import time
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import pytesseract
from pytesseract import TesseractError, TesseractNotFoundError

from mailroom.core.domain import Box, GrayImage, PageOcr, PreparedPage, Word
from mailroom.core.errors import MissingDependencyError, OcrError, OcrTimeout

INSTALL_HINT = "apt-get install tesseract-ocr"
#: Tesseract's default automatic page segmentation (psm 3); deskewed pages need no other.
DEFAULT_PSM = 3
#: Words below this confidence are junk read from scribbles and lines (see compose_text).
NOISE_CONFIDENCE = 30.0


@runtime_checkable
class OcrEngine(Protocol):
    """Recognises one prepared (upright, cleaned) page."""

    name: str

    def recognize(self, page: PreparedPage) -> PageOcr:
        """Text, words with boxes and confidences and, if the engine can, a one-page PDF."""
        ...


def _tesseract(
    source: Path,
    base: Path,
    *,
    language: str,
    config: str,
    extension: str,
    timeout: float,
    what: str,
) -> None:
    """One pytesseract run; its failures become this project's errors."""
    try:
        pytesseract.pytesseract.run_tesseract(
            str(source), str(base), extension, language, config=config, timeout=timeout
        )
    except TesseractNotFoundError as exc:
        raise MissingDependencyError("tesseract is not installed", hint=INSTALL_HINT) from exc
    except TesseractError as exc:
        raise OcrError(
            f"tesseract failed on {what}: {exc.message or exc.status}",
            hint="the page image may be damaged; rescan it",
        ) from exc
    except RuntimeError as exc:  # pytesseract's "Tesseract process timeout"
        raise OcrTimeout(
            f"tesseract took longer than {timeout:.0f} s on {what}",
            hint="raise MAILROOM_OCR_TIMEOUT_SECONDS or check the machine's load",
        ) from exc


def write_page_image(image: GrayImage, path: Path, dpi: int) -> Path:
    """Write an uncompressed 8-bit TIFF: the cheapest format for Tesseract to read.

    Measured on an A4 page at 300 dpi (CPU seconds of a whole Tesseract run): PGM 0.65 s,
    because Leptonica reads PNM files a byte at a time; LZW TIFF 0.54 s plus 0.08 s to
    compress; uncompressed TIFF 0.51 s and 0.01 s to write.
    """
    params = [
        cv2.IMWRITE_TIFF_COMPRESSION, 1,  # none
        cv2.IMWRITE_TIFF_RESUNIT, 2,  # inch
        cv2.IMWRITE_TIFF_XDPI, dpi,
        cv2.IMWRITE_TIFF_YDPI, dpi,
    ]  # fmt: skip
    if not cv2.imwrite(str(path), image, params):
        raise OcrError(f"cannot write the page image to {path}")
    return path


class TesseractEngine:
    """Tesseract 4/5 through its command line, one thread, one run per page."""

    def __init__(
        self,
        language: str = "deu",
        timeout: float = 180,
        *,
        psm: int = DEFAULT_PSM,
        binary: str = "tesseract",
    ) -> None:
        self.language = language
        self.timeout = timeout
        self.psm = psm
        # pytesseract keeps the program and the environment process-wide; a worker process
        # runs one engine, so both are the worker's settings.
        pytesseract.pytesseract.tesseract_cmd = binary
        os.environ["OMP_THREAD_LIMIT"] = "1"
        self.version = self._probe_version()
        self.languages = self._probe_languages()
        for lang in language.split("+"):
            if lang not in self.languages:
                raise MissingDependencyError(
                    f"tesseract language '{lang}' missing",
                    hint=f"apt-get install tesseract-ocr-{lang}",
                )
        self.name = f"tesseract {self.version} ({language})"

    def _probe_version(self) -> str:
        try:
            return str(pytesseract.get_tesseract_version())
        except (TesseractNotFoundError, SystemExit) as exc:
            raise MissingDependencyError(
                "cannot run tesseract --version", hint=INSTALL_HINT
            ) from exc

    def _probe_languages(self) -> set[str]:
        try:
            return set(pytesseract.get_languages())
        except TesseractNotFoundError as exc:
            raise MissingDependencyError("tesseract is not installed", hint=INSTALL_HINT) from exc

    # -- recognition --------------------------------------------------------------------

    def recognize(self, page: PreparedPage) -> PageOcr:
        """Recognise one page; text, TSV words and the text-layer PDF from one Tesseract run.

        Raises :class:`OcrTimeout` (transient) or :class:`OcrError`.
        """
        started = time.perf_counter()
        height, width = page.image.shape[:2]
        box = page.content or Box(0, 0, width, height)
        region = page.image[box.top : box.top + box.height, box.left : box.left + box.width]
        with tempfile.TemporaryDirectory(prefix="mailroom-ocr-") as tmp:
            source = write_page_image(region, Path(tmp) / "page.tif", page.dpi)
            base = Path(tmp) / "out"
            _tesseract(
                source,
                base,
                language=self.language,
                config=(
                    f"--psm {self.psm} --dpi {page.dpi} -c tessedit_create_tsv=1 -c textonly_pdf=1"
                ),
                extension="pdf",
                timeout=self.timeout,
                what=f"page {page.number}",
            )
            try:
                tsv = base.with_suffix(".tsv").read_text(encoding="utf-8")
                pdf = base.with_suffix(".pdf").read_bytes()
            except OSError as exc:
                raise OcrError(f"tesseract wrote no output for page {page.number}: {exc}") from exc
        words = parse_tsv(tsv, origin=(box.left, box.top))
        return PageOcr(
            number=page.number,
            text=compose_text(tsv),
            confidence=mean_confidence(words),
            words=words,
            pdf=pdf,
            pdf_box=box,
            engine=self.name,
            seconds=time.perf_counter() - started,
        )


def parse_tsv(tsv: str, origin: tuple[int, int] = (0, 0)) -> list[Word]:
    """Words with boxes and confidences from Tesseract's TSV output (level 5 rows).

    ``origin`` is where the recognised image's top left corner lies on the page: the boxes
    are returned in page pixels.
    """
    return [word for _, word in _tsv_words(tsv, origin)]


def _tsv_words(tsv: str, origin: tuple[int, int] = (0, 0)) -> list[tuple[tuple[int, int], Word]]:
    """((block, paragraph), word) for every recognised word, in reading order."""
    words: list[tuple[tuple[int, int], Word]] = []
    lines: dict[tuple[str, str, str], int] = {}
    reader = csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE)
    for row in reader:
        text = (row.get("text") or "").strip()
        if row.get("level") != "5" or not text:
            continue
        confidence = float(row["conf"])
        if confidence < 0:
            continue
        key = (row["block_num"], row["par_num"], row["line_num"])
        line = lines.setdefault(key, len(lines))
        box = Box(
            int(row["left"]) + origin[0],
            int(row["top"]) + origin[1],
            int(row["width"]),
            int(row["height"]),
        )
        paragraph = (int(row["block_num"]), int(row["par_num"]))
        words.append((paragraph, Word(text=text, confidence=confidence, box=box, line=line)))
    return words


def compose_text(tsv: str, *, min_confidence: float = NOISE_CONFIDENCE) -> str:
    """The page text from the TSV: words joined into lines, paragraphs split by a blank line.

    Words below ``min_confidence`` are left out of the text (they stay in the word list):
    on handwritten notes and stamp borders Tesseract emits junk such as "BEEEEEEN" at
    confidence 0-20, while printed words on degraded letters score 40 and more.

    Tesseract often makes every line of an address block a paragraph of its own. A
    paragraph break is therefore kept only where the page shows one: a vertical gap of
    most of a line height, or a new block that does not continue straight below the last
    line (a second column). Otherwise the line joins the paragraph above it, so that the
    recipient block "Stadt Wuppertal / Elterngeld und Unterhalt / ..." stays one block.
    """
    lines: list[tuple[tuple[int, int], list[Word]]] = []
    for paragraph, word in _tsv_words(tsv):
        if word.confidence < min_confidence:
            continue
        if lines and lines[-1][1][-1].line == word.line:
            lines[-1][1].append(word)
        else:
            lines.append((paragraph, [word]))
    if not lines:
        return ""
    heights = sorted(max(w.box.height for w in words) for _, words in lines)
    line_height = heights[len(heights) // 2]
    out: list[str] = []
    previous: tuple[tuple[int, int], Box] | None = None
    for paragraph, words in lines:
        box = _union(words)
        if previous is not None:
            out.append(
                "\n\n" if _paragraph_break(previous, (paragraph, box), line_height) else "\n"
            )
        out.append(" ".join(w.text for w in words))
        previous = (paragraph, box)
    return "".join(out)


def _union(words: list[Word]) -> Box:
    left = min(w.box.left for w in words)
    top = min(w.box.top for w in words)
    right = max(w.box.left + w.box.width for w in words)
    bottom = max(w.box.top + w.box.height for w in words)
    return Box(left, top, right - left, bottom - top)


def _paragraph_break(
    above: tuple[tuple[int, int], Box], line: tuple[tuple[int, int], Box], line_height: int
) -> bool:
    (para_above, box_above), (para, box) = above, line
    gap = box.top - (box_above.top + box_above.height)
    if gap > 0.8 * line_height:
        return True  # a blank line on the page
    if para == para_above:
        return False
    straight_below = gap >= -0.25 * line_height and abs(box.left - box_above.left) <= line_height
    return not straight_below


def mean_confidence(words: list[Word]) -> float | None:
    """Mean word confidence (0..100) weighted by word length; None without words."""
    total = sum(len(w.text) for w in words)
    if not total:
        return None
    return sum(w.confidence * len(w.text) for w in words) / total
