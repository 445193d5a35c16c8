"""Test data for the web tests: users of every role and documents as the pipeline leaves them."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from classifiers.references import normalize
from mailroom.infra.db.models import Case, Document, Page, TrainingSample
from mailroom.infra.objects import document_key
from mailroom.runtime.context import AppContext
from mailroom.services.users import add_user

PASSWORD = "richtig-geheim-123"
USERS = {
    "admin": ("admin", []),
    "leitstand": ("operator", []),
    "clerk402": ("clerk", ["402"]),
    "clerk304": ("clerk", ["304"]),
}
UNIT_OF = {"402": "402.12", "304": "304.10", "404": "404.10"}


def seed_users(ctx: AppContext) -> None:
    """One user per role (two clerks in different departments), all with :data:`PASSWORD`."""
    with ctx.db.session() as session:
        for name, (role, depts) in USERS.items():
            add_user(session, name, PASSWORD, role, depts, actor="test")


def page_jpeg(label: str = "Seite", size: tuple[int, int] = (400, 560)) -> bytes:
    image = Image.new("L", size, 255)
    ImageDraw.Draw(image).text((30, 40), label, fill=0)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return out.getvalue()


def small_pdf() -> bytes:
    out = io.BytesIO()
    Image.new("L", (200, 280), 255).save(out, "PDF")
    return out.getvalue()


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form like a browser; returns the session's CSRF token."""
    page = client.get("/login")
    token = csrf_in(page.text)
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_in(client.get("/login").text)


def token_client(ctx: AppContext, username: str) -> TestClient:
    """An API client with a bearer token for ``username`` (password :data:`PASSWORD`)."""
    from mailroom.web.app import create_app

    client = TestClient(create_app(ctx))
    response = client.post("/api/token", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    client.headers["Authorization"] = "Bearer " + response.json()["access_token"]
    return client


def csrf_in(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def make_document(
    ctx: AppContext,
    *,
    department_id: str | None = "402",
    state: str = "routed",
    subject: str = "Antrag auf Förderung",
    sender: str = "Erika Mustermann, Hauptstr. 1, 42103 Wuppertal",
    text: str | None = None,
    confidence: float | None = 0.93,
    reason: str | None = None,
    scan_line_id: str = "scan-1",
    received_at: datetime | None = None,
    processed_at: datetime | None = None,
    page_count: int = 1,
    case: str | None = None,
) -> str:
    """A document row with its objects in ``ctx.store``, as the worker pipeline writes it."""
    received = received_at or datetime.now(UTC) - timedelta(minutes=30)
    unit = UNIT_OF.get(department_id or "")
    with ctx.db.session() as session:
        doc = Document(
            scan_line_id=scan_line_id,
            source_name=f"{re.sub(r'[^a-z0-9]+', '-', subject.lower())[:40]}.pdf",
            sha256="0" * 64,
            size_bytes=1234,
            media_type="application/pdf",
            state=state,
            state_reason=reason,
            received_at=received,
            updated_at=received,
        )
        session.add(doc)
        session.flush()
        in_inbox = state in ("routed", "review", "accepted")
        doc.text = (
            text if text is not None else f"Betreff: {subject}\nSehr geehrte Damen und Herren"
        )
        if in_inbox or state in ("failed", "quarantined"):
            original = document_key(doc.id, "original.pdf")
            ctx.store.put(original, small_pdf(), "application/pdf")
            doc.original_key = original
            doc.objects = {"original": original}
        if in_inbox:
            pdf_key = document_key(doc.id, "document.pdf")
            ctx.store.put(pdf_key, small_pdf(), "application/pdf")
            page_keys = []
            for n in range(1, page_count + 1):
                key = document_key(doc.id, f"pages/{n:04d}.jpg")
                ctx.store.put(key, page_jpeg(f"Seite {n}"), "image/jpeg")
                page_keys.append(key)
                session.add(
                    Page(
                        document_id=doc.id,
                        number=n,
                        width=400,
                        height=560,
                        dpi=100,
                        text=doc.text,
                        ocr_confidence=88.0,
                        image_key=key,
                        low_confidence_regions=[[30, 40, 120, 20]],
                    )
                )
            doc.objects = {"original": original, "pdf": pdf_key, "pages": page_keys}
            doc.page_count = page_count
            doc.subject = subject
            doc.sender = sender
            doc.department_id = department_id
            doc.unit_code = unit
            doc.confidence = confidence
            doc.decision = "auto" if state == "routed" else "review"
            doc.classifier_version = "test-1"
            doc.alternatives = [
                {"unit_code": unit, "department_id": department_id, "probability": confidence},
                {"unit_code": "404.10", "department_id": "404", "probability": 0.04},
            ]
            doc.reasons = [f"An das Amt {department_id} adressiert", "Klassifikator: 93 %"]
            doc.processed_at = processed_at or received + timedelta(minutes=1)
            doc.processing_seconds = 4.2
        if case is not None and unit is not None:
            row = Case(
                aktenzeichen=case,
                reference_key=normalize(case),
                unit_code=unit,
                subject="Testvorgang",
            )
            session.add(row)
            session.flush()
            doc.case_id = row.id
        return doc.id


#: Units with distinct vocabulary, so a small training set separates them.
LETTERS = {
    "402.12": "Angebot Softwarelizenz Rahmenvertrag Hardware Beschaffung Laptop Server",
    "304.10": "Brandschau Feuerwehr Rauchmelder Brandschutz Fluchtweg Löschwasser",
    "404.10": "Bewerbung Stelle Ausbildung Personal Lebenslauf Zeugnis Einstellung",
}


def seed_training_samples(ctx: AppContext, per_unit: int = 12) -> None:
    with ctx.db.session() as session:
        for unit, words in LETTERS.items():
            vocab = words.split()
            for i in range(per_unit):
                rotated = vocab[i % len(vocab) :] + vocab[: i % len(vocab)]
                text = f"Sehr geehrte Damen und Herren, {' '.join(rotated)} Nr. {i}. Mit Gruß"
                session.add(
                    TrainingSample(
                        source=f"test:{unit}:{i}",
                        sha256=hashlib.sha256(text.encode()).hexdigest(),
                        text=text,
                        unit_code=unit,
                    )
                )
