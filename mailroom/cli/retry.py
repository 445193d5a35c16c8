"""``mailroom retry``: send failed (or quarantined) documents back to the queue in bulk.

After an outage that failed documents for good (before outages stopped costing attempts),
``mailroom retry --reason-contains StorageUnavailable`` sends exactly those again, with
fresh attempts and one audit entry each — the same action as the Leitstand's *Erneut
verarbeiten* (:func:`mailroom.services.actions.retry_many`).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from mailroom.cli.common import app_context, console, report_errors
from mailroom.core.states import DocumentState
from mailroom.services import actions

#: The actor the command line's resends are audited under.
ACTOR = "cli"


@report_errors
def retry(
    state: Annotated[
        str, typer.Option(help="Which documents: failed or quarantined")
    ] = DocumentState.FAILED.value,
    reason_contains: Annotated[
        str | None,
        typer.Option(help="Only those whose reason contains this text (any case)"),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every document in the state, whatever its reason")
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="Only list what would be sent")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Send failed documents back to the queue (e.g. those an outage failed)."""
    if not reason_contains and not every:
        raise typer.BadParameter(
            "give --reason-contains TEXT, or --all for every document in the state",
            param_hint="--reason-contains / --all",
        )
    ctx = app_context()
    with ctx.db.session() as session:
        docs = actions.retry_candidates(session, state=state, reason_contains=reason_contains)
        if dry_run:
            _print_found([(d.id, d.source_name, d.state_reason or "") for d in docs], as_json)
            return
        resent = actions.retry_many(session, ctx.queue, docs, by=ACTOR)
    _print_resent(resent, as_json)


def _print_found(found: list[tuple[str, str, str]], as_json: bool) -> None:
    if as_json:
        rows = [{"document_id": i, "file": f, "reason": r} for i, f, r in found]
        print(json.dumps({"found": rows}, ensure_ascii=False))
        return
    for doc_id, file, reason in found:
        console.print(f"{doc_id}  {file}  {reason[:80]}", highlight=False, markup=False)
    console.print(f"{len(found)} Dokumente würden erneut verarbeitet.")


def _print_resent(resent: actions.Resent, as_json: bool) -> None:
    if as_json:
        data = {"queued": resent.queued, "skipped": resent.skipped, "published": resent.published}
        print(json.dumps(data))
        return
    console.print(f"{len(resent.queued)} Dokumente werden erneut verarbeitet.")
    if resent.skipped:
        console.print(f"{len(resent.skipped)} übersprungen: inzwischen geändert.")
    unpublished = len(resent.queued) - resent.published
    if unpublished:
        console.print(
            f"Broker nicht erreichbar: {unpublished} Dokumente stellt der Sweeper später ein."
        )
