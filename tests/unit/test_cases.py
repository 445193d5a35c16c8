from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from classifiers.cases import CaseIndex, OpenCase
from classifiers.extract import extract
from mailroom.core.errors import BadInputError
from mailroom.infra.db.models import Case
from mailroom.services.cases import import_cases_csv, load_case_index
from tests.helpers_routing import CASES_CSV, ELTERNGELD_LETTER, fileplan, temp_db


def _match(index: CaseIndex, ref: str):
    return index.match(extract(ELTERNGELD_LETTER.format(ref=ref), fileplan()))


def test_import_is_idempotent_and_cases_are_matched_from_the_database(tmp_path):
    db = temp_db(tmp_path)
    with db.session() as session:
        first = import_cases_csv(session, CASES_CSV, fileplan())
    with db.session() as session:
        again = import_cases_csv(session, CASES_CSV, fileplan())
        count = session.scalar(select(func.count()).select_from(Case))
        index = load_case_index(session)
    assert first == again == count == 31
    match = _match(index, "2O9.1O-O457/24")  # OCR confusions and a two-digit year
    assert match.case is not None and match.case.aktenzeichen == "209.10-0457/2024"
    assert match.case.how == "exact" and match.case.name_confirmed
    assert match.case.unit_code == "209.10"


def test_import_names_the_bad_lines(tmp_path: Path):
    bad = tmp_path / "cases.csv"
    bad.write_text("aktenzeichen,unit,subject\n209.10-1/24,209.10,ok\n,209.10,x\n1-2/24,999.99,y\n")
    db = temp_db(tmp_path)
    with pytest.raises(BadInputError) as err, db.session() as session:
        import_cases_csv(session, bad, fileplan())
    message = str(err.value)
    assert "cases.csv:3: empty aktenzeichen" in message
    assert "cases.csv:4: unit '999.99' is not in the file plan" in message


def test_one_typo_matches_tolerantly_only_when_one_case_fits():
    index = CaseIndex.from_cases(
        [
            OpenCase(1, "209.10-0457/2024", "209.10", ("Anna Schneider",)),
            OpenCase(2, "209.20-1182/2023", "209.20"),
        ]
    )
    match = _match(index, "209.10-0475/2024")  # transposed digits: distance 2, no match
    assert match.case is None and not match.candidates
    match = _match(index, "209.10-0458/2024")
    assert match.case is not None and match.case.case_id == 1
    assert match.case.how == "tolerant" and match.case.name_confirmed


def test_ambiguous_reference_attaches_no_case_and_lists_candidates():
    index = CaseIndex.from_cases(
        [OpenCase(1, "209.10-0457/2024", "209.10"), OpenCase(2, "209.10-0459/2024", "209.10")]
    )
    match = _match(index, "209.10-0458/2024")  # one step from both
    assert match.case is None
    assert match.ambiguous
    assert {c.case_id for c in match.candidates} == {1, 2}
