"""What the worker finds wrong with a file is permanent, and the scan centre hears of it.

Bad input found while rasterising or preparing a page (a damaged image, a page size no
page has, a strip too narrow to be a page, whatever Pillow or OpenCV raise on it) is
quarantined in one attempt, never retried as "transient"; the reason is written beside
the file in ``processed/`` for the scan centre, and when that cannot be written the
document's outcome is the same.
"""

from __future__ import annotations

import errno
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
from kombu import Connection

from config.settings import Settings
from mailroom.core.domain import PageOcr, PreparedPage
from mailroom.core.errors import CorruptFile, FileTooLarge
from mailroom.core.states import DocumentState as S
from mailroom.infra.db.models import Document
from mailroom.infra.queue import DocumentMessage, DocumentQueue
from mailroom.runtime.context import AppContext
from mailroom.runtime.processor import DocumentProcessor, Outcome, Report
from mailroom.runtime.registration import register_file
from mailroom.runtime.watchers import scan_once
from tests.bad_inputs import blank_pdf, encoded, half, javascript_catalog, noise, pdf_by_hand
from tests.unit.test_consumer import CrashingReader, LetterReader
from tests.unit.test_intake_streaming import aged

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker_ctx(ctx: AppContext) -> Iterator[AppContext]:
    ctx.ocr = LetterReader()
    yield ctx


def truncated_jpeg() -> bytes:
    """Passes intake (headers only); the worker finds the pixels missing."""
    return half(encoded(noise(400, 300), "JPEG"))


def take(ctx: AppContext, name: str, data: bytes) -> Document:
    """Drop a file into the hot folder and let one watcher pass take it."""
    line = ctx.scan_lines[0]
    aged(line.hot_folder / name, data)
    (result,) = scan_once(ctx, line)
    assert result.outcome == "queued", result.reason
    with ctx.db.session() as session:
        doc = session.get(Document, result.document_id)
        assert doc is not None
        return doc


def process(ctx: AppContext, doc_id: str) -> Report:
    return DocumentProcessor(ctx, owner="worker-test").handle(doc_id)


def reason_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.reason.txt"))


def test_a_file_the_worker_refuses_gets_its_reason_file_beside_it_in_processed(
    worker_ctx: AppContext,
) -> None:
    doc = take(worker_ctx, "brief.jpg", truncated_jpeg())
    hot = worker_ctx.scan_lines[0].hot_folder

    report = process(worker_ctx, doc.id)

    assert (report.outcome, report.state) == (Outcome.DEAD, S.QUARANTINED)
    assert "truncated" in (report.reason or "")
    assert reason_files(hot) == ["processed/brief.jpg.reason.txt"]
    text = (hot / "processed" / "brief.jpg.reason.txt").read_text(encoding="utf-8")
    assert "bei der Verarbeitung" in text and doc.id in text and "truncated" in text


def test_a_file_that_failed_for_good_gets_a_reason_file_too(worker_ctx: AppContext) -> None:
    worker_ctx.ocr = CrashingReader()
    doc = take(worker_ctx, "antrag.png", encoded(noise(300, 200), "PNG"))

    assert process(worker_ctx, doc.id).state == S.FAILED

    text = (worker_ctx.scan_lines[0].hot_folder / "processed" / "antrag.png.reason.txt").read_text()
    assert "nicht verarbeitet werden (Fehler)" in text and "tesseract crashed" in text


class BrokenReader(LetterReader):
    """An OCR engine with a bug: an unexpected error, retried until the attempts run out."""

    def recognize(self, page: PreparedPage) -> PageOcr:
        raise RuntimeError("index out of range in the layout analysis")


def used_attempts(ctx: AppContext, doc_id: str, attempts: int) -> None:
    with ctx.db.session() as session:
        doc = session.get(Document, doc_id)
        assert doc is not None
        doc.attempts = attempts


def test_a_document_given_up_after_its_last_attempt_gets_a_reason_file(
    worker_ctx: AppContext,
) -> None:
    worker_ctx.ocr = BrokenReader()
    doc = take(worker_ctx, "bescheid.png", small_png())
    used_attempts(worker_ctx, doc.id, worker_ctx.settings.max_attempts - 1)  # this is the last

    report = process(worker_ctx, doc.id)

    assert (report.outcome, report.state) == (Outcome.DEAD, S.FAILED)
    assert "gave up after" in (report.reason or "")
    hot = worker_ctx.scan_lines[0].hot_folder
    assert reason_files(hot) == ["processed/bescheid.png.reason.txt"]
    text = (hot / "processed" / "bescheid.png.reason.txt").read_text(encoding="utf-8")
    assert "nicht verarbeitet werden (Fehler)" in text
    assert "gave up after" in text and "layout analysis" in text and doc.id in text


def test_a_document_whose_worker_stopped_on_every_attempt_gets_a_reason_file(
    worker_ctx: AppContext,
) -> None:
    """The attempts were used up by workers that died mid-document: given up at the claim."""
    doc = take(worker_ctx, "akte.png", small_png())
    used_attempts(worker_ctx, doc.id, worker_ctx.settings.max_attempts)

    report = process(worker_ctx, doc.id)

    assert (report.outcome, report.state) == (Outcome.DEAD, S.FAILED)
    text = (worker_ctx.scan_lines[0].hot_folder / "processed" / "akte.png.reason.txt").read_text()
    assert "the worker stopped each time" in text


def test_a_reason_file_that_cannot_be_written_does_not_change_the_outcome(
    worker_ctx: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    doc = take(worker_ctx, "brief.jpg", truncated_jpeg())
    blocked = worker_ctx.scan_lines[0].hot_folder / "processed" / "brief.jpg.reason.txt"
    blocked.mkdir()  # a folder where the reason file would go: writing it fails
    caplog.set_level(logging.WARNING, logger="mailroom.runtime.rejections")

    report = process(worker_ctx, doc.id)

    assert (report.outcome, report.state) == (Outcome.DEAD, S.QUARANTINED)
    with worker_ctx.db.session() as session:
        assert session.get(Document, doc.id).state == S.QUARANTINED  # type: ignore[union-attr]
    assert blocked.is_dir() and "no reason file for the scan centre" in caplog.text


class FastWorkerQueue(DocumentQueue):
    """A queue whose worker is so fast it refuses the document before intake moved it."""

    def __init__(self, settings: Settings, ctx: AppContext) -> None:
        super().__init__(settings)
        self.processor = DocumentProcessor(ctx, owner="fast-worker")
        self.reports: list[Report] = []

    def publish(self, message: DocumentMessage, conn: Connection | None = None) -> None:
        super().publish(message, conn)
        self.reports.append(self.processor.handle(message.document_id))


def test_a_worker_faster_than_the_intake_still_leaves_a_reason_file(
    worker_ctx: AppContext,
) -> None:
    worker_ctx.queue = queue = FastWorkerQueue(worker_ctx.settings, worker_ctx)
    line = worker_ctx.scan_lines[0]
    aged(line.hot_folder / "brief.jpg", truncated_jpeg())

    (result,) = scan_once(worker_ctx, line)

    assert [r.state for r in queue.reports] == [S.QUARANTINED]
    assert reason_files(line.hot_folder) == ["processed/brief.jpg.reason.txt"]
    assert result.destination == line.hot_folder.resolve() / "processed" / "brief.jpg"


def test_a_file_registered_in_place_gets_no_reason_file(
    worker_ctx: AppContext, tmp_path: Path
) -> None:
    path = aged(tmp_path / "einzeln.jpg", truncated_jpeg())
    doc = register_file(worker_ctx, worker_ctx.scan_lines[0], path, move=False)
    assert doc is not None

    assert process(worker_ctx, doc.id).state == S.QUARANTINED
    assert reason_files(tmp_path) == []


def small_png() -> bytes:
    return encoded(noise(300, 200), "PNG")


@pytest.mark.parametrize(
    ("name", "good", "bad", "reason"),
    [
        ("exponent.pdf", blank_pdf, lambda: pdf_by_hand("[0 0 1000000 1000000]"), "pixels"),
        ("skript.pdf", blank_pdf, lambda: pdf_by_hand(catalog=javascript_catalog()), "JavaScript"),
        ("streifen.png", small_png, lambda: encoded(noise(5000, 1), "PNG"), "too small"),
    ],
)
def test_a_document_registered_before_the_intake_checked_this_is_refused_in_one_attempt(
    worker_ctx: AppContext, name: str, good: object, bad: object, reason: str
) -> None:
    """Its original is replaced behind the intake's back, as if stored by an older version."""
    doc = take(worker_ctx, name, good())  # type: ignore[operator]
    worker_ctx.store.put(doc.original_key or "", bad(), doc.media_type)  # type: ignore[operator]

    report = process(worker_ctx, doc.id)

    assert (report.outcome, report.state) == (Outcome.DEAD, S.QUARANTINED)
    assert reason in (report.reason or "")
    with worker_ctx.db.session() as session:
        assert session.get(Document, doc.id).attempts == 1  # type: ignore[union-attr]


def test_the_image_libraries_errors_are_bad_input_and_the_systems_are_not() -> None:
    from workers.library_errors import bad_input_errors

    library_errors = [cv2.error("(-215:Assertion failed) !dsize.empty()"), ValueError(), EOFError()]
    for error in library_errors:
        with (
            pytest.raises(CorruptFile, match="page 3 cannot be prepared"),
            bad_input_errors("page 3 cannot be prepared"),
        ):
            raise error
    with pytest.raises(FileTooLarge, match="more memory"), bad_input_errors():
        raise MemoryError
    disk_full = OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(OSError) as raised, bad_input_errors():
        raise disk_full
    assert raised.value is disk_full  # the machine's trouble, retried as such


def test_a_page_narrower_than_the_punch_hole_search_is_prepared_without_crashing() -> None:
    """A till receipt, 42 mm wide at 300 dpi: OpenCV 5.0 used to crash the worker (SIGSEGV)."""
    script = (
        "import numpy as np, cv2\n"
        "from mailroom.core.domain import PageImage\n"
        "from workers.preprocess import prepare_page\n"
        "page = np.full((3000, 500), 255, np.uint8)\n"
        "cv2.putText(page, 'Summe 12,50', (20, 400), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 0, 3)\n"
        "print(prepare_page(PageImage(1, page, 300)).image.shape)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
