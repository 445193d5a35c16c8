"""End to end with real processes: watcher and workers, a letter in the hot folder, results.

Runs once embedded (SQLite, filesystem queue and store) and once on the production
services (PostgreSQL, RabbitMQ, S3), where a worker is also killed mid-document.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from config.settings import Settings
from mailroom.core import states
from mailroom.infra.db import models
from mailroom.infra.objects import open_object_store
from tests.audit_trail import assert_state_chain
from tests.letters import CASE_REF, CASE_UNIT, case_csv, two_page_letter

pytestmark = [pytest.mark.slow]

EXPECTED_METADATA = {
    "schema",
    "Identifikation",
    "Betreff",
    "Kennzeichen",
    "Aktenplaneinheit",
    "Federfuehrung",
    "Vorgang",
    "Posteingangsdatum",
    "DatumDesSchreibens",
    "Absender",
    "Empfaenger",
    "Medium",
    "Aufbewahrungsdauer",
    "Aussonderungsart",
    "Primaerdokument",
    "Scanstrasse",
    "Stapel",
    "Seitenzahl",
    "LeereSeiten",
    "Seitenlayout",
    "Seiten",
    "Handschrift",
    "OCR",
    "Referenzen",
    "Klassifikation",
    "Objekte",
}


class Mailroom:
    """Runs ``python -m mailroom ...`` processes with one environment."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mailroom", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{args[0]}-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "mailroom", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    def dump_logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.logs.glob("*.log"))
        )


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}
    env.update(
        MAILROOM_DATA_DIR=str(data_dir),
        MAILROOM_INTAKE_STABLE_SECONDS="0.5",
        MAILROOM_INTAKE_POLL_SECONDS="0.3",
        MAILROOM_SWEEP_INTERVAL_SECONDS="2",
        MAILROOM_LEASE_SECONDS="20",
        OMP_THREAD_LIMIT="1",
        **extra,
    )
    return env


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path


def _drop(path: Path, folder: Path) -> Path:
    """Copy like capture software does: write under a temporary name, then rename."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{path.name}.part"
    tmp.write_bytes(path.read_bytes())
    target = folder / path.name
    tmp.replace(target)
    return target


def _wait_for(
    engine_url: str, predicate: Callable[[Session], Any], timeout: float, mr: Mailroom
) -> Any:
    engine = create_engine(engine_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with Session(engine) as session:
                found = predicate(session)
                if found:
                    return found
            for proc in mr.procs:
                if proc.poll() not in (None, -signal.SIGKILL):
                    pytest.fail(f"a mailroom process exited ({proc.returncode}):\n{mr.dump_logs()}")
            time.sleep(0.5)
    finally:
        engine.dispose()
    pytest.fail(f"timed out after {timeout} s\n{mr.dump_logs()}")


def _doc_in(states: tuple[str, ...], name: str) -> Callable[[Session], Any]:
    def check(session: Session) -> Any:
        return session.scalar(
            select(models.Document).where(
                models.Document.source_name == name, models.Document.state.in_(states)
            )
        )

    return check


def _check_result(session_url: str, settings: Settings, name: str) -> None:
    engine = create_engine(session_url)
    with Session(engine) as session:
        doc = session.scalar(select(models.Document).where(models.Document.source_name == name))
        assert doc is not None
        assert doc.state == states.DocumentState.ROUTED, doc.state_reason
        assert doc.page_count == 2
        assert doc.case is not None and doc.case.aktenzeichen == CASE_REF
        assert doc.unit_code == CASE_UNIT
        assert [p.number for p in doc.pages] == [1, 2]
        assert "Geburtsurkunde" in str(doc.text) and "Bankverbindung" in str(doc.text)
        objects = doc.objects
        assert objects is not None
        doc_id, sha = doc.id, doc.sha256
        # One entry per state change, chained; "queued" is missing if a worker claimed the
        # document before the intake recorded the publish (see mailroom.lifecycle).
        trail = assert_state_chain(session, doc.id)
    engine.dispose()
    assert trail[0] == "received" and trail[-1] == "routed"
    store = open_object_store(settings)
    meta = json.loads(store.get(objects["metadata"]))
    assert set(meta) == EXPECTED_METADATA
    assert meta["Identifikation"]["ID"] == doc_id
    assert "Elterngeld" in meta["Betreff"]
    assert meta["Kennzeichen"] == CASE_REF
    assert (
        meta["Aktenplaneinheit"]["Kennzeichen"] == CASE_UNIT and meta["Aktenplaneinheit"]["Titel"]
    )
    assert meta["Federfuehrung"]["ID"] == "209"
    assert meta["Vorgang"]["Aktenzeichen"] == CASE_REF
    assert meta["Posteingangsdatum"][:4] == str(time.gmtime().tm_year)
    assert meta["DatumDesSchreibens"] == "2024-03-12"
    assert "Anna Schneider" in meta["Absender"]
    assert "Elterngeld und Unterhalt" in meta["Empfaenger"]
    assert meta["Medium"]["Code"] == "001"
    assert isinstance(meta["Aufbewahrungsdauer"], int)
    assert meta["Aussonderungsart"]["Code"] in ("A", "B", "V")
    assert meta["Primaerdokument"] == {
        "Dateiname": name,
        "SHA256": sha,
        "MIMEType": "image/tiff",
        "Groesse": meta["Primaerdokument"]["Groesse"],
    }
    assert meta["Scanstrasse"]["ID"] == "scan-1" and meta["Stapel"]["ID"]
    assert meta["Seitenzahl"] == 2 and meta["LeereSeiten"] == []
    assert meta["OCR"]["Engine"].startswith("tesseract") and meta["OCR"]["Sprache"] == "deu"
    assert meta["OCR"]["MittlereKonfidenz"] > 70
    k = meta["Klassifikation"]
    assert k["Klassifikatorversion"] and k["Entscheidung"] == "auto" and k["Konfidenz"] >= 0.9
    assert isinstance(k["Alternativen"], list)
    for key in [objects["original"], objects["pdf"], objects["text"], *objects["pages"]]:
        assert store.exists(key), key
    assert store.stat(objects["pdf"]).metadata["case"] == CASE_REF
    assert store.stat(objects["metadata"]).metadata["department"] == "209"


@pytest.fixture
def embedded(tmp_path: Path, logs: Path) -> Iterator[tuple[Mailroom, Settings]]:
    data = tmp_path / "data"
    mr = Mailroom(_env(data), logs)
    yield mr, Settings(data_dir=data)
    mr.stop()


def test_embedded_letter_from_hot_folder_to_stored_result(
    embedded: tuple[Mailroom, Settings], tmp_path: Path
) -> None:
    mr, settings = embedded
    assert mr.run("db", "upgrade").returncode == 0
    out = mr.run("cases", "import", str(case_csv(tmp_path / "cases.csv")))
    assert out.returncode == 0, out.stderr
    mr.start("watch")
    mr.start("worker")
    mr.start("worker")
    hot = settings.hot_folder_root() / "scan-1"
    letter = _drop(two_page_letter(tmp_path / "antrag-elterngeld.tif"), hot)
    corrupt = tmp_path / "kaputt.pdf"
    corrupt.write_bytes(b"%PDF-1.4\n this is not really a PDF")
    _drop(corrupt, hot)

    _wait_for(settings.db_url, _doc_in(("routed", "review", "failed"), letter.name), 180, mr)
    _check_result(settings.db_url, settings, letter.name)
    assert list((hot / "processed").rglob(letter.name))
    quarantined = _wait_for(settings.db_url, _doc_in(("quarantined",), "kaputt.pdf"), 60, mr)
    assert quarantined.state_reason
    assert list((hot / "quarantine").rglob("kaputt.pdf*"))
    status = mr.run("status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["states"]["routed"] == 1
    assert all(p.poll() is None for p in mr.procs), mr.dump_logs()


@pytest.mark.integration
def test_production_services_survive_a_worker_killed_mid_document(
    production_settings: Settings, tmp_path: Path, logs: Path
) -> None:
    s = production_settings
    assert s.s3_secret_key is not None
    mr = Mailroom(
        _env(
            s.data_dir,
            MAILROOM_DATABASE_URL=s.db_url,
            MAILROOM_BROKER_URL=s.queue_url,
            MAILROOM_QUEUE_NAME=s.queue_name,
            MAILROOM_S3_ENDPOINT=s.s3_endpoint or "",
            MAILROOM_S3_ACCESS_KEY=s.s3_access_key or "",
            MAILROOM_S3_SECRET_KEY=s.s3_secret_key.get_secret_value(),
            MAILROOM_S3_BUCKET=s.s3_bucket,
        ),
        logs,
    )
    try:
        assert mr.run("db", "upgrade").returncode == 0
        assert mr.run("cases", "import", str(case_csv(tmp_path / "cases.csv"))).returncode == 0
        mr.start("watch")
        victim = mr.start("worker", "--name", "victim")
        hot = s.hot_folder_root() / "scan-1"
        letter = _drop(two_page_letter(tmp_path / "elterngeld-nachweise.tif"), hot)
        _wait_for(s.db_url, _doc_in(("processing",), letter.name), 120, mr)
        victim.send_signal(signal.SIGKILL)  # the worker dies holding the unacked message
        victim.wait()
        mr.start("worker", "--name", "rescuer")
        _wait_for(s.db_url, _doc_in(("routed", "review", "failed"), letter.name), 180, mr)
        _check_result(s.db_url, s, letter.name)
    finally:
        mr.stop()
