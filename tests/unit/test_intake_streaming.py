"""Intake in bounded memory: files are streamed (spool, hash, header checks, streaming put),
a file still being written is left alone, and every number form of pdfinfo is read."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from intake.watcher import IntakeResult
from mailroom.core.errors import CorruptFile
from mailroom.infra import poppler
from mailroom.infra.db.models import Document
from mailroom.infra.objects import FilesystemObjectStore, ObjectStore, StoredObject
from mailroom.runtime.context import AppContext
from mailroom.runtime.registration import register_file
from mailroom.runtime.watchers import watcher as watcher_of
from tests.bad_inputs import blank_pdf, encoded, half, noise
from tests.conftest import make_settings
from tests.intake_memory import MiB, big_pdf, big_png, big_tiff

ROOT = Path(__file__).resolve().parents[2]
#: What taking one 200 MB file may add to the intake process's peak memory.
MEMORY_BUDGET_KIB = 50 * 1024
PATIENCE_SECONDS = 60.0

BIG_FILES: dict[str, tuple[Callable[[Path], str], Callable[[], bytes]]] = {
    "tif": (lambda path: big_tiff(path, 8192), lambda: encoded(noise(300, 200), "TIFF")),
    "pdf": (lambda path: big_pdf(path, 200 * MiB), blank_pdf),
    "png": (lambda path: big_png(path, 8192), lambda: encoded(noise(300, 200), "PNG")),
}


def documents(ctx: AppContext) -> list[Document]:
    with ctx.db.session() as session:
        return list(session.scalars(select(Document).order_by(Document.received_at)))


def aged(path: Path, data: bytes) -> Path:
    """A finished scan: written, its mtime a minute in the past."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    then = time.time() - 60
    os.utime(path, (then, then))
    return path


# --- memory ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(BIG_FILES))
def test_a_200_mb_scan_raises_the_intake_processes_memory_by_at_most_50_mb(
    tmp_path: Path, kind: str
) -> None:
    """Measured in a process of its own, after a small scan of the same kind warmed it up.

    Before streaming, a 200 MB file cost the intake about 400 MB (read whole, joined).
    The PNG holds all its pixels in one 200 MB chunk, checked in pieces.
    """
    build, small = BIG_FILES[kind]
    settings = make_settings(tmp_path / "data")
    ctx = AppContext.from_settings(settings, migrate=True)
    aged(ctx.scan_lines[0].hot_folder / f"klein.{kind}", small())
    staged = tmp_path / f"gross.{kind}"
    sha256 = build(staged)
    size = staged.stat().st_size
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "tests.intake_memory", str(settings.data_dir), str(staged)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        report = json.loads(result.stdout.splitlines()[-1])
        grew = report["grew_kib"] / 1024
        print(f"a {size / MiB:.0f} MiB {kind}: intake peak memory grew {grew:.1f} MiB")
        assert report["warm_up"] == ["queued"]
        assert report["outcomes"] == [[f"gross.{kind}", "queued", None]]
        assert report["grew_kib"] <= MEMORY_BUDGET_KIB, report
        doc = next(d for d in documents(ctx) if d.source_name == f"gross.{kind}")
        assert (doc.sha256, doc.size_bytes) == (sha256, size)
        assert ctx.store.stat(doc.original_key or "").size == size
    finally:
        ctx.close()
        for big in tmp_path.rglob(f"*.{kind}"):
            big.unlink()


# --- a writer that pauses ---------------------------------------------------------------


class ResumingWriter:
    """A capture program that wrote half a scan, paused, and writes the rest when told."""

    def __init__(self, path: Path, data: bytes) -> None:
        self.path, self.data = path, data
        self.handle = path.open("wb")
        self.handle.write(half(data))
        self.handle.flush()

    def resume(self) -> None:
        self.handle.write(self.data[len(half(self.data)) :])
        self.handle.close()


class StoreWhileTheWriterResumes:
    """The real store; while it stores the first original, the writer resumes."""

    def __init__(self, real: ObjectStore, writer: ResumingWriter) -> None:
        self.real, self.writer = real, writer
        self.calls = 0

    def put_file(self, key: str, path: Path, *args: str, **kwargs: object) -> StoredObject:
        self.calls += 1
        if self.calls == 1:
            self.writer.resume()
        return self.real.put_file(key, path, *args, **kwargs)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)


def test_a_scan_whose_writer_resumes_while_it_is_taken_stays_until_it_is_complete(
    ctx: AppContext,
) -> None:
    line = ctx.scan_lines[0]
    data = encoded(noise(600, 400), "TIFF")  # uncompressed: its first half passes intake
    line.hot_folder.mkdir(parents=True)
    writer = ResumingWriter(line.hot_folder / "stapel.tif", data)
    real_store = ctx.store
    ctx.store = store = StoreWhileTheWriterResumes(real_store, writer)  # type: ignore[assignment]
    watcher = watcher_of(ctx, line)  # stable_seconds 0.3: the writer pauses longer

    first = _poll(watcher.scan_once)

    assert [(r.source_name, r.outcome) for r in first] == [("stapel.tif", "deferred")]
    assert "changed while it was being taken" in (first[0].reason or "")
    assert documents(ctx) == [] and list(real_store.list()) == []  # the upload is deleted
    assert (line.hot_folder / "stapel.tif").read_bytes() == data  # left in place, complete
    assert not list((line.hot_folder / "quarantine").iterdir())

    (result,) = _poll(watcher.scan_once)

    assert result.outcome == "queued" and store.calls == 2
    (doc,) = documents(ctx)
    assert (doc.size_bytes, doc.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert real_store.get(doc.original_key or "") == data
    assert list(real_store.list()) == [doc.original_key]


def _poll(scan: Callable[[], list[IntakeResult]]) -> list[IntakeResult]:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while time.monotonic() < deadline:
        if results := scan():
            return results
        time.sleep(0.05)
    raise AssertionError(f"nothing was taken within {PATIENCE_SECONDS:.0f} s")


def test_the_spool_copy_is_removed_whatever_became_of_the_file(
    ctx: AppContext, tmp_path: Path
) -> None:
    line = ctx.scan_lines[0]
    good = aged(tmp_path / "gut.pdf", blank_pdf())
    bad = aged(tmp_path / "kaputt.png", half(encoded(noise(300, 300), "PNG")))

    states = [register_file(ctx, line, path, move=False) for path in (good, bad, good)]

    assert [doc.state for doc in states if doc] == ["queued", "quarantined", "duplicate"]
    assert [p for p in (ctx.settings.data_dir / "spool").iterdir()] == []


# --- the streaming put ------------------------------------------------------------------


def test_the_filesystem_store_streams_a_file_in_and_leaves_no_temp_file(tmp_path: Path) -> None:
    store = FilesystemObjectStore(tmp_path / "objects")
    source = tmp_path / "original.tif"
    source.write_bytes(os.urandom(3 * MiB + 123))  # more than one copy chunk

    stored = store.put_file(
        "documents/x/original.tif", source, "image/tiff", {"source-name": "Brief März.tif"}
    )

    assert stored.size == source.stat().st_size
    assert store.get("documents/x/original.tif") == source.read_bytes()
    meta = store.stat("documents/x/original.tif")
    assert (meta.content_type, meta.metadata) == ("image/tiff", {"source-name": "Brief März.tif"})
    assert sorted(p.name for p in (tmp_path / "objects" / "documents" / "x").iterdir()) == [
        "original.tif",
        "original.tif.meta",
    ]


# --- pdfinfo's numbers ------------------------------------------------------------------


@pytest.fixture
def pdfinfo_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str | None], None]:
    """Put a ``pdfinfo`` on PATH that prints one page with the given size (None: none)."""
    poppler.poppler_version()  # the real one, probed once and cached

    def install(size: str | None) -> None:
        line = f"Page    1 size:  {size} pts\\n" if size is not None else ""
        script = tmp_path / "bin" / "pdfinfo"
        script.parent.mkdir(exist_ok=True)
        script.write_text(f"#!/bin/sh\nprintf 'Pages:           1\\n{line}Page    1 rot:   0\\n'\n")
        script.chmod(0o755)
        monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")

    return install


@pytest.mark.parametrize(
    ("printed", "points"),
    [
        ("612 x 792", (612.0, 792.0)),
        ("595.276 x 841.89", (595.276, 841.89)),
        ("1e+06 x 1e+06", (1e6, 1e6)),
        ("2.5E+02 x 3.5e2", (250.0, 350.0)),
    ],
)
def test_every_number_form_pdfinfo_prints_is_read(
    pdfinfo_says: Callable[[str | None], None],
    tmp_path: Path,
    printed: str,
    points: tuple[float, float],
) -> None:
    pdfinfo_says(printed)
    info = poppler.pdf_info(aged(tmp_path / "a.pdf", blank_pdf()), max_pages=10)
    assert info.page_sizes == [points]


@pytest.mark.parametrize("printed", ["nan x 842", "595 x -842", "inf x 842", "0 x 842", None])
def test_a_pdf_whose_page_size_cannot_be_read_is_quarantined_with_the_reason(
    pdfinfo_says: Callable[[str | None], None], ctx: AppContext, tmp_path: Path, printed: str | None
) -> None:
    pdfinfo_says(printed)
    path = aged(tmp_path / "brief.pdf", blank_pdf())
    with pytest.raises(CorruptFile, match="size"):
        poppler.pdf_info(path, max_pages=10)

    doc = register_file(ctx, ctx.scan_lines[0], path, move=False)

    assert doc is not None and doc.state == "quarantined"
    assert "size" in (doc.state_reason or "") and "PDF page 1" in (doc.state_reason or "")
