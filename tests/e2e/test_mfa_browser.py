"""AN-05 in the browser: a client sets up a sign-in code at /account/mfa and signs in with it.

A fresh client account is added to the demo database (so that no other
end-to-end test meets a second factor); the page is checked with axe-core
like every other page. The server runs on the real clock, so the sign-in
uses the code of the *next* step (accepted: one step of drift either side;
the step used to confirm can no longer be used).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from e2e_support import DESKTOP, Session, Site

from twostep.cli.demo import DEMO_PASSWORD
from twostep.config import Settings
from twostep.domain.records import Role, User, new_id
from twostep.security import totp
from twostep.storage.engine import engine_from_settings
from twostep.storage.unit_of_work import SqlUnitOfWorkFactory

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def new_client(site: Site) -> str:
    """A new client of the demo clinic with the demo password; returns the e-mail."""
    settings = Settings(database_url=f"sqlite:///{site.files.database}")
    factory = SqlUnitOfWorkFactory(engine_from_settings(settings))
    try:
        with factory() as uow:
            some = next(u for u in site.files.clinic.users if Role.CLIENT in u.roles)
            digest = uow.users.password_hash(some.id)
            assert digest is not None
            email = f"mfa-{time.time_ns()}@demo.example"
            user = User(
                new_id(),
                some.clinic_id,
                email,
                "Mira Test",
                frozenset({Role.CLIENT}),
                True,
                datetime.now(UTC),
            )
            uow.users.add(user)
            uow.users.set_password_hash(user.id, digest)
            uow.commit()
    finally:
        factory.engine.dispose()
    return email


def no_axe_violations(s: Session, what: str) -> None:
    page = s.page
    page.route("**/__e2e__/axe.js", lambda route: route.fulfill(path=AXE))
    page.add_script_tag(url="/__e2e__/axe.js")
    result = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))"
        ".violations.map(v => v.id + ' (' + v.impact + '): ' + v.nodes.length + ' × '"
        " + v.nodes[0].target.join(' '))",
        AXE_TAGS,
    )
    assert result == [], f"{what}: accessibility violations {result}"


def test_set_up_and_sign_in_with_a_code(site: Site, sign_in: Callable[..., Session]) -> None:
    email = new_client(site)
    s = sign_in(email, DESKTOP)
    page = s.page
    page.goto("/account/mfa")
    assert page.locator("h1").count() == 1
    no_axe_violations(s, "/account/mfa (off)")
    page.get_by_role("button", name="Set up a sign-in code").click()
    page.wait_for_load_state()
    secret = page.locator("#mfa-secret").inner_text().strip()
    assert len(totp.secret_bytes(secret)) == 20
    assert "otpauth://totp/" in page.content()
    no_axe_violations(s, "/account/mfa (pending)")
    key = totp.secret_bytes(secret)
    page.get_by_label("Code from your authenticator app").fill(totp.totp(key, datetime.now(UTC)))
    page.get_by_role("button", name="Turn the sign-in code on").click()
    page.wait_for_load_state()
    assert page.get_by_text("Recovery codes", exact=True).is_visible()
    assert page.locator(".recovery-codes li").count() == 10
    no_axe_violations(s, "/account/mfa (recovery codes)")
    assert s.errors == []

    # signing in: the password alone asks for the code ...
    page.goto("/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert "/login" in page.url
    assert "6-digit code" in page.get_by_role("alert").inner_text()
    no_axe_violations(s, "/login (code needed)")
    # ... and with the next step's code the client is in
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    code = totp.totp(key, datetime.now(UTC) + timedelta(seconds=30))
    page.get_by_label("Code from your authenticator app").fill(code)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert page.url.endswith("/me"), page.url
