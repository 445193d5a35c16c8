"""A 5-minute S3 outage ends with every letter finished (services deployment).

Longer than all of a document's attempts together: the outage must cost no attempt, and
once the object store is back every letter is finished within a minute, none lost,
duplicated or stuck, no process dead. The drill runs in the background from the start of
the session (:mod:`tests.drills.background`); this test reads its outcome.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.drills import background
from tests.drills.test_drills import require_drill_tools

#: The drill's whole run: services, the outage, the letters, stopping everything.
PATIENCE_SECONDS = background.OUTAGE_SECONDS + 600


@pytest.fixture
def drill() -> Iterator[background.BackgroundDrill]:
    require_drill_tools()
    if background.running is None:  # run alone: start it now
        background.running = background.BackgroundDrill()
        background.running.start()
    yield background.running


@pytest.mark.timeout(PATIENCE_SECONDS + 300)
def test_a_five_minute_s3_outage_ends_with_every_letter_finished(
    drill: background.BackgroundDrill,
) -> None:
    outcome, output = drill.outcome(PATIENCE_SECONDS)
    assert outcome is not None, f"the drill wrote no outcome:\n{output[-3000:]}"
    assert outcome["dropped"] == background.LETTERS, output[-3000:]
    problems = [*outcome["failures"]]
    for what in ("lost", "duplicated", "stuck", "dead", "orphans", "exits"):
        if outcome[what]:
            problems.append(f"{what}: {outcome[what]}")
    if outcome["finished"] != outcome["dropped"]:
        problems.append(f"finished {outcome['finished']} of {outcome['dropped']}")
    if outcome["recover_s"] is None or outcome["recover_s"] > 60:
        problems.append(f"recovery {outcome['recover_s']} s")
    assert not problems, f"{problems}; notes: {outcome['notes']}\n{output[-3000:]}"
