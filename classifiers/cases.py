"""Case matching (Vorgangszuordnung): attach a letter to an open case by its reference.

An exact match of a normalised reference against the open cases comes first; only if
there is none, a tolerant match (edit distance 1 on the normalised form) is accepted when
exactly one case fits. A person's name from the case confirms a match. Whenever more
than one case fits, nothing is attached: the candidates go to a person (Klärfall).

Pure and database-free: the index is built from plain :class:`OpenCase` records. Loading
them from the database, keeping one index per process current, and the CSV import live in
:mod:`mailroom.services.cases`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from classifiers.references import deletion_variants, edit_distance_at_most_one, normalize
from mailroom.core.domain import CaseCandidate, CaseMatch, Extraction

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
        """Build the index from plain case records."""
        index = cls()
        for case in cases:
            index.add(case)
        return index

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
