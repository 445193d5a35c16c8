"""What every drill shares: its profile, a fresh ``mailroom``, dropping letters, judging.

A drill is a function ``(Drill) -> Outcome``: it starts ``mailroom up`` through
:meth:`Drill.start`, drops letters, injects its fault, and hands the fault's end to
:meth:`Drill.finish`, which waits for the letters and judges what happened.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.drills.letters import POISON, LetterBox, drop
from benchmarks.drills.observe import Observer, Outcome
from benchmarks.drills.stack import Deployment, Mailroom
from mailroom.core.errors import MailroomError
from mailroom.core.states import DocumentState as S


@dataclass(frozen=True)
class Profile:
    """How hard the drills push: letters per drill, outage lengths, patience."""

    letters: int = 8
    outage_seconds: float = 30.0
    #: The object store outage that outlasts every attempt of every document.
    long_outage_seconds: float = 300.0
    kills: int = 4
    #: Pages of the long document (several times the broker's heartbeat timeout).
    long_pages: int = 20
    #: Seconds after the fault's end before a drill stops waiting for its letters.
    patience_seconds: float = 240.0


FULL = Profile()
#: The subset ``.ci/run`` runs: a few letters, short outages, the same checks.
QUICK = Profile(letters=3, outage_seconds=15.0, long_outage_seconds=0.0, kills=2,
                long_pages=6, patience_seconds=150.0)  # fmt: skip


@dataclass
class Drill:
    """One drill's run: its deployment, letters, ``mailroom`` and outcome."""

    name: str
    deployment: Deployment
    box: LetterBox
    profile: Profile
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    mailroom: Mailroom | None = None
    observer: Observer | None = None
    names: list[str] = field(default_factory=list)
    poison: set[str] = field(default_factory=set)

    @property
    def tag(self) -> str:
        return f"{self.name}_{self.deployment.kind}"

    @contextmanager
    def start(
        self,
        overrides: dict[str, str] | None = None,
        *,
        wait: bool = True,
        workers: int = 2,
        before: Callable[[], None] | None = None,
    ) -> Iterator[Mailroom]:
        """Run a fresh ``mailroom up`` for the block; stop it afterwards. ``before`` runs
        once its database exists and is migrated, just before the processes start."""
        self.mailroom = Mailroom(self.deployment, self.tag, workers, overrides or {})
        self.mailroom.migrate()
        if before is not None:
            before()
        self.mailroom.start(wait=wait)
        self.observer = Observer(self.mailroom)
        try:
            yield self.mailroom
        finally:
            self.mailroom.stop()
            self.observer.close()

    @property
    def m(self) -> Mailroom:
        assert self.mailroom is not None, "start() first"
        return self.mailroom

    @property
    def seen(self) -> Observer:
        assert self.observer is not None, "start() first"
        return self.observer

    def drop(self, count: int, *, prefix: str = "brief", source: Path | None = None) -> list[str]:
        """Drop ``count`` letters; their file names."""
        names = []
        for _ in range(count):
            index = len(self.names)
            name = f"{self.name}-{prefix}-{index:03d}{(source or self.box.page(0)).suffix}"
            drop(source or self.box.page(index), self.m.hot_folder, name)
            self.names.append(name)
            names.append(name)
            if POISON in prefix:
                self.poison.add(name)
        return names

    def wait_for(self, state: S, timeout: float = 120.0) -> str | None:
        """The id of one of this drill's documents once it is in ``state`` (``processing``:
        under a live lease, not one a dead worker's supervisor just gave back)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                rows = self.seen.rows(self.names)
            except MailroomError:
                rows = {}
            now = datetime.now(UTC)
            for docs in rows.values():
                for doc in docs:
                    lease = doc.lease_until
                    held = lease is not None and (lease if lease.tzinfo else
                                                  lease.replace(tzinfo=UTC)) > now  # fmt: skip
                    if doc.state == state and (state != S.PROCESSING or held):
                        return doc.id
            time.sleep(0.2)
        return None

    def lease_owner(self, document_id: str) -> str | None:
        for docs in self.seen.rows(self.names).values():
            for doc in docs:
                if doc.id == document_id:
                    return doc.lease_owner
        return None

    def finish(self, fault_end: float, outcome: Outcome | None = None) -> Outcome:
        """Wait for the letters (up to the profile's patience), then judge."""
        outcome = outcome or Outcome(self.name, self.deployment.kind)
        done_at = self.seen.wait(self.names, self.poison, self.profile.patience_seconds)
        self.seen.judge(outcome, self.names, self.poison, fault_end, done_at)
        self._count_processes(outcome)
        return outcome

    def _count_processes(self, outcome: Outcome, settle: float = 45.0) -> None:
        """Exits nobody caused, and slots still empty once replacements had time."""
        deadline = time.monotonic() + settle
        while True:
            missing = self._missing()
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        outcome.dead = missing
        died = self.m.died()
        outcome.exits = died["worker"] + died["watcher"]

    def _missing(self) -> int:
        if not self.m.alive():
            return 1 + self.m.workers + 1
        names = list(self.m.descendants().values())
        workers = sum(1 for n in names if n.startswith("mr-worker"))
        watchers = sum(1 for n in names if n == "mr-watchers")
        return max(0, self.m.workers - workers) + max(0, 1 - watchers)
