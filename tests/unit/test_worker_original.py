"""The worker streams the original to a private file and rasterises from there: it never
reads an original whole into memory, and the file is gone afterwards, whatever happened."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mailroom.core.domain import DocumentInput, PageOcr, PreparedPage
from mailroom.core.errors import CorruptFile
from mailroom.core.media import PDF, TIFF
from mailroom.demo.scan import EXAMPLE_LETTER, pdf_bytes, render_page, tiff_bytes
from mailroom.infra.db.models import Document
from mailroom.infra.objects import ObjectStore
from mailroom.runtime.context import AppContext
from mailroom.runtime.pipeline import run_pipeline
from mailroom.runtime.processor import DocumentProcessor, Outcome
from mailroom.runtime.registration import register_file
from mailroom.runtime.rows import document_input
from tests.bad_inputs import blank_pdf, encoded, noise
from tests.conftest import make_settings
from tests.intake_memory import MiB, big_pdf
from workers.rasterize import rasterize

#: What a 64 MiB original may add to the worker's peak memory beside a small one.
ORIGINAL_BUDGET = 8 * MiB


class ReadsText:
    """An OCR engine that reads the same line off every page."""

    name = "reads-text"

    def recognize(self, page: PreparedPage) -> PageOcr:
        return PageOcr(page.number, "Betreff: Antrag auf Wohngeld", 91.0, engine=self.name)


class Watched:
    """The real store, noting which keys were read whole (``get``) or streamed out."""

    def __init__(self, real: ObjectStore) -> None:
        self.real = real
        self.got: list[str] = []
        self.streamed: list[str] = []

    def get(self, key: str) -> bytes:
        self.got.append(key)
        return self.real.get(key)

    def get_file(self, key: str, path: Path) -> int:
        self.streamed.append(key)
        return self.real.get_file(key, path)

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)


@pytest.fixture
def worker_ctx(tmp_path: Path) -> Iterator[AppContext]:
    """Pages rendered at 72 dpi: the page images stay small beside the original."""
    ctx = AppContext.from_settings(make_settings(tmp_path / "data", rasterize_dpi=72))
    ctx.ocr = ReadsText()
    yield ctx
    ctx.close()


def written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def registered(ctx: AppContext, path: Path) -> DocumentInput:
    doc = register_file(ctx, ctx.scan_lines[0], path, move=False, publish=False)
    assert doc is not None and doc.original_key
    with ctx.db.session() as session:
        row = session.get(Document, doc.id)
        assert row is not None
        return document_input(row)


def spool_files(ctx: AppContext) -> list[Path]:
    spool = ctx.settings.data_dir / "spool"
    return sorted(spool.iterdir()) if spool.exists() else []


def test_the_worker_streams_the_original_instead_of_reading_it_whole(
    worker_ctx: AppContext, tmp_path: Path
) -> None:
    scan = tmp_path / "antrag.png"
    scan.write_bytes(encoded(noise(400, 300), "PNG"))
    doc = registered(worker_ctx, scan)
    worker_ctx.store = store = Watched(worker_ctx.store)  # type: ignore[assignment]

    report = DocumentProcessor(worker_ctx, "w1").handle(doc.id)

    assert report.outcome is Outcome.DONE
    assert store.streamed == [doc.original_key]
    assert doc.original_key not in store.got
    assert spool_files(worker_ctx) == []


def test_the_private_copy_is_removed_when_the_original_cannot_be_read(
    worker_ctx: AppContext, tmp_path: Path
) -> None:
    scan = tmp_path / "antrag.png"
    scan.write_bytes(encoded(noise(400, 300), "PNG"))
    doc = registered(worker_ctx, scan)
    worker_ctx.store.put(doc.original_key, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png")

    with pytest.raises(CorruptFile):
        run_pipeline(doc, worker_ctx)

    assert spool_files(worker_ctx) == []


def peak_of(doc: DocumentInput, ctx: AppContext) -> int:
    """The highest traced memory while the pipeline runs for ``doc``."""
    tracemalloc.start()
    try:
        run_pipeline(doc, ctx)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_size_of_the_original_does_not_show_in_the_workers_memory(
    worker_ctx: AppContext, tmp_path: Path
) -> None:
    """Two blank A4 pages, one as a small PDF, one carrying an unused 64 MiB stream. Read
    whole (as the worker did before), the large original would add its 64 MiB."""
    small = registered(worker_ctx, written(tmp_path / "klein.pdf", blank_pdf()))
    big_pdf(tmp_path / "gross.pdf", 64 * MiB)
    large = registered(worker_ctx, tmp_path / "gross.pdf")
    (tmp_path / "gross.pdf").unlink()
    run_pipeline(small, worker_ctx)  # warm-up: imports, the router, the case index

    baseline = peak_of(small, worker_ctx)
    peak = peak_of(large, worker_ctx)

    assert peak - baseline < ORIGINAL_BUDGET, (
        f"the 64 MiB original raised the peak by {(peak - baseline) / MiB:.1f} MiB "
        f"(from {baseline / MiB:.1f} MiB)"
    )
    assert spool_files(worker_ctx) == []


@pytest.mark.parametrize(("media_type", "encode"), [(TIFF, tiff_bytes), (PDF, pdf_bytes)])
def test_pages_read_from_a_file_are_those_read_from_its_bytes(
    tmp_path: Path, media_type: str, encode: object
) -> None:
    page = render_page(EXAMPLE_LETTER, seed=1)
    data = encode([page, page])  # type: ignore[operator]
    path = tmp_path / "original"
    path.write_bytes(data)
    limits = {"dpi": 150, "max_pixels": 120_000_000, "max_pages": 10}

    from_file = rasterize(path, media_type, **limits)
    from_bytes = rasterize(data, media_type, **limits)

    assert [(p.number, p.dpi) for p in from_file] == [(p.number, p.dpi) for p in from_bytes]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(from_file, from_bytes, strict=True))
    assert path.read_bytes() == data  # the caller's file: read, left in place
