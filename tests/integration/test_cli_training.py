"""``mailroom train`` and ``mailroom evaluate`` on a labelled folder from a DMS, as a user runs
them: transcribed ``.txt`` files plus a real scan that goes through the pipeline's OCR."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from mailroom.demo.letters import generate_letters
from mailroom.infra.db.models import ModelVersion, TrainingSample
from mailroom.runtime.context import AppContext
from tests.conftest import make_settings
from tests.helpers_routing import fileplan
from tests.integration.test_cli import mailroom
from tests.letters import CASE_REF, CASE_UNIT, two_page_letter

UNITS = ["209.10", "209.20", "403.10", "403.20", "105.10", "302.20"]


def labelled_folder(root: Path) -> tuple[Path, Path]:
    """30 transcribed letters and one scanned TIFF, listed in a ``file,unit,case`` CSV."""
    folder = root / "dms"
    folder.mkdir()
    rows = ["file,unit,case"]
    for i, letter in enumerate(generate_letters(fileplan(), 30, seed=3, units=UNITS)):
        (folder / f"brief-{i:02d}.txt").write_text(letter.text, encoding="utf-8")
        rows.append(f"brief-{i:02d}.txt,{letter.unit_code},")
    two_page_letter(folder / "scan.tif")
    rows.append(f"scan.tif,{CASE_UNIT},{CASE_REF}")
    labels = root / "labels.csv"
    labels.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder, labels


@pytest.mark.slow
def test_train_imports_a_labelled_folder_with_scans_and_evaluate_measures_it(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    folder, labels = labelled_folder(tmp_path)
    trained = mailroom(data, "train", str(folder), "--labels", str(labels), "--promote")
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "31 Dokumente als Trainingsbeispiele übernommen." in trained.stdout
    assert "ist jetzt aktiv" in trained.stdout
    ctx = AppContext.from_settings(make_settings(data))
    try:
        with ctx.db.session() as session:
            scan = session.scalars(select(TrainingSample).filter_by(source="scan.tif")).one()
            assert "Elterngeld" in scan.text and scan.case_ref == CASE_REF
            version = session.scalars(select(ModelVersion.version).filter_by(status="active")).one()
    finally:
        ctx.close()
    out = mailroom(data, "evaluate", str(folder), "--labels", str(labels), "--json")
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = json.loads(out.stdout)
    assert metrics["model"] == version and metrics["n"] == 31
    assert metrics["unit_accuracy"] > 0.5


def test_a_label_list_naming_an_unknown_unit_is_refused_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Antrag auf Elterngeld", encoding="utf-8")
    labels = tmp_path / "labels.csv"
    labels.write_text("file,unit\na.txt,999.99\n", encoding="utf-8")
    out = mailroom(tmp_path / "data", "train", str(tmp_path), "--labels", str(labels))
    assert out.returncode == 4  # bad input
    assert f"{labels}:2: unit '999.99' is not in the file plan" in out.stderr.replace("\n", "")
