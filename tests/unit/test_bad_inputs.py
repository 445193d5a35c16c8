"""51 kinds of bad input, each quarantined with its reason while the watcher keeps running.

Through the real parts of the embedded setup: the hot-folder watchers (``run_watchers``)
and a worker consuming kombu's filesystem transport, on SQLite and the filesystem object
store; only the OCR engine is a fake. Per kind (``tests/bad_inputs.py``: 11 foreign or
empty files, 11 PDFs, 10 PNGs, 3 JPEGs, 10 TIFFs, 1 PDF with a bomb as its page image,
5 entries that are no plain file) a bad file and a good one are dropped together; the bad
one ends ``quarantined`` with a reason file the scan centre can read — in ``quarantine/``
when intake refused it, beside the file in ``processed/`` when the worker did (in one
attempt, never retried) — and the good one is taken as usual.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import select

from mailroom.core.states import DocumentState as S
from mailroom.infra.db.models import Document
from mailroom.runtime.context import AppContext
from mailroom.runtime.watchers import run_watchers
from mailroom.runtime.worker import Worker
from tests.audit_trail import to_states
from tests.bad_inputs import KINDS, Kind, encoded
from tests.conftest import make_settings
from tests.unit.test_consumer import LetterReader

#: A test that waits longer than this for the watcher or the worker has failed.
PATIENCE_SECONDS = 120.0
TAKEN = (S.QUEUED, S.PROCESSING, S.ROUTED, S.REVIEW)

T = TypeVar("T")


@dataclass
class Intake:
    """The watcher's and the worker's context, and the threads running them."""

    ctx: AppContext
    hot: Path
    watcher: threading.Thread
    worker: threading.Thread


@pytest.fixture(scope="module")
def intake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Intake]:
    with pytest.MonkeyPatch.context() as env:  # the developer's MAILROOM_* do not count
        for key in [k for k in os.environ if k.startswith("MAILROOM_")]:
            env.delenv(key)
        settings = make_settings(tmp_path_factory.mktemp("bad") / "data")
    ctx = AppContext.from_settings(settings, migrate=True)
    ctx.scan_lines[0].hot_folder.mkdir(parents=True)
    worker_ctx = AppContext.from_settings(settings)
    worker_ctx.ocr = LetterReader()
    stop = threading.Event()
    watcher = threading.Thread(target=run_watchers, args=(ctx, stop), daemon=True)
    worker = threading.Thread(target=Worker(worker_ctx, name="w1").run, args=(stop,), daemon=True)
    watcher.start()
    worker.start()
    try:
        yield Intake(ctx, ctx.scan_lines[0].hot_folder, watcher, worker)
    finally:
        stop.set()
        watcher.join(PATIENCE_SECONDS)
        worker.join(PATIENCE_SECONDS)
        worker_ctx.close()
        ctx.close()


def good_scan(label: str) -> bytes:
    """A small page of its own (never a duplicate of another test's)."""
    image = Image.new("L", (300, 200), 255)
    ImageDraw.Draw(image).text((10, 10), f"Gute Seite {label}", fill=0)
    return encoded(image, "PNG")


def wait_for(check: Callable[[], T | None], what: str) -> T:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while time.monotonic() < deadline:
        if (found := check()) is not None:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out after {PATIENCE_SECONDS:.0f} s waiting for {what}")


def document_in(ctx: AppContext, name: str, states: tuple[str, ...]) -> Document | None:
    with ctx.db.session() as session:
        return session.scalar(
            select(Document).where(Document.source_name == name, Document.state.in_(states))
        )


@pytest.mark.parametrize("kind", KINDS, ids=[kind.name for kind in KINDS])
def test_bad_input_is_quarantined_with_its_reason_and_the_watcher_goes_on(
    intake: Intake, kind: Kind
) -> None:
    ctx, hot = intake.ctx, intake.hot
    good = f"gut-{kind.name}.png"
    kind.make(hot)
    (hot / f".{good}.part").write_bytes(good_scan(kind.name))
    (hot / f".{good}.part").rename(hot / good)  # as capture software delivers

    bad = wait_for(lambda: document_in(ctx, kind.name, (S.QUARANTINED,)), f"{kind.name} refused")
    wait_for(lambda: document_in(ctx, good, TAKEN), f"{good} taken")

    assert kind.reason in (bad.state_reason or ""), bad.state_reason
    folder = "quarantine" if kind.stage == "intake" else "processed"
    reason_file = hot / folder / f"{kind.name}.reason.txt"
    text = wait_for(lambda: _read(reason_file), f"{reason_file} written")
    assert kind.reason in text and bad.id in text and "Scanstraße" in text
    assert (hot / folder / kind.name).is_symlink() or (hot / folder / kind.name).exists()
    if kind.stage == "worker":  # bad input is permanent: one attempt, no retry
        assert bad.attempts == 1 and S.RETRY_WAIT not in to_states(ctx, bad.id)
    assert intake.watcher.is_alive() and intake.worker.is_alive()
    spool = ctx.settings.data_dir / "spool"  # the worker may still be reading the good scan
    wait_for(lambda: None if [p for p in spool.glob("*") if p.is_file()] else True, "no spool file")


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None
