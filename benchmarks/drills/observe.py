"""What a drill left behind, checked letter by letter in the database, the object store,
the hot folder and (for orphans) the whole bucket — as an operator would check it.

For every dropped file name:

- *finished*: one document row, routed or in review (a poison letter: failed, as it must);
- *lost*: no row and no file in the hot folder any more, or a row whose original is
  missing from the object store;
- *duplicated*: more than one row for the name, or a document that reached a final state
  twice (processed twice);
- *stuck*: anything else when the drill's patience ran out (still pending, still in the
  hot folder, failed although it was a good letter).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select

from benchmarks.drills.stack import Mailroom
from mailroom.core.errors import MailroomError
from mailroom.core.states import DocumentState as S
from mailroom.infra.db.database import Database
from mailroom.infra.db.models import AuditEvent, Document
from mailroom.infra.objects import open_object_store

GOOD = (S.ROUTED, S.REVIEW, S.ACCEPTED)
#: The state a poison letter must end in: dead-lettered after its attempts.
POISONED = (S.FAILED,)


@dataclass
class Outcome:
    """One drill's figures (the drill table's row)."""

    drill: str
    deployment: str
    dropped: int = 0
    finished: int = 0
    lost: int = 0
    duplicated: int = 0
    stuck: int = 0
    #: Seconds from the fault's end to the last letter finished (None: not all finished).
    recover_s: float | None = None
    #: Worker or watcher processes that exited although the drill did not kill them.
    exits: int = 0
    #: Processes missing at the end: a slot the supervisor did not fill again, or the
    #: supervisor itself.
    dead: int = 0
    orphans: int = 0
    #: Letters that needed more than one attempt (an outage must cost none).
    retried: int = 0
    notes: list[str] = field(default_factory=list)
    #: Checks particular to the drill that failed (a bad message not dead-lettered, ...).
    failures: list[str] = field(default_factory=list)

    def problems(self, *, recover_within: float = 60.0, exits_allowed: int = 0) -> list[str]:
        """Every target the drill missed, in words (empty: the drill passed)."""
        found = list(self.failures)
        for what in ("lost", "duplicated", "stuck", "dead", "orphans"):
            if getattr(self, what):
                found.append(f"{what}: {getattr(self, what)}")
        if self.finished < self.dropped:
            found.append(f"finished {self.finished} of {self.dropped}")
        if self.recover_s is None or self.recover_s > recover_within:
            found.append(f"recovery {self.recover_s} s > {recover_within:.0f} s")
        if self.exits > exits_allowed:
            found.append(f"{self.exits} processes exited")
        return found


class Observer:
    """Reads one drill's ``mailroom`` database and object store."""

    def __init__(self, mailroom: Mailroom) -> None:
        self.mailroom = mailroom
        settings = mailroom.settings()
        self.db = Database(settings.db_url)
        self.store = open_object_store(settings)

    def close(self) -> None:
        self.db.dispose()

    def rows(self, names: list[str]) -> dict[str, list[Document]]:
        with self.db.session() as session:
            docs = session.scalars(select(Document).where(Document.source_name.in_(names))).all()
            session.expunge_all()
        found: dict[str, list[Document]] = {name: [] for name in names}
        for doc in docs:
            found[doc.source_name].append(doc)
        return found

    def finishes(self, ids: list[str]) -> Counter[str]:
        """How often each document reached a final state (more than once: processed twice)."""
        with self.db.session() as session:
            events = session.scalars(
                select(AuditEvent.document_id).where(
                    AuditEvent.document_id.in_(ids),
                    AuditEvent.action == "state",
                    AuditEvent.to_state.in_([s.value for s in (S.ROUTED, S.REVIEW)]),
                )
            ).all()
        return Counter(e for e in events if e is not None)

    def trail(self, document_id: str) -> list[str]:
        """The document's state changes as ``actor: from -> to (outage)``, oldest first."""
        with self.db.session() as session:
            events = session.scalars(
                select(AuditEvent)
                .where(AuditEvent.document_id == document_id, AuditEvent.action == "state")
                .order_by(AuditEvent.id)
            ).all()
            return [f"{e.actor}: {e.from_state}->{e.to_state}"
                    f"{' (outage)' if (e.detail or {}).get('outage') else ''}"
                    for e in events]  # fmt: skip

    def done(self, names: list[str], poison: set[str]) -> bool:
        """Every letter finished (good letters good, poison letters failed)?"""
        try:
            rows = self.rows(names)
        except MailroomError:
            return False  # the database is away: not done
        for name, docs in rows.items():
            wanted = POISONED if name in poison else GOOD
            if len(docs) != 1 or docs[0].state not in wanted:
                return False
        return not any((self.mailroom.hot_folder / name).exists() for name in names)

    def wait(self, names: list[str], poison: set[str], timeout: float) -> float | None:
        """When (``time.time()``) every letter was seen finished; None: not in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.done(names, poison):
                return time.time()
            time.sleep(0.5)
        return None

    def orphans(self) -> int:
        """Originals in the store that no document row refers to."""
        with self.db.session() as session:
            referenced = set(session.scalars(select(Document.original_key)).all())
        stored = [k for k in self.store.list("originals/") if k not in referenced]
        legacy = [
            k for k in self.store.list("documents/") if "/original." in k and k not in referenced
        ]
        return len(stored) + len(legacy)

    def judge(
        self,
        outcome: Outcome,
        names: list[str],
        poison: set[str],
        fault_end: float,
        done_at: float | None,
    ) -> Outcome:
        """Fill in ``outcome`` from what the database, store and hot folder hold now.

        The recovery time runs from the fault's end until every letter was seen finished
        (``done_at``): processed, and its file out of the hot folder.
        """
        rows = self.rows(names)
        ids = [d.id for docs in rows.values() for d in docs]
        finishes = self.finishes(ids)
        outcome.dropped = len(names)
        for name, docs in rows.items():
            wanted = POISONED if name in poison else GOOD
            in_folder = (self.mailroom.hot_folder / name).exists()
            if not docs:
                if in_folder:
                    outcome.stuck += 1
                else:
                    outcome.lost += 1
                    outcome.notes.append(f"{name}: no document, no file")
                continue
            if len(docs) > 1 or any(finishes[d.id] > 1 for d in docs):
                outcome.duplicated += 1
                outcome.notes.append(f"{name}: {len(docs)} rows, finishes {finishes}")
            doc = docs[0]
            if doc.original_key and not self.store.exists(doc.original_key):
                outcome.lost += 1
                outcome.notes.append(f"{name}: original {doc.original_key} missing")
            elif doc.state in wanted and not in_folder:
                outcome.finished += 1
                if doc.attempts > 1:
                    outcome.retried += 1
                    outcome.notes.append(f"{name}: {doc.attempts} attempts: {self.trail(doc.id)}")
            else:
                outcome.stuck += 1
                outcome.notes.append(f"{name}: {doc.state} {doc.state_reason or ''}".strip())
        if outcome.finished == outcome.dropped and done_at is not None:
            outcome.recover_s = round(max(0.0, done_at - fault_end), 1)
        outcome.orphans = self.orphans()
        return outcome
