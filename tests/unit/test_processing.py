"""The worker's processing of one document: stages, commit, failures, idempotency."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from mailroom.core.domain import PageOcr, PreparedPage
from mailroom.core.errors import OcrError, StorageUnavailable
from mailroom.core.states import DocumentState as S
from mailroom.infra.db import models
from mailroom.infra.db.models import utcnow
from mailroom.infra.object_stream import ObjectStream
from mailroom.infra.objects import ObjectStore, StoredObject
from mailroom.runtime.context import AppContext
from mailroom.runtime.processor import DocumentProcessor, Outcome
from mailroom.runtime.registration import register_file
from mailroom.runtime.sweeper import Sweeper
from mailroom.services.cases import import_cases_csv
from tests.letters import CASE_REF, CASE_UNIT, case_csv, two_page_letter


class CrashingEngine:
    """An OCR engine that fails on every page, as a broken Tesseract would."""

    name = "crashing"

    def recognize(self, page: PreparedPage) -> PageOcr:
        raise OcrError("tesseract crashed (signal 11)")


class UnavailableStore:
    """Wraps a store; writes fail while ``down`` is set (an S3 outage)."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.down = True

    def put(
        self,
        key: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
    ) -> StoredObject:
        if self.down:
            raise StorageUnavailable("S3 endpoint timed out")
        return self.inner.put(key, data, content_type, metadata)

    def put_file(
        self,
        key: str,
        path: Path,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
    ) -> StoredObject:
        if self.down:
            raise StorageUnavailable("S3 endpoint timed out")
        return self.inner.put_file(key, path, content_type, metadata)

    def get(self, key: str) -> bytes:
        return self.inner.get(key)

    def get_file(self, key: str, path: Path) -> int:
        return self.inner.get_file(key, path)

    def open_stream(self, key: str) -> ObjectStream:
        return self.inner.open_stream(key)

    def stat(self, key: str) -> StoredObject:
        return self.inner.stat(key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def list(self, prefix: str = "") -> Iterator[str]:
        return self.inner.list(prefix)

    def describe(self) -> str:
        return "unavailable " + self.inner.describe()


@pytest.fixture
def letter(ctx: AppContext, tmp_path: Path) -> str:
    with ctx.db.session() as session:
        import_cases_csv(session, case_csv(tmp_path / "cases.csv"), ctx.fileplan)
    doc = register_file(
        ctx, ctx.scan_lines[0], two_page_letter(tmp_path / "brief.tif"), move=False, publish=False
    )
    assert doc is not None and doc.state == S.RECEIVED
    return doc.id


@pytest.mark.slow
def test_letter_quoting_a_known_aktenzeichen_lands_in_that_case(
    ctx: AppContext, letter: str
) -> None:
    report = DocumentProcessor(ctx, "test-worker").handle(letter)
    assert report.outcome is Outcome.DONE
    with ctx.db.session() as session:
        doc = session.get(models.Document, letter)
        assert doc is not None
        assert doc.state == S.ROUTED
        assert doc.case is not None and doc.case.aktenzeichen == CASE_REF
        assert doc.unit_code == CASE_UNIT
        assert doc.department_id == ctx.fileplan.unit(CASE_UNIT).department
        assert doc.page_count == 2 and len(doc.pages) == 2
        assert "Verdienstbescheinigung" in str(doc.text)
        first = min(doc.pages, key=lambda p: p.number).layout
        assert first is not None
        address = [b for b in first["blocks"] if b["kind"] == "address"]
        assert address and "Stadt Wuppertal" in address[0]["lines"][0]["text"]
        assert doc.letter_date is not None and doc.letter_date.isoformat() == "2024-03-12"
        keys = doc.objects
        assert keys is not None
    for key in [keys["original"], keys["pdf"], keys["text"], keys["metadata"], *keys["pages"]]:
        assert ctx.store.exists(key), key
    meta = json.loads(ctx.store.get(keys["metadata"]))
    assert meta["Vorgang"]["Aktenzeichen"] == CASE_REF
    assert meta["Aktenplaneinheit"]["Kennzeichen"] == CASE_UNIT
    assert [p["Seite"] for p in meta["Seitenlayout"]] == [1, 2]
    assert meta["Seitenlayout"][0]["Layout"]["blocks"][0]["lines"]
    headers = ctx.store.stat(keys["pdf"]).metadata
    assert headers["case"] == CASE_REF and headers["fileplan-unit"] == CASE_UNIT


@pytest.mark.slow
def test_reprocessing_is_idempotent(ctx: AppContext, letter: str) -> None:
    processor = DocumentProcessor(ctx, "w1")
    assert processor.handle(letter).outcome is Outcome.DONE
    first = sorted(ctx.store.list(f"documents/{letter}/"))
    # A redelivered message for a finished document changes nothing.
    assert processor.handle(letter).outcome is Outcome.SKIPPED
    # Forced reprocessing (the lease ran out before the commit) overwrites the same objects.
    with ctx.db.session() as session:
        doc = session.get(models.Document, letter)
        assert doc is not None
        doc.state = S.QUEUED
    assert DocumentProcessor(ctx, "w2").handle(letter).outcome is Outcome.DONE
    assert sorted(ctx.store.list(f"documents/{letter}/")) == first
    with ctx.db.session() as session:
        pages = session.scalars(select(models.Page).where(models.Page.document_id == letter)).all()
        machine = session.scalars(
            select(models.RoutingDecision).where(models.RoutingDecision.document_id == letter)
        ).all()
        assert len(pages) == 2
        assert len(machine) == 1


def test_a_crashing_ocr_engine_fails_the_document_permanently(ctx: AppContext, letter: str) -> None:
    ctx.ocr = CrashingEngine()
    report = DocumentProcessor(ctx, "w1").handle(letter)
    assert report.outcome is Outcome.DEAD
    with ctx.db.session() as session:
        doc = session.get(models.Document, letter)
        assert doc is not None and doc.state == S.FAILED
        assert "tesseract crashed" in str(doc.state_reason)
        trail = session.scalars(
            select(models.AuditEvent).where(models.AuditEvent.document_id == letter)
        ).all()
        assert [e.to_state for e in trail][-2:] == [S.PROCESSING, S.FAILED]


@pytest.mark.slow
def test_a_storage_outage_is_retried_with_backoff_and_then_succeeds(
    ctx: AppContext, letter: str
) -> None:
    flaky = UnavailableStore(ctx.store)
    ctx.store = flaky
    before = utcnow()
    report = DocumentProcessor(ctx, "w1").handle(letter)
    assert report.outcome is Outcome.RETRY
    with ctx.db.session() as session:
        doc = session.get(models.Document, letter)
        assert doc is not None and doc.state == S.RETRY_WAIT
        # Later than when the failure happened (not than "now": the delay is short).
        assert doc.next_attempt_at is not None and doc.next_attempt_at > before
        doc.next_attempt_at = utcnow() - timedelta(seconds=1)  # the backoff has passed
    flaky.down = False
    assert Sweeper(ctx).run() == 1  # republished
    assert ctx.queue.depth() == 1
    assert DocumentProcessor(ctx, "w2").handle(letter).outcome is Outcome.DONE


def test_retries_end_in_failure_after_max_attempts(ctx: AppContext, letter: str) -> None:
    ctx.store = UnavailableStore(ctx.store)
    ctx.ocr = CrashingEngine()
    with ctx.db.session() as session:
        doc = session.get(models.Document, letter)
        assert doc is not None
        doc.attempts = ctx.settings.max_attempts
    report = DocumentProcessor(ctx, "w1").handle(letter)
    assert report.outcome is Outcome.DEAD and report.state == S.FAILED


def test_a_document_whose_worker_died_is_taken_over_after_the_lease(
    ctx: AppContext, letter: str
) -> None:
    with ctx.db.session() as session:
        doc = session.get(models.Document, letter)
        assert doc is not None
        doc.state = S.PROCESSING
        doc.lease_owner = "worker-that-died"
        doc.lease_until = utcnow() + timedelta(minutes=5)
    # Within the lease another worker leaves it alone ...
    assert DocumentProcessor(ctx, "w2").handle(letter).outcome is Outcome.SKIPPED
    assert Sweeper(ctx).run() == 0
    with ctx.db.session() as session:
        doc = session.get(models.Document, letter)
        assert doc is not None
        doc.lease_until = utcnow() - timedelta(seconds=1)
    # ... after it, the sweeper puts it back on the queue.
    assert Sweeper(ctx).run() == 1
    with ctx.db.session() as session:
        doc = session.get(models.Document, letter)
        assert doc is not None and doc.state == S.QUEUED and doc.lease_owner is None


def test_a_lost_publish_is_repaired_by_the_sweeper(ctx: AppContext, letter: str) -> None:
    # The intake committed but its publish never reached the broker: the document stays
    # 'received'. Once it is older than requeue_after_seconds the sweeper publishes it.
    assert Sweeper(ctx).run() == 0
    with ctx.db.session() as session:
        doc = session.get(models.Document, letter)
        assert doc is not None
        doc.updated_at = utcnow() - timedelta(seconds=ctx.settings.requeue_after_seconds + 1)
    assert Sweeper(ctx).run() == 1
    assert ctx.queue.depth() == 1
