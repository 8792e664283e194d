"""Sign-in and sessions on the served app, on SQLite and PostgreSQL (issue 7 §1).

The app is the one `twostep serve` builds (`trust_app.build_app`: SQL storage,
no fakes) with a controllable clock: `WebState.clock` is the only clock the
session and throttling code reads, so the tests move it instead of sleeping.

* SE-01 tokens: 256 random bits, all distinct, only their SHA-256 stored (the
  raw token is in no table and not in the SQLite file); a new token at every
  sign-in, the presented one ends (re-authentication), a cookie set by an
  attacker before sign-in is never adopted;
* SE-02 idle timeout (staff 15 min, clients 30 min) and absolute lifetime
  (12 h), one second either side of each limit, API (401) and pages (redirect
  to /login); the timed-out row is revoked, so winding the clock back does
  not bring it back;
* SE-03 sign-out (API and form), deactivation by an admin and a new password
  (admin API and admin page) end *every* session of the user, other devices
  too; other users' sessions stay;
* SE-04 the cookie exactly: ``__Host-`` name, Secure, HttpOnly, SameSite=Lax,
  Path=/, no Domain, Max-Age = the absolute lifetime, for the API and the form;
  sign-out deletes it with the same attributes; no other cookie (no CSRF
  cookie: the CSRF token is in the body / page);
* AN-01 the password policy through the admin API and at sign-in (lengths,
  spaces and emoji, a top-3000 password, NFC, no trimming, no truncation);
* AN-02 stored as ``$argon2id$`` with the configured parameters, upgraded at
  sign-in; the plaintext in no table, not in the SQLite file and not in logs;
* AN-03 throttling per account and per network with 429 + Retry-After, no
  permanent lock-out (the user gets in after the window), every attempt
  audited without address, password or IP;
* AU-04 at the web layer: the audit append fails → 503 problem (API) or error
  page, no clinical content; a write stores nothing;
* ER-01 a real database error (a missing table) and an unhandled exception
  answer a generic problem without stack trace, SQL, path or content.

AN-04 (sign-in timing) is in `test_login_timing.py`.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import sys
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import numpy as np
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

from trust_app import BASE_URL, FAST_HASHER, PASSWORD, World, build_app, open_world

from twostep.domain.records import Role, User, new_id
from twostep.errors import StorageError
from twostep.security.passwords import Hasher, check_policy
from twostep.storage import tables as t
from twostep.web.sessions import COOKIE, network_key, new_token, token_hash

API_SESSION = "/api/v1/session"


class Clock:
    """The app's clock, moved by the test (no sleeps)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    with open_world(database_url, tmp_path) as w:
        yield w


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def app(world: World, clock: Clock) -> FastAPI:
    built = build_app(world)
    built.state.twostep = replace(built.state.twostep, clock=clock)
    return built


def browser(app: FastAPI, ip: str = "testclient") -> TestClient:
    return TestClient(
        app,
        base_url=BASE_URL,
        follow_redirects=False,
        raise_server_exceptions=False,
        client=(ip, 50000),
    )


def login(app: FastAPI, email: str, password: str = PASSWORD) -> TestClient:
    """A new device signed in through the JSON API, with its CSRF token as a default header."""
    c = browser(app)
    res = c.post(API_SESSION, json={"email": email, "password": password})
    assert res.status_code == 201, res.text
    c.headers["X-CSRF-Token"] = res.json()["csrf_token"]
    return c


def patch_user(admin: TestClient, uid: str, body: dict[str, object]) -> httpx.Response:
    """An admin's change to an account (with the If-Match the API asks for)."""
    tag = admin.get(f"/api/v1/admin/users/{uid}").headers["etag"]
    return admin.patch(f"/api/v1/admin/users/{uid}", json=body, headers={"If-Match": tag})


def token_of(c: TestClient) -> str:
    token = c.cookies.get(COOKIE)
    assert token, "no session cookie"
    return str(token)


def status_with(app: FastAPI, token: str, path: str = "/api/v1/me") -> int:
    """The status a request presenting ``token`` gets (a fresh client: no other state)."""
    with browser(app) as c:
        return c.get(path, headers={"Cookie": f"{COOKIE}={token}"}).status_code


def set_cookies(res: object) -> list[tuple[str, str, dict[str, str]]]:
    """(name, value, attributes with lower-case keys) of every Set-Cookie header."""
    out = []
    for header in res.headers.get_list("set-cookie"):  # type: ignore[attr-defined]
        first, *attrs = (p.strip() for p in header.split(";"))
        name, _, value = first.partition("=")
        parsed: dict[str, str] = {}
        for a in attrs:
            k, _, v = a.partition("=")
            parsed[k.strip().lower()] = v.strip()
        out.append((name, value, parsed))
    return out


def session_rows(world: World) -> list[sa.RowMapping]:
    with world.factory.engine.connect() as conn:
        return list(conn.execute(sa.select(t.web_sessions)).mappings())


def database_text(world: World) -> str:
    """Every stored value of every table, as stored (no decryption), as one string."""
    parts: list[str] = []
    with world.factory.engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            for row in conn.execute(sa.text(f"SELECT * FROM {table.name}")):
                parts.append(repr(tuple(row)))
    return "\n".join(parts)


def raw_files(world: World) -> bytes:
    """The SQLite database file with its WAL and shared-memory files (b"" on PostgreSQL)."""
    if not world.url.startswith("sqlite"):
        return b""
    db = Path(world.url.removeprefix("sqlite:///"))
    return b"".join(
        p.read_bytes() for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()
    )


def audit_rows(world: World, action: str | None = None) -> list[sa.RowMapping]:
    with world.factory.engine.connect() as conn:
        q = sa.select(t.audit_log).order_by(t.audit_log.c.id)
        if action is not None:
            q = q.where(t.audit_log.c.action == action)
        return list(conn.execute(q).mappings())


def count(world: World, table: sa.Table) -> int:
    with world.factory.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def decoded(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


# ------------------------------------------------------------------------ SE-01 tokens


def test_the_token_generator_gives_256_uniform_bits() -> None:
    """10,000 tokens from the generator the app uses: 32 bytes each, distinct, unbiased bits."""
    n = 10_000
    tokens = [new_token() for _ in range(n)]
    assert len(set(tokens)) == n
    raw = [decoded(x) for x in tokens]
    assert {len(b) for b in raw} == {32}  # 256 bits
    assert {len(x) for x in tokens} == {43}
    bits = np.unpackbits(np.frombuffer(b"".join(raw), dtype=np.uint8).reshape(n, 32), axis=1)
    ones = bits.sum(axis=0)  # how often each of the 256 bit positions is 1
    sigma = math.sqrt(n * 0.25)
    worst = float(np.abs(ones - n / 2).max())
    assert worst < 5.5 * sigma, "a bit position is biased"  # p(false alarm) < 1e-5
    counts = np.bincount(np.frombuffer(b"".join(raw), dtype=np.uint8), minlength=256)
    p = counts[counts > 0] / counts.sum()
    entropy = float(-(p * np.log2(p)).sum())
    assert entropy > 7.99  # bits per byte (8 is perfect)


def test_sign_in_tokens_are_fresh_and_only_their_hash_is_stored(app: FastAPI, world: World) -> None:
    """A few hundred real sign-ins: distinct 256-bit tokens; the DB holds only their SHA-256."""
    n = 150
    tokens: list[str] = []
    with browser(app) as c:
        for _ in range(n):
            c.cookies.clear()
            res = c.post(API_SESSION, json={"email": world.emails["client"], "password": PASSWORD})
            assert res.status_code == 201
            tokens.append(token_of(c))
            csrf = res.json()["csrf_token"]
            assert csrf != tokens[-1]
    assert len(set(tokens)) == n
    assert all(len(decoded(x)) == 32 for x in tokens)
    ones = sum(bin(int.from_bytes(decoded(x), "big")).count("1") for x in tokens)
    assert abs(ones / (n * 256) - 0.5) < 0.02
    stored = {r["token_hash"] for r in session_rows(world)}
    assert stored == {hashlib.sha256(x.encode()).hexdigest() for x in tokens}
    text = database_text(world)
    files = raw_files(world)
    for x in tokens:
        assert x not in text
        assert x.encode() not in files


def test_a_new_token_at_every_sign_in_and_the_old_one_ends(app: FastAPI, world: World) -> None:
    c = login(app, world.emails["therapist"])
    before = token_of(c)
    assert c.get("/api/v1/me").status_code == 200
    res = c.post(API_SESSION, json={"email": world.emails["therapist"], "password": PASSWORD})
    assert res.status_code == 201
    after = token_of(c)
    assert after != before
    assert status_with(app, before) == 401  # re-authentication ended the presented session
    assert status_with(app, after) == 200


def test_a_cookie_planted_before_sign_in_is_never_adopted(app: FastAPI, world: World) -> None:
    """Session fixation: the attacker's value is replaced, unknown to the DB, and stays useless."""
    planted = new_token()
    with browser(app) as victim:
        victim.cookies.set(COOKIE, planted, domain="testserver", path="/")
        assert victim.get("/api/v1/me").status_code == 401
        res = victim.post(API_SESSION, json={"email": world.emails["client"], "password": PASSWORD})
        assert res.status_code == 201
        [(name, value, _)] = set_cookies(res)
        assert name == COOKIE
        assert value != planted
        form = browser(app)
        form.cookies.set(COOKIE, planted, domain="testserver", path="/")
        page = form.post("/login", data={"email": world.emails["client"], "password": PASSWORD})
        assert page.status_code == 303
        assert set_cookies(page)[0][1] not in (planted, value)
        form.close()
    assert status_with(app, planted) == 401
    assert token_hash(planted) not in {r["token_hash"] for r in session_rows(world)}


# ------------------------------------------------------------------------ SE-02 timeouts

HOME = {"client": "/me", "therapist": "/caseload", "admin": "/admin"}


@pytest.mark.parametrize(("role", "idle"), [("therapist", 15), ("admin", 15), ("client", 30)])
def test_idle_timeout(app: FastAPI, world: World, clock: Clock, role: str, idle: int) -> None:
    t0 = clock.now
    limit = timedelta(minutes=idle)
    second = timedelta(seconds=1)
    api = login(app, world.emails[role])
    page = login(app, world.emails[role])
    clock.now = t0 + limit - second
    assert api.get("/api/v1/me").status_code == 200  # just inside: and activity counts
    assert page.get(HOME[role]).status_code == 200
    seen = clock.now
    clock.now = seen + limit - second
    assert api.get("/api/v1/me").status_code == 200  # idle is measured from the last request
    clock.now = clock.now + limit + second
    res = api.get("/api/v1/me")
    assert res.status_code == 401
    assert res.headers["content-type"].startswith("application/problem+json")
    clock.now = seen + limit + second
    redirect = page.get(HOME[role])
    assert redirect.status_code == 303
    assert redirect.headers["location"] == "/login"
    rows = session_rows(world)
    assert len(rows) == 2
    assert all(r["revoked_at"] is not None for r in rows)  # ended in the database
    clock.now = t0 + timedelta(minutes=1)  # a clock wound back does not revive them
    assert api.get("/api/v1/me").status_code == 401
    assert page.get("/api/v1/me").status_code == 401


def test_absolute_lifetime_ends_even_an_active_session(
    app: FastAPI, world: World, clock: Clock
) -> None:
    t0 = clock.now
    api = login(app, world.emails["client"])
    page = login(app, world.emails["therapist"])
    while clock.now < t0 + timedelta(hours=12) - timedelta(minutes=10):
        clock.now += timedelta(minutes=10)  # active all day: never idle
        assert api.get("/api/v1/me").status_code == 200
        assert page.get("/api/v1/me").status_code == 200
    clock.now = t0 + timedelta(hours=12) - timedelta(seconds=1)
    assert api.get("/api/v1/me").status_code == 200
    assert page.get("/caseload").status_code == 200
    clock.now = t0 + timedelta(hours=12) + timedelta(seconds=1)
    assert api.get("/api/v1/me").status_code == 401
    redirect = page.get("/caseload")
    assert (redirect.status_code, redirect.headers["location"]) == (303, "/login")
    for row in session_rows(world):
        assert row["expires_at"].replace(tzinfo=UTC) == t0 + timedelta(hours=12)


# ------------------------------------------------------- SE-03 ending every session


def test_sign_out_ends_every_session_of_the_user(app: FastAPI, world: World) -> None:
    phone, laptop = login(app, world.emails["client"]), login(app, world.emails["client"])
    other = login(app, world.emails["client2"])
    tokens = [token_of(phone), token_of(laptop)]
    res = phone.delete(API_SESSION)
    assert res.status_code == 204
    assert [status_with(app, x) for x in tokens] == [401, 401]
    assert laptop.get("/api/v1/me").status_code == 401
    assert other.get("/api/v1/me").status_code == 200
    # the form sign-out too
    desk, tablet = login(app, world.emails["therapist"]), login(app, world.emails["therapist"])
    tokens = [token_of(desk), token_of(tablet)]
    out = desk.post("/logout", data={"csrf_token": desk.headers["X-CSRF-Token"]})
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    assert [status_with(app, x) for x in tokens] == [401, 401]
    assert other.get("/api/v1/me").status_code == 200
    assert [e["outcome"] for e in audit_rows(world, "logout")] == ["ok", "ok"]


def test_deactivation_ends_every_session_and_reactivation_revives_none(
    app: FastAPI, world: World
) -> None:
    admin = login(app, world.emails["admin"])
    devices = [login(app, world.emails["client"]) for _ in range(3)]
    tokens = [token_of(d) for d in devices]
    uid = world.ids["client"]
    res = patch_user(admin, uid, {"is_active": False})
    assert res.status_code == 200, res.text
    assert [status_with(app, x) for x in tokens] == [401] * 3
    refused = browser(app).post(
        API_SESSION, json={"email": world.emails["client"], "password": PASSWORD}
    )
    assert refused.status_code == 401
    assert patch_user(admin, uid, {"is_active": True}).status_code == 200
    assert [status_with(app, x) for x in tokens] == [401] * 3  # revoked, not just paused
    assert login(app, world.emails["client"]).get("/api/v1/me").status_code == 200
    assert admin.get("/api/v1/me").status_code == 200


def test_a_new_password_ends_every_session(app: FastAPI, world: World) -> None:
    admin = login(app, world.emails["admin"])
    uid, email = world.ids["therapist"], world.emails["therapist"]
    tokens = [token_of(login(app, email)) for _ in range(2)]
    new = "the therapist's brand-new passphrase"
    res = patch_user(admin, uid, {"password": new})
    assert res.status_code == 200, res.text
    assert [status_with(app, x) for x in tokens] == [401, 401]
    assert (
        browser(app).post(API_SESSION, json={"email": email, "password": PASSWORD}).status_code
        == 401
    )
    # the admin page, with a generated password
    tokens = [token_of(login(app, email, new)) for _ in range(2)]
    page = admin.post(
        f"/admin/users/{uid}/password", data={"csrf_token": admin.headers["X-CSRF-Token"]}
    )
    assert page.status_code == 200, page.text
    assert [status_with(app, x) for x in tokens] == [401, 401]
    assert browser(app).post(API_SESSION, json={"email": email, "password": new}).status_code == 401
    assert admin.get("/api/v1/me").status_code == 200  # the admin's own session stays


def test_changing_ones_own_password_ends_every_session(app: FastAPI, world: World) -> None:
    """Self-service (API and page): current password required, policy applied, all sessions end."""
    email = world.emails["client"]
    phone, laptop = login(app, email), login(app, email)
    other = login(app, world.emails["client2"])
    tokens = [token_of(phone), token_of(laptop)]
    new = "my own brand-new passphrase"
    url = "/api/v1/me/password"
    res = phone.put(url, json={"current_password": "not it at all", "new_password": new})
    assert res.status_code == 422
    assert [(e["pointer"], e["code"]) for e in res.json()["errors"]] == [
        ("/current_password", "wrong_password")
    ]
    res = phone.put(url, json={"current_password": PASSWORD, "new_password": "too short"})
    assert res.status_code == 422
    assert ("/new_password", "too_short") in [
        (e["pointer"], e["code"]) for e in res.json()["errors"]
    ]
    res = phone.put(url, json={"current_password": PASSWORD, "new_password": PASSWORD})
    assert res.status_code == 422
    assert res.json()["errors"][0]["code"] == "unchanged"
    assert [status_with(app, x) for x in tokens] == [200, 200]  # refusals change nothing
    del phone.headers["X-CSRF-Token"]
    assert (
        phone.put(url, json={"current_password": PASSWORD, "new_password": new}).status_code == 403
    )
    phone.headers["X-CSRF-Token"] = laptop.headers["X-CSRF-Token"]  # another session's token
    assert (
        phone.put(url, json={"current_password": PASSWORD, "new_password": new}).status_code == 403
    )
    phone = login(app, email)
    tokens.append(token_of(phone))
    res = phone.put(url, json={"current_password": PASSWORD, "new_password": new})
    assert res.status_code == 204, res.text
    [(name, _, attrs)] = set_cookies(res)
    assert name == COOKIE
    assert int(attrs["max-age"]) <= 0
    assert [status_with(app, x) for x in tokens] == [401, 401, 401]
    assert other.get("/api/v1/me").status_code == 200
    assert (
        browser(app).post(API_SESSION, json={"email": email, "password": PASSWORD}).status_code
        == 401
    )
    # the page
    desk, tablet = login(app, email, new), login(app, email, new)
    tokens = [token_of(desk), token_of(tablet)]
    form = desk.get("/account/password")
    assert form.status_code == 200
    assert 'name="current_password"' in form.text
    csrf = desk.headers["X-CSRF-Token"]
    bad = desk.post(
        "/account/password",
        data={"current_password": "wrong", "new_password": "x", "csrf_token": csrf},
    )
    assert bad.status_code == 422
    newer = "a newer passphrase, typed on a desk"
    done = desk.post(
        "/account/password",
        data={"current_password": new, "new_password": newer, "csrf_token": csrf},
    )
    assert done.status_code == 200
    assert "signed out everywhere" in done.text
    assert set_cookies(done)[0][0] == COOKIE
    assert [status_with(app, x) for x in tokens] == [401, 401]
    assert (
        browser(app).post(API_SESSION, json={"email": email, "password": newer}).status_code == 201
    )
    rows = [r for r in audit_rows(world, "update") if r["object_type"] == "password"]
    assert [r["outcome"] for r in rows] == ["denied", "error", "error", "ok", "denied", "ok"]
    assert all(r["actor_id"] == world.ids["client"] for r in rows)


def test_guessing_the_current_password_is_throttled(
    app: FastAPI, world: World, clock: Clock
) -> None:
    """A session left open does not allow guessing the password: the sign-in limit applies."""
    limit = world.settings.login_max_failures
    c = login(app, world.emails["therapist"])
    clock.now += timedelta(seconds=1)  # (failures count after the last success)
    url = "/api/v1/me/password"
    new = "the therapist's own new passphrase"
    answers = [
        c.put(url, json={"current_password": f"guess {i}", "new_password": new}).status_code
        for i in range(limit + 3)
    ]
    assert answers == [422] * limit + [429] * 3
    res = c.put(url, json={"current_password": PASSWORD, "new_password": new})
    assert res.status_code == 429
    assert int(res.headers["retry-after"]) > 0
    clock.now += timedelta(seconds=int(res.headers["retry-after"]) + 1)
    c = login(app, world.emails["therapist"])  # (the old session went idle meanwhile)
    assert c.put(url, json={"current_password": PASSWORD, "new_password": new}).status_code == 204


# ------------------------------------------------------------------ SE-04 the cookie


def check_session_cookie(res: object, app: FastAPI) -> str:
    cookies = set_cookies(res)
    assert len(cookies) == 1, "exactly one cookie: the session (no CSRF or tracking cookie)"
    name, value, attrs = cookies[0]
    assert name == COOKIE
    assert name.startswith("__Host-")
    assert len(decoded(value)) == 32
    assert "secure" in attrs
    assert "httponly" in attrs
    assert attrs.get("samesite", "").lower() == "lax"  # docs/security.md §1 says why not Strict
    assert attrs.get("path") == "/"
    assert "domain" not in attrs  # __Host-: the exact host only
    hours = app.state.twostep.settings.session_absolute_hours
    assert int(attrs["max-age"]) == hours * 3600
    return value


@pytest.mark.parametrize("backend", ["sqlite"])
def test_session_cookie_attributes_api_and_form(app: FastAPI, world: World) -> None:
    with browser(app) as c:
        res = c.post(API_SESSION, json={"email": world.emails["client"], "password": PASSWORD})
        assert res.status_code == 201
        check_session_cookie(res, app)
        assert "csrf_token" in res.json()
        out = c.delete(API_SESSION, headers={"X-CSRF-Token": res.json()["csrf_token"]})
        assert out.status_code == 204
        [(name, value, attrs)] = set_cookies(out)
        # a __Host- cookie is only deleted by a Set-Cookie with the same Secure and Path
        assert name == COOKIE
        assert value in ("", '""')
        assert "secure" in attrs
        assert attrs.get("path") == "/"
        assert "domain" not in attrs
        assert int(attrs["max-age"]) <= 0
    with browser(app) as f:
        res = f.post("/login", data={"email": world.emails["therapist"], "password": PASSWORD})
        assert res.status_code == 303
        check_session_cookie(res, app)
        # pages carry the CSRF token in forms, never in a cookie
        page = f.get("/caseload")
        assert page.status_code == 200
        assert set_cookies(page) == []
        assert 'name="csrf_token"' in page.text
    with browser(app) as bad:
        res = bad.post(
            API_SESSION, json={"email": world.emails["client"], "password": "no no no no"}
        )
        assert res.status_code == 401
        assert set_cookies(res) == []


# ------------------------------------------------------------- AN-01 password policy

NFC_PW = unicodedata.normalize("NFC", "Pässwörd für Grüße 2025")
NFD_PW = unicodedata.normalize("NFD", NFC_PW)

POLICY_CASES = [
    ("seven", "Ab3$xyz", "too_short"),
    ("eleven", "Ab3$xyzQrs9", "too_short"),
    (
        "eleven NFC (13 code points as NFD)",
        unicodedata.normalize("NFD", "Pässwörd1ab"),
        "too_short",
    ),
    ("twelve", "Ab3$xyzQrs9k", None),
    (
        "64 with spaces and emoji",
        ("my 🐢 walks slowly to the sea 🌊 every morning " * 3)[:64],
        None,
    ),
    ("128 with spaces and emoji", ("Ünïcödé 🙂 passphrase with spaces ☕ " * 5)[:128], None),
    ("top-3000 common", "123qweasdzxc", "too_common"),
    ("common, other case", "QWERTY123456", "too_common"),
    ("257 characters", "x" * 257, "too_long"),
]


@pytest.mark.parametrize(
    ("what", "password", "code"), POLICY_CASES, ids=[c[0] for c in POLICY_CASES]
)
def test_password_policy_unit(what: str, password: str, code: str | None) -> None:
    if code is None:
        check_policy(password, email="someone@example.org", name="Someone")
        return
    from twostep.errors import ValidationError

    with pytest.raises(ValidationError) as caught:
        check_policy(password, email="someone@example.org", name="Someone")
    assert code in {p.code for p in caught.value.problems}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_password_policy_through_the_admin_api_and_sign_in(app: FastAPI, world: World) -> None:
    """Each case through the admin API; the accepted ones then sign in exactly as typed."""
    admin = login(app, world.emails["admin"])
    for i, (what, password, code) in enumerate(POLICY_CASES):
        email = f"policy{i}@trust.example"
        res = admin.post(
            "/api/v1/admin/users",
            json={
                "email": email,
                "display_name": f"P {i}",
                "roles": ["client"],
                "password": password,
            },
        )
        if code is not None:
            assert res.status_code == 422, (what, res.text)
            assert code in {e["code"] for e in res.json()["errors"]}, what
            continue
        assert res.status_code == 201, (what, res.text)
        ok = browser(app).post(API_SESSION, json={"email": email, "password": password})
        assert ok.status_code == 201, what
        for wrong in (password + " ", " " + password, password[:-1]):  # no trimming or prefix
            res = browser(app).post(API_SESSION, json={"email": email, "password": wrong})
            assert res.status_code == 401, what
    # a password equal to the e-mail address is refused
    res = admin.post(
        "/api/v1/admin/users",
        json={
            "email": "same.as.password@trust.example",
            "display_name": "Same",
            "roles": ["client"],
            "password": "same.as.password@trust.example",
        },
    )
    assert res.status_code == 422


@pytest.mark.parametrize("backend", ["sqlite"])
def test_nfc_decision_and_no_truncation(app: FastAPI, world: World) -> None:
    """Decision: passwords are compared after NFC normalisation (canonical equivalence only).

    "ä" typed as one code point (Windows, Linux) or as "a" + combining diaeresis
    (macOS) is the same password; compatibility look-alikes (full-width letters,
    ligatures: NFKC) stay different. Nothing is cut: a change at character 73 or
    later, or a 72-character prefix (bcrypt's limit), does not verify.
    """
    admin = login(app, world.emails["admin"])

    def create(email: str, password: str) -> None:
        res = admin.post(
            "/api/v1/admin/users",
            json={"email": email, "display_name": "N", "roles": ["client"], "password": password},
        )
        assert res.status_code == 201, res.text

    def signs_in(email: str, password: str) -> bool:
        res = browser(app).post(API_SESSION, json={"email": email, "password": password})
        assert res.status_code in (201, 401)
        return res.status_code == 201

    assert NFC_PW != NFD_PW
    create("nfc@trust.example", NFC_PW)
    assert signs_in("nfc@trust.example", NFC_PW)
    assert signs_in("nfc@trust.example", NFD_PW)
    fullwidth = NFC_PW.replace("P", "\uff30")  # FULLWIDTH LATIN CAPITAL LETTER P (NFKC → "P")
    assert unicodedata.normalize("NFKC", fullwidth) == NFC_PW
    assert not signs_in("nfc@trust.example", fullwidth)
    assert not signs_in("nfc@trust.example", NFC_PW.replace("ä", "a"))
    create("nfd@trust.example", NFD_PW)  # created from a Mac: signs in from Windows
    assert signs_in("nfd@trust.example", NFC_PW)

    long = "".join(f"{i:02d}-word " for i in range(12))  # 96 ASCII characters
    assert len(long) > 80
    create("long@trust.example", long)
    assert signs_in("long@trust.example", long)
    assert not signs_in("long@trust.example", long + "x")  # an extra character at 97
    assert not signs_in("long@trust.example", long[:72])
    assert not signs_in("long@trust.example", long[:73])
    assert not signs_in("long@trust.example", long[:80] + "Z" + long[81:])
    emoji = "🐢" * 19 + " slow and steady"  # 76 UTF-8 bytes of emoji before the text
    create("emoji@trust.example", emoji)
    assert signs_in("emoji@trust.example", emoji)
    assert not signs_in("emoji@trust.example", "🐢" * 19 + " slow and steadY")


# ------------------------------------------------------------------ AN-02 storage


def test_stored_as_argon2id_with_the_configured_parameters(
    world: World, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """The production hasher (defaults): hash format and parameters; plaintext nowhere."""
    from twostep.web.app import create_app

    prod = Hasher()
    assert (prod.time_cost, prod.memory_cost, prod.parallelism) == (3, 65536, 4)
    app = create_app(world.settings, hasher=prod)
    world.apps.append(app)
    app.state.twostep = replace(app.state.twostep, clock=clock)
    prefix = f"$argon2id$v=19$m={prod.memory_cost},t={prod.time_cost},p={prod.parallelism}$"
    canary = f"canary pass {uuid.uuid4().hex} ✓"
    wrong = f"wrong canary {uuid.uuid4().hex}"
    caplog.set_level(logging.DEBUG)
    admin = login(app, world.emails["admin"])
    res = admin.post(
        "/api/v1/admin/users",
        json={
            "email": "canary@trust.example",
            "display_name": "C",
            "roles": ["client"],
            "password": canary,
        },
    )
    assert res.status_code == 201, res.text
    assert canary not in res.text
    uid = res.json()["account"]["id"]
    assert (
        browser(app)
        .post(API_SESSION, json={"email": "canary@trust.example", "password": canary})
        .status_code
        == 201
    )
    assert (
        browser(app)
        .post(API_SESSION, json={"email": "canary@trust.example", "password": wrong})
        .status_code
        == 401
    )
    with world.factory() as uow:
        stored = uow.accounts.password_hash(uid)
        admin_hash = uow.accounts.password_hash(world.ids["admin"])
    assert stored is not None
    assert stored.startswith(prefix)
    # the admin's hash was made with the cheap test parameters; signing in upgraded it
    assert FAST_HASHER.hash("x").split("$")[3] != prefix.split("$")[3]
    assert admin_hash is not None
    assert admin_hash.startswith(prefix)
    text = database_text(world)
    files = raw_files(world)
    for secret in (canary, wrong):
        assert secret not in text
        assert secret.encode() not in files
        assert secret not in caplog.text


# --------------------------------------------------------------------- AN-03 throttling


def check_login_audit(world: World, secrets_: list[str]) -> list[sa.RowMapping]:
    rows = audit_rows(world, "login")
    for row in rows:
        flat = repr(tuple(row.values()))
        for s in secrets_:
            assert s not in flat
    return rows


def test_one_account_is_throttled_then_gets_in_after_the_window(
    app: FastAPI, world: World, clock: Clock
) -> None:
    limit = world.settings.login_max_failures
    email = world.emails["therapist"]
    before = len(audit_rows(world, "login"))
    with browser(app, "203.0.113.7") as attacker:
        answers = [
            attacker.post(API_SESSION, json={"email": email, "password": f"wrong guess {i:04d}"})
            for i in range(50)
        ]
        right = attacker.post(API_SESSION, json={"email": email, "password": PASSWORD})
    assert [r.status_code for r in answers[:limit]] == [401] * limit
    assert {r.status_code for r in answers[limit:]} == {429}
    assert right.status_code == 429  # even the right password waits
    retry = int(right.headers["retry-after"])
    assert 0 < retry <= 3600
    assert right.headers["content-type"].startswith("application/problem+json")
    for r in answers[limit:]:
        assert r.headers["retry-after"] == str(retry)
    # the same account from the user's own network waits too (the account is the target) ...
    with browser(app, "198.51.100.20") as user:
        assert (
            user.post(API_SESSION, json={"email": email, "password": PASSWORD}).status_code == 429
        )
        # ... other accounts are not locked out
        assert (
            user.post(
                API_SESSION, json={"email": world.emails["admin"], "password": PASSWORD}
            ).status_code
            == 201
        )
        clock.now += timedelta(seconds=retry - 1)
        assert (
            user.post(API_SESSION, json={"email": email, "password": PASSWORD}).status_code == 429
        )
        clock.now += timedelta(seconds=2)  # no permanent lock-out
        res = user.post(API_SESSION, json={"email": email, "password": PASSWORD})
        assert res.status_code == 201, res.text
    rows = check_login_audit(
        world, [email, "wrong guess", PASSWORD, "203.0.113.7", "198.51.100.20", email.split("@")[0]]
    )[before:]
    assert len(rows) == 50 + 1 + 1 + 1 + 1 + 1  # every attempt, throttled ones too
    assert [r["outcome"] for r in rows].count("denied") == 50 + 1 + 1 + 1
    assert all(r["actor_id"] is None for r in rows if r["outcome"] == "denied")
    assert all(r["request_id"] for r in rows)


@pytest.mark.slow
def test_one_network_is_throttled_across_many_accounts(
    app: FastAPI, world: World, clock: Clock
) -> None:
    """500 attempts over 100 accounts from one address: 429 after the network's limit."""
    net_limit = world.settings.login_max_failures_network
    clinic_id = None
    with world.factory() as uow:
        clinic_id = uow.users.get(world.ids["client"]).clinic_id  # type: ignore[union-attr]
        digest = FAST_HASHER.hash(PASSWORD)
        emails = []
        for i in range(100):
            user = User(
                new_id(),
                clinic_id,
                f"stuffed{i:03d}@trust.example",
                f"S {i}",
                frozenset({Role.CLIENT}),
                True,
                clock.now,
            )
            uow.users.add(user)
            uow.users.set_password_hash(user.id, digest)
            emails.append(user.email)
        uow.commit()
    statuses: list[int] = []
    own: list[int] = []  # the attacker's own account, signed in now and then
    with browser(app, "192.0.2.99") as stuffer:
        for round_ in range(5):
            for email in emails:
                clock.now += timedelta(seconds=1)  # 500 s in all: inside one window
                res = stuffer.post(
                    API_SESSION, json={"email": email, "password": f"leaked {round_}"}
                )
                statuses.append(res.status_code)
                if res.status_code == 429:
                    assert int(res.headers["retry-after"]) > 0
                if len(statuses) % 10 == 0:  # a success must not reset the network's count
                    mine = {"email": world.emails["client2"], "password": PASSWORD}
                    own.append(stuffer.post(API_SESSION, json=mine).status_code)
        # the right password from that network waits as well
        assert (
            stuffer.post(API_SESSION, json={"email": emails[0], "password": PASSWORD}).status_code
            == 429
        )
    assert statuses[:net_limit] == [401] * net_limit
    assert set(statuses[net_limit:]) == {429}
    assert own[: net_limit // 10 - 1] == [201] * (net_limit // 10 - 1)
    assert set(own[net_limit // 10 :]) == {429}
    assert len(statuses) == 500
    # another network is not affected; the same network gets in after the window
    with browser(app, "198.51.100.21") as elsewhere:
        assert (
            elsewhere.post(API_SESSION, json={"email": emails[0], "password": PASSWORD}).status_code
            == 201
        )
    clock.now += timedelta(minutes=15, seconds=1)
    with browser(app, "192.0.2.99") as later:
        assert (
            later.post(API_SESSION, json={"email": emails[1], "password": PASSWORD}).status_code
            == 201
        )
    rows = check_login_audit(world, ["stuffed", "leaked", "192.0.2.99", PASSWORD])
    assert sum(1 for r in rows if r["outcome"] == "denied") >= 501


def test_network_keys_group_ipv6_by_64_and_keep_ipv4_apart() -> None:
    class Req:
        def __init__(self, host: str) -> None:
            self.client = type("C", (), {"host": host})()

    def key(host: str) -> str:
        return network_key(Req(host))  # type: ignore[arg-type]

    assert key("2001:db8:1:2:aaaa::1") == key("2001:db8:1:2:bbbb::2")
    assert key("2001:db8:1:2::1") != key("2001:db8:1:3::1")
    assert key("192.0.2.1") != key("192.0.2.2")
    assert "192.0.2.1" not in key("192.0.2.1")


# ------------------------------------------------------- AU-04 audit failure, web layer

MARKER = "AU04-MARKER-journal-zebra-{}"


def test_reads_and_writes_fail_closed_when_the_audit_cannot_be_written(
    app: FastAPI, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import twostep.storage.unit_of_work as uow_module

    marker = MARKER.format(uuid.uuid4().hex[:8])
    client = login(app, world.emails["client"])
    therapist = login(app, world.emails["therapist"])
    res = client.post("/api/v1/me/journal", json={"mood": 4, "text": marker})
    assert res.status_code == 201, res.text
    assert marker in client.get("/api/v1/me/journal").text
    assert marker in client.get("/me/journal").text
    ok_checkin = {"instrument_id": "phq9", "answers": {f"item_{k}": 2 for k in range(1, 10)}}
    assert client.post("/api/v1/me/checkins", json=ok_checkin).status_code == 201
    journal_rows, administrations = count(world, t.journal_entries), count(world, t.administrations)
    audit_before = len(audit_rows(world))

    def broken(conn: object, events: object) -> list[int]:
        raise StorageError("the audit log cannot be written")

    monkeypatch.setattr(uow_module, "append_events", broken)
    # reads: API and page
    for path in ("/api/v1/me/journal", "/api/v1/me/progress"):
        res = client.get(path)
        assert res.status_code == 503, (path, res.text)
        assert res.headers["content-type"].startswith("application/problem+json")
        assert res.json()["type"] == "/problems/storage-unavailable"
        assert marker not in res.text
    page = client.get("/me/journal")
    assert page.status_code == 503
    assert marker not in page.text
    res = therapist.get(f"/api/v1/clients/{world.ids['client']}/timeline")
    assert res.status_code == 503
    assert "phq9" not in res.text.lower()
    # writes: nothing stored
    second = MARKER.format("second")
    res = client.post("/api/v1/me/journal", json={"mood": 2, "text": second})
    assert res.status_code == 503
    assert client.post("/api/v1/me/checkins", json=ok_checkin).status_code == 503
    form = client.post(
        "/me/journal", data={"text": second, "csrf_token": client.headers["X-CSRF-Token"]}
    )
    assert form.status_code == 503
    monkeypatch.undo()
    assert count(world, t.journal_entries) == journal_rows
    assert count(world, t.administrations) == administrations
    assert len(audit_rows(world)) == audit_before
    assert second not in client.get("/api/v1/me/journal").text
    assert client.get("/api/v1/me/journal").status_code == 200


# ----------------------------------------------------------------- ER-01 no internals

INTERNALS = (
    "Traceback",
    'File "',
    "/work/",
    "site-packages",
    "sqlalchemy",
    "SELECT",
    "journal_entries",
    "psycopg",
    "sqlite3",
    "no such table",
    "does not exist",
    ".py",
)


def assert_no_internals(res: object, *also: str) -> None:
    text = res.text  # type: ignore[attr-defined]
    for word in (*INTERNALS, *also):
        assert word.lower() not in text.lower(), word


@pytest.mark.fresh_database
def test_a_real_database_error_answers_a_generic_problem(
    app: FastAPI, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    client = login(app, world.emails["client"])
    marker = MARKER.format("er01")
    assert client.post("/api/v1/me/journal", json={"text": marker}).status_code == 201
    with world.factory.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE journal_entries"))
    caplog.set_level(logging.INFO)
    res = client.get("/api/v1/me/journal")
    assert res.status_code in (500, 503), res.text
    assert res.headers["content-type"].startswith("application/problem+json")
    body = res.json()
    assert set(body) <= {"type", "title", "status", "instance", "request_id", "detail"}
    assert body["request_id"] == res.headers["x-request-id"]
    assert_no_internals(res, marker)
    page = client.get("/me/journal")
    assert page.status_code in (500, 503)
    assert "text/html" in page.headers["content-type"]
    assert_no_internals(page, marker)
    write = client.post("/api/v1/me/journal", json={"text": marker + "-2"})
    assert write.status_code in (500, 503)
    assert_no_internals(write, marker)
    for word in ("SELECT", "INSERT", marker):
        assert word not in caplog.text


def test_an_unhandled_exception_answers_a_generic_problem(
    app: FastAPI, world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import twostep.services.journal as journal_service

    secret = (
        'SECRET-PHQ9-item9=3 at File "/work/main/src/x.py", line 3: SELECT * FROM journal_entries'
    )

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyError(secret)

    client = login(app, world.emails["client"])
    monkeypatch.setattr(journal_service, "list_journal", boom)
    caplog.set_level(logging.INFO)
    res = client.get("/api/v1/me/journal")
    assert res.status_code == 500
    assert res.headers["content-type"].startswith("application/problem+json")
    assert res.json()["type"] == "/problems/server-error"
    assert_no_internals(res, "SECRET", "item9")
    page = client.get("/me/journal")
    assert page.status_code == 500
    assert_no_internals(page, "SECRET", "item9")
    assert "SECRET" not in caplog.text
