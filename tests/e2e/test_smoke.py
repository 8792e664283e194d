"""The served demo answers in a real browser: sign-in and sign-out through the forms."""

from __future__ import annotations

from collections.abc import Callable

from e2e_support import Session, Site


def test_sign_in_and_out_as_a_therapist(site: Site, sign_in: Callable[..., Session]) -> None:
    s = sign_in(site.login("therapist"))
    page = s.page
    assert page.url.endswith("/caseload")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    assert page.url.endswith("/login")
    page.goto("/caseload")
    assert page.url.endswith("/login")  # the session is gone


def test_a_wrong_password_keeps_the_user_on_the_form(site: Site, browser: object) -> None:
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    ctx = browser.new_context(base_url=site.base_url)
    page = ctx.new_page()
    page.goto("/login")
    page.get_by_label("E-mail address").fill(site.login("client"))
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").is_visible()
    assert page.url.endswith("/login")
    ctx.close()
