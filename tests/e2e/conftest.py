"""End-to-end fixtures: the demo clinic served by uvicorn, driven by headless Chromium.

Once per test session: `twostep demo`'s database (two therapists, forty
clients, six months of every stream, norms fitted) is created in a temporary
folder, the app is served on a free loopback port by a real uvicorn server in
a background thread, and Debian's Chromium (``/usr/bin/chromium``, or
``TWOSTEP_CHROMIUM``) is started through Playwright — no browser download.

Without a Chromium the tests are skipped, unless ``TWOSTEP_REQUIRE_BROWSER=1``
(set by ``.ci/run``), when a missing browser fails the run.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_support import DESKTOP, Session, Site

from twostep.cli.demo import DEMO_PASSWORD, run_demo
from twostep.config import Settings
from twostep.instruments.registry import default_catalogue

playwright_api = pytest.importorskip("playwright.sync_api")
Browser = playwright_api.Browser


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the browser tests, and keep them on one xdist worker (one demo server)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.xdist_group("e2e"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    import uvicorn

    from twostep.web.app import create_app

    folder = tmp_path_factory.mktemp("e2e-demo")
    files = run_demo(folder, default_catalogue(), Console(quiet=True))
    settings = Settings(
        database_url=f"sqlite:///{files.database}",
        norms_paths=list(files.norms),
        data_dir=folder,
    )
    app = create_app(settings)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield Site(f"http://127.0.0.1:{port}", files)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser(chromium_browser: Browser) -> Browser:
    """The worker's shared Chromium (tests/conftest.py)."""
    return chromium_browser


@pytest.fixture
def sign_in(site: Site, browser: Browser) -> Iterator[Callable[..., Session]]:
    """``sign_in(email, viewport=DESKTOP)``: a fresh browser context signed in through the form."""
    contexts = []

    def make(email: str, viewport: dict[str, int] | None = None) -> Session:
        ctx = browser.new_context(viewport=viewport or DESKTOP, base_url=site.base_url)
        ctx.set_default_timeout(10_000)
        contexts.append(ctx)
        page = ctx.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on(
            "response",
            lambda r: errors.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None,
        )
        page.goto("/login")
        page.get_by_label("E-mail address").fill(email)
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        assert "/login" not in page.url, f"sign-in as {email} failed"
        return Session(page, errors)

    yield make
    for ctx in contexts:
        ctx.close()
