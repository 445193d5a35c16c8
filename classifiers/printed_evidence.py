"""Handwritten letters (handschriftliche Briefe) are routed automatically only on print.

Handwriting is read far less reliably than print, and a misread Aktenzeichen in it would
send a citizen's letter to the wrong case without anyone looking. So a document whose
pages are mostly written by hand keeps the router's ``auto`` only when the evidence it
rests on stands in the printed part of the pages: :func:`printed_text` keeps each page's
words that lie outside its handwritten text regions, the pipeline extracts and matches
cases on that text again, and :func:`check_handwritten_letter` keeps ``auto`` only when
the routed case (or, without a case, a reference pointing to the routed department) is
still found there. Either way a German reason tells the clerk why.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from config.fileplan import FilePlan
from mailroom.core.domain import (
    CaseMatch,
    Extraction,
    PageOcr,
    Reference,
    RoutingResult,
    Word,
)

#: The reason of a handwritten letter taken out of automatic routing (starts every such one).
REVIEW_REASON = "Handschriftlicher Brief: Zuordnung hängt an handschriftlichem Text"
KEPT = "steht im gedruckten Text – automatische Zuordnung bleibt"
#: Said of a handwritten letter the router left for review anyway.
HANDWRITTEN_REVIEW = "handschriftlicher Text, bitte Zuordnung prüfen"


def printed_text(results: Sequence[PageOcr]) -> str:
    """The pages' text without the words inside handwritten text regions (notes and
    signatures are no evidence either way; their words stay). A page marked as a
    handwritten letter without any text region gives no printed text at all."""
    pages = []
    for ocr in results:
        regions = [region.box for region in ocr.handwriting if region.kind == "text"]
        if ocr.handwritten == "letter" and not regions:
            continue
        words = [w for w in ocr.words if not any(box.holds_centre_of(w.box) for box in regions)]
        if text := _lines(words):
            pages.append(text)
    return "\n\n".join(pages)


def _lines(words: Iterable[Word]) -> str:
    """Words joined by spaces, a line break where the line number changes."""
    lines: list[list[str]] = []
    current: int | None = None
    for word in words:
        if not word.text.strip():
            continue
        if word.line != current or not lines:
            lines.append([])
            current = word.line
        lines[-1].append(word.text)
    return "\n".join(" ".join(line) for line in lines)


def check_handwritten_letter(
    routing: RoutingResult,
    case_match: CaseMatch,
    printed: Extraction,
    printed_match: CaseMatch,
    fileplan: FilePlan,
) -> RoutingResult:
    """The routing of a handwritten letter: ``auto`` stays only on printed evidence.

    ``case_match`` is the match on the whole text, ``printed`` and ``printed_match`` what
    extraction and case matching found in :func:`printed_text` alone. A decision that is
    ``review`` already stays so, with a reason that the letter is handwritten.
    """
    if routing.decision != "auto":
        return _kept(routing, HANDWRITTEN_REVIEW)
    if routing.case_id is not None:
        aktenzeichen = _aktenzeichen(case_match, routing.case_id)
        found = printed_match.case is not None and printed_match.case.case_id == routing.case_id
        if found:
            return _kept(routing, f"Vorgang {aktenzeichen} {KEPT}")
        return _review(routing, f"Vorgang {aktenzeichen} nicht im gedruckten Text")
    reference = _department_reference(printed.references, routing.department_id, fileplan)
    if reference is not None:
        return _kept(routing, f"Aktenzeichen {reference.raw} {KEPT}")
    return _review(routing, "kein gedrucktes Aktenzeichen des Amts")


def _aktenzeichen(case_match: CaseMatch, case_id: int) -> str:
    case = case_match.case
    if case is not None and case.case_id == case_id:
        return case.aktenzeichen
    return next((c.aktenzeichen for c in case_match.candidates if c.case_id == case_id), "?")


def _department_reference(
    references: Iterable[Reference], department_id: str | None, fileplan: FilePlan
) -> Reference | None:
    """A reference whose pattern names a unit of the routed department."""
    for reference in references:
        unit = fileplan.units_by_code.get(reference.unit_hint or "")
        if unit is not None and department_id is not None and unit.department == department_id:
            return reference
    return None


def _kept(routing: RoutingResult, why: str) -> RoutingResult:
    return replace(routing, reasons=[*routing.reasons, f"Handschriftlicher Brief: {why}"])


def _review(routing: RoutingResult, why: str) -> RoutingResult:
    return replace(
        routing, decision="review", reasons=[*routing.reasons, f"{REVIEW_REASON} ({why})"]
    )
