from __future__ import annotations

import time

from classifiers.cases import CaseIndex, OpenCase
from classifiers.extract import extract
from classifiers.router import make_coldstart_router
from mailroom.domain import CaseMatch
from mailroom.fileplan import FilePlan
from mailroom.samples.letters import generate_letters
from mailroom.settings import Settings
from tests.helpers_routing import ELTERNGELD_LETTER, fileplan

SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]


def test_cold_start_routes_a_clear_letter_to_the_right_department_and_says_so():
    router = make_coldstart_router(fileplan(), SETTINGS)
    text = ELTERNGELD_LETTER.format(ref="keins")
    result = router.route(text, extract(text, fileplan()), CaseMatch())
    assert router.version.startswith("coldstart-")
    assert result.classifier_version == router.version
    assert result.department_id == "209" and result.unit_code == "209.10"
    assert any("Kaltstart" in r for r in result.reasons)
    assert result.alternatives and result.alternatives[0].unit_code != "209.10"


def test_a_letter_quoting_a_known_aktenzeichen_lands_in_that_case():
    plan = fileplan()
    router = make_coldstart_router(plan, SETTINGS)
    index = CaseIndex.from_cases([OpenCase(7, "UV-3391/24", "209.20", ("Anna Schneider",))])
    # The text talks about Elterngeld, but the quoted reference belongs to an UVG case.
    text = ELTERNGELD_LETTER.format(ref="UV-339l/2024")
    extraction = extract(text, plan)
    result = router.route(text, extraction, index.match(extraction))
    assert result.case_id == 7
    assert (result.department_id, result.unit_code) == ("209", "209.20")
    assert result.decision == "auto"
    assert "UV-3391/24" in result.reasons[0]


def test_an_ambiguous_reference_goes_to_review_with_the_candidates():
    plan = fileplan()
    router = make_coldstart_router(plan, SETTINGS)
    index = CaseIndex.from_cases(
        [OpenCase(1, "209.10-0457/2024", "209.10"), OpenCase(2, "209.10-0459/2024", "209.10")]
    )
    text = ELTERNGELD_LETTER.format(ref="209.10-0458/2024")
    extraction = extract(text, plan)
    result = router.route(text, extraction, index.match(extraction))
    assert result.decision == "review" and result.case_id is None
    joined = " ".join(result.reasons)
    assert "209.10-0457/2024" in joined and "209.10-0459/2024" in joined


def test_department_threshold_from_the_file_plan_wins():
    data = fileplan().model_dump()
    for dept in data["departments"]:
        if dept["id"] == "209":
            dept["auto_threshold"] = 1.0
    strict = FilePlan.model_validate(data)
    router = make_coldstart_router(strict, SETTINGS)
    text = ELTERNGELD_LETTER.format(ref="keins")
    result = router.route(text, extract(text, strict), CaseMatch())
    assert result.unit_code == "209.10" and result.decision == "review"
    assert any("Schwelle 100%" in r for r in result.reasons)


def test_routing_a_document_takes_less_than_ten_milliseconds():
    plan = fileplan()
    router = make_coldstart_router(plan, SETTINGS)
    letters = generate_letters(plan, 40, seed=3)
    timings = []
    for letter in letters:
        started = time.perf_counter()
        router.route(letter.text, extract(letter.text, plan), CaseMatch())
        timings.append(time.perf_counter() - started)
    # The median: one slow document on a busy machine says nothing about the router.
    assert sorted(timings)[len(timings) // 2] < 0.010
