"""Synthetic German letters to the city, for the demo, the tests and the benchmarks.

Letters are built from the file plan plus the phrase banks in ``topics.py``: sender block,
recipient block (sometimes addressed to the wrong office on purpose), date, subject,
salutation, body, closing. Some quote the Aktenzeichen of an open case, a share of them
with a typo. ``variants="train"`` and ``variants="test"`` use disjoint quarters of every
phrase list, so a benchmark can test on wording the model never saw.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from config.fileplan import FilePlan, FilePlanUnit
from mailroom.demo.topics import TOPICS

Variants = Literal["all", "train", "test"]

FIRST = [
    "Anna",
    "Thomas",
    "Julia",
    "Michael",
    "Sabine",
    "Stefan",
    "Ayse",
    "Mehmet",
    "Olena",
    "Piotr",
    "Laura",
    "Jan",
    "Monika",
    "Klaus",
    "Fatma",
    "Ali",
    "Sandra",
    "Markus",
    "Petra",
    "Jürgen",
    "Lena",
    "Tim",
    "Nicole",
    "Andreas",
    "Katharina",
    "Dennis",
    "Renate",
    "Uwe",
    "Svetlana",
    "Dimitri",
    "Ingrid",
    "Walter",
    "Emma",
    "Lukas",
    "Gül",
    "Hasan",
    "Christina",
    "Frank",
    "Birgit",
    "Yusuf",
]
LAST = [
    "Schneider",
    "Müller",
    "Weber",
    "Schmitz",
    "Becker",
    "Hoffmann",
    "Yilmaz",
    "Kowalski",
    "Kovalenko",
    "Wagner",
    "Krause",
    "Klein",
    "Wolf",
    "Schulz",
    "Neumann",
    "Braun",
    "Zimmermann",
    "Hartmann",
    "Krüger",
    "Lehmann",
    "Aydin",
    "Schmitt",
    "Koch",
    "Schäfer",
    "Kaya",
    "Huber",
    "Vogel",
    "Peters",
    "Franke",
    "Richter",
    "Demir",
    "Nowak",
    "Özdemir",
    "Jansen",
    "Kaiser",
    "Lange",
    "Fuchs",
    "Scholz",
    "Engel",
    "Arslan",
]
CHILDREN = [
    "Mia",
    "Leon",
    "Emilia",
    "Noah",
    "Sofia",
    "Elias",
    "Hanna",
    "Paul",
    "Lina",
    "Ben",
    "Amira",
    "Emir",
    "Lea",
    "Finn",
    "Zeynep",
]
STREETS = [
    "Kohlstraße",
    "Friedrich-Ebert-Straße",
    "Hochstraße",
    "Am Hang",
    "Luisenstraße",
    "Uellendahler Straße",
    "Gathe",
    "Wittensteinstraße",
    "Nützenberger Straße",
    "Hünefeldstraße",
    "Sedanstraße",
    "Heckinghauser Straße",
    "Schwarzbach",
    "Vohwinkeler Straße",
    "Briller Straße",
    "Lüntenbecker Weg",
    "Am Ringelbusch",
    "Höhne",
]
CITIES = (
    "42103 Wuppertal",
    "42105 Wuppertal",
    "42117 Wuppertal",
    "42275 Wuppertal",
    "42283 Wuppertal",
    "42329 Wuppertal",
    "42349 Wuppertal",
    "42651 Solingen",
    "42853 Remscheid",
    "42551 Velbert",
)
COMPANIES = (
    "Bäckerei Klein GmbH",
    "Schmitz Bau GmbH & Co. KG",
    "Datawerk IT-Service GmbH",
    "Kanzlei Dr. Roth & Partner",
    "Creditreform Inkasso GmbH",
    "Wohnungsbau Nord eG",
    "Malerbetrieb Jansen",
    "TSV 1860 Elberfeld e. V.",
    "Café am Laurentiusplatz UG",
)
SCHOOLS = (
    "Gesamtschule Barmen",
    "Gymnasium Sedanstraße",
    "Grundschule Am Engelnberg",
    "Berufskolleg Elberfeld",
    "Realschule Leimbach",
)
KITAS = ("Sonnenschein", "Regenbogen", "Arche Noah", "Kunterbunt", "Wirbelwind")
DOGS = ("Bello", "Luna", "Balu", "Emma", "Rocky", "Nala")
MONTHS = [
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
]
CITY_HALL = ("Johannes-Rau-Platz 1", "42275 Wuppertal")

SALUTATIONS = [
    "Sehr geehrte Damen und Herren,",
    "Guten Tag,",
    "Sehr geehrte Frau {clerk},",
    "Sehr geehrter Herr {clerk},",
    "Hallo,",
    "Sehr geehrte Damen und Herren,",
    "Guten Tag Frau {clerk},",
    "Sehr geehrte Sachbearbeiterin, sehr geehrter Sachbearbeiter,",
]
OPENERS = {
    "antrag": [
        "hiermit stelle ich folgenden Antrag.",
        "ich wende mich mit einem Anliegen an Sie.",
        "ich bitte Sie um Bearbeitung meines Anliegens.",
        "anbei sende ich Ihnen meinen Antrag.",
    ],
    "nachreichung": [
        "bezugnehmend auf Ihr Schreiben vom {date} reiche ich die fehlenden Unterlagen nach.",
        "wie telefonisch besprochen sende ich Ihnen weitere Unterlagen.",
        "in der Anlage erhalten Sie die angeforderten Nachweise.",
        "auf Ihre Anforderung vom {date} hin übersende ich die Unterlagen.",
    ],
    "anfrage": [
        "ich habe eine Frage und bitte um kurze Auskunft.",
        "leider habe ich noch keine Antwort erhalten.",
        "bitte teilen Sie mir den Bearbeitungsstand mit.",
        "ich bitte um Rückruf oder eine schriftliche Antwort.",
    ],
    "widerspruch": [
        "gegen Ihr Schreiben vom {date} erhebe ich Einspruch.",
        "mit Ihrer Entscheidung bin ich nicht einverstanden.",
        "ich bitte um nochmalige Prüfung Ihrer Entscheidung.",
        "hiermit lege ich fristgerecht Widerspruch ein.",
    ],
    "mitteilung": [
        "ich möchte Ihnen eine Änderung mitteilen.",
        "hiermit teile ich Ihnen Folgendes mit.",
        "zur Information für Ihre Unterlagen:",
        "bitte nehmen Sie folgende Mitteilung zur Kenntnis.",
    ],
}
CLOSERS = [
    "Für Rückfragen stehe ich Ihnen gerne zur Verfügung.",
    "Vielen Dank im Voraus.",
    "Ich bitte um eine kurze Eingangsbestätigung.",
    "Über eine baldige Antwort würde ich mich freuen.",
    "Sie erreichen mich tagsüber unter 0202 {phone}.",
    "Vielen Dank für Ihre Mühe.",
    "Bitte antworten Sie mir schriftlich.",
    "Mit der Speicherung meiner Daten bin ich einverstanden.",
]
KEYWORD_FORMS = [
    "Es geht um {kw}.",
    "Mein Anliegen betrifft das Thema {kw}.",
    "Ich schreibe Ihnen wegen {kw}.",
    "Es handelt sich um eine Angelegenheit zu {kw}.",
    "Meine Frage bezieht sich auf {kw}.",
    "Thema meines Schreibens: {kw}.",
    "In Sachen {kw} bitte ich um Ihre Unterstützung.",
    "Ich habe eine Frage zu {kw}.",
    "Wegen {kw} wende ich mich an Sie.",
    "Die Angelegenheit {kw} ist noch offen.",
    "Bitte helfen Sie mir in der Sache {kw}.",
    "Es betrifft {kw}.",
]
NEUTRAL = [
    "Leider war telefonisch niemand zu erreichen.",
    "Ich bitte die späte Antwort zu entschuldigen.",
    "Die Sache ist für mich sehr dringend.",
    "Ich war längere Zeit krank und konnte nicht früher schreiben.",
    "Eine Kopie dieses Schreibens habe ich für meine Unterlagen behalten.",
    "Ihre Internetseite hat mir leider nicht weitergeholfen.",
    "Ich spreche nicht so gut Deutsch, mein Sohn hilft mir beim Schreiben.",
    "Falls Unterlagen fehlen, melden Sie sich bitte bei mir.",
    "Eine E-Mail an Ihre Adresse kam leider zurück.",
    "Ich bin ab Montag wieder zu Hause erreichbar.",
    "Bitte entschuldigen Sie meine Handschrift.",
    "Das Schreiben ging zuerst an die falsche Stelle.",
    "Meine Nachbarin hat mir geraten, Ihnen zu schreiben.",
    "Ich habe bereits zweimal angerufen.",
    "Die Frist habe ich hoffentlich eingehalten.",
    "Im Voraus vielen Dank für die schnelle Bearbeitung.",
]
GREETINGS = [
    "Mit freundlichen Grüßen",
    "Freundliche Grüße",
    "Mit freundlichem Gruß",
    "Viele Grüße",
    "Mit freundlichen Grüßen",
    "Hochachtungsvoll",
]
REF_FORMS = [
    "Ihr Zeichen: {ref}",
    "Az.: {ref}",
    "Aktenzeichen: {ref}",
    "Geschäftszeichen {ref}",
    "Ihr Aktenzeichen {ref}",
    "Az. {ref}",
    "AZ: {ref}",
    "Kassenzeichen: {ref}",
]
BODY_REF_FORMS = [
    "Es geht um den Vorgang mit dem Aktenzeichen {ref}.",
    "Bitte ordnen Sie dieses Schreiben dem Vorgang {ref} zu.",
    "Ihr Zeichen {ref}.",
    "Betrifft Ihr Az. {ref}.",
]
#: Offices citizens mix up; used when a letter is addressed to the wrong one on purpose.
CONFUSED = {
    "209": "208",
    "210": "208",
    "208": "209",
    "403": "401",
    "401": "403",
    "105": "201",
    "201": "105",
    "405": "302",
    "302": "405",
    "003": "303",
    "303": "003",
    "204": "201",
}


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


def _pool(items: list[str], variants: Variants) -> list[str]:
    """The phrases a split may use: "train" and "test" get disjoint parts of the list."""
    if variants == "all" or len(items) < 3:
        return items
    pool = [s for i, s in enumerate(items) if (i % 4 == 3) == (variants == "test")]
    return pool or items


def _pick(rng: random.Random, items: list[str], variants: Variants) -> str:
    return rng.choice(_pool(items, variants))


def _fallback_topic(unit: FilePlanUnit) -> tuple[list[str], list[str]]:
    """Subjects and sentences for a unit without a phrase bank, from the file plan itself."""
    keywords = list(unit.keywords) or [unit.title]
    subjects = [unit.title, f"Anfrage zu {keywords[0]}", f"Antrag: {unit.title}"]
    subjects += [f"{k}" for k in keywords[1:4]]
    sentences = [
        s.strip() + "." for s in re.split(r"[.;]", unit.description) if len(s.strip()) > 10
    ]
    sentences += [f"Ich habe ein Anliegen zum Thema {k}." for k in keywords]
    sentences += [f"Bitte bearbeiten Sie meine Angelegenheit ({unit.title})."]
    return subjects, sentences


def _slots(rng: random.Random, today: date) -> dict[str, str]:
    def day() -> str:
        return (today - timedelta(days=rng.randint(3, 400))).strftime("%d.%m.%Y")

    letters = "ABCDEFGHKLMNPRSTUVWXZ"
    return {
        "child": f"{rng.choice(CHILDREN)} {rng.choice(LAST)}",
        "date": day(),
        "date2": day(),
        "month": rng.choice(MONTHS),
        "year": str(today.year - rng.randint(0, 2)),
        "amount": f"{rng.randint(12, 4800)},{rng.randint(0, 99):02d}",
        "street": f"{rng.choice(STREETS)} {rng.randint(1, 140)}",
        "plate": f"W-{rng.choice(letters)}{rng.choice(letters)} {rng.randint(1, 9999)}",
        "company": rng.choice(COMPANIES),
        "dog": rng.choice(DOGS),
        "school": rng.choice(SCHOOLS),
        "kita": rng.choice(KITAS),
        "other_name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
        "other_name2": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
        "flurstueck": f"{rng.randint(1, 999)}/{rng.randint(1, 99)}",
        "iban_tail": f"{rng.randint(1000, 9999)}",
        "clerk": rng.choice(LAST),
        "phone": f"{rng.randint(100000, 999999)}",
    }


def _fill(template: str, slots: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: slots.get(m.group(1), m.group(0)), template)


def with_typo(ref: str, rng: random.Random) -> str:
    """A reference as a hurried hand or OCR writes it: confusions, separators, one wrong digit."""
    choice = rng.random()
    if choice < 0.25:  # OCR confusion of a digit with a letter
        table = {"0": "O", "1": "l", "5": "S", "8": "B"}
        spots = [i for i, ch in enumerate(ref) if ch in table]
        if spots:
            i = rng.choice(spots)
            return ref[:i] + table[ref[i]] + ref[i + 1 :]
    if choice < 0.45:  # separators dropped, doubled or replaced
        return re.sub(r"[.\-/]", lambda m: rng.choice(["", m.group() * 2, " ", "-"]), ref, count=1)
    digits = [i for i, ch in enumerate(ref) if ch.isdigit()]
    i = rng.choice(digits[len(digits) // 2 :] or digits)
    if choice < 0.7:  # one wrong digit
        return ref[:i] + str((int(ref[i]) + rng.randint(1, 9)) % 10) + ref[i + 1 :]
    if choice < 0.85:  # one digit lost
        return ref[:i] + ref[i + 1 :]
    return ref[:i] + ref[i] + ref[i:]  # one digit doubled


def _recipient(
    rng: random.Random, plan: FilePlan, dept_id: str, wrong_share: float
) -> tuple[list[str], str | None]:
    roll = rng.random()
    if roll < wrong_share:
        others = [d.id for d in plan.departments if d.id != dept_id]
        target: str | None = CONFUSED.get(dept_id) if rng.random() < 0.6 else None
        if target not in plan.departments_by_id:
            target = rng.choice(others)
    elif roll < wrong_share + 0.5:
        target = dept_id
    else:
        target = None
    lines = ["Stadt Wuppertal"] if rng.random() < 0.8 else ["Stadtverwaltung Wuppertal"]
    if target is not None:
        dept = plan.department(target)
        name = rng.choice([dept.name, *dept.aliases])
        lines.append(rng.choice(["{n}", "An das {n}", "{n}", "z. Hd. {n}"]).format(n=name))
    return [*lines, *CITY_HALL], target


def _letter(
    rng: random.Random,
    plan: FilePlan,
    unit: FilePlanUnit,
    today: date,
    case: tuple[str, str] | None,
    variants: Variants,
    typo_share: float,
    wrong_share: float,
) -> Letter:
    subjects, sentences = TOPICS.get(unit.code) or _fallback_topic(unit)
    slots = _slots(rng, today)
    kind = rng.choice(list(OPENERS))
    business = rng.random() < 0.15
    sender_name = slots["company"] if business else f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    sender = [sender_name, f"{rng.choice(STREETS)} {rng.randint(1, 140)}", rng.choice(CITIES)]
    if business and rng.random() < 0.5:
        sender.insert(1, f"z. Hd. {rng.choice(FIRST)} {rng.choice(LAST)}")
    recipient, addressed = _recipient(rng, plan, unit.department, wrong_share)
    written = today - timedelta(days=rng.randint(0, 30))
    date_line = rng.choice(
        [
            f"Wuppertal, {written:%d.%m.%Y}",
            f"{written:%d.%m.%Y}",
            f"Wuppertal, den {written.day}. {MONTHS[written.month - 1]} {written.year}",
            f"Datum: {written:%d.%m.%Y}",
        ]
    )
    subject = _fill(_pick(rng, subjects, variants), slots)
    case_ref = None
    if case is not None:
        case_ref = with_typo(case[0], rng) if rng.random() < typo_share else case[0]
    ref_in_subject = case_ref is not None and rng.random() < 0.5
    subject_line = subject
    if ref_in_subject:
        subject_line += ", " + _fill(rng.choice(REF_FORMS[:7]), {"ref": case_ref or ""})
    lines = [*sender, "", *recipient, "", date_line, ""]
    if case_ref and not ref_in_subject and rng.random() < 0.5:
        lines += [_fill(rng.choice(REF_FORMS), {"ref": case_ref}), ""]
    lines.append(rng.choice(["Betreff: ", "", "Betr.: ", ""]) + subject_line)
    lines += ["", _fill(rng.choice(SALUTATIONS), slots), ""]
    opener = _fill(_pick(rng, OPENERS[kind], variants), slots)
    body = [opener[:1].upper() + opener[1:]]
    pool = _pool(sentences, variants)
    chosen = rng.sample(pool, min(rng.randint(2, 4), len(pool)))
    body += [_fill(sentence, slots) for sentence in chosen]
    if unit.keywords and rng.random() < 0.5:
        keyword = rng.choice(list(unit.keywords))
        body.insert(
            rng.randint(1, len(body)), _pick(rng, KEYWORD_FORMS, variants).format(kw=keyword)
        )
    if rng.random() < 0.5:
        body.insert(rng.randint(1, len(body)), _pick(rng, NEUTRAL, variants))
    if case_ref and case_ref not in "\n".join(lines):
        body.insert(rng.randint(1, len(body)), _fill(rng.choice(BODY_REF_FORMS), {"ref": case_ref}))
    if rng.random() < 0.6:
        body.append(_fill(_pick(rng, CLOSERS, variants), slots))
    lines += _paragraphs(rng, body)
    lines += [
        "",
        rng.choice(GREETINGS),
        "",
        sender_name
        if not business
        else sender[1]
        if sender[1].startswith("z. Hd.")
        else sender_name,
    ]
    if rng.random() < 0.3:
        lines += ["", "Anlagen"]
    text = "\n".join(lines) + "\n"
    return Letter(
        lines,
        text,
        unit.code,
        unit.department,
        case_ref,
        addressed,
        kind,
        case[0] if case else None,
        sender_name,
        written,
    )


def _paragraphs(rng: random.Random, sentences: list[str]) -> list[str]:
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
        letters.append(
            _letter(rng, fileplan, unit, today, case, variants, typo_share, wrong_office_share)
        )
    rng.shuffle(letters)
    return letters
