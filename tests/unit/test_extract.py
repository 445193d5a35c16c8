from __future__ import annotations

from datetime import date

from classifiers.extract import extract
from classifiers.references import normalize
from tests.helpers_routing import ELTERNGELD_LETTER, fileplan


def test_reference_with_ocr_confusions_is_read_with_its_unit():
    result = extract(ELTERNGELD_LETTER.format(ref="2O9.1O-O457/24"), fileplan())
    refs = {r.normalized: r for r in result.references}
    ref = refs[normalize("209.10-0457/2024")]
    assert ref.kind == "aktenzeichen"
    assert ref.unit_hint == "209.10"
    assert ref.context == "Ihr Zeichen"


def test_letter_head_is_read():
    result = extract(ELTERNGELD_LETTER.format(ref="209.10-0457/2024"), fileplan())
    assert result.letter_date == date(2024, 3, 12)
    assert result.sender == "Anna Schneider, Kohlstraße 12, 42103 Wuppertal"
    assert result.recipient is not None and "Jugendamt" in result.recipient
    assert result.subject is not None and result.subject.startswith("Elterngeld für meine Tochter")
    assert result.addressed_departments == ["208"]
    assert "Anna Schneider" in result.names


def test_addressed_department_by_alias_number_and_ressort_name():
    plan = fileplan()
    for line, dept in (
        ("Amt 51", "208"),
        ("Ressort Bauen und Wohnen", "105"),
        ("Straßenverkehrsamt", "405"),
        ("Steueramt", "403"),
    ):
        text = (
            f"Max Muster\nWeg 1\n42103 Wuppertal\n\nStadt Wuppertal\n{line}\n"
            "Johannes-Rau-Platz 1\n42275 Wuppertal\n\nSehr geehrte Damen und Herren,\n"
        )
        assert extract(text, plan).addressed_departments == [dept], line


def test_kassenzeichen_and_unlabelled_references_in_the_body():
    text = (
        "Sehr geehrte Damen und Herren,\n\nzum Kassenzeichen 11.123456.7 und zum Vorgang "
        "UV-3391/24 teile ich mit, dass meine Kundennummer 4711-0815 lautet.\n"
    )
    refs = {r.normalized: r for r in extract(text, fileplan()).references}
    assert refs[normalize("11.123456.7")].kind == "kassenzeichen"
    assert refs[normalize("11.123456.7")].unit_hint == "403.10"
    assert refs[normalize("UV-3391/24")].unit_hint == "209.20"
    assert refs[normalize("4711-0815")].kind == "kundennummer"


def test_letter_without_references_yields_none_and_dates_of_events_are_not_the_letter_date():
    text = "Guten Tag,\n\nich bin am 03.02.2024 umgezogen.\n"
    result = extract(text, fileplan())
    assert result.references == []
    assert result.letter_date is None
