"""The open-case index: built once per process, rebuilt when cases change anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers.cases import CaseIndex, OpenCase
from classifiers.extract import extract
from mailroom.core.domain import CaseCandidate, PageOcr, PreparedPage
from mailroom.core.errors import Conflict
from mailroom.core.states import DocumentState as S
from mailroom.infra.db import models
from mailroom.runtime.context import AppContext
from mailroom.runtime.pipeline import match_case_stage
from mailroom.runtime.processor import DocumentProcessor, Outcome
from mailroom.runtime.registration import register_file
from mailroom.services import actions
from mailroom.services.cases import OpenCaseIndex, close_case, import_cases_csv
from mailroom.services.users import get_user
from tests.factories import make_document
from tests.helpers_routing import ELTERNGELD_LETTER, fileplan
from tests.letters import CASE_REF, PAGE_1, PAGE_2, case_csv, two_page_letter
from tests.web_helpers import seed_users

NEW_REF = "209.20-1182/2023"


class ScriptedEngine:
    """An OCR engine that reads every page as the scanned letter's known text."""

    name = "scripted"

    def recognize(self, page: PreparedPage) -> PageOcr:
        lines = PAGE_1 if page.number == 1 else PAGE_2
        return PageOcr(page.number, "\n".join(lines), 91.0, engine="scripted")


def attached(index: CaseIndex, ref: str) -> CaseCandidate | None:
    """The case a letter quoting ``ref`` is attached to, if any."""
    return index.match(extract(ELTERNGELD_LETTER.format(ref=ref), fileplan())).case


def matched(index: CaseIndex, ref: str) -> str | None:
    """The Aktenzeichen a letter quoting ``ref`` is attached to, if any."""
    case = attached(index, ref)
    return case.aktenzeichen if case is not None else None


def import_case(ctx: AppContext, path: Path, ref: str, unit: str) -> None:
    path.write_text(f"aktenzeichen,unit,subject\n{ref},{unit},Unterhaltsvorschuss\n")
    with ctx.db.session() as session:
        import_cases_csv(session, path, ctx.fileplan)


@pytest.fixture
def fresh(ctx: AppContext) -> OpenCaseIndex:
    """An index that asks the database on every call (recheck interval 0, no sleeping)."""
    return OpenCaseIndex(ctx.db, recheck_seconds=0)


def test_the_case_stage_matches_against_a_plain_index_without_a_database():
    index = CaseIndex.from_cases([OpenCase(3, CASE_REF, "209.10", ("Anna Schneider",))])
    extraction = extract(ELTERNGELD_LETTER.format(ref=CASE_REF), fileplan())
    match = match_case_stage(extraction, index)
    assert match.case is not None and match.case.case_id == 3


def test_the_worker_builds_the_index_once_for_many_documents(ctx: AppContext, tmp_path: Path):
    with ctx.db.session() as session:
        import_cases_csv(session, case_csv(tmp_path / "cases.csv"), ctx.fileplan)
    ctx.ocr = ScriptedEngine()
    docs = []
    for seed in range(3):
        doc = register_file(
            ctx,
            ctx.scan_lines[0],
            two_page_letter(tmp_path / f"brief-{seed}.tif", seed=seed),
            move=False,
            publish=False,
        )
        assert doc is not None
        docs.append(doc.id)
    processor = DocumentProcessor(ctx, "w1")
    assert [processor.handle(doc_id).outcome for doc_id in docs] == [Outcome.DONE] * 3
    with ctx.db.session() as session:
        for doc_id in docs:
            doc = session.get(models.Document, doc_id)
            assert doc is not None and doc.state == S.ROUTED
            assert doc.case is not None and doc.case.aktenzeichen == CASE_REF
    assert ctx.cases.builds == 1


def test_unchanged_cases_are_checked_but_not_rebuilt(
    ctx: AppContext, fresh: OpenCaseIndex, tmp_path: Path
):
    case_file = case_csv(tmp_path / "cases.csv")
    with ctx.db.session() as session:
        import_cases_csv(session, case_file, ctx.fileplan)
    first = fresh.current()
    with ctx.db.session() as session:  # the same file again changes nothing
        import_cases_csv(session, case_file, ctx.fileplan)
    assert [fresh.current() for _ in range(5)] == [first] * 5
    assert fresh.builds == 1


def test_an_imported_case_is_seen_by_the_next_check(
    ctx: AppContext, fresh: OpenCaseIndex, tmp_path: Path
):
    assert matched(fresh.current(), NEW_REF) is None
    import_case(ctx, tmp_path / "cases.csv", NEW_REF, "209.20")
    assert matched(fresh.current(), NEW_REF) == NEW_REF
    assert fresh.builds == 2


def test_a_changed_case_is_seen_by_the_next_check(
    ctx: AppContext, fresh: OpenCaseIndex, tmp_path: Path
):
    import_case(ctx, tmp_path / "cases.csv", NEW_REF, "209.20")
    case = attached(fresh.current(), NEW_REF)
    assert case is not None and case.unit_code == "209.20"
    import_case(ctx, tmp_path / "cases.csv", NEW_REF, "209.10")  # moved to another unit
    case = attached(fresh.current(), NEW_REF)
    assert case is not None and case.unit_code == "209.10"
    assert fresh.builds == 2


def test_a_case_opened_in_the_ui_is_seen_by_the_next_check(ctx: AppContext, fresh: OpenCaseIndex):
    seed_users(ctx)
    doc_id = make_document(ctx, department_id="209", state="review", confidence=0.4)
    assert matched(fresh.current(), NEW_REF) is None
    with ctx.db.session() as session:
        doc = session.get(models.Document, doc_id)
        assert doc is not None
        actions.open_case(
            session, get_user(session, "admin"), doc, aktenzeichen=NEW_REF, unit_code="209.20"
        )
    assert matched(fresh.current(), NEW_REF) == NEW_REF


def test_a_closed_case_is_no_longer_matched_after_the_next_check(
    ctx: AppContext, fresh: OpenCaseIndex, tmp_path: Path
):
    import_case(ctx, tmp_path / "cases.csv", NEW_REF, "209.20")
    assert matched(fresh.current(), NEW_REF) == NEW_REF
    with ctx.db.session() as session:
        close_case(session, NEW_REF, actor="admin")
    assert matched(fresh.current(), NEW_REF) is None
    with pytest.raises(Conflict), ctx.db.session() as session:
        close_case(session, NEW_REF, actor="admin")


def test_the_index_waits_for_the_recheck_interval(ctx: AppContext, tmp_path: Path):
    index = OpenCaseIndex(ctx.db, recheck_seconds=3600)
    assert matched(index.current(), NEW_REF) is None
    import_case(ctx, tmp_path / "cases.csv", NEW_REF, "209.20")
    assert matched(index.current(), NEW_REF) is None  # not asked again yet
    index.recheck_seconds = 0
    assert matched(index.current(), NEW_REF) == NEW_REF


def test_a_case_imported_by_another_process_is_seen(ctx: AppContext, tmp_path: Path):
    other = AppContext.from_settings(ctx.settings)  # e.g. `mailroom cases import` meanwhile
    try:
        ctx.cases.recheck_seconds = 0
        assert matched(ctx.cases.current(), NEW_REF) is None
        import_case(other, tmp_path / "cases.csv", NEW_REF, "209.20")
        assert matched(ctx.cases.current(), NEW_REF) == NEW_REF
    finally:
        other.close()
