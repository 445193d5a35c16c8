"""``python -m benchmarks.drills.launch ARGS``: the ``mailroom`` command, with poison letters.

A letter whose file name contains ``poisoned-letter`` kills the worker process that reads it
(``os._exit``, as a segfault in a native library would), every time. Nothing else
differs from ``python -m mailroom ARGS``. The patch is made when this module is imported,
so it holds in the worker processes ``mailroom up`` spawns too: they import the main
module of their parent again (as ``__mp_main__``).
"""

from __future__ import annotations

import os
from typing import Any

from benchmarks.drills.letters import POISON
from mailroom.core.domain import DocumentInput
from mailroom.runtime import processor

#: The exit code of a poisoned worker (not -9: the drills count it as a death).
POISON_EXIT = 70

_run_pipeline = processor.run_pipeline


def _poisoned(doc: DocumentInput, ctx: Any, heartbeat: Any = None) -> Any:
    if POISON in doc.source_name:
        os._exit(POISON_EXIT)
    return _run_pipeline(doc, ctx, heartbeat=heartbeat)


processor.run_pipeline = _poisoned

if __name__ == "__main__":
    from mailroom.cli import main

    main()
