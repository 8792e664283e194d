"""SE-04: the security headers on every route of the policy table, not only samples.

Every route × method of the app (the walk of `test_route_policy`) is called
signed out and as one role the policy allows (a real id in each path
parameter), and every answer — 2xx, redirects, 4xx problems and pages alike —
must carry the full header set of `test_security_headers.check_headers`
(CSP without inline script or style, frame-ancestors 'none', HSTS ≥ 1 year,
nosniff, Referrer-Policy, X-Frame-Options DENY, ``Cache-Control: no-store``,
a request id). Charts (SVG) carry their own stricter CSP. Only the sign-in
routes may set a cookie, and only the session cookie; sign-out only deletes it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_world import World

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_route_policy import CALLERS, Callers, all_routes, call, path_for
from test_security_headers import check_headers, directives

from twostep.web.policy import POLICY
from twostep.web.sessions import COOKIE

SIGN_IN = frozenset({"api.session.create", "page.login.submit"})
SIGN_OUT = frozenset({"api.session.delete", "page.logout"})


def check_svg_headers(res: object) -> None:
    h = res.headers  # type: ignore[attr-defined]
    csp = directives(h["content-security-policy"])
    assert csp["default-src"] == ["'none'"]
    assert "script-src" not in csp  # falls back to default-src 'none': no script at all
    assert h["x-content-type-options"] == "nosniff"
    assert "no-store" in h["cache-control"]


def test_security_headers_on_every_route_for_every_kind_of_answer(
    app: FastAPI, web_world: World, as_user: Callable[[str], TestClient]
) -> None:
    web_world.series("client_a1", [18, 16, 17, 12])
    endpoints, _ = all_routes(app)
    callers = Callers(app, as_user)
    role_caller = {role: name for name, (_, role) in CALLERS.items() if role is not None}
    checked: dict[int, int] = {}
    failures: list[str] = []
    order = sorted(endpoints, key=lambda e: (e.name in SIGN_OUT, e.path))
    for endpoint in order:
        policy = POLICY[endpoint.name]
        url = path_for(endpoint, web_world)
        allowed = (
            ["client"] if policy.public else [role_caller[r] for r in sorted(policy.roles)][:1]
        )
        for method in endpoint.methods:
            for caller in ["anonymous", *allowed]:
                client = callers.get(caller)
                res = call(client, method, url, endpoint)
                where = f"{method} {url} as {caller}: {res.status_code}"  # type: ignore[attr-defined]
                try:
                    if res.headers.get("content-type", "").startswith("image/svg+xml"):  # type: ignore[attr-defined]
                        check_svg_headers(res)
                    else:
                        check_headers(res, page=True)
                except (AssertionError, KeyError) as exc:
                    failures.append(f"{where}: {exc!r}")
                cookies = res.headers.get_list("set-cookie")  # type: ignore[attr-defined]
                if endpoint.name in SIGN_IN or endpoint.name in SIGN_OUT:
                    if any(not c.startswith(f"{COOKIE}=") for c in cookies):
                        failures.append(f"{where}: sets another cookie {cookies}")
                elif cookies:
                    failures.append(f"{where}: sets a cookie {cookies}")
                status = res.status_code  # type: ignore[attr-defined]
                checked[status] = checked.get(status, 0) + 1
                if method != "GET" and caller != "anonymous":
                    callers.check_still_signed_in(caller)
    callers.close()
    assert failures == []
    total = sum(checked.values())
    assert total >= 2 * sum(len(e.methods) for e in endpoints)
    assert checked.get(200, 0) > 20
    assert checked.get(401, 0) > 20
