"""Hot-folder intake against the real services: PostgreSQL, RabbitMQ and S3."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfWriter
from sqlalchemy import select

from config.settings import Settings
from mailroom.infra.db.models import AuditEvent, Document
from mailroom.infra.objects import S3ObjectStore
from mailroom.infra.queue import DocumentMessage
from mailroom.runtime.context import AppContext
from mailroom.runtime.watchers import scan_once

pytestmark = pytest.mark.integration


@pytest.fixture
def prod_ctx(production_settings: Settings) -> Iterator[AppContext]:
    context = AppContext.from_settings(production_settings, migrate=True)
    yield context
    context.close()


def _drop(folder: Path, name: str, data: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    then = time.time() - 60
    os.utime(path, (then, then))


def _scan_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _scan_tiff() -> bytes:
    out = io.BytesIO()
    pages = [Image.new("L", (120, 170), 255), Image.new("L", (120, 170), 200)]
    pages[0].save(out, format="TIFF", save_all=True, append_images=pages[1:])
    return out.getvalue()


def test_scan_lands_in_s3_postgres_and_rabbitmq(prod_ctx: AppContext) -> None:
    ctx = prod_ctx
    line = ctx.scan_lines[0]
    assert isinstance(ctx.store, S3ObjectStore) and ctx.db.url.startswith("postgresql")
    tiff = _scan_tiff()
    _drop(line.hot_folder, "stapel.tif", tiff)
    _drop(line.hot_folder, "kaputt.pdf", b"%PDF-1.4\nnur Text, keine Seiten\n")
    _drop(line.hot_folder, "nochmal.tif", tiff)
    _drop(line.hot_folder / "Stapel_7", "brief.pdf", _scan_pdf())

    results = scan_once(ctx, line)

    outcomes = sorted((r.source_name, r.outcome) for r in results)
    assert outcomes == [
        ("Stapel_7/brief.pdf", "queued"),
        ("kaputt.pdf", "quarantined"),
        ("nochmal.tif", "duplicate"),
        ("stapel.tif", "queued"),
    ]
    with ctx.db.session() as session:
        docs = {d.source_name: d for d in session.scalars(select(Document))}
        done = session.scalars(select(AuditEvent).where(AuditEvent.action == "intake.done"))
        assert len(list(done)) == 4
    original = docs["stapel.tif"]
    assert original.state == "queued" and original.original_key
    assert ctx.store.get(original.original_key) == tiff
    stored = ctx.store.stat(original.original_key)
    assert stored.content_type == "image/tiff"
    assert stored.metadata["source-name"] == "stapel.tif"
    assert stored.metadata["sha256"] == original.sha256
    assert docs["nochmal.tif"].duplicate_of == original.id
    assert docs["kaputt.pdf"].state_reason
    assert (line.hot_folder / "quarantine" / "kaputt.pdf.reason.txt").exists()

    assert ctx.queue.depth() == 2
    with ctx.queue.connect() as conn:
        queue = ctx.queue.queue.bind(conn.default_channel)
        ids = set()
        for _ in range(2):
            message = queue.get(no_ack=True)
            assert message is not None
            ids.add(DocumentMessage.parse(message.body).document_id)
    assert ids == {original.id, docs["Stapel_7/brief.pdf"].id}
