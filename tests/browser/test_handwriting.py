"""In a real Chromium: a handwritten letter's badge and its regions on the page image."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import LiveServer, screenshot
from tests.factories import make_document
from tests.handwriting_helpers import mark_handwritten

pytestmark = pytest.mark.browser


def test_clerk_sees_the_handwriting_marked_and_can_hide_it(live_server: LiveServer, new_page: Any):
    doc = make_document(live_server.ctx, department_id="402", subject="Brief von Hand")
    mark_handwritten(live_server.ctx, doc)
    page = new_page("clerk402")
    badge = page.locator(f"tr[data-document='{doc}'] .badge.handwritten")
    assert badge.inner_text() == "Handschriftlicher Brief"
    page.click(f"tr[data-document='{doc}'] a")
    page.wait_for_selector("img[alt='Seite 1']")
    # Until the image has loaded the frame has no height, nor have the regions drawn on it.
    page.wait_for_function(
        "() => { const i = document.querySelector('.page-frame img');"
        " return i !== null && i.complete && i.naturalHeight > 0; }"
    )
    assert page.locator("h1 #handwritten").is_visible()
    regions = page.locator(".hand-region")
    assert regions.count() == 2
    assert regions.first.is_visible()
    assert page.locator(".hand-label").all_inner_texts() == ["Handschrift", "Unterschrift"]
    image = page.locator(".page-frame img").bounding_box()
    text = page.locator(".hand-region.hand-text").bounding_box()
    assert image is not None and text is not None
    # The region sits where its box says: 10 % from the left, 80 % of the page's width.
    assert abs(text["x"] - image["x"] - 0.1 * image["width"]) < 3
    assert abs(text["width"] - 0.8 * image["width"]) < 3
    screenshot(page, "handschrift")
    page.uncheck("[data-toggle-hand]")
    assert not regions.first.is_visible()
    assert page.locator(".region").first.is_visible()  # the low-confidence marks stay
