"""Read the routing evidence out of a letter's OCR text (Extraktion).

Aktenzeichen, Kassenzeichen and customer numbers, the letter date, sender and recipient
blocks, the subject (Betreff), the departments the letter is addressed to and the person
names it mentions. Everything here is evidence for the router and the case matcher; the
text is untrusted and only ever searched with regular expressions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from classifiers.references import (
    CANDIDATE_RE,
    LABEL_RE,
    PatternSet,
    ReferenceKind,
    clean,
    label_kind,
    normalize,
)
from config.fileplan import FilePlan
from mailroom.core.domain import Extraction, Reference

_MONTHS = {
    "januar": 1,
    "jan": 1,
    "jänner": 1,
    "februar": 2,
    "feb": 2,
    "märz": 3,
    "maerz": 3,
    "mär": 3,
    "april": 4,
    "apr": 4,
    "mai": 5,
    "juni": 6,
    "jun": 6,
    "juli": 7,
    "jul": 7,
    "august": 8,
    "aug": 8,
    "september": 9,
    "sep": 9,
    "sept": 9,
    "oktober": 10,
    "okt": 10,
    "november": 11,
    "nov": 11,
    "dezember": 12,
    "dez": 12,
}
_D = r"[0-9OIl]"
_NUMERIC_DATE = re.compile(
    rf"(?<![\d.])({_D}{{1,2}})\.\s?({_D}{{1,2}})\.\s?({_D}{{4}}|{_D}{{2}})(?![\d])"
)
_TEXT_DATE = re.compile(
    r"(?<!\d)(\d{1,2})\.?\s*("
    + "|".join(sorted(_MONTHS, key=len, reverse=True))
    + r")\.?\s+(\d{4})",
    re.IGNORECASE,
)
_DATE_LINE = re.compile(r"^\s*(?:[A-ZÄÖÜ][\w.\- ]{1,40},\s*(?:den\s+)?|Datum\s*:?\s*)", re.UNICODE)
_NOT_LETTER_DATE = re.compile(r"(?:vom|seit|bis|am|geb\.?|geboren|ab|zum|Frist)\s*$", re.IGNORECASE)
_SALUTATION = re.compile(
    r"^\s*(?:Sehr\s+geehrte|Guten\s+Tag|Hallo|Liebe|Lieber|Sehr\s+verehrte|Moin)", re.IGNORECASE
)
_SUBJECT = re.compile(
    r"^\s*(?:Betreff|Betr\.|Betrifft|Bezug|Subject)\s*[:.]?\s*(.+?)\s*$", re.IGNORECASE
)
_RECIPIENT_START = re.compile(
    r"^\s*(?:An\s+(?:das|den|die)\b|Stadt\s+\w|Stadtverwaltung|Der\s+Oberbürgermeister"
    r"|Die\s+Oberbürgermeisterin|Oberbürgermeister)",
    re.IGNORECASE,
)
_POSTCODE = re.compile(r"\b\d{5}\s+[A-ZÄÖÜ][a-zäöüß]")
_CLOSING = re.compile(
    r"^\s*(?:Mit\s+freundlichen\s+Grüßen|Freundliche\s+Grüße|Mit\s+freundlichem\s+Gruß"
    r"|Viele\s+Grüße|Hochachtungsvoll|Beste\s+Grüße|MfG)",
    re.IGNORECASE,
)
_NAME_WORD = r"[A-ZÄÖÜ][a-zäöüß]+(?:-[A-ZÄÖÜ][a-zäöüß]+)?"
_PERSON = re.compile(
    rf"^(?:(?:Herrn?|Frau|Dr\.|Prof\.)\s+)*({_NAME_WORD}(?:\s+(?:von|van|de|zu|vom)\s+{_NAME_WORD}"
    rf"|\s+{_NAME_WORD}){{1,2}})\s*$"
)
_TITLED = re.compile(rf"\b(?:Herrn?|Frau)\s+(?:Dr\.\s+)?({_NAME_WORD}(?:\s+{_NAME_WORD})?)")
_NOT_NAMES = {"Damen", "Herren", "Oberbürgermeister", "Oberbürgermeisterin", "Kollegen"}
_DEPT_NUMBER = re.compile(
    r"(?<!\w)(?:Amt|Ressort|Leistungseinheit|Stadtamt|LE)\s*(\d{1,3}(?:\.\d{1,2})?)(?![\d.]?\d)",
    re.IGNORECASE,
)
_TERMINATORS = re.compile(r"\s{2,}|[,;()]|\s(?:vom|von|und|bzw|sowie)\s", re.IGNORECASE)


@dataclass(frozen=True)
class _Compiled:
    plan: FilePlan
    patterns: PatternSet
    departments: tuple[tuple[re.Pattern[str], str], ...]  # longest names first


_COMPILED: dict[int, _Compiled] = {}


def _compiled(fileplan: FilePlan) -> _Compiled:
    """Patterns and department names of one file plan, compiled once per plan object."""
    hit = _COMPILED.get(id(fileplan))
    if hit is not None and hit.plan is fileplan:
        return hit
    patterns = PatternSet.from_units([(u.code, u.reference_patterns) for u in fileplan.units])
    names = [(name, d.id) for d in fileplan.departments for name in (d.name, *d.aliases)]
    names.sort(key=lambda item: len(item[0]), reverse=True)
    departments = tuple(
        (
            re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, n.split())) + r"(?!\w)", re.I),
            dept_id,
        )
        for n, dept_id in names
    )
    result = _Compiled(fileplan, patterns, departments)
    if len(_COMPILED) > 16:
        _COMPILED.clear()
    _COMPILED[id(fileplan)] = result
    return result


def extract(text: str, fileplan: FilePlan) -> Extraction:
    """Everything the router and the case matcher use, read from one letter's text."""
    compiled = _compiled(fileplan)
    lines = [line.rstrip() for line in text.splitlines()]
    header_end = _header_end(lines)
    sender, recipient, used = _address_blocks(lines[:header_end], compiled)
    subject = _subject(lines[:header_end], used)
    return Extraction(
        references=find_references(text, compiled.patterns),
        letter_date=_letter_date(lines[:header_end] or lines[:25]),
        sender=", ".join(sender) if sender else None,
        recipient=", ".join(recipient) if recipient else None,
        subject=subject,
        addressed_departments=_addressed(recipient or lines[: min(header_end, 15)], compiled),
        names=_names(lines, sender),
    )


# -- references --------------------------------------------------------------------------


def _labelled_value(rest: str) -> str | None:
    """The reference right after a label: digit groups, maybe a short letter prefix."""
    rest = _TERMINATORS.split(rest, maxsplit=1)[0]
    tokens = re.findall(r"[^\s./\-–]+|[\s./\-–]+", rest.strip())
    kept: list[str] = []
    seen_digit = False
    for tok in tokens:
        if re.fullmatch(r"[\s./\-–]+", tok):
            kept.append(tok)
            continue
        numeric = bool(re.search(r"\d", tok)) and bool(re.fullmatch(r"[0-9A-Za-z|]+", tok))
        prefix = not seen_digit and bool(re.fullmatch(r"[A-Z]{1,4}", tok)) and not kept
        confusable = seen_digit and bool(re.fullmatch(r"[OIl|]{1,4}", tok))
        if not (numeric or prefix or confusable):
            break
        seen_digit = seen_digit or numeric
        kept.append(tok)
    value = "".join(kept).strip(" ./-–")
    return value if seen_digit and len(re.sub(r"\W", "", value)) >= 4 else None


def _best_span(span: str, patterns: PatternSet) -> tuple[str, str | None]:
    """The longest prefix of a candidate run that a file-plan pattern accepts."""
    parts = re.split(r"(\s)", span)
    for end in range(len(parts), 0, -1):
        candidate = "".join(parts[:end]).strip()
        if not candidate:
            continue
        unit = patterns.unit_for(candidate)
        if unit:
            return candidate, unit
    return span, None


def find_references(text: str, patterns: PatternSet) -> list[Reference]:
    """Labelled references ("Az.:", "Ihr Zeichen", "Kassenzeichen") and unlabelled runs
    that fit a file-plan pattern, deduplicated by their normalised form."""
    found: dict[str, Reference] = {}
    for line in text.splitlines():
        for m in LABEL_RE.finditer(line):
            value = _labelled_value(line[m.end() :])
            if value is None:
                continue
            value, unit = _best_span(value, patterns)
            key = normalize(value)
            if key and key not in found:
                kind = label_kind(m.group("label"))
                found[key] = Reference(kind, value, key, unit, m.group("label").strip())
        for m in CANDIDATE_RE.finditer(line):
            value, unit = _best_span(m.group().strip(), patterns)
            key = normalize(value)
            if unit and key not in found:
                found[key] = Reference(_kind_of_unlabelled(value), value, key, unit, "")
            elif unit and found[key].unit_hint is None:
                old = found[key]
                found[key] = Reference(old.kind, old.raw, key, unit, old.context)
    return list(found.values())


def _kind_of_unlabelled(value: str) -> ReferenceKind:
    # Kassenzeichen of the tax office have no slash and start with a two-digit tax type.
    return "kassenzeichen" if re.fullmatch(r"\d{2}\.\d{6}\.\d", clean(value)) else "aktenzeichen"


# -- header: dates, blocks, subject ----------------------------------------------------


def _header_end(lines: list[str]) -> int:
    for i, line in enumerate(lines[:60]):
        if _SALUTATION.match(line):
            return i
    return min(len(lines), 25)


def _parse_date(match: re.Match[str], textual: bool) -> date | None:
    try:
        if textual:
            day, month, year = (
                int(match.group(1)),
                _MONTHS[match.group(2).lower()],
                int(match.group(3)),
            )
        else:
            fixed = [g.translate(str.maketrans("OIl", "011")) for g in match.groups()]
            day, month, year = (int(x) for x in fixed)
            if year < 100:
                year += 2000 if year <= (date.today().year % 100) + 1 else 1900
        if not 1900 <= year <= 2100:
            return None
        return date(year, month, day)
    except (ValueError, KeyError):
        return None


def _dates_in(line: str) -> list[tuple[int, date]]:
    found: list[tuple[int, date]] = []
    for regex, textual in ((_NUMERIC_DATE, False), (_TEXT_DATE, True)):
        for m in regex.finditer(line):
            parsed = _parse_date(m, textual)
            if parsed and not _NOT_LETTER_DATE.search(line[: m.start()]):
                found.append((m.start(), parsed))
    return sorted(found, key=lambda item: item[0])


def _letter_date(lines: list[str]) -> date | None:
    """The date the letter was written: "Wuppertal, 12.03.2024" or "Datum:", else the first."""
    first: date | None = None
    for line in lines:
        dates = _dates_in(line)
        if not dates:
            continue
        if _DATE_LINE.match(line) or len(line.strip()) <= 22:
            return dates[0][1]
        first = first or dates[0][1]
    return first


def _blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    for i, line in enumerate([*lines, ""]):
        if line.strip():
            if not current:
                start = i
            current.append(line.strip())
        elif current:
            blocks.append((start, current))
            current = []
    return blocks


def _is_address_block(block: list[str]) -> bool:
    return any(_POSTCODE.search(line) for line in block) and len(block) <= 8


def _address_blocks(
    header: list[str], compiled: _Compiled
) -> tuple[list[str] | None, list[str] | None, set[int]]:
    """Sender (Absender) and recipient (Empfänger) blocks of the letter head."""
    blocks = _blocks(header)
    recipient_idx: int | None = None
    for n, (_, block) in enumerate(blocks):
        if any(_RECIPIENT_START.match(line) for line in block) or (
            _is_address_block(block) and _addressed(block, compiled)
        ):
            recipient_idx = n
            break
    addresses = [n for n, (_, b) in enumerate(blocks) if _is_address_block(b)]
    if recipient_idx is None and len(addresses) >= 2:
        recipient_idx = addresses[1]
    sender_idx = next((n for n in addresses if n != recipient_idx), None)
    if sender_idx is not None and recipient_idx is not None and sender_idx > recipient_idx:
        # A sender block after the recipient is only plausible as a right-hand column.
        sender_idx = sender_idx if sender_idx == recipient_idx + 1 else None
    used: set[int] = set()
    for idx in (sender_idx, recipient_idx):
        if idx is not None:
            start, block = blocks[idx]
            used.update(range(start, start + len(block)))
    sender = blocks[sender_idx][1][:6] if sender_idx is not None else None
    recipient = blocks[recipient_idx][1][:7] if recipient_idx is not None else None
    return sender, recipient, used


def _subject(header: list[str], used: set[int]) -> str | None:
    for line in header:
        m = _SUBJECT.match(line)
        if m:
            return m.group(1)[:300]
    # DIN 5008 letters put the subject without a label right above the salutation.
    for i in range(len(header) - 1, -1, -1):
        line = header[i].strip()
        if not line or i in used:
            continue
        if (_dates_in(line) and len(line) < 40) or LABEL_RE.match(line):
            return None
        return line[:300] if len(line) <= 160 else None
    return None


# -- departments and names ----------------------------------------------------------------


def _addressed(lines: list[str], compiled: _Compiled) -> list[str]:
    """Departments named in the recipient block, in order, each once (evidence only)."""
    text = "\n".join(lines)
    hits: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    for regex, dept_id in compiled.departments:
        for m in regex.finditer(text):
            if any(m.start() < end and start < m.end() for start, end in taken):
                continue
            taken.append((m.start(), m.end()))
            hits.append((m.start(), dept_id))
    ids = compiled.plan.departments_by_id
    for m in _DEPT_NUMBER.finditer(text):
        number = m.group(1)
        for candidate in (number, number.zfill(3)):
            overlaps = any(m.start() < end and start < m.end() for start, end in taken)
            if candidate in ids and not overlaps:
                hits.append((m.start(), candidate))
                break
    ordered: list[str] = []
    for _, dept_id in sorted(hits):
        if dept_id not in ordered:
            ordered.append(dept_id)
    return ordered


def _names(lines: list[str], sender: list[str] | None) -> list[str]:
    """Person names: the sender's first line, the signature, and "Herr/Frau X" mentions."""
    names: list[str] = []

    def add(name: str) -> None:
        name = re.sub(r"\s+", " ", name).strip()
        if name and name.split()[-1] not in _NOT_NAMES and name not in names:
            names.append(name)

    if sender:
        m = _PERSON.match(sender[0])
        if m:
            add(m.group(1))
    for i, line in enumerate(lines):
        if _CLOSING.match(line):
            for follow in lines[i + 1 : i + 5]:
                m = _PERSON.match(follow.strip())
                if m:
                    add(m.group(1))
                    break
        for m in _TITLED.finditer(line):
            add(m.group(1))
    return names[:12]
