"""The DMS metadata record (``metadata.json``), with field names after xdomea.

xdomea writes German element names without umlauts (``Federfuehrung``,
``Empfaenger``, ``Primaerdokument``); this record follows that spelling so an xdomea
export can map it one to one.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from config.fileplan import FilePlan
from mailroom.core.domain import CaseMatch, Extraction, PageOcr, RoutingResult

SCHEMA = "mailroom.dms-metadata/1"

#: Aussonderungsart codes of the file plan.
DISPOSAL = {"A": "archivieren", "B": "bewerten", "V": "vernichten"}


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def build_metadata(
    *,
    document_id: str,
    source_name: str,
    sha256: str,
    media_type: str,
    size_bytes: int,
    received_at: datetime,
    scan_line: dict[str, Any],
    batch: dict[str, Any] | None,
    pages: list[PageOcr],
    blank_pages: list[int],
    ocr: dict[str, Any],
    extraction: Extraction,
    case_match: CaseMatch,
    routing: RoutingResult,
    fileplan: FilePlan,
    objects: dict[str, Any],
) -> dict[str, Any]:
    """Everything a DMS needs to file the document, as one JSON-serialisable dict."""
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
        "Identifikation": {"ID": document_id},
        "Betreff": extraction.subject,
        "Kennzeichen": reference,
        "Aktenplaneinheit": ({"Kennzeichen": unit.code, "Titel": unit.title} if unit else None),
        "Federfuehrung": {"ID": dept.id, "Name": dept.name} if dept else None,
        "Vorgang": (
            {"ID": case.case_id, "Aktenzeichen": case.aktenzeichen, "Zuordnung": case.how}
            if case
            else None
        ),
        "Posteingangsdatum": _iso(received_at),
        "DatumDesSchreibens": _iso(extraction.letter_date),
        "Absender": extraction.sender,
        "Empfaenger": extraction.recipient,
        "Medium": {"Code": "001", "Name": "elektronisch (Scan eines Papierdokuments)"},
        "Aufbewahrungsdauer": unit.retention_years if unit else None,
        "Aussonderungsart": (
            {"Code": unit.disposal, "Name": DISPOSAL[unit.disposal]} if unit else None
        ),
        "Primaerdokument": {
            "Dateiname": source_name,
            "SHA256": sha256,
            "MIMEType": media_type,
            "Groesse": size_bytes,
        },
        "Scanstrasse": scan_line,
        "Stapel": batch,
        "Seitenzahl": len(pages),
        "LeereSeiten": blank_pages,
        "OCR": ocr,
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
