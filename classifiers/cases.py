"""Case matching (Vorgangszuordnung): attach a letter to an open case by its reference.

An exact match of a normalised reference against the open cases comes first; only if
there is none, a tolerant match (edit distance 1 on the normalised form) is accepted when
exactly one case fits. A person's name from the case confirms a match. Whenever more
than one case fits, nothing is attached: the candidates go to a person (Klärfall).
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from classifiers.references import deletion_variants, edit_distance_at_most_one, normalize
from config.fileplan import FilePlan
from mailroom.core.domain import CaseCandidate, CaseMatch, Extraction
from mailroom.core.errors import BadInputError
from mailroom.infra.db.models import Case

#: Keys shorter than this are too unspecific for a tolerant match ("1234" is everywhere).
MIN_TOLERANT_LENGTH = 6


@dataclass(frozen=True)
class OpenCase:
    """What the matcher keeps of one open case."""

    id: int
    aktenzeichen: str
    unit_code: str
    names: tuple[str, ...] = ()


@dataclass
class CaseIndex:
    """All open cases by normalised reference, with a deletion index for tolerant matches."""

    by_key: dict[str, list[OpenCase]] = field(default_factory=lambda: defaultdict(list))
    by_deletion: dict[str, list[OpenCase]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def from_cases(cls, cases: Iterable[OpenCase]) -> CaseIndex:
        """Build the index from plain case records (tests, benchmarks)."""
        index = cls()
        for case in cases:
            index.add(case)
        return index

    @classmethod
    def load(cls, session: Session) -> CaseIndex:
        """Build the index from the open cases in the database."""
        rows = session.scalars(select(Case).where(Case.status == "open"))
        return cls.from_cases(
            OpenCase(row.id, row.aktenzeichen, row.unit_code, tuple(row.names or ()))
            for row in rows
        )

    def add(self, case: OpenCase) -> None:
        key = normalize(case.aktenzeichen)
        if not key:
            return
        self.by_key[key].append(case)
        if len(key) >= MIN_TOLERANT_LENGTH:
            for variant in deletion_variants(key):
                self.by_deletion[variant].append(case)

    def __len__(self) -> int:
        return sum(len(cases) for cases in self.by_key.values())

    def _tolerant(self, key: str) -> list[OpenCase]:
        if len(key) < MIN_TOLERANT_LENGTH:
            return []
        pool: dict[int, OpenCase] = {}
        for case in self.by_deletion.get(key, ()):  # the letter lost a character
            pool[case.id] = case
        for variant in deletion_variants(key):
            for case in self.by_key.get(variant, ()):  # the letter has an extra character
                pool[case.id] = case
            for case in self.by_deletion.get(variant, ()):  # one character differs
                pool[case.id] = case
        return [
            c
            for c in pool.values()
            if edit_distance_at_most_one(key, normalize(c.aktenzeichen))
            and normalize(c.aktenzeichen) != key
        ]

    def match(self, extraction: Extraction) -> CaseMatch:
        """Match the letter's references; attach only when exactly one case fits."""
        keys = [ref.normalized for ref in extraction.references if ref.normalized]
        exact: dict[int, OpenCase] = {}
        for key in keys:
            for case in self.by_key.get(key, ()):
                exact[case.id] = case
        if exact:
            return _result(list(exact.values()), "exact", extraction)
        tolerant: dict[int, OpenCase] = {}
        for key in keys:
            for case in self._tolerant(key):
                tolerant[case.id] = case
        if tolerant:
            return _result(list(tolerant.values()), "tolerant", extraction)
        return CaseMatch()


def _surnames(names: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for name in names:
        words = re.findall(r"[A-Za-zÄÖÜäöüß-]{3,}", name)
        if words:
            out.add(words[-1].lower())
    return out


def name_confirms(case: OpenCase, extraction: Extraction) -> bool:
    """True when a surname of the case's persons appears among the letter's names or sender."""
    wanted = _surnames(case.names)
    if not wanted:
        return False
    seen = _surnames(extraction.names)
    if extraction.sender:
        seen |= {w.lower() for w in re.findall(r"[A-Za-zÄÖÜäöüß-]{3,}", extraction.sender)}
    return bool(wanted & seen)


def _result(cases: list[OpenCase], how: str, extraction: Extraction) -> CaseMatch:
    candidates = [
        CaseCandidate(
            case_id=c.id,
            aktenzeichen=c.aktenzeichen,
            unit_code=c.unit_code,
            how="exact" if how == "exact" else "tolerant",
            name_confirmed=name_confirms(c, extraction),
        )
        for c in sorted(cases, key=lambda c: c.id)
    ]
    if len(candidates) == 1:
        return CaseMatch(case=candidates[0], candidates=candidates, ambiguous=False)
    return CaseMatch(case=None, candidates=candidates, ambiguous=True)


# -- import of open cases from a CSV export of the specialist procedure -----------------

REQUIRED_COLUMNS = ("aktenzeichen", "unit", "subject")


def _read_case_rows(path: Path, fileplan: FilePlan) -> list[tuple[int, str, str, str, list[str]]]:
    """Parse and validate every row; one error message lists all bad lines."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise BadInputError(f"cannot read {path}: {exc.strerror}") from exc
    rows: list[tuple[int, str, str, str, list[str]]] = []
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
            line = reader.line_num
            az = (row.get("aktenzeichen") or "").strip()
            unit = (row.get("unit") or "").strip()
            subject = (row.get("subject") or "").strip()
            names = [n.strip() for n in (row.get("names") or "").split(";") if n.strip()]
            if not az:
                errors.append(f"{path}:{line}: empty aktenzeichen")
            elif not normalize(az):
                errors.append(f"{path}:{line}: aktenzeichen {az!r} has no letters or digits")
            if unit not in fileplan.units_by_code:
                errors.append(f"{path}:{line}: unit {unit!r} is not in the file plan")
            if az and az in seen:
                errors.append(f"{path}:{line}: aktenzeichen {az!r} repeats line {seen[az]}")
            seen.setdefault(az, line)
            rows.append((line, az, unit, subject, names))
    if errors:
        raise BadInputError("\n".join(errors[:50]), hint="fix these lines and import again")
    return rows


def import_cases_csv(session: Session, path: Path, fileplan: FilePlan) -> int:
    """Insert or update open cases from ``aktenzeichen,unit,subject[,names]`` (names
    separated by ``;``). Idempotent: importing the same file twice changes nothing.
    Returns the number of rows imported."""
    from mailroom.runtime.context import sync_file_plan  # the units must exist for the foreign key

    rows = _read_case_rows(path, fileplan)
    sync_file_plan(session, fileplan)
    session.flush()
    existing = {
        c.aktenzeichen: c
        for c in session.scalars(select(Case).where(Case.aktenzeichen.in_([r[1] for r in rows])))
    }
    for _line, az, unit, subject, names in rows:
        case = existing.get(az) or Case(aktenzeichen=az, created_by="import")
        case.reference_key = normalize(az)
        case.unit_code = unit
        case.subject = subject
        case.names = names
        case.status = "open"
        session.add(case)
    session.flush()
    return len(rows)
