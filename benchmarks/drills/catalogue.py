"""Every drill, the deployments it applies to, and running a selection of them.

The embedded default has no broker, database server or object store to take down: there
the drills on mailroom's own processes, messages and disk run. The services deployment
runs them all.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.drills import outages, process_faults
from benchmarks.drills.drill import Drill, Profile
from benchmarks.drills.letters import LetterBox
from benchmarks.drills.observe import Outcome
from benchmarks.drills.stack import Deployment

BOTH = ("embedded", "services")
SERVICES = ("services",)


@dataclass(frozen=True)
class Entry:
    name: str
    run: Callable[[Drill], Outcome]
    deployments: tuple[str, ...]
    #: The deployments on which the drill is part of the short subset in ``.ci/run``.
    quick: tuple[str, ...] = ()


CATALOGUE = (
    Entry("worker_kill", process_faults.worker_kill, BOTH, quick=BOTH),
    Entry("watcher_kill", process_faults.watcher_kill, BOTH, quick=("embedded",)),
    Entry("malformed_messages", process_faults.malformed_messages, BOTH, quick=("embedded",)),
    Entry("broker_outage", outages.broker_outage, SERVICES, quick=SERVICES),
    Entry("database_outage", outages.database_outage, SERVICES, quick=SERVICES),
    Entry("s3_outage", outages.s3_outage, SERVICES, quick=SERVICES),
    Entry("broker_closes_connections", outages.broker_closes_connections, SERVICES),
    Entry("s3_frozen", outages.s3_frozen, SERVICES),
    Entry("s3_long_outage", outages.s3_long_outage, SERVICES),
    Entry("started_during_outage", outages.started_during_outage, SERVICES),
    Entry("poison", process_faults.poison, BOTH),
    Entry("long_document", process_faults.long_document, BOTH),
    Entry("disk_full", outages.disk_full, BOTH),
    Entry("processed_read_only", outages.processed_read_only, BOTH),
)


def select_entries(names: list[str] | None, quick: bool) -> list[Entry]:
    if names:
        unknown = set(names) - {e.name for e in CATALOGUE}
        if unknown:
            raise SystemExit(f"unknown drills: {', '.join(sorted(unknown))}")
        return [e for e in CATALOGUE if e.name in names]
    if not quick:
        return list(CATALOGUE)
    return [replace(e, deployments=e.quick) for e in CATALOGUE if e.quick]


def start_deployment(kind: str, work: Path) -> Deployment:
    """The embedded default, or private services started in ``work``."""
    if kind == "services":
        return Deployment.services(work / kind)
    return Deployment.embedded(work / kind)


def run_drills(
    entries: list[Entry],
    kinds: tuple[str, ...],
    profile: Profile,
    work: Path | None = None,
    report: Callable[[Outcome, float], None] | None = None,
    *,
    parallel: bool = False,
) -> list[Outcome]:
    """Run ``entries`` on each deployment in ``kinds``; one outcome per drill run.

    ``parallel`` runs the deployments side by side (each drill waits far more than it
    computes: outages, leases, sweeps), one after the other otherwise.
    """
    own = work is None
    work = work or Path(tempfile.mkdtemp(prefix="mailroom-drills-"))
    box = LetterBox(work / "letters", pages=max(6, profile.letters * 2))
    try:
        if not parallel or len(kinds) < 2:  # in this thread: a signal stops it cleanly
            return [o for kind in kinds for o in _run_on(kind, entries, profile, work, box, report)]
        with ThreadPoolExecutor(len(kinds)) as pool:
            runs = [
                pool.submit(_run_on, kind, entries, profile, work, box, report) for kind in kinds
            ]
            return [outcome for run in runs for outcome in run.result()]
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)


def _run_on(
    kind: str,
    entries: list[Entry],
    profile: Profile,
    work: Path,
    box: LetterBox,
    report: Callable[[Outcome, float], None] | None,
) -> list[Outcome]:
    chosen = [e for e in entries if kind in e.deployments]
    if not chosen:
        return []
    outcomes = []
    try:
        where = start_deployment(kind, work)
    except Exception as exc:
        broken = []
        for entry in chosen:
            outcome = Outcome(entry.name, kind)
            outcome.failures.append(f"{kind} deployment did not start: {exc}")
            broken.append(outcome)
        return broken
    try:
        for entry in chosen:
            started = time.monotonic()
            drill = Drill(entry.name, where, box, profile)
            try:
                outcome = entry.run(drill)
            except Exception as exc:
                outcome = Outcome(entry.name, kind)
                outcome.failures.append(f"drill broke: {type(exc).__name__}: {exc}")
            outcomes.append(outcome)
            if report:
                report(outcome, time.monotonic() - started)
    finally:
        where.close()
    return outcomes
