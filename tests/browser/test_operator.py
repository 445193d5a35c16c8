"""In a real Chromium: the Leitstand and an operator retrying a failed document."""

from __future__ import annotations

from typing import Any

import pytest

from mailroom.infra.db.models import Document
from tests.browser.conftest import LiveServer, screenshot
from tests.factories import make_document

pytestmark = pytest.mark.browser


def test_operator_retries_a_failed_document(live_server: LiveServer, new_page: Any):
    ctx = live_server.ctx
    failed = make_document(
        ctx,
        department_id=None,
        state="failed",
        reason="Tesseract: Seite nicht lesbar",
        subject="Unleserlicher Brief",
    )
    make_document(ctx, department_id="402", subject="Fertig")
    make_document(ctx, department_id=None, state="queued", subject="Wartend")
    page = new_page("leitstand")
    assert page.url.endswith("/leitstand")
    row = page.locator(f"tr[data-document='{failed}']")
    assert "Tesseract: Seite nicht lesbar" in row.inner_text()
    assert page.locator("svg.chart rect").count() == 36
    screenshot(page, "leitstand")
    before = ctx.queue.depth() or 0
    row.get_by_role("button", name="Erneut verarbeiten").click()
    page.wait_for_load_state()
    assert "wird erneut verarbeitet" in page.locator(".flash").inner_text()
    assert page.locator(f"tr[data-document='{failed}']").count() == 0
    with ctx.db.session() as session:
        doc = session.get(Document, failed)
        assert doc is not None and doc.state == "queued"
    assert ctx.queue.depth() == before + 1


def test_leitstand_refreshes_itself(live_server: LiveServer, new_page: Any):
    page = new_page("leitstand")
    assert page.locator("#failed").inner_text().count("Fehlgeschlagen") == 0
    make_document(live_server.ctx, department_id=None, state="failed", reason="neu kaputt")
    # The live part is fetched again every 10 s without reloading the page.
    page.wait_for_selector("text=neu kaputt", timeout=15_000)


def test_paper_original_goes_from_clerk_to_scan_centre_and_back(
    live_server: LiveServer, new_page: Any
):
    doc = make_document(live_server.ctx, department_id="402", subject="Vollmacht im Original")
    clerk = new_page("clerk402")
    clerk.goto(f"/documents/{doc}")
    clerk.fill("input[name=reason]", "Vollmacht mit Originalunterschrift")
    clerk.click("#request-original")
    clerk.wait_for_load_state()
    assert "angefordert" in clerk.locator(".flash").inner_text()
    assert clerk.locator("#original-requests tr[data-status='open']").count() == 1

    operator = new_page("leitstand")
    row = operator.locator("#original-requests tr[data-request]")
    assert row.count() == 1
    assert "Vollmacht mit Originalunterschrift" in row.inner_text()
    assert "clerk402" in row.inner_text()
    screenshot(operator, "leitstand-originale")
    row.locator("input[name=note]").fill("Per Hauspost an Amt 402")
    row.get_by_role("button", name="Bereitgestellt").click()
    operator.wait_for_load_state()
    assert "als bereitgestellt vermerkt" in operator.locator(".flash").inner_text()
    assert operator.locator("#original-requests tr[data-request]").count() == 0

    clerk.reload()
    answered = clerk.locator("#original-requests tr[data-status='provided']")
    assert "Bereitgestellt" in answered.inner_text()
    assert "Per Hauspost an Amt 402" in answered.inner_text()
