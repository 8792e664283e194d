"""The therapist's JSON API: caseload, timeline, alerts, goals, alliance, prep, appointments."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_world import NOW, World, phq9_total

from twostep.domain.records import AlertKind, AlertStatus, AppointmentStatus, EntryKind
from twostep.services import goals, journal

#: Changes need If-Match (IN-02); these tests are not about concurrency.
ANY_VERSION = {"If-Match": "*"}

Login = Callable[[str], TestClient]
API = "/api/v1"


@pytest.fixture(autouse=True)
def _clock_at_now(app: FastAPI) -> None:
    app.state.twostep = dataclasses.replace(app.state.twostep, clock=lambda: NOW)


def risk_alert(world: World, name: str = "client_a2") -> str:
    world.checkin(name, phq9_total(12, item9=1), NOW - timedelta(days=2))
    [alert] = [
        a
        for a in world.store.rows("alerts")
        if a.kind is AlertKind.RISK and a.client_id == world.id(name)
    ]
    return str(alert.id)


def stored_alert(world: World, alert_id: str) -> Any:
    [alert] = [a for a in world.store.rows("alerts") if a.id == alert_id]
    return alert


def assert_problem(res: Any, status: int, pointer: str | None = None) -> None:
    assert res.status_code == status, res.text
    assert res.headers["content-type"].startswith("application/problem+json")
    if pointer is not None:
        assert pointer in [e["pointer"] for e in res.json()["errors"]]


# ----------------------------------------------------------------------- caseload


def test_caseload_ranks_risk_first(web_world: World, as_user: Login) -> None:
    web_world.series("client_a1", [10, 12, 18, 19])
    alert_id = risk_alert(web_world)
    res = as_user("ther_a").get(f"{API}/caseload")
    assert res.status_code == 200
    assert res.headers["cache-control"] == "no-store"
    body = res.json()
    ids = [e["client_id"] for e in body["entries"]]
    assert ids == [web_world.id("client_a2"), web_world.id("client_a1")]
    first = body["entries"][0]
    assert first["needs_attention"] is True
    reason = first["reasons"][0]
    assert reason["code"] == "risk"
    assert reason["label"] == "Risk item"
    assert "risk item" in reason["text"]
    assert reason["alert_ids"] == [alert_id]
    assert "deterioration" in [r["code"] for r in body["entries"][1]["reasons"]]


@pytest.mark.parametrize("who", ["client_a1", "researcher", "admin"])
def test_other_roles_are_forbidden(web_world: World, as_user: Login, who: str) -> None:
    c = as_user(who)
    assert_problem(c.get(f"{API}/caseload"), 403)
    assert_problem(c.get(f"{API}/clients/{web_world.id('client_a1')}/timeline"), 403)


@pytest.mark.parametrize("other", ["client_b1", "client_x", "ther_b"])
@pytest.mark.parametrize(
    "path", ["timeline", "alerts", "goals", "alliance", "prep", "appointments"]
)
def test_clients_not_on_the_caseload_are_not_found(
    web_world: World, as_user: Login, other: str, path: str
) -> None:
    res = as_user("ther_a").get(f"{API}/clients/{web_world.id(other)}/{path}")
    assert_problem(res, 404)


# ----------------------------------------------------------------------- timeline


def test_timeline_respects_sharing(web_world: World, as_user: Login) -> None:
    f, me, cid = web_world.factory, web_world.actor("client_a1"), web_world.id("client_a1")
    web_world.series("client_a1", [15, 13])
    journal.add_journal_entry(f, me, cid, mood=4, text="kept to myself", now=NOW)
    c = as_user("ther_a")
    body = c.get(f"{API}/clients/{cid}/timeline").json()
    assert "journal_text" in body["private_kinds"]
    [entry] = [i for i in body["items"] if i["stream"] == "journal"]
    assert entry["record"]["text"] == ""
    assert entry["record"]["mood"] == 4
    scores = [i for i in body["items"] if i["stream"] == "score"]
    assert scores[-1]["signals"]["status"] in ("unchanged", "improved")
    assert scores[-1]["explanations"][0]["therapist"]
    journal.set_sharing(f, me, cid, EntryKind.JOURNAL_TEXT, True, now=NOW)
    body = c.get(f"{API}/clients/{cid}/timeline").json()
    [entry] = [i for i in body["items"] if i["stream"] == "journal"]
    assert entry["record"]["text"] == "kept to myself"


# ------------------------------------------------------------------------- alerts


def test_acknowledge_snooze_resolve(web_world: World, as_user: Login) -> None:
    alert_id = risk_alert(web_world)
    c = as_user("ther_a")
    before = len(web_world.store.audit_events)
    res = c.post(f"{API}/alerts/{alert_id}/acknowledge")
    assert res.status_code == 200
    assert res.json()["status"] == "acknowledged"
    assert stored_alert(web_world, alert_id).status is AlertStatus.ACKNOWLEDGED

    until = (NOW + timedelta(days=2)).isoformat()
    res = c.post(f"{API}/alerts/{alert_id}/snooze", json={"until": until})
    assert res.status_code == 200, res.text
    assert res.json()["status"] == "snoozed"
    assert stored_alert(web_world, alert_id).snoozed_until == NOW + timedelta(days=2)

    res = c.post(f"{API}/alerts/{alert_id}/resolve", json={"action_taken": "Phoned; safe"})
    assert res.status_code == 200
    assert res.json()["status"] == "resolved"
    alert = stored_alert(web_world, alert_id)
    assert (alert.status, alert.action_taken) == (AlertStatus.RESOLVED, "Phoned; safe")
    new = web_world.store.audit_events[before:]
    assert [(e.action, e.object_type, e.object_id) for e in new] == [
        ("update", "alert", alert_id)
    ] * 3
    assert all(e.actor_id == web_world.id("ther_a") for e in new)
    listed = c.get(f"{API}/clients/{web_world.id('client_a2')}/alerts").json()["alerts"]
    assert listed == []
    listed = c.get(
        f"{API}/clients/{web_world.id('client_a2')}/alerts", params={"include_resolved": True}
    ).json()["alerts"]
    assert [a["id"] for a in listed] == [alert_id]


def test_resolve_without_action_text_names_the_field(web_world: World, as_user: Login) -> None:
    alert_id = risk_alert(web_world)
    c = as_user("ther_a")
    assert_problem(
        c.post(f"{API}/alerts/{alert_id}/resolve", json={"action_taken": "  "}),
        422,
        "/action_taken",
    )
    assert_problem(c.post(f"{API}/alerts/{alert_id}/resolve", json={}), 422, "/action_taken")
    assert stored_alert(web_world, alert_id).status is AlertStatus.OPEN


@pytest.mark.parametrize(
    ("path", "body", "pointer"),
    [
        ("snooze", {"until": "2024-06-05T09:00:00"}, "/until"),  # no offset
        ("snooze", {"until": 1717578000}, "/until"),
        ("snooze", {"until": "tomorrow please"}, "/until"),
        ("resolve", {"action_taken": 3}, "/action_taken"),
        ("resolve", {"action_taken": "done", "status": "resolved"}, "/status"),
        ("acknowledge", {"force": True}, "/force"),
    ],
)
def test_alert_bodies_are_strict(
    web_world: World, as_user: Login, path: str, body: dict[str, object], pointer: str
) -> None:
    alert_id = risk_alert(web_world)
    res = as_user("ther_a").post(f"{API}/alerts/{alert_id}/{path}", json=body)
    assert_problem(res, 422, pointer)
    assert stored_alert(web_world, alert_id).status is AlertStatus.OPEN


def test_alert_moves_are_refused_for_others_and_without_csrf(
    web_world: World, as_user: Login
) -> None:
    alert_id = risk_alert(web_world)
    assert_problem(as_user("ther_b").post(f"{API}/alerts/{alert_id}/acknowledge"), 404)
    assert_problem(as_user("ther_x").post(f"{API}/alerts/{alert_id}/acknowledge"), 404)
    assert_problem(as_user("client_a2").post(f"{API}/alerts/{alert_id}/acknowledge"), 403)
    c = as_user("ther_a")
    del c.headers["X-CSRF-Token"]
    assert_problem(c.post(f"{API}/alerts/{alert_id}/acknowledge"), 403)
    assert stored_alert(web_world, alert_id).status is AlertStatus.OPEN


def test_snoozing_an_unacknowledged_risk_alert_is_a_conflict(
    web_world: World, as_user: Login
) -> None:
    alert_id = risk_alert(web_world)
    res = as_user("ther_a").post(
        f"{API}/alerts/{alert_id}/snooze", json={"until": (NOW + timedelta(days=1)).isoformat()}
    )
    assert_problem(res, 409)


# -------------------------------------------------------------------------- goals


def _goal(world: World) -> str:
    levels = {-2: "none", -1: "one", 0: "two", 1: "three", 2: "four"}
    g = goals.create_goal(
        world.factory,
        world.actor("client_a1"),
        world.id("client_a1"),
        goals.GoalInput("Walk", "walks per week", levels, importance=1, difficulty=1),
        now=NOW - timedelta(days=5),
    )
    return g.goal.id


def test_goal_review_and_t_score(web_world: World, as_user: Login) -> None:
    goal_id = _goal(web_world)
    cid = web_world.id("client_a1")
    c = as_user("ther_a")
    res = c.post(
        f"{API}/clients/{cid}/goals/{goal_id}/reviews", json={"attained_level": -1, "notes": ""}
    )
    assert res.status_code == 201, res.text
    assert res.json()["attained_level"] == -1
    body = c.get(f"{API}/clients/{cid}/goals").json()
    [g] = body["goals"]
    assert g["goal"]["levels"]["2"] == "four"
    assert g["review"]["due"] is False
    assert [p["t_score"] for p in body["gas"]] == [40.0]
    assert body["gas_explanation"]["therapist"]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"attained_level": "1"}, "/attained_level"),
        ({"attained_level": True}, "/attained_level"),
        ({"attained_level": 3}, "/attained_level"),
        ({"attained_level": 1.5}, "/attained_level"),
        ({"attained_level": 1, "reviewer_id": "x"}, "/reviewer_id"),
        ({"notes": "no level"}, "/attained_level"),
    ],
)
def test_goal_review_bodies_are_strict(
    web_world: World, as_user: Login, body: dict[str, object], pointer: str
) -> None:
    goal_id = _goal(web_world)
    cid = web_world.id("client_a1")
    res = as_user("ther_a").post(f"{API}/clients/{cid}/goals/{goal_id}/reviews", json=body)
    assert_problem(res, 422, pointer)
    assert web_world.store.rows("goal_reviews") == []


def test_a_goal_through_another_client_is_not_found(web_world: World, as_user: Login) -> None:
    goal_id = _goal(web_world)
    res = as_user("ther_a").post(
        f"{API}/clients/{web_world.id('client_a2')}/goals/{goal_id}/reviews",
        json={"attained_level": 0},
    )
    assert_problem(res, 404)


# ----------------------------------------------------------- alliance, prep, tags


def test_alliance_follow_up(web_world: World, as_user: Login) -> None:
    for k, total in enumerate([38.0, 38.5, 38.0, 31.0]):
        web_world.checkin(
            "client_a1",
            {f"item_{i}": total / 4 for i in range(1, 5)},
            NOW - timedelta(weeks=4 - k),
            instrument="srs",
            by="ther_a",
        )
    body = as_user("ther_a").get(f"{API}/clients/{web_world.id('client_a1')}/alliance").json()
    [srs] = body["data"]["measures"]
    assert srs["instrument_id"] == "srs"
    assert srs["open_rupture"] is True
    [episode] = srs["episodes"]
    assert episode["trough_score"] == 31.0
    assert episode["repair_logged"] is False
    assert episode["alerts"][0]["kind"] == "alliance_rupture"


def test_prep_lists_topics_and_topics_can_be_marked(web_world: World, as_user: Login) -> None:
    f, me, cid = web_world.factory, web_world.actor("client_a1"), web_world.id("client_a1")
    topic = journal.add_session_topic(f, me, cid, "My <b>sleep</b>", now=NOW)
    c = as_user("ther_a")
    body = c.get(f"{API}/clients/{cid}/prep").json()
    assert [t["text"] for t in body["data"]["topics"]] == ["My <b>sleep</b>"]
    res = c.post(f"{API}/clients/{cid}/topics/{topic.id}/addressed")
    assert res.status_code == 200
    assert res.json()["addressed_at"] is not None
    assert c.get(f"{API}/clients/{cid}/prep").json()["data"]["topics"] == []
    assert_problem(c.post(f"{API}/clients/{cid}/topics/{topic.id}/addressed"), 409)
    other = web_world.id("client_a2")
    assert_problem(c.post(f"{API}/clients/{other}/topics/{topic.id}/addressed"), 404)


def test_focus_tags_and_attendance(web_world: World, as_user: Login) -> None:
    cid = web_world.id("client_a1")
    ap = web_world.appointment("client_a1", NOW - timedelta(days=1), AppointmentStatus.SCHEDULED)
    c = as_user("ther_a")
    path = f"{API}/clients/{cid}/appointments/{ap.id}"
    res = c.put(
        f"{path}/focus-tags", headers=ANY_VERSION, json={"tags": ["Sleep", " work stress "]}
    )
    assert res.status_code == 200, res.text
    assert res.json()["focus_tags"] == ["sleep", "work stress"]
    [stored] = web_world.store.rows("appointments")
    assert stored.focus_tags == ("sleep", "work stress")
    assert_problem(
        c.put(f"{path}/focus-tags", headers=ANY_VERSION, json={"tags": "sleep"}), 422, "/tags"
    )
    assert_problem(c.put(f"{path}/focus-tags", headers=ANY_VERSION, json={"tags": [1]}), 422)
    assert_problem(
        c.put(f"{path}/focus-tags", headers=ANY_VERSION, json={"tags": ["x"] * 11}), 422, "/tags"
    )
    assert c.post(f"{path}/missed").json()["status"] == "missed"
    assert_problem(c.post(f"{path}/attended"), 409)
    listed = c.get(f"{API}/clients/{cid}/appointments").json()["appointments"]
    assert [(a["id"], a["status"]) for a in listed] == [(ap.id, "missed")]
    other = f"{API}/clients/{web_world.id('client_a2')}/appointments/{ap.id}/focus-tags"
    assert_problem(c.put(other, headers=ANY_VERSION, json={"tags": ["x"]}), 404)
