"""The clerk sees handwriting: a badge on the document and in the inbox, regions on the page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailroom.infra.db.models import Page
from mailroom.runtime.context import AppContext
from mailroom.web.app import create_app
from tests.factories import make_document
from tests.handwriting_helpers import mark_handwritten
from tests.web_helpers import login, seed_users, token_client


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    seed_users(ctx)
    with TestClient(create_app(ctx)) as c:
        yield c


def test_a_handwritten_letter_shows_its_badge_and_its_regions(client: TestClient, ctx: AppContext):
    doc = make_document(ctx, department_id="402", subject="Bitte um Rückruf", state="review")
    mark_handwritten(ctx, doc)
    login(client, "clerk402")
    page = client.get(f"/documents/{doc}").text
    assert 'id="handwritten" data-handwritten="letter">Handschriftlicher Brief</span>' in page
    assert page.count('class="hand-region') == 2
    assert 'data-kind="text" title="Handschrift"' in page
    assert '<span class="hand-label">Unterschrift</span>' in page
    # Box 40, 120, 320, 200 on a 400 x 560 page, in per cent of the page.
    assert "left: 10.000%; top: 21.429%; width: 80.000%; height: 35.714%" in page
    assert "data-toggle-hand" in page and "zweiter Lesedurchgang" in page
    queue = client.get("/klaerfaelle").text
    assert 'data-handwritten="letter">Handschriftlicher Brief</span>' in queue


def test_handwritten_notes_have_their_own_badge_and_printed_letters_none(
    client: TestClient, ctx: AppContext
):
    notes = make_document(ctx, department_id="402", subject="Mit Randnotiz")
    printed = make_document(ctx, department_id="402", subject="Gedruckt")
    mark_handwritten(ctx, notes, "notes")
    login(client, "clerk402")
    inbox = client.get("/posteingang").text
    assert inbox.count("Handschriftliche Notizen") == 1
    assert "Handschriftlicher Brief" not in inbox
    plain = client.get(f"/documents/{printed}").text
    assert "hand-region" not in plain and "data-toggle-hand" not in plain


def test_the_api_gives_the_handwriting_of_document_and_pages(ctx: AppContext):
    doc = make_document(ctx, department_id="402")
    mark_handwritten(ctx, doc)
    seed_users(ctx)
    detail = token_client(ctx, "clerk402").get(f"/api/documents/{doc}").json()
    assert detail["handwritten"] == "letter"
    assert detail["pages"][0]["handwritten"] == "letter"
    assert [r["kind"] for r in detail["pages"][0]["handwriting"]] == ["text", "signature"]


def test_a_region_kind_is_shown_as_text(client: TestClient, ctx: AppContext):
    doc = make_document(ctx, department_id="402")
    mark_handwritten(ctx, doc)
    with ctx.db.session() as session:
        page = session.scalars(select(Page).where(Page.document_id == doc)).one()
        page.handwriting = [{"kind": '"><script>alert(1)</script>', "box": [1, 2, 3, 4]}]
    login(client, "clerk402")
    html = client.get(f"/documents/{doc}").text
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
