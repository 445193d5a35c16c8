"""The states of a document (Dokumentstatus).

The allowed transitions between them and the one function that performs a transition are
in :mod:`mailroom.lifecycle`.
"""

from __future__ import annotations

import enum


class DocumentState(enum.StrEnum):
    """Where a document is in its life; every change is written to the audit trail."""

    RECEIVED = "received"  # registered, original stored, not yet on the queue
    QUEUED = "queued"  # a message is on the queue
    PROCESSING = "processing"  # a worker holds the lease
    RETRY_WAIT = "retry_wait"  # transient failure, waits for next_attempt_at
    ROUTED = "routed"  # automatically routed to a department inbox
    REVIEW = "review"  # Klärfall: a person decides
    ACCEPTED = "accepted"  # a clerk accepted (or corrected) the routing
    FAILED = "failed"  # permanent processing failure, dead-lettered
    QUARANTINED = "quarantined"  # bad input, never processed
    DUPLICATE = "duplicate"  # same bytes as an earlier document


#: States in which a document is waiting for or in the pipeline.
PENDING_STATES = (
    DocumentState.RECEIVED,
    DocumentState.QUEUED,
    DocumentState.PROCESSING,
    DocumentState.RETRY_WAIT,
)
#: States in which a department sees the document in its inbox.
INBOX_STATES = (DocumentState.ROUTED, DocumentState.REVIEW, DocumentState.ACCEPTED)

__all__ = ["INBOX_STATES", "PENDING_STATES", "DocumentState"]
