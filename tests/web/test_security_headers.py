"""Security headers, error bodies without internals, strict JSON, body limits, login throttling."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from service_world import World

from twostep.errors import StorageError
from twostep.web.policy import POLICY

#: Changes need If-Match (IN-02); these tests are not about concurrency.
ANY_VERSION = {"If-Match": "*"}

Client = Callable[[str], TestClient]
BASE = "https://testserver"
PASSWORD = "a long enough test passphrase"  # tests/web/conftest.py


def directives(csp: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def check_headers(res: object, *, page: bool) -> None:
    h = res.headers  # type: ignore[attr-defined]
    csp = directives(h["content-security-policy"])
    script = csp.get("script-src", csp.get("default-src", []))
    assert "'unsafe-inline'" not in script
    assert "'unsafe-eval'" not in script
    assert "'unsafe-inline'" not in csp.get("style-src", csp.get("default-src", []))
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert "base-uri" in csp
    assert h["x-frame-options"] == "DENY"
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] in ("no-referrer", "strict-origin-when-cross-origin", "same-origin")
    hsts = h["strict-transport-security"]
    assert int(re.search(r"max-age=(\d+)", hsts).group(1)) >= 31_536_000  # type: ignore[union-attr]
    assert "includesubdomains" in hsts.lower()
    if page:
        assert "no-store" in h["cache-control"]
    assert h.get("x-request-id")


def test_headers_on_public_pages_errors_and_the_api(anonymous: TestClient) -> None:
    check_headers(anonymous.get("/login"), page=True)
    check_headers(anonymous.get("/"), page=True)  # a redirect
    check_headers(anonymous.get("/service"), page=True)  # 401 page
    check_headers(anonymous.get("/api/v1/me"), page=True)  # 401 problem
    check_headers(anonymous.get("/no-such-page"), page=True)  # 404
    check_headers(anonymous.get("/api/v1/openapi.json"), page=True)


def test_headers_on_signed_in_pages_of_each_role(as_user: Client) -> None:
    for who, paths in {
        "admin": ["/admin", "/service", "/api/v1/admin/users"],
        "researcher": ["/service", "/api/v1/service/outcomes"],
        "ther_a": ["/service", "/caseload"],
        "client_a1": ["/me"],
    }.items():
        c = as_user(who)
        for path in paths:
            res = c.get(path)
            assert res.status_code == 200, (who, path)
            check_headers(res, page=True)


def test_static_files_are_cacheable_but_still_hardened(anonymous: TestClient) -> None:
    res = anonymous.get("/static/css/twostep.css")
    assert res.status_code == 200
    check_headers(res, page=False)
    assert "no-store" not in res.headers["cache-control"]


# -------------------------------------------------- no inline script or style in any page

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
EVENT_ATTR = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)
STYLE_ATTR = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I)
JS_URL = re.compile(r"(href|src|action)\s*=\s*[\"']?\s*javascript:", re.I)


def page_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(path, route name) of every GET page without path parameters."""
    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        items = (
            [(c.path or c.original_route.path, c.original_route) for c in contexts()]
            if callable(contexts)
            else [(getattr(route, "path", ""), route)]
        )
        for path, r in items:
            if (
                isinstance(r, APIRoute)
                and "GET" in r.methods
                and not path.startswith("/api/")
                and "{" not in path
            ):
                yield path, r.name


ROLE_USER = {
    "client": "client_a1",
    "therapist": "ther_a",
    "admin": "admin",
    "researcher": "researcher",
}


def test_no_page_has_inline_script_style_or_handlers(
    app: FastAPI, web_world: World, as_user: Client
) -> None:
    """CSP forbids them: a page that uses them would break in the browser."""
    web_world.series("client_a1", [18, 15, 16])
    clients = {role: as_user(user) for role, user in ROLE_USER.items()}
    checked, offenders = 0, []
    for path, name in page_routes(app):
        policy = POLICY.get(name)
        if policy is None:
            continue
        roles = [r.value for r in policy.roles] if not policy.public else ["client"]
        for role in roles:
            res = clients[role].get(path)
            if "text/html" not in res.headers.get("content-type", "") or res.status_code != 200:
                continue
            checked += 1
            html = res.text
            for rule, pattern in (
                ("inline <script>", INLINE_SCRIPT),
                ("on* handler", EVENT_ATTR),
                ("style attribute", STYLE_ATTR),
                ("javascript: URL", JS_URL),
            ):
                found = pattern.search(html)
                if found:
                    offenders.append(f"{path} as {role}: {rule}: {found.group(0)[:80]}")
    assert checked >= 5
    assert offenders == []


# ---------------------------------------------------- error bodies carry no internals


def signed_in_client(app: FastAPI, email: str) -> TestClient:
    """A client that turns server errors into responses (the default TestClient re-raises)."""
    c = TestClient(app, base_url=BASE, follow_redirects=False, raise_server_exceptions=False)
    res = c.post("/api/v1/session", json={"email": email, "password": PASSWORD})
    assert res.status_code == 201
    c.headers["X-CSRF-Token"] = res.json()["csrf_token"]
    return c


INTERNALS = ("Traceback", 'File "', "/work/", "site-packages", "sqlalchemy", "SELECT ", "SECRET")


def assert_clean(res: object) -> None:
    text = res.text  # type: ignore[attr-defined]
    for word in INTERNALS:
        assert word not in text, word


def test_server_errors_are_problems_without_internals(
    app: FastAPI, web_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import twostep.web.api.service as api_service
    import twostep.web.pages.service as page_service

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError('SECRET client PHQ-9 27 at File "/work/main/x.py", line 1 Traceback')

    monkeypatch.setattr(api_service, "service_outcomes", boom)
    monkeypatch.setattr(page_service, "service_outcomes", boom)
    c = signed_in_client(app, web_world.users["admin"].email)
    res = c.get("/api/v1/service/outcomes")
    assert res.status_code == 500
    assert res.headers["content-type"].startswith("application/problem+json")
    body = res.json()
    assert body["type"] == "/problems/server-error"
    assert body["request_id"]
    assert set(body) <= {"type", "title", "status", "instance", "request_id", "detail"}
    assert_clean(res)
    page = c.get("/service")
    assert page.status_code == 500
    assert "text/html" in page.headers["content-type"]
    assert_clean(page)

    def down(*args: object, **kwargs: object) -> None:
        raise StorageError("SECRET connection to postgresql://user:pw@db failed")

    monkeypatch.setattr(api_service, "service_outcomes", down)
    res = c.get("/api/v1/service/outcomes")
    assert res.status_code == 503
    assert res.headers["retry-after"]
    assert_clean(res)
    assert "postgresql" not in res.text


def test_client_errors_are_problems_without_internals(
    as_user: Client, anonymous: TestClient
) -> None:
    admin = as_user("admin")
    for res in (
        anonymous.get("/api/v1/no-such-route"),
        admin.get("/api/v1/no-such-route"),
        admin.get("/api/v1/service/outcomes", params={"group": "' OR 1=1 --"}),
        admin.patch("/api/v1/admin/clinic", headers=ANY_VERSION, json={"checkin_every_days": "7"}),
        admin.post("/api/v1/admin/users", json=[]),
    ):
        assert 400 <= res.status_code < 500
        assert res.headers["content-type"].startswith("application/problem+json")
        body = res.json()
        assert {"type", "title", "status", "request_id"} <= set(body)
        assert body["status"] == res.status_code
        assert_clean(res)


def test_server_error_responses_carry_the_security_headers(
    app: FastAPI, web_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import twostep.web.api.service as api_service

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(api_service, "service_outcomes", boom)
    c = signed_in_client(app, web_world.users["admin"].email)
    res = c.get("/api/v1/service/outcomes")
    assert res.status_code == 500
    check_headers(res, page=True)
    assert res.json()["request_id"] == res.headers["x-request-id"]


# ------------------------------------------------------------- strict request bodies


def test_oversized_body_is_413(app: FastAPI, as_user: Client) -> None:
    admin = as_user("admin")
    limit = app.state.twostep.settings.max_body_bytes
    big = b'{"delay_notice": "' + b"x" * (limit + 10) + b'"}'
    res = admin.patch(
        "/api/v1/admin/clinic", content=big, headers={"content-type": "application/json"}
    )
    assert res.status_code == 413
    assert res.headers["content-type"].startswith("application/problem+json")
    form = admin.post(
        "/admin/clinic",
        data={"crisis_text": "x" * (limit + 10), "csrf_token": admin.headers["X-CSRF-Token"]},
    )
    assert form.status_code == 413
    # nothing changed
    assert admin.get("/api/v1/admin/clinic").json()["crisis_text"].startswith("Samaritans")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"delay_notice": "a", "delay_notice": "b"}',
        b'{"checkin_every_days": NaN}',
        b'{"checkin_every_days": Infinity}',
        b'{"delay_notice": "a"',
        b"[" * 40 + b"]" * 40,
    ],
)
def test_malformed_json_is_400(as_user: Client, raw: bytes) -> None:
    res = as_user("admin").patch(
        "/api/v1/admin/clinic", content=raw, headers={"content-type": "application/json"}
    )
    assert res.status_code == 400
    assert res.json()["type"] == "/problems/malformed-json"
    assert_clean(res)


@pytest.mark.parametrize(
    ("ctype", "raw"),
    [
        ("text/plain", b'{"delay_notice": "a"}'),
        ("application/x-www-form-urlencoded", b"delay_notice=a"),
        ("multipart/form-data; boundary=x", b"--x--"),
    ],
)
def test_wrong_content_type_is_415(as_user: Client, ctype: str, raw: bytes) -> None:
    res = as_user("admin").patch(
        "/api/v1/admin/clinic", content=raw, headers={"content-type": ctype}
    )
    assert res.status_code == 415
    assert res.headers["content-type"].startswith("application/problem+json")


def test_numbers_are_strict(as_user: Client) -> None:
    admin = as_user("admin")
    for value in ("14", True, 14.5):
        res = admin.patch(
            "/api/v1/admin/clinic", headers=ANY_VERSION, json={"checkin_every_days": value}
        )
        assert res.status_code == 422, value
        assert res.json()["errors"][0]["pointer"].endswith("checkin_every_days")


# ------------------------------------------------------------------ login throttling


def _login(client: TestClient, email: str, password: str) -> object:
    return client.post("/api/v1/session", json={"email": email, "password": password})


def _shape(res: object) -> tuple[int, dict[str, object], str | None]:
    body = {k: v for k, v in res.json().items() if k not in ("instance", "request_id")}  # type: ignore[attr-defined]
    return res.status_code, body, res.headers.get("retry-after")  # type: ignore[attr-defined]


def test_login_throttling_and_no_user_enumeration(
    app: FastAPI, web_world: World, anonymous: TestClient
) -> None:
    limit = app.state.twostep.settings.login_max_failures
    known = web_world.users["ther_b"].email
    unknown = "nobody-here@one.example"
    first_known = _shape(_login(anonymous, known, "wrong password 123"))
    first_unknown = _shape(_login(anonymous, unknown, "wrong password 123"))
    assert first_known == first_unknown  # same status, same body: no enumeration
    assert first_known[0] == 401
    for _ in range(limit - 1):
        _login(anonymous, known, "wrong password 123")
        _login(anonymous, unknown, "wrong password 123")
    throttled_known = _login(anonymous, known, PASSWORD)  # even the right password waits
    throttled_unknown = _login(anonymous, unknown, PASSWORD)
    assert throttled_known.status_code == 429  # type: ignore[attr-defined]
    assert int(throttled_known.headers["retry-after"]) > 0  # type: ignore[attr-defined]
    assert _shape(throttled_known) == _shape(throttled_unknown)
    # the form shows the same for both, too
    page_known = anonymous.post("/login", data={"email": known, "password": "x" * 12})
    page_unknown = anonymous.post("/login", data={"email": unknown, "password": "x" * 12})
    assert page_known.status_code == page_unknown.status_code == 429
    assert page_known.headers["retry-after"] == page_unknown.headers["retry-after"]
    # another account is not locked out by these failures
    other = web_world.users["ther_a"].email
    assert _login(anonymous, other, PASSWORD).status_code == 201  # type: ignore[attr-defined]


# ------------------------------------------------ the middleware never blocks the event loop


def test_csrf_check_reads_the_session_off_the_event_loop(
    as_user: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CSRF check looks the session up in the database: on the event loop it would stall
    every request in flight while it waits, so it must run in the thread pool."""
    import asyncio

    import twostep.web.middleware as middleware

    real = middleware.check_csrf
    on_loop: list[bool] = []

    def watched(request: object, submitted: str | None) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            on_loop.append(False)
        else:
            on_loop.append(True)
        real(request, submitted)  # type: ignore[arg-type]

    monkeypatch.setattr(middleware, "check_csrf", watched)
    admin = as_user("admin")
    res = admin.patch(  # JSON body: read by the middleware, then handed on to the route
        "/api/v1/admin/clinic",
        json={"delay_notice": "Back on Monday"},
        headers=ANY_VERSION,
    )
    assert res.status_code == 200, res.text
    assert res.json()["delay_notice"] == "Back on Monday"
    form = admin.post(  # a form: the CSRF token is read from the body, which the page reads too
        "/admin/users",
        data={
            "email": "p@one.example",
            "display_name": "P",
            "roles": ["therapist"],
            "csrf_token": admin.headers["X-CSRF-Token"],
        },
    )
    assert form.status_code == 201, form.text
    assert "p@one.example" in admin.get("/admin").text
    assert on_loop == [False, False]
