"""Commands that run the pipeline: up, watch, worker, process."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from mailroom.cli.common import app_context, console, err_console, report_errors, settings
from mailroom.core import states
from mailroom.core.errors import BadInputError, ConfigurationError, MailroomError
from mailroom.infra.db import models
from mailroom.runtime.context import AppContext
from mailroom.runtime.startup import open_context


@report_errors
def watch() -> None:
    """Watch the scan lines' hot folders (Scanstraßen) and register every new file.

    Started while the database or the object store is down, it waits for them.
    """
    from mailroom.runtime.watchers import run_watchers

    stop = _stop_on_signals()
    ctx = open_context(settings(), stop)
    if ctx is None:
        return  # stopped while waiting for the services
    for line in ctx.scan_lines:
        console.print(f"[bold]{line.id}[/] {line.name}: {line.hot_folder}")
    run_watchers(ctx, stop)


@report_errors
def worker(
    name: Annotated[str | None, typer.Option(help="Name in logs and the audit trail")] = None,
) -> None:
    """Process documents from the queue until stopped (one Tesseract thread).

    Started while the database or the object store is down, it waits for them (the broker
    it waits for while consuming).
    """
    from mailroom.runtime.processes import worker_process

    s = settings()
    # Wait for the services here (and migrate the embedded database once); the worker
    # process then opens its own context.
    ctx = open_context(s, _stop_on_signals())
    if ctx is None:
        return  # stopped while waiting for the services
    ctx.close()
    worker_process(s, name)


def _stop_on_signals() -> threading.Event:
    """An event that SIGTERM and SIGINT set: they end a wait for the services, too."""
    from mailroom.runtime.processes import stop_on_signals

    stop = threading.Event()
    stop_on_signals(stop)
    return stop


@report_errors
def process(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True)],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per document")] = False,
    scan_line: Annotated[str | None, typer.Option(help="Scan line to register under")] = None,
) -> None:
    """Register and process files synchronously with the same stages as the workers."""
    from mailroom.runtime.processor import DocumentProcessor
    from mailroom.runtime.registration import register_file

    ctx = app_context()
    line = _scan_line(ctx, scan_line)
    processor = DocumentProcessor(ctx, owner=f"cli@{os.getpid()}")
    failed = 0
    for path in files:
        doc = register_file(ctx, line, path, move=False, publish=False)
        if doc is None:
            raise ConfigurationError(f"{path} was not registered")
        if doc.state in (states.DocumentState.RECEIVED, states.DocumentState.QUEUED):
            processor.handle(doc.id)
        out = document_summary(ctx, doc.id, str(path))
        failed += out["state"] in ("failed", "quarantined")
        if as_json:
            print(json.dumps(out, ensure_ascii=False))
        else:
            _print_summary(out)
    if failed:
        raise typer.Exit(BadInputError.exit_code)


def _scan_line(ctx: AppContext, wanted: str | None) -> Any:
    for line in ctx.scan_lines:
        if wanted in (None, line.id):
            return line
    raise ConfigurationError(f"no scan line {wanted!r} in {ctx.settings.scan_lines}")


def document_summary(ctx: AppContext, document_id: str, file: str) -> dict[str, Any]:
    """The JSON record ``mailroom process --json`` prints for one document."""
    with ctx.db.session() as session:
        doc = session.get(models.Document, document_id)
        assert doc is not None
        case = doc.case.aktenzeichen if doc.case else None
        return {
            "file": file,
            "document_id": doc.id,
            "state": doc.state,
            "reason": doc.state_reason,
            "duplicate_of": doc.duplicate_of,
            "pages": doc.page_count,
            "handwritten": doc.handwritten,
            "blank_pages": [page.number for page in doc.pages if page.blank],
            "page_details": [page_summary(page) for page in doc.pages],
            "text": doc.text,
            "department": doc.department_id,
            "unit": doc.unit_code,
            "case": case,
            "confidence": round(doc.confidence, 4) if doc.confidence is not None else None,
            "decision": doc.decision,
            "alternatives": doc.alternatives or [],
            "reasons": doc.reasons or [],
            "objects": doc.objects or ({"original": doc.original_key} if doc.original_key else {}),
        }


def page_summary(page: models.Page) -> dict[str, Any]:
    """One page of :func:`document_summary`: how it was read, its handwriting and blocks."""
    layout = page.layout or {}
    return {
        "number": page.number,
        "rotation": page.rotation,
        "skew": round(page.skew_degrees, 2),
        "confidence": page.ocr_confidence,
        "blank": page.blank,
        "orientation_check": page.orientation_check,
        "second_pass": bool(page.second_pass),
        "handwritten": page.handwritten,
        "handwriting": page.handwriting or [],
        "layout": [
            {"kind": block["kind"], "box": block["box"]} for block in layout.get("blocks", [])
        ],
    }


def _print_summary(out: dict[str, Any]) -> None:
    state = out["state"]
    colour = {"routed": "green", "review": "yellow"}.get(state, "red")
    console.print(
        f"[bold]{out['file']}[/] → [{colour}]{state}[/] "
        f"{out['department'] or '-'} / {out['unit'] or '-'} "
        f"{'Vorgang ' + out['case'] if out['case'] else ''} "
        f"(Konfidenz {out['confidence'] if out['confidence'] is not None else '-'}, "
        f"{out['pages'] or 0} Seiten) {out['reason'] or ''}",
        highlight=False,
    )


@report_errors
def up(
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: one per core)")
    ] = None,
    web: Annotated[bool, typer.Option(help="Serve the web application too")] = True,
    demo: Annotated[bool, typer.Option(help="Drop demo letters into the first hot folder")] = False,
    live: Annotated[bool, typer.Option(help="Live status view (off: log lines)")] = True,
    exit_when_idle: Annotated[
        bool, typer.Option(help="Stop once all documents are processed (for scripts)")
    ] = False,
) -> None:
    """Start everything: watchers, workers, web application, background retraining.

    Started while the database or the object store is down, it waits for them.
    """
    ctx = open_context(settings(), _stop_on_signals())
    if ctx is None:
        return  # stopped while waiting for the services
    from mailroom.cli.supervise import supervisor

    sup = supervisor(ctx, workers=workers or ctx.settings.workers, web=web, live=live)
    if demo:
        from mailroom.cli.demo import drop_demo_letters

        dropped = drop_demo_letters(ctx, count=6)
        err_console.print(f"{len(dropped)} Demo-Briefe in {ctx.scan_lines[0].hot_folder} abgelegt")
    sup.run(exit_when_idle=exit_when_idle)


__all__ = ["MailroomError", "process", "up", "watch", "worker"]
