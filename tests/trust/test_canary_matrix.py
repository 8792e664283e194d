"""The adversarial authorization matrix with canary markers (reliability-security.md §2).

The world (`canary_world.py`): two clinics, every clinical record of every
client written through the services with a unique marker in every free-text
field (and its id registered as a marker). The tests below call the app as it
is served (`create_app` on SQLite, no fakes) and check, for every answer, the
status *and* that no marker the caller may not see appears anywhere in the
body or the headers:

* AZ-01/02/07/09/10 — every route with a path id (JSON API and pages, found in
  ``app.routes``) × every caller (client, another client of the same
  therapist, the therapist, another therapist of the clinic, a therapist of
  the other clinic, the admin, the researcher, anonymous) × foreign objects
  of the right kind (one per other therapist's caseload and clinic, private
  kinds of the therapist's own clients, an object of *another* own client
  under this client's path) and a random id: 401/403 as the policy table
  says, otherwise 404 with the same body as for the random id; the unsafe
  methods are sent with the CSRF token and a plausible body (so the random
  id really reaches the object look-up: its 404 proves the body passed
  validation). Callers the policy refuses are tried with two foreign objects
  (their 401/403 comes before any look-up); a therapist's "other client"
  combinations are sampled (one foreign object per own client) to keep the
  file near 35 s of CPU. Every other route is called once per caller and
  scanned too; the session routes (they sign people in and out) separately.
* AZ-04 — lists, exports, the caseload and the dashboard return exactly the
  expected scope; the client's CSV/FHIR downloads and GDPR JSON hold only
  their own markers; CLI exports stay in the clinic and the caseload (AZ-10).
* AZ-03 — ending an assignment is effective on the very next request
  (caseload included); re-assigning restores access.
* AZ-05/06 — bodies with ``client_id``/``therapist_id``/``clinic_id`` or any
  other extra key are refused with 422 and nothing is stored (a hypothesis
  property over random extra keys and values).
* AU-01 — a sample of successful clinical reads through the API writes
  exactly one audit row each, with the right actor, client and outcome.
* AU-02 / DP-01 — the whole audit table and every log line written while the
  matrix ran (every logger at DEBUG), and the access log and stderr of a real
  uvicorn run, hold no marker text, no password and no raw session token.

`test_reduced_matrix_on_postgresql` repeats a reduced matrix (API routes, three
callers, one foreign object each, four clients' records) on PostgreSQL.

Defects this file found (fixed): SQLAlchemy's DEBUG log printed decrypted
rows (journal text) — `twostep.storage.engine` drops them; the goals views
wrote two audit rows per request — one read now (`goals_and_trend`).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import sys
import typing
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))

from canary_world import FAST_HASHER, KEYS_ENV, PASSWORD, CanaryWorld, build_world
from trust_app import free_port, http_request

from twostep.cli import main as cli_main
from twostep.domain.records import EntryKind, Role, new_id
from twostep.storage import upgrade
from twostep.storage.tables import metadata
from twostep.web.app import create_app
from twostep.web.policy import POLICY

#: one worker runs the whole module, in order: one world, and the log/audit scan at the end
#: sees everything the matrix did
pytestmark = [pytest.mark.xdist_group("canary_matrix"), pytest.mark.slow]

API = "/api/v1"
BASE_URL = "https://testserver"
SKIPPED_NAMES = frozenset({"static", "openapi", "swagger_ui_html", "redoc_html"})
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
#: caller -> user in the world (None: signed out)
VIEWERS: dict[str, str | None] = {
    "client": "cl1a1",
    "other_client": "cl1a2",
    "therapist": "ther1a",
    "other_therapist": "ther1b",
    "far_therapist": "ther2a",
    "admin": "admin1",
    "researcher": "res1",
    "anonymous": None,
}
#: path parameter -> the kind of record its id names
PARAM_KIND = {
    "administration_id": "administration",
    "alert_id": "alert",
    "appointment_id": "appointment",
    "goal_id": "goal",
    "step_id": "step",
    "topic_id": "topic",
    "stressor_id": "stressor",
    "assignment_id": "assignment",
}
#: a child record's parameter names its parent's (goal of a step)
PARENT_PARAM = {"step_id": "goal_id"}
TOMORROW = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
TODAY = datetime.now(UTC).date().isoformat()
#: plausible bodies of the unsafe routes with a path id (JSON for the API, form fields
#: for pages): valid, so that a random id answers 404 from the object look-up
BODIES: dict[str, dict[str, object]] = {
    "api.therapist.alert.acknowledge": {},
    "api.therapist.alert.resolve": {"action_taken": "matrix call"},
    "api.therapist.alert.snooze": {"until": TOMORROW.isoformat()},
    "api.therapist.appointment.attended": {},
    "api.therapist.appointment.missed": {},
    "api.therapist.appointment.tags": {"tags": ["matrix"]},
    "api.therapist.goal.review": {"attained_level": 1, "notes": "matrix call"},
    "api.therapist.topic.addressed": {},
    "api.me.goals.update": {"importance": 3},
    "api.me.goals.steps.add": {"text": "matrix step"},
    "api.me.goals.steps.done": {"done": True},
    "api.me.stressors.end": {"ended_on": TODAY},
    "api.admin.users.update": {"display_name": "Matrix"},
    "page.admin.assignments.end": {},
    "page.admin.users.active": {"active": "no"},
    "page.admin.users.password": {"password": ""},
    "page.admin.users.roles": {"roles": "client"},
    "page.therapist.alert.acknowledge": {"return_to": "timeline"},
    "page.therapist.alert.snooze": {"until": TOMORROW.strftime("%Y-%m-%dT%H:%M")},
    "page.therapist.alert.resolve": {"action_taken": "matrix call"},
    "page.therapist.appointment.tags": {"tags": "matrix"},
    "page.therapist.appointment.status": {"status": "attended"},
    "page.therapist.goal.review": {"attained_level": "1", "notes": "matrix call"},
    "page.therapist.topic.addressed": {},
    "page.me.goals.steps.add": {"step_text": "matrix step"},
    "page.me.goals.steps.done": {"done": "1"},
    "page.me.stressors.end": {"ended_on": TODAY},
}
#: foreign objects tried per route for a caller the policy refuses (401/403 come first)
REFUSED_SAMPLE = 2
SESSION_ROUTES = frozenset({"api.session.create", "api.session.delete", "page.logout"})
LOGIN_ROUTES = frozenset({"api.session.create", "page.login.submit"})


# ------------------------------------------------------------------------- log capture


class LogTrap(logging.Handler):
    """Every record of every logger, formatted with its exception text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a record that cannot be formatted is kept as it is
            self.lines.append(f"{record.name} {record.msg!r} {record.args!r}")

    def start(self) -> None:
        """Every logger at DEBUG, every record here (also of loggers that do not propagate)."""
        self._saved: dict[logging.Logger, tuple[int, bool]] = {}
        root = logging.getLogger()
        loggers = [root] + [
            lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)
        ]
        for lg in loggers:
            self._saved[lg] = (lg.level, lg.disabled)
            lg.setLevel(logging.DEBUG)
            lg.disabled = False
            if lg is root or not lg.propagate:
                lg.addHandler(self)

    def stop(self) -> None:
        for lg, (level, disabled) in self._saved.items():
            lg.setLevel(level)
            lg.disabled = disabled
            if self in lg.handlers:
                lg.removeHandler(self)


# ------------------------------------------------------------------------- the routes


@dataclass(frozen=True)
class Endpoint:
    path: str
    name: str
    methods: tuple[str, ...]
    route: APIRoute

    @property
    def is_api(self) -> bool:
        return self.path.startswith(API + "/")

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(self.route.param_convertors)

    @property
    def object_params(self) -> tuple[str, ...]:
        return tuple(p for p in self.params if p in PARAM_KIND or p in ("client_id", "user_id"))


def _walk(routes: list[object]) -> Iterator[tuple[str, object]]:
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if callable(contexts):  # FastAPI >= 0.16x resolves included routers lazily
            for ctx in contexts():
                yield (ctx.path or getattr(ctx.original_route, "path", "")), ctx.original_route
            continue
        sub = getattr(route, "routes", None)
        if sub is not None and not isinstance(route, APIRoute):
            if getattr(route, "name", None) in SKIPPED_NAMES:
                continue
            yield from _walk(list(sub))
            continue
        yield getattr(route, "path", ""), route


def endpoints_of(app: FastAPI) -> list[Endpoint]:
    out = []
    for path, route in _walk(list(app.routes)):
        if isinstance(route, APIRoute) and route.name not in SKIPPED_NAMES:
            methods = tuple(sorted(set(route.methods) - {"HEAD", "OPTIONS"}))
            out.append(Endpoint(path, route.name, methods, route))
    return out


# ------------------------------------------------------------------------- the callers


class Callers:
    """A signed-in `TestClient` per caller (server errors answered, not raised)."""

    def __init__(self, app: FastAPI, world: CanaryWorld) -> None:
        self.app, self.world = app, world
        self.clients: dict[str, TestClient] = {}
        self.tokens: list[str] = []  # every raw session token handed out (for the log scan)

    def _new(self) -> TestClient:
        return TestClient(
            self.app, base_url=BASE_URL, follow_redirects=False, raise_server_exceptions=False
        )

    def sign_in(self, user: str) -> TestClient:
        client = self._new()
        res = client.post(
            f"{API}/session", json={"email": self.world.email(user), "password": PASSWORD}
        )
        assert res.status_code == 201, res.text
        client.headers["X-CSRF-Token"] = res.json()["csrf_token"]
        self.tokens.append(res.headers["set-cookie"].split(";", 1)[0].split("=", 1)[1])
        return client

    def get(self, viewer: str) -> TestClient:
        user = VIEWERS.get(viewer, viewer)
        key = user or "anonymous"
        if key not in self.clients:
            self.clients[key] = self._new() if user is None else self.sign_in(user)
        return self.clients[key]

    def forget(self, user: str) -> None:
        """Drop the cached client of ``user`` (signed out): the next `get` signs in again."""
        client = self.clients.pop(user, None)
        if client is not None:
            client.close()

    def close(self) -> None:
        for c in self.clients.values():
            c.close()


def send(
    client: TestClient, method: str, url: str, endpoint: Endpoint, body: dict[str, object] | None
) -> object:
    token = client.headers.get("X-CSRF-Token")
    if method == "GET" or (method == "DELETE" and body is None):
        return client.request(method, url)
    if endpoint.is_api:  # If-Match: * ("whatever is stored"): edits in place need a precondition
        headers = {"If-Match": "*"} if method in ("PUT", "PATCH") else {}
        return client.request(method, url, json=body if body is not None else {}, headers=headers)
    form: dict[str, object] = dict(body or {})
    if token:
        form["csrf_token"] = token
    return client.request(method, url, data=form)


# --------------------------------------------------------------------------- scanning

CANARY_RE = re.compile(r"canary-[a-z0-9-]+?-\d{4}")
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Scanner:
    """Finds the world's markers in a text with two regular expressions (fast)."""

    def __init__(self, world: CanaryWorld) -> None:
        self.world = world
        self.by_marker = {c.folded: c for c in world.canaries}

    def found(self, text: str) -> set[str]:
        folded = text.casefold()
        hits = {m for m in CANARY_RE.findall(folded) if m in self.by_marker}
        hits |= {m for m in UUID_RE.findall(folded) if m in self.by_marker}
        return hits

    def foreign_in(self, viewer: str | None, text: str, *, allowed: str = "") -> list[str]:
        """Markers in ``text`` that ``viewer`` may not see (ids in ``allowed`` excepted)."""
        out = []
        for m in sorted(self.found(text)):
            c = self.by_marker[m]
            if not self.world.visible(viewer, c) and m not in allowed.casefold():
                out.append(c.marker)
        return out

    def users_in(self, text: str) -> set[str]:
        ids = set(UUID_RE.findall(text.casefold()))
        return {n for n, u in self.world.users.items() if u.id in ids}


def response_text(res: object) -> str:
    body = res.content.decode("utf-8", "replace")  # type: ignore[attr-defined]
    headers = "\n".join(f"{k}: {v}" for k, v in res.headers.items())  # type: ignore[attr-defined]
    return body + "\n" + headers


def shape(res: object) -> tuple[int, str, bytes]:
    """Status, content type and the body with the request id blanked (differs per request)."""
    rid = res.headers.get("x-request-id", "")  # type: ignore[attr-defined]
    body: bytes = res.content  # type: ignore[attr-defined]
    if rid:
        body = body.replace(rid.encode(), b"<request-id>")
    return res.status_code, res.headers.get("content-type", ""), body  # type: ignore[attr-defined]


# ------------------------------------------------------------------------- module world


@dataclass(repr=False)  # a short repr: failure reports and hypothesis print it
class Env:
    world: CanaryWorld
    app: FastAPI
    callers: Callers
    scanner: Scanner
    trap: LogTrap
    endpoints: list[Endpoint]

    def __repr__(self) -> str:
        return f"Env({self.world.url})"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    trap = LogTrap()
    trap.start()
    folder = tmp_path_factory.mktemp("canary")
    url = f"sqlite:///{folder / 'canary.db'}"
    try:
        upgrade(url)
        world = build_world(url, folder)
        app = create_app(world.settings, hasher=FAST_HASHER)
        callers = Callers(app, world)
        yield Env(world, app, callers, Scanner(world), trap, endpoints_of(app))
    finally:
        trap.stop()
    callers.close()
    st_ = app.state.twostep
    for f in (st_.uow_factory, st_.read_factory):
        engine = getattr(f, "engine", None)
        if engine is not None:
            engine.dispose()
    world.close()


# ------------------------------------------------------------------------------ targets


@dataclass(frozen=True)
class Target:
    values: dict[str, str]
    label: str


def _random() -> str:
    return new_id()


def _groups(world: CanaryWorld) -> list[list[str]]:
    """Clients by (clinic, therapist), in a fixed order."""
    out: dict[str, list[str]] = {}
    for c in sorted(world.clients):
        out.setdefault(c[:4], []).append(c)
    return list(out.values())


def foreign_clients(world: CanaryWorld, user: str | None) -> list[str]:
    """One client from each therapist's caseload (both clinics) the caller cannot reach."""
    out = []
    for group in _groups(world):
        for c in group:
            if not world.sees_client(user, c) and world.has_records(c):
                out.append(c)
                break
    return out


def targets(world: CanaryWorld, e: Endpoint, user: str | None) -> list[Target]:
    """Foreign objects of the right kind for the endpoint's path, as the caller sees them."""
    fixed = {p: "phq9" for p in e.params if p not in e.object_params}
    obj = e.object_params
    if not obj:
        return [Target(fixed, "no object")]
    strangers = foreign_clients(world, user)
    reachable = [c for c in sorted(world.clients) if world.sees_client(user, c) and c != user]
    own = [user] if user in world.clients else []
    out: list[Target] = []

    def add(label: str, **values: str) -> None:
        out.append(Target({**fixed, **values}, label))

    if obj == ("user_id",):
        me_clinic = world.clinic_of(user) if user else world.clinics[1].id
        for name in ("ther2a", "cl2a1", "admin2", "ther1a", "cl1a1"):
            if world.clinic_of(name) != me_clinic:
                add(f"user {name}", user_id=world.id(name))
        return out
    if obj == ("assignment_id",):
        for c in strangers:
            if user is None or world.clinic_of(c) != world.clinic_of(user):
                add(f"assignment of {c}", assignment_id=world.assignment_of[c])
        if not out:  # a caller outside every clinic: any assignment is foreign
            add("assignment of cl2a1", assignment_id=world.assignment_of["cl2a1"])
        return out
    if obj == ("client_id",):
        for c in strangers:
            add(f"client {c}", client_id=world.id(c))
        return out
    child = obj[-1]  # the innermost id (a step under its goal, an alert under its client)
    kind = PARAM_KIND[child]
    parent = PARENT_PARAM.get(child)
    if parent is not None:  # /me/goals/{goal_id}/steps/{step_id}
        for c in strangers:
            add(f"step of {c}", goal_id=_one(world, "goal", c), step_id=_one(world, kind, c))
        for c in own:
            for s in strangers[:2]:
                add(f"own goal, step of {s}", goal_id=_one(world, "goal", c),
                    step_id=_one(world, kind, s))  # fmt: skip
        return out
    with_client = "client_id" in obj
    for c in strangers:
        values = {child: _one(world, kind, c)}
        if with_client:
            values["client_id"] = world.id(c)
        add(f"{kind} of {c}", **values)
    for c in own + reachable:
        if with_client:
            for s in strangers[:1] if c != (own + reachable)[0] else strangers[:2]:
                add(
                    f"{kind} of {s} under {c}",
                    client_id=world.id(c),
                    **{child: _one(world, kind, s)},
                )
            others = [o for o in reachable if o != c]
            if others:  # another of the caller's own clients: the path must match the object
                add(f"{kind} of {others[0]} under {c}", client_id=world.id(c),
                    **{child: _one(world, kind, others[0])})  # fmt: skip
        for rid in world.object_ids(kind, c):  # own clients' objects of a kind kept private
            canary = next(x for x in world.canaries if x.marker == rid)
            if not world.visible(user, canary):
                values = {child: rid} | ({"client_id": world.id(c)} if with_client else {})
                add(f"private {kind} of {c}", **values)
                break
    return out


def _one(world: CanaryWorld, kind: str, client: str) -> str:
    return world.object_ids(kind, client)[0]


def reference(e: Endpoint) -> Target:
    fixed = {p: "phq9" for p in e.params if p not in e.object_params}
    return Target({**fixed, **{p: _random() for p in e.object_params}}, "random id")


def expected_status(e: Endpoint, role: Role | None) -> set[int]:
    policy = POLICY[e.name]
    if policy.public:
        return set()
    if role is None:
        return {401} if e.is_api else {401, 303, 302, 307}
    if role not in policy.roles:
        return {403}
    return {404}


# ------------------------------------------------------------------------------ the matrix


@dataclass
class MatrixResult:
    failures: list[str]
    calls: int
    statuses: dict[int, int]


def run_matrix(
    env: Env,
    endpoints: list[Endpoint],
    viewers: dict[str, str | None],
    *,
    per_kind: int | None = None,
) -> MatrixResult:
    """Every endpoint × method × caller × foreign target (+ the random-id reference)."""
    world, scanner, callers = env.world, env.scanner, env.callers
    failures: list[str] = []
    statuses: dict[int, int] = {}
    calls = 0
    for e in endpoints:
        if e.name in SESSION_ROUTES or e.name in LOGIN_ROUTES:
            continue  # called by test_session_routes_leak_nothing (they sign people in and out)
        for method in e.methods:
            body = BODIES.get(e.name) if method in UNSAFE else None
            for viewer, user in viewers.items():
                role = world.role_of(user) if user else None
                client = callers.get(viewer)
                want = expected_status(e, role)
                if not e.object_params and want == {404}:
                    want = set()  # an allowed call without an object: any answer but a 5xx
                ref = reference(e)
                found = targets(world, e, user) if e.object_params else [ref]
                if per_kind is not None:
                    found = found[:per_kind]
                if want and 404 not in want:  # refused by role: the id cannot matter; sample
                    found = found[:REFUSED_SAMPLE]
                ref_res = send(client, method, e.path.format(**ref.values), e, body)
                calls += 1
                ref_shape = shape(ref_res)
                for t in found:
                    url = e.path.format(**t.values)
                    res = ref_res if t is ref else send(client, method, url, e, body)
                    calls += 1 if t is not ref else 0
                    status = res.status_code  # type: ignore[attr-defined]
                    statuses[status] = statuses.get(status, 0) + 1
                    where = f"{method} {e.path} [{t.label}] as {viewer}: {status}"
                    if status >= 500:
                        failures.append(f"{where} — server error")
                        continue
                    if want and status not in want:
                        failures.append(f"{where} — expected {sorted(want)}")
                    if e.object_params and want and shape(res) != ref_shape:
                        failures.append(f"{where} — answer differs from a random id's")
                    leaked = scanner.foreign_in(user, response_text(res), allowed=url)
                    if leaked:
                        failures.append(f"{where} — foreign markers {leaked[:5]}")
                if want and ref_shape[0] not in want:
                    failures.append(
                        f"{method} {e.path} [random id] as {viewer}: {ref_shape[0]} — "
                        f"expected {sorted(want)} (is the plausible body valid?)"
                    )
    return MatrixResult(failures, calls, statuses)


def test_every_route_with_a_path_id_for_every_caller_and_foreign_object(env: Env) -> None:
    with_ids = [e for e in env.endpoints if e.object_params]
    assert len(with_ids) >= 40, "the route walk lost the id routes"
    kinds = {k for e in with_ids for k in e.object_params}
    assert kinds == set(PARAM_KIND) | {"client_id", "user_id"}, "a path id without targets"
    for e in with_ids:
        for method in set(e.methods) & set(UNSAFE):
            assert e.name in BODIES or method == "DELETE", f"no plausible body for {e.name}"
    result = run_matrix(env, with_ids, VIEWERS)
    assert result.failures == [], "\n".join(result.failures)
    # the matrix really ran: 404s for allowed callers, refusals of both kinds
    assert result.statuses.get(404, 0) > 300
    assert result.statuses.get(403, 0) > 300
    assert result.statuses.get(401, 0) + result.statuses.get(303, 0) > 40
    assert result.calls > 1000


def test_every_other_route_once_per_caller_leaks_nothing(env: Env) -> None:
    """Routes without a path id (lists, forms, dashboards, downloads): no foreign marker."""
    others = [e for e in env.endpoints if not e.object_params]
    result = run_matrix(env, others, VIEWERS)
    assert result.failures == [], "\n".join(result.failures)
    assert result.statuses.get(200, 0) > 60


def test_session_routes_leak_nothing(env: Env) -> None:
    """Sign-in (unknown address), sign-out of a fresh session: no marker in any answer."""
    world, scanner, callers = env.world, env.scanner, env.callers
    for viewer, user in VIEWERS.items():
        fresh = callers.sign_in(user) if user else callers._new()
        for path, form in ((f"{API}/session", False), ("/login", True)):
            creds = {"email": f"nobody-{uuid.uuid4().hex[:8]}@x.example", "password": "wrong" * 4}
            res = fresh.post(path, data=creds) if form else fresh.post(path, json=creds)
            assert res.status_code < 500
            assert scanner.foreign_in(user, response_text(res)) == []
        for method, path in (("DELETE", f"{API}/session"), ("POST", "/logout")):
            res = (
                fresh.request(method, path)
                if method == "DELETE"
                else fresh.post(path, data={"csrf_token": fresh.headers.get("X-CSRF-Token", "")})
            )
            assert res.status_code < 500, (viewer, path, res.status_code)
            assert scanner.foreign_in(user, response_text(res)) == []
            if user:
                callers.forget(user)  # signing out ends every session of the user
                fresh = callers.sign_in(user)
        fresh.close()
    assert world.canaries


# --------------------------------------------------------------------- AZ-04: exact scope

#: the client's list routes and the kinds of marker each must hold, all of them and only own
CLIENT_LISTS: dict[str, tuple[str, ...]] = {
    f"{API}/me/journal": ("journal", "emotion", "journal-id"),
    f"{API}/me/reflections": (
        "refl-happened", "refl-noticed", "refl-helped", "refl-learned", "reflection-id",
    ),
    f"{API}/me/goals": (
        "goal-specific", "goal-measure", "goal-relevant", "goal-step", "goal-review",
        *(f"goal-level{k}" for k in range(5)), "goal-id", "step-id",
    ),
    f"{API}/me/stressors": ("stressor", "stressor-id"),
    f"{API}/me/self-care": ("self-care", "self-care-id"),
    f"{API}/me/skills/practice": ("skill", "skill-id"),
    f"{API}/me/thought-records": (
        "tr-situation", "tr-thought", "tr-emotion", "tr-for", "tr-against", "tr-balanced",
        "thought-id",
    ),
    f"{API}/me/supporters": ("supporter", "relation", "supporter-id"),
    f"{API}/me/support-contacts": ("contact-id",),
    f"{API}/me/session-topics": ("topic", "topic-id"),
}  # fmt: skip
THERAPIST_CLIENT_ROUTES = (
    f"{API}/clients/{{c}}/timeline",
    f"{API}/clients/{{c}}/prep",
    f"{API}/clients/{{c}}/goals",
    f"{API}/clients/{{c}}/alerts?include_resolved=true",
    f"{API}/clients/{{c}}/appointments",
    f"{API}/clients/{{c}}/alliance",
    "/clients/{c}",
    "/clients/{c}/prep",
    "/clients/{c}/goals",
    "/clients/{c}/alliance",
)


def test_client_lists_hold_exactly_their_own_records(env: Env) -> None:
    world, scanner = env.world, env.scanner
    for user in ("cl1a1", "cl2b1"):
        client = env.callers.get(user)
        for path, kinds in CLIENT_LISTS.items():
            res = client.get(path)
            assert res.status_code == 200, (path, res.text)
            found = scanner.found(res.text)
            want = {c.folded for c in world.of_client(user) if c.kind in kinds}
            assert want, f"{path}: the world has no such records"
            got = {m for m in found if scanner.by_marker[m].kind in kinds}
            assert got == want, f"{path} as {user}: missing {sorted(want - got)[:3]}"
            foreign = scanner.foreign_in(user, res.text)
            assert foreign == [], f"{path} as {user}: {foreign[:3]}"


def test_therapist_sees_the_caseload_and_what_clients_share_nothing_else(env: Env) -> None:
    world, scanner = env.world, env.scanner
    for therapist in ("ther1a", "ther1b", "ther2b"):
        client = env.callers.get(therapist)
        mine = {c for c in world.clients if world.therapist_of.get(c) == therapist}
        for path in (f"{API}/caseload", "/caseload"):
            res = client.get(path)
            assert res.status_code == 200
            seen = {n for n in scanner.users_in(res.text) if n in world.clients}
            assert seen == mine, f"{path} as {therapist}"
        for c in sorted(mine):
            found: set[str] = set()
            for path in THERAPIST_CLIENT_ROUTES:
                res = client.get(path.format(c=world.id(c)))
                assert res.status_code == 200, (path, res.status_code)
                found |= scanner.found(response_text(res))
                assert scanner.foreign_in(therapist, response_text(res)) == []
            kinds = {scanner.by_marker[m].kind for m in found}
            shared = world.sharing[c]
            # positive controls: the scans see what a therapist may see
            assert {"administration-id", "alert-action", "tag"} <= kinds, (c, sorted(kinds))
            assert ("journal" in kinds) == shared[EntryKind.JOURNAL_TEXT], (c, sorted(kinds))
            assert ("goal-specific" in kinds) == shared[EntryKind.GOALS], (c, sorted(kinds))


def test_private_journal_text_never_reaches_a_therapist(env: Env) -> None:
    """Journal text is private by default: no therapist answer holds it, on any route."""
    world, scanner = env.world, env.scanner
    therapist = env.callers.get("ther1a")
    private = {c.folded for c in world.of_client("cl1a1") if c.kind == "journal"}
    shared = {c.folded for c in world.of_client("cl1a2") if c.kind == "journal"}
    seen: set[str] = set()
    for c in ("cl1a1", "cl1a2"):
        for path in THERAPIST_CLIENT_ROUTES:
            seen |= scanner.found(response_text(therapist.get(path.format(c=world.id(c)))))
    assert not private & seen
    assert shared <= seen  # the client who shares it: the therapist does see it


def test_dashboards_admin_and_researcher_hold_no_clinical_content(env: Env) -> None:
    """AZ-07/AZ-09: staff aggregates and admin lists carry no marker and no other clinic."""
    world, scanner = env.world, env.scanner
    clinic2 = {n for n in world.users if world.clinic_of(n) == world.clinics[2].id}
    for user in ("admin1", "res1", "ther1a"):
        client = env.callers.get(user)
        for q in ("", "?group=period", "?group=none", "?group=therapist"):
            for path in (f"{API}/service/outcomes{q}", f"/service{q}"):
                res = client.get(path)
                assert res.status_code == 200, (path, res.status_code)
                text = response_text(res)
                assert scanner.found(text) == set(), (user, path)
                assert not scanner.users_in(text) & set(world.clients), (user, path)
                assert not scanner.users_in(text) & clinic2
                if user == "res1":  # pseudonyms only: no therapist's id or name
                    for t in ("ther1a", "ther1b"):
                        assert world.id(t) not in text
                        assert world.users[t].display_name not in text
    # researchers: rounded to 5, and the clinic's eight episodes are "fewer than 10"
    research = env.callers.get("res1").get(f"{API}/service/outcomes").json()
    assert research["rounded_to"] == 5
    assert research["n_episodes"] is None
    for row in (research["total"], *research["rows"]):
        for c in row["cells"]:
            assert c["numerator"] is None or c["numerator"] % 5 == 0
    staff = env.callers.get("admin1").get(f"{API}/service/outcomes").json()
    assert staff["rounded_to"] == 1
    clinic1_episodes = [e for e, owner in world.objects["episode"] if owner.startswith("cl1")]
    assert staff["n_episodes"] == len(clinic1_episodes)  # exact for staff
    admin = env.callers.get("admin1")
    for path in (f"{API}/admin/users", f"{API}/admin/assignments", f"{API}/admin/clinic", "/admin"):
        res = admin.get(path)
        assert res.status_code == 200
        assert scanner.found(response_text(res)) == set(), path
        assert not scanner.users_in(res.text) & clinic2, path
    users = {u["id"] for u in admin.get(f"{API}/admin/users").json()}
    assert {world.id(n) for n in world.users if n not in clinic2} <= users


def test_client_downloads_hold_only_their_own_markers(env: Env) -> None:
    world, scanner = env.world, env.scanner
    client = env.callers.get("cl1a1")
    own_ids = {
        c.folded for c in world.of_client("cl1a1", ids=True) if c.kind == "administration-id"
    }
    for path in ("/me/download/csv", "/me/download/fhir"):
        res = client.get(path)
        assert res.status_code == 200, path
        assert scanner.foreign_in("cl1a1", response_text(res)) == [], path
    rows = list(csv.DictReader(io.StringIO(client.get("/me/download/csv").text)))
    assert rows
    assert {r["client_id"] for r in rows} == {world.id("cl1a1")}
    bundle = client.get("/me/download/fhir").json()
    assert bundle["resourceType"] == "Bundle"
    assert own_ids <= scanner.found(json.dumps(bundle)), "the bundle lacks the client's scores"


# ------------------------------------------------------------------------- CLI (AZ-10)


def _cli(world: CanaryWorld, *args: str) -> tuple[int, str]:
    env_vars = {
        "TWOSTEP_ENCRYPTION_KEYS": KEYS_ENV,
        "TWOSTEP_ENVIRONMENT": "test",
        "TWOSTEP_PSEUDONYMISATION_KEY": "a pseudonymisation key for the canary tests",
    }
    res = CliRunner().invoke(cli_main.app, [*args, "--url", world.url], env=env_vars)
    return res.exit_code, res.output


def test_cli_exports_stay_in_the_caseload_and_the_clinic(env: Env, tmp_path: Path) -> None:
    world, scanner = env.world, env.scanner
    # scores: a therapist exports exactly their caseload; an admin gets no scores (AZ-07)
    out = tmp_path / "scores-ther1a.csv"
    code, text = _cli(world, "export", "scores", "--out", str(out), "--as", world.email("ther1a"))
    assert code == 0, text
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["client_id"] for r in rows} == {world.id("cl1a1"), world.id("cl1a2")}
    assert scanner.foreign_in("ther1a", out.read_text(encoding="utf-8")) == []
    out = tmp_path / "scores-admin1.csv"
    code, text = _cli(world, "export", "scores", "--out", str(out), "--as", world.email("admin1"))
    assert code != 0, text
    assert not out.exists()
    # researchers: no row-level export at all, pseudonymised or not (AZ-09: aggregates only)
    out = tmp_path / "scores-res.csv"
    for extra in ((), ("--pseudonymise",)):
        code, text = _cli(
            world, "export", "scores", *extra, "--out", str(out), "--as", world.email("res1")
        )
        assert code != 0, text
        assert not out.exists()
    # a therapist's pseudonymised export: their caseload, no id, no marker, weeks only
    code, text = _cli(
        world,
        "export",
        "scores",
        "--pseudonymise",
        "--out",
        str(out),
        "--as",
        world.email("ther1a"),
    )
    assert code == 0, text
    body = out.read_text(encoding="utf-8")
    assert scanner.found(body) == set()
    assert not scanner.users_in(body)
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len({r["client_id"] for r in rows}) == 2  # cl1a1 and cl1a2, under pseudonyms
    assert "completed_at" not in rows[0]
    assert all(date.fromisoformat(r["date"]).weekday() == 0 for r in rows)  # weeks only
    # a client of the other clinic / another caseload: refused, no file
    for user, client in (("ther1a", "cl2a1"), ("ther1a", "cl1b1"), ("admin1", "cl2a1")):
        for cmd in (("export", "fhir"), ("gdpr", "export")):
            if user.startswith("ther") and cmd[0] == "gdpr":
                continue  # GDPR export is for the client or their clinic's admin
            out = tmp_path / f"{cmd[0]}-{user}-{client}.json"
            code, text = _cli(
                world, *cmd, "--client", world.id(client), "--out", str(out),
                "--as", world.email(user),
            )  # fmt: skip
            assert code != 0, (cmd, user, client, text)
            assert not out.exists()
            assert scanner.foreign_in(user, text) == []
    # the client's own GDPR JSON: every own text marker, nobody else's
    out = tmp_path / "mine.json"
    code, text = _cli(
        world, "gdpr", "export", "--client", world.id("cl1a1"), "--out", str(out),
        "--as", world.email("cl1a1"),
    )  # fmt: skip
    assert code == 0, text
    body = out.read_text(encoding="utf-8")
    own_text = {c.folded for c in world.of_client("cl1a1", ids=False)}
    assert own_text <= scanner.found(body)
    assert scanner.foreign_in("cl1a1", body) == []


# ------------------------------------------------------------------ AZ-03: unassignment


def test_unassignment_is_effective_on_the_very_next_request(env: Env) -> None:
    world, scanner = env.world, env.scanner
    admin, therapist = env.callers.get("admin1"), env.callers.get("ther1a")
    client, cid = "cl1a2", world.id("cl1a2")
    timeline = f"{API}/clients/{cid}/timeline"
    # warm every cache first: the caseload (triage is cached per therapist) and the record
    assert world.id(client) in therapist.get(f"{API}/caseload").text
    assert client in scanner.users_in(therapist.get("/caseload").text)
    assert therapist.get(timeline).status_code == 200
    (alert_id, *_) = world.object_ids("alert", client)
    res = admin.delete(f"{API}/admin/assignments/{world.assignment_of[client]}")
    assert res.status_code in (200, 204), res.text
    del world.therapist_of[client]
    try:
        for path in (
            timeline,
            f"{API}/clients/{cid}/alerts",
            f"{API}/clients/{cid}/goals",
            f"{API}/clients/{cid}/prep",
            f"/clients/{cid}",
        ):
            res = therapist.get(path)
            assert res.status_code == 404, (path, res.status_code)
            assert scanner.foreign_in("ther1a", response_text(res)) == []
        res = therapist.post(f"{API}/alerts/{alert_id}/acknowledge", json={})
        assert res.status_code == 404
        for path in (f"{API}/caseload", "/caseload"):
            res = therapist.get(path)
            assert client not in scanner.users_in(res.text), f"{path} still lists the client"
            assert scanner.foreign_in("ther1a", response_text(res)) == []
    finally:  # assign again (a new assignment): access is back at once
        res = admin.post(
            f"{API}/admin/assignments", json={"client_id": cid, "therapist_id": world.id("ther1a")}
        )
        assert res.status_code == 201, res.text
        world.therapist_of[client] = "ther1a"
        world.assignment_of[client] = res.json()["id"]
    assert therapist.get(timeline).status_code == 200
    assert world.id(client) in therapist.get(f"{API}/caseload").text


# --------------------------------------------------------------- AZ-05/06: mass assignment

GOAL_BODY = {
    "specific_description": "walk to the park",
    "measurable_indicator": "walks a week",
    "levels": {"-2": "none", "-1": "one", "0": "two", "1": "three", "2": "four"},
    "importance": 2,
    "difficulty": 2,
}
#: the client's create routes: a valid body and the table a row lands in
CREATES: dict[str, tuple[dict[str, object], str]] = {
    f"{API}/me/journal": ({"mood": 5, "text": "plain words"}, "journal_entries"),
    f"{API}/me/reflections": ({"what_happened": "plain words"}, "setback_reflections"),
    f"{API}/me/stressors": (
        {"category": "work", "severity": 2, "started_on": TODAY}, "stressors",
    ),
    f"{API}/me/self-care": ({"done_on": TODAY, "activity": "sleep"}, "self_care_entries"),
    f"{API}/me/skills/practice": ({"skill_id": "grounding"}, "skill_practices"),
    f"{API}/me/thought-records": (
        {"situation": "s", "automatic_thought": "t", "emotion": "e", "intensity": 50},
        "thought_records",
    ),
    f"{API}/me/supporters": ({"name": "a friend", "relation": "friend"}, "supporters"),
    f"{API}/me/session-topics": ({"text": "plain words"}, "session_topics"),
    f"{API}/me/goals": (GOAL_BODY, "goals"),
    f"{API}/me/checkins": (
        {"instrument_id": "gad7", "answers": {f"item_{i}": 1 for i in range(1, 8)}},
        "administrations",
    ),
}  # fmt: skip
#: fields of staff records and ownership a client must never set
STAFF_KEYS = (
    "client_id", "therapist_id", "clinic_id", "owner_id", "user_id", "id", "created_at",
    "status", "level", "risk", "updated_by", "reviewer_id", "action_taken", "episode_id",
    "version", "roles", "is_active", "shared", "received_at",
)  # fmt: skip


def _count(world: CanaryWorld, table: str, client_id: str | None = None) -> int:
    t = metadata.tables[table]
    stmt = sa.select(sa.func.count()).select_from(t)
    if client_id is not None:
        stmt = stmt.where(t.c.client_id == client_id)
    with world.factory.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def test_mass_assignment_is_refused_and_nothing_is_stored(env: Env) -> None:
    world = env.world
    client = env.callers.get("cl1a1")
    me, far = world.id("cl1a1"), world.id("cl2a1")
    for path, (body, table) in CREATES.items():
        mine, theirs, total = (
            _count(world, table, me),
            _count(world, table, far),
            _count(world, table),
        )
        for key in ("client_id", "therapist_id", "clinic_id", "owner_id", "id"):
            for value in (far, world.clinics[2].id, world.id("ther2a")):
                res = client.post(path, json={**body, key: value})
                assert res.status_code == 422, (path, key, res.status_code)
                assert res.headers["content-type"].startswith("application/problem+json")
        assert _count(world, table) == total, f"{path}: a refused body stored a row"
        res = client.post(path, json=body)  # the same body without the extra key is valid
        assert res.status_code == 201, (path, res.text)
        assert _count(world, table, me) == mine + 1
        assert _count(world, table, far) == theirs
    # staff routes: the owner comes from the path and the session, never the body
    therapist, admin = env.callers.get("ther1a"), env.callers.get("admin1")
    goal = world.object_ids("goal", "cl1a1")[0]
    before = _count(world, "goal_reviews")
    res = therapist.post(
        f"{API}/clients/{me}/goals/{goal}/reviews",
        json={"attained_level": 1, "notes": "n", "client_id": far},
    )
    assert res.status_code == 422
    assert _count(world, "goal_reviews") == before
    before = _count(world, "assignments")
    res = admin.post(  # another clinic's client and therapist: not found, nothing stored
        f"{API}/admin/assignments",
        json={"client_id": far, "therapist_id": world.id("ther2a")},
    )
    assert res.status_code == 404
    res = admin.post(
        f"{API}/admin/assignments",
        json={"client_id": world.id("cl1b1"), "therapist_id": world.id("ther1a"),
              "clinic_id": world.clinics[2].id},
    )  # fmt: skip
    assert res.status_code == 422
    assert _count(world, "assignments") == before
    res = admin.patch(
        f"{API}/admin/users/{me}",
        json={"clinic_id": world.clinics[2].id},
        headers={"If-Match": "*"},
    )
    assert res.status_code == 422
    # a page form ignores unknown fields: the entry is the signed-in client's, never another's
    theirs = _count(world, "journal_entries", far)
    token = str(client.headers["X-CSRF-Token"])
    res = client.post(
        "/me/journal", data={"csrf_token": token, "text": "form words", "client_id": far}
    )
    assert res.status_code < 500
    assert _count(world, "journal_entries", far) == theirs


def _body_fields(app: FastAPI, path: str) -> set[str]:
    doc = app.openapi()
    op = doc["paths"][path]["post"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    name = schema["$ref"].rsplit("/", 1)[-1]
    return set(doc["components"]["schemas"][name]["properties"])


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(sorted(CREATES)),
    key=st.one_of(st.sampled_from(STAFF_KEYS), st.from_regex(r"[a-z][a-z_]{0,19}", fullmatch=True)),
    value=st.one_of(
        st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=12),
        st.sampled_from(["ther2a", "cl2a1", "admin1"]),
    ),
)  # fmt: skip
def test_any_extra_key_in_a_client_body_is_refused(
    env: Env, path: str, key: str, value: object
) -> None:
    """AZ-06 as a property: whatever extra key and value, 422 and no row."""
    world = env.world
    if key in _body_fields(env.app, path):
        return  # a real field of the body, not an extra one
    if isinstance(value, str) and value in world.users:
        value = world.id(value)
    body, table = CREATES[path]
    before = _count(world, table)
    res = env.callers.get("cl1a1").post(path, json={**body, key: value})
    assert res.status_code == 422, (path, key, value, res.text)
    assert _count(world, table) == before


# ------------------------------------------------------------------------ AU-01: one row


def _audit_rows(world: CanaryWorld, after: int = 0) -> list[sa.Row[object]]:
    t = metadata.tables["audit_log"]
    with world.factory.engine.connect() as conn:
        return list(conn.execute(sa.select(t).where(t.c.id > after).order_by(t.c.id)))


def _last_audit_id(world: CanaryWorld) -> int:
    t = metadata.tables["audit_log"]
    with world.factory.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.max(t.c.id))).scalar_one() or 0)


def test_each_clinical_read_through_the_api_is_audited_once(env: Env) -> None:
    world = env.world
    sample: list[tuple[str, str, str]] = [  # caller, path, whose record
        *(("cl1a1", p, "cl1a1") for p in CLIENT_LISTS),
        ("cl1a1", f"{API}/me/progress", "cl1a1"),
        ("cl1a1", f"{API}/me/sharing", "cl1a1"),
        ("cl2b1", f"{API}/me/journal", "cl2b1"),
        *(
            ("ther1a", f"{API}/clients/{world.id(c)}/{what}", c)
            for c in ("cl1a1", "cl1a2")
            for what in ("timeline", "alerts", "appointments", "alliance", "prep", "goals")
        ),
    ]
    wrong: list[str] = []
    for user, path, owner in sample:
        caller = env.callers.get(user)  # signed in before the mark: sign-in is audited too
        mark = _last_audit_id(world)
        res = caller.get(path)
        assert res.status_code == 200, (path, res.status_code)
        rows = _audit_rows(world, mark)
        got = [(r.actor_id, r.client_id, r.outcome, r.action) for r in rows]
        want = [(world.id(user), world.id(owner), "ok", "read")]
        if got != want:
            wrong.append(f"{path} as {user}: {len(rows)} rows {[r.object_type for r in rows]}")
    assert wrong == [], "\n".join(wrong)


# ------------------------------------------------------- AU-02 / DP-01: audit and logs


def _live_run(env: Env, capfd: pytest.CaptureFixture[str]) -> tuple[str, list[str], list[str]]:
    """A real uvicorn (DEBUG, access log on) serving the app; returns its output, the
    secrets sent to it (passwords, session tokens) and the marker texts it was given."""
    import threading
    import time

    import uvicorn

    world = env.world
    port = free_port()
    config = uvicorn.Config(
        env.app, host="127.0.0.1", port=port, log_level="debug", access_log=True, lifespan="off"
    )
    server = uvicorn.Server(config)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # configured just now
        if env.trap not in logging.getLogger(name).handlers:
            logging.getLogger(name).addHandler(env.trap)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert thread.is_alive(), "uvicorn stopped"
        time.sleep(0.02)
    secrets = [PASSWORD]
    live_marker = "CANARY-live-9999"
    try:
        wrong = f"wrong password {uuid.uuid4().hex}"
        secrets.append(wrong)
        for email, password in ((world.email("cl1a1"), wrong), ("nobody@x.example", wrong)):
            status, _, _ = http_request(
                port, "POST", f"{API}/session",
                json.dumps({"email": email, "password": password}).encode(),
                {"Content-Type": "application/json"},
            )  # fmt: skip
            assert status == 401
        cookies: dict[str, tuple[str, str]] = {}
        for user in ("cl1a1", "ther1a"):
            status, data, headers = http_request(
                port, "POST", f"{API}/session",
                json.dumps({"email": world.email(user), "password": PASSWORD}).encode(),
                {"Content-Type": "application/json"},
            )  # fmt: skip
            assert status == 201, data
            cookie = headers["set-cookie"].split(";", 1)[0]
            cookies[user] = (cookie, json.loads(data)["csrf_token"])
            secrets += [cookie.split("=", 1)[1], json.loads(data)["csrf_token"]]
        cookie, csrf = cookies["cl1a1"]
        h = {"Cookie": cookie, "X-CSRF-Token": csrf, "Content-Type": "application/json"}
        body = json.dumps({"mood": 3, "text": live_marker}).encode()
        status, _, _ = http_request(port, "POST", f"{API}/me/journal", body, h)
        assert status == 201
        for path in (f"{API}/me/journal", f"{API}/me/goals", "/me/journal", "/me/download/fhir"):
            status, data, _ = http_request(port, "GET", path, None, {"Cookie": cookie})
            assert status == 200
            assert live_marker.encode() in data or path != f"{API}/me/journal"
        cookie, csrf = cookies["ther1a"]
        for c in ("cl1a1", "cl1b1", "cl2a1"):
            for path in (f"{API}/clients/{world.id(c)}/timeline", f"/clients/{world.id(c)}"):
                status, _, _ = http_request(port, "GET", path, None, {"Cookie": cookie})
                assert status == (200 if c == "cl1a1" else 404)
        status, _, _ = http_request(
            port, "GET", f"{API}/me/journal", None, {"Cookie": "__Host-twostep_session=forged"}
        )
        assert status == 401
    finally:
        server.should_exit = True
        thread.join(timeout=15)
    captured = capfd.readouterr()
    output = captured.out + captured.err
    assert "GET /api/v1/me/journal" in output, "the access log was not captured"
    return output, secrets, [live_marker]


def test_audit_table_and_every_log_line_hold_no_content_password_or_token(
    env: Env, capfd: pytest.CaptureFixture[str]
) -> None:
    """AU-02 / DP-01, after everything above ran: scan the whole audit table and logs."""
    world = env.world
    output, secrets, extra_markers = _live_run(env, capfd)
    secrets += env.callers.tokens
    texts = {c.folded for c in world.canaries if not c.is_id} | {
        m.casefold() for m in extra_markers
    }

    def content_in(text: str) -> list[str]:
        folded = text.casefold()
        hits = [m for m in CANARY_RE.findall(folded) if m in texts]
        hits += [s[:12] + "…" for s in secrets if s and s in text]
        return hits

    rows = _audit_rows(world)
    assert len(rows) > 200  # the world, and the accesses and refusals above
    audit_text = "\n".join(repr(tuple(r)) for r in rows)
    assert content_in(audit_text) == []
    assert {r.outcome for r in rows} >= {"ok", "denied"}
    log_text = "\n".join(env.trap.lines)
    assert len(env.trap.lines) > 200, "the log trap caught nothing"
    assert content_in(log_text) == []
    assert content_in(output) == []
    # DP-01: no free text in any URL — path parameters are ids (or an instrument)
    for e in env.endpoints:
        for p in e.params:
            assert p.endswith("_id"), f"{e.path}: path parameter {p} is not an id"
        for q in e.route.dependant.query_params:
            kinds = set(typing.get_args(q.field_info.annotation)) or {q.field_info.annotation}
            if kinds - {bool, int, float, date, datetime, type(None)}:  # free text in a URL?
                assert q.name in TEXT_QUERY_ALLOWED, f"{e.path}: text query parameter {q.name}"


#: query parameters that take text: codes and flags, never clinical words
TEXT_QUERY_ALLOWED = frozenset({"period", "group", "done", "saved", "error", "next"})


# -------------------------------------------------------------------- PostgreSQL, reduced


@pytest.mark.postgresql
def test_reduced_matrix_on_postgresql(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """The API routes with a path id, three callers, two foreign objects each, on PostgreSQL
    (a reduced world: four clients' records), with the same status, shape and marker checks."""
    server = request.getfixturevalue("postgres_server")
    name = server.create_database()
    url = server.url(name)
    try:
        upgrade(url)
        world = build_world(url, tmp_path, clients=("cl1a1", "cl1a2", "cl1b1", "cl2a1"))
        app = create_app(world.settings, hasher=FAST_HASHER)
        callers = Callers(app, world)
        pg = Env(world, app, callers, Scanner(world), LogTrap(), endpoints_of(app))
        try:
            api = [e for e in pg.endpoints if e.object_params and e.is_api]
            viewers = {k: VIEWERS[k] for k in ("client", "therapist", "far_therapist")}
            result = run_matrix(pg, api, viewers, per_kind=1)
            assert result.failures == [], "\n".join(result.failures)
            assert result.statuses.get(404, 0) > 30
            # and the scope of a list and of the caseload
            res = callers.get("therapist").get(f"{API}/caseload")
            assert {n for n in pg.scanner.users_in(res.text) if n in world.clients} == {
                "cl1a1",
                "cl1a2",
            }
            res = callers.get("client").get(f"{API}/me/journal")
            assert pg.scanner.foreign_in("cl1a1", response_text(res)) == []
            assert {c.folded for c in world.of_client("cl1a1") if c.kind == "journal"} <= (
                pg.scanner.found(res.text)
            )
        finally:
            callers.close()
            for f in (app.state.twostep.uow_factory, app.state.twostep.read_factory):
                engine = getattr(f, "engine", None)
                if engine is not None:
                    engine.dispose()
            world.close()
    finally:
        server.drop_database(name)


def test_an_idempotency_key_replays_only_the_same_users_answer(env: Env) -> None:
    """Another user sending the same Idempotency-Key and body gets their own new entry,
    never the cached answer (and the record) of the first user."""
    world, scanner = env.world, env.scanner
    key = str(uuid.uuid4())
    body = {"mood": 4, "text": "the same words"}
    first = env.callers.get("cl1a1").post(
        f"{API}/me/journal", json=body, headers={"Idempotency-Key": key}
    )
    assert first.status_code == 201, first.text
    again = env.callers.get("cl1a1").post(
        f"{API}/me/journal", json=body, headers={"Idempotency-Key": key}
    )
    assert again.json()["id"] == first.json()["id"]  # the same user: the cached answer
    for user in ("cl1a2", "cl2a1"):
        before = _count(world, "journal_entries", world.id(user))
        res = env.callers.get(user).post(
            f"{API}/me/journal", json=body, headers={"Idempotency-Key": key}
        )
        assert res.status_code == 201, res.text
        assert res.json()["id"] != first.json()["id"]
        assert first.json()["id"] not in response_text(res)
        assert scanner.foreign_in(user, response_text(res)) == []
        assert _count(world, "journal_entries", world.id(user)) == before + 1
