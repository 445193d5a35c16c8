from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from classifiers.cases import CaseIndex, OpenCase
from classifiers.extract import extract
from classifiers.router import coldstart_model, make_coldstart_router
from classifiers.text_model import prepare_text
from classifiers.thresholds import Threshold
from config.fileplan import FilePlan
from config.settings import Settings
from mailroom.core.domain import CaseMatch
from mailroom.demo.letters import generate_letters
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


def _strict_plan() -> FilePlan:
    data = fileplan().model_dump()
    for dept in data["departments"]:
        if dept["id"] == "209":
            dept["auto_threshold"] = 1.0
    return FilePlan.model_validate(data)


def test_department_threshold_from_the_file_plan_applies():
    strict = _strict_plan()
    router = make_coldstart_router(strict, SETTINGS)
    text = ELTERNGELD_LETTER.format(ref="keins")
    result = router.route(text, extract(text, strict), CaseMatch())
    assert result.unit_code == "209.10" and result.decision == "review"
    assert any("Schwelle 100%" in r for r in result.reasons)
    assert router.threshold_in_force("209") == Threshold(1.0, "fileplan")


def test_an_administrators_threshold_wins_over_the_file_plans():
    strict = _strict_plan()
    router = make_coldstart_router(strict, SETTINGS)
    text = ELTERNGELD_LETTER.format(ref="keins")
    extraction = extract(text, strict)
    confidence = router.route(text, extraction, CaseMatch()).confidence
    router.admin_thresholds = {"209": confidence}
    result = router.route(text, extraction, CaseMatch())
    assert result.unit_code == "209.10" and result.decision == "auto"
    assert router.threshold_in_force("209") == Threshold(confidence, "admin")


def test_the_cold_start_router_has_no_measured_thresholds():
    router = make_coldstart_router(fileplan(), SETTINGS)
    router.thresholds = {"*": 0.5}
    assert router.threshold_in_force("402") == Threshold(SETTINGS.default_auto_threshold, "default")


def test_fast_features_are_exactly_scikit_learns_tfidf():
    """The router's own TF-IDF (no per-call validation) gives scikit-learn's numbers."""
    plan = fileplan()
    model = coldstart_model(plan)
    letters = [letter.text for letter in generate_letters(plan, 12, seed=3)]
    letters += ["", "Ä ö ü ß 123 -- ?", ELTERNGELD_LETTER.format(ref="209.10-0457/2024")]
    prepared = [prepare_text(t) for t in letters]
    expected = sp.hstack(
        [model.word.transform(prepared), model.char.transform(prepared)], format="csr"
    )
    ours = model.features(letters)
    assert ours.shape == expected.shape
    assert np.allclose(ours.toarray(), expected.toarray(), atol=1e-12)
    assert np.allclose(
        model.scores(letters),
        expected @ model.coef.T.astype(np.float64) + model.intercept,
        atol=1e-5,
    )
