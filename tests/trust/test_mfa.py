"""AN-05: a second factor (TOTP, RFC 6238) for sign-in, on SQLite and PostgreSQL.

* `twostep.security.totp` against the RFC 6238 Appendix B and RFC 4226
  Appendix D test vectors (8 digits, and the 6 digits the app uses);
* set up (a new base32 secret + otpauth:// URI), confirm with a code (10
  recovery codes, every session ends), switch off with password + code;
* sign-in with the factor on: no code -> 401 ``/problems/mfa-required``; the
  current step and one step either side are accepted; a replayed code, a code
  of a step not later than the last one used, and a code two steps away are
  refused; wrong codes count against the sign-in throttle (429 +
  ``Retry-After``); a recovery code works once;
* ``TWOSTEP_REQUIRE_STAFF_MFA``: staff without the factor reach only the
  enrolment page / API and sign-out; clients are not asked;
* the secret is encrypted at rest (not in any table as text, not in the SQLite
  file); every change and refusal is audited, with no secret or code.

The app is the one `twostep serve` builds (`trust_app.build_app`: SQL storage);
its clock (`WebState.clock`) is moved by the tests instead of sleeping.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

from trust_app import BASE_URL, PASSWORD, World, build_app, open_world

from twostep.config import Settings, staff_mfa_required
from twostep.domain.fakes import FakeUnitOfWorkFactory
from twostep.domain.ports import UnitOfWorkFactory
from twostep.domain.records import MfaEnrolment
from twostep.security import totp
from twostep.storage import tables as t

API_SESSION = "/api/v1/session"
MFA = "/api/v1/me/mfa"


class Clock:
    """The app's clock, moved by the test (no sleeps)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def step(self, n: int = 1) -> None:
        self.now += timedelta(seconds=30 * n)


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    with open_world(database_url, tmp_path) as w:
        yield w


@pytest.fixture
def clock() -> Clock:
    # 10 s into a 30 s step, so that "the current step" is unambiguous
    now = datetime.now(UTC).replace(microsecond=0)
    return Clock(now - timedelta(seconds=now.timestamp() % 30) + timedelta(seconds=10))


def make_app(world: World, clock: Clock, *, require_staff_mfa: bool | None = None) -> FastAPI:
    built = build_app(world)
    state = built.state.twostep
    settings = state.settings.model_copy(update={"require_staff_mfa": require_staff_mfa})
    built.state.twostep = replace(state, clock=clock, settings=settings)
    return built


@pytest.fixture
def app(world: World, clock: Clock) -> FastAPI:
    return make_app(world, clock)


def browser(app: FastAPI, ip: str = "testclient") -> TestClient:
    return TestClient(
        app,
        base_url=BASE_URL,
        follow_redirects=False,
        raise_server_exceptions=False,
        client=(ip, 50000),
    )


def login(app: FastAPI, email: str, code: str | None = None) -> TestClient:
    c = browser(app)
    body: dict[str, str] = {"email": email, "password": PASSWORD}
    if code is not None:
        body["code"] = code
    res = c.post(API_SESSION, json=body)
    assert res.status_code == 201, res.text
    c.headers["X-CSRF-Token"] = res.json()["csrf_token"]
    return c


def attempt(app: FastAPI, email: str, code: str | None, password: str = PASSWORD) -> int:
    """The status of one API sign-in on a new device."""
    body: dict[str, str] = {"email": email, "password": password}
    if code is not None:
        body["code"] = code
    with browser(app) as c:
        return c.post(API_SESSION, json=body).status_code


def code_at(secret: str, at: datetime) -> str:
    return totp.totp(totp.secret_bytes(secret), at)


def enrol(
    app: FastAPI, world: World, clock: Clock, who: str = "therapist"
) -> tuple[str, list[str]]:
    """Turn the factor on for ``who`` through the API; (secret, recovery codes)."""
    c = login(app, world.emails[who])
    res = c.post(f"{MFA}/secret")
    assert res.status_code == 201, res.text
    secret = res.json()["secret"]
    res = c.post(f"{MFA}/confirm", json={"code": code_at(secret, clock.now)})
    assert res.status_code == 200, res.text
    return secret, res.json()["recovery_codes"]


def audit_rows(world: World) -> list[sa.RowMapping]:
    with world.factory.engine.connect() as conn:
        return list(conn.execute(sa.select(t.audit_log).order_by(t.audit_log.c.id)).mappings())


def mfa_row(world: World, uid: str) -> sa.RowMapping | None:
    raw = sa.type_coerce(t.user_mfa.c.secret, sa.LargeBinary).label("raw_secret")
    with world.factory.engine.connect() as conn:
        return (
            conn.execute(sa.select(t.user_mfa, raw).where(t.user_mfa.c.user_id == uid))
            .mappings()
            .first()
        )


# ------------------------------------------------------------------ RFC test vectors

SEED_SHA1 = b"12345678901234567890"
SEED_SHA256 = b"12345678901234567890123456789012"
SEED_SHA512 = b"1234567890123456789012345678901234567890123456789012345678901234"
#: RFC 6238 Appendix B: (Unix time, SHA-1, SHA-256, SHA-512), 8 digits
RFC6238 = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]
#: RFC 4226 Appendix D: HOTP values of counters 0..9 (the SHA-1 seed), 6 digits
RFC4226 = ["755224", "287082", "359152", "969429", "338314",
           "254676", "287922", "162583", "399871", "520489"]  # fmt: skip


@pytest.mark.parametrize(("when", "sha1", "sha256", "sha512"), RFC6238)
def test_rfc6238_appendix_b_vectors(when: int, sha1: str, sha256: str, sha512: str) -> None:
    assert totp.totp(SEED_SHA1, when, digits=8) == sha1
    assert totp.totp(SEED_SHA256, when, digits=8, digest=hashlib.sha256) == sha256
    assert totp.totp(SEED_SHA512, when, digits=8, digest=hashlib.sha512) == sha512
    # the app's 6 digits are the value modulo 10^6 (the last six digits)
    assert totp.totp(SEED_SHA1, when) == sha1[-6:]
    at = datetime.fromtimestamp(when, UTC)
    assert totp.totp(SEED_SHA1, at) == sha1[-6:]  # an aware datetime gives the same step
    assert totp.step_at(at) == when // 30


def test_rfc4226_appendix_d_vectors() -> None:
    assert [totp.hotp(SEED_SHA1, i) for i in range(10)] == RFC4226


def test_accepted_window_and_replay_in_the_pure_module() -> None:
    key = SEED_SHA1
    now = 1111111111
    s = totp.step_at(now)
    code = {d: totp.hotp(key, s + d) for d in range(-3, 4)}
    for d in (-1, 0, 1):
        assert totp.matching_step(key, code[d], now) == s + d
    for d in (-3, -2, 2, 3):
        assert totp.matching_step(key, code[d], now) is None
    # never a step at or before the last one used
    assert totp.matching_step(key, code[0], now, after_step=s) is None
    assert totp.matching_step(key, code[-1], now, after_step=s - 1) is None
    assert totp.matching_step(key, code[1], now, after_step=s) == s + 1
    # only exactly six ASCII digits (spaces between groups are fine)
    assert totp.matching_step(key, f"{code[0][:3]} {code[0][3:]}", now) == s
    for bad in ("", "12345", "1234567", "abcdef", "١٢٣٤٥٦", code[0] + "0", "-" + code[0][1:]):
        assert totp.matching_step(key, bad, now) is None


def test_secret_and_uri() -> None:
    secrets = {totp.new_secret() for _ in range(200)}
    assert len(secrets) == 200
    for s in list(secrets)[:20]:
        assert len(s) == 32
        assert s.isalnum()
        assert s.upper() == s
        assert len(totp.secret_bytes(s)) == 20
        assert totp.secret_bytes(totp.grouped(s).lower()) == totp.secret_bytes(s)
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXP", "anna.k@clinic.example", "twostep")
    parsed = urlparse(uri)
    assert (parsed.scheme, parsed.netloc) == ("otpauth", "totp")
    assert parsed.path == "/twostep:anna.k@clinic.example"
    q = parse_qs(parsed.query)
    assert q == {
        "secret": ["JBSWY3DPEHPK3PXP"],
        "issuer": ["twostep"],
        "algorithm": ["SHA1"],
        "digits": ["6"],
        "period": ["30"],
    }
    codes = totp.new_recovery_codes()
    assert len(set(codes)) == 10
    hashes = totp.hashes_of(codes)
    assert totp.match_recovery(codes[3].upper().replace("-", " "), hashes) == hashes[3]
    assert totp.match_recovery("aaaa-bbbb-cccc", hashes) is None


def test_policy_default_is_on_in_production_only(monkeypatch: pytest.MonkeyPatch) -> None:
    assert staff_mfa_required(Settings(environment="production")) is True
    assert staff_mfa_required(Settings(environment="development")) is False
    assert staff_mfa_required(Settings(environment="test")) is False
    assert staff_mfa_required(Settings(environment="production", require_staff_mfa=False)) is False
    monkeypatch.setenv("TWOSTEP_REQUIRE_STAFF_MFA", "true")
    assert staff_mfa_required(Settings(environment="development")) is True


# ---------------------------------------------------------------- enrol, confirm, disable


def test_enrol_confirm_and_disable(app: FastAPI, world: World, clock: Clock) -> None:
    email = world.emails["therapist"]
    c = login(app, email)
    assert c.get(MFA).json() == {
        "enabled": False,
        "pending": False,
        "confirmed_at": None,
        "recovery_codes_left": 0,
        "required": False,
    }
    # confirming before a secret was issued
    assert c.post(f"{MFA}/confirm", json={"code": "123456"}).status_code == 409
    res = c.post(f"{MFA}/secret")
    assert res.status_code == 201
    secret, uri = res.json()["secret"], res.json()["otpauth_uri"]
    assert parse_qs(urlparse(uri).query)["secret"] == [secret]
    assert email in uri
    assert c.get(MFA).json()["pending"] is True
    # a new secret replaces an unconfirmed one; the old one's codes no longer count
    old = secret
    secret = c.post(f"{MFA}/secret").json()["secret"]
    assert secret != old
    res = c.post(f"{MFA}/confirm", json={"code": code_at(old, clock.now)})
    assert res.status_code == 422
    assert res.json()["errors"][0]["pointer"] == "/code"
    res = c.post(f"{MFA}/confirm", json={"code": code_at(secret, clock.now)})
    assert res.status_code == 200
    codes = res.json()["recovery_codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    # every session ended, this one too
    assert c.get("/api/v1/me").status_code == 401
    clock.step()
    c = login(app, email, code_at(secret, clock.now))
    status = c.get(MFA).json()
    assert status["enabled"] is True
    assert status["recovery_codes_left"] == 10
    assert c.post(f"{MFA}/secret").status_code == 409  # switch off first
    # switching off needs the password and a current code
    clock.step()
    now_code = code_at(secret, clock.now)
    res = c.post(f"{MFA}/disable", json={"password": "not my password", "code": now_code})
    assert res.status_code == 422
    assert res.json()["errors"][0]["pointer"] == "/password"
    res = c.post(f"{MFA}/disable", json={"password": PASSWORD, "code": "000000"})
    assert res.status_code == 422
    assert res.json()["errors"][0]["pointer"] == "/code"
    assert (
        c.post(f"{MFA}/disable", json={"password": PASSWORD, "code": now_code}).status_code == 204
    )
    assert c.get("/api/v1/me").status_code == 401  # signed out everywhere
    assert mfa_row(world, world.ids["therapist"]) is None
    assert attempt(app, email, None) == 201  # the password alone again


# ------------------------------------------------------------------------ sign-in


def test_sign_in_needs_a_fresh_code(app: FastAPI, world: World, clock: Clock) -> None:
    email = world.emails["therapist"]
    secret, _ = enrol(app, world, clock)
    s0 = clock.now
    with browser(app) as c:
        res = c.post(API_SESSION, json={"email": email, "password": PASSWORD})
        assert res.status_code == 401
        assert res.headers["content-type"].startswith("application/problem+json")
        assert res.json()["type"] == "/problems/mfa-required"
        assert "__Host-twostep_session" not in res.headers.get("set-cookie", "")
    # a wrong password with a right code is the plain refusal (no hint about the factor)
    with browser(app) as c:
        res = c.post(
            API_SESSION, json={"email": email, "password": "wrong one", "code": code_at(secret, s0)}
        )
        assert res.status_code == 401
        assert res.json()["type"] == "/problems/unauthenticated"
    # the code used to confirm is used up
    assert attempt(app, email, code_at(secret, s0)) == 401
    clock.step()  # s1
    s1 = clock.now
    assert attempt(app, email, code_at(secret, s1)) == 201
    assert attempt(app, email, code_at(secret, s1)) == 401  # replay, from another device
    clock.step(2)  # s3: s1 is two steps ago now
    assert attempt(app, email, code_at(secret, s1)) == 401
    assert attempt(app, email, code_at(secret, clock.now - timedelta(seconds=30))) == 201  # -1
    assert attempt(app, email, code_at(secret, clock.now + timedelta(seconds=30))) == 201  # +1
    # the current step's code is now not later than the last step used (s4)
    assert attempt(app, email, code_at(secret, clock.now)) == 401
    clock.step(3)  # s6
    assert attempt(app, email, code_at(secret, clock.now + timedelta(seconds=60))) == 401  # +2
    assert attempt(app, email, code_at(secret, clock.now - timedelta(seconds=60))) == 401  # -2
    assert attempt(app, email, code_at(secret, clock.now)) == 201


def test_wrong_codes_are_throttled_and_a_missing_code_is_not_a_failure(
    app: FastAPI, world: World, clock: Clock
) -> None:
    email = world.emails["therapist"]
    limit = world.settings.login_max_failures
    secret, _ = enrol(app, world, clock)
    clock.step()
    # asking without a code is no guess: it neither counts nor resets the count
    assert [attempt(app, email, None) for _ in range(limit + 2)] == [401] * (limit + 2)
    right = code_at(secret, clock.now)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    answers = [attempt(app, email, wrong) for _ in range(limit + 2)]
    assert answers == [401] * limit + [429] * 2
    with browser(app) as c:
        res = c.post(API_SESSION, json={"email": email, "password": PASSWORD, "code": right})
        assert res.status_code == 429  # even the right code waits
        retry = int(res.headers["retry-after"])
    clock.now += timedelta(seconds=retry + 1)
    assert attempt(app, email, code_at(secret, clock.now)) == 201


def test_a_missing_code_does_not_reset_the_failure_count(
    app: FastAPI, world: World, clock: Clock
) -> None:
    email = world.emails["therapist"]
    limit = world.settings.login_max_failures
    secret, _ = enrol(app, world, clock)
    clock.step()
    right = code_at(secret, clock.now)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    results = []
    for _ in range(limit):
        results.append(attempt(app, email, wrong))
        results.append(attempt(app, email, None))  # the right password, no code
    assert results[: 2 * limit - 1] == [401] * (2 * limit - 1)
    assert attempt(app, email, right) == 429


def test_recovery_codes_work_once(app: FastAPI, world: World, clock: Clock) -> None:
    email = world.emails["therapist"]
    _, codes = enrol(app, world, clock)
    assert attempt(app, email, codes[0]) == 201
    assert attempt(app, email, codes[0]) == 401  # used up
    assert attempt(app, email, codes[1].upper().replace("-", "")) == 201  # typed differently
    assert attempt(app, email, "zzzz-zzzz-zzzz") == 401
    c = login(app, email, codes[2])
    assert c.get(MFA).json()["recovery_codes_left"] == 7


def test_a_client_may_opt_in(app: FastAPI, world: World, clock: Clock) -> None:
    email = world.emails["client"]
    secret, _ = enrol(app, world, clock, "client")
    assert attempt(app, email, None) == 401
    clock.step()
    c = login(app, email, code_at(secret, clock.now))
    assert c.get("/api/v1/me").status_code == 200


def test_the_step_is_used_once_in_the_repository(world: World, clock: Clock) -> None:
    """The conditional write that makes a replay fail even for two requests at once."""
    check_single_use(world.factory, world.ids["admin"], clock.now)


def test_the_fake_repository_behaves_the_same() -> None:
    """The in-memory fakes the web tests run on keep the same rules."""
    check_single_use(FakeUnitOfWorkFactory(), "u-1", datetime(2025, 6, 2, tzinfo=UTC))


def check_single_use(factory: UnitOfWorkFactory, uid: str, now: datetime) -> None:
    with factory() as uow:
        assert uow.mfa.get(uid) is None
        assert uow.mfa.use_step(uid, 1) is False  # nobody enrolled
        uow.mfa.put(MfaEnrolment(uid, totp.new_secret(), now, now, 100, ("a", "b")))
        uow.commit()
    with factory() as uow:
        assert uow.mfa.use_step(uid, 101) is True
        assert uow.mfa.use_step(uid, 101) is False
        assert uow.mfa.use_step(uid, 99) is False
        assert uow.mfa.use_recovery(uid, "a") is True
        assert uow.mfa.use_recovery(uid, "a") is False
        uow.commit()
    with factory() as uow:
        found = uow.mfa.get(uid)
        assert found is not None
        assert (found.last_step, found.recovery_hashes) == (101, ("b",))
        assert uow.mfa.delete(uid) == 1
        assert uow.mfa.delete(uid) == 0
        uow.commit()
    with factory() as uow:
        assert uow.mfa.get(uid) is None


# -------------------------------------------------------------------- form sign-in


def test_the_sign_in_form_asks_for_the_code(app: FastAPI, world: World, clock: Clock) -> None:
    email = world.emails["therapist"]
    with browser(app) as c:
        page = c.get("/login").text
        assert 'name="code"' in page
        assert 'autocomplete="one-time-code"' in page
    secret, _ = enrol(app, world, clock)
    clock.step()
    with browser(app) as c:
        res = c.post("/login", data={"email": email, "password": PASSWORD})
        assert res.status_code == 401
        assert "6-digit code" in res.text
        assert 'name="code"' in res.text
        assert "required autofocus" in res.text
        res = c.post(
            "/login",
            data={"email": email, "password": PASSWORD, "code": code_at(secret, clock.now)},
        )
        assert res.status_code == 303
        assert res.headers["location"] == "/caseload"
        assert c.get("/caseload").status_code == 200


def test_the_page_sets_up_and_switches_off(app: FastAPI, world: World, clock: Clock) -> None:
    email = world.emails["therapist"]
    with browser(app) as c:
        assert c.post("/login", data={"email": email, "password": PASSWORD}).status_code == 303
        page = c.get("/account/mfa")
        assert page.status_code == 200
        assert "Set up a sign-in code" in page.text
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        page = c.post("/account/mfa/start", data={"csrf_token": csrf})
        assert page.status_code == 200
        assert "otpauth://totp/" in page.text
        row = mfa_row(world, world.ids["therapist"])
        assert row is not None
        assert row["confirmed_at"] is None
        secret = row["secret"]
        assert secret in page.text  # shown for manual entry while pending
        res = c.post("/account/mfa/confirm", data={"csrf_token": csrf, "code": "000000"})
        assert res.status_code == 422
        assert "not right" in res.text
        res = c.post(
            "/account/mfa/confirm", data={"csrf_token": csrf, "code": code_at(secret, clock.now)}
        )
        assert res.status_code == 200
        assert "Recovery codes" in res.text
        assert c.get("/caseload").status_code == 303  # signed out
    clock.step()
    with browser(app) as c:
        res = c.post(
            "/login",
            data={"email": email, "password": PASSWORD, "code": code_at(secret, clock.now)},
        )
        assert res.status_code == 303
        page = c.get("/account/mfa")
        assert "Switch it off" in page.text
        assert secret not in page.text
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        clock.step()
        res = c.post(
            "/account/mfa/disable",
            data={"csrf_token": csrf, "password": PASSWORD, "code": code_at(secret, clock.now)},
        )
        assert res.status_code == 200
        assert "is off" in res.text
    assert mfa_row(world, world.ids["therapist"]) is None


# ------------------------------------------------------------------ staff policy


def test_required_staff_mfa_blocks_everything_but_enrolment(world: World, clock: Clock) -> None:
    app = make_app(world, clock, require_staff_mfa=True)
    email = world.emails["therapist"]
    c = login(app, email)  # the password alone opens a session ...
    res = c.get("/api/v1/caseload")
    assert res.status_code == 403  # ... that reaches nothing else
    assert res.json()["type"] == "/problems/mfa-enrolment-required"
    assert c.get("/caseload").status_code == 303
    assert c.get("/caseload").headers["location"] == "/account/mfa"
    assert c.get("/account/mfa").status_code == 200
    assert c.get(MFA).json()["required"] is True
    assert c.get("/api/v1/me").status_code == 200
    for who in ("admin", "researcher"):
        other = login(app, world.emails[who])
        assert other.get("/admin").headers.get("location") == "/account/mfa" or (
            other.get("/service").headers.get("location") == "/account/mfa"
        )
    with browser(app) as form:
        res = form.post("/login", data={"email": email, "password": PASSWORD})
        assert res.status_code == 303
        assert res.headers["location"] == "/account/mfa"
    # clients are not asked
    client = login(app, world.emails["client"])
    assert client.get("/api/v1/me/progress").status_code == 200
    assert client.get("/me").status_code == 200
    # once enrolled, the therapist signs in with a code and reaches the caseload
    secret = c.post(f"{MFA}/secret").json()["secret"]
    assert c.post(f"{MFA}/confirm", json={"code": code_at(secret, clock.now)}).status_code == 200
    clock.step()
    c = login(app, email, code_at(secret, clock.now))
    assert c.get("/api/v1/caseload").status_code == 200
    assert c.delete(API_SESSION).status_code == 204  # sign-out was allowed throughout


def test_the_demo_default_asks_no_code(app: FastAPI, world: World) -> None:
    c = login(app, world.emails["therapist"])
    assert c.get("/api/v1/caseload").status_code == 200


# ----------------------------------------------------------------- at rest, audit


def test_the_secret_is_encrypted_at_rest(
    app: FastAPI, world: World, clock: Clock, database_url: str
) -> None:
    secret, codes = enrol(app, world, clock)
    row = mfa_row(world, world.ids["therapist"])
    assert row is not None
    assert row["secret"] == secret
    raw = bytes(row["raw_secret"])
    assert secret.encode() not in raw
    assert totp.secret_bytes(secret) not in raw
    # no table holds the secret or a recovery code as stored text
    parts = []
    with world.factory.engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            for r in conn.execute(sa.text(f"SELECT * FROM {table.name}")):
                parts.append(repr(tuple(r)))
    stored = "\n".join(parts)
    assert secret not in stored
    for c in codes:
        assert c not in stored
        assert c.replace("-", "") not in stored
    if database_url.startswith("sqlite"):
        db = Path(database_url.removeprefix("sqlite:///"))
        blob = b"".join(
            p.read_bytes() for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()
        )
        assert secret.encode() not in blob
        assert totp.secret_bytes(secret) not in blob


def test_every_change_and_refusal_is_audited(app: FastAPI, world: World, clock: Clock) -> None:
    uid, email = world.ids["therapist"], world.emails["therapist"]
    before = len(audit_rows(world))
    c = login(app, email)
    secret = c.post(f"{MFA}/secret").json()["secret"]
    assert c.post(f"{MFA}/confirm", json={"code": "000000"}).status_code == 422
    assert c.post(f"{MFA}/confirm", json={"code": code_at(secret, clock.now)}).status_code == 200
    assert attempt(app, email, None) == 401
    assert attempt(app, email, "000000") == 401
    clock.step()
    c = login(app, email, code_at(secret, clock.now))
    clock.step()
    res = c.post(f"{MFA}/disable", json={"password": PASSWORD, "code": code_at(secret, clock.now)})
    assert res.status_code == 204
    rows = audit_rows(world)[before:]
    seen = [(r["action"], r["object_type"], r["outcome"]) for r in rows]
    assert seen == [
        ("login", "session", "ok"),
        ("create", "mfa", "ok"),
        ("update", "mfa", "denied"),
        ("update", "mfa", "ok"),
        ("login", "mfa", "denied"),  # no code
        ("login", "mfa", "denied"),  # wrong code
        ("login", "session", "ok"),
        ("delete", "mfa", "ok"),
    ]
    for r in rows:
        assert r["actor_id"] == uid
        assert r["client_id"] is None
        assert secret not in repr(dict(r))


def test_an_admin_removes_a_lost_factor(app: FastAPI, world: World, clock: Clock) -> None:
    email = world.emails["therapist"]
    uid = world.ids["therapist"]
    secret, _ = enrol(app, world, clock)
    clock.step()
    therapist = login(app, email, code_at(secret, clock.now))
    assert therapist.delete(f"/api/v1/admin/users/{uid}/mfa").status_code == 403
    admin = login(app, world.emails["admin"])
    before = len(audit_rows(world))
    assert admin.delete(f"/api/v1/admin/users/{uid}/mfa").status_code == 204
    assert therapist.get("/api/v1/me").status_code == 401  # their sessions ended
    assert mfa_row(world, uid) is None
    assert attempt(app, email, None) == 201  # the password alone, until they set up a new one
    assert admin.delete(f"/api/v1/admin/users/{uid}/mfa").status_code == 404
    row = audit_rows(world)[before]
    assert (row["action"], row["object_type"], row["object_id"], row["outcome"]) == (
        "delete",
        "mfa",
        uid,
        "ok",
    )
    assert row["actor_id"] == world.ids["admin"]
