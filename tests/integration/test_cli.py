"""The command line as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailroom.cli.common import hoist_global_options
from tests.conftest import FILE_PLAN
from tests.letters import CASE_REF, case_csv, two_page_letter


def mailroom(data: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}
    env.update(MAILROOM_DATA_DIR=str(data), OMP_THREAD_LIMIT="1")
    return subprocess.run(
        [sys.executable, "-m", "mailroom", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_global_options_may_stand_anywhere() -> None:
    assert hoist_global_options(["process", "a.pdf", "--file-plan", "p.yaml", "--json"]) == [
        "--file-plan",
        "p.yaml",
        "process",
        "a.pdf",
        "--json",
    ]
    assert hoist_global_options(["status", "--data-dir=/x"]) == ["--data-dir", "/x", "status"]


def test_fileplan_validate_reports_line_numbers_and_exit_code(tmp_path: Path) -> None:
    ok = mailroom(tmp_path, "fileplan", "validate", str(FILE_PLAN))
    assert ok.returncode == 0 and "gültig" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "departments: [{id: '1', name: A}]\nunits:\n  - code: '1.1'\n    title: T\n"
        "    department: '1'\n    retention_years: -3\n    disposal: V\n"
    )
    out = mailroom(tmp_path, "fileplan", "validate", str(bad))
    assert out.returncode == 2
    assert f"{bad}:6: units.0.retention_years" in out.stderr.replace("\n", "")


def test_every_command_accepts_file_plan(tmp_path: Path) -> None:
    out = mailroom(tmp_path, "status", "--json", "--file-plan", str(tmp_path / "missing.yaml"))
    assert out.returncode == 2 and "missing.yaml" in out.stderr


@pytest.mark.slow
def test_process_prints_one_json_object_per_document(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert mailroom(data, "cases", "import", str(case_csv(tmp_path / "c.csv"))).returncode == 0
    letter = two_page_letter(tmp_path / "brief.tif")
    empty = tmp_path / "leer.png"
    empty.write_bytes(b"")
    out = mailroom(data, "process", str(letter), str(empty), "--json")
    assert out.returncode == 4, out.stderr  # one file was bad input
    first, second = (json.loads(line) for line in out.stdout.splitlines())
    assert set(first) >= {
        "file",
        "document_id",
        "pages",
        "text",
        "department",
        "unit",
        "case",
        "confidence",
        "decision",
        "alternatives",
        "objects",
        "handwritten",
        "blank_pages",
        "page_details",
    }
    assert first["file"] == str(letter) and first["pages"] == 2
    assert first["handwritten"] is None and first["blank_pages"] == []
    details = first["page_details"]
    assert [p["number"] for p in details] == [1, 2]
    assert set(details[0]) >= {
        "rotation", "skew", "confidence", "blank", "orientation_check", "second_pass",
        "handwritten", "layout",
    }  # fmt: skip
    assert details[0]["confidence"] > 50 and details[0]["blank"] is False
    blocks = details[0]["layout"]
    assert any(block["kind"] == "address" and len(block["box"]) == 4 for block in blocks)
    assert first["case"] == CASE_REF and first["decision"] == "auto"
    assert "Elterngeld" in first["text"]
    assert set(first["objects"]) == {"original", "pdf", "text", "metadata", "pages", "words"}
    assert second["state"] == "quarantined" and second["reason"]
    assert letter.exists()  # process leaves the file where it is


@pytest.mark.slow
def test_demo_scans_letters_and_processes_them(tmp_path: Path) -> None:
    data = tmp_path / "data"
    out = mailroom(data, "demo", "--count", "3", "--workers", "2", "--seed", "5")
    assert out.returncode == 0, out.stderr[-3000:]
    status = json.loads(mailroom(data, "status", "--json").stdout)
    finished = {k: v for k, v in status["states"].items() if k in ("routed", "review")}
    assert sum(finished.values()) == 3, status
    assert not list((data / "scanlines" / "scan-1").glob("*.png"))  # all taken in


@pytest.mark.slow
def test_up_runs_everything_until_idle(tmp_path: Path) -> None:
    data = tmp_path / "data"
    out = mailroom(
        data, "up", "--demo", "--no-web", "--no-live", "--workers", "1", "--exit-when-idle"
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Erste Anmeldung: Benutzer 'admin'" in out.stderr
    assert (data / "initial-admin-password.txt").exists()
    status = json.loads(mailroom(data, "status", "--json").stdout)
    assert sum(v for k, v in status["states"].items() if k in ("routed", "review")) == 6
