"""Shared helpers of the routing tests: the shipped file plan, a temporary database."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from config.fileplan import FilePlan, load_file_plan
from mailroom.infra.db.database import Database
from mailroom.infra.objects import FilesystemObjectStore

ROOT = Path(__file__).resolve().parent.parent
FILE_PLAN = ROOT / "config" / "fileplan.yaml"
CASES_CSV = ROOT / "config" / "cases.example.csv"


@lru_cache(maxsize=1)
def fileplan() -> FilePlan:
    return load_file_plan(FILE_PLAN)


def temp_db(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path}/t.db")
    db.upgrade()
    return db


def temp_store(tmp_path: Path) -> FilesystemObjectStore:
    return FilesystemObjectStore(tmp_path / "objects")


ELTERNGELD_LETTER = """Anna Schneider
Kohlstraße 12
42103 Wuppertal

Stadt Wuppertal
An das Jugendamt
Johannes-Rau-Platz 1
42275 Wuppertal

Wuppertal, 12. März 2024

Betreff: Elterngeld für meine Tochter Mia, Ihr Zeichen: {ref}

Sehr geehrte Damen und Herren,

unsere Tochter Mia wurde am 02.01.2024 geboren. Anbei reiche ich die Gehaltsnachweise
der letzten zwölf Monate vor der Geburt für den Antrag auf Elterngeld nach. Mein Mann
nimmt zwei Lebensmonate Elternzeit, wir beantragen auch ElterngeldPlus.

Mit freundlichen Grüßen

Anna Schneider
"""
