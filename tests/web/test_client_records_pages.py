"""Between-session pages (/me/...): goals, journal, reflections, skills, self-care, stressors,
support network, privacy, downloads and the access log — as the client sees them."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from service_world import NOW, World, phq9_total

from twostep.services.timeline import client_timeline

#: Changes need If-Match (IN-02); these tests are not about concurrency.
ANY_VERSION = {"If-Match": "*"}

PAGES = [
    "/me/goals",
    "/me/goals/new",
    "/me/journal",
    "/me/journal/reflection",
    "/me/skills",
    "/me/skills/breathing",
    "/me/skills/thought-records",
    "/me/self-care",
    "/me/stressors",
    "/me/support",
    "/me/privacy",
    "/me/privacy/access-log",
]

AsUser = Callable[[str], TestClient]


def post_form(client: TestClient, url: str, data: dict[str, object]) -> object:
    body = {"csrf_token": client.headers["X-CSRF-Token"], **data}
    return client.post(url, data=body)


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_for_the_client(as_user: AsUser, path: str) -> None:
    res = as_user("client_a1").get(path)
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith("text/html")
    assert res.headers["cache-control"] == "no-store"
    html = res.text
    assert "<h1" in html
    assert " style=" not in html  # CSP: no inline style attributes
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline script
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers
    # every visible input, select and textarea has a label
    for m in re.finditer(r"<(input|select|textarea)\b([^>]*)>", html):
        attrs = m.group(2)
        if 'type="hidden"' in attrs:
            continue
        if 'type="radio"' in attrs or 'type="checkbox"' in attrs:
            continue  # wrapped in their <label>
        fid = re.search(r'id="([^"]+)"', attrs)
        assert fid, f"{path}: {m.group(0)} has no id"
        assert f'for="{fid.group(1)}"' in html, f"{path}: no label for {fid.group(1)}"


@pytest.mark.parametrize("path", PAGES)
def test_a_therapist_is_refused_on_client_pages(as_user: AsUser, path: str) -> None:
    assert as_user("ther_a").get(path).status_code == 403


def test_signed_out_is_refused(anonymous: TestClient) -> None:
    res = anonymous.get("/me/journal")
    assert (res.status_code, res.headers["location"]) == (303, "/login")
    assert anonymous.post("/me/journal", data={"text": "x"}).status_code in (401, 403)


# ------------------------------------------------------------------ goals


GOAL_FORM: dict[str, object] = {
    "specific_description": "Walk outside on weekdays",
    "measurable_indicator": "Days I walked this week",
    "level_p2": "5 days",
    "level_p1": "4 days",
    "level_0": "3 days",
    "level_m1": "1-2 days",
    "level_m2": "no days",
    "baseline_level": "-1",
    "importance": "3",
    "difficulty": "2",
    "achievable_rating": "2",
    "relevant_to": "low energy",
    "target_date": "2030-09-30",
    "review_every_days": "14",
    "step_text_0": "Find my shoes",
    "step_due_0": "2030-06-10",
    "step_text_1": "",
    "step_due_1": "",
}


def test_goal_builder_creates_a_goal_with_steps_and_lists_it(as_user: AsUser) -> None:
    client = as_user("client_a1")
    res = post_form(client, "/me/goals", GOAL_FORM)
    assert res.status_code == 303
    detail_url = res.headers["location"].split("?")[0]
    page = client.get(detail_url)
    assert page.status_code == 200
    assert "Walk outside on weekdays" in page.text
    assert "Find my shoes" in page.text
    assert "where I started" in page.text
    listing = client.get("/me/goals").text
    assert "Walk outside on weekdays" in listing
    assert "0 of 1 step done" in listing
    # tick the step done, then add another
    goal_id = detail_url.rsplit("/", 1)[1]
    step_id = client.get("/api/v1/me/goals").json()["goals"][0]["steps"][0]["id"]
    res = post_form(client, f"/me/goals/{goal_id}/steps/{step_id}/done", {"done": "1"})
    assert res.status_code == 303
    assert "1 of 1 step done" in client.get("/me/goals").text
    res = post_form(
        client, f"/me/goals/{goal_id}/steps", {"step_text": "Walk to the shop", "step_due": ""}
    )
    assert res.status_code == 303
    assert "Walk to the shop" in client.get(detail_url).text


def test_goal_builder_shows_errors_next_to_fields_and_keeps_values(as_user: AsUser) -> None:
    client = as_user("client_a1")
    form = {**GOAL_FORM, "measurable_indicator": "", "level_m2": "", "importance": ""}
    form["specific_description"] = "<script>alert(1)</script> walk"
    res = post_form(client, "/me/goals", form)
    assert res.status_code == 422
    html = res.text
    assert "Nothing has been saved yet" in html
    assert 'id="f-measurable_indicator-error"' in html
    assert 'id="f-level_m2-error"' in html
    assert 'id="f-importance-error"' in html
    assert 'aria-invalid="true"' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; walk" in html  # kept, escaped
    assert "<script>alert(1)" not in html
    assert 'value="4 days"' in html
    assert client.get("/api/v1/me/goals").json()["goals"] == []


def test_goal_builder_bad_number_and_date(as_user: AsUser) -> None:
    client = as_user("client_a1")
    res = post_form(client, "/me/goals", {**GOAL_FORM, "importance": "lots", "target_date": "soon"})
    assert res.status_code == 422
    assert "Please enter a whole number from 0 to 3." in res.text
    assert "Please enter a date" in res.text


def test_another_clients_goal_is_not_found(as_user: AsUser, web_world: World) -> None:
    other = as_user("client_a2")
    res = other.post("/api/v1/me/goals", json=api_goal())
    assert res.status_code == 201, res.text
    goal_id = res.json()["id"]
    step_id = res.json()["steps"][0]["id"]
    me = as_user("client_a1")
    assert me.get(f"/me/goals/{goal_id}").status_code == 404
    assert me.get(f"/api/v1/me/goals/{goal_id}/reviews").status_code == 404
    assert (
        me.patch(
            f"/api/v1/me/goals/{goal_id}", headers=ANY_VERSION, json={"importance": 1}
        ).status_code
        == 404
    )
    assert me.post(f"/api/v1/me/goals/{goal_id}/steps", json={"text": "x"}).status_code == 404
    res = me.patch(
        f"/api/v1/me/goals/{goal_id}/steps/{step_id}", headers=ANY_VERSION, json={"done": True}
    )
    assert res.status_code == 404
    res = post_form(me, f"/me/goals/{goal_id}/steps", {"step_text": "sneaky"})
    assert res.status_code == 404
    res = post_form(me, f"/me/goals/{goal_id}/steps/{step_id}/done", {"done": "1"})
    assert res.status_code == 404
    steps = other.get("/api/v1/me/goals").json()["goals"][0]["steps"]
    assert [s["text"] for s in steps] == ["Find my shoes"]
    assert steps[0]["done"] is False


def api_goal(**over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "specific_description": "Walk outside on weekdays",
        "measurable_indicator": "Days I walked",
        "levels": {"-2": "none", "-1": "1-2", "0": "3", "1": "4", "2": "5"},
        "importance": 3,
        "difficulty": 2,
        "target_date": "2030-09-30",
        "steps": [{"text": "Find my shoes", "due_on": "2030-06-10"}],
    }
    body.update(over)
    return body


def test_goal_reviews_show_level_and_t_score(as_user: AsUser, web_world: World) -> None:
    from twostep.services import goals as goals_service

    client = as_user("client_a1")
    goal_id = client.post("/api/v1/me/goals", json=api_goal()).json()["id"]
    goals_service.record_review(
        web_world.factory, web_world.actor("ther_a"), goal_id, 2, notes="great <b>week</b>"
    )
    reviews = client.get(f"/api/v1/me/goals/{goal_id}/reviews").json()
    assert len(reviews) == 1
    assert reviews[0]["attained_level"] == 2
    assert reviews[0]["t_score"] == pytest.approx(70.0)
    page = client.get(f"/me/goals/{goal_id}").text
    assert "+2 Much more than expected" in page
    assert "70.0" in page
    assert "great &lt;b&gt;week&lt;/b&gt;" in page
    listing = client.get("/me/goals").text
    assert "How my goals are going overall" in listing
    assert "70.0" in listing


# ---------------------------------------------------------------- journal


def test_journal_entry_via_form_is_listed_and_escaped(as_user: AsUser) -> None:
    client = as_user("client_a1")
    text = "<script>alert('x')</script> a hard day"
    res = post_form(
        client, "/me/journal", {"mood": "4", "emotions": "tired, hopeful", "text": text}
    )
    assert res.status_code == 303
    html = client.get("/me/journal").text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; a hard day" in html
    assert "<script>alert(" not in html
    assert "<strong>4</strong> out of 10" in html
    assert ">tired</span>" in html
    assert ">hopeful</span>" in html
    assert "private" in html


def test_journal_form_errors(as_user: AsUser) -> None:
    client = as_user("client_a1")
    res = post_form(client, "/me/journal", {"mood": "", "emotions": "", "text": "  "})
    assert res.status_code == 422
    assert "Write something, or choose a mood or an emotion." in res.text
    res = post_form(client, "/me/journal", {"mood": "11", "text": "keep me"})
    assert res.status_code == 422
    assert 'id="f-mood-error"' in res.text
    assert "keep me</textarea>" in res.text
    assert client.get("/api/v1/me/journal").json() == []


def test_reflection_via_form_links_to_my_progress(as_user: AsUser) -> None:
    client = as_user("client_a1")
    res = post_form(
        client,
        "/me/journal/reflection",
        {
            "what_happened": "Argument at work",
            "what_helped": "A walk",
            "what_i_noticed": "",
            "what_i_learned": "",
        },
    )
    assert res.status_code == 200
    assert 'href="/me/progress"' in res.text
    assert "My progress" in res.text
    assert "Argument at work" in client.get("/me/journal/reflection").text
    empty = post_form(client, "/me/journal/reflection", {"what_happened": " "})
    assert empty.status_code == 422
    assert "Write at least one part of the reflection." in empty.text


# ------------------------------------------------------------------ skills


def test_skills_library_practice_and_thought_record(as_user: AsUser) -> None:
    client = as_user("client_a1")
    page = client.get("/me/skills").text
    assert "Paced breathing" in page
    assert "Grounding (5-4-3-2-1)" in page
    res = post_form(
        client,
        "/me/skills/practice",
        {"skill_id": "grounding", "helpfulness": "7", "note": "<i>ok</i>"},
    )
    assert res.status_code == 303
    page = client.get("/me/skills").text
    assert "&lt;i&gt;ok&lt;/i&gt;" in page
    bad = post_form(client, "/me/skills/practice", {"skill_id": "flying", "helpfulness": "7"})
    assert bad.status_code == 422
    assert "Not a skill of the library." in bad.text
    res = post_form(
        client,
        "/me/skills/thought-records",
        {
            "situation": "Meeting",
            "automatic_thought": "They think I'm useless",
            "emotion": "shame",
            "intensity": "80",
            "evidence_for": "",
            "evidence_against": "Boss thanked me",
            "balanced_thought": "One quiet meeting is not proof",
            "rerated_intensity": "40",
        },
    )
    assert res.status_code == 303
    page = client.get("/me/skills/thought-records").text
    assert "They think I&#39;m useless" in page
    assert "80 → 40 out of 100" in page
    bad = post_form(client, "/me/skills/thought-records", {"situation": "x", "intensity": "101"})
    assert bad.status_code == 422
    assert 'id="f-automatic_thought-error"' in bad.text
    assert 'id="f-intensity-error"' in bad.text


def test_breathing_page_works_without_inline_script(as_user: AsUser) -> None:
    html = as_user("client_a1").get("/me/skills/breathing").text
    assert '<script src="/static/js/breathing.js" defer></script>' in html
    assert "data-paced-breathing" in html
    assert "Breathe in for 4 seconds" in html  # the text fallback
    assert "<noscript>" in html
    assert 'data-pb-phase aria-live="polite"' in html


def test_breathing_script_and_styles_are_served(anonymous: TestClient) -> None:
    js = anonymous.get("/static/js/breathing.js")
    assert js.status_code == 200
    assert "prefers-reduced-motion" in js.text
    assert "Escape" in js.text
    css = anonymous.get("/static/css/client.css").text
    assert "/* --- between sessions --- */" in css
    assert "prefers-reduced-motion: reduce" in css


# -------------------------------------------------- self-care, stressors, support


def test_self_care_via_form(as_user: AsUser) -> None:
    client = as_user("client_a1")
    res = post_form(
        client,
        "/me/self-care",
        {"activity": "nature", "done_on": "2024-06-01", "minutes": "45", "restorative": "8"},
    )
    assert res.status_code == 303
    page = client.get("/me/self-care").text
    assert "Time in nature" in page
    assert "2024-06-01" in page
    bad = post_form(
        client, "/me/self-care", {"activity": "", "done_on": "2024-06-01", "minutes": "-5"}
    )
    assert bad.status_code == 422
    assert 'id="f-activity-error"' in bad.text
    assert 'id="f-minutes-error"' in bad.text


def test_stressor_via_form_and_ending_it(as_user: AsUser) -> None:
    client = as_user("client_a1")
    res = post_form(
        client,
        "/me/stressors",
        {
            "category": "work",
            "severity": "4",
            "started_on": "2024-05-20",
            "description": "Deadline",
        },
    )
    assert res.status_code == 303
    page = client.get("/me/stressors").text
    assert "Still going on" in page
    assert "Deadline" in page
    sid = client.get("/api/v1/me/stressors").json()[0]["id"]
    bad = post_form(client, f"/me/stressors/{sid}/end", {"ended_on": "2024-05-01"})
    assert bad.status_code == 422
    assert "The end can&#39;t be before the start." in bad.text
    assert (
        post_form(client, f"/me/stressors/{sid}/end", {"ended_on": "2024-05-30"}).status_code == 303
    )
    assert client.get("/api/v1/me/stressors").json()[0]["ended_on"] == "2024-05-30"
    missing = post_form(client, "/me/stressors", {"category": "work", "started_on": ""})
    assert missing.status_code == 422
    assert 'id="f-severity-error"' in missing.text
    assert 'id="f-started_on-error"' in missing.text


def test_supporter_and_contact_via_form(as_user: AsUser) -> None:
    client = as_user("client_a1")
    res = post_form(
        client,
        "/me/support",
        {"name": "Sam <3", "relation": "sister", "support_kinds": ["emotional", "practical"]},
    )
    assert res.status_code == 303
    page = client.get("/me/support").text
    assert "Sam &lt;3" in page
    assert "Listening and comfort, Practical help" in page
    sid = client.get("/api/v1/me/supporters").json()[0]["id"]
    res = post_form(
        client,
        "/me/support/contacts",
        {"supporter_id": sid, "contacted_on": "2024-06-01", "mode": "phone", "helpful": "9"},
    )
    assert res.status_code == 303
    page = client.get("/me/support").text
    assert "Phone call" in page
    bad = post_form(client, "/me/support", {"name": "", "relation": "", "support_kinds": ["money"]})
    assert bad.status_code == 422
    assert 'id="f-name-error"' in bad.text
    assert 'id="f-support_kinds-error"' in bad.text


# ---------------------------------------------------------------- privacy


def test_sharing_choice_changes_what_the_therapist_sees(as_user: AsUser, web_world: World) -> None:
    client = as_user("client_a1")
    post_form(client, "/me/journal", {"mood": "6", "text": "my private words"})
    ther = web_world.actor("ther_a")
    cid = web_world.id("client_a1")

    def journal_seen() -> list[object]:
        tl = client_timeline(web_world.factory, ther, cid)
        return [i.record for i in tl.items if i.stream == "journal"]

    seen = journal_seen()
    assert len(seen) == 1
    assert seen[0].text == ""
    assert seen[0].mood == 6
    page = client.get("/me/privacy").text
    assert "private unless you choose to share them" in page
    assert re.search(r'name="share_journal_text" value="no"[^>]*checked', page)
    res = post_form(client, "/me/privacy", {"share_journal_text": "yes", "share_mood": "no"})
    assert res.status_code == 303
    seen = journal_seen()
    assert seen[0].text == "my private words"
    assert seen[0].mood is None
    assert re.search(
        r'name="share_journal_text" value="yes"[^>]*checked', client.get("/me/privacy").text
    )


def test_download_fhir_bundle_holds_only_my_data(as_user: AsUser, web_world: World) -> None:
    web_world.checkin("client_a1", phq9_total(12), NOW)
    web_world.checkin("client_a2", phq9_total(20), NOW)
    a1 = as_user("client_a1")
    post_form(a1, "/me/journal", {"text": "mine"})
    as_user("client_a2").post("/api/v1/me/journal", json={"text": "not yours"})
    res = a1.get("/me/download/fhir")
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("application/fhir+json")
    assert res.headers["content-disposition"].startswith("attachment;")
    bundle = json.loads(res.content)
    assert bundle["resourceType"] == "Bundle"
    types = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert "Patient" in types
    assert "QuestionnaireResponse" in types
    text = res.text
    assert web_world.id("client_a1") in text
    assert web_world.id("client_a2") not in text
    assert "mine" in text
    assert "not yours" not in text


def test_download_csv_holds_only_my_scores(as_user: AsUser, web_world: World) -> None:
    web_world.checkin("client_a1", phq9_total(12), NOW)
    web_world.checkin("client_a2", phq9_total(20), NOW)
    res = as_user("client_a1").get("/me/download/csv")
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/csv")
    assert "attachment" in res.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(res.text)))
    assert len(rows) == 1
    assert rows[0]["client_id"] == web_world.id("client_a1")
    assert rows[0]["instrument"] == "phq9"
    assert float(rows[0]["score"]) == 12


def test_downloads_refused_for_a_therapist(as_user: AsUser) -> None:
    ther = as_user("ther_a")
    assert ther.get("/me/download/fhir").status_code == 403
    assert ther.get("/me/download/csv").status_code == 403


def test_access_log_lists_the_therapists_read(as_user: AsUser, web_world: World) -> None:
    client_timeline(web_world.factory, web_world.actor("ther_a"), web_world.id("client_a1"))
    html = as_user("client_a1").get("/me/privacy/access-log").text
    row = re.search(
        r"<tr>\s*<td>[^<]*</td>\s*<td>Ther A</td>\s*<td>therapist</td>\s*<td>([^<]*)</td>", html
    )
    assert row, html
    assert "Looked at your timeline" in row.group(1)
