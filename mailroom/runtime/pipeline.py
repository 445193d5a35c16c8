"""The worker pipeline: an explicit, ordered list of small stages.

    load original -> rasterize -> preprocess + OCR -> extract -> match case -> classify
    -> handwritten letters (auto only on printed evidence) -> store products -> DMS record
    -> metadata.json

Each stage takes values (``mailroom.core.domain``, the file plan, an engine, a store) and
returns values; none touches the database. :mod:`mailroom.runtime.processor` loads the
document before and commits the record after, so no transaction is held open while
Tesseract runs. Only :func:`run_pipeline` (and :func:`recognize_file`, the same stages
outside the queue) read the application context.

The worker never holds an original whole in memory: :func:`original_file` streams it from
the store into a private file, which the rasterize stage reads lazily and which is
removed as soon as the pages are decoded.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classifiers.cases import CaseIndex
from classifiers.extract import extract
from classifiers.printed_evidence import check_handwritten_letter, printed_text
from classifiers.router import Router
from config.fileplan import FilePlan
from config.settings import Settings
from intake import spoolfiles
from mailroom.core.domain import (
    CaseMatch,
    DocumentInput,
    Extraction,
    PageImage,
    PageOcr,
    PreparedPage,
    Recognized,
    RoutingResult,
)
from mailroom.core.errors import StorageUnavailable
from mailroom.core.media import EXTENSIONS, SNIFF_BYTES, sniff_media_type
from mailroom.infra.objects import ObjectStore
from mailroom.infra.tesseract import OcrEngine
from mailroom.runtime.context import AppContext
from workers.outputs import object_headers, store_metadata, store_products
from workers.plausibility import WordList
from workers.preprocess import prepare_page
from workers.rasterize import rasterize
from workers.recognize import recognize_page
from workers.record import DmsRecord, OcrInfo, build_record

log = logging.getLogger(__name__)

Heartbeat = Callable[[], None]


@dataclass
class PipelineResult:
    doc: DocumentInput
    recognized: Recognized
    extraction: Extraction
    case_match: CaseMatch
    routing: RoutingResult
    record: DmsRecord
    seconds: float

    @property
    def objects(self) -> dict[str, Any]:
        return self.record.objects


# --- stages ------------------------------------------------------------------------


@contextmanager
def original_file(ctx: AppContext, doc: DocumentInput) -> Iterator[Path]:
    """The document's original, streamed from the store into a private file (removed after).

    The file lies in ``<data dir>/spool``, beside intake's copies, not in the system's temp
    dir: that is often a tmpfs, which would put the original back into memory, while the
    data dir is the disk sized for originals. It is removed on the way out, whatever
    happens; the ``worker-<pid>@<host>-…`` file of a worker killed meanwhile is removed by
    the next spool cleanup on this host (:func:`mailroom.runtime.sweeper.clean_spool`).
    """
    spool = ctx.settings.data_dir / "spool"
    suffix = f"-{doc.id}.{EXTENSIONS.get(doc.media_type, 'bin')}"
    try:
        fd, path = spoolfiles.create(spool, "worker", suffix)
    except OSError as exc:
        raise StorageUnavailable(
            f"cannot make a spool file in {spool}: {exc.strerror}",
            hint="check free space and permissions of the data directory",
        ) from exc
    os.close(fd)
    try:
        ctx.store.get_file(doc.original_key, path)
        yield path
    finally:
        spoolfiles.release(path)


def rasterize_stage(
    source: bytes | Path, media_type: str | None, settings: Settings
) -> list[PageImage]:
    return rasterize(
        source,
        media_type or sniff_media_type(_head(source)),
        dpi=settings.rasterize_dpi,
        max_pixels=settings.max_page_pixels,
        max_pages=settings.max_pages,
    )


def _head(source: bytes | Path) -> bytes:
    if isinstance(source, bytes):
        return source[:SNIFF_BYTES]
    with source.open("rb") as fh:
        return fh.read(SNIFF_BYTES)


def recognize_stage(
    pages: list[PageImage],
    engine: OcrEngine,
    heartbeat: Heartbeat | None = None,
    vocabulary: WordList | None = None,
) -> Recognized:
    prepared: list[PreparedPage] = []
    results: list[PageOcr] = []
    for page in pages:
        upright, ocr = recognize_page(prepare_page(page), engine, vocabulary)
        prepared.append(upright)
        results.append(ocr)
        if heartbeat is not None:
            heartbeat()
    return Recognized(prepared, results)


def extract_stage(text: str, fileplan: FilePlan) -> Extraction:
    return extract(text, fileplan)


def match_case_stage(extraction: Extraction, index: CaseIndex) -> CaseMatch:
    return index.match(extraction)


def classify_stage(
    text: str, extraction: Extraction, case_match: CaseMatch, router: Router
) -> RoutingResult:
    return router.route(text, extraction, case_match)


def handwriting_stage(
    recognized: Recognized,
    case_match: CaseMatch,
    routing: RoutingResult,
    fileplan: FilePlan,
    index: CaseIndex,
) -> RoutingResult:
    """A handwritten letter keeps ``auto`` only when its printed text alone bears it out."""
    if recognized.handwritten != "letter":
        return routing
    printed = extract_stage(printed_text(recognized.results), fileplan)
    printed_match = match_case_stage(printed, index)
    return check_handwritten_letter(routing, case_match, printed, printed_match, fileplan)


def store_stage(
    doc: DocumentInput,
    recognized: Recognized,
    extraction: Extraction,
    case_match: CaseMatch,
    routing: RoutingResult,
    *,
    store: ObjectStore,
    fileplan: FilePlan,
    ocr: OcrInfo,
) -> DmsRecord:
    """Store the products, map the DMS record, write ``metadata.json`` last."""
    headers = object_headers(doc, routing, case_match)
    title = extraction.subject or doc.source_name
    objects = store_products(store, doc, recognized, title=title, headers=headers)
    record = build_record(
        doc, recognized, extraction, case_match, routing,
        fileplan=fileplan, ocr=ocr, objects=objects,
    )  # fmt: skip
    store_metadata(store, record, headers)
    return record


# --- the pipeline --------------------------------------------------------------------


def run_pipeline(
    doc: DocumentInput, ctx: AppContext, heartbeat: Heartbeat | None = None
) -> PipelineResult:
    """Run every stage for one document. Raises mailroom errors; touches no database row."""
    started = time.perf_counter()
    ctx.refresh_file_plan()  # an imported plan reaches every worker without a restart
    with original_file(ctx, doc) as original:
        pages = rasterize_stage(original, doc.media_type, ctx.settings)
    recognized = recognize_stage(pages, ctx.ocr, heartbeat, ctx.vocabulary)
    text = recognized.text
    extraction = extract_stage(text, ctx.fileplan)
    cases = ctx.cases.current()
    case_match = match_case_stage(extraction, cases)
    routing = classify_stage(text, extraction, case_match, ctx.registry.router())
    routing = handwriting_stage(recognized, case_match, routing, ctx.fileplan, cases)
    record = store_stage(
        doc, recognized, extraction, case_match, routing,
        store=ctx.store, fileplan=ctx.fileplan, ocr=_ocr_info(recognized, ctx),
    )  # fmt: skip
    seconds = time.perf_counter() - started
    log.info(
        "document %s: %d pages, %s -> %s/%s (%.2f) in %.1fs",
        doc.id,
        len(pages),
        routing.decision,
        routing.department_id,
        routing.unit_code,
        routing.confidence,
        seconds,
    )
    return PipelineResult(doc, recognized, extraction, case_match, routing, record, seconds)


def _ocr_info(recognized: Recognized, ctx: AppContext) -> OcrInfo:
    engine = recognized.results[0].engine if recognized.results else ""
    version = getattr(ctx.ocr, "version", None)
    return OcrInfo(engine, version, ctx.settings.ocr_language)


def recognize_file(
    data: bytes, ctx: AppContext, *, media_type: str | None = None
) -> list[tuple[PreparedPage, PageOcr]]:
    """Rasterise and recognise a file outside the queue (training imports, evaluation).

    The same stages as :func:`run_pipeline`, from bytes the caller has already read.
    """
    pages = rasterize_stage(data, media_type, ctx.settings)
    recognized = recognize_stage(pages, ctx.ocr, vocabulary=ctx.vocabulary)
    return list(zip(recognized.pages, recognized.results, strict=True))
