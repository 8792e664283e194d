"""Schemathesis over the whole JSON API (``/api/v1/openapi.json``), once per role, in process.

The app is the served one on a SQLite database (`create_app`, SQL storage)
holding one clinic with every role and a little clinical data (a risk
check-in, a journal entry, a goal), so that list routes return real records.
For each role — client, therapist, admin, researcher — and for a caller
without a session, every operation of the schema gets generated requests
(schemathesis 4, positive data: what the schema allows) sent through the ASGI
transport with that role's session cookie and CSRF token; routes the role may
call (the policy table) get more examples than the ones it may not (which
must answer 401/403). Each response must:

* not be a server error (no 5xx);
* have a status code the schema documents for the operation;
* have a content type the schema documents for that status;
* match the documented response schema (problem details included);
* carry the headers the schema documents.

``DELETE /api/v1/session`` (sign out) runs last for each role, since it ends
the session the other operations use. Bounded: derandomised, no shrinking,
a few examples per operation, no deadline — well under two minutes.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis import checks as st_checks

sys.path.insert(0, str(Path(__file__).resolve().parent))

from trust_app import BASE_URL, PASSWORD, World, build_app, open_world

from twostep.storage import make_engine
from twostep.storage.tables import metadata
from twostep.web.policy import POLICY

CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
    st_checks.response_headers_conformance,
]
#: schema-invalid requests must also be refused (4xx), never stored or answered 2xx
NEGATIVE_CHECKS = [*CHECKS, st_checks.negative_data_rejection]
#: examples per operation (``TWOSTEP_SCHEMATHESIS_EXAMPLES`` raises the first for a deeper run)
ALLOWED_EXAMPLES = int(os.environ.get("TWOSTEP_SCHEMATHESIS_EXAMPLES", "12"))
OTHER_EXAMPLES = 3
NEGATIVE_EXAMPLES = max(4, ALLOWED_EXAMPLES // 2)
SIGN_OUT = ("DELETE", "/api/v1/session")
ROLE_RUNS: list[str | None] = ["client", "therapist", "admin", "researcher", None]
Served = tuple[World, FastAPI, dict[str, dict[str, str]]]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("schemathesis")
    url = f"sqlite:///{folder / 'twostep.db'}"
    engine = make_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    with open_world(url, folder) as world:
        app = build_app(world)
        with sign_in(app, world, "client") as client:
            answers = {f"item_{k}": 1 for k in range(1, 10)}
            res = client.post(
                "/api/v1/me/checkins", json={"instrument_id": "phq9", "answers": answers}
            )
            assert res.status_code == 201, res.text
            res = client.post("/api/v1/me/journal", json={"mood": 5, "text": "a day"})
            assert res.status_code == 201, res.text
        # every session opened before any fuzzing: fuzzed sign-ins trip the login throttle
        logins = {role: auth_headers(app, world, role) for role in ROLE_RUNS if role is not None}
        yield world, app, logins


def sign_in(app: FastAPI, world: World, role: str) -> TestClient:
    client = TestClient(app, base_url=BASE_URL, follow_redirects=False)
    res = client.post("/api/v1/session", json={"email": world.emails[role], "password": PASSWORD})
    assert res.status_code == 201, res.text
    client.headers["X-CSRF-Token"] = res.json()["csrf_token"]
    return client


def auth_headers(app: FastAPI, world: World, role: str) -> dict[str, str]:
    client = sign_in(app, world, role)
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    return {"Cookie": cookie, "X-CSRF-Token": str(client.headers["X-CSRF-Token"])}


def roles_of(app: FastAPI) -> dict[tuple[str, str], frozenset[str]]:
    """(METHOD, path) -> the roles the policy table lets in ("public" for public routes).

    FastAPI's operationId is the route name and path with non-word characters as
    ``_``, then ``_`` and the method: that links each operation to its policy entry.
    """
    spec = TestClient(app, base_url=BASE_URL).get("/api/v1/openapi.json").json()
    by_id = {re.sub(r"\W", "_", name): policy for name, policy in POLICY.items()}
    out: dict[tuple[str, str], frozenset[str]] = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            suffix = re.sub(r"\W", "_", path) + "_" + method
            name = str(op["operationId"]).removesuffix(suffix)
            policy = by_id[name]
            roles = {"public"} if policy.public else {r.value for r in policy.roles}
            out[(method.upper(), path)] = frozenset(roles)
    return out


def run_operation(
    operation: Any, headers: dict[str, str], examples: int, mode: Any, checks: list[Any]
) -> list[str]:
    """Send ``examples`` generated requests; the first failure of each kind, described."""
    found: dict[str, str] = {}

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode))
    def one(case: Any) -> None:
        if "Idempotency-Key" in (case.headers or {}):
            case.headers["Idempotency-Key"] = str(uuid.uuid4())  # a fresh key per request
        response = case.call(headers=headers)
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except (AssertionError, BaseExceptionGroup) as exc:  # schemathesis: FailureGroup
            text = str(exc).strip().splitlines()
            key = text[0] if text else type(exc).__name__
            found.setdefault(key, f"{response.status_code}: " + " | ".join(text[:12]))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # schemathesis' own notes on the schema, not failures
        with contextlib.suppress(Unsatisfiable):  # negative mode: nothing can be made invalid
            one()
    return [f"{operation.method.upper()} {operation.path}: {v}" for v in found.values()]


def fuzz(app: FastAPI, headers: dict[str, str], role: str | None) -> list[str]:
    """Positive data on every operation, then negative data on the ones ``role`` may call."""
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    allowed = roles_of(app)
    operations = [r.ok() for r in schema.get_all_operations()]
    # sign-out last: it ends the session every other operation uses
    operations.sort(key=lambda op: (op.method.upper(), op.path) == SIGN_OUT)
    failures: list[str] = []
    for negative in (False, True):
        for op in operations:
            roles = allowed.get((op.method.upper(), op.path), frozenset())
            mine = "public" in roles or (role is not None and role in roles)
            if negative:
                if mine and (op.method.upper(), op.path) != SIGN_OUT:
                    failures += run_operation(
                        op, headers, NEGATIVE_EXAMPLES, GenerationMode.NEGATIVE, NEGATIVE_CHECKS
                    )
            elif (op.method.upper(), op.path) != SIGN_OUT:
                n = ALLOWED_EXAMPLES if mine else OTHER_EXAMPLES
                failures += run_operation(op, headers, n, GenerationMode.POSITIVE, CHECKS)
    sign_out = [op for op in operations if (op.method.upper(), op.path) == SIGN_OUT]
    for op in sign_out:
        failures += run_operation(op, headers, 1, GenerationMode.POSITIVE, CHECKS)
    return failures


@pytest.mark.parametrize("role", ROLE_RUNS, ids=lambda r: r or "signed-out")
def test_every_operation_conforms_for(role: str | None, served: Served) -> None:
    _, app, logins = served
    failures = fuzz(app, logins[role] if role is not None else {}, role)
    assert not failures, "\n".join(failures)


def test_the_schema_covers_the_whole_api(served: Served) -> None:
    """Every /api/v1 route is in the schema (so the fuzzing above reaches all of them)."""
    _, app, _ = served
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    documented = {(r.ok().method.upper(), r.ok().path) for r in schema.get_all_operations()}
    routes: set[tuple[str, str]] = set()
    for route in app.routes:
        path = getattr(route, "path", "")
        if path.startswith("/api/v1/") and path != "/api/v1/openapi.json":
            routes |= {(m, path) for m in getattr(route, "methods", ()) or () if m != "HEAD"}
    assert routes - documented == set()
    assert len(documented) > 50
