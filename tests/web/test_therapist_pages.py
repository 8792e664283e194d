"""The therapist's pages: caseload triage, timeline, alerts, goals, alliance, session prep.

Everything runs on the fakes of `tests/web/conftest.py`. Forms are posted as a
browser does (urlencoded, with the ``csrf_token`` field).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_world import NOW, World, phq9_total

from twostep.domain.records import AlertKind, AlertStatus, AppointmentStatus, EntryKind
from twostep.services import goals, journal

Login = Callable[[str], TestClient]


@pytest.fixture(autouse=True)
def _clock_at_now(app: FastAPI) -> None:
    """The app's clock at the world's NOW, so that "2 days ago" and snoozes are stable."""
    app.state.twostep = dataclasses.replace(app.state.twostep, clock=lambda: NOW)


LEVELS = {
    -2: "No walks",
    -1: "One walk a week",
    0: "Two walks a week",
    1: "Three walks a week",
    2: "Four or more walks a week",
}


def form(client: TestClient, path: str, data: dict[str, str] | None = None) -> object:
    """Post a form like a browser: urlencoded, the CSRF token as a field, no header."""
    token = client.headers["X-CSRF-Token"]
    return client.post(
        path,
        data={"csrf_token": token, **(data or {})},
        headers={"X-CSRF-Token": "", "Accept": "text/html"},
    )


def risk_alert(world: World, name: str = "client_a2") -> str:
    world.checkin(name, phq9_total(12, item9=1), NOW - timedelta(days=2))
    [alert] = [
        a
        for a in world.store.rows("alerts")
        if a.kind is AlertKind.RISK and a.client_id == world.id(name)
    ]
    return str(alert.id)


def alert_status(world: World, alert_id: str) -> AlertStatus:
    [alert] = [a for a in world.store.rows("alerts") if a.id == alert_id]
    return AlertStatus(alert.status)


def events(world: World, action: str, object_type: str) -> list[object]:
    return [
        e
        for e in world.store.audit_events
        if e.action == action and e.object_type == object_type and e.outcome == "ok"
    ]


# ----------------------------------------------------------------------- caseload


def test_caseload_ranks_the_client_with_a_risk_alert_first(
    web_world: World, as_user: Login
) -> None:
    web_world.series("client_a1", [10, 12, 18, 19])  # reliable deterioration: a reason too
    risk_alert(web_world)
    page = as_user("ther_a").get("/caseload")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    attention = html[html.index("Needs attention") : html.index("No concerns flagged (")]
    a2, a1 = attention.find("Client A2"), attention.find("Client A1")
    assert 0 <= a2 < a1, "the client with the risk alert comes first"
    first = attention[a2:a1]
    assert "Risk item" in first  # a label in words, not colour alone
    assert "risk item above 0 today" in first  # the reason with its time (alert raised NOW)
    assert "Deterioration" in attention[a1:]
    assert "<svg" not in html
    assert "<img" not in html


def test_caseload_lists_clients_without_reasons_under_no_concerns(
    web_world: World, as_user: Login
) -> None:
    risk_alert(web_world)
    html = as_user("ther_a").get("/caseload").text
    calm = html[html.index("No concerns flagged (1)") :]
    assert "Client A1" in calm
    assert "Client A2" not in calm
    assert "Client B1" not in html  # another therapist's client


@pytest.mark.parametrize("who", ["client_a1", "researcher", "admin"])
def test_other_roles_may_not_open_therapist_pages(
    web_world: World, as_user: Login, who: str
) -> None:
    c = as_user(who)
    assert c.get("/caseload").status_code == 403
    assert c.get(f"/clients/{web_world.id('client_a1')}").status_code == 403


def test_signed_out_goes_to_sign_in(web_world: World, anonymous: TestClient) -> None:
    res = anonymous.get("/caseload")
    assert (res.status_code, res.headers["location"]) == (303, "/login")


# ----------------------------------------------------------------------- timeline


@pytest.mark.parametrize("other", ["client_b1", "client_x"])
@pytest.mark.parametrize("page", ["", "/goals", "/alliance", "/prep", "/charts/phq9.svg"])
def test_clients_not_on_the_caseload_are_not_found(
    web_world: World, as_user: Login, other: str, page: str
) -> None:
    web_world.series(other, [15, 14, 12])
    res = as_user("ther_a").get(f"/clients/{web_world.id(other)}{page}")
    assert res.status_code == 404
    assert web_world.users[other].display_name not in res.text


def test_timeline_shows_streams_explanations_and_a_chart(web_world: World, as_user: Login) -> None:
    web_world.series("client_a1", [18, 16, 15, 20, 14])
    web_world.appointment("client_a1", NOW - timedelta(days=3), tags=("sleep",))
    cid = web_world.id("client_a1")
    c = as_user("ther_a")
    page = c.get(f"/clients/{cid}")
    assert page.status_code == 200
    html = page.text
    assert "Client A1" in html
    assert "PHQ-9" in html
    assert "Rule:" in html
    assert "Source:" in html
    assert "RC 6" in html  # with the numbers
    assert "Appointment" in html
    assert "sleep" in html
    assert f'src="/clients/{cid}/charts/phq9.svg"' in html
    assert "Support suggestions" in html
    chart = c.get(f"/clients/{cid}/charts/phq9.svg")
    assert chart.status_code == 200
    assert chart.headers["content-type"].startswith("image/svg+xml")
    assert chart.text.startswith("<svg")
    assert 'xmlns="http://www.w3.org/2000/svg"' in chart.text[:400]
    assert c.get(f"/clients/{cid}/charts/gad7.svg").status_code == 404


def test_timeline_shows_the_latest_setback_with_context(web_world: World, as_user: Login) -> None:
    web_world.series("client_a1", [20, 12, 10, 18, 11])
    journal.add_stressor(
        web_world.factory,
        web_world.actor("client_a1"),
        web_world.id("client_a1"),
        category="work",
        severity=4,
        started_on=(NOW - timedelta(weeks=12) + timedelta(weeks=2)).date(),
        now=NOW,
    )
    html = as_user("ther_a").get(f"/clients/{web_world.id('client_a1')}").text
    section = html[html.index('id="setback-h"') : html.index('id="tl-h"')]
    assert "setback" in section
    assert "Stressor: work, severity 4 of 5" in section
    assert "not as a cause" in section


def test_sharing_private_journal_text_is_not_shown_shared_text_is(
    web_world: World, as_user: Login
) -> None:
    f, me, cid = web_world.factory, web_world.actor("client_a1"), web_world.id("client_a1")
    journal.add_journal_entry(f, me, cid, mood=4, text="my private words", now=NOW)
    c = as_user("ther_a")
    html = c.get(f"/clients/{cid}").text
    assert "my private words" not in html
    assert "Text kept private by the client." in html
    assert "journal text" in html  # named as private in the header
    journal.set_sharing(f, me, cid, EntryKind.JOURNAL_TEXT, True, now=NOW)
    journal.add_journal_entry(f, me, cid, mood=6, text="words I share", now=NOW)
    html = c.get(f"/clients/{cid}").text
    assert "words I share" in html


def test_client_text_is_escaped(web_world: World, as_user: Login) -> None:
    f, me, cid = web_world.factory, web_world.actor("client_a1"), web_world.id("client_a1")
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    journal.add_session_topic(f, me, cid, evil, now=NOW)
    c = as_user("ther_a")
    for path in (f"/clients/{cid}", f"/clients/{cid}/prep"):
        html = c.get(path).text
        assert evil not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


# ------------------------------------------------------------------------- alerts


def test_acknowledge_snooze_and_resolve_with_forms(web_world: World, as_user: Login) -> None:
    alert_id = risk_alert(web_world)
    cid = web_world.id("client_a2")
    c = as_user("ther_a")
    page = c.get(f"/clients/{cid}").text
    assert f'action="/clients/{cid}/alerts/{alert_id}/acknowledge"' in page
    assert 'name="csrf_token"' in page

    res = form(c, f"/clients/{cid}/alerts/{alert_id}/acknowledge", {"return_to": "timeline"})
    assert res.status_code == 303
    assert res.headers["location"] == f"/clients/{cid}#alert-{alert_id}"
    assert alert_status(web_world, alert_id) is AlertStatus.ACKNOWLEDGED
    assert events(web_world, "update", "alert")

    until = (NOW + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    res = form(c, f"/clients/{cid}/alerts/{alert_id}/snooze", {"until": until})
    assert res.status_code == 303
    assert alert_status(web_world, alert_id) is AlertStatus.SNOOZED

    res = form(
        c,
        f"/clients/{cid}/alerts/{alert_id}/resolve",
        {"action_taken": "Called the client; safety plan reviewed", "return_to": "prep"},
    )
    assert res.status_code == 303
    assert res.headers["location"].startswith(f"/clients/{cid}/prep")
    [alert] = [a for a in web_world.store.rows("alerts") if a.id == alert_id]
    assert alert.status is AlertStatus.RESOLVED
    assert alert.action_taken == "Called the client; safety plan reviewed"
    assert alert.updated_by == web_world.id("ther_a")
    assert len(events(web_world, "update", "alert")) == 3


def test_resolve_without_action_text_is_refused_next_to_the_form(
    web_world: World, as_user: Login
) -> None:
    alert_id = risk_alert(web_world)
    cid = web_world.id("client_a2")
    res = form(
        as_user("ther_a"), f"/clients/{cid}/alerts/{alert_id}/resolve", {"action_taken": " "}
    )
    assert res.status_code == 422
    assert "action taken: may not be empty" in res.text
    assert alert_status(web_world, alert_id) is AlertStatus.OPEN


def test_a_risk_alert_must_be_acknowledged_before_snoozing(
    web_world: World, as_user: Login
) -> None:
    alert_id = risk_alert(web_world)
    cid = web_world.id("client_a2")
    until = (NOW + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    res = form(as_user("ther_a"), f"/clients/{cid}/alerts/{alert_id}/snooze", {"until": until})
    assert res.status_code == 409
    assert "acknowledge a risk alert before snoozing it" in res.text
    bad = form(as_user("ther_a"), f"/clients/{cid}/alerts/{alert_id}/snooze", {"until": "soon"})
    assert bad.status_code == 422
    assert alert_status(web_world, alert_id) is AlertStatus.OPEN


def test_alert_forms_without_the_csrf_token_are_refused(web_world: World, as_user: Login) -> None:
    alert_id = risk_alert(web_world)
    cid = web_world.id("client_a2")
    c = as_user("ther_a")
    res = c.post(
        f"/clients/{cid}/alerts/{alert_id}/acknowledge",
        data={"return_to": "timeline"},
        headers={"X-CSRF-Token": ""},
    )
    assert res.status_code == 403
    assert alert_status(web_world, alert_id) is AlertStatus.OPEN


def test_an_alert_of_another_client_is_not_found_through_this_client(
    web_world: World, as_user: Login
) -> None:
    alert_id = risk_alert(web_world, "client_a2")
    res = form(
        as_user("ther_a"), f"/clients/{web_world.id('client_a1')}/alerts/{alert_id}/acknowledge"
    )
    assert res.status_code == 404
    other = form(
        as_user("ther_b"), f"/clients/{web_world.id('client_a2')}/alerts/{alert_id}/acknowledge"
    )
    assert other.status_code == 404
    assert alert_status(web_world, alert_id) is AlertStatus.OPEN


# -------------------------------------------------------------------------- goals


def _goal(world: World) -> str:
    g = goals.create_goal(
        world.factory,
        world.actor("client_a1"),
        world.id("client_a1"),
        goals.GoalInput(
            specific_description="Walk in the <park>",
            measurable_indicator="walks per week",
            levels=LEVELS,
            importance=2,
            difficulty=1,
        ),
        now=NOW - timedelta(days=40),
    )
    return g.goal.id


def test_goal_review_records_a_level_and_the_t_score_appears(
    web_world: World, as_user: Login
) -> None:
    goal_id = _goal(web_world)
    cid = web_world.id("client_a1")
    c = as_user("ther_a")
    page = c.get(f"/clients/{cid}/goals")
    assert page.status_code == 200
    assert "Walk in the &lt;park&gt;" in page.text
    assert "Four or more walks a week" in page.text  # level descriptors
    assert "Review overdue" in page.text
    assert "No goal has been reviewed yet" in page.text
    res = form(c, f"/clients/{cid}/goals/{goal_id}/review", {"attained_level": "1", "notes": "ok"})
    assert res.status_code == 303
    [review] = web_world.store.rows("goal_reviews")
    assert (review.goal_id, review.attained_level, review.notes) == (goal_id, 1, "ok")
    assert events(web_world, "create", "goal_review")
    html = c.get(f"/clients/{cid}/goals").text
    assert "60.0" in html  # one goal at +1: T = 50 + 10 * 1 (Kiresuk & Sherman)
    assert "Review not due" in html


def test_goal_review_refuses_a_level_out_of_range(web_world: World, as_user: Login) -> None:
    goal_id = _goal(web_world)
    cid = web_world.id("client_a1")
    res = form(as_user("ther_a"), f"/clients/{cid}/goals/{goal_id}/review", {"attained_level": "3"})
    assert res.status_code == 422
    assert "attained level" in res.text
    assert web_world.store.rows("goal_reviews") == []
    not_here = form(
        as_user("ther_a"),
        f"/clients/{web_world.id('client_a2')}/goals/{goal_id}/review",
        {"attained_level": "1"},
    )
    assert not_here.status_code == 404


# ----------------------------------------------------------------------- alliance


def _srs(world: World, totals: list[float]) -> None:
    for k, total in enumerate(totals):
        item = total / 4
        world.checkin(
            "client_a1",
            {f"item_{i}": item for i in range(1, 5)},
            NOW - timedelta(weeks=len(totals) - k),
            instrument="srs",
            by="ther_a",
        )


def test_alliance_page_logs_the_repair_conversation(web_world: World, as_user: Login) -> None:
    _srs(web_world, [38.0, 38.5, 38.0, 31.0, 38.0])
    cid = web_world.id("client_a1")
    c = as_user("ther_a")
    html = c.get(f"/clients/{cid}/alliance").text
    assert "SRS" in html
    assert "Rupture from" in html
    assert "Recovered: <strong>yes</strong>" in html
    assert "Repair conversation logged: <strong>no</strong>" in html
    [rupture] = [a for a in web_world.store.rows("alerts") if a.kind is AlertKind.ALLIANCE_RUPTURE]
    res = form(
        c,
        f"/clients/{cid}/alerts/{rupture.id}/resolve",
        {"action_taken": "Talked about the <last> session", "return_to": "alliance"},
    )
    assert res.status_code == 303
    assert res.headers["location"].startswith(f"/clients/{cid}/alliance")
    html = c.get(f"/clients/{cid}/alliance").text
    assert "Repair conversation logged: <strong>yes</strong>" in html
    assert "Talked about the &lt;last&gt; session" in html


# --------------------------------------------------------------- prep and sessions


def test_session_prep_shows_topics_and_marks_them_addressed(
    web_world: World, as_user: Login
) -> None:
    f, me, cid = web_world.factory, web_world.actor("client_a1"), web_world.id("client_a1")
    web_world.appointment("client_a1", NOW - timedelta(days=7))
    topic = journal.add_session_topic(f, me, cid, "Talk about my sister's visit", now=NOW)
    c = as_user("ther_a")
    page = c.get(f"/clients/{cid}/prep")
    assert page.status_code == 200
    assert "Talk about my sister&#39;s visit" in page.text
    assert "the last session on" in page.text
    res = form(c, f"/clients/{cid}/topics/{topic.id}/addressed")
    assert res.status_code == 303
    [stored] = web_world.store.rows("topics")
    assert stored.addressed_at is not None
    assert "sister" not in c.get(f"/clients/{cid}/prep").text
    again = form(c, f"/clients/{cid}/topics/{topic.id}/addressed")
    assert again.status_code == 409  # addressed already
    assert "addressed already" in again.text


def test_focus_tags_are_saved_and_appointments_marked(web_world: World, as_user: Login) -> None:
    cid = web_world.id("client_a1")
    ap = web_world.appointment("client_a1", NOW - timedelta(days=1), AppointmentStatus.SCHEDULED)
    c = as_user("ther_a")
    assert (
        f'action="/clients/{cid}/appointments/{ap.id}/focus-tags"'
        in c.get(f"/clients/{cid}/prep").text
    )
    res = form(
        c, f"/clients/{cid}/appointments/{ap.id}/focus-tags", {"tags": "Sleep, work stress,"}
    )
    assert res.status_code == 303
    [stored] = web_world.store.rows("appointments")
    assert stored.focus_tags == ("sleep", "work stress")
    res = form(c, f"/clients/{cid}/appointments/{ap.id}/status", {"status": "attended"})
    assert res.status_code == 303
    [stored] = web_world.store.rows("appointments")
    assert stored.status is AppointmentStatus.ATTENDED
    again = form(c, f"/clients/{cid}/appointments/{ap.id}/status", {"status": "missed"})
    assert again.status_code == 409
    too_many = ",".join(f"t{k}" for k in range(11))
    bad = form(c, f"/clients/{cid}/appointments/{ap.id}/focus-tags", {"tags": too_many})
    assert bad.status_code == 422
    other = form(
        as_user("ther_b"), f"/clients/{cid}/appointments/{ap.id}/focus-tags", {"tags": "x"}
    )
    assert other.status_code == 404


def test_open_alerts_list_risk_first(web_world: World, as_user: Login) -> None:
    web_world.series("client_a2", [10, 12, 18, 19], start=NOW - timedelta(weeks=8))
    risk_alert(web_world)
    html = as_user("ther_a").get(f"/clients/{web_world.id('client_a2')}").text
    section = html[html.index('id="alerts-h"') : html.index('id="measures-h"')]
    assert section.index("Risk item answered") < section.index("Reliable deterioration")


def test_every_triage_reason_has_words_on_the_page() -> None:
    from twostep.services.triage import PRIORITY
    from twostep.web.pages.therapist import REASON_LABELS

    assert set(REASON_LABELS) == set(PRIORITY)
