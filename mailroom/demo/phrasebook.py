"""The wording of the sample letters (Textbausteine), read once from ``phrases/*.yaml``.

``people.yaml`` holds senders and places, ``letter.yaml`` the parts around the topic
(addressee, date line, references, salutation, opener, closer, greeting), ``topics.yaml``
one topic per unit of the shipped file plan. Validation is minimal on purpose: every key
the renderer reads must be there, and a missing one is named with its file.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from mailroom.core.errors import ConfigurationError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

PHRASE_DIR = Path(__file__).with_name("phrases")

T = TypeVar("T", bound="DataclassInstance")


@dataclass(frozen=True)
class People:
    """Senders and places: names, streets, towns, companies, schools, Kitas, dogs."""

    first_names: list[str]
    last_names: list[str]
    children: list[str]
    streets: list[str]
    towns: list[str]
    companies: list[str]
    schools: list[str]
    kitas: list[str]
    dogs: list[str]


@dataclass(frozen=True)
class City:
    """The addressee: the city hall and the ways a letter names one of its offices."""

    authority: list[str]
    address: list[str]
    office_forms: list[str]
    number_plate: str
    plate_letters: str
    confused_offices: dict[str, str]


@dataclass(frozen=True)
class References:
    """How a letter quotes an Aktenzeichen: in the subject, on its own line, in the body."""

    forms: list[str]
    line_only: list[str]
    body: list[str]


@dataclass(frozen=True)
class LetterParts:
    """Everything of a letter around its topic."""

    city: City
    months: list[str]
    date_forms: list[str]
    subject_prefixes: list[str]
    references: References
    salutations: list[str]
    openers: dict[str, list[str]]
    keyword_forms: list[str]
    neutral: list[str]
    closers: list[str]
    greetings: list[str]
    attention: str
    enclosures: str


@dataclass(frozen=True)
class Topic:
    """Subject lines and body sentences of one unit (Aktenplaneinheit)."""

    subjects: list[str]
    sentences: list[str]


@dataclass(frozen=True)
class Fallback:
    """Templates for a unit without a topic, filled from its title and keywords."""

    subjects: list[str]
    per_keyword: str
    closing: str


@dataclass(frozen=True)
class Phrasebook:
    """All phrase banks of the sample letters."""

    people: People
    letter: LetterParts
    topics: dict[str, Topic]
    fallback: Fallback


@functools.cache
def phrasebook() -> Phrasebook:
    """The shipped phrase banks, read and checked once."""
    return load_phrasebook(PHRASE_DIR)


def load_phrasebook(directory: Path) -> Phrasebook:
    """Read and check ``people.yaml``, ``letter.yaml`` and ``topics.yaml`` in ``directory``."""
    people, letter, topics = (directory / f"{n}.yaml" for n in ("people", "letter", "topics"))
    topic_data = _read(topics)
    return Phrasebook(
        people=_build(People, _read(people), people),
        letter=_letter_parts(_read(letter), letter),
        topics=_topics(topic_data, topics),
        fallback=_build(Fallback, topic_data.get("fallback"), topics, "fallback"),
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"{path}: cannot read the phrase bank: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: expected a mapping of phrase lists")
    return data


def _build(cls: type[T], data: object, path: Path, key: str = "") -> T:
    """``cls`` from the mapping ``data``, read from ``path`` at ``key`` (for the errors)."""
    where = f"{path}: {key}" if key else str(path)
    if not isinstance(data, dict):
        raise ConfigurationError(f"{where}: missing, or not a mapping")
    names = [field.name for field in fields(cls)]
    missing = [name for name in names if name not in data]
    if missing:
        raise ConfigurationError(f"{where}: missing key(s) {', '.join(missing)}")
    return cls(**{name: data[name] for name in names})


def _letter_parts(data: dict[str, Any], path: Path) -> LetterParts:
    nested = {
        "city": _build(City, data.get("city"), path, "city"),
        "references": _build(References, data.get("references"), path, "references"),
    }
    return _build(LetterParts, {**data, **nested}, path)


def _topics(data: dict[str, Any], path: Path) -> dict[str, Topic]:
    topics = data.get("topics")
    if not isinstance(topics, dict):
        raise ConfigurationError(f"{path}: topics: missing, or not a mapping")
    return {
        str(code): _build(Topic, entry, path, f"topics.{code}") for code, entry in topics.items()
    }
