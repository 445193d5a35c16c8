"""The sample-letter generator: phrase banks as YAML data, letters composed from them."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import yaml

from config.fileplan import FilePlan
from mailroom.core.errors import ConfigurationError
from mailroom.demo.letters import generate_letters
from mailroom.demo.phrasebook import PHRASE_DIR, load_phrasebook, phrasebook
from tests.helpers_routing import CASES_CSV, fileplan


def _cases() -> list[tuple[str, str]]:
    """The open cases shipped as example: (Aktenzeichen, unit code)."""
    with CASES_CSV.open(encoding="utf-8") as fh:
        return [(row["aktenzeichen"], row["unit"]) for row in csv.DictReader(fh)]


def test_every_unit_of_the_shipped_file_plan_has_a_phrase_bank() -> None:
    plan = fileplan()
    assert {unit.code for unit in plan.units} == set(phrasebook().topics)
    for topic in phrasebook().topics.values():
        assert len(topic.subjects) >= 4 and len(topic.sentences) >= 5


def test_letters_cover_every_unit_and_every_kind() -> None:
    plan = fileplan()
    letters = generate_letters(plan, 4 * len(plan.units), seed=1)
    assert {letter.unit_code for letter in letters} == {unit.code for unit in plan.units}
    assert {letter.kind for letter in letters} == set(phrasebook().letter.openers)
    for letter in letters:
        assert letter.text == "\n".join(letter.lines) + "\n"
        assert "{" not in letter.text, letter.text  # every placeholder filled


def test_the_same_seed_gives_the_same_letters() -> None:
    first = generate_letters(fileplan(), 30, seed=7, cases=_cases())
    again = generate_letters(fileplan(), 30, seed=7, cases=_cases())
    other = generate_letters(fileplan(), 30, seed=8, cases=_cases())
    assert [letter.text for letter in first] == [letter.text for letter in again]
    assert [letter.text for letter in first] != [letter.text for letter in other]


def test_letters_quote_open_cases_and_some_go_to_the_wrong_office() -> None:
    letters = generate_letters(fileplan(), 300, seed=2, cases=_cases(), case_share=0.9)
    quoting = [letter for letter in letters if letter.case_aktenzeichen]
    assert quoting and all((letter.case_ref or "?") in letter.text for letter in quoting)
    assert any(letter.case_ref != letter.case_aktenzeichen for letter in quoting)  # typos
    wrong = [
        letter
        for letter in letters
        if letter.addressed_department not in (None, letter.department_id)
    ]
    assert 0 < len(wrong) < len(letters) / 4


def test_train_and_test_letters_use_disjoint_sentences() -> None:
    """Every fourth sentence of a topic is for "test" letters only; the rest for "train"."""
    test_pool: set[str] = set()
    train_pool: set[str] = set()
    for topic in phrasebook().topics.values():
        for i, sentence in enumerate(topic.sentences):
            if "{" not in sentence:  # placeholders make the text vary: compare plain ones
                (test_pool if i % 4 == 3 else train_pool).add(sentence)
    train = " ".join(
        letter.text for letter in generate_letters(fileplan(), 600, seed=3, variants="train")
    )
    test = " ".join(
        letter.text for letter in generate_letters(fileplan(), 600, seed=3, variants="test")
    )
    assert any(s in test for s in test_pool) and any(s in train for s in train_pool)
    assert not [s for s in test_pool - train_pool if s in train]
    assert not [s for s in train_pool - test_pool if s in test]


def test_a_unit_without_a_phrase_bank_gets_letters_from_the_file_plan() -> None:
    raw = fileplan().model_dump()
    raw["units"] = [{**unit, "code": f"9{unit['code']}"} for unit in raw["units"]]
    other_city = FilePlan.model_validate(raw)
    unit = other_city.units[0]
    letters = generate_letters(other_city, 20, seed=4, units=[unit.code])
    assert all(letter.unit_code == unit.code for letter in letters)
    assert any(keyword in letter.text for letter in letters for keyword in unit.keywords)


def test_a_missing_key_is_named_with_its_file(tmp_path: Path) -> None:
    phrases = tmp_path / "phrases"
    shutil.copytree(PHRASE_DIR, phrases)
    letter = phrases / "letter.yaml"
    data = yaml.safe_load(letter.read_text(encoding="utf-8"))
    del data["greetings"]
    del data["city"]["address"]
    letter.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"letter\.yaml: city: missing key\(s\) address"):
        load_phrasebook(phrases)
    data["city"]["address"] = ["Rathaus"]
    letter.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"letter\.yaml: missing key\(s\) greetings"):
        load_phrasebook(phrases)


def test_a_topic_without_sentences_is_named(tmp_path: Path) -> None:
    phrases = tmp_path / "phrases"
    shutil.copytree(PHRASE_DIR, phrases)
    topics = phrases / "topics.yaml"
    data = yaml.safe_load(topics.read_text(encoding="utf-8"))
    del data["topics"]["003.10"]["sentences"]
    topics.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"topics\.yaml: topics\.003\.10: missing"):
        load_phrasebook(phrases)
