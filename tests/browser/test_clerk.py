"""In a real Chromium: department isolation, reassigning, and letters containing markup."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import LiveServer, screenshot
from tests.factories import make_document

pytestmark = pytest.mark.browser


def test_clerk_cannot_open_another_departments_document_even_by_url(
    live_server: LiveServer, new_page: Any
):
    own = make_document(live_server.ctx, department_id="402", subject="Glasfaser Antrag")
    other = make_document(live_server.ctx, department_id="304", subject="Brandschau Termin")
    page = new_page("clerk402")
    assert page.url.endswith("/posteingang")
    assert page.locator(f"tr[data-document='{own}']").count() == 1
    assert "Brandschau" not in page.content()
    screenshot(page, "posteingang")
    response = page.goto(f"/documents/{other}")
    assert response.status == 403
    assert "Kein Zugriff" in page.inner_text("h1")
    assert "Brandschau" not in page.content()
    image = page.request.get(f"/documents/{other}/pages/1.jpg")
    assert image.status == 403
    api = page.request.get(f"/api/documents/{other}")
    assert api.status == 403
    screenshot(page, "zugriff-verweigert")


def test_clerk_reassigns_a_document_and_it_appears_in_the_other_inbox(
    live_server: LiveServer, new_page: Any
):
    doc = make_document(
        live_server.ctx,
        department_id="402",
        subject="Rauchmelder Prüfung",
        state="review",
        confidence=0.42,
    )
    clerk = new_page("clerk402")
    clerk.goto("/klaerfaelle")
    screenshot(clerk, "klaerfaelle")
    clerk.click(f"tr[data-document='{doc}'] a")
    clerk.wait_for_selector("img[alt='Seite 1']")
    assert clerk.locator(".region").count() == 1
    clerk.click("button[data-zoom='1']")
    screenshot(clerk, "dokument")
    clerk.fill("#reassign-target", "304.10")
    clerk.click("#reassign")
    clerk.wait_for_load_state()
    assert clerk.url.endswith("/posteingang")
    assert "Rauchmelder" not in clerk.content()

    other = new_page("clerk304")
    row = other.locator(f"tr[data-document='{doc}']")
    assert "Rauchmelder Prüfung" in row.inner_text()
    assert "Neu" in row.inner_text()


def test_letter_text_with_script_tag_shows_as_text(live_server: LiveServer, new_page: Any):
    evil = '<script>window.__pwned = 1; alert("XSS")</script>Sehr geehrte Damen und Herren'
    doc = make_document(
        live_server.ctx,
        department_id="402",
        text=evil,
        subject='<img src=x onerror="window.__pwned=2">Betreff',
    )
    page = new_page("clerk402")
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(f"/documents/{doc}")
    assert page.inner_text("#ocr-text").startswith("<script>window.__pwned = 1;")
    assert page.inner_text("h1").startswith("<img src=x")
    assert page.evaluate("window.__pwned") is None
    assert dialogs == []


def test_clerk_changes_own_password_from_the_header(live_server: LiveServer, new_page: Any):
    from tests.web_helpers import PASSWORD

    page = new_page("clerk304")
    page.click("header a.who")
    page.wait_for_load_state()
    assert page.url.endswith("/konto")
    page.fill("input[name=current_password]", PASSWORD)
    page.fill("input[name=new_password]", "Feuerwehr-2026-neu")
    page.fill("input[name=new_password_repeat]", "Feuerwehr-2026-anders")
    page.click("#change-password")
    page.wait_for_load_state()
    assert "stimmen nicht überein" in page.inner_text("#password-error")
    page.fill("input[name=current_password]", PASSWORD)
    page.fill("input[name=new_password]", "Feuerwehr-2026-neu")
    page.fill("input[name=new_password_repeat]", "Feuerwehr-2026-neu")
    page.click("#change-password")
    page.wait_for_load_state()
    assert "Ihr Passwort wurde geändert" in page.locator(".flash").inner_text()
    screenshot(page, "konto")
    page.goto("/posteingang")  # this session stays logged in
    assert page.url.endswith("/posteingang")
