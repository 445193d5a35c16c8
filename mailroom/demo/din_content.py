"""What a DIN 5008 sample letter says, block by block (Briefbestandteile), before any layout.

:func:`compose` draws a letter from the phrase banks (``phrases/people.yaml``,
``letter.yaml``, ``topics.yaml`` and ``business.yaml``): a firm's letter has a letterhead,
a return-address line, an information block and a footer; a private letter has the
sender's lines at the top and a date line. :mod:`mailroom.demo.layouts` puts the blocks on
a page. The wording is the project's own; a seed always gives the same letter.
"""

from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import yaml

from mailroom.core.errors import ConfigurationError
from mailroom.demo.fillers import draw_slots, fill, person
from mailroom.demo.phrasebook import PHRASE_DIR, phrasebook


@dataclass(frozen=True)
class LetterContent:
    """The blocks of one letter, in reading order (empty where a letter has none)."""

    letterhead: tuple[str, ...]  # the firm's name and contact lines, or the sender's lines
    return_address: str  # Rücksendeangabe, one small line above the address field
    address: tuple[str, ...]  # Anschriftfeld: the city
    info: tuple[tuple[str, str], ...]  # Informationsblock: (label, value), "Datum" last
    date_line: str  # Ort, Datum (when there is no information block)
    subject: str
    salutation: str
    paragraphs: tuple[str, ...]
    closing: str  # Grußformel
    signer: tuple[str, ...]  # typed name (and function) below the signature
    enclosures: tuple[str, ...]  # "Anlagen" and the items
    footer: tuple[tuple[str, ...], ...]  # Geschäftsangaben in columns
    firm: bool
    signature: str  # the name as the signer writes it by hand (not part of the text)


@functools.cache
def business() -> dict[str, Any]:
    """The phrase bank of firms' letters (``phrases/business.yaml``)."""
    path = PHRASE_DIR / "business.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"{path}: cannot read the phrase bank: {exc}") from exc
    keys = ("firms", "taglines", "contact_forms", "info_lines", "info_date", "functions",
            "footer", "business_sentences", "enclosure_items", "notes")  # fmt: skip
    if not isinstance(data, dict) or (missing := [k for k in keys if k not in data]):
        raise ConfigurationError(f"{path}: missing key(s) {', '.join(missing or keys)}")
    return data


def _digits(rng: random.Random, template: str) -> str:
    """``{nnn}`` -> three random digits (the first not 0)."""

    def draw(match: re.Match[str]) -> str:
        n = len(match.group(1))
        return str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(n - 1))

    return re.sub(r"\{(n+)\}", draw, template)


def _slug(name: str) -> str:
    """A firm's e-mail domain: its first words, lower case, umlauts written out."""
    plain = name.lower()
    for umlaut, spelled in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        plain = plain.replace(umlaut, spelled)
    words = [w for w in re.split(r"[^a-z0-9]+", plain) if w and w not in {"gmbh", "und", "co"}]
    return "-".join(words[:2]) or "post"


def _mail(name: str) -> str:
    first, _, last = name.partition(" ")
    return _slug(f"{first}").split("-")[0][:1] + "." + _slug(last).split("-")[0]


@dataclass(frozen=True)
class _Writer:
    rng: random.Random
    slots: dict[str, str]
    written: date

    def fill(self, template: str, **extra: str) -> str:
        return fill(_digits(self.rng, template), {**self.slots, **extra})


def _firm_blocks(w: _Writer, firm: str, street: str, town: str) -> dict[str, Any]:
    """Letterhead, return address, information block, footer and signer of a firm."""
    bank, rng = business(), w.rng
    slug, contact = _slug(firm), person(rng)
    head = [firm]
    if rng.random() < 0.4:
        head.append(rng.choice(bank["taglines"]))
    forms = bank["contact_forms"]
    head += [w.fill(forms[0], street=street, town=town), w.fill(rng.choice(forms[1:]), slug=slug)]
    initials = "".join(part[:1] for part in contact.split()[:2]).upper()
    values = {"name": contact, "slug": slug, "mail": _mail(contact), "initials": initials,
              "date": (w.written - timedelta(days=rng.randint(5, 60))).strftime("%d.%m.%Y"),
              "year": str(w.written.year)}  # fmt: skip
    lines = rng.sample(bank["info_lines"], rng.randint(3, 6))
    lines.sort(key=bank["info_lines"].index)
    info = [(label, w.fill(value, **values)) for label, value in lines]
    info.append((bank["info_date"], f"{w.written:%d.%m.%Y}"))
    register = [
        w.fill(line, name=person(rng)) for line in rng.sample(bank["footer"]["register"], 2)
    ]
    bic = "".join(rng.choice("ABCDEFGHKLMNPRSTUWXYZ") for _ in range(6)) + "XXX"
    money = [rng.choice(bank["footer"]["banks"])]
    money += [w.fill(line, bic=bic) for line in bank["footer"]["bank_lines"]]
    footer = [(firm, street, town), tuple(register), tuple(money)][: rng.choice((2, 3, 3))]
    return {
        "letterhead": tuple(head),
        "return_address": f"{firm} · {street} · {town}",
        "info": tuple(info),
        "footer": tuple(footer),
        "signer": (contact, rng.choice(bank["functions"])),
        "signature": contact,
    }


def _body(w: _Writer, firm: bool) -> tuple[str, list[str]]:
    """Subject and paragraphs: an opener, topic sentences, maybe a neutral one, a closer."""
    rng, book = w.rng, phrasebook()
    topic = rng.choice(list(book.topics.values()))
    opener = w.fill(rng.choice(rng.choice(list(book.letter.openers.values()))))
    sentences = [opener]
    sentences += [w.fill(s) for s in rng.sample(topic.sentences, min(4, len(topic.sentences)))]
    if firm:
        sentences += [w.fill(s) for s in rng.sample(business()["business_sentences"], 2)]
    elif rng.random() < 0.6:
        sentences.append(w.fill(rng.choice(book.letter.neutral)))
    sentences.append(w.fill(rng.choice(book.letter.closers)))
    paragraphs: list[str] = []
    while sentences:
        take = rng.randint(1, 3)
        paragraphs.append(" ".join(sentences[:take]))
        sentences = sentences[take:]
    return w.fill(rng.choice(topic.subjects)), paragraphs


def compose(seed: int, *, firm: bool | None = None, today: date | None = None) -> LetterContent:
    """One letter to the city; ``firm`` None: a firm's letter in about half the cases."""
    rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
    today = today or date(2024, 11, 15)
    written = today - timedelta(days=rng.randint(0, 40))
    w = _Writer(rng, draw_slots(rng, today), written)
    firm = rng.random() < 0.5 if firm is None else firm
    people, book = phrasebook().people, phrasebook()
    street, town = f"{rng.choice(people.streets)} {rng.randint(1, 140)}", rng.choice(people.towns)
    city = book.letter.city
    address = [city.authority[0]]
    if rng.random() < 0.7:
        address.append(rng.choice(rng.choice(_offices())))
    address += city.address
    subject, paragraphs = _body(w, firm)
    closing = rng.choice(book.letter.greetings)
    salutation = w.fill(rng.choice(book.letter.salutations))
    enclosures: tuple[str, ...] = ()
    if rng.random() < 0.35:
        enclosures = ("Anlagen", *rng.sample(business()["enclosure_items"], rng.randint(1, 3)))
    if firm:
        name = rng.choice([*business()["firms"], *people.companies])
        blocks = _firm_blocks(w, name, street, town)
        return LetterContent(
            address=tuple(address),
            date_line="",
            subject=subject,
            salutation=salutation,
            paragraphs=tuple(paragraphs),
            closing=closing,
            enclosures=enclosures,
            firm=True,
            **blocks,
        )
    name = person(rng)
    head = [name, street, town]
    if rng.random() < 0.5:
        head.append(w.fill("Telefon 0202 {nnnnnn}"))
    dated = f"Wuppertal, {written.day}. {book.letter.months[written.month - 1]} {written.year}"
    return LetterContent(
        letterhead=tuple(head),
        return_address=f"{name} · {street} · {town}" if rng.random() < 0.4 else "",
        address=tuple(address),
        info=(),
        date_line=dated if rng.random() < 0.6 else f"Wuppertal, {written:%d.%m.%Y}",
        subject=subject,
        salutation=salutation,
        paragraphs=tuple(paragraphs),
        closing=closing,
        signer=(name,),
        enclosures=enclosures,
        footer=(),
        firm=False,
        signature=name,
    )


def _offices() -> list[list[str]]:
    """Office names the address field may carry (the shipped topics' offices)."""
    return [
        ["Bürgeramt", "Einwohnermeldeamt"],
        ["Ordnungsamt", "Straßenverkehrsamt"],
        ["Jugendamt", "Amt für Soziales"],
        ["Bauordnungsamt", "Steueramt", "Kämmerei"],
    ]


def shortened(content: LetterContent) -> LetterContent:
    """The letter with its last sentence dropped (to fit the page); at least one stays."""
    paragraphs = list(content.paragraphs)
    if len(paragraphs) == 1 and ". " not in paragraphs[0]:
        return content
    last = paragraphs.pop()
    sentences = re.split(r"(?<=[.!?:]) ", last)
    if len(sentences) > 1:
        paragraphs.append(" ".join(sentences[:-1]))
    return replace(content, paragraphs=tuple(paragraphs))
