"""Every page, as each role meets it, at desktop and phone width, in headless Chromium.

For each page: it loads (HTTP 200) with no console or script errors (the CSP
forbids inline script, so a violation shows up here), has one ``h1``, does
not scroll sideways at 390 px, and passes axe-core's WCAG 2.x A/AA rules
(labels, contrast, landmarks, names of controls, alt text, ...). Screenshots
are written to ``TWOSTEP_SCREENSHOTS`` (default: the test's temporary folder);
``TWOSTEP_SCREENSHOTS=docs/screenshots scripts/test tests/e2e/test_pages.py``
refreshes the ones in the README.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from e2e_support import DESKTOP, PHONE, Session, Site

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]

CLIENT_PAGES = [
    ("client-home", "/me"),
    ("client-checkin", "/me/checkin"),
    ("client-checkin-phq9", "/me/checkin/phq9"),
    ("client-progress", "/me/progress"),
    ("client-growing", "/me/growing"),
    ("client-goals", "/me/goals"),
    ("client-journal", "/me/journal"),
    ("client-reflection", "/me/journal/reflection"),
    ("client-skills", "/me/skills"),
    ("client-breathing", "/me/skills/breathing"),
    ("client-self-care", "/me/self-care"),
    ("client-stressors", "/me/stressors"),
    ("client-support", "/me/support"),
    ("client-next-session", "/me/next-session"),
    ("client-privacy", "/me/privacy"),
]
THERAPIST_PAGES = [
    ("therapist-caseload", "/caseload"),
    ("therapist-timeline", "/clients/{client}"),
    ("therapist-goals", "/clients/{client}/goals"),
    ("therapist-prep", "/clients/{client}/prep"),
]
STAFF_PAGES = [
    ("service-outcomes", "/service", "researcher"),
    ("admin", "/admin", "admin"),
]


def shots_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("TWOSTEP_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def check_page(s: Session, path: str, name: str, folder: Path, width: str) -> None:
    page = s.page
    response = page.goto(path)
    assert response is not None
    assert response.status == 200, f"{path}: HTTP {response.status}"
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").count() == 1, f"{path}: one h1 expected"
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{path} scrolls sideways by {overflow}px at {width} width"
    # axe-core is served from the app's own origin by the browser (the CSP allows only 'self')
    page.route("**/__e2e__/axe.js", lambda route: route.fulfill(path=AXE))
    page.add_script_tag(url="/__e2e__/axe.js")
    result = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))"
        ".violations.map(v => v.id + ' (' + v.impact + '): ' + v.nodes.length + ' × '"
        " + v.nodes[0].target.join(' '))",
        AXE_TAGS,
    )
    assert result == [], f"{path} at {width}: accessibility violations {result}"
    # the phone shots show the first screen only (full-page phone shots made docs/ too heavy)
    page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=width == "desktop")
    assert s.errors == [], f"{path}: console errors {s.errors}"


def first_client_path(s: Session) -> str:
    s.page.goto("/caseload")
    href = s.page.locator("a[href^='/clients/']").first.get_attribute("href")
    assert href is not None
    match = re.match(r"^/clients/[^/?#]+", href)
    assert match is not None
    return match.group(0)


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_client_pages(
    site: Site, sign_in: Callable[..., Session], tmp_path: Path, viewport: str
) -> None:
    s = sign_in(
        site.clients_of(site.login("therapist"))[5], DESKTOP if viewport == "desktop" else PHONE
    )
    folder = shots_dir(tmp_path)
    for name, path in CLIENT_PAGES:
        check_page(s, path, name, folder, viewport)


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_therapist_pages(
    site: Site, sign_in: Callable[..., Session], tmp_path: Path, viewport: str
) -> None:
    s = sign_in(site.login("therapist"), DESKTOP if viewport == "desktop" else PHONE)
    client = first_client_path(s)
    folder = shots_dir(tmp_path)
    for name, path in THERAPIST_PAGES:
        check_page(s, path.replace("/clients/{client}", client), name, folder, viewport)


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_service_and_admin_pages(
    site: Site, sign_in: Callable[..., Session], tmp_path: Path, viewport: str
) -> None:
    folder = shots_dir(tmp_path)
    for name, path, who in STAFF_PAGES:
        s = sign_in(site.login(who), DESKTOP if viewport == "desktop" else PHONE)
        check_page(s, path, name, folder, viewport)
