"""Every route has an authorisation decision, and the decision holds for every role.

Built from ``app.routes`` and `twostep.web.policy.POLICY` at run time, so that
routes added later are covered without touching this file:

* every route (JSON API and pages; not the static mount or the OpenAPI
  document) has a ``name`` with an entry in POLICY, and every POLICY entry
  names a route (no stale or mistyped policy);
* for every route × method × caller (anonymous, client, therapist, admin,
  researcher), called with a plausible path — path parameters filled with a
  real id of the right kind from the fixture world (or a random id) — a
  signed-out caller of a non-public route gets 401 (problem+json for the API;
  for pages 401 or a redirect to /login), a role the policy does not list
  gets 403, and nothing ever answers 5xx;
* the OpenAPI document lists every /api/v1 route with the problem responses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from service_world import World

from twostep.domain.records import Role, new_id
from twostep.web.api.schemas import PROBLEM_RESPONSES
from twostep.web.policy import POLICY, RoutePolicy

API = "/api/v1"
SKIPPED_NAMES = frozenset({"static", "openapi", "swagger_ui_html", "redoc_html"})
#: Who calls, and which role they hold in the fixture world.
CALLERS: dict[str, tuple[str | None, Role | None]] = {
    "anonymous": (None, None),
    "client": ("client_a1", Role.CLIENT),
    "therapist": ("ther_a", Role.THERAPIST),
    "admin": ("admin", Role.ADMIN),
    "researcher": ("researcher", Role.RESEARCHER),
}
IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Endpoint:
    path: str  # the full path, with {params}
    name: str
    methods: tuple[str, ...]
    route: APIRoute

    @property
    def is_api(self) -> bool:
        return self.path.startswith(API + "/")


def _walk(routes: list[object], prefix: str = "") -> Iterator[tuple[str, object]]:
    """(full path, route) of every route, also through FastAPI's lazily included routers."""
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if callable(contexts):  # FastAPI >= 0.16x: included routers are resolved lazily
            for ctx in contexts():
                original = ctx.original_route
                yield (ctx.path or getattr(original, "path", "")), original
            continue
        sub = getattr(route, "routes", None)
        if sub is not None and not isinstance(route, APIRoute) and hasattr(route, "path"):
            if getattr(route, "name", None) in SKIPPED_NAMES:
                yield prefix + route.path, route  # the static mount: reported as skipped
                continue
            yield from _walk(list(sub), prefix + route.path)
            continue
        yield prefix + getattr(route, "path", ""), route


def all_routes(app: FastAPI) -> tuple[list[Endpoint], list[tuple[str, object]]]:
    """The app's endpoints, and the other routes (mounts, the OpenAPI document)."""
    endpoints: list[Endpoint] = []
    others: list[tuple[str, object]] = []
    for path, route in _walk(list(app.routes)):
        if isinstance(route, APIRoute):
            methods = tuple(sorted(set(route.methods) - IGNORED_METHODS))
            endpoints.append(Endpoint(path, route.name, methods, route))
        else:
            others.append((path, route))
    return endpoints, others


def test_every_route_has_a_policy_and_every_policy_a_route(app: FastAPI) -> None:
    endpoints, others = all_routes(app)
    assert len(endpoints) > 20  # the walk found the included routers
    missing = sorted(
        f"{e.methods} {e.path} name={e.name!r}" for e in endpoints if e.name not in POLICY
    )
    assert missing == [], "routes without an authorisation policy"
    for path, route in others:
        name = getattr(route, "name", None)
        assert name in SKIPPED_NAMES, f"unexpected non-API route {path} ({name!r}) without a policy"
    names = [e.name for e in endpoints]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert duplicates == [], "two routes share one name (and so one policy)"
    stale = sorted(set(POLICY) - set(names))
    assert stale == [], "policies that name no route (typo or removed route)"
    for e in endpoints:
        policy = POLICY[e.name]
        assert policy.public or policy.roles, e.name
        assert policy.description.strip(), e.name


def test_the_route_walk_sees_a_known_route(app: FastAPI) -> None:
    endpoints, _ = all_routes(app)
    found = {(e.path, e.name) for e in endpoints}
    assert (f"{API}/me", "api.me") in found
    assert ("/login", "page.login") in found


# ---------------------------------------------------------------- the call matrix


def path_for(endpoint: Endpoint, world: World) -> str:
    """The endpoint's path with each parameter filled by a real id of its kind, or a random one."""
    values: dict[str, str] = {}
    for name in endpoint.route.param_convertors:
        if name == "client_id":
            values[name] = world.id("client_a1")
        elif name == "user_id":
            values[name] = world.id("ther_b")
        elif name == "assignment_id":
            values[name] = world.assignments["client_a2"].id
        elif name == "episode_id":
            values[name] = world.episodes["client_a1"].id
        elif name in ("instrument_id", "instrument"):
            values[name] = "phq9"
        elif name.endswith("_id") or name == "id":
            values[name] = new_id()
        else:
            values[name] = "x"
    return endpoint.path.format(**values)


class Callers:
    """Signed-in clients for each caller, signed in again when a call signed them out."""

    def __init__(self, app: FastAPI, make: Callable[[str], TestClient]) -> None:
        self._app = app
        self._make = make  # the `as_user` fixture: signs in through the JSON API
        self.clients: dict[str, TestClient] = {}
        self.anonymous = self._quiet()

    def _quiet(self, signed: TestClient | None = None) -> TestClient:
        """A client that answers server errors as responses, so every 5xx is listed."""
        client = TestClient(
            self._app,
            base_url="https://testserver",
            follow_redirects=False,
            raise_server_exceptions=False,
        )
        if signed is not None:
            client.cookies.update(signed.cookies)
            client.headers["X-CSRF-Token"] = signed.headers["X-CSRF-Token"]
        return client

    def get(self, caller: str) -> TestClient:
        user, _ = CALLERS[caller]
        if user is None:
            self.anonymous.cookies.clear()
            return self.anonymous
        client = self.clients.get(caller)
        if client is None:
            client = self._quiet(self._make(user))
            self.clients[caller] = client
        return client

    def check_still_signed_in(self, caller: str) -> None:
        client = self.clients.get(caller)
        if client is not None and client.get(f"{API}/me").status_code != 200:
            client.close()
            del self.clients[caller]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
        self.anonymous.close()


def call(client: TestClient, method: str, url: str, endpoint: Endpoint) -> object:
    if method in ("GET", "DELETE"):
        return client.request(method, url)
    if endpoint.is_api:
        return client.request(method, url, json={})
    token = client.headers.get("X-CSRF-Token", "")
    return client.request(method, url, data={"csrf_token": token} if token else {})


def expected_refusal(policy: RoutePolicy, role: Role | None) -> int | None:
    """401 / 403 when the policy refuses the caller, else None (any non-5xx answer)."""
    if policy.public:
        return None
    if role is None:
        return 401
    return None if role in policy.roles else 403


@pytest.fixture
def seeded(web_world: World) -> World:
    """A few check-ins, so that allowed calls do real work."""
    web_world.series("client_a1", [18, 16, 17, 12])
    web_world.series("client_b1", [12, 13])
    return web_world


@pytest.mark.slow
def test_every_route_for_every_role(
    app: FastAPI, seeded: World, as_user: Callable[[str], TestClient]
) -> None:
    endpoints, _ = all_routes(app)
    callers = Callers(app, as_user)
    failures: list[str] = []
    seen: dict[int, int] = {}
    # sign-out routes last, so the matrix mostly runs with live sessions
    order = sorted(endpoints, key=lambda e: ("session" in e.name or "logout" in e.name, e.path))
    for endpoint in order:
        policy = POLICY.get(endpoint.name)
        if policy is None:
            failures.append(f"{endpoint.path}: no policy")
            continue
        url = path_for(endpoint, seeded)
        for method in endpoint.methods:
            for caller, (_, role) in CALLERS.items():
                client = callers.get(caller)
                res = call(client, method, url, endpoint)
                status = res.status_code  # type: ignore[attr-defined]
                seen[status] = seen.get(status, 0) + 1
                where = f"{method} {url} ({endpoint.name}) as {caller}: {status}"
                ctype = res.headers.get("content-type", "")  # type: ignore[attr-defined]
                if status >= 500:
                    failures.append(f"{where} — server error")
                    continue
                want = expected_refusal(policy, role)
                if want == 401:
                    location = res.headers.get("location", "")  # type: ignore[attr-defined]
                    page_redirect = (
                        not endpoint.is_api
                        and status in (302, 303, 307)
                        and (location.startswith("/login"))
                    )
                    if status != 401 and not page_redirect:
                        failures.append(f"{where} — expected 401 or a redirect to /login")
                    elif endpoint.is_api and not ctype.startswith("application/problem+json"):
                        failures.append(f"{where} — 401 is not problem+json")
                elif want == 403:
                    if status != 403:
                        failures.append(f"{where} — expected 403 (role not in the policy)")
                    elif endpoint.is_api and not ctype.startswith("application/problem+json"):
                        failures.append(f"{where} — 403 is not problem+json")
                elif status == 401 and role is not None and not policy.public:
                    # (a 403 may still come from a service's own rule, e.g. "only the client may")
                    failures.append(f"{where} — signed-in caller treated as signed out")
                if method not in ("GET",) and role is not None:
                    callers.check_still_signed_in(caller)
    callers.close()
    assert failures == []
    # the matrix really ran: allowed calls answered, refusals of both kinds happened
    assert sum(seen.values()) == 5 * sum(len(e.methods) for e in endpoints)
    assert seen.get(200, 0) > 20
    assert seen.get(401, 0) > 20
    assert seen.get(403, 0) > 20


def test_the_refusal_rule() -> None:
    """The refusal rule itself: a therapist on a client-only route must be refused with 403."""
    client_only = RoutePolicy(frozenset({Role.CLIENT}), "x")
    assert expected_refusal(client_only, Role.THERAPIST) == 403
    assert expected_refusal(client_only, None) == 401
    assert expected_refusal(client_only, Role.CLIENT) is None
    assert expected_refusal(RoutePolicy(frozenset(), "x", public=True), None) is None


# ---------------------------------------------------------------------- OpenAPI


def test_openapi_lists_every_api_route_with_problem_responses(
    app: FastAPI, anonymous: TestClient
) -> None:
    res = anonymous.get(f"{API}/openapi.json")
    assert res.status_code == 200
    doc = res.json()
    paths = doc["paths"]
    endpoints, _ = all_routes(app)
    missing: list[str] = []
    without_problems: list[str] = []
    for e in endpoints:
        if not e.is_api:
            continue
        for method in e.methods:
            op = paths.get(e.path, {}).get(method.lower())
            if op is None:
                missing.append(f"{method} {e.path}")
                continue
            responses = op.get("responses", {})
            for code in PROBLEM_RESPONSES:
                content = responses.get(str(code), {}).get("content", {})
                if "application/problem+json" not in content:
                    without_problems.append(f"{method} {e.path}: {code}")
    assert missing == [], "API routes missing from openapi.json"
    assert without_problems == [], "API routes without the documented problem responses"
    assert "Problem" in doc.get("components", {}).get("schemas", {})
