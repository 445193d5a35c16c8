"""Random values for the placeholders of a sample letter, and references as people misspell them.

Every value is drawn from the letter's ``random.Random`` in a fixed order, so a seed always
gives the same letters.
"""

from __future__ import annotations

import random
import re
from datetime import date, timedelta

from mailroom.demo.phrasebook import phrasebook


def fill(template: str, slots: dict[str, str]) -> str:
    """Replace ``{name}`` by its slot; unknown placeholders stay as written."""
    return re.sub(r"\{(\w+)\}", lambda m: slots.get(m.group(1), m.group(0)), template)


def person(rng: random.Random) -> str:
    """A first and a last name."""
    people = phrasebook().people
    return f"{rng.choice(people.first_names)} {rng.choice(people.last_names)}"


def draw_slots(rng: random.Random, today: date) -> dict[str, str]:
    """Values for the placeholders of one letter (the draw order fixes a seed's letters)."""
    people, city = phrasebook().people, phrasebook().letter.city

    def day() -> str:
        return (today - timedelta(days=rng.randint(3, 400))).strftime("%d.%m.%Y")

    def plate() -> str:
        letters = rng.choice(city.plate_letters) + rng.choice(city.plate_letters)
        number = str(rng.randint(1, 9999))
        return fill(city.number_plate, {"letters": letters, "number": number})

    return {
        "child": f"{rng.choice(people.children)} {rng.choice(people.last_names)}",
        "date": day(),
        "date2": day(),
        "month": rng.choice(phrasebook().letter.months),
        "year": str(today.year - rng.randint(0, 2)),
        "amount": f"{rng.randint(12, 4800)},{rng.randint(0, 99):02d}",
        "street": f"{rng.choice(people.streets)} {rng.randint(1, 140)}",
        "plate": plate(),
        "company": rng.choice(people.companies),
        "dog": rng.choice(people.dogs),
        "school": rng.choice(people.schools),
        "kita": rng.choice(people.kitas),
        "other_name": person(rng),
        "other_name2": person(rng),
        "flurstueck": f"{rng.randint(1, 999)}/{rng.randint(1, 99)}",
        "iban_tail": f"{rng.randint(1000, 9999)}",
        "clerk": rng.choice(people.last_names),
        "phone": f"{rng.randint(100000, 999999)}",
    }


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
