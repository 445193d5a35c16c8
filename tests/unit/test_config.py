"""Settings, file plan and scan-line configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.fileplan import load_file_plan
from config.settings import Settings, load_settings
from mailroom.core.errors import ConfigurationError
from tests.conftest import FILE_PLAN


def test_no_configuration_means_embedded(tmp_path: Path) -> None:
    s = load_settings(data_dir=tmp_path)
    assert s.embedded
    assert s.db_url.startswith("sqlite:///")
    assert s.queue_url == "filesystem://"
    assert s.s3_endpoint is None


def test_production_refuses_missing_services_and_default_secrets(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="MAILROOM_DATABASE_URL"):
        load_settings(environment="production", data_dir=tmp_path)
    with pytest.raises(ConfigurationError, match="default S3 credentials"):
        load_settings(
            environment="production",
            data_dir=tmp_path,
            database_url="postgresql+psycopg://x@db/m",
            broker_url="amqp://x@mq//",
            s3_endpoint="minio:9000",
            s3_access_key="minioadmin",
            s3_secret_key="minioadmin",
            secret_key="k" * 40,
        )


def test_environment_variables_configure_services(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILROOM_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("MAILROOM_BROKER_URL", "amqp://u:p@h:5672//")
    s = Settings()
    assert not s.embedded and s.uses_amqp and s.db_url.startswith("postgresql")


def test_shipped_file_plan_is_a_realistic_city_plan() -> None:
    plan = load_file_plan(FILE_PLAN)
    assert len(plan.departments) >= 15
    assert len(plan.units) >= 40
    for unit in plan.units:
        assert unit.description and unit.keywords, unit.code
        assert unit.department in plan.departments_by_id


def test_file_plan_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "plan.yaml"
    bad.write_text(
        "version: 1\n"
        "departments:\n"
        "  - id: '402'\n"
        "    name: IT\n"
        "units:\n"
        "  - code: '402.1'\n"
        "    title: Digitalisierung\n"
        "    department: '402'\n"
        "    retention_years: 10\n"
        "    disposal: X\n"
        "    reference_patterns: ['([unclosed']\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError) as err:
        load_file_plan(bad)
    text = str(err.value)
    assert f"{bad}:10: units.0.disposal" in text
    assert f"{bad}:11: units.0.reference_patterns" in text


def test_file_plan_unknown_department_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "plan.yaml"
    bad.write_text(
        "departments: [{id: '1', name: A}]\n"
        "units: [{code: '2.1', title: T, department: '2', retention_years: 1, disposal: V}]\n"
    )
    with pytest.raises(ConfigurationError, match="names department '2'"):
        load_file_plan(bad)


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "plan.yaml"
    bad.write_text("departments:\n  - id: 1\n   name: [\n")
    with pytest.raises(ConfigurationError, match=r"plan.yaml:\d+: not valid YAML"):
        load_file_plan(bad)
