"""IN-02 / RL-08: every record the JSON API changes in place has an ETag and needs If-Match.

For each PATCH/PUT route (goal, goal step, stressor, sharing choices,
check-in draft, appointment focus tags, account, clinic settings): the GET
and the change's answer carry a strong ``ETag``; a change without
``If-Match`` is 428 ``precondition-required``, with an old or foreign tag
412 ``precondition-failed``, and in both cases nothing is stored; with the
current tag it is stored and the tag moves on. On the in-memory fakes (the
same rules as the database; the race itself is tested on SQLite and
PostgreSQL in tests/trust/test_concurrent_edits.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_world import NOW, World

from twostep.domain.records import AppointmentStatus

Login = Callable[[str], TestClient]
API = "/api/v1"

GOAL = {
    "specific_description": "Walk to the park",
    "measurable_indicator": "walks a week",
    "levels": {"-2": "none", "-1": "1", "0": "2", "1": "3", "2": "4"},
    "importance": 2,
    "difficulty": 1,
    "steps": [{"text": "find shoes"}],
}


@dataclass(frozen=True)
class Editable:
    """One route that changes a record in place, with two different valid changes."""

    user: str
    method: str  # PATCH or PUT
    get: str  # where the record (and its ETag) is read
    change: str  # where it is changed
    first: dict[str, Any]
    second: dict[str, Any]
    shows: Callable[[dict[str, Any]], object]  # what a change changes, from the GET body


def _goal(world: World, c: TestClient) -> tuple[str, str]:
    res = c.post(f"{API}/me/goals", json=GOAL)
    assert res.status_code == 201, res.text
    body = res.json()
    return body["id"], body["steps"][0]["id"]


def editables(world: World, login: Login) -> dict[str, tuple[Editable, TestClient]]:
    client = login("client_a1")
    goal_id, step_id = _goal(world, client)
    res = client.post(
        f"{API}/me/stressors",
        json={"category": "work", "severity": 3, "started_on": "2024-01-02"},
    )
    assert res.status_code == 201, res.text
    stressor_id = res.json()["id"]
    ap = world.appointment("client_a1", NOW - timedelta(days=1), AppointmentStatus.SCHEDULED)
    cid = world.id("client_a1")
    uid = world.id("client_a2")
    out = {
        "goal": Editable(
            "client_a1",
            "PATCH",
            f"{API}/me/goals/{goal_id}",
            f"{API}/me/goals/{goal_id}",
            {"relevant_to": "first"},
            {"relevant_to": "second"},
            lambda b: b["relevant_to"],
        ),
        "goal step": Editable(
            "client_a1",
            "PATCH",
            f"{API}/me/goals/{goal_id}/steps/{step_id}",
            f"{API}/me/goals/{goal_id}/steps/{step_id}",
            {"done": True},
            {"done": False},
            lambda b: b["done"],
        ),
        "stressor": Editable(
            "client_a1",
            "PATCH",
            f"{API}/me/stressors/{stressor_id}",
            f"{API}/me/stressors/{stressor_id}",
            {"ended_on": "2024-03-01"},
            {"ended_on": "2024-04-01"},
            lambda b: b["ended_on"],
        ),
        "sharing": Editable(
            "client_a1",
            "PATCH",
            f"{API}/me/sharing",
            f"{API}/me/sharing",
            {"sharing": {"journal_text": True}},
            {"sharing": {"journal_text": False}},
            lambda b: b["sharing"]["journal_text"],
        ),
        "draft": Editable(
            "client_a1",
            "PUT",
            f"{API}/me/checkins/gad7/draft",
            f"{API}/me/checkins/gad7/draft",
            {"answers": {"item_1": 1}},
            {"answers": {"item_1": 2}},
            lambda b: b["answers"].get("item_1"),
        ),
        "focus tags": Editable(
            "ther_a",
            "PUT",
            f"{API}/clients/{cid}/appointments/{ap.id}",
            f"{API}/clients/{cid}/appointments/{ap.id}/focus-tags",
            {"tags": ["sleep"]},
            {"tags": ["work"]},
            lambda b: b["focus_tags"],
        ),
        "account": Editable(
            "admin",
            "PATCH",
            f"{API}/admin/users/{uid}",
            f"{API}/admin/users/{uid}",
            {"display_name": "First Name"},
            {"display_name": "Second Name"},
            lambda b: b["display_name"],
        ),
        "clinic": Editable(
            "admin",
            "PATCH",
            f"{API}/admin/clinic",
            f"{API}/admin/clinic",
            {"delay_notice": "first"},
            {"delay_notice": "second"},
            lambda b: b["delay_notice"],
        ),
    }
    clients = {"client_a1": client}
    result: dict[str, tuple[Editable, TestClient]] = {}
    for name, e in out.items():
        if e.user not in clients:
            clients[e.user] = login(e.user)
        result[name] = (e, clients[e.user])
    return result


NAMES = ("goal", "goal step", "stressor", "sharing", "draft", "focus tags", "account", "clinic")


def _read(c: TestClient, e: Editable) -> tuple[str, Any]:
    res = c.get(e.get)
    assert res.status_code == 200, res.text
    tag = res.headers["etag"]
    assert re.fullmatch(r'"v[0-9]+"', tag), tag  # strong, never W/
    return tag, e.shows(res.json())


def _start(c: TestClient, e: Editable) -> None:
    """A draft exists only once started (If-None-Match: *); the others exist already."""
    if e.change.endswith("/draft"):
        res = c.put(e.change, json={"answers": {"item_2": 0}}, headers={"If-None-Match": "*"})
        assert res.status_code == 200, res.text
        again = c.put(e.change, json={"answers": {"item_2": 1}}, headers={"If-None-Match": "*"})
        assert again.status_code == 412, again.text  # exists now: If-None-Match fails


@pytest.mark.parametrize("name", NAMES)
def test_get_and_change_carry_the_etag_and_the_tag_moves_on(
    web_world: World, as_user: Login, name: str
) -> None:
    e, c = editables(web_world, as_user)[name]
    _start(c, e)
    tag, _ = _read(c, e)
    res = c.request(e.method, e.change, json=e.first, headers={"If-Match": tag})
    assert res.status_code == 200, res.text
    new_tag = res.headers["etag"]
    assert new_tag != tag
    assert res.json().get("etag", res.json().get("account", {}).get("etag")) == new_tag
    again, shown = _read(c, e)
    assert again == new_tag
    assert shown == e.shows(res.json().get("account", res.json()))


@pytest.mark.parametrize("name", NAMES)
def test_without_if_match_it_is_428_and_nothing_changes(
    web_world: World, as_user: Login, name: str
) -> None:
    e, c = editables(web_world, as_user)[name]
    _start(c, e)
    tag, before = _read(c, e)
    res = c.request(e.method, e.change, json=e.first)
    assert res.status_code == 428, res.text
    assert res.headers["content-type"].startswith("application/problem+json")
    assert res.json()["type"] == "/problems/precondition-required"
    assert _read(c, e) == (tag, before)


@pytest.mark.parametrize("name", NAMES)
def test_a_stale_tag_is_412_and_the_winner_stays(
    web_world: World, as_user: Login, name: str
) -> None:
    e, c = editables(web_world, as_user)[name]
    _start(c, e)
    tag, _ = _read(c, e)
    first = c.request(e.method, e.change, json=e.first, headers={"If-Match": tag})
    assert first.status_code == 200, first.text
    after_first = _read(c, e)
    late = c.request(e.method, e.change, json=e.second, headers={"If-Match": tag})
    assert late.status_code == 412, late.text
    assert late.headers["content-type"].startswith("application/problem+json")
    assert late.json()["type"] == "/problems/precondition-failed"
    assert _read(c, e) == after_first  # the second writer overwrote nothing


@pytest.mark.parametrize(
    "value",
    ['W/"v1"', "v1", '"v0"', '"v1", "v2"', '"x"', '"v99999999999999999999"', ""],
)
def test_tags_that_cannot_match_are_412(web_world: World, as_user: Login, value: str) -> None:
    e, c = editables(web_world, as_user)["goal"]
    tag, before = _read(c, e)
    res = c.patch(e.change, json=e.first, headers={"If-Match": value})
    assert res.status_code == 412, (value, res.text)
    assert _read(c, e) == (tag, before)


def test_if_match_star_takes_whatever_is_stored(web_world: World, as_user: Login) -> None:
    e, c = editables(web_world, as_user)["goal"]
    res = c.patch(e.change, json=e.first, headers={"If-Match": "*"})
    assert res.status_code == 200, res.text
    assert _read(c, e)[1] == "first"


def test_a_tag_of_another_record_does_not_fit_a_changed_one(
    web_world: World, as_user: Login
) -> None:
    """Tags are versions: a fresh record's "v1" is stale for one already changed."""
    e, c = editables(web_world, as_user)["goal"]
    tag, _ = _read(c, e)
    assert c.patch(e.change, json=e.first, headers={"If-Match": tag}).status_code == 200
    other_id, _ = _goal(web_world, c)
    other_tag = c.get(f"{API}/me/goals/{other_id}").headers["etag"]
    assert other_tag == tag  # both were created at version 1
    assert c.patch(e.change, json=e.second, headers={"If-Match": other_tag}).status_code == 412


def test_another_clients_record_is_404_even_with_a_tag(web_world: World, as_user: Login) -> None:
    e, c = editables(web_world, as_user)["goal"]
    tag, before = _read(c, e)
    other = as_user("client_a2")
    assert other.get(e.get).status_code == 404
    assert other.patch(e.change, json=e.second, headers={"If-Match": tag}).status_code == 404
    assert _read(c, e) == (tag, before)


def test_lists_carry_each_items_etag(web_world: World, as_user: Login) -> None:
    e, c = editables(web_world, as_user)["goal"]
    tag, _ = _read(c, e)
    [goal] = [g for g in c.get(f"{API}/me/goals").json()["goals"] if e.get.endswith(g["id"])]
    assert goal["etag"] == tag
    assert goal["steps"][0]["etag"] == '"v1"'


#: PUT/PATCH routes that change no versioned record: a new password is a credential, and
#: the current password (checked and throttled like sign-in) is its precondition.
NOT_RECORDS = {("put", f"{API}/me/password")}


def test_openapi_documents_if_match_412_and_428(anonymous: TestClient) -> None:
    doc = anonymous.get(f"{API}/openapi.json").json()
    changes = [
        (path, method, op)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if method in ("patch", "put") and (method, path) not in NOT_RECORDS
    ]
    assert len(changes) == len(NAMES)  # every route of this file's table, and no other
    for path, method, op in changes:
        headers = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
        assert "If-Match" in headers, (path, method)
        assert {"412", "428"} <= set(op["responses"]), (path, method)
        assert "ETag" in op["responses"]["200"].get("headers", {}), (path, method)


def test_a_draft_is_started_with_if_none_match(web_world: World, as_user: Login) -> None:
    c = as_user("client_a1")
    path = f"{API}/me/checkins/gad7/draft"
    body = {"answers": {"item_1": 1}}
    assert c.put(path, json=body).status_code == 428
    assert c.put(path, json=body, headers={"If-Match": "*"}).status_code == 412  # none stored
    assert c.put(path, json=body, headers={"If-None-Match": "v1"}).status_code == 412
    assert c.get(path).status_code == 404  # none of these started one
    res = c.put(path, json=body, headers={"If-None-Match": "*"})
    assert res.status_code == 200, res.text
    assert res.headers["etag"] == '"v1"'
    res = c.put(path, json={"answers": {"item_2": 2}}, headers={"If-Match": "*"})
    assert res.status_code == 200
    assert res.json()["answers"] == {"item_1": 1.0, "item_2": 2.0}
