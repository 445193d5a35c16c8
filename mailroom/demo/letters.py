"""Synthetic German letters to the city, for the demo, the tests and the benchmarks.

A small renderer over the phrase banks in ``phrases/*.yaml`` (see ``phrasebook.py``): sender
block, recipient block (sometimes addressed to the wrong office on purpose), date, subject,
salutation, body, closing. Some quote the Aktenzeichen of an open case, a share of them
with a typo. ``variants="train"`` and ``variants="test"`` use disjoint quarters of every
phrase list, so a benchmark can test on wording the model never saw.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from config.fileplan import FilePlan, FilePlanUnit
from mailroom.demo.fillers import draw_slots, fill, person, with_typo
from mailroom.demo.phrasebook import Topic, phrasebook

Variants = Literal["all", "train", "test"]


@dataclass
class Letter:
    """One synthetic letter and the truth about it."""

    lines: list[str]
    text: str
    unit_code: str
    department_id: str
    case_ref: str | None  # the reference as written in the letter (maybe with a typo)
    addressed_department: str | None  # department named in the recipient block
    kind: str
    case_aktenzeichen: str | None = None  # the open case the letter belongs to, if any
    sender_name: str = ""
    letter_date: date | None = None


@dataclass
class _Draft:
    """A letter being written: the random source, its slots and what is decided so far."""

    rng: random.Random
    variants: Variants
    slots: dict[str, str]
    case_ref: str | None = None


def _pool(items: Sequence[str], variants: Variants) -> Sequence[str]:
    """The phrases a split may use: "train" and "test" get disjoint parts of the list."""
    if variants == "all" or len(items) < 3:
        return items
    pool = [s for i, s in enumerate(items) if (i % 4 == 3) == (variants == "test")]
    return pool or items


def _pick(draft: _Draft, items: Sequence[str]) -> str:
    """One phrase of the split's pool, its placeholders filled."""
    return fill(draft.rng.choice(_pool(items, draft.variants)), draft.slots)


def _fallback_topic(unit: FilePlanUnit) -> Topic:
    """Subjects and sentences for a unit without a phrase bank, from the file plan itself."""
    fallback = phrasebook().fallback
    keywords = list(unit.keywords) or [unit.title]
    slots = {"title": unit.title, "keyword": keywords[0]}
    subjects = [fill(s, slots) for s in fallback.subjects] + keywords[1:4]
    sentences = [
        s.strip() + "." for s in re.split(r"[.;]", unit.description) if len(s.strip()) > 10
    ]
    sentences += [fill(fallback.per_keyword, {"keyword": k}) for k in keywords]
    sentences += [fill(fallback.closing, slots)]
    return Topic(subjects, sentences)


def _sender(draft: _Draft) -> tuple[list[str], str, str]:
    """Sender block, sender name and the name that signs (a company's contact person)."""
    rng, people = draft.rng, phrasebook().people
    business = rng.random() < 0.15
    name = draft.slots["company"] if business else person(rng)
    block = [name, f"{rng.choice(people.streets)} {rng.randint(1, 140)}", rng.choice(people.towns)]
    signature = name
    if business and rng.random() < 0.5:
        signature = fill(phrasebook().letter.attention, {"name": person(rng)})
        block.insert(1, signature)
    return block, name, signature


def _recipient(
    rng: random.Random, plan: FilePlan, dept_id: str, wrong_share: float
) -> tuple[list[str], str | None]:
    """Recipient block and the department it names (maybe the wrong one, maybe none)."""
    city = phrasebook().letter.city
    roll = rng.random()
    if roll < wrong_share:
        others = [d.id for d in plan.departments if d.id != dept_id]
        target: str | None = city.confused_offices.get(dept_id) if rng.random() < 0.6 else None
        if target not in plan.departments_by_id:
            target = rng.choice(others)
    elif roll < wrong_share + 0.5:
        target = dept_id
    else:
        target = None
    lines = [city.authority[0] if rng.random() < 0.8 else city.authority[1]]
    if target is not None:
        dept = plan.department(target)
        office = rng.choice([dept.name, *dept.aliases])
        lines.append(fill(rng.choice(city.office_forms), {"office": office}))
    return [*lines, *city.address], target


def _date_line(rng: random.Random, written: date) -> str:
    """The date line, numeric or written out (Wuppertal, den 3. März 2024)."""
    parts = phrasebook().letter
    slots = {
        "numeric": f"{written:%d.%m.%Y}",
        "day": str(written.day),
        "month": parts.months[written.month - 1],
        "year": str(written.year),
    }
    return fill(rng.choice(parts.date_forms), slots)


def _heading(draft: _Draft, subject: str) -> list[str]:
    """Reference line (if any), subject line and salutation; the reference in either."""
    rng, parts = draft.rng, phrasebook().letter
    ref, forms = draft.case_ref, parts.references.forms
    lines = []
    in_subject = ref is not None and rng.random() < 0.5
    if in_subject:
        subject += ", " + fill(rng.choice(forms), {"ref": ref or ""})
    if ref and not in_subject and rng.random() < 0.5:
        own_line = [*forms, *parts.references.line_only]
        lines += [fill(rng.choice(own_line), {"ref": ref}), ""]
    lines.append(rng.choice(parts.subject_prefixes) + subject)
    return [*lines, "", fill(rng.choice(parts.salutations), draft.slots), ""]


def _body(draft: _Draft, unit: FilePlanUnit, kind: str, topic: Topic, head: str) -> list[str]:
    """Opener, topic sentences, maybe a keyword, a neutral one, the reference and a closer."""
    rng, parts = draft.rng, phrasebook().letter
    opener = _pick(draft, parts.openers[kind])
    body = [opener[:1].upper() + opener[1:]]
    pool = _pool(topic.sentences, draft.variants)
    chosen = rng.sample(pool, min(rng.randint(2, 4), len(pool)))
    body += [fill(sentence, draft.slots) for sentence in chosen]
    if unit.keywords and rng.random() < 0.5:
        keyword = rng.choice(list(unit.keywords))
        at = rng.randint(1, len(body))
        form = rng.choice(_pool(parts.keyword_forms, draft.variants))
        body.insert(at, fill(form, {"keyword": keyword}))
    if rng.random() < 0.5:
        body.insert(rng.randint(1, len(body)), _pick(draft, parts.neutral))
    if draft.case_ref and draft.case_ref not in head:
        at = rng.randint(1, len(body))
        body.insert(at, fill(rng.choice(parts.references.body), {"ref": draft.case_ref}))
    if rng.random() < 0.6:
        body.append(_pick(draft, parts.closers))
    return _paragraphs(rng, body)


def _paragraphs(rng: random.Random, sentences: list[str]) -> list[str]:
    """Sentences joined into paragraphs, an empty line between two."""
    out: list[str] = []
    current: list[str] = []
    for sentence in sentences:
        current.append(sentence)
        if rng.random() < 0.4:
            out += [" ".join(current), ""]
            current = []
    if current:
        out.append(" ".join(current))
    while out and not out[-1]:
        out.pop()
    return out


def _letter(
    draft: _Draft,
    plan: FilePlan,
    unit: FilePlanUnit,
    today: date,
    case: tuple[str, str] | None,
    typo_share: float,
    wrong_share: float,
) -> Letter:
    # The order of the draws below fixes a seed's letters (benchmarks compare runs by seed).
    rng, parts = draft.rng, phrasebook().letter
    topic = phrasebook().topics.get(unit.code) or _fallback_topic(unit)
    kind = rng.choice(list(parts.openers))
    sender, sender_name, signature = _sender(draft)
    recipient, addressed = _recipient(rng, plan, unit.department, wrong_share)
    written = today - timedelta(days=rng.randint(0, 30))
    lines = [*sender, "", *recipient, "", _date_line(rng, written), ""]
    subject = _pick(draft, topic.subjects)
    if case is not None:
        draft.case_ref = with_typo(case[0], rng) if rng.random() < typo_share else case[0]
    lines += _heading(draft, subject)
    lines += _body(draft, unit, kind, topic, "\n".join(lines))
    lines += ["", rng.choice(parts.greetings), "", signature]
    if rng.random() < 0.3:
        lines += ["", parts.enclosures]
    return Letter(
        lines=lines,
        text="\n".join(lines) + "\n",
        unit_code=unit.code,
        department_id=unit.department,
        case_ref=draft.case_ref,
        addressed_department=addressed,
        kind=kind,
        case_aktenzeichen=case[0] if case else None,
        sender_name=sender_name,
        letter_date=written,
    )


def generate_letters(
    fileplan: FilePlan,
    n: int,
    *,
    seed: int,
    cases: list[tuple[str, str]] | None = None,
    units: list[str] | None = None,
    variants: Variants = "all",
    case_share: float = 0.3,
    typo_share: float = 0.3,
    wrong_office_share: float = 0.12,
    today: date | None = None,
) -> list[Letter]:
    """``n`` letters spread evenly over ``units`` (default: all units of the file plan).

    ``cases`` are ``(aktenzeichen, unit_code)`` of open cases; about ``case_share`` of the
    letters to a unit with cases quote one, ``typo_share`` of those with a typo.
    """
    rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
    today = today or date(2024, 11, 15)
    codes = units or [u.code for u in fileplan.units]
    by_unit: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for az, code in cases or []:
        by_unit[code].append((az, code))
    letters = []
    for i in range(n):
        unit = fileplan.unit(codes[i % len(codes)])
        pool = by_unit.get(unit.code)
        case = rng.choice(pool) if pool and rng.random() < case_share else None
        draft = _Draft(rng, variants, draw_slots(rng, today))
        letters.append(_letter(draft, fileplan, unit, today, case, typo_share, wrong_office_share))
    rng.shuffle(letters)
    return letters
