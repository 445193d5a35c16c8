"""A handwritten letter is routed automatically only on evidence from its printed text."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from classifiers.cases import CaseIndex, OpenCase
from classifiers.extract import extract
from classifiers.printed_evidence import (
    HANDWRITTEN_REVIEW,
    REVIEW_REASON,
    check_handwritten_letter,
    printed_text,
)
from classifiers.router import make_coldstart_router
from config.settings import Settings
from mailroom.core.domain import (
    Box,
    CaseMatch,
    HandRegion,
    Handwritten,
    PageOcr,
    PreparedPage,
    Recognized,
    RoutingResult,
    Word,
)
from mailroom.runtime.pipeline import handwriting_stage
from tests.helpers_routing import fileplan

SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]
CASE = OpenCase(7, "UV-3391/24", "209.20", ("Anna Schneider",))

PRINTED_HEAD = ["Stadt Wuppertal", "An das Jugendamt", "Johannes-Rau-Platz 1", "42275 Wuppertal"]
HANDWRITTEN_BODY = [
    "Sehr geehrte Damen und Herren,",
    "ich bitte um Auskunft zum Unterhaltsvorschuss für meine Tochter Mia.",
    "Mit freundlichen Grüßen",
    "Anna Schneider",
]


def _page(printed: list[str], handwritten: list[str], hand: Handwritten | None = "letter"):
    """One page: printed lines on top, handwritten lines below inside one text region."""
    words: list[Word] = []
    for n, line in enumerate([*printed, *handwritten]):
        x = 100
        for token in line.split():
            words.append(Word(token, 90.0, Box(x, 100 + 60 * n, 20 * len(token), 40), n))
            x += 20 * len(token) + 15
    top = 100 + 60 * len(printed) - 10
    region = HandRegion(Box(80, top, 2200, 60 * len(handwritten) + 10), "text")
    text = "\n".join([*printed, *handwritten])
    ocr = PageOcr(
        1, text, 70.0, words, handwritten=hand, handwriting=[region] if handwritten else []
    )
    image = np.full((3508, 2480), 255, dtype=np.uint8)
    return Recognized([PreparedPage(1, image, 300)], [ocr])


def _route(recognized: Recognized) -> tuple[RoutingResult, RoutingResult]:
    """The router's decision on the whole text, and after the handwriting rule."""
    plan = fileplan()
    index = CaseIndex.from_cases([CASE])
    extraction = extract(recognized.text, plan)
    case_match = index.match(extraction)
    router = make_coldstart_router(plan, SETTINGS)
    routing = router.route(recognized.text, extraction, case_match)
    return routing, handwriting_stage(recognized, case_match, routing, plan, index)


def test_a_handwritten_letter_whose_case_is_only_in_the_handwriting_goes_to_review():
    page = _page(
        PRINTED_HEAD, [*HANDWRITTEN_BODY[:1], "Ihr Zeichen: UV-3391/24", *HANDWRITTEN_BODY[1:]]
    )
    before, after = _route(page)
    assert before.decision == "auto" and before.case_id == 7
    assert after.decision == "review"
    assert after.case_id == 7 and after.department_id == "209"  # still the proposal
    assert after.reasons[:-1] == before.reasons
    assert after.reasons[-1].startswith(REVIEW_REASON) and "UV-3391/24" in after.reasons[-1]


def test_a_handwritten_letter_whose_case_reference_is_printed_stays_auto():
    form_head = [*PRINTED_HEAD, "Ihr Zeichen: UV-3391/24"]
    before, after = _route(_page(form_head, HANDWRITTEN_BODY))
    assert before.decision == after.decision == "auto"
    assert after.case_id == 7
    assert after.reasons[-1] == (
        "Handschriftlicher Brief: Vorgang UV-3391/24 steht im gedruckten Text"
        " – automatische Zuordnung bleibt"
    )


def test_printed_text_leaves_out_the_handwritten_text_but_keeps_notes_and_print():
    page = _page(PRINTED_HEAD, HANDWRITTEN_BODY).results[0]
    assert printed_text([page]) == "\n".join(PRINTED_HEAD)
    notes = replace(
        page, handwritten="notes", handwriting=[HandRegion(page.handwriting[0].box, "note")]
    )
    assert "Unterhaltsvorschuss" in printed_text([notes])
    page.handwriting = []  # a handwritten letter without regions: nothing counts as print
    assert printed_text([page]) == ""


def test_without_a_case_a_printed_reference_of_the_department_keeps_auto():
    plan = fileplan()
    routing = RoutingResult("209", "209.10", None, 0.93, "auto", reasons=["Textklassifikation"])
    printed = extract("Aktenzeichen: 209.10-0458/2024\nStadt Wuppertal", plan)
    kept = check_handwritten_letter(routing, CaseMatch(), printed, CaseMatch(), plan)
    assert kept.decision == "auto" and "209.10-0458/2024" in kept.reasons[-1]
    other = extract("Aktenzeichen: 003.10-12/2024", plan)  # another department's reference
    review = check_handwritten_letter(routing, CaseMatch(), other, CaseMatch(), plan)
    assert review.decision == "review" and review.reasons[-1].startswith(REVIEW_REASON)
    assert routing.decision == "auto" and len(routing.reasons) == 1  # not changed in place


def test_letters_with_handwritten_notes_only_are_left_alone_and_reviews_say_why():
    notes = _page(PRINTED_HEAD, [*HANDWRITTEN_BODY[:1], "Ihr Zeichen: UV-3391/24"], hand="notes")
    before, after = _route(notes)
    assert after is before
    plan = fileplan()
    review = RoutingResult("209", "209.10", None, 0.4, "review", reasons=["Klärfall"])
    same = check_handwritten_letter(review, CaseMatch(), extract("", plan), CaseMatch(), plan)
    assert same.decision == "review" and same.unit_code == "209.10"
    assert same.reasons == ["Klärfall", f"Handschriftlicher Brief: {HANDWRITTEN_REVIEW}"]
