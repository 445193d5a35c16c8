"""The DMS record: the one mapping from a pipeline result to what is kept of a document.

:func:`build_record` maps the pipeline's findings once. The database takes the record's
values as they are — the document row (:attr:`DmsRecord.columns`), one row per page
(:attr:`DmsRecord.pages`) and the machine's routing decision (:attr:`DmsRecord.decision`) —
and ``metadata.json`` is the record's :attr:`DmsRecord.metadata`, with field names after
xdomea. xdomea writes German
element names without umlauts (``Federfuehrung``, ``Empfaenger``, ``Primaerdokument``);
the record follows that spelling so an xdomea export can map it one to one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from config.fileplan import FilePlan
from mailroom.core.domain import (
    Box,
    CaseMatch,
    DocumentInput,
    Extraction,
    HandRegion,
    PageLayout,
    Recognized,
    RoutingResult,
)

SCHEMA = "mailroom.dms-metadata/1"

#: Aussonderungsart codes of the file plan.
DISPOSAL = {"A": "archivieren", "B": "bewerten", "V": "vernichten"}


@dataclass(frozen=True)
class OcrInfo:
    """Which engine read the pages (for the record's ``OCR`` part)."""

    engine: str
    version: str | None
    language: str


@dataclass(frozen=True)
class DmsRecord:
    """What is kept of one processed document: row values and ``metadata.json``."""

    #: Values of the document's columns, by column name (see ``Document`` in the models).
    columns: dict[str, Any]
    #: Values of each page's row (``Page``), in page order.
    pages: list[dict[str, Any]]
    #: Values of the machine's routing decision (``RoutingDecision``, kind auto or review).
    decision: dict[str, Any]
    #: ``metadata.json``: everything a DMS needs to file the document.
    metadata: dict[str, Any]

    @property
    def objects(self) -> dict[str, Any]:
        """Keys of the stored objects (original, PDF, text, pages, words, metadata)."""
        return dict(self.columns["objects"])


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def build_record(
    doc: DocumentInput,
    recognized: Recognized,
    extraction: Extraction,
    case_match: CaseMatch,
    routing: RoutingResult,
    *,
    fileplan: FilePlan,
    ocr: OcrInfo,
    objects: dict[str, Any],
) -> DmsRecord:
    """Map the pipeline's findings once; the rows and ``metadata.json`` all come from here."""
    return DmsRecord(
        columns=_columns(recognized, extraction, case_match, routing, ocr, objects),
        pages=_pages(recognized, objects["pages"]),
        decision=_decision(routing),
        metadata=_metadata(
            doc, recognized, extraction, case_match, routing, fileplan, ocr, objects
        ),
    )


def _columns(
    recognized: Recognized,
    extraction: Extraction,
    case_match: CaseMatch,
    routing: RoutingResult,
    ocr: OcrInfo,
    objects: dict[str, Any],
) -> dict[str, Any]:
    return {
        "page_count": len(recognized.pages),
        "text": recognized.text,
        "ocr_engine": ocr.engine or None,
        "ocr_confidence": recognized.mean_confidence,
        "subject": extraction.subject,
        "sender": extraction.sender,
        "recipient": extraction.recipient,
        "letter_date": extraction.letter_date,
        "extraction": {
            "references": [asdict(r) for r in extraction.references],
            "addressed_departments": extraction.addressed_departments,
            "names": extraction.names,
            "case_candidates": [asdict(c) for c in case_match.candidates],
            "case_ambiguous": case_match.ambiguous,
        },
        "low_confidence_regions": [
            {"page": r.number, "box": _box(b)}
            for r in recognized.results
            for b in r.low_confidence_regions
        ],
        "handwritten": recognized.handwritten,
        "department_id": routing.department_id,
        "unit_code": routing.unit_code,
        "case_id": routing.case_id,
        "confidence": routing.confidence,
        "decision": routing.decision,
        "classifier_version": routing.classifier_version,
        "alternatives": [asdict(a) for a in routing.alternatives],
        "reasons": routing.reasons,
        "objects": objects,
    }


def _pages(recognized: Recognized, image_keys: list[str]) -> list[dict[str, Any]]:
    pairs = zip(recognized.pages, recognized.results, image_keys, strict=True)
    return [
        {
            "number": page.number,
            "width": page.image.shape[1],
            "height": page.image.shape[0],
            "dpi": page.dpi,
            "rotation": page.rotation,
            "skew_degrees": page.skew_degrees,
            "blank": page.blank,
            "ocr_confidence": ocr.confidence,
            "text": ocr.text,
            "image_key": key,
            "low_confidence_regions": [_box(b) for b in ocr.low_confidence_regions],
            "layout": layout_values(ocr.layout),
            "handwritten": ocr.handwritten,
            "handwriting": handwriting_values(ocr.handwriting),
            "orientation_check": ocr.orientation_check,
            "second_pass": ocr.second_pass,
            "dictionary_share": ocr.dictionary_share,
        }
        for page, ocr, key in pairs
    ]


def handwriting_values(regions: list[HandRegion]) -> list[dict[str, Any]]:
    """A page's handwritten regions as stored: kind and box in page pixels."""
    return [{"kind": region.kind, "box": _box(region.box)} for region in regions]


def layout_values(layout: PageLayout | None) -> dict[str, Any] | None:
    """A page's layout as stored: blocks in reading order, boxes in page pixels."""
    if layout is None:
        return None
    return {
        "dpi": layout.dpi,
        "blocks": [
            {
                "kind": block.kind,
                "box": _box(block.box),
                "lines": [{"text": line.text, "box": _box(line.box)} for line in block.lines],
            }
            for block in layout.blocks
        ],
    }


def _decision(routing: RoutingResult) -> dict[str, Any]:
    return {
        "kind": routing.decision,
        "department_id": routing.department_id,
        "unit_code": routing.unit_code,
        "case_id": routing.case_id,
        "confidence": routing.confidence,
        "classifier_version": routing.classifier_version,
        "alternatives": [asdict(a) for a in routing.alternatives],
        "reasons": routing.reasons,
    }


def _box(box: Box) -> list[int]:
    return [box.left, box.top, box.width, box.height]


def _metadata(
    doc: DocumentInput,
    recognized: Recognized,
    extraction: Extraction,
    case_match: CaseMatch,
    routing: RoutingResult,
    fileplan: FilePlan,
    ocr: OcrInfo,
    objects: dict[str, Any],
) -> dict[str, Any]:
    unit = fileplan.units_by_code.get(routing.unit_code or "")
    dept = fileplan.departments_by_id.get(routing.department_id or "")
    case = case_match.case if routing.case_id is not None else None
    reference = (
        case.aktenzeichen
        if case
        else next((r.raw for r in extraction.references if r.kind == "aktenzeichen"), None)
    )
    return {
        "schema": SCHEMA,
        "Identifikation": {"ID": doc.id},
        "Betreff": extraction.subject,
        "Kennzeichen": reference,
        "Aktenplaneinheit": ({"Kennzeichen": unit.code, "Titel": unit.title} if unit else None),
        "Federfuehrung": {"ID": dept.id, "Name": dept.name} if dept else None,
        "Vorgang": (
            {"ID": case.case_id, "Aktenzeichen": case.aktenzeichen, "Zuordnung": case.how}
            if case
            else None
        ),
        "Posteingangsdatum": _iso(doc.received_at),
        "DatumDesSchreibens": _iso(extraction.letter_date),
        "Absender": extraction.sender,
        "Empfaenger": extraction.recipient,
        "Medium": {"Code": "001", "Name": "elektronisch (Scan eines Papierdokuments)"},
        "Aufbewahrungsdauer": unit.retention_years if unit else None,
        "Aussonderungsart": (
            {"Code": unit.disposal, "Name": DISPOSAL[unit.disposal]} if unit else None
        ),
        "Primaerdokument": {
            "Dateiname": doc.source_name,
            "SHA256": doc.sha256,
            "MIMEType": doc.media_type,
            "Groesse": doc.size_bytes,
        },
        "Scanstrasse": doc.scan_line,
        "Stapel": doc.batch,
        "Seitenzahl": len(recognized.results),
        "LeereSeiten": [p.number for p in recognized.pages if p.blank],
        "Seitenlayout": [
            {"Seite": r.number, "Layout": layout_values(r.layout)} for r in recognized.results
        ],
        "Handschrift": recognized.handwritten,
        "Seiten": _page_metadata(recognized),
        "OCR": {
            "Engine": ocr.engine,
            "Version": ocr.version,
            "Sprache": ocr.language,
            "MittlereKonfidenz": recognized.mean_confidence,
        },
        "Referenzen": [asdict(r) for r in extraction.references],
        "Klassifikation": {
            "Klassifikatorversion": routing.classifier_version,
            "Konfidenz": round(routing.confidence, 4),
            "Entscheidung": routing.decision,
            "Alternativen": [asdict(a) for a in routing.alternatives],
            "Begruendung": routing.reasons,
            "Vorgangskandidaten": [asdict(c) for c in case_match.candidates],
        },
        "Objekte": objects,
    }


def _page_metadata(recognized: Recognized) -> list[dict[str, Any]]:
    """Per page: how it was read (turned, deskewed, checked, a second pass) and handwriting."""
    return [
        {
            "Seite": page.number,
            "Drehung": page.rotation,
            "Schraeglage": round(page.skew_degrees, 2),
            "Leer": page.blank,
            "Konfidenz": ocr.confidence,
            "Ausrichtungspruefung": ocr.orientation_check,
            "ZweiterDurchgang": ocr.second_pass,
            "Woerterbuchanteil": ocr.dictionary_share,
            "Handschrift": ocr.handwritten,
            "Handschriftbereiche": [
                {"Art": region.kind, "Box": _box(region.box)} for region in ocr.handwriting
            ],
        }
        for page, ocr in zip(recognized.pages, recognized.results, strict=True)
    ]
