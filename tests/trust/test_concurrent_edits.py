"""RL-08: concurrent edits with the same ETag — one wins, the others get 412, nothing is lost.

The served app (`create_app` on a database made by the shipped migrations,
0005 included) runs in a real uvicorn; twenty threads released together by a
barrier send a change of the same record with the same ``If-Match``. Exactly
one gets 200 and nineteen 412 ``precondition-failed``, and the stored record
is exactly the winner's change — on SQLite (whose writers queue) and on
PostgreSQL (whose writers really overlap; the conditional ``UPDATE ... WHERE
version = ?`` decides). The records raced: a goal, an account (admin), a
client's sharing choices (twenty writers each changing a *different* kind,
so only the whole-set version can refuse them) and a check-in draft (each
writer a different answer, so a merge would keep them all); and twenty
``If-None-Match: *`` creates of the same draft store one.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from trust_app import LiveServer, Login, World, build_app, http_request, open_world, sign_in_http

from twostep.storage import tables as t

WRITERS = 20
API = "/api/v1"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def world(migrated_url: str, tmp_path: Path) -> Iterator[World]:
    with open_world(migrated_url, tmp_path) as w:
        yield w


@pytest.fixture
def server(world: World) -> Iterator[LiveServer]:
    with LiveServer(build_app(world)) as live:
        yield live


def call(
    port: int, login: Login, method: str, path: str, body: object = None, **headers: str
) -> tuple[int, Any, dict[str, str]]:
    data = None if body is None else json.dumps(body).encode()
    status, raw, got = http_request(
        port, method, path, data, {**login.headers(), **JSON, **headers}
    )
    return status, (json.loads(raw) if raw else None), got


def race(
    port: int, login: Login, method: str, path: str, bodies: list[object], **headers: str
) -> list[tuple[int, Any]]:
    """Send every body at once (a barrier releases the threads together)."""
    barrier = threading.Barrier(len(bodies))
    results: list[tuple[int, Any]] = [(0, None)] * len(bodies)

    def one(i: int) -> None:
        barrier.wait()
        status, body, _ = call(port, login, method, path, bodies[i], **headers)
        results[i] = (status, body)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    return results


def one_winner(results: list[tuple[int, Any]]) -> Any:
    counts = Counter(status for status, _ in results)
    assert counts == {200: 1, 412: WRITERS - 1}, counts
    for status, body in results:
        if status == 412:
            assert body["type"] == "/problems/precondition-failed", body
    [winner] = [body for status, body in results if status == 200]
    return winner


@dataclass(frozen=True)
class Case:
    role: str
    method: str
    path: Callable[[World, LiveServer, Login], str]
    body: Callable[[int, dict[str, Any]], dict[str, Any]]  # writer i, the record as read
    shows: Callable[[dict[str, Any]], object]  # the changed part of a record


def _goal_path(world: World, server: LiveServer, login: Login) -> str:
    goal = {
        "specific_description": "Sleep before midnight",
        "measurable_indicator": "nights a week",
        "levels": {"-2": "0", "-1": "1", "0": "2", "1": "3", "2": "4"},
        "importance": 2,
        "difficulty": 2,
    }
    status, body, _ = call(server.port, login, "POST", f"{API}/me/goals", goal)
    assert status == 201, body
    return f"{API}/me/goals/{body['id']}"


def _draft_path(world: World, server: LiveServer, login: Login) -> str:
    path = f"{API}/me/checkins/phq9/draft"
    start = {"answers": {"item_1": 1}}
    status, body, _ = call(server.port, login, "PUT", path, start, **{"If-None-Match": "*"})
    assert status == 200, body
    return path


CASES = {
    "goal": Case(
        "client",
        "PATCH",
        _goal_path,
        lambda i, _: {"relevant_to": f"writer {i}"},
        lambda b: b["relevant_to"],
    ),
    "account": Case(
        "admin",
        "PATCH",
        lambda w, s, login: f"{API}/admin/users/{w.ids['client2']}",
        lambda i, _: {"display_name": f"Writer {i}"},
        lambda b: b.get("account", b)["display_name"],
    ),
    "sharing": Case(
        "client",
        "PATCH",
        lambda w, s, login: f"{API}/me/sharing",
        lambda i, seen: {
            "sharing": {
                (k := sorted(seen["sharing"])[i % len(seen["sharing"])]): not seen["sharing"][k]
            }
        },
        lambda b: b["sharing"],
    ),
    "draft": Case(
        "client",
        "PUT",
        _draft_path,
        lambda i, _: {"answers": {f"item_{2 + i % 8}": 1 + i % 3}},
        lambda b: b["answers"],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_twenty_edits_with_one_etag_store_exactly_one(
    world: World, server: LiveServer, name: str
) -> None:
    case = CASES[name]
    login = sign_in_http(server.port, world.emails[case.role])
    path = case.path(world, server, login)
    status, seen, headers = call(server.port, login, "GET", path)
    assert status == 200, seen
    tag = headers["etag"]
    bodies: list[object] = [case.body(i, seen) for i in range(WRITERS)]

    results = race(server.port, login, case.method, path, bodies, **{"If-Match": tag})

    winner = one_winner(results)
    status, now, headers = call(server.port, login, "GET", path)
    assert status == 200
    assert headers["etag"] != tag
    assert case.shows(now) == case.shows(winner)  # the winner's change, and only it
    i = next(i for i, (s, _) in enumerate(results) if s == 200)
    if name == "sharing":
        changed = {k for k in now["sharing"] if now["sharing"][k] != seen["sharing"][k]}
        assert changed == set(bodies[i]["sharing"])  # type: ignore[index]
    elif name == "draft":
        assert now["answers"] == {"item_1": 1, **bodies[i]["answers"]}  # type: ignore[index]
    # the loser's retry with the new tag goes through
    j = (i + 1) % WRITERS
    retry = call(server.port, login, case.method, path, bodies[j], **{"If-Match": headers["etag"]})
    assert retry[0] == 200, retry[1]


def test_goal_version_in_the_database_moves_once(world: World, server: LiveServer) -> None:
    login = sign_in_http(server.port, world.emails["client"])
    path = _goal_path(world, server, login)
    _, _, headers = call(server.port, login, "GET", path)
    race(
        server.port,
        login,
        "PATCH",
        path,
        [{"relevant_to": f"w{i}"} for i in range(WRITERS)],
        **{"If-Match": headers["etag"]},
    )
    with world.factory.engine.connect() as conn:
        version = conn.execute(
            sa.select(t.goals.c.version).where(t.goals.c.id == path.rsplit("/", 1)[1])
        ).scalar_one()
    assert version == 2


def test_twenty_creates_of_one_draft_store_one(world: World, server: LiveServer) -> None:
    login = sign_in_http(server.port, world.emails["client"])
    path = f"{API}/me/checkins/gad7/draft"
    bodies: list[object] = [{"answers": {f"item_{1 + i % 7}": 1}} for i in range(WRITERS)]
    winner = one_winner(race(server.port, login, "PUT", path, bodies, **{"If-None-Match": "*"}))
    status, now, headers = call(server.port, login, "GET", path)
    assert status == 200
    assert now["answers"] == winner["answers"]
    assert headers["etag"] == '"v1"'
    with world.factory.engine.connect() as conn:
        n = conn.execute(
            sa.select(sa.func.count())
            .select_from(t.checkin_drafts)
            .where(t.checkin_drafts.c.client_id == world.ids["client"])
        ).scalar_one()
    assert n == 1
