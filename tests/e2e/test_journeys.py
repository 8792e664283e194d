"""The main journeys of issue 5, in headless Chromium against the served demo clinic.

1. A client answers PHQ-9 item 9 with 1: the crisis resources appear at once
   (from the htmx draft save, before the answers are sent) and again on the
   result page, and the therapist's triage — in a second browser — puts the
   client at the top with the risk reason, before the questionnaire is even
   sent. Also at phone width (390 px).
2. A client logs a stressor, sends a PHQ-9 that is a setback (worse than
   their best by at least the reliable change, not reliably worse than
   intake) and writes a setback reflection; "My progress" explains the
   setback as a setback inside progress, with the stressor as context.
3. A client answers the risk question and leaves the check-in unsent (the
   draft alerts the therapist). The therapist rates a goal (GAS level,
   notes) and sees the T-score; then resolves the risk alert on the
   timeline with the action taken: the alert is no longer open and the
   triage reason is gone.
4. A client cannot reach another client's pages, charts, API or draft; a
   therapist gets 404 for a client of the other therapist.

Each journey uses its own demo clients, so the journeys do not depend on one
another (the served demo is shared by the whole session); test_pages.py uses
``clients_of(dana)[5]``, which no journey touches.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from e2e_support import PHONE, Session, Site
from playwright.sync_api import Locator, Page, expect

from twostep.instruments.registry import get_instrument

PHQ9 = get_instrument("phq9")
RISK_TAGS = ("Urgent risk", "Risk item")

# one demo client (or two) per journey; none of them is clients_of(dana)[5]
RISK_CLIENT = "client23@demo.twostep.example"  # Dana's; no concern flagged in the demo
RISK_CLIENT_PHONE = "client20@demo.twostep.example"  # Lee's; no concern flagged
SETBACK_CLIENT = "client12@demo.twostep.example"  # Lee's; open episode, room for a setback
REVIEW_CLIENT = "client31@demo.twostep.example"  # Dana's; no concern flagged, open goals
NOSY_CLIENT = "client29@demo.twostep.example"  # Dana's
OTHER_CLIENT = "client07@demo.twostep.example"  # Dana's too: same therapist, still a stranger
LEES_CLIENT = "client04@demo.twostep.example"  # Lee's: outside Dana's caseload


# ------------------------------------------------------------------------- helpers


def name_of(site: Site, email: str) -> str:
    return next(u.display_name for u in site.files.clinic.users if u.email == email)


def therapist_of(site: Site, client_email: str) -> str:
    for therapist in (site.login("therapist", 0), site.login("therapist", 1)):
        if client_email in site.clients_of(therapist):
            return therapist
    raise AssertionError(f"{client_email} has no therapist in the demo")


def today() -> date:
    return datetime.now(UTC).date()


def day_words(d: date) -> str:
    """A date as the therapist pages write it (``26 Nov 2026``)."""
    return f"{d.day} {d:%b %Y}"


def item_group(page: Page, number: int) -> Locator:
    """The fieldset of PHQ-9 question ``number`` (named by its legend, ``"9. ..."``)."""
    return page.get_by_role("group", name=re.compile(rf"^{number}\. "))


def choose(page: Page, number: int, value: int) -> None:
    item = PHQ9.items[number - 1]
    label = next(o.label for o in item.scale.options if o.value == value)
    item_group(page, number).get_by_role("radio", name=label, exact=True).check()


def answers_summing_to(total: int) -> dict[int, int]:
    """PHQ-9 answers (items 1-8, item 9 = 0) whose total is ``total``, item 10 answered too."""
    assert 0 <= total <= 24, total
    out: dict[int, int] = {}
    left = total
    for number in range(1, 9):
        out[number] = min(3, left)
        left -= out[number]
    out[9] = 0
    out[10] = 1
    return out


def attention_entries(page: Page) -> list[tuple[str, list[str]]]:
    """The triage list as the therapist sees it: (client name, reason tags), in rank order."""
    page.goto("/caseload")
    region = page.get_by_role("region", name=re.compile(r"^Needs attention"))
    entries = region.locator("ol.triage-list > li")
    out = []
    for k in range(entries.count()):
        entry = entries.nth(k)
        name = entry.get_by_role("heading").inner_text().strip()
        tags = [t.strip() for t in entry.locator(".reasons .tag").all_inner_texts()]
        out.append((name, tags))
    return out


def calm_names_at(page: Page) -> list[str]:
    """The clients with no concern flagged, from a fresh caseload page."""
    page.goto("/caseload")
    return calm_names(page)


def calm_names(page: Page) -> list[str]:
    region = page.get_by_role("region", name=re.compile(r"^No concerns flagged"))
    links = region.locator(".calm-list > li > a[href^='/clients/']").all_inner_texts()
    return [n.strip() for n in links]


def reason_text(page: Page, client_name: str) -> str:
    region = page.get_by_role("region", name=re.compile(r"^Needs attention"))
    entry = region.locator("ol.triage-list > li").filter(
        has=page.get_by_role("heading", name=client_name, exact=True)
    )
    return entry.locator(".reasons").inner_text()


def assert_risk_first(entries: list[tuple[str, list[str]]], client_name: str) -> None:
    """The client is in the risk group at the top, with the risk reason listed first.

    Nobody without a risk reason ranks above: the client is first unless
    another client also has an open risk alert (the demo keeps the alerts of
    its last ten days open, and another journey may have raised one), and then
    only those may come first, higher tiers before lower; no one ranked below
    has an urgent (higher-tier) risk reason.
    """
    names = [n for n, _ in entries]
    assert client_name in names, f"{client_name} is not in the triage list: {names}"
    at = names.index(client_name)
    tags = entries[at][1]
    assert tags, f"{client_name} has no reason"
    assert tags[0] == "Risk item", f"{client_name}: reasons {tags}"
    for name, above in entries[:at]:
        assert any(t in RISK_TAGS for t in above), f"{name} ranks above without a risk reason"
    for name, below in entries[at + 1 :]:
        assert "Urgent risk" not in below, f"{name} (urgent risk) ranks below {client_name}"


def crisis_box(page: Page, where: str) -> Locator:
    """The crisis resources inside the alert region ``where`` (a CSS selector)."""
    return page.locator(where).get_by_role("region", name="If you need help now")


def expect_crisis_resources(box: Locator, site: Site) -> None:
    expect(box).to_be_visible()
    crisis_text = site.files.clinic.clinic.crisis_text.strip()
    first_line = crisis_text.splitlines()[0].strip()
    expect(box).to_contain_text(first_line[:60])
    expect(box).to_contain_text("Your therapist has been told about your answer.")


def shot(target: Page | Locator, name: str) -> None:
    """A screenshot of a journey's moment (the viewport, or one element), only when
    ``TWOSTEP_SCREENSHOTS`` names a folder."""
    folder = os.environ.get("TWOSTEP_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        target.screenshot(path=str(Path(folder) / f"{name}.png"))


def api_json(page: Page, path: str) -> Any:
    response = page.request.get(path)
    assert response.status == 200, f"{path}: HTTP {response.status}"
    return response.json()


def fits_in_width(page: Page, box: Locator) -> None:
    """``box`` is inside the viewport's width and the page does not scroll sideways."""
    viewport = page.viewport_size
    assert viewport is not None
    bounds = box.bounding_box()
    assert bounds is not None
    assert bounds["x"] >= 0, bounds
    assert bounds["x"] + bounds["width"] <= viewport["width"] + 0.5, (bounds, viewport)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{page.url} scrolls sideways by {overflow}px"


# ------------------------------------------------------------- 1. risk and crisis


def risk_journey(
    site: Site, sign_in: Callable[..., Session], client_email: str, viewport: dict[str, int]
) -> None:
    client_name = name_of(site, client_email)
    therapist = sign_in(therapist_of(site, client_email))
    tp = therapist.page
    before = attention_entries(tp)
    assert client_name not in [n for n, _ in before], "precondition: no concern flagged yet"
    assert client_name in calm_names(tp)

    client = sign_in(client_email, viewport)
    page = client.page
    page.goto("/me/checkin/phq9")
    expect(page.get_by_role("heading", level=1)).to_have_text(PHQ9.short_name)
    expect(page.get_by_role("region", name="If you need help now")).to_have_count(0)

    # every other question answered first; the risk question last
    for number, value in {1: 1, 2: 2, 3: 1, 4: 2, 5: 0, 6: 1, 7: 1, 8: 0, 10: 1}.items():
        choose(page, number, value)
    expect(page.locator("#draft-status")).to_have_text(
        f"Saved: 9 of {len(PHQ9.items)} answered.", timeout=10_000
    )
    expect(page.get_by_role("region", name="If you need help now")).to_have_count(0)
    choose(page, 9, 1)

    # at once, before the answers are sent: the htmx draft save swaps the crisis box in
    box = crisis_box(page, "#crisis-alert")
    expect_crisis_resources(box, site)
    expect(page.locator("#crisis-alert")).to_have_attribute("role", "alert")
    expect(page.locator("#draft-status")).to_have_text(
        f"Saved: {len(PHQ9.items)} of {len(PHQ9.items)} answered."
    )
    box.scroll_into_view_if_needed()
    expect(box).to_be_in_viewport()
    fits_in_width(page, box)
    assert page.url.endswith("/me/checkin/phq9"), "nothing was sent yet"
    width = "phone" if viewport == PHONE else "desktop"
    shot(page, f"journey-checkin-crisis-{width}")

    # ... and the therapist's triage already shows the risk (from the draft)
    during = attention_entries(tp)
    assert_risk_first(during, client_name)
    assert re.search(r"PHQ-9: risk item above 0 today", reason_text(tp, client_name))

    # sending the answers: the result page leads with the crisis resources
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Thank you for your {PHQ9.short_name}"
    )
    result_box = crisis_box(page, "div.crisis-region[role='alert']")
    expect_crisis_resources(result_box, site)
    expect(page.locator(".result-score")).to_contain_text("9 out of 27")
    fits_in_width(page, result_box)

    # the therapist's triage after the submission: still risk first, now with the tier
    after = attention_entries(tp)
    assert_risk_first(after, client_name)
    text = reason_text(tp, client_name)
    assert "PHQ-9: risk item above 0 today" in text, text
    assert "same-day clinician review" in text, text
    if viewport != PHONE:
        shot(tp, "journey-caseload-risk-desktop")
    # server side: the risk alerts are open on the client's record
    client_id = site.user_id(client_email)
    alerts = api_json(tp, f"/api/v1/clients/{client_id}/alerts")["alerts"]
    risk = [a for a in alerts if a["kind"] == "risk" and a["status"] == "open"]
    assert risk, alerts
    assert all(a["level"] == 1 for a in risk), alerts
    assert client.errors == [], client.errors
    assert therapist.errors == [], therapist.errors


def test_a_risk_answer_shows_crisis_resources_and_puts_the_client_among_risk_first(
    site: Site, sign_in: Callable[..., Session]
) -> None:
    risk_journey(site, sign_in, RISK_CLIENT, {"width": 1280, "height": 900})


def test_the_crisis_resources_fit_a_phone_screen(
    site: Site, sign_in: Callable[..., Session]
) -> None:
    risk_journey(site, sign_in, RISK_CLIENT_PHONE, PHONE)


# -------------------------------------------------------------------- 2. setback


def test_a_setback_is_explained_as_a_setback_with_the_stressor_as_context(
    site: Site, sign_in: Callable[..., Session]
) -> None:
    s = sign_in(SETBACK_CLIENT)
    page = s.page

    # the course so far, as the client's own API gives it
    phq = next(m for m in api_json(page, "/api/v1/me/progress") if m["instrument_id"] == "phq9")
    scored = [p for p in phq["points"] if p["score"] is not None]
    intake, last = scored[0]["score"], scored[-1]["score"]
    best = min(p["score"] for p in scored)
    rc = phq["reliable_change"]
    assert rc == 6, phq["reliable_change"]
    assert not scored[-1]["in_setback"], "precondition: not inside a setback already"
    # worse than the best by >= RC, not reliably worse than intake, no sudden loss from the last
    target = int(max(best + rc, last - rc + 1))
    assert target <= intake + rc - 1, (intake, best, last, target)
    assert abs(target - last) < rc, (intake, best, last, target)

    # 1) a stressor, a few days ago
    page.goto("/me/progress")
    stressor_list = page.locator("#h-phq9 ~ ul.stressors > li")
    stressors_before = stressor_list.count()
    started = today() - timedelta(days=2)
    page.goto("/me/stressors")
    page.get_by_label("What is it about?").select_option(label="Work or study")
    page.get_by_role("group", name="How stressful is it?").get_by_role(
        "radio", name="4 – Very stressful"
    ).check()
    page.get_by_label("When did it start?").fill(started.isoformat())
    page.get_by_label("A few words about it").fill("Deadline at work, long evenings")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Saved. Thank you for noting this.")
    current = page.get_by_role("region", name="Still going on")
    expect(current).to_contain_text(f"Work or study · 4 of 5, very stressful · since {started}")
    expect(current).to_contain_text("Deadline at work, long evenings")

    # 2) the check-in that is a setback
    page.goto("/me/checkin/phq9")
    for number, value in answers_summing_to(target).items():
        choose(page, number, value)
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Thank you for your {PHQ9.short_name}"
    )
    expect(page.locator(".result-score")).to_contain_text(f"{target} out of 27")
    expect(page.get_by_role("region", name="If you need help now")).to_have_count(0)
    change = page.get_by_role("region", name="What changed")
    expect(change).to_contain_text("Your score has slipped back from your best so far")

    # 3) a setback reflection
    page.goto("/me/journal/reflection")
    page.get_by_label("What happened?").fill("A hard week at work; I stopped going for walks.")
    page.get_by_label("What did I notice in myself").fill("Tired, and I was hard on myself.")
    page.get_by_label("What helped, even a little?").fill("Talking to my sister.")
    page.get_by_label("What have I learned for next time?").fill("Keep the walks, even short.")
    page.get_by_role("button", name="Save reflection").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your reflection is saved")
    page.get_by_role("link", name="See my progress").first.click()

    # 4) "My progress": a setback inside progress, explained, with the stressor as context
    expect(page.get_by_role("heading", level=1)).to_have_text("My progress")
    measure = page.get_by_role("region", name=phq["name"], exact=True)
    expect(measure.locator(".notice")).to_contain_text(
        "You are in a setback: one step back inside your progress."
    )
    # not "worse than at the start" (deterioration is never hidden, but this is not one)
    expect(measure.locator(".notice").filter(has_text="Worse than at the start")).to_have_count(0)
    latest = measure.locator(".explanation")
    expect(latest.first).to_be_visible()
    explained = " ".join(latest.all_inner_texts())
    assert "Your score has slipped back from your best so far, by more than everyday ups" in (
        explained
    ), explained
    if target < intake:
        assert "You are still better off than when you started." in explained, explained
    elif target == intake:
        assert "You are still no worse off than when you started." in explained, explained
    else:
        assert "It is still within everyday ups and downs of where you started." in explained
    assert re.search(
        r"Setbacks are common in therapy|who had a setback at a similar stage", explained
    ), explained
    assert re.search(r"You noted stress with [^.]*\bwork\b", explained), explained
    # the stressor is listed beside the chart, and the table marks the setback
    expect(stressor_list).to_have_count(stressors_before + 1)
    expect(measure.locator("ul.stressors")).to_contain_text(
        f"From {started}: work (how hard: 4 of 5)"
    )
    measure.get_by_text(f"Show my {phq['name']} scores as a table").click()
    last_row = measure.locator("table tbody tr").last
    expect(last_row).to_contain_text(str(target))
    expect(last_row.locator("td").last).to_contain_text("setback")
    chart = page.request.get("/me/progress/phq9/chart.svg")
    assert chart.status == 200
    svg = chart.text()
    assert "stressor logged" in svg
    assert "setback" in svg

    shot(measure, "journey-progress-setback-desktop")

    # server side: the new check-in is a setback onset, the stressor and reflection are stored
    phq_after = next(
        m for m in api_json(page, "/api/v1/me/progress") if m["instrument_id"] == "phq9"
    )
    newest = phq_after["points"][-1]
    assert newest["score"] == target, newest
    assert newest["event"] == "setback", newest
    assert newest["status"] != "deteriorated", newest
    assert any(
        x["category"] == "work" and x["severity"] == 4 and x["started_on"] == started.isoformat()
        for x in phq_after["stressors"]
    ), phq_after["stressors"]
    reflections = api_json(page, "/api/v1/me/reflections")
    listed = reflections["reflections"] if isinstance(reflections, dict) else reflections
    assert any("stopped going for walks" in (r.get("what_happened") or "") for r in listed)
    assert s.errors == [], s.errors


# ------------------------------------------------------- 3. goal review and alert


def test_a_therapist_reviews_a_goal_and_resolves_a_risk_alert(
    site: Site, sign_in: Callable[..., Session]
) -> None:
    client_name = name_of(site, REVIEW_CLIENT)
    client_id = site.user_id(REVIEW_CLIENT)
    s = sign_in(therapist_of(site, REVIEW_CLIENT))
    page = s.page
    assert client_name in calm_names_at(page), "precondition: no concern flagged yet"

    # the client answers the risk question and leaves without sending (the draft alerts)
    client = sign_in(REVIEW_CLIENT)
    client.page.goto("/me/checkin/phq9")
    choose(client.page, 9, 1)
    expect_crisis_resources(crisis_box(client.page, "#crisis-alert"), site)
    before = dict(attention_entries(page))
    assert before.get(client_name) == ["Risk item"], f"{client_name}: {before.get(client_name)}"

    # the goal review: level +1 on one goal, with notes
    page.goto(f"/clients/{client_id}/goals")
    expect(page.get_by_role("heading", level=1)).to_contain_text(client_name)
    gas = page.get_by_role("region", name="Goal attainment (GAS T-score)")
    day = day_words(today())
    expect(gas.locator("tbody tr").filter(has_text=day)).to_have_count(0)
    goal = (
        page.locator("article.goal")
        .filter(has=page.get_by_role("button", name="Record review"))
        .first
    )
    goal_id = (goal.get_attribute("id") or "").removeprefix("goal-")
    assert goal_id
    goal.get_by_role("radio", name=re.compile(r"^\+1 — ")).check()
    notes = f"Walked three times this week ({uuid.uuid4().hex[:6]})"
    goal.get_by_label("Notes (optional)").fill(notes)
    goal.get_by_role("button", name="Record review").click()
    expect(page).to_have_url(re.compile(rf"/clients/{client_id}/goals#goal-{goal_id}$"))
    # one goal rated today at +1: T = 50 + 10 x (+1) whatever its weight (Kiresuk & Sherman)
    row = gas.locator("tbody tr").filter(has_text=day)
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(1)).to_have_text("60.0")
    expect(row.locator("td").nth(2)).to_contain_text("1")
    reviewed = page.locator(f"#goal-{goal_id}")
    reviewed.get_by_text(re.compile(r"^Reviews \(\d+\)$")).click()
    expect(reviewed.locator("details ul")).to_contain_text(f"level +1 — {notes}")
    shot(gas, "journey-goal-review-desktop")
    goals = api_json(page, f"/api/v1/clients/{client_id}/goals")
    assert goals["gas"][-1]["t_score"] == 60.0, goals["gas"][-1]

    # the risk alert, resolved on the timeline with the action taken
    page.goto(f"/clients/{client_id}")
    open_alerts = page.get_by_role("region", name=re.compile(r"^Open alerts"))
    cards = open_alerts.locator("article.alert-card")
    n_open = cards.count()
    risk_card = cards.filter(has=page.get_by_role("heading", name=re.compile("Risk item answered")))
    expect(risk_card).to_have_count(1)
    alert_id = (risk_card.get_attribute("id") or "").removeprefix("alert-")
    expect(risk_card).to_contain_text("Risk item answered (PHQ-9) — rule: risk item > 0 in an")
    expect(risk_card).to_contain_text("unsubmitted check-in")
    expect(risk_card).not_to_contain_text("draft True")  # no raw parameter dump
    risk_card.get_by_text("Resolve…").click()
    action = "Phoned the client the same day; safety plan reviewed; no current intent."
    risk_card.get_by_label("Action taken (required)").fill(action)
    page.get_by_role("heading", level=1).scroll_into_view_if_needed()
    shot(page, "journey-timeline-resolve-desktop")
    risk_card.get_by_role("button", name="Resolve", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/clients/{client_id}#alert-{alert_id}$"))
    expect(open_alerts).to_contain_text(f"Open alerts ({n_open - 1})")
    expect(page.locator(f"#alert-{alert_id}")).to_have_count(0)
    expect(open_alerts.get_by_role("heading", name=re.compile("Risk item answered"))).to_have_count(
        0
    )
    history = page.get_by_role("region", name="Timeline (newest first)")
    expect(history.get_by_text(f"resolved; action taken: {action}")).to_have_count(1)

    # the triage reason is gone: the client now has no concern flagged
    after = dict(attention_entries(page))
    assert client_name not in after, after.get(client_name)
    assert client_name in calm_names(page)
    # server side: the alert is resolved with the action taken
    every = api_json(page, f"/api/v1/clients/{client_id}/alerts?include_resolved=true")["alerts"]
    resolved = next(a for a in every if a["id"] == alert_id)
    assert resolved["status"] == "resolved", resolved
    assert resolved["action_taken"] == action, resolved
    assert s.errors == [], s.errors


# ---------------------------------------------------------- 4. other people's records


def foreign_paths(client_id: str) -> list[str]:
    return [
        f"/clients/{client_id}",
        f"/clients/{client_id}/goals",
        f"/clients/{client_id}/prep",
        f"/clients/{client_id}/alliance",
        f"/clients/{client_id}/charts/phq9.svg",
        f"/api/v1/clients/{client_id}/timeline",
        f"/api/v1/clients/{client_id}/alerts",
        f"/api/v1/clients/{client_id}/goals",
        f"/api/v1/clients/{client_id}/prep",
    ]


def assert_refused(
    page: Page, path: str, statuses: tuple[int, ...], secrets: list[str], *, browse: bool
) -> None:
    """GET ``path`` (as a page when ``browse``): refused, and nothing of the other client shown."""
    if browse:
        response = page.goto(path)
        assert response is not None
        status, body = response.status, page.content()
    else:
        api = page.request.get(path)
        status, body = api.status, api.text()
    assert status in statuses, f"{path}: HTTP {status}"
    for secret in secrets:
        assert secret.casefold() not in body.casefold(), f"{path} shows {secret!r}"


def test_nobody_reaches_another_clients_record(site: Site, sign_in: Callable[..., Session]) -> None:
    other_id = site.user_id(OTHER_CLIENT)
    lees_id = site.user_id(LEES_CLIENT)
    canary = f"canary {uuid.uuid4().hex}"

    # the other client leaves something of their own: a topic and a saved draft
    other = sign_in(OTHER_CLIENT)
    op = other.page
    op.goto("/me/next-session")
    op.get_by_label("What would you like to talk about?").fill(canary)
    op.get_by_role("button", name="Add to my list").click()
    expect(op.get_by_text(canary)).to_have_count(1)
    op.goto("/me/checkin/phq9")
    choose(op, 1, 3)
    choose(op, 2, 3)
    op.get_by_role("button", name="Save and finish later").click()
    expect(op.get_by_role("status").first).to_contain_text("Your answers are saved")

    secrets = [name_of(site, OTHER_CLIENT), OTHER_CLIENT, canary]
    nosy = sign_in(NOSY_CLIENT)
    page = nosy.page
    for path in foreign_paths(other_id) + foreign_paths(lees_id):
        browse = not path.startswith("/api/")
        assert_refused(
            page, path, (403, 404), [*secrets, name_of(site, LEES_CLIENT)], browse=browse
        )
    # drafts are bound to the session: the other client's answers never show up here
    draft = page.request.get("/api/v1/me/checkins/phq9/draft")
    assert draft.status in (200, 404), draft.status
    if draft.status == 200:
        assert draft.json().get("answers", {}).get("item_1") != 3
    page.goto("/me/checkin/phq9")
    expect(item_group(page, 1).get_by_role("radio", checked=True)).to_have_count(0)
    expect(item_group(page, 2).get_by_role("radio", checked=True)).to_have_count(0)
    # the client's own pages still work (the refusals above are not a broken session)
    response = page.goto("/me/progress")
    assert response is not None
    assert response.status == 200

    # a therapist: 404 (not 403) for a client of the other therapist ...
    dana = sign_in(site.login("therapist", 0))
    assert LEES_CLIENT not in site.clients_of(site.login("therapist", 0))
    lee_secrets = [name_of(site, LEES_CLIENT), LEES_CLIENT]
    for path in foreign_paths(lees_id):
        assert_refused(dana.page, path, (404,), lee_secrets, browse=not path.startswith("/api/"))
    # ... while her own client's timeline (with the topic) opens
    response = dana.page.goto(f"/clients/{other_id}")
    assert response is not None
    assert response.status == 200
    expect(dana.page.get_by_role("heading", level=1)).to_contain_text(name_of(site, OTHER_CLIENT))
