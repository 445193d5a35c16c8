"""Hot-folder intake (Scanstraßen) against the embedded services: SQLite, the filesystem
object store and kombu's filesystem transport."""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from pypdf import PdfWriter
from sqlalchemy import func, select

from config.scanlines import ScanLineConfig
from intake import hotfolder
from intake.hotfolder import is_junk, sanitize_name
from intake.watcher import IntakeResult, ScanLineWatcher
from mailroom.core.errors import (
    BrokerUnavailable,
    ConfigurationError,
    StorageUnavailable,
    UnsafePath,
)
from mailroom.infra.db.models import AuditEvent, Batch, Document
from mailroom.infra.objects import StoredObject, original_key
from mailroom.infra.queue import DocumentMessage, DocumentQueue
from mailroom.runtime.context import AppContext
from mailroom.runtime.registration import register_file
from mailroom.runtime.watchers import run_watchers, scan_once
from mailroom.runtime.watchers import watcher as watcher_of
from tests.conftest import make_settings

# --- sample scans -----------------------------------------------------------------------


def png_bytes(tag: str = "a", size: tuple[int, int] = (160, 100)) -> bytes:
    image = Image.new("L", size, 255)
    ImageDraw.Draw(image).text((10, 10), f"Scan {tag}", fill=0)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def tiff_bytes(pages: int = 2) -> bytes:
    frames = [Image.new("L", (100, 140), 255 - 20 * i) for i in range(pages)]
    out = io.BytesIO()
    frames[0].save(out, format="TIFF", save_all=True, append_images=frames[1:])
    return out.getvalue()


def pdf_bytes(tag: str = "a", password: str | None = None) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.add_metadata({"/Title": f"Brief {tag}"})
    if password:
        writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def drop(folder: Path, name: str, data: bytes, *, age: float = 60.0) -> Path:
    """Put a finished scan into a folder, its mtime ``age`` seconds in the past."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


# --- fixtures and fault injection ------------------------------------------------------


@pytest.fixture
def line(ctx: AppContext) -> ScanLineConfig:
    return ctx.scan_lines[0]


@pytest.fixture
def hot(line: ScanLineConfig) -> Path:
    line.hot_folder.mkdir(parents=True, exist_ok=True)
    return line.hot_folder


@pytest.fixture
def make_ctx(tmp_path: Path) -> Iterator[Callable[..., AppContext]]:
    made: list[AppContext] = []

    def build(**overrides: object) -> AppContext:
        context = AppContext.from_settings(make_settings(tmp_path / "data", **overrides))
        made.append(context)
        return context

    yield build
    for context in made:
        context.close()


class BrokerDown(DocumentQueue):
    """A broker that refuses every publish, like RabbitMQ during a restart."""

    def publish(self, message: DocumentMessage, conn: object = None) -> None:
        raise BrokerUnavailable("broker down (injected)")


class StoreDown:
    """An object store that refuses writes, wrapping the real one."""

    def __init__(self, real: object) -> None:
        self.real = real

    def put(self, key: str, data: bytes, *args: object, **kwargs: object) -> StoredObject:
        raise StorageUnavailable("object store down (injected)")

    def put_file(self, key: str, path: Path, *args: object, **kwargs: object) -> StoredObject:
        raise StorageUnavailable("object store down (injected)")

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)


def scan_until_taken(watcher: ScanLineWatcher, timeout: float = 5.0) -> list[IntakeResult]:
    """Poll like the watcher does until something is taken (after a backoff)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if results := watcher.scan_once():
            return results
    return []


def documents(ctx: AppContext) -> list[Document]:
    with ctx.db.session() as session:
        return list(session.scalars(select(Document).order_by(Document.received_at)))


def audit_actions(ctx: AppContext, doc_id: str) -> list[tuple[str, str | None]]:
    with ctx.db.session() as session:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.document_id == doc_id).order_by(AuditEvent.id)
        )
        return [(row.action, row.to_state) for row in rows]


def files_below(folder: Path) -> list[str]:
    """What lies in a hot folder, but for the watcher's lock (hidden, always there)."""
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if (p.is_file() or p.is_symlink()) and p.name != hotfolder.LOCK_NAME
    )


# --- the normal way ---------------------------------------------------------------------


def test_dropped_scan_is_registered_stored_queued_and_moved(
    ctx: AppContext, line: ScanLineConfig, hot: Path
) -> None:
    data = pdf_bytes()
    drop(hot, "brief.pdf", data)

    results = scan_once(ctx, line)

    assert [(r.source_name, r.outcome) for r in results] == [("brief.pdf", "queued")]
    (doc,) = documents(ctx)
    assert (doc.state, doc.media_type, doc.size_bytes) == ("queued", "application/pdf", len(data))
    assert doc.original_key == original_key(doc.sha256, "pdf")
    assert ctx.store.get(doc.original_key) == data
    meta = ctx.store.stat(doc.original_key).metadata
    assert meta == {"scan-line": "scan-1", "sha256": doc.sha256, "source-name": "brief.pdf"}
    assert ctx.queue.depth() == 1
    with ctx.db.session() as session:
        batch = session.get(Batch, doc.batch_id)
        assert batch is not None and batch.name == "brief.pdf"
    assert files_below(hot) == ["processed/brief.pdf"]
    assert audit_actions(ctx, doc.id) == [
        ("state", "received"),
        ("state", "queued"),
        ("intake.done", None),
    ]


def test_tiff_png_and_jpeg_are_accepted(ctx: AppContext, line: ScanLineConfig, hot: Path) -> None:
    jpeg = io.BytesIO()
    Image.new("RGB", (80, 60), "white").save(jpeg, format="JPEG")
    drop(hot, "mehrseitig.tif", tiff_bytes(3))
    drop(hot, "seite.png", png_bytes())
    drop(hot, "foto.JPG", jpeg.getvalue())

    outcomes = {r.source_name: r.outcome for r in scan_once(ctx, line)}

    assert outcomes == {"mehrseitig.tif": "queued", "seite.png": "queued", "foto.JPG": "queued"}
    keys = sorted(doc.original_key.rsplit(".", 1)[1] for doc in documents(ctx) if doc.original_key)
    assert keys == ["jpg", "png", "tif"]
    assert ctx.queue.depth() == 3


def test_file_still_being_written_is_not_taken_until_stable(
    ctx: AppContext, line: ScanLineConfig, hot: Path
) -> None:
    data = tiff_bytes(4)
    watcher = watcher_of(ctx, line)  # stable_seconds = 0.3 in the test settings
    with (hot / "stapel.tif").open("wb") as fh:
        fh.write(data[:100])
        fh.flush()
        assert watcher.scan_once() == []  # first sight
        time.sleep(0.2)
        fh.write(data[100:200])
        fh.flush()
        assert watcher.scan_once() == []  # size changed: the clock starts again
        time.sleep(0.2)
        fh.write(data[200:])
    assert watcher.scan_once() == []
    assert (hot / "stapel.tif").exists() and documents(ctx) == []

    time.sleep(0.35)
    results = watcher.scan_once()

    assert [r.outcome for r in results] == ["queued"]
    assert documents(ctx)[0].size_bytes == len(data)


def test_fresh_file_is_not_taken_by_a_one_off_scan(
    ctx: AppContext, line: ScanLineConfig, hot: Path
) -> None:
    drop(hot, "gerade.pdf", pdf_bytes(), age=0)
    assert scan_once(ctx, line) == []
    time.sleep(0.35)
    assert [r.outcome for r in scan_once(ctx, line)] == ["queued"]


def test_temporary_and_junk_files_are_ignored(
    ctx: AppContext, line: ScanLineConfig, hot: Path
) -> None:
    junk = [
        ".versteckt.pdf",
        "~$brief.pdf",
        "brief.pdf~",
        "scan.tmp",
        "scan.pdf.part",
        "scan.crdownload",
        "scan.pdf.filepart",
        "Thumbs.db",
        "desktop.ini",
        ".DS_Store",
        "processed/alt.pdf",
        "quarantine/kaputt.pdf",
        ".snapshot/x.pdf",
    ]
    for name in junk:
        drop(hot, name, pdf_bytes(name))

    assert scan_once(ctx, line) == []
    assert documents(ctx) == []
    assert files_below(hot) == sorted(junk)


def test_junk_names_are_recognised() -> None:
    assert all(is_junk(n) for n in ("a.PART", "x.Tmp", "THUMBS.DB", "~lock", ".x", "y~"))
    assert not any(is_junk(n) for n in ("brief.pdf", "scan_0001.tif", "a.partner.pdf"))


# --- bad input --------------------------------------------------------------------------


def corrupt_png() -> bytes:
    data = bytearray(png_bytes("kaputt"))
    data[40:60] = b"\x00" * 20  # inside the IDAT chunk: the CRC no longer matches
    return bytes(data)


BAD_INPUTS = {
    "leer.pdf": (b"", "empty"),
    "kaputt.png": (corrupt_png(), "cannot be decoded"),
    "text.pdf": (b"Sehr geehrte Damen und Herren,\n" * 20, "neither TIFF, PNG, JPEG nor PDF"),
    "geschuetzt.pdf": (pdf_bytes("geheim", password="geheim"), "password-protected"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_goes_to_quarantine_and_the_watcher_keeps_going(
    ctx: AppContext, line: ScanLineConfig, hot: Path, name: str
) -> None:
    data, expected_reason = BAD_INPUTS[name]
    drop(hot, name, data, age=120)  # older: taken first
    drop(hot, "gut.pdf", pdf_bytes("gut"))

    results = scan_once(ctx, line)

    assert [(r.source_name, r.outcome) for r in results] == [
        (name, "quarantined"),
        ("gut.pdf", "queued"),
    ]
    bad = next(d for d in documents(ctx) if d.source_name == name)
    assert bad.state == "quarantined" and expected_reason in (bad.state_reason or "")
    assert bad.original_key is None
    assert ("state", "quarantined") in audit_actions(ctx, bad.id)
    assert files_below(hot) == [
        "processed/gut.pdf",
        f"quarantine/{name}",
        f"quarantine/{name}.reason.txt",
    ]
    assert (hot / "quarantine" / name).read_bytes() == data  # kept unchanged
    reason = (hot / "quarantine" / f"{name}.reason.txt").read_text(encoding="utf-8")
    assert expected_reason in reason and bad.id in reason and "Scanstraße" in reason
    assert ctx.queue.depth() == 1


def test_oversized_file_is_refused_without_reading_it(
    make_ctx: Callable[..., AppContext],
) -> None:
    ctx = make_ctx(max_file_bytes=64 * 1024)
    line = ctx.scan_lines[0]
    line.hot_folder.mkdir(parents=True)
    big = line.hot_folder / "riesig.tif"
    with big.open("wb") as fh:
        fh.write(tiff_bytes(1))
        fh.truncate(8 * 1024**3)  # a sparse 8 GiB file: reading it whole would take minutes
    then = time.time() - 60
    os.utime(big, (then, then))
    drop(line.hot_folder, "klein.png", png_bytes())

    started = time.monotonic()
    results = scan_once(ctx, line)

    assert time.monotonic() - started < 10
    assert sorted((r.source_name, r.outcome) for r in results) == [
        ("klein.png", "queued"),
        ("riesig.tif", "quarantined"),
    ]
    doc = next(d for d in documents(ctx) if d.source_name == "riesig.tif")
    assert "more than the limit of 65,536" in (doc.state_reason or "")
    assert doc.sha256 == "" and doc.size_bytes == 8 * 1024**3  # never hashed, i.e. not read
    assert (line.hot_folder / "quarantine" / "riesig.tif.reason.txt").exists()


def test_image_with_too_many_pixels_is_quarantined(make_ctx: Callable[..., AppContext]) -> None:
    ctx = make_ctx(max_page_pixels=1_000_000)
    line = ctx.scan_lines[0]
    drop(line.hot_folder, "poster.png", png_bytes(size=(1200, 1000)))

    (result,) = scan_once(ctx, line)

    assert result.outcome == "quarantined"
    assert "decompression bomb" in (result.reason or "")


# --- duplicates and crash recovery ------------------------------------------------------


def test_same_bytes_again_are_a_duplicate_and_not_processed_again(
    ctx: AppContext, line: ScanLineConfig, hot: Path
) -> None:
    data = pdf_bytes("einmal")
    drop(hot, "brief.pdf", data)
    (first,) = scan_once(ctx, line)
    drop(hot, "brief-nochmal.pdf", data)
    drop(hot, "brief.pdf", data)  # the scanner reused the name: still a new arrival

    results = scan_once(ctx, line)

    assert sorted(r.outcome for r in results) == ["duplicate", "duplicate"]
    for result in results:
        with ctx.db.session() as session:
            doc = session.get(Document, result.document_id)
            assert doc is not None
            assert doc.duplicate_of == first.document_id
            assert doc.original_key == original_key(doc.sha256, "pdf")  # the first one's object
    assert ctx.queue.depth() == 1  # only the first one is processed
    assert files_below(hot) == [
        "processed/brief-1.pdf",
        "processed/brief-nochmal.pdf",
        "processed/brief.pdf",
    ]


def test_restart_after_a_crash_before_publish_and_move_resumes_instead_of_duplicating(
    ctx: AppContext, line: ScanLineConfig, hot: Path
) -> None:
    # The crash: the broker is down and the move fails after the registration committed.
    ctx.queue = BrokerDown(ctx.settings)
    (hot / "processed").write_text("kein Ordner")  # makes the move fail
    path = drop(hot, "brief.pdf", pdf_bytes())
    with pytest.raises(ConfigurationError):
        register_file(ctx, line, path)
    (registered,) = documents(ctx)
    assert registered.state == "received" and path.exists()

    # The restart: services back, the watcher picks up what is still in the folder.
    (hot / "processed").unlink()
    restarted = AppContext.from_settings(ctx.settings)
    try:
        (result,) = scan_once(restarted, line)
    finally:
        restarted.close()

    assert (result.outcome, result.resumed, result.document_id) == ("queued", True, registered.id)
    assert len(documents(ctx)) == 1
    assert restarted.queue.depth() == 1
    assert files_below(hot) == ["processed/brief.pdf"]


def test_crash_after_publish_before_move_does_not_publish_twice(
    ctx: AppContext, line: ScanLineConfig, hot: Path
) -> None:
    (hot / "processed").write_text("kein Ordner")
    path = drop(hot, "brief.pdf", pdf_bytes())
    with pytest.raises(ConfigurationError):
        register_file(ctx, line, path)
    (hot / "processed").unlink()

    (result,) = scan_once(ctx, line)

    assert (result.outcome, result.resumed) == ("queued", True)
    assert len(documents(ctx)) == 1 and ctx.queue.depth() == 1


def test_publish_failure_leaves_the_document_received_and_files_it(
    ctx: AppContext, line: ScanLineConfig, hot: Path
) -> None:
    ctx.queue = BrokerDown(ctx.settings)
    drop(hot, "a.pdf", pdf_bytes("a"), age=90)
    drop(hot, "b.pdf", pdf_bytes("b"))
    watcher = watcher_of(ctx, line, observe=False)

    results = watcher.scan_once()

    assert [(r.source_name, r.outcome) for r in results] == [
        ("a.pdf", "received"),
        ("b.pdf", "received"),
    ]
    assert watcher.broker.active  # b.pdf was not even tried: publishing left to the sweeper
    assert all(d.state == "received" and d.original_key for d in documents(ctx))
    assert files_below(hot) == ["processed/a.pdf", "processed/b.pdf"]


def test_object_store_outage_leaves_the_file_and_retries_with_backoff(
    ctx: AppContext, line: ScanLineConfig, hot: Path
) -> None:
    real_store = ctx.store
    ctx.store = StoreDown(real_store)  # type: ignore[assignment]
    drop(hot, "brief.pdf", pdf_bytes())
    watcher = watcher_of(ctx, line, observe=False)

    (result,) = watcher.scan_once()
    assert result.outcome == "deferred" and "object store down" in (result.reason or "")
    assert documents(ctx) == [] and (hot / "brief.pdf").exists()
    assert watcher.scan_once() == []  # backing off

    ctx.store = real_store
    assert [r.outcome for r in scan_until_taken(watcher)] == ["queued"]


def test_a_read_only_processed_folder_holds_the_line_not_each_file(
    ctx: AppContext, line: ScanLineConfig, hot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """processed/ read-only (or its disk full) is the folder's problem: the scan line waits
    by the service backoff (capped at seconds), and every file goes on once a move works,
    instead of each file backing off on its own for minutes."""
    import errno
    import os as real_os

    replace = real_os.replace

    def read_only(source: object, target: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    drop(hot, "a.pdf", pdf_bytes("a"))
    drop(hot, "b.pdf", pdf_bytes("b"))
    watcher = watcher_of(ctx, line, observe=False)
    monkeypatch.setattr("intake.hotfolder.os.replace", read_only)
    (result,) = watcher.scan_once()
    assert result.outcome == "deferred" and "Read-only" in (result.reason or "")
    assert watcher.services.active and not watcher._file_backoff
    monkeypatch.setattr("intake.hotfolder.os.replace", replace)
    taken = scan_until_taken(watcher) + scan_until_taken(watcher)
    assert sorted(r.source_name for r in taken) == ["a.pdf", "b.pdf"]
    assert files_below(hot) == ["processed/a.pdf", "processed/b.pdf"]


def test_two_watchers_on_one_hot_folder_take_each_file_once(
    ctx: AppContext, line: ScanLineConfig, hot: Path
) -> None:
    """A second watcher on the same folder (``mailroom watch`` beside ``mailroom up``)
    stands by while the first holds the folder, and takes over when it ends."""
    first = watcher_of(ctx, line, observe=False)
    second = watcher_of(ctx, line, observe=False)
    drop(hot, "a.pdf", pdf_bytes("a"))
    assert [r.outcome for r in first.scan_once()] == ["queued"]
    drop(hot, "b.pdf", pdf_bytes("b"))
    assert second.scan_once() == []  # standing by
    first.lock.release()  # the first watcher ended
    assert [r.source_name for r in second.scan_once()] == ["b.pdf"]
    assert sorted(d.source_name for d in documents(ctx)) == ["a.pdf", "b.pdf"]


# --- batches ----------------------------------------------------------------------------


def test_batch_folder_becomes_one_batch_and_keeps_its_structure(
    ctx: AppContext, line: ScanLineConfig, hot: Path
) -> None:
    stapel = hot / "Stapel_0815"
    drop(stapel, "001.pdf", pdf_bytes("1"))
    drop(stapel, "002.png", png_bytes("2"))
    drop(stapel, "anlagen/003.tif", tiff_bytes(2))
    drop(stapel, "004.pdf", b"")
    drop(stapel, "Thumbs.db", b"x")

    results = scan_once(ctx, line)

    assert sorted((r.source_name, r.outcome) for r in results) == [
        ("Stapel_0815/001.pdf", "queued"),
        ("Stapel_0815/002.png", "queued"),
        ("Stapel_0815/004.pdf", "quarantined"),
        ("Stapel_0815/anlagen/003.tif", "queued"),
    ]
    assert len({r.batch_id for r in results}) == 1
    with ctx.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Batch)) == 1
    assert files_below(hot) == [
        "Stapel_0815/Thumbs.db",  # junk is left alone, never deleted
        "processed/Stapel_0815/001.pdf",
        "processed/Stapel_0815/002.png",
        "processed/Stapel_0815/anlagen/003.tif",
        "quarantine/Stapel_0815/004.pdf",
        "quarantine/Stapel_0815/004.pdf.reason.txt",
    ]


def test_batch_is_taken_only_when_all_its_files_are_stable(
    ctx: AppContext, line: ScanLineConfig, hot: Path
) -> None:
    stapel = hot / "Stapel_1"
    drop(stapel, "001.pdf", pdf_bytes("1"))
    watcher = watcher_of(ctx, line)
    assert watcher.scan_once() == []
    time.sleep(0.2)
    drop(stapel, "002.pdf", pdf_bytes("2"))  # the scanner is still delivering
    time.sleep(0.2)
    assert watcher.scan_once() == []

    time.sleep(0.35)
    results = watcher.scan_once()

    assert [r.outcome for r in results] == ["queued", "queued"]
    assert not stapel.exists()


def test_interrupted_batch_keeps_its_batch_id(
    ctx: AppContext, line: ScanLineConfig, hot: Path
) -> None:
    stapel = hot / "Stapel_2"
    drop(stapel, "001.pdf", pdf_bytes("1"))
    drop(stapel, "002.pdf", pdf_bytes("2"))
    real_store = ctx.store
    ctx.store = StoreDown(real_store)  # type: ignore[assignment]
    (deferred,) = scan_once(ctx, line)
    assert deferred.outcome == "deferred"

    ctx.store = real_store
    results = scan_once(ctx, line)

    assert [r.outcome for r in results] == ["queued", "queued"]
    with ctx.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Batch)) == 1
    assert len({r.batch_id for r in results}) == 1


# --- hostile names and links ------------------------------------------------------------


def test_hostile_file_names_stay_inside_the_hot_folder(
    ctx: AppContext, line: ScanLineConfig, hot: Path, tmp_path: Path
) -> None:
    names = ["\x1b[31mrot\n..pdf", "a\\..\\..\\b.pdf", "x" * 240 + ".pdf", "-rf .pdf"]
    for number, name in enumerate(names):
        drop(hot, name, pdf_bytes(str(number)))
    drop(hot, "Stapel\r\t../%2E%2E%2Fetc%2Fpasswd.pdf", pdf_bytes("stapel"))
    drop(hot, "..\x1b[0m.pdf", pdf_bytes("dot"))  # a dot file: ignored, left in place
    before = set(files_below(tmp_path))

    results = scan_once(ctx, line)

    assert len(results) == 5 and {r.outcome for r in results} == {"queued"}
    created = set(files_below(tmp_path)) - before
    hot_rel = hot.relative_to(tmp_path).as_posix()
    assert len([p for p in created if p.startswith(f"{hot_rel}/processed/")]) == 5
    assert all(p.startswith(("data/objects/", "data/queue/", f"{hot_rel}/")) for p in created)
    for doc in documents(ctx):
        assert doc.source_name.isprintable() and len(doc.source_name) <= 500
    assert "Stapel__../%2E%2E%2Fetc%2Fpasswd.pdf" in {d.source_name for d in documents(ctx)}
    for path in (hot / "processed").rglob("*"):
        assert len(path.name.encode()) <= 200 and path.name.isprintable()
    assert sorted(os.listdir(hot)) == [
        "..\x1b[0m.pdf",
        hotfolder.LOCK_NAME,
        "processed",
        "quarantine",
    ]


def test_path_leaving_the_hot_folder_is_refused(
    ctx: AppContext, line: ScanLineConfig, hot: Path, tmp_path: Path
) -> None:
    outside = drop(tmp_path, "aussen.pdf", pdf_bytes())
    (hot / "sub").mkdir()

    with pytest.raises(UnsafePath):
        register_file(ctx, line, hot / "sub" / ".." / ".." / ".." / ".." / "aussen.pdf")

    assert outside.exists() and documents(ctx) == []


def test_file_outside_a_hot_folder_can_be_registered_in_place(
    ctx: AppContext, line: ScanLineConfig, tmp_path: Path
) -> None:
    path = drop(tmp_path, "einzeln.pdf", pdf_bytes())

    doc = register_file(ctx, line, path, move=False, publish=False)

    assert doc is not None and doc.state == "received" and doc.source_name == "einzeln.pdf"
    assert path.exists()
    assert ctx.store.exists(doc.original_key or "")


def test_symlinks_are_refused(
    ctx: AppContext, line: ScanLineConfig, hot: Path, tmp_path: Path
) -> None:
    secret_data = pdf_bytes("geheim")
    secret = drop(tmp_path, "geheim.pdf", secret_data)
    (hot / "link.pdf").symlink_to(secret)
    (hot / "ordnerlink").symlink_to(tmp_path)
    stapel = hot / "Stapel_3"
    drop(stapel, "echt.pdf", pdf_bytes("echt"))
    (stapel / "link.pdf").symlink_to(secret)
    then = time.time() - 60
    for link in (hot / "link.pdf", hot / "ordnerlink", stapel / "link.pdf"):
        os.utime(link, (then, then), follow_symlinks=False)

    results = scan_once(ctx, line)

    outcomes = sorted((r.source_name, r.outcome) for r in results)
    assert outcomes == [
        ("Stapel_3/echt.pdf", "queued"),
        ("Stapel_3/link.pdf", "quarantined"),
        ("link.pdf", "quarantined"),
        ("ordnerlink", "quarantined"),
    ]
    assert all("symbolic link" in (r.reason or "") for r in results if r.outcome != "queued")
    assert (hot / "quarantine" / "link.pdf").is_symlink()  # moved as a link
    assert secret.read_bytes() == secret_data  # the target is untouched and never stored
    stored = [ctx.store.get(d.original_key) for d in documents(ctx) if d.original_key]
    assert len(stored) == 1 and secret_data not in stored


def test_names_are_sanitised() -> None:
    assert sanitize_name("..") == "__"
    assert sanitize_name("") == "unnamed"
    assert sanitize_name("a/b\\c\x00d\n.pdf") == "a_b_c_d_.pdf"
    long = sanitize_name("ä" * 300 + ".pdf")
    assert long.endswith(".pdf") and len(long.encode()) <= 200


# --- the long-running watchers ----------------------------------------------------------


def test_watchers_take_files_until_stopped(ctx: AppContext, hot: Path) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=run_watchers, args=(ctx, stop))
    drop(hot, "schon-da.pdf", pdf_bytes("vorher"))  # picked up on start
    thread.start()
    try:
        drop(hot, "neu.png", png_bytes("neu"), age=0)
        deadline = time.monotonic() + 10
        while len(documents(ctx)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        while (hot / "neu.png").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert sorted(d.state for d in documents(ctx)) == ["queued", "queued"]
    assert files_below(hot) == ["processed/neu.png", "processed/schon-da.pdf"]


def test_a_file_that_cannot_be_moved_waits_alone_and_the_others_go_on(
    ctx: AppContext, line: ScanLineConfig, hot: Path
) -> None:
    drop(hot, "Stapel_9/001.pdf", pdf_bytes("blockiert"), age=120)
    (hot / "processed").mkdir()
    (hot / "processed" / "Stapel_9").write_text("ein Datei statt eines Ordners")
    drop(hot, "frei.pdf", pdf_bytes("frei"))
    watcher = watcher_of(ctx, line, observe=False)

    results = watcher.scan_once()

    assert [(r.source_name, r.outcome) for r in results] == [
        ("Stapel_9/001.pdf", "deferred"),
        ("frei.pdf", "queued"),
    ]
    assert (hot / "Stapel_9" / "001.pdf").exists()
    assert watcher.scan_once() == []  # the blocked file waits for its own backoff

    (hot / "processed" / "Stapel_9").unlink()
    (result,) = scan_until_taken(watcher)
    assert (result.outcome, result.resumed) == ("queued", True)
    assert len(documents(ctx)) == 2 and not (hot / "Stapel_9").exists()
