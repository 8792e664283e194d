"""Bad-input catalogue §4.1, JSON API (#1–#30): one named test per case, on SQLite and PostgreSQL.

The app is the served one (`trust_app.build_app`: `create_app` on a real
database, SQL storage, no fakes), called over ``https://testserver`` by
signed-in clients (a client, a second client, their therapist, the clinic
admin; a second clinic for the foreign objects). Every refusal asserts the
status, the RFC 9457 problem ``type`` (and, where the catalogue names one,
the rule code and JSON pointer in ``errors``) and that nothing was stored:
the row count of every table is unchanged and no ``ok`` audit event was
written (`nothing_stored`). The few cases where the catalogue itself expects
a write (#4, #15, #16 display names, #27 per-user keys) assert exactly what
was stored. docs/bad-input.md maps each case to its test and explains every
deviation from the proposal.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

from trust_app import BASE_URL, FAST_HASHER, PASSWORD, World, build_app, seed

from twostep.domain.records import Clinic, Episode, Role, User, new_id
from twostep.storage import tables as t
from twostep.storage.tables import metadata
from twostep.web.sessions import COOKIE, token_hash

from .db_probe import last_audit_id, row_counts

CHECKINS = "/api/v1/me/checkins"
JOURNAL = "/api/v1/me/journal"
GOALS = "/api/v1/me/goals"
USERS = "/api/v1/admin/users"
JSON_CT = {"Content-Type": "application/json"}
ANY_VERSION = {"If-Match": "*"}  # "whatever is stored" (RFC 9110): the edit is not refused for it
LEVELS = {"-2": "a", "-1": "b", "0": "c", "1": "d", "2": "e"}


def phq9(**answers: object) -> dict[str, Any]:
    base: dict[str, object] = {f"item_{i}": 1 for i in range(1, 10)}
    base.update(answers)
    return {"instrument_id": "phq9", "answers": {k: v for k, v in base.items() if v != "omit"}}


def goal(**changes: object) -> dict[str, Any]:
    body: dict[str, Any] = {
        "specific_description": "walk to the shop",
        "measurable_indicator": "times a week",
        "levels": LEVELS,
        "importance": 2,
        "difficulty": 1,
    }
    body.update(changes)
    return body


# ------------------------------------------------------------------------ the world


@dataclass
class Env:
    world: World
    other: dict[str, str]  # a client of a second clinic on the same database: id, email
    app: Any
    users: dict[str, TestClient] = field(default_factory=dict)
    alert_id: str = ""
    other_goal_id: str = ""

    @property
    def engine(self) -> sa.Engine:
        return self.world.factory.engine

    def counts(self) -> dict[str, int]:
        return row_counts(self.engine)

    def last_audit_id(self) -> int:
        return last_audit_id(self.engine)

    def audit_since(self, after: int) -> list[sa.Row[Any]]:
        a = t.audit_log.c
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(a.id, a.action, a.object_type, a.outcome, a.actor_id, a.client_id)
                    .where(a.id > after)
                    .order_by(a.id)
                )
            )


def _schema(backend: str, folder: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if backend == "sqlite":
        from twostep.storage import make_engine

        url = f"sqlite:///{folder / 'api.db'}"
        engine = make_engine(url)
        metadata.create_all(engine)
        engine.dispose()
        yield url
        return
    server = request.getfixturevalue("postgres_server")
    name = server.create_database(template=server.template())
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


def outsider(world: World) -> dict[str, str]:
    """A client of another clinic (same database), with the test password."""
    now = datetime.now(UTC)
    clinic = Clinic(new_id(), "elsewhere", "Call 999.", "", created_at=now - timedelta(days=90))
    user = User(
        new_id(),
        clinic.id,
        f"outsider-{uuid.uuid4().hex[:8]}@elsewhere.example",
        "Outsider",
        frozenset({Role.CLIENT}),
        True,
        now - timedelta(days=60),
    )
    with world.factory() as uow:
        uow.clinics.add(clinic)
        uow.users.add(user)
        uow.users.set_password_hash(user.id, FAST_HASHER.hash(PASSWORD))
        uow.episodes.add(Episode(new_id(), clinic.id, user.id, date.today()))
        uow.commit()
    return {"id": user.id, "email": user.email}


def sign_in(app: Any, email: str) -> TestClient:
    client = TestClient(app, base_url=BASE_URL, follow_redirects=False)
    res = client.post("/api/v1/session", json={"email": email, "password": PASSWORD})
    assert res.status_code == 201, res.text
    client.headers["X-CSRF-Token"] = res.json()["csrf_token"]
    return client


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
)
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """One world per backend for the whole module (every refusal leaves it unchanged)."""
    folder = tmp_path_factory.mktemp(f"bad-input-{request.param}")
    schema = _schema(request.param, folder, request)
    url = next(schema)
    world = seed(url, folder)
    app = build_app(world)
    e = Env(world, outsider(world), app)
    try:
        for role in ("client", "client2", "therapist", "admin"):
            e.users[role] = sign_in(app, world.emails[role])
        e.users["outsider"] = sign_in(app, e.other["email"])
        # a risk alert, acknowledged (so that it may be snoozed: #22–#24)
        res = e.users["client"].post(CHECKINS, json=phq9(item_9=1))
        assert res.status_code == 201, res.text
        alerts = e.users["therapist"].get(f"/api/v1/clients/{world.ids['client']}/alerts")
        e.alert_id = alerts.json()["alerts"][0]["id"]
        ack = e.users["therapist"].post(f"/api/v1/alerts/{e.alert_id}/acknowledge")
        assert ack.status_code == 200, ack.text
        # another client's goal (#18)
        res = e.users["client2"].post(GOALS, json=goal())
        assert res.status_code == 201, res.text
        e.other_goal_id = res.json()["id"]
        yield e
    finally:
        for c in e.users.values():
            c.close()
        world.close()
        for _ in schema:
            pass


@pytest.fixture
def client(env: Env) -> TestClient:
    return env.users["client"]


@pytest.fixture
def therapist(env: Env) -> TestClient:
    return env.users["therapist"]


@pytest.fixture
def admin(env: Env) -> TestClient:
    return env.users["admin"]


# ------------------------------------------------------------------------ assertions


@contextmanager
def nothing_stored(env: Env) -> Iterator[None]:
    """No table gains or loses a row; no successful write on the audit trail (refusals and
    reads of the caller's own records may be audited)."""
    before = env.counts()
    last = env.last_audit_id()
    yield
    after = env.counts()
    new_audit = env.audit_since(last)
    assert {k: v for k, v in after.items() if k != "audit_log"} == {
        k: v for k, v in before.items() if k != "audit_log"
    }
    assert after["audit_log"] == before["audit_log"] + len(new_audit)
    # a route may read the caller's own records before it refuses (an audited ``read``)
    assert [r for r in new_audit if r.outcome == "ok" and r.action != "read"] == []


def problem(
    res: httpx.Response,
    status: int,
    kind: str,
    *,
    code: str | None = None,
    pointer: str | None = None,
) -> dict[str, Any]:
    """``res`` is the problem ``kind`` with ``status`` (and an error with code / pointer)."""
    assert res.status_code == status, res.text
    assert res.headers["content-type"].startswith("application/problem+json"), res.headers
    body: dict[str, Any] = res.json()
    assert body["type"] == f"/problems/{kind}", body
    assert body["status"] == status
    assert body["title"]
    assert "Traceback" not in res.text
    errors = body.get("errors") or []
    if code is not None:
        assert code in {e["code"] for e in errors}, errors
    if pointer is not None:
        assert pointer in {e["pointer"] for e in errors}, errors
    if code is not None and pointer is not None:
        assert {"code": code, "pointer": pointer} in [
            {"code": e["code"], "pointer": e["pointer"]} for e in errors
        ], errors
    return body


def raw(client: TestClient, url: str, body: bytes, **headers: str) -> httpx.Response:
    return client.post(url, content=body, headers={**JSON_CT, **headers})


def comparable(res: httpx.Response) -> tuple[int, dict[str, Any], dict[str, str]]:
    """A response without what differs per request (request id, instance, date)."""
    body = {k: v for k, v in res.json().items() if k not in ("request_id", "instance")}
    skip = {"x-request-id", "date", "content-length"}
    return res.status_code, body, {k: v for k, v in res.headers.items() if k not in skip}


#: Cases refused before the database is reached (parsing, media type, size, schema) run on
#: SQLite only; everything that reads or writes stored data runs on both backends.
before_storage = pytest.mark.parametrize("env", ["sqlite"], indirect=True)


# ------------------------------------------------------------------ #1–#6 answers


def test_case_01_item_value_out_of_range(env: Env, client: TestClient) -> None:
    for instrument, item in (("phq9", "item_4"), ("gad7", "item_3")):
        answers = {f"item_{i}": 1 for i in range(1, 10 if instrument == "phq9" else 8)}
        answers[item] = 4
        with nothing_stored(env):
            res = client.post(CHECKINS, json={"instrument_id": instrument, "answers": answers})
        problem(res, 422, "validation", code="not_an_allowed_answer", pointer=f"/answers/{item}")


@before_storage
@pytest.mark.parametrize(
    ("literal", "code"),
    [(b"-1", "not_an_allowed_answer"), (b"2.5", "wrong_type"), (b"1e3", "wrong_type")],
    ids=["minus-one", "fraction", "exponent"],
)
def test_case_02_item_value_negative_fractional_exponent(
    env: Env, client: TestClient, literal: bytes, code: str
) -> None:
    body = json.dumps(phq9(item_4=0)).encode().replace(b'"item_4": 0', b'"item_4": ' + literal)
    with nothing_stored(env):
        res = raw(client, CHECKINS, body)
    problem(res, 422, "validation", code=code)
    assert any(e["pointer"].startswith("/answers/item_4") for e in res.json()["errors"])


@before_storage
@pytest.mark.parametrize(
    "literal", [b'"3"', b"3.0", b"true"], ids=["string", "float-three", "boolean"]
)
def test_case_03_item_value_coercible_types_are_refused(
    env: Env, client: TestClient, literal: bytes
) -> None:
    body = json.dumps(phq9(item_4=0)).encode().replace(b'"item_4": 0', b'"item_4": ' + literal)
    with nothing_stored(env):
        res = raw(client, CHECKINS, body)
    body_ = problem(res, 422, "validation")
    assert all(e["pointer"].startswith("/answers/item_4") for e in body_["errors"]), body_


def test_case_04_missing_self_harm_item_is_never_scored_as_no_risk(
    env: Env, client: TestClient
) -> None:
    """Deliberate deviation: stored (not 422) with no total and risk "not assessed" + alert."""
    before = env.counts()
    res = client.post(CHECKINS, json=phq9(item_9="omit"))
    assert res.status_code == 201, res.text
    out = res.json()
    assert (out["score"], out["band"], out["risk"], out["risk_not_assessed"]) == (
        None,
        None,
        False,
        True,
    )
    after = env.counts()
    assert after["administrations"] == before["administrations"] + 1
    assert after["alerts"] == before["alerts"] + 1
    with env.engine.connect() as conn:
        row = conn.execute(
            sa.select(t.administrations).where(t.administrations.c.id == out["administration_id"])
        ).one()
        alert = conn.execute(
            sa.select(t.alerts.c.kind).where(
                t.alerts.c.administration_id == out["administration_id"]
            )
        ).scalar_one()
    assert row.total is None
    assert row.risk_not_assessed
    assert not row.risk
    assert alert == "risk_not_assessed"


@before_storage
def test_case_05_same_item_twice(env: Env, client: TestClient) -> None:
    body = b'{"instrument_id": "phq9", "answers": {"item_1": 0, "item_1": 3, "item_2": 1}}'
    with nothing_stored(env):
        res = raw(client, CHECKINS, body)
    problem(res, 400, "malformed-json")


@before_storage
@pytest.mark.parametrize(
    ("body", "code", "pointer"),
    [
        (phq9(item_11=1), "unknown_item", "/answers/item_11"),
        ({"instrument_id": "phq99", "answers": {"item_1": 1}}, "unknown_instrument", None),
    ],
    ids=["unknown-item", "unknown-instrument"],
)
def test_case_06_unknown_item_or_instrument(
    env: Env, client: TestClient, body: dict[str, Any], code: str, pointer: str | None
) -> None:
    with nothing_stored(env):
        res = client.post(CHECKINS, json=body)
    problem(res, 422, "validation", code=code, pointer=pointer)


# ------------------------------------------------------------- #7–#14 JSON itself


@before_storage
def test_case_07_duplicate_json_keys(env: Env, client: TestClient) -> None:
    with nothing_stored(env):
        res = raw(client, JOURNAL, b'{"text": "one", "text": "two"}')
    body = problem(res, 400, "malformed-json")
    assert "one" not in json.dumps(body)
    assert "two" not in json.dumps(body)


@before_storage
@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_case_08_nan_and_infinity(env: Env, client: TestClient, literal: bytes) -> None:
    for url, body in (
        (JOURNAL, b'{"mood": ' + literal + b"}"),
        (CHECKINS, b'{"instrument_id": "phq9", "answers": {"item_1": ' + literal + b"}}"),
    ):
        with nothing_stored(env):
            res = raw(client, url, body)
        if literal == b"1e999":  # valid JSON that overflows to infinity: the schema refuses it
            problem(res, 422, "validation")
        else:
            problem(res, 400, "malformed-json")


@before_storage
@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        (b'{"text": "cut', 400, "malformed-json"),
        (b'{"instrument_id":', 400, "malformed-json"),
        (b"null", 422, "validation"),
        (b"[]", 422, "validation"),
        (b'[{"text": "x"}]', 422, "validation"),
        (b'"text"', 422, "validation"),
        (b"\xff\xfe{}", 400, "malformed-json"),
    ],
    ids=[
        "truncated-string",
        "truncated-object",
        "null",
        "array",
        "array-of-object",
        "string",
        "not-utf8",
    ],
)
def test_case_09_invalid_json_or_wrong_top_level(
    env: Env, client: TestClient, body: bytes, status: int, kind: str
) -> None:
    with nothing_stored(env):
        res = raw(client, JOURNAL, body)
    problem(res, status, kind)


@before_storage
@pytest.mark.parametrize(
    ("ctype", "body"),
    [
        ("text/plain", b'{"text": "x"}'),
        ("application/x-www-form-urlencoded", b"text=x"),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="text"\r\n\r\nx\r\n--b--\r\n',
        ),
        ("", b'{"text": "x"}'),
    ],
    ids=["text-plain", "form-urlencoded", "multipart", "none"],
)
def test_case_10_wrong_content_type(env: Env, client: TestClient, ctype: str, body: bytes) -> None:
    with nothing_stored(env):
        res = client.post(JOURNAL, content=body, headers={"Content-Type": ctype})
    problem(res, 415, "unsupported-media-type")


@before_storage
def test_case_11_oversized_entry_and_body(env: Env, client: TestClient) -> None:
    # one entry above the per-entry limit (10,000 characters): refused by the schema
    with nothing_stored(env):
        res = client.post(JOURNAL, json={"text": "x" * 10_001})
    problem(res, 422, "validation", code="string_too_long", pointer="/text")
    # a 10 MB entry: refused by size (1 MB per request) before it is parsed
    with nothing_stored(env):
        res = client.post(JOURNAL, json={"text": "x" * (10 * 1024 * 1024)})
    problem(res, 413, "payload-too-large")
    # a 100 MB body announced by Content-Length: refused before a byte is read
    sent: list[int] = []

    def body() -> Iterator[bytes]:
        sent.append(1)
        yield b"{}"

    with nothing_stored(env):
        res = client.post(
            JOURNAL, content=body(), headers={**JSON_CT, "Content-Length": str(100 * 1024 * 1024)}
        )
    problem(res, 413, "payload-too-large")
    # a streamed (chunked) body without Content-Length: refused once it passes the cap
    chunks = 0

    def stream() -> Iterator[bytes]:
        nonlocal chunks
        yield b'{"text": "'
        for _ in range(64):  # 4 MB in 64 KB chunks
            chunks += 1
            yield b"x" * 65536
        yield b'"}'

    with nothing_stored(env):
        res = client.post(JOURNAL, content=stream(), headers=JSON_CT)
    problem(res, 413, "payload-too-large")


@before_storage
@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_case_12_deeply_nested_json(env: Env, client: TestClient, depth: int) -> None:
    for body in (b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth):
        with nothing_stored(env):
            res = raw(client, JOURNAL, body)
        out = problem(res, 400, "malformed-json")
        assert "deep" in out["detail"], out


@pytest.mark.parametrize(
    ("url", "body", "pointer"),
    [
        (JOURNAL, {"text": "before\u0000after"}, "/text"),
        (JOURNAL, {"emotions": ["calm\u0000"]}, "/emotions/0"),
        (GOALS, goal(specific_description="walk\u0000"), "/specific_description"),
    ],
    ids=["journal-text", "emotion", "goal"],
)
def test_case_13_nul_character(
    env: Env, client: TestClient, url: str, body: dict[str, Any], pointer: str
) -> None:
    with nothing_stored(env):
        res = client.post(url, json=body)
    out = problem(res, 422, "validation", code="invalid_character")
    assert any(e["pointer"].startswith(pointer) for e in out["errors"]), out


@pytest.mark.parametrize(
    ("url", "body"),
    [
        (JOURNAL, b'{"text": "a\\ud800b"}'),
        (JOURNAL, b'{"emotions": ["\\udfff"]}'),
        (GOALS, json.dumps(goal(measurable_indicator="X")).encode().replace(b'"X"', b'"\\ud83d"')),
    ],
    ids=["journal-text", "emotion", "goal"],
)
def test_case_14_lone_surrogate(env: Env, client: TestClient, url: str, body: bytes) -> None:
    with nothing_stored(env):
        res = raw(client, url, body)
    out = problem(res, 422, "validation")
    assert {e["code"] for e in out["errors"]} <= {"string_unicode", "invalid_character"}, out


# ---------------------------------------------------------- #15–#21 content and ids


MARKUP = (
    '<script>alert(1)</script> <img src=x onerror="alert(2)"> <a href="javascript:alert(3)">x</a>'
)


def test_case_15_markup_is_stored_verbatim_and_rendered_as_text(
    env: Env, client: TestClient
) -> None:
    res = client.post(JOURNAL, json={"text": MARKUP})
    assert res.status_code == 201, res.text
    entry = res.json()
    listed = client.get(JOURNAL).json()
    assert any(e["id"] == entry["id"] and e["text"] == MARKUP for e in listed)
    page = client.get("/me/journal", headers={"Accept": "text/html"})
    assert page.status_code == 200
    html = page.text
    assert "<script>alert(1)</script>" not in html
    assert "onerror=" not in html.replace("onerror=&#34;", "").replace("onerror=&quot;", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript:' not in html
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp


@pytest.mark.parametrize(
    "email",
    [
        "{upper}",  # case-folded duplicate
        "{fullwidth}",  # NFKC duplicate (ｃｌｉｅｎｔ…)
        "{zero_width}",  # zero-width joiner inside the address
        "{bidi}",  # right-to-left override inside the address
    ],
    ids=["case", "nfkc-fullwidth", "zero-width", "bidi-override"],
)
def test_case_16_confusable_usernames(env: Env, admin: TestClient, email: str) -> None:
    known = env.world.emails["client"]
    local, domain = known.split("@")
    address = email.format(
        upper=known.upper(),
        fullwidth="".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in local) + "@" + domain,
        zero_width=local[:3] + "\u200d" + local[3:] + "@" + domain,
        bidi=local + "\u202e" + "@" + domain,
    )
    with nothing_stored(env):
        res = admin.post(USERS, json={"email": address, "display_name": "x", "roles": ["client"]})
    if email in ("{upper}", "{fullwidth}"):
        problem(res, 409, "conflict")
    else:
        problem(res, 422, "validation", code="invalid_email", pointer="/email")


def test_case_16_display_names_with_invisible_characters_are_stored_verbatim(
    env: Env, admin: TestClient
) -> None:
    name = "Ev\u200be \u202eevil"
    address = f"display-{uuid.uuid4().hex[:8]}@trust.example"
    res = admin.post(USERS, json={"email": address, "display_name": name, "roles": ["client"]})
    assert res.status_code == 201, res.text
    assert res.json()["account"]["display_name"] == name


@before_storage
@pytest.mark.parametrize(
    ("who", "url", "body", "field"),
    [
        ("client", JOURNAL, {"text": "x", "client_id": "{client2}"}, "client_id"),
        ("client", GOALS, {**goal(), "client_id": "{client2}"}, "client_id"),
        ("client", CHECKINS, {**phq9(), "clinic_id": "{clinic}"}, "clinic_id"),
        ("client", JOURNAL, {"text": "x", "user_id": "{client2}"}, "user_id"),
        (
            "therapist",
            "/api/v1/alerts/{alert}/resolve",
            {"action_taken": "x", "therapist_id": "{client2}"},
            "therapist_id",
        ),
    ],
    ids=[
        "journal-client_id",
        "goal-client_id",
        "checkin-clinic_id",
        "journal-user_id",
        "alert-therapist_id",
    ],
)
def test_case_17_mass_assignment(
    env: Env, who: str, url: str, body: dict[str, Any], field: str
) -> None:
    ids = {"client2": env.world.ids["client2"], "clinic": env.other["id"], "alert": env.alert_id}
    filled = json.loads(
        json.dumps(body).replace("{client2}", ids["client2"]).replace("{clinic}", ids["clinic"])
    )
    with nothing_stored(env):
        res = env.users[who].post(url.format(alert=env.alert_id), json=filled)
    problem(res, 422, "validation", code="extra_forbidden", pointer=f"/{field}")


def test_case_18_another_clients_record_is_indistinguishable_from_none(env: Env) -> None:
    therapist, client = env.users["therapist"], env.users["client"]
    foreign_client = env.other["id"]
    random_id = str(uuid.uuid4())
    for path in ("timeline", "alerts", "goals", "prep", "appointments"):
        with nothing_stored(env):
            theirs = therapist.get(f"/api/v1/clients/{foreign_client}/{path}")
            none = therapist.get(f"/api/v1/clients/{random_id}/{path}")
        problem(theirs, 404, "not-found")
        assert comparable(theirs) == comparable(none)
    with nothing_stored(env):
        theirs = client.patch(
            f"{GOALS}/{env.other_goal_id}", json={"importance": 3}, headers=ANY_VERSION
        )
        none = client.patch(f"{GOALS}/{random_id}", json={"importance": 3}, headers=ANY_VERSION)
    problem(theirs, 404, "not-found")
    assert comparable(theirs) == comparable(none)


@pytest.mark.parametrize(
    "bad_id",
    ["1 OR 1=1", "1' OR '1'='1", "x" * 5000, "a;drop table users"],
    ids=["or", "quote", "5kb", "semicolon"],
)
def test_case_19_malformed_path_ids(env: Env, bad_id: str) -> None:
    therapist, client = env.users["therapist"], env.users["client"]
    with nothing_stored(env):
        res = therapist.get(f"/api/v1/clients/{bad_id}/timeline")
        ack = therapist.post(f"/api/v1/alerts/{bad_id}/acknowledge")
        goal_ = client.patch(f"{GOALS}/{bad_id}", json={"importance": 3}, headers=ANY_VERSION)
        user = env.users["admin"].patch(f"{USERS}/{bad_id}", json={}, headers=ANY_VERSION)
    for got, name in ((res, "client_id"), (ack, "alert_id"), (goal_, "goal_id"), (user, "user_id")):
        problem(got, 422, "validation", code="invalid_id", pointer=f"/path/{name}")
    # a part that names an instrument is checked against the catalogue
    with nothing_stored(env):
        res = client.get(f"{CHECKINS}/{bad_id}/draft")
    problem(res, 422, "validation", code="unknown_instrument")


def test_case_19_well_formed_unknown_id_is_not_found(env: Env) -> None:
    therapist = env.users["therapist"]
    with nothing_stored(env):
        abc = therapist.get("/api/v1/clients/abc/timeline")
        none = therapist.get(f"/api/v1/clients/{uuid.uuid4()}/timeline")
    problem(abc, 404, "not-found")
    assert comparable(abc) == comparable(none)


@before_storage
@pytest.mark.parametrize(
    "sort",
    ["score;drop table users", "password_hash", "email_key desc"],
    ids=["sql", "hash", "column"],
)
def test_case_20_sort_parameters(env: Env, sort: str) -> None:
    """No route sorts by a parameter: an unknown ``sort`` is ignored (fixed server-side order);
    the one enumerated query parameter (``group``) refuses anything outside its allowlist."""
    client, admin = env.users["client"], env.users["admin"]
    with nothing_stored(env):
        res = admin.get("/api/v1/service/outcomes", params={"group": sort})
    problem(res, 422, "validation", pointer="/query/group")
    for who, url in ((client, JOURNAL), (client, GOALS), (admin, USERS)):
        plain = who.get(url)
        sorted_ = who.get(url, params={"sort": sort, "order_by": sort})
        assert plain.status_code == sorted_.status_code == 200
        assert plain.json() == sorted_.json()
        assert "password" not in sorted_.text
        assert "argon2" not in sorted_.text


@before_storage
@pytest.mark.parametrize(
    "params",
    [{"limit": "1000000"}, {"limit": "-1"}, {"offset": "-5"}, {"limit": "abc", "offset": "1e9"}],
    ids=["huge-limit", "negative-limit", "negative-offset", "junk"],
)
def test_case_21_paging_parameters(env: Env, params: dict[str, str]) -> None:
    """No list pages (each is bounded by one person's records): paging parameters are ignored."""
    client, admin = env.users["client"], env.users["admin"]
    for who, url in (
        (client, JOURNAL),
        (admin, USERS),
        (env.users["therapist"], "/api/v1/caseload"),
    ):
        plain = who.get(url)
        paged = who.get(url, params=params)
        assert plain.status_code == paged.status_code == 200, paged.text
        a, b = plain.json(), paged.json()
        if isinstance(a, dict):
            a.pop("generated_at", None)
            b.pop("generated_at", None)
        assert a == b
    with nothing_stored(env):
        res = admin.get("/api/v1/service/outcomes", params={"period": "1" * 100})
    problem(res, 422, "validation", pointer="/query/period")


# ---------------------------------------------------------------- #22–#25 times


def snooze(env: Env, until: str) -> httpx.Response:
    return env.users["therapist"].post(
        f"/api/v1/alerts/{env.alert_id}/snooze", json={"until": until}
    )


@pytest.mark.parametrize(
    "until",
    ["2025-03-30T01:30:00", "2031-01-01T09:00:00", "2031-01-01 09:00"],
    ids=["dst-gap", "plain", "space"],
)
def test_case_22_time_without_offset(env: Env, until: str) -> None:
    with nothing_stored(env):
        res = snooze(env, until)
    problem(res, 422, "validation", code="invalid_datetime", pointer="/until")


@before_storage
@pytest.mark.parametrize(
    "until",
    [
        "2025-03-30T01:30:00 Europe/London",
        "2025-03-30T01:30:00[Europe/London]",
        "2025-10-26T01:30:00 Europe/London",
        "Europe/London",
    ],
    ids=["gap-space", "gap-bracket", "fold", "zone-only"],
)
def test_case_23_local_time_with_zone_name(env: Env, until: str) -> None:
    """twostep accepts no local time + zone name at all: only instants with an offset."""
    with nothing_stored(env):
        res = snooze(env, until)
    problem(res, 422, "validation", pointer="/until")


def test_case_24_implausible_timestamps(env: Env) -> None:
    now = datetime.now(UTC)
    for when in (now + timedelta(days=400), now - timedelta(days=1), now - timedelta(minutes=1)):
        with nothing_stored(env):
            res = snooze(env, when.isoformat())
        problem(res, 422, "validation", code="out_of_range", pointer="/until")
    with env.engine.connect() as conn:
        status = conn.execute(
            sa.select(t.alerts.c.status).where(t.alerts.c.id == env.alert_id)
        ).scalar_one()
    assert status == "acknowledged"  # never snoozed by any of the above


@pytest.mark.parametrize(
    ("day", "code"),
    [
        ("2025-02-30", "value_error"),
        ("1850-01-01", "value_error"),
        ("2999-01-01", "value_error"),
        ("03/04/2025", "value_error"),
        ("2025-3-4", "value_error"),
    ],
    ids=["feb-30", "1850", "2999", "us-format", "unpadded"],
)
def test_case_25_implausible_calendar_days(
    env: Env, client: TestClient, day: str, code: str
) -> None:
    """twostep has no date of birth; the calendar days it takes are goal target and step dates."""
    with nothing_stored(env):
        res = client.post(GOALS, json=goal(target_date=day))
    problem(res, 422, "validation", code=code, pointer="/target_date")
    with nothing_stored(env):
        res = client.post(GOALS, json=goal(steps=[{"text": "first", "due_on": day}]))
    problem(res, 422, "validation", code=code, pointer="/steps/0/due_on")


# ---------------------------------------------------------- #26–#30 protocol


def test_case_26_idempotency_key_reused_with_another_body(env: Env, client: TestClient) -> None:
    key = str(uuid.uuid4())
    first = client.post(JOURNAL, json={"text": "first"}, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    with nothing_stored(env):
        res = client.post(JOURNAL, json={"text": "second"}, headers={"Idempotency-Key": key})
    problem(res, 422, "idempotency-key-reused")
    with nothing_stored(env):
        again = client.post(JOURNAL, json={"text": "first"}, headers={"Idempotency-Key": key})
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"


@pytest.mark.parametrize(
    "key",
    ["not-a-uuid", "1" * 1024, "{" + str(uuid.UUID(int=1)) + "}", ""],
    ids=["word", "1kb", "braced", "empty"],
)
def test_case_27_idempotency_key_not_a_uuid(env: Env, client: TestClient, key: str) -> None:
    with nothing_stored(env):
        res = client.post(JOURNAL, json={"text": "x"}, headers={"Idempotency-Key": key})
    problem(res, 400, "invalid-idempotency-key")


def test_case_27_idempotency_keys_are_scoped_per_user(env: Env) -> None:
    key = str(uuid.uuid4())
    mine = env.users["client"].post(
        JOURNAL, json={"text": "mine"}, headers={"Idempotency-Key": key}
    )
    assert mine.status_code == 201
    theirs = env.users["client2"].post(
        JOURNAL, json={"text": "mine"}, headers={"Idempotency-Key": key}
    )
    assert theirs.status_code == 201
    assert theirs.json()["id"] != mine.json()["id"]
    assert "idempotent-replayed" not in theirs.headers
    with env.engine.connect() as conn:
        owners = conn.execute(
            sa.select(t.journal_entries.c.client_id).where(
                t.journal_entries.c.id.in_([mine.json()["id"], theirs.json()["id"]])
            )
        ).scalars()
        assert sorted(owners) == sorted([env.world.ids["client"], env.world.ids["client2"]])


def _goal_row(env: Env, goal_id: str) -> dict[str, Any]:
    with env.engine.connect() as conn:
        row = conn.execute(sa.select(t.goals).where(t.goals.c.id == goal_id)).mappings().one()
    return dict(row)


def test_case_28_edit_without_or_with_a_stale_if_match(env: Env, client: TestClient) -> None:
    """Records edited in place (goals here; steps, stressors, drafts, accounts, clinic settings
    alike) need the ETag read: none → 428, a stale or foreign one → 412, nothing written."""
    made = client.post(GOALS, json=goal())
    assert made.status_code == 201, made.text
    goal_id, first_tag = made.json()["id"], made.json()["etag"]
    url = f"{GOALS}/{goal_id}"
    read = client.get(GOALS)
    assert read.status_code == 200
    stored = _goal_row(env, goal_id)
    with nothing_stored(env):
        res = client.patch(url, json={"importance": 3})
    problem(res, 428, "precondition-required")
    ok = client.patch(url, json={"importance": 3}, headers={"If-Match": first_tag})
    assert ok.status_code == 200, ok.text
    assert ok.headers["etag"] != first_tag
    changed = _goal_row(env, goal_id)
    assert changed["importance"] == 3
    for tag in (
        first_tag,
        "W/" + ok.headers["etag"],
        '"v999"',
        "garbage",
        f"{first_tag}, {ok.headers['etag']}",
    ):
        with nothing_stored(env):
            res = client.patch(url, json={"importance": 1}, headers={"If-Match": tag})
        problem(res, 412, "precondition-failed")
        assert _goal_row(env, goal_id) == changed, tag
    assert stored != changed


def _cookie_client(env: Env, token: str) -> TestClient:
    c = TestClient(env.app, base_url=BASE_URL, follow_redirects=False)
    c.headers["Cookie"] = f"{COOKIE}={token}"
    return c


def _deny_count(env: Env, after: int) -> int:
    return sum(
        1 for r in env.audit_since(after) if r.outcome == "denied" and r.object_type == "session"
    )


@pytest.mark.parametrize(
    "token",
    [
        # unsigned JWT ("alg": "none") and a JWT with a wrong signature
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiIsInJvbGUiOiJhZG1pbiJ9.",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl",
        "A" * 43,  # a well-formed but unknown session token
        "x" * 5000,
    ],
    ids=["jwt-alg-none", "jwt-wrong-signature", "forged-token", "oversized"],
)
def test_case_29_forged_session_tokens(env: Env, token: str) -> None:
    """twostep has no JWTs: sessions are opaque random tokens looked up by their hash."""
    c = _cookie_client(env, token)
    last = env.last_audit_id()
    with nothing_stored(env):
        res = c.get(JOURNAL)
        bearer = TestClient(env.app, base_url=BASE_URL).get(
            JOURNAL, headers={"Authorization": f"Bearer {token}"}
        )
    problem(res, 401, "unauthenticated")
    problem(bearer, 401, "unauthenticated")
    assert _deny_count(env, last) == 1  # the presented cookie; a bearer header is not a session


def test_case_29_expired_revoked_and_disabled_sessions(env: Env) -> None:
    tokens = {}
    for name in ("expired", "revoked"):
        c = sign_in(env.app, env.world.emails["client2"])
        tokens[name] = c.cookies.get(COOKIE) or ""
        c.close()
    now = datetime.now(UTC)
    with env.world.factory.engine.begin() as conn:
        ws = t.web_sessions.c
        conn.execute(  # past its absolute lifetime
            sa.update(t.web_sessions)
            .where(ws.token_hash == token_hash(tokens["expired"]))
            .values(expires_at=now - timedelta(seconds=1))
        )
        conn.execute(  # ended (signed out elsewhere, new password)
            sa.update(t.web_sessions)
            .where(ws.token_hash == token_hash(tokens["revoked"]))
            .values(revoked_at=now - timedelta(seconds=1))
        )
    for name, tok in tokens.items():
        last = env.last_audit_id()
        c = _cookie_client(env, tok)
        with nothing_stored(env):
            res = c.post(JOURNAL, json={"text": "x"}, headers={"X-CSRF-Token": "whatever"})
            page = c.get(JOURNAL)
        problem(res, 401, "unauthenticated")
        problem(page, 401, "unauthenticated")
        assert _deny_count(env, last) == 2, name
        c.close()
    # disabled user: the admin deactivates the account; its open session stops at once
    extra = env.users["admin"].post(
        USERS,
        json={
            "email": f"disabled-{uuid.uuid4().hex[:8]}@trust.example",
            "display_name": "Soon gone",
            "roles": ["client"],
            "password": PASSWORD,
        },
    )
    assert extra.status_code == 201, extra.text
    account = extra.json()["account"]
    victim = sign_in(env.app, account["email"])
    assert victim.get(JOURNAL).status_code == 200
    off = env.users["admin"].patch(
        f"{USERS}/{account['id']}", json={"is_active": False}, headers=ANY_VERSION
    )
    assert off.status_code == 200, off.text
    last = env.last_audit_id()
    with nothing_stored(env):
        res = victim.post(JOURNAL, json={"text": "after deactivation"})
    problem(res, 401, "unauthenticated")
    assert _deny_count(env, last) == 1
    victim.close()


@before_storage
@pytest.mark.parametrize(
    "extra",
    [{"total": 0}, {"score": 0}, {"risk": False}, {"band": "minimal"}],
    ids=["total", "score", "risk", "band"],
)
def test_case_30_client_supplied_score(env: Env, client: TestClient, extra: dict[str, Any]) -> None:
    body = {
        **phq9(item_1=3, item_2=3, item_3=3, item_4=3, item_5=3, item_6=3, item_7=3, item_9=0),
        **extra,
    }
    with nothing_stored(env):
        res = client.post(CHECKINS, json=body)
    problem(res, 422, "validation", code="extra_forbidden", pointer=f"/{next(iter(extra))}")
