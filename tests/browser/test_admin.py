"""In a real Chromium: an admin trains, compares and promotes a router model."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from mailroom.infra.db.models import ModelVersion
from tests.browser.conftest import LiveServer, screenshot
from tests.web_helpers import seed_training_samples

pytestmark = pytest.mark.browser


def test_admin_trains_compares_and_promotes_a_model(live_server: LiveServer, new_page: Any):
    seed_training_samples(live_server.ctx)
    page = new_page("admin")
    assert page.url.endswith("/verwaltung")
    screenshot(page, "verwaltung")
    page.goto("/verwaltung/modelle")
    page.click("#train")
    # The page reloads itself while the background job runs; wait for the new version.
    page.wait_for_selector("#versions tr[data-status='candidate']", timeout=120_000)
    screenshot(page, "modelle")
    with live_server.ctx.db.session() as session:
        version = session.scalars(select(ModelVersion.version)).one()
    row = page.locator(f"#versions tr[data-version='{version}']")
    assert row.locator("td.num").count() >= 2  # training size and metrics to compare
    assert page.locator(f"img[alt='Auswertung {version}']").count() == 1
    row.locator("button.compare").click()
    page.wait_for_selector(
        "#jobs tr[data-status='fertig'] >> text=Kein aktives Modell", timeout=60_000
    )
    assert "unit_macro_f1" in page.locator("#jobs").inner_text()
    row = page.locator(f"#versions tr[data-version='{version}']")
    row.locator("button.promote").click()
    page.wait_for_load_state()
    assert (
        page.locator(f"#versions tr[data-version='{version}']").get_attribute("data-status")
        == "active"
    )
    with live_server.ctx.db.session() as session:
        assert session.get(ModelVersion, version).status == "active"  # type: ignore[union-attr]
