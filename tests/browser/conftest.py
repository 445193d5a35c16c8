"""A live server (uvicorn on a free loopback port) and a real headless Chromium (Playwright).

Chromium comes from Debian (``apt-get install chromium``), never from ``playwright install``.
Under ``CI=true`` a missing Chromium fails the tests instead of skipping them.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from mailroom.runtime.context import AppContext
from mailroom.web.app import create_app
from tests.conftest import FILE_PLAN, make_settings
from tests.services import unavailable
from tests.web_helpers import PASSWORD, seed_users

CHROMIUM = os.environ.get("MAILROOM_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    ctx: AppContext
    app: Any


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """The real app on uvicorn in a thread, with one user per role."""
    plan = tmp_path / "fileplan.yaml"  # the admin may import over it
    shutil.copy(FILE_PLAN, plan)
    ctx = AppContext.from_settings(make_settings(tmp_path / "data", file_plan=plan))
    seed_users(ctx)
    app = create_app(ctx)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield LiveServer(f"http://127.0.0.1:{port}", ctx, app)
    server.should_exit = True
    thread.join(timeout=10)
    app.state.jobs.shutdown()
    ctx.close()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the whole session."""
    if not Path(CHROMIUM).exists():
        unavailable(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium: Any, live_server: LiveServer) -> Iterator[Any]:
    """``new_page(username)``: a fresh browser context logged in as that user."""
    contexts: list[Any] = []

    def open_as(username: str) -> Any:
        context = chromium.new_context(
            base_url=live_server.url, locale="de-DE", viewport={"width": 1400, "height": 900}
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto("/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert "/login" not in page.url, f"login of {username} failed"
        return page

    yield open_as
    for context in contexts:
        context.close()


def screenshot(page: Any, name: str) -> None:
    """Keep a screenshot of a main page as a test artefact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
