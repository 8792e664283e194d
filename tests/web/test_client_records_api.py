"""JSON API of the between-session records (/api/v1/me/...): create, list, strict bodies,
object-level 404s and role 403s."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from service_world import World

#: Changes need If-Match (IN-02); these tests are not about concurrency.
ANY_VERSION = {"If-Match": "*"}

AsUser = Callable[[str], TestClient]
PROBLEM = "application/problem+json"

GOAL: dict[str, Any] = {
    "specific_description": "Walk outside on weekdays",
    "measurable_indicator": "Days I walked",
    "levels": {"-2": "none", "-1": "1-2", "0": "3", "+1": "4", "2": "5"},
    "importance": 3,
    "difficulty": 2,
    "target_date": "2030-09-30",
    "steps": [{"text": "Find my shoes", "due_on": "2030-06-10"}],
}

#: (create route, body, list route, field to find in the listing)
CREATES: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "/api/v1/me/journal",
        {"mood": 5, "emotions": ["calm"], "text": "fine day"},
        "/api/v1/me/journal",
        "fine day",
    ),
    (
        "/api/v1/me/reflections",
        {"what_happened": "a bad week", "what_helped": "rest"},
        "/api/v1/me/reflections",
        "a bad week",
    ),
    (
        "/api/v1/me/skills/practice",
        {"skill_id": "grounding", "helpfulness": 6, "note": "helped"},
        "/api/v1/me/skills/practice",
        "helped",
    ),
    (
        "/api/v1/me/thought-records",
        {
            "situation": "Bus",
            "automatic_thought": "Everyone stares",
            "emotion": "anxious",
            "intensity": 70,
            "rerated_intensity": 30,
        },
        "/api/v1/me/thought-records",
        "Everyone stares",
    ),
    (
        "/api/v1/me/self-care",
        {
            "done_on": "2024-06-01",
            "activity": "yoga",
            "minutes": 20,
            "restorative": 7,
            "note": "stretch",
        },
        "/api/v1/me/self-care",
        "stretch",
    ),
    (
        "/api/v1/me/stressors",
        {
            "category": "health",
            "severity": 3,
            "started_on": "2024-05-01",
            "description": "back pain",
        },
        "/api/v1/me/stressors",
        "back pain",
    ),
    (
        "/api/v1/me/supporters",
        {"name": "Ana", "relation": "friend", "support_kinds": ["company"]},
        "/api/v1/me/supporters",
        "Ana",
    ),
]


@pytest.mark.parametrize(("url", "body", "listing", "needle"), CREATES)
def test_create_then_list(
    as_user: AsUser, url: str, body: dict[str, Any], listing: str, needle: str
) -> None:
    client = as_user("client_a1")
    res = client.post(url, json=body)
    assert res.status_code == 201, res.text
    created = res.json()
    assert created["id"]
    rows = client.get(listing).json()
    assert [r["id"] for r in rows] == [created["id"]]
    assert needle in str(rows[0].values())
    # another client's list stays empty
    assert as_user("client_a2").get(listing).json() == []


@pytest.mark.parametrize(("url", "body", "listing", "needle"), CREATES)
def test_a_therapist_gets_403(
    as_user: AsUser, url: str, body: dict[str, Any], listing: str, needle: str
) -> None:
    ther = as_user("ther_a")
    res = ther.post(url, json=body)
    assert res.status_code == 403
    assert res.headers["content-type"].startswith(PROBLEM)
    assert ther.get(listing).status_code == 403


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/me/goals",
        "/api/v1/me/skills",
        "/api/v1/me/sharing",
        "/api/v1/me/access-log",
        "/api/v1/me/support-contacts",
    ],
)
def test_other_reads_are_for_clients_only(as_user: AsUser, url: str) -> None:
    assert as_user("client_a1").get(url).status_code == 200
    assert as_user("ther_a").get(url).status_code == 403
    assert as_user("researcher").get(url).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"mood": "5"},
        {"mood": True},
        {"mood": 5.0},
        {"mood": 11},
        {"mood": -1},
        {"text": "hi", "colour": "blue"},
        {"emotions": "sad"},
        {"text": 5},
        {},
    ],
)
def test_journal_bodies_are_strict(as_user: AsUser, body: dict[str, Any]) -> None:
    client = as_user("client_a1")
    res = client.post("/api/v1/me/journal", json=body)
    assert res.status_code == 422, res.text
    assert res.headers["content-type"].startswith(PROBLEM)
    assert res.json()["errors"]
    assert client.get("/api/v1/me/journal").json() == []


@pytest.mark.parametrize(
    ("url", "body", "pointer"),
    [
        (
            "/api/v1/me/self-care",
            {"done_on": "2024-06-01", "activity": "yoga", "restorative": "7"},
            "/restorative",
        ),
        ("/api/v1/me/self-care", {"done_on": 20240601, "activity": "yoga"}, "/done_on"),
        ("/api/v1/me/self-care", {"done_on": "2024-06-01", "activity": "skydiving"}, "/activity"),
        (
            "/api/v1/me/stressors",
            {"category": "work", "severity": 9, "started_on": "2024-06-01"},
            "/severity",
        ),
        (
            "/api/v1/me/stressors",
            {"category": "work", "severity": True, "started_on": "2024-06-01"},
            "/severity",
        ),
        ("/api/v1/me/skills/practice", {"skill_id": "flying"}, "/skill_id"),
        (
            "/api/v1/me/thought-records",
            {"situation": "x", "automatic_thought": "y", "emotion": "z", "intensity": "50"},
            "/intensity",
        ),
        (
            "/api/v1/me/supporters",
            {"name": "Ana", "relation": "friend", "is_group": "yes"},
            "/is_group",
        ),
        (
            "/api/v1/me/supporters",
            {"name": "Ana", "relation": "friend", "support_kinds": ["money"]},
            "/support_kinds",
        ),
        ("/api/v1/me/goals", {**GOAL, "importance": "3"}, "/importance"),
        ("/api/v1/me/goals", {**GOAL, "importance": 7}, "/importance"),
        ("/api/v1/me/goals", {**GOAL, "levels": {"0": "x"}}, "/levels"),
        ("/api/v1/me/goals", {**GOAL, "owner": "me"}, "/owner"),
        ("/api/v1/me/goals", {**GOAL, "target_date": "30/09/2030"}, "/target_date"),
    ],
)
def test_bad_bodies_name_the_field(
    as_user: AsUser, url: str, body: dict[str, Any], pointer: str
) -> None:
    res = as_user("client_a1").post(url, json=body)
    assert res.status_code == 422, res.text
    pointers = [e["pointer"] for e in res.json()["errors"]]
    assert pointer in pointers, pointers


def test_goals_create_patch_steps_and_list(as_user: AsUser) -> None:
    client = as_user("client_a1")
    res = client.post("/api/v1/me/goals", json=GOAL)
    assert res.status_code == 201, res.text
    goal = res.json()
    assert goal["levels"] == {"-2": "none", "-1": "1-2", "0": "3", "1": "4", "2": "5"}
    assert goal["baseline_level"] == -1
    assert goal["review_status"]["due_on"]
    gid = goal["id"]
    res = client.patch(
        f"/api/v1/me/goals/{gid}",
        headers=ANY_VERSION,
        json={"importance": 1, "relevant_to": "mood"},
    )
    assert res.status_code == 200, res.text
    assert res.json()["importance"] == 1
    assert res.json()["difficulty"] == 2
    assert (
        client.patch(
            f"/api/v1/me/goals/{gid}", headers=ANY_VERSION, json={"importance": "1"}
        ).status_code
        == 422
    )
    assert (
        client.patch(
            f"/api/v1/me/goals/{gid}", headers=ANY_VERSION, json={"importance": None}
        ).status_code
        == 422
    )
    assert (
        client.patch(
            f"/api/v1/me/goals/{gid}", headers=ANY_VERSION, json={"closed_at": None}
        ).status_code
        == 422
    )
    res = client.post(
        f"/api/v1/me/goals/{gid}/steps", json={"text": "Go round the block", "due_on": "2030-07-01"}
    )
    assert res.status_code == 201
    sid = res.json()["id"]
    res = client.patch(
        f"/api/v1/me/goals/{gid}/steps/{sid}", headers=ANY_VERSION, json={"done": True}
    )
    assert res.status_code == 200
    assert res.json()["done"] is True
    assert res.json()["done_at"]
    assert (
        client.patch(
            f"/api/v1/me/goals/{gid}/steps/{sid}", headers=ANY_VERSION, json={"done": 1}
        ).status_code
        == 422
    )
    listing = client.get("/api/v1/me/goals").json()
    assert len(listing["goals"]) == 1
    assert sorted(s["text"] for s in listing["goals"][0]["steps"]) == [
        "Find my shoes",
        "Go round the block",
    ]
    assert listing["gas_trend"] == []
    assert client.get(f"/api/v1/me/goals/{gid}/reviews").json() == []
    assert client.get("/api/v1/me/goals/nope/reviews").status_code == 404


def test_another_clients_goal_is_404(as_user: AsUser) -> None:
    gid = as_user("client_a2").post("/api/v1/me/goals", json=GOAL).json()["id"]
    me = as_user("client_a1")
    res = me.get(f"/api/v1/me/goals/{gid}/reviews")
    assert res.status_code == 404
    assert res.headers["content-type"].startswith(PROBLEM)
    assert (
        me.patch(f"/api/v1/me/goals/{gid}", headers=ANY_VERSION, json={"importance": 0}).status_code
        == 404
    )


def test_stressor_end_and_other_clients_stressor(as_user: AsUser) -> None:
    a1 = as_user("client_a1")
    sid = a1.post("/api/v1/me/stressors", json=CREATES[5][1]).json()["id"]
    assert (
        as_user("client_a2")
        .patch(f"/api/v1/me/stressors/{sid}", headers=ANY_VERSION, json={"ended_on": "2024-05-10"})
        .status_code
        == 404
    )
    res = a1.patch(
        f"/api/v1/me/stressors/{sid}", headers=ANY_VERSION, json={"ended_on": "2024-04-10"}
    )
    assert res.status_code == 422
    res = a1.patch(
        f"/api/v1/me/stressors/{sid}", headers=ANY_VERSION, json={"ended_on": "2024-05-10"}
    )
    assert res.status_code == 200
    assert res.json()["ended_on"] == "2024-05-10"


def test_support_contacts(as_user: AsUser) -> None:
    a1 = as_user("client_a1")
    sid = a1.post("/api/v1/me/supporters", json={"name": "Ana", "relation": "friend"}).json()["id"]
    other = (
        as_user("client_a2")
        .post("/api/v1/me/supporters", json={"name": "Bo", "relation": "dad"})
        .json()["id"]
    )
    res = a1.post(
        "/api/v1/me/support-contacts",
        json={"supporter_id": sid, "contacted_on": "2024-06-01", "mode": "phone", "helpful": 8},
    )
    assert res.status_code == 201, res.text
    assert [c["supporter_id"] for c in a1.get("/api/v1/me/support-contacts").json()] == [sid]
    res = a1.post(
        "/api/v1/me/support-contacts", json={"supporter_id": other, "contacted_on": "2024-06-01"}
    )
    assert res.status_code == 404
    res = a1.post(
        "/api/v1/me/support-contacts",
        json={"supporter_id": sid, "contacted_on": "2024-06-01", "mode": "telepathy"},
    )
    assert res.status_code == 422


def test_skill_library(as_user: AsUser) -> None:
    skills = as_user("client_a1").get("/api/v1/me/skills").json()
    ids = [s["id"] for s in skills]
    assert "paced_breathing" in ids
    assert "thought_record" in ids
    breathing = next(s for s in skills if s["id"] == "paced_breathing")
    assert breathing["timing"]["inhale_seconds"] == 4.0


def test_sharing_api(as_user: AsUser, web_world: World) -> None:
    client = as_user("client_a1")
    got = client.get("/api/v1/me/sharing").json()["sharing"]
    assert got["journal_text"] is False
    assert got["mood"] is True
    res = client.patch(
        "/api/v1/me/sharing", headers=ANY_VERSION, json={"sharing": {"journal_text": True}}
    )
    assert res.status_code == 200
    assert res.json()["sharing"]["journal_text"] is True
    assert (
        client.patch(
            "/api/v1/me/sharing", headers=ANY_VERSION, json={"sharing": {"journal_text": "yes"}}
        ).status_code
        == 422
    )
    assert (
        client.patch(
            "/api/v1/me/sharing", headers=ANY_VERSION, json={"sharing": {"diary": True}}
        ).status_code
        == 422
    )
    assert client.get("/api/v1/me/sharing").json()["sharing"]["journal_text"] is True


def test_access_log_api(as_user: AsUser, web_world: World) -> None:
    from twostep.services.timeline import client_timeline

    client_timeline(web_world.factory, web_world.actor("ther_a"), web_world.id("client_a1"))
    rows = as_user("client_a1").get("/api/v1/me/access-log").json()
    assert any(
        r["who"] == "Ther A" and r["role"] == "therapist" and r["object_type"] == "timeline"
        for r in rows
    )
    assert all(set(r) == {"at", "who", "role", "action", "object_type", "outcome"} for r in rows)


def _my_routes() -> list[APIRoute]:
    """The routes of the between-session modules, as registered on the two routers."""
    from twostep.web.api import router as api_router
    from twostep.web.pages import router as pages_router

    mods = ("twostep.web.api.client_records", "twostep.web.pages.client_records")
    return [
        r
        for r in [*api_router.routes, *pages_router.routes]
        if isinstance(r, APIRoute) and r.endpoint.__module__ in mods
    ]


def test_every_route_answers_empty_bodies_without_a_server_error(
    app: Any, as_user: AsUser, anonymous: TestClient
) -> None:
    from twostep.web.policy import POLICY

    routes = _my_routes()
    assert len(routes) > 40
    client, ther = as_user("client_a1"), as_user("ther_a")
    bad = []
    for route in routes:
        is_api = route.endpoint.__module__.endswith("api.client_records")
        path = route.path
        for name in route.param_convertors:
            path = path.replace("{" + name + "}", "0123456789abcdef")
        url = ("/api/v1" + path) if is_api else path
        (method,) = route.methods
        for who, c in (("client", client), ("therapist", ther), ("anonymous", anonymous)):
            if method == "GET":
                res = c.get(url)
            elif is_api:
                res = c.request(method, url, json={})
            else:
                token = c.headers.get("X-CSRF-Token", "")
                res = c.request(method, url, data={"csrf_token": token} if token else {})
            want = {"client": None, "therapist": 403, "anonymous": 401}[who]
            if who == "anonymous" and method == "GET" and not is_api:
                want = 303  # a signed-out page view is sent to the sign-in form
            if res.status_code >= 500 or (want is not None and res.status_code != want):
                bad.append(f"{method} {url} as {who}: {res.status_code}")
    assert bad == []
    from twostep.domain.records import Role

    names = [r.name for r in routes]
    assert names
    assert all(POLICY[n].roles == frozenset({Role.CLIENT}) for n in names)
