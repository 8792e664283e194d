"""Signing in and out through the JSON API and the form (the fixtures other web tests rely on)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient


def test_api_sign_in_me_and_sign_out(as_user: Callable[[str], TestClient]) -> None:
    client = as_user("client_a1")
    me = client.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["roles"] == ["client"]
    assert client.delete("/api/v1/session").status_code == 204
    assert client.get("/api/v1/me").status_code == 401


def test_a_change_without_the_csrf_token_is_refused(as_user: Callable[[str], TestClient]) -> None:
    client = as_user("client_a1")
    del client.headers["X-CSRF-Token"]
    res = client.delete("/api/v1/session")
    assert res.status_code == 403
    assert res.headers["content-type"].startswith("application/problem+json")


def test_signed_out_pages_send_to_login(anonymous: TestClient) -> None:
    assert anonymous.get("/").headers["location"] == "/login"
    page = anonymous.get("/login")
    assert page.status_code == 200
    assert "Content-Security-Policy" in page.headers
