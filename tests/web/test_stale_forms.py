"""RL-08 on the pages: a form carries the version it was rendered from (hidden ``version``).

Another window (here: the JSON API with If-Match) changes the record after
the page was opened; posting the old form is refused with 409 and a kind
"this was changed elsewhere — here is how it is saved now" page, and the
other window's change is what stays stored. The same form rendered afresh
goes through. Forms without the field (older pages) still work.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from service_world import NOW, World

from twostep.domain.records import AppointmentStatus

Login = Callable[[str], TestClient]
API = "/api/v1"
CHANGED = "changed elsewhere"

GOAL = {
    "specific_description": "Walk to the park",
    "measurable_indicator": "walks a week",
    "levels": {"-2": "none", "-1": "1", "0": "2", "1": "3", "2": "4"},
    "importance": 2,
    "difficulty": 1,
    "steps": [{"text": "find shoes"}],
}


def post_form(client: TestClient, path: str, data: dict[str, object]) -> object:
    """Post like a browser: urlencoded, the CSRF token as a field."""
    return client.post(
        path,
        data={"csrf_token": client.headers["X-CSRF-Token"], **data},
        headers={"X-CSRF-Token": "", "Accept": "text/html"},
    )


def form_version(page: str, action: str) -> str:
    """The hidden version of the form posting to ``action`` on ``page``."""
    found = re.search(rf'action="{re.escape(action)}"[^>]*>(.*?)</form>', page, flags=re.DOTALL)
    assert found, action
    version = re.search(r'name="version" value="([0-9]+)"', found.group(1))
    assert version, found.group(1)
    return version.group(1)


def elsewhere(c: TestClient, method: str, path: str, body: dict[str, object]) -> None:
    """Another window changes the record (with the current ETag)."""
    tag = c.get(path).headers["etag"]
    res = c.request(method, path, json=body, headers={"If-Match": tag})
    assert res.status_code == 200, res.text


def assert_refused_kindly(res: object) -> None:
    assert res.status_code == 409, res.text  # type: ignore[attr-defined]
    assert CHANGED in res.text  # type: ignore[attr-defined]
    assert "Nothing you sent was saved" in res.text  # type: ignore[attr-defined]


def test_goal_step_tick(web_world: World, as_user: Login) -> None:
    c = as_user("client_a1")
    goal = c.post(f"{API}/me/goals", json=GOAL).json()
    gid, sid = goal["id"], goal["steps"][0]["id"]
    action = f"/me/goals/{gid}/steps/{sid}/done"
    version = form_version(c.get(f"/me/goals/{gid}").text, action)
    elsewhere(c, "PATCH", f"{API}/me/goals/{gid}/steps/{sid}", {"done": True})
    elsewhere(c, "PATCH", f"{API}/me/goals/{gid}/steps/{sid}", {"done": False})
    res = post_form(c, action, {"done": "1", "version": version})
    assert_refused_kindly(res)
    assert c.get(f"{API}/me/goals/{gid}/steps/{sid}").json()["done"] is False
    fresh = form_version(c.get(f"/me/goals/{gid}").text, action)
    assert post_form(c, action, {"done": "1", "version": fresh}).status_code == 303
    assert c.get(f"{API}/me/goals/{gid}/steps/{sid}").json()["done"] is True
    # a form without the field (an older page) still works
    assert post_form(c, action, {"done": "0"}).status_code == 303


def test_stressor_end(web_world: World, as_user: Login) -> None:
    c = as_user("client_a1")
    s = c.post(
        f"{API}/me/stressors",
        json={"category": "work", "severity": 3, "started_on": "2024-01-02"},
    ).json()
    action = f"/me/stressors/{s['id']}/end"
    version = form_version(c.get("/me/stressors").text, action)
    elsewhere(c, "PATCH", f"{API}/me/stressors/{s['id']}", {"ended_on": "2024-03-01"})
    res = post_form(c, action, {"ended_on": "2024-04-01", "version": version})
    assert_refused_kindly(res)
    assert c.get(f"{API}/me/stressors/{s['id']}").json()["ended_on"] == "2024-03-01"


def test_sharing_choices(web_world: World, as_user: Login) -> None:
    c = as_user("client_a1")
    page = c.get("/me/privacy").text
    version = form_version(page, "/me/privacy")
    before = c.get(f"{API}/me/sharing").json()["sharing"]
    assert before["journal_text"] is False
    elsewhere(c, "PATCH", f"{API}/me/sharing", {"sharing": {"journal_text": True}})
    stale = {f"share_{k}": "yes" if v else "no" for k, v in before.items()}
    stale["share_mood"] = "no" if before["mood"] else "yes"  # the change this form wants
    res = post_form(c, "/me/privacy", {**stale, "version": version})
    assert_refused_kindly(res)
    now = c.get(f"{API}/me/sharing").json()["sharing"]
    assert now == {**before, "journal_text": True}  # the other window's choice, only it
    fresh = form_version(c.get("/me/privacy").text, "/me/privacy")
    res = post_form(c, "/me/privacy", {**stale, "share_journal_text": "yes", "version": fresh})
    assert res.status_code == 303
    assert c.get(f"{API}/me/sharing").json()["sharing"]["mood"] is not before["mood"]


def test_admin_account_and_clinic(web_world: World, as_user: Login) -> None:
    admin = as_user("admin")
    uid = web_world.id("ther_a")
    page = admin.get("/admin").text
    roles_version = form_version(page, f"/admin/users/{uid}/roles")
    clinic_version = form_version(page, "/admin/clinic")
    elsewhere(admin, "PATCH", f"{API}/admin/users/{uid}", {"display_name": "Renamed"})
    res = post_form(
        admin,
        f"/admin/users/{uid}/roles",
        {"roles": ["therapist", "admin"], "version": roles_version},
    )
    assert_refused_kindly(res)
    account = admin.get(f"{API}/admin/users/{uid}").json()
    assert account["roles"] == ["therapist"]
    assert account["display_name"] == "Renamed"

    clinic = admin.get(f"{API}/admin/clinic").json()
    elsewhere(admin, "PATCH", f"{API}/admin/clinic", {"delay_notice": "Other window."})
    res = post_form(
        admin,
        "/admin/clinic",
        {
            "crisis_text": clinic["crisis_text"],
            "delay_notice": "Mine.",
            "instruments": clinic["instruments"],
            "checkin_every_days": str(clinic["checkin_every_days"]),
            "version": clinic_version,
        },
    )
    assert_refused_kindly(res)
    assert admin.get(f"{API}/admin/clinic").json()["delay_notice"] == "Other window."


def test_focus_tags(web_world: World, as_user: Login) -> None:
    c = as_user("ther_a")
    cid = web_world.id("client_a1")
    ap = web_world.appointment("client_a1", NOW - timedelta(days=1), AppointmentStatus.SCHEDULED)
    action = f"/clients/{cid}/appointments/{ap.id}/focus-tags"
    version = form_version(c.get(f"/clients/{cid}/prep").text, action)
    tag = c.get(f"{API}/clients/{cid}/appointments/{ap.id}").headers["etag"]
    res = c.put(
        f"{API}{action.replace('/focus-tags', '')}/focus-tags",
        json={"tags": ["other"]},
        headers={"If-Match": tag},
    )
    assert res.status_code == 200, res.text
    res = post_form(c, action, {"tags": "mine", "version": version})
    assert_refused_kindly(res)
    assert c.get(f"{API}/clients/{cid}/appointments/{ap.id}").json()["focus_tags"] == ["other"]
