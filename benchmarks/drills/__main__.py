"""``python -m benchmarks.drills``: run the fault drills and print the drill table.

    .venv/bin/python -m benchmarks.drills                  # every drill, both deployments
    .venv/bin/python -m benchmarks.drills --quick          # the subset .ci/run runs
    .venv/bin/python -m benchmarks.drills --drill worker_kill --deployment embedded

Exits 1 if a drill missed a target (lost, duplicated or stuck letters, recovery over a
minute, a process dead for good, a drill-specific check), so it can gate a release.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
from pathlib import Path

from benchmarks.drills.catalogue import BOTH, run_drills, select_entries
from benchmarks.drills.drill import FULL, QUICK
from benchmarks.drills.observe import Outcome

COLUMNS = ("drill", "deployment", "dropped", "finished", "lost", "dup", "stuck",
           "recover s", "exits", "dead", "orphans", "result")  # fmt: skip


def row(outcome: Outcome) -> list[str]:
    problems = outcome.problems()
    recover = "-" if outcome.recover_s is None else f"{outcome.recover_s:.0f}"
    return [
        outcome.drill, outcome.deployment, str(outcome.dropped), str(outcome.finished),
        str(outcome.lost), str(outcome.duplicated), str(outcome.stuck), recover,
        str(outcome.exits), str(outcome.dead), str(outcome.orphans),
        "ok" if not problems else "MISSED: " + "; ".join(problems),
    ]  # fmt: skip


def print_table(outcomes: list[Outcome]) -> None:
    rows = [list(COLUMNS), *(row(o) for o in outcomes)]
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(COLUMNS))
    for r in rows[1:]:
        print("| " + " | ".join(r) + " |")


def main() -> int:
    # SIGTERM ends the run like Ctrl+C: every drill's finally stops its mailroom and the
    # private services (they run in sessions of their own and would outlive us).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the short subset of .ci/run")
    parser.add_argument("--drill", action="append", help="only this drill (repeatable)")
    parser.add_argument("--deployment", choices=BOTH, action="append")
    parser.add_argument("--work", type=Path, help="keep everything in this folder")
    parser.add_argument("--parallel", action="store_true", help="deployments side by side")
    parser.add_argument("--json", type=Path, help="also write the outcomes to this file")
    parser.add_argument("--letters", type=int, help="letters per drill")
    parser.add_argument("--outage", type=float, help="seconds a service is away")
    parser.add_argument("--long-outage", type=float, help="seconds of the long S3 outage")
    args = parser.parse_args()
    profile = QUICK if args.quick else FULL
    changes = {"letters": args.letters, "outage_seconds": args.outage,
               "long_outage_seconds": args.long_outage}  # fmt: skip
    profile = dataclasses.replace(profile, **{k: v for k, v in changes.items() if v})
    entries = select_entries(args.drill, args.quick)

    def report(outcome: Outcome, seconds: float) -> None:
        print(f"{outcome.drill} ({outcome.deployment}, {seconds:.0f} s): "
              + " ".join(row(outcome)[2:]), flush=True)  # fmt: skip
        for note in outcome.notes[:6]:
            print(f"    {note}", flush=True)

    kinds = tuple(args.deployment or BOTH)
    outcomes = run_drills(entries, kinds, profile, args.work, report, parallel=args.parallel)
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(o) for o in outcomes], indent=1))
    print()
    print_table(outcomes)
    return 1 if any(o.problems() for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
