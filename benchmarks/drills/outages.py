"""Drills on the services: the broker, the database and the object store gone, frozen or
cutting connections; a full disk and a read-only folder; processes started mid-outage."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.drills.drill import Drill
from benchmarks.drills.observe import Outcome
from benchmarks.drills.stack import Mailroom, run_cli
from mailroom.core.states import DocumentState as S


def _no_attempt_lost(outcome: Outcome) -> Outcome:
    """An outage is waited out: it must not cost a letter an attempt."""
    if outcome.retried:
        outcome.failures.append(f"{outcome.retried} letters used more than one attempt")
    return outcome


def _during(d: Drill, take_down: Callable[[], None], bring_back: Callable[[], None],
            seconds: float, *, drop_during: bool = True) -> float:  # fmt: skip
    """Half the letters before the fault, half during it (or all before, if the fault
    stops the scanner too); the time the service was back."""
    first = max(1, d.profile.letters // 2) if drop_during else d.profile.letters
    d.drop(first)
    d.wait_for(S.PROCESSING, 60)
    take_down()
    down_at = time.monotonic()
    d.drop(d.profile.letters - first)
    time.sleep(max(0.0, seconds - (time.monotonic() - down_at)))
    bring_back()
    return time.time()


def broker_outage(d: Drill) -> Outcome:
    """RabbitMQ crashes (SIGKILL) while letters arrive and comes back after the outage."""
    rabbit = d.deployment.rabbitmq
    assert rabbit is not None
    with d.start():
        back = _during(d, rabbit.kill, rabbit.start, d.profile.outage_seconds)
        return _no_attempt_lost(d.finish(back))


def broker_closes_connections(d: Drill) -> Outcome:
    """``rabbitmqctl close_all_connections``, ``kills`` times, while letters are read."""
    rabbit = d.deployment.rabbitmq
    assert rabbit is not None
    with d.start():
        d.drop(d.profile.letters)
        last = time.time()
        for _ in range(d.profile.kills):
            d.wait_for(S.PROCESSING, 60)
            rabbit.close_all_connections()
            last = time.time()
            time.sleep(3.0)
        return d.finish(last)


def database_outage(d: Drill) -> Outcome:
    """PostgreSQL crashes (``pg_ctl stop -m immediate``) and comes back."""
    pg = d.deployment.postgres
    assert pg is not None
    with d.start():
        back = _during(d, pg.kill, pg.start, d.profile.outage_seconds)
        return _no_attempt_lost(d.finish(back))


def s3_outage(d: Drill, seconds: float | None = None) -> Outcome:
    """The S3 server is killed and started again after ``seconds``."""
    s3 = d.deployment.s3
    assert s3 is not None
    with d.start():
        back = _during(d, s3.kill, s3.start, seconds or d.profile.outage_seconds)
        return _no_attempt_lost(d.finish(back))


def s3_long_outage(d: Drill) -> Outcome:
    """An S3 outage longer than all of a document's attempts together (5 minutes)."""
    return s3_outage(d, d.profile.long_outage_seconds)


def s3_frozen(d: Drill) -> Outcome:
    """The S3 server stops answering (``kill -STOP``); ``mailroom status`` meanwhile must
    answer within seconds and name the object store."""
    s3 = d.deployment.s3
    assert s3 is not None
    answers: list[str] = []

    def freeze() -> None:
        s3.freeze()
        time.sleep(3)
        code, text, seconds = run_cli(d.m, "status", timeout=120)
        named = "Objektspeicher nicht erreichbar" in text
        answers.append(f"status during the freeze: exit {code} after {seconds:.1f} s")
        if seconds > 10 or not named:
            answers.append(f"FAILED: status took {seconds:.1f} s, names the store: {named}")

    with d.start():
        back = _during(d, freeze, s3.thaw, d.profile.outage_seconds)
        outcome = d.finish(back)
    outcome.notes[:0] = answers
    outcome.failures += [a for a in answers if a.startswith("FAILED")]
    return outcome


def started_during_outage(d: Drill) -> Outcome:
    """``mailroom up``, ``mailroom worker`` and ``mailroom watch`` started while the
    database is down wait for it (no crash loop) and work once it is back."""
    pg = d.deployment.postgres
    assert pg is not None
    try:
        with d.start(wait=False, before=pg.kill) as m:
            extra = {c: _start_alone(m, c) for c in ("worker", "watch")}
            time.sleep(d.profile.outage_seconds)
            exited = [c for c, p in extra.items() if p.poll() is not None]
            pg.start()
            back = time.time()
            m.wait_ready()
            d.drop(d.profile.letters)
            outcome = d.finish(back)
            for p in extra.values():
                p.terminate()
                p.wait(60)
    finally:
        if not (pg.data / "postmaster.pid").exists():
            pg.start()
    if exited:
        outcome.failures.append(f"exited during the outage: {exited}")
    outcome.notes.insert(0, "up, worker and watch started with the database down")
    return outcome


def _start_alone(m: Mailroom, command: str) -> subprocess.Popen[bytes]:
    log = (m.log_path.parent / f"{command}.log").open("ab")
    import sys

    from benchmarks.drills.stack import ROOT

    return subprocess.Popen(
        [sys.executable, "-m", "mailroom", command], env=m.env, cwd=ROOT,
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


# --- the local disk (needs root: mount) ------------------------------------------------


def disk_full(d: Drill) -> Outcome:
    """The data folder's disk runs full while letters are processed; space comes back
    after the outage. A 256 MB tmpfs: the letters and their copies fit, a filler file
    takes the rest."""
    if os.geteuid() != 0:
        return _skipped(d, "needs root to mount a small tmpfs")
    mount = d.deployment.work / f"{d.tag}-tmpfs"
    mount.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(mount)], check=True)
    filler = mount / "filler"
    try:
        with d.start({"data_dir": str(mount / "data")}):
            # The hot folder is on the full disk too: the scanner cannot write meanwhile.
            back = _during(d, lambda: _fill(filler), lambda: filler.unlink(),
                           d.profile.outage_seconds, drop_during=False)  # fmt: skip
            return d.finish(back)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(path: Path) -> None:
    with path.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * (1 << 20))
                out.flush()
        except OSError:
            pass


def processed_read_only(d: Drill) -> Outcome:
    """The hot folder's ``processed/`` is read-only (a bind mount) for the outage."""
    if os.geteuid() != 0:
        return _skipped(d, "needs root for a read-only bind mount")
    with d.start():
        processed = d.m.hot_folder / "processed"
        processed.mkdir(parents=True, exist_ok=True)

        def read_only() -> None:
            subprocess.run(["mount", "--bind", str(processed), str(processed)], check=True)
            subprocess.run(["mount", "-o", "remount,bind,ro", str(processed)], check=True)

        try:
            back = _during(d, read_only, lambda: _umount(processed), d.profile.outage_seconds)
        finally:
            _umount(processed)
        return d.finish(back)


def _umount(path: Path) -> None:
    subprocess.run(["umount", str(path)], check=False, capture_output=True)


def _skipped(d: Drill, why: str) -> Outcome:
    outcome = Outcome(d.name, d.deployment.kind)
    outcome.failures.append(f"not run: {why}")
    return outcome
