from __future__ import annotations

from classifiers.references import (
    PatternSet,
    clean,
    edit_distance_at_most_one,
    label_kind,
    normalize,
)


def test_ocr_confusions_separators_and_short_years_give_the_same_key():
    key = normalize("209.10-0457/2024")
    for variant in (
        "2O9.1O-O457/2024",
        "209.10 - 0457/24",
        "209.10--0457//2024",
        "20910-0457/2024",
        "209 10 0457 2024",
        "2o9.l0-0457/2024",
    ):
        assert normalize(variant) == key, variant


def test_letter_prefixes_are_not_turned_into_digits():
    assert normalize("BA-2231/2023") == "BA22312023"
    assert normalize("UV-3391/24") == normalize("UV-3391/2024")
    assert normalize("EG-2O4311") == "EG204311"
    assert normalize("Il.l23456.7") == normalize("11.123456.7")


def test_different_numbers_keep_different_keys():
    assert normalize("209.10-0457/2024") != normalize("209.10-0458/2024")
    assert normalize("209.10-0457/2024") != normalize("209.10-0457/2023")


def test_file_plan_pattern_accepts_a_reference_with_a_lost_separator():
    patterns = PatternSet.from_units(
        [
            ("209.10", (r"^209\.10-\d{1,6}/(\d{2}|\d{4})$",)),
            ("209.20", (r"^209\.20-\d{1,6}/(\d{2}|\d{4})$",)),
        ]
    )
    assert patterns.unit_for("209.10-0457/2024") == "209.10"
    assert patterns.unit_for("20910-0457/2024") == "209.10"
    assert patterns.unit_for("2O9.2O-12/24") == "209.20"
    assert patterns.unit_for("42103 Wuppertal") is None
    assert clean("2O9.1O - 0457//24") == "209.10-0457/24"


def test_edit_distance_one_covers_substitution_insertion_and_deletion_only():
    assert edit_distance_at_most_one("20910045724", "20910045734")
    assert edit_distance_at_most_one("20910045724", "2091004572")
    assert edit_distance_at_most_one("20910045724", "209100457244")
    assert not edit_distance_at_most_one("20910045724", "20910054724")


def test_labels_announce_their_kind():
    assert label_kind("Ihr Zeichen") == "aktenzeichen"
    assert label_kind("Az.") == "aktenzeichen"
    assert label_kind("Geschäftszeichen") == "aktenzeichen"
    assert label_kind("Kassenzeichen") == "kassenzeichen"
    assert label_kind("Kundennummer") == "kundennummer"
