"""The DMS record: the one mapping from a pipeline result to what is kept of a document.

:func:`build_record` maps the pipeline's findings once. The document's database row takes
the record's column values (:attr:`DmsRecord.columns`), and ``metadata.json`` is the
record's :attr:`DmsRecord.metadata`, with field names after xdomea. xdomea writes German
element names without umlauts (``Federfuehrung``, ``Empfaenger``, ``Primaerdokument``);
the record follows that spelling so an xdomea export can map it one to one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from config.fileplan import FilePlan
from mailroom.core.domain import (
    CaseMatch,
    DocumentInput,
    Extraction,
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
    """Map the pipeline's findings once; the row and ``metadata.json`` both come from here."""
    return DmsRecord(
        columns=_columns(recognized, extraction, case_match, routing, objects),
        metadata=_metadata(
            doc, recognized, extraction, case_match, routing, fileplan, ocr, objects
        ),
    )


def _columns(
    recognized: Recognized,
    extraction: Extraction,
    case_match: CaseMatch,
    routing: RoutingResult,
    objects: dict[str, Any],
) -> dict[str, Any]:
    results = recognized.results
    return {
        "page_count": len(recognized.pages),
        "text": recognized.text,
        "ocr_engine": results[0].engine if results else None,
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
            {"page": r.number, "box": [b.left, b.top, b.width, b.height]}
            for r in results
            for b in r.low_confidence_regions
        ],
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
