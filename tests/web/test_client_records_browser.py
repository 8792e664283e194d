"""The guided breathing timer and a between-session form in headless Chromium.

The app runs on the in-memory world of `conftest.py`, served by uvicorn on a
loopback port; skipped without Playwright or a Chromium (``TWOSTEP_CHROMIUM``
or ``chromium`` on the PATH).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from service_world import World

playwright_api = pytest.importorskip("playwright.sync_api")

PHONE = {"width": 375, "height": 740}
#: tests/web/conftest.py PASSWORD (conftest modules cannot be imported by name here)
PASSWORD = "a long enough test passphrase"


@pytest.fixture
def served(app: FastAPI) -> Iterator[str]:
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def page(
    served: str, web_world: World, request: pytest.FixtureRequest, chromium_browser: object
) -> Iterator[object]:
    """A phone-sized page signed in as client_a1, in the worker's shared Chromium."""
    reduced = getattr(request, "param", "no-preference")
    browser = chromium_browser
    assert isinstance(browser, playwright_api.Browser)
    ctx = browser.new_context(viewport=PHONE, base_url=served, reduced_motion=reduced)
    ctx.set_default_timeout(10_000)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto("/login")
    pg.get_by_label("E-mail address").fill(web_world.users["client_a1"].email)
    pg.get_by_label("Password").fill(PASSWORD)
    pg.get_by_role("button", name="Sign in").click()
    pg.wait_for_load_state()
    pg.errors = errors  # type: ignore[attr-defined]
    yield pg
    ctx.close()


def test_breathing_timer_runs_with_the_keyboard(page: object) -> None:
    pg = page  # playwright Page
    pg.goto("/me/skills/breathing")  # type: ignore[attr-defined]
    toggle = pg.get_by_role("button", name="Start")  # type: ignore[attr-defined]
    assert toggle.is_visible()
    phase = pg.locator("[data-pb-phase]")  # type: ignore[attr-defined]
    assert phase.inner_text() == "Ready when you are."
    toggle.focus()
    pg.keyboard.press("Enter")  # type: ignore[attr-defined]
    assert phase.inner_text() == "Breathe in"
    assert pg.get_by_role("button", name="Pause").get_attribute("aria-pressed") == "true"  # type: ignore[attr-defined]
    first = pg.locator("[data-pb-count]").inner_text()  # type: ignore[attr-defined]
    assert first == "4"
    playwright_api.expect(phase).to_have_text("Breathe out", timeout=7000)
    assert "left" in pg.locator("[data-pb-left]").inner_text()  # type: ignore[attr-defined]
    pg.keyboard.press("Escape")  # type: ignore[attr-defined]
    assert phase.inner_text().startswith("Stopped")
    assert pg.get_by_role("button", name="Start").is_visible()  # type: ignore[attr-defined]
    # fits a 375 px screen: no horizontal scrolling
    width = pg.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    assert width <= 375
    assert pg.errors == []  # type: ignore[attr-defined]  # no CSP violations or script errors


@pytest.mark.parametrize("page", ["reduce"], indirect=True)
def test_breathing_timer_respects_reduced_motion(page: object) -> None:
    pg = page
    pg.goto("/me/skills/breathing")  # type: ignore[attr-defined]
    pg.get_by_role("button", name="Start").click()  # type: ignore[attr-defined]
    section = pg.locator("[data-paced-breathing]")  # type: ignore[attr-defined]
    assert "bs-reduced-motion" in (section.get_attribute("class") or "")
    transform = pg.evaluate(  # type: ignore[attr-defined]
        "getComputedStyle(document.querySelector('.bs-breath-circle')).transform"
    )
    assert transform == "none"
    assert pg.locator("[data-pb-phase]").inner_text() == "Breathe in"  # type: ignore[attr-defined]


def test_journal_form_on_a_phone(page: object) -> None:
    pg = page
    pg.goto("/me/journal")  # type: ignore[attr-defined]
    pg.get_by_label("6", exact=True).check()  # type: ignore[attr-defined]
    pg.get_by_label("What's on your mind? (optional)").fill("<b>bold?</b>")  # type: ignore[attr-defined]
    pg.get_by_role("button", name="Save entry").click()  # type: ignore[attr-defined]
    pg.wait_for_url("**/me/journal?saved=1")  # type: ignore[attr-defined]
    assert "Your entry is saved" in pg.content()  # type: ignore[attr-defined]
    assert pg.get_by_text("<b>bold?</b>").is_visible()  # type: ignore[attr-defined]
    width = pg.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    assert width <= 375
    assert pg.errors == []  # type: ignore[attr-defined]
