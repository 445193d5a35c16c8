"""Open cases (Vorgänge) in the database: the per-process case index, import and closing.

Matching itself is pure (:mod:`classifiers.cases`); this module feeds it. Building the
index of all open cases costs about 250 ms at 10,000 cases, so a worker keeps one
:class:`OpenCaseIndex` and rebuilds it only when a cheap watermark says the cases changed:
the number of open cases and the latest ``cases.updated_at`` (set on every insert and
update). Opening, closing or re-importing a case in any process moves the watermark.
"""

from __future__ import annotations

import csv
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from classifiers.cases import CaseIndex, OpenCase
from classifiers.references import normalize
from config.fileplan import FilePlan
from mailroom.core.errors import BadInputError, Conflict, NotFound
from mailroom.infra.db.audit import audit
from mailroom.infra.db.database import Database
from mailroom.infra.db.models import Case, utcnow
from mailroom.services.fileplan import sync_file_plan

#: How often (seconds) :meth:`OpenCaseIndex.current` asks the database whether cases
#: changed; a case opened elsewhere is matched at most this much later.
RECHECK_SECONDS = 5.0


@dataclass(frozen=True)
class Watermark:
    """What changes whenever the set of open cases or one of their fields changes."""

    open_cases: int
    latest_update: datetime | None


def case_watermark(session: Session) -> Watermark:
    """The current watermark, in one query (both parts are served by an index)."""
    open_count = select(func.count(Case.id)).where(Case.status == "open").scalar_subquery()
    latest = select(func.max(Case.updated_at)).scalar_subquery()
    row = session.execute(select(open_count, latest)).one()
    return Watermark(int(row[0]), row[1])


def load_case_index(session: Session) -> CaseIndex:
    """Build the matching index from the open cases in the database."""
    rows = session.execute(
        select(Case.id, Case.aktenzeichen, Case.unit_code, Case.names).where(Case.status == "open")
    )
    return CaseIndex.from_cases(
        OpenCase(case_id, az, unit, tuple(names or ())) for case_id, az, unit, names in rows
    )


class OpenCaseIndex:
    """One process's index of the open cases, loaded once and rebuilt when cases change."""

    def __init__(self, db: Database, *, recheck_seconds: float = RECHECK_SECONDS) -> None:
        self.db = db
        self.recheck_seconds = recheck_seconds
        #: How often the index was built (the expensive part); for tests and metrics.
        self.builds = 0
        self._lock = threading.Lock()
        self._index: CaseIndex | None = None
        self._watermark: Watermark | None = None
        self._checked_at = 0.0

    def current(self) -> CaseIndex:
        """The index of the open cases; checks the watermark at most every few seconds."""
        with self._lock:
            now = time.monotonic()
            if self._index is not None and now - self._checked_at < self.recheck_seconds:
                return self._index
            self._checked_at = now
            with self.db.session() as session:
                # Watermark before the rows: a change in between moves the next watermark.
                mark = case_watermark(session)
                if self._index is None or mark != self._watermark:
                    self._index = load_case_index(session)
                    self._watermark = mark
                    self.builds += 1
            return self._index


def close_case(session: Session, aktenzeichen: str, *, actor: str) -> Case:
    """Vorgang schließen: letters are no longer attached to it automatically."""
    case = session.scalar(select(Case).where(Case.aktenzeichen == aktenzeichen.strip()))
    if case is None:
        raise NotFound(f"no case with Aktenzeichen {aktenzeichen!r}")
    if case.status != "open":
        raise Conflict(f"case {case.aktenzeichen} is {case.status}, not open")
    case.status = "closed"
    case.updated_at = utcnow()
    audit(session, actor, "case_close", case=case.aktenzeichen, unit=case.unit_code)
    session.flush()
    return case


# -- import of open cases from a CSV export of the specialist procedure -----------------

REQUIRED_COLUMNS = ("aktenzeichen", "unit", "subject")

CaseRow = tuple[int, str, str, str, list[str]]


def import_cases_csv(session: Session, path: Path, fileplan: FilePlan) -> int:
    """Insert or update open cases from ``aktenzeichen,unit,subject[,names]`` (names
    separated by ``;``). Idempotent: importing the same file twice changes nothing.
    Returns the number of rows imported."""
    rows = _read_case_rows(path, fileplan)
    sync_file_plan(session, fileplan)
    session.flush()
    existing = {
        c.aktenzeichen: c
        for c in session.scalars(select(Case).where(Case.aktenzeichen.in_([r[1] for r in rows])))
    }
    for _line, az, unit, subject, names in rows:
        # updated_at comes from the column's default and onupdate: only rows that really
        # change are written, so a repeated import leaves the case watermark alone.
        case = existing.get(az) or Case(aktenzeichen=az, created_by="import")
        case.reference_key = normalize(az)
        case.unit_code = unit
        case.subject = subject
        case.names = names
        case.status = "open"
        session.add(case)
    session.flush()
    return len(rows)


def _read_case_rows(path: Path, fileplan: FilePlan) -> list[CaseRow]:
    """Parse and validate every row; one error message lists all bad lines."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise BadInputError(f"cannot read {path}: {exc.strerror}") from exc
    rows: list[CaseRow] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    with handle:
        reader = csv.DictReader(handle)
        header = [h.strip().lower() for h in reader.fieldnames or []]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise BadInputError(
                f"{path}:1: missing column(s) {', '.join(missing)}",
                hint="the header must be aktenzeichen,unit,subject[,names]",
            )
        reader.fieldnames = header
        for row in reader:
            parsed = _parse_row(reader.line_num, row)
            errors += _row_errors(path, parsed, seen, fileplan)
            seen.setdefault(parsed[1], parsed[0])
            rows.append(parsed)
    if errors:
        raise BadInputError("\n".join(errors[:50]), hint="fix these lines and import again")
    return rows


def _parse_row(line: int, row: dict[str, str | None]) -> CaseRow:
    names = [n.strip() for n in (row.get("names") or "").split(";") if n.strip()]
    return (
        line,
        (row.get("aktenzeichen") or "").strip(),
        (row.get("unit") or "").strip(),
        (row.get("subject") or "").strip(),
        names,
    )


def _row_errors(path: Path, row: CaseRow, seen: dict[str, int], fileplan: FilePlan) -> list[str]:
    line, az, unit, _subject, _names = row
    errors: list[str] = []
    if not az:
        errors.append(f"{path}:{line}: empty aktenzeichen")
    elif not normalize(az):
        errors.append(f"{path}:{line}: aktenzeichen {az!r} has no letters or digits")
    if unit not in fileplan.units_by_code:
        errors.append(f"{path}:{line}: unit {unit!r} is not in the file plan")
    if az and az in seen:
        errors.append(f"{path}:{line}: aktenzeichen {az!r} repeats line {seen[az]}")
    return errors
