"""Verwaltung: file plan import, users, thresholds and the model versions page."""

from __future__ import annotations

import html
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from classifiers.extract import extract
from config.fileplan import load_file_plan
from mailroom.core.domain import CaseMatch
from mailroom.core.errors import ConfigurationError
from mailroom.infra.db.models import Department, FilePlanUnit, ModelVersion
from mailroom.runtime.context import AppContext
from mailroom.web.app import create_app
from mailroom.web.rendering import format_percent
from tests.conftest import FILE_PLAN, make_settings
from tests.helpers_routing import ELTERNGELD_LETTER
from tests.model_helpers import activate_model
from tests.web_helpers import PASSWORD, login, seed_training_samples, seed_users


@pytest.fixture
def admin_ctx(tmp_path: Path) -> Iterator[AppContext]:
    plan = tmp_path / "fileplan.yaml"
    shutil.copy(FILE_PLAN, plan)
    ctx = AppContext.from_settings(make_settings(tmp_path / "data", file_plan=plan))
    seed_users(ctx)
    yield ctx
    ctx.close()


@pytest.fixture
def admin(admin_ctx: AppContext) -> tuple[TestClient, str]:
    client = TestClient(create_app(admin_ctx))
    return client, login(client, "admin")


def test_invalid_file_plan_is_refused_with_the_cli_error(
    admin: tuple[TestClient, str], admin_ctx: AppContext, tmp_path: Path
):
    client, token = admin
    data = yaml.safe_load(FILE_PLAN.read_text(encoding="utf-8"))
    data["units"][1]["department"] = "999"
    bad = yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode()
    expected_file = tmp_path / "neu.yaml"
    expected_file.write_bytes(bad)
    with pytest.raises(ConfigurationError) as cli_error:
        load_file_plan(expected_file)
    response = client.post(
        "/verwaltung/aktenplan",
        data={"csrf_token": token},
        files={"file": ("neu.yaml", bad, "application/yaml")},
    )
    assert response.status_code == 422
    shown = html.unescape(response.text)
    assert cli_error.value.message.replace(str(expected_file), "neu.yaml") in shown
    assert "line" in shown and "'999'" in shown
    assert FILE_PLAN.read_bytes() == admin_ctx.settings.file_plan_path.read_bytes()  # unchanged


def test_valid_file_plan_import_replaces_units(
    admin: tuple[TestClient, str], admin_ctx: AppContext
):
    client, token = admin
    data = yaml.safe_load(FILE_PLAN.read_text(encoding="utf-8"))
    data["units"].append(
        {
            "code": "402.99",
            "title": "Künstliche Intelligenz",
            "department": "402",
            "retention_years": 10,
            "disposal": "B",
        }
    )
    new = yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode()
    response = client.post(
        "/verwaltung/aktenplan",
        data={"csrf_token": token},
        files={"file": ("fileplan.yaml", new, "application/yaml")},
    )
    assert response.status_code == 200
    assert "Aktenplan importiert" in response.text and "402.99" in response.text
    with admin_ctx.db.session() as session:
        assert session.get(FilePlanUnit, "402.99") is not None
    assert "402.99" in admin_ctx.settings.file_plan_path.read_text(encoding="utf-8")
    assert admin_ctx.fileplan.unit("402.99").title == "Künstliche Intelligenz"


def test_admin_sets_a_department_threshold(admin: tuple[TestClient, str], admin_ctx: AppContext):
    client, token = admin
    client.post("/verwaltung/schwellen/402", data={"csrf_token": token, "threshold": "92 %"})
    bad = client.post("/verwaltung/schwellen/402", data={"csrf_token": token, "threshold": "x"})
    assert "Ungültiger Schwellenwert" in bad.text
    with admin_ctx.db.session() as session:
        dept = session.get(Department, "402")
        assert dept is not None and dept.admin_threshold == pytest.approx(0.92)
    client.post("/verwaltung/schwellen/402", data={"csrf_token": token, "threshold": ""})
    with admin_ctx.db.session() as session:
        dept = session.get(Department, "402")
        assert dept is not None and dept.admin_threshold is None


def threshold_row(page: str, department_id: str) -> str:
    """The thresholds page's table row of one department, as text."""
    start = page.index(f'<tr data-department="{department_id}"')
    return html.unescape(page[start : page.index("</tr>", start)])


@pytest.fixture
def strict_209(tmp_path: Path) -> Iterator[AppContext]:
    """The shipped file plan, with a YAML threshold of 100 % for department 209."""
    data = yaml.safe_load(FILE_PLAN.read_text(encoding="utf-8"))
    for dept in data["departments"]:
        if dept["id"] == "209":
            dept["auto_threshold"] = 1.0
    plan = tmp_path / "fileplan.yaml"
    plan.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    ctx = AppContext.from_settings(make_settings(tmp_path / "data", file_plan=plan))
    seed_users(ctx)
    yield ctx
    ctx.close()


def test_the_admins_threshold_wins_in_routing_and_clearing_falls_back_to_the_file_plan(
    strict_209: AppContext,
):
    client = TestClient(create_app(strict_209))
    token = login(client, "admin")
    text = ELTERNGELD_LETTER.format(ref="keins")
    extraction = extract(text, strict_209.fileplan)

    def decision() -> str:
        return strict_209.registry.router().route(text, extraction, CaseMatch()).decision

    assert decision() == "review"  # 100 % from the YAML
    client.post("/verwaltung/schwellen/209", data={"csrf_token": token, "threshold": "0,05"})
    assert decision() == "auto"
    row = threshold_row(client.get("/verwaltung/schwellen").text, "209")
    assert 'data-source="admin"' in row and "Verwaltung" in row and "5 %" in row
    assert 'value="0.05"' in row and "Zurücksetzen" in row
    cleared = client.post("/verwaltung/schwellen/209", data={"csrf_token": token, "threshold": ""})
    assert "zurückgesetzt" in cleared.text
    assert decision() == "review"
    row = threshold_row(cleared.text, "209")
    assert 'data-source="fileplan"' in row and "Aktenplan (YAML)" in row and "100 %" in row
    assert 'value=""' in row and "Zurücksetzen" not in row


def test_the_thresholds_page_names_every_source(strict_209: AppContext):
    client = TestClient(create_app(strict_209))
    token = login(client, "admin")
    page = client.get("/verwaltung/schwellen").text
    default = format_percent(strict_209.settings.default_auto_threshold)
    assert "Standard" in threshold_row(page, "402") and default in threshold_row(page, "402")
    activate_model(strict_209, "v3", {"402": 0.91, "*": 0.88})
    client.post("/verwaltung/schwellen/304", data={"csrf_token": token, "threshold": "0.95"})
    page = client.get("/verwaltung/schwellen").text
    rows = {dept: threshold_row(page, dept) for dept in ("209", "402", "304")}
    assert "Aktenplan (YAML)" in rows["209"] and "100 %" in rows["209"]
    assert "gemessen (Modell v3)" in rows["402"] and "91 %" in rows["402"]
    assert "Verwaltung" in rows["304"] and "95 %" in rows["304"]
    others = [d.id for d in strict_209.fileplan.departments if d.id not in rows]
    assert others and all("gemessen (Modell v3)" in threshold_row(page, d) for d in others)


def test_admin_adds_a_clerk_with_generated_password(
    admin: tuple[TestClient, str], admin_ctx: AppContext
):
    client, token = admin
    page = client.post(
        "/verwaltung/benutzer",
        data={
            "csrf_token": token,
            "username": "neu",
            "role": "clerk",
            "departments": ["402", "304"],
        },
    )
    assert "Erstpasswort (nur jetzt sichtbar)" in page.text
    password = page.text.split("Erstpasswort (nur jetzt sichtbar): ")[1].split("<")[0].strip()
    fresh = TestClient(create_app(admin_ctx))
    login(fresh, "neu", password)
    assert fresh.get("/posteingang").status_code == 200
    refused = client.post(
        "/verwaltung/benutzer",
        data={"csrf_token": token, "username": "ohne", "role": "clerk", "password": PASSWORD},
    )
    assert "at least one department" in refused.text


def test_models_page_compares_versions_and_serves_plots(
    admin: tuple[TestClient, str], admin_ctx: AppContext
):
    client, _ = admin
    admin_ctx.store.put("models/v2/plot.png", b"\x89PNG\r\n\x1a\nfake", "image/png")
    with admin_ctx.db.session() as session:
        session.add_all(
            [
                ModelVersion(
                    version="v1",
                    status="active",
                    format_version=1,
                    training_size=100,
                    metrics={"accuracy": 0.81, "macro_f1": 0.7},
                ),
                ModelVersion(
                    version="v2",
                    status="candidate",
                    format_version=1,
                    training_size=150,
                    metrics={"accuracy": 0.88, "macro_f1": 0.79},
                    plot_key="models/v2/plot.png",
                ),
            ]
        )
    page = client.get("/verwaltung/modelle")
    assert "0.810" in page.text and "0.880" in page.text
    assert page.text.count('class="promote"') == 1  # only the candidate can be promoted
    plot = client.get("/verwaltung/modelle/v2/plot.png")
    assert plot.headers["content-type"] == "image/png"
    assert client.get("/verwaltung/modelle/v1/plot.png").status_code == 404
    with admin_ctx.db.session() as session:
        assert session.scalars(select(ModelVersion)).all()


def test_model_api_trains_in_background_then_promotes(
    admin: tuple[TestClient, str], admin_ctx: AppContext
):
    client, _ = admin
    seed_training_samples(admin_ctx)
    token = client.post("/api/token", json={"username": "admin", "password": PASSWORD}).json()
    api = TestClient(client.app, headers={"Authorization": f"Bearer {token['access_token']}"})
    started = api.post("/api/models/train")
    assert started.status_code == 200 and started.json()["kind"] == "train"
    client.app.state.jobs.wait(timeout=120)  # type: ignore[attr-defined]
    [job] = api.get("/api/jobs").json()
    assert job["status"] == "fertig", job
    [model] = api.get("/api/models").json()
    assert model["status"] == "candidate" and model["has_plot"]
    assert api.post("/api/models/promote", params={"version": model["version"]}).status_code == 200
    assert api.get("/api/models").json()[0]["status"] == "active"
    no_predecessor = api.post("/api/models/rollback")
    assert no_predecessor.status_code == 409
    assert "no predecessor" in no_predecessor.json()["detail"]


def test_an_imported_file_plan_goes_to_the_data_dir_and_reaches_other_processes(
    tmp_path: Path,
) -> None:
    """Without MAILROOM_FILE_PLAN the shipped plan is only the default: an import is written
    to the data dir (never into the installed package), and another process (a worker)
    routes by it from its next document on."""
    shipped = FILE_PLAN.read_bytes()
    web_ctx = AppContext.from_settings(make_settings(tmp_path / "data"))
    worker_ctx = AppContext.from_settings(make_settings(tmp_path / "data"))
    seed_users(web_ctx)
    try:
        assert web_ctx.settings.file_plan_path == FILE_PLAN
        client = TestClient(create_app(web_ctx))
        token = login(client, "admin")
        data = yaml.safe_load(FILE_PLAN.read_text(encoding="utf-8"))
        data["departments"][0]["auto_threshold"] = 0.77
        dept_id = data["departments"][0]["id"]
        new = yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode()
        response = client.post(
            "/verwaltung/aktenplan",
            data={"csrf_token": token},
            files={"file": ("fileplan.yaml", new, "application/yaml")},
        )
        assert response.status_code == 200
        assert FILE_PLAN.read_bytes() == shipped
        assert web_ctx.settings.file_plan_path == tmp_path / "data" / "fileplan.yaml"
        assert web_ctx.registry.router().threshold(dept_id) == pytest.approx(0.77)
        assert worker_ctx.registry.router().threshold(dept_id) != pytest.approx(0.77)
        assert worker_ctx.refresh_file_plan() is True
        assert worker_ctx.registry.router().threshold(dept_id) == pytest.approx(0.77)
        assert worker_ctx.refresh_file_plan() is False
    finally:
        web_ctx.close()
        worker_ctx.close()
