"""The fault drills' short subset, in ``.ci/run``: real ``mailroom up`` processes, real
letters, private RabbitMQ, PostgreSQL and S3 (:mod:`benchmarks.drills`).

Worker killed mid-letter (both deployments); watcher killed between upload and publish,
malformed queue messages (embedded; on RabbitMQ in ``tests/integration``); broker crash,
database crash, object store crash (services).
Each must end with every letter finished, none lost or duplicated, no orphan original, no
process dead for good, and the last letter done within a minute of the fault's end.
The two deployments run side by side; the drills mostly wait (outages, leases, sweeps).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from benchmarks.drills.catalogue import BOTH, run_drills, select_entries
from benchmarks.drills.drill import QUICK
from benchmarks.drills.observe import Outcome
from tests import services

ENTRIES = select_entries(None, quick=True)
CASES = [(e.name, kind) for kind in BOTH for e in ENTRIES if kind in e.deployments]


def require_drill_tools() -> None:
    """The servers the drills start privately (Debian's packages, the weed wheel)."""
    weed = Path(sys.executable).parent / "weed"
    missing = [tool for tool in ("rabbitmq-server", "initdb", "pg_ctl") if not shutil.which(tool)]
    if not (shutil.which("weed") or weed.exists()):
        missing.append("weed")
    if missing:
        services.unavailable(f"the drills' servers ({', '.join(missing)})")


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Outcome]:
    require_drill_tools()
    work = tmp_path_factory.mktemp("drills")

    def report(outcome: Outcome, seconds: float) -> None:
        print(f"drill {outcome.drill} ({outcome.deployment}, {seconds:.0f} s): "
              f"{outcome.problems() or 'ok'} {outcome.notes[:3]}", flush=True)  # fmt: skip

    results = run_drills(ENTRIES, BOTH, QUICK, work, report, parallel=True)
    return {(o.drill, o.deployment): o for o in results}


@pytest.mark.timeout(1800)  # the first test waits for all drills (about five minutes)
@pytest.mark.parametrize(("drill", "kind"), CASES, ids=[f"{d}-{k}" for d, k in CASES])
def test_the_drill_loses_nothing_and_recovers_within_a_minute(
    outcomes: dict[tuple[str, str], Outcome], drill: str, kind: str
) -> None:
    outcome = outcomes[(drill, kind)]
    assert outcome.dropped > 0, outcome.failures
    assert not outcome.problems(), f"{outcome.problems()}; notes: {outcome.notes}"
