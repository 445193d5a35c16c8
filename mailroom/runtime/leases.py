"""Document leases: how long a worker's claim on a document in ``processing`` lasts.

A worker claims a document with a lease of ``lease_seconds`` (see
:class:`mailroom.runtime.processor.DocumentProcessor`) and renews it while it works on it
(:mod:`mailroom.runtime.keepalive`), so a lease runs out only when its worker died or
lost the database. The sweeper republishes a document whose lease ran out; the
supervisor ends the leases of a worker process it saw die, so that happens at the next
sweep instead of after the lease.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, update

from mailroom.core.states import DocumentState as S
from mailroom.infra.db import models
from mailroom.infra.db.models import utcnow
from mailroom.runtime.context import AppContext


def renew(ctx: AppContext, owner: str, document_id: str) -> bool:
    """Extend ``owner``'s lease on a document it is processing by ``lease_seconds``.

    False if ``owner`` holds no such lease (any more): the document was finished, or the
    lease ran out and the sweeper or another worker moved the document on.
    """
    until = utcnow() + timedelta(seconds=ctx.settings.lease_seconds)
    return _set_lease_until(ctx, owner, until, document_id) > 0


def release_all(ctx: AppContext, owner: str) -> int:
    """End every lease ``owner`` holds (its process died); return how many there were.

    The documents stay ``processing``, their leases now run out: the next sweep
    republishes them, through the same conditional transition as any ran-out lease.
    """
    return _set_lease_until(ctx, owner, utcnow() - timedelta(seconds=1))


def _set_lease_until(
    ctx: AppContext, owner: str, until: datetime, document_id: str | None = None
) -> int:
    """Set the end of ``owner``'s leases (of one document, or all); return how many."""
    D = models.Document
    held = [D.lease_owner == owner, D.state == S.PROCESSING]
    if document_id is not None:
        held.append(D.id == document_id)
    with ctx.db.session() as session:
        result = session.execute(
            update(D)
            .where(*held)
            .values(lease_until=until)
            .execution_options(synchronize_session=False)
        )
    return int(cast("CursorResult[Any]", result).rowcount)
