"""The client's progress, growth and next-session pages and API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from service_world import NOW, World

from twostep.analytics.norms_model import (
    DEFAULT_TAUS,
    MODEL_NAME,
    Coverage,
    NormsModel,
    ScaleInfo,
)
from twostep.config import Settings
from twostep.domain.skills import SKILL_IDS
from twostep.security.passwords import Hasher
from twostep.services.journal import add_skill_practice, add_stressor
from twostep.web.app import create_app
from twostep.web.middleware import SVG_CSP

Client = Callable[[str], TestClient]
PASSWORD = "a long enough test passphrase"  # as in conftest.py
FAST_HASHER = Hasher(time_cost=1, memory_cost=1024, parallelism=1)


def history(w: World) -> None:
    """PHQ-9 20 → 18 → (missed) → 11 → 17 (setback) → 9, and a stressor before the setback."""
    w.series("client_a1", [20, 18, None, 11, 17, 9])
    add_stressor(
        w.factory,
        w.actor("client_a1"),
        w.id("client_a1"),
        category="work",
        severity=4,
        started_on=(NOW - timedelta(weeks=12) + timedelta(weeks=4, days=2)).date(),
        now=NOW,
    )


def test_progress_page_with_chart_table_and_explanation(as_user: Client, web_world: World) -> None:
    history(web_world)
    page = as_user("client_a1").get("/me/progress")
    assert page.status_code == 200
    html = page.text
    assert '<img class="chart" src="/me/progress/phq9/chart.svg" alt="Chart of your PHQ-9' in html
    assert "<table>" in html
    assert "<caption>" in html
    assert "A big step back (we will see if it lasts)" in html  # the drop at check-in 5
    assert "Your score has improved by more than everyday ups and downs" in html
    assert "clinical cut-off (10)" in html
    assert "work (how hard: 4 of 5)" in html
    assert "missed" in html


def test_deterioration_is_never_hidden(as_user: Client, web_world: World) -> None:
    web_world.series("client_a1", [8, 9, 16])
    html = as_user("client_a1").get("/me/progress").text
    assert "Worse than at the start" in html
    assert "reliable deterioration" in html  # in the table's marks


def test_chart_svg(as_user: Client, web_world: World) -> None:
    history(web_world)
    client = as_user("client_a1")
    res = client.get("/me/progress/phq9/chart.svg")
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("image/svg+xml")
    assert res.headers["content-security-policy"] == SVG_CSP
    assert res.headers["cache-control"] == "no-store"
    svg = res.text
    assert svg.startswith("<svg")
    assert "<script" not in svg.lower()
    for label in (
        "clinical cut-off (10)",
        "everyday ups and downs of best so far",
        "sudden loss",
        "stressor logged",
    ):
        assert label in svg, label
    assert client.get("/me/progress/gad7/chart.svg").status_code == 404  # no GAD-7 scores


def test_another_clients_chart_is_not_reachable(as_user: Client, web_world: World) -> None:
    history(web_world)  # client_a1's scores
    res = as_user("client_a2").get("/me/progress/phq9/chart.svg")
    assert res.status_code == 404
    assert as_user("client_a2").get("/api/v1/me/progress").json() == []


def test_progress_api(as_user: Client, web_world: World) -> None:
    history(web_world)
    res = as_user("client_a1").get("/api/v1/me/progress")
    assert res.status_code == 200
    [m] = res.json()
    assert m["instrument_id"] == "phq9"
    assert m["cutoff"] == 10.0
    assert m["reliable_change"] == 6.0
    assert [p["score"] for p in m["points"]] == [20.0, 18.0, None, 11.0, 17.0, 9.0]
    p5 = m["points"][4]
    assert p5["in_setback"] is True
    assert (p5["fluctuation_low"], p5["fluctuation_high"]) == (11.0, 17.0)
    assert p5["event_label"].startswith("A big step back")
    assert m["explanation"].startswith("Your score has improved")
    assert m["stressors"][0]["category"] == "work"
    assert all("therapist" not in e for e in m["explanations"])
    assert m["chart_url"] == "/me/progress/phq9/chart.svg"


def test_growing_page_and_api(as_user: Client, web_world: World) -> None:
    add_skill_practice(
        web_world.factory,
        web_world.actor("client_a1"),
        web_world.id("client_a1"),
        skill_id=SKILL_IDS[0],
        helpfulness=7,
        practiced_at=datetime.now(UTC) - timedelta(minutes=5),
    )
    client = as_user("client_a1")
    page = client.get("/me/growing")
    assert page.status_code == 200
    html = page.text
    assert "You practised a coping skill 1 time." in html
    assert "Coping skills practised" in html
    assert '<meter min="0" max="1" value="1">1</meter>' in html
    assert "7.0 out of 10 on average" in html
    assert 'style="' not in html  # the CSP forbids inline styles
    body = client.get("/api/v1/me/growth").json()
    assert body["weeks"][-1]["skill_practice"] == 1
    assert body["weeks"][-1]["mean_helpfulness"] == 7.0
    assert body["highlights"][0] == "You practised a coping skill 1 time."


def test_next_session_topics_page_escapes_text(as_user: Client, web_world: World) -> None:
    client = as_user("client_a1")
    token = client.headers["X-CSRF-Token"]
    text = "<script>alert(1)</script> my sister & me"
    res = client.post("/me/next-session", data={"text": text, "csrf_token": token})
    assert res.status_code == 303
    assert res.headers["location"] == "/me/next-session?saved=1"
    page = client.get("/me/next-session?saved=1").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; my sister &amp; me" in page
    assert "<script>alert(1)" not in page
    assert "Saved." in page
    empty = client.post("/me/next-session", data={"text": "   ", "csrf_token": token})
    assert empty.status_code == 422
    assert 'aria-invalid="true"' in empty.text
    topics = client.get("/api/v1/me/session-topics").json()
    assert [t["text"] for t in topics] == [text]


def test_session_topics_api(as_user: Client) -> None:
    client = as_user("client_a1")
    res = client.post("/api/v1/me/session-topics", json={"text": "sleep"})
    assert res.status_code == 201
    assert res.json()["text"] == "sleep"
    assert res.json()["addressed_at"] is None
    for bad in ({"text": 3}, {"text": ""}, {"text": "x", "client_id": "c"}, {}):
        r = client.post("/api/v1/me/session-topics", json=bad)
        assert r.status_code == 422, bad
        assert r.headers["content-type"].startswith("application/problem+json")
    assert [t["text"] for t in client.get("/api/v1/me/session-topics").json()] == ["sleep"]
    other = as_user("client_a2").get("/api/v1/me/session-topics").json()
    assert other == []


def test_staff_get_403_on_client_progress_routes(as_user: Client, web_world: World) -> None:
    history(web_world)
    for name in ("ther_a", "admin", "researcher"):
        staff = as_user(name)
        for path in (
            "/me/progress",
            "/me/progress/phq9/chart.svg",
            "/me/growing",
            "/me/next-session",
            "/api/v1/me/progress",
            "/api/v1/me/growth",
            "/api/v1/me/session-topics",
        ):
            assert staff.get(path).status_code == 403, (name, path)
        res = staff.post("/api/v1/me/session-topics", json={"text": "x"})
        assert res.status_code == 403


def test_pages_have_ordered_headings_and_labels(as_user: Client, web_world: World) -> None:
    history(web_world)
    client = as_user("client_a1")
    for path in ("/me", "/me/progress", "/me/growing", "/me/next-session", "/me/checkin/phq9"):
        html = client.get(path).text
        assert html.count("<h1") == 1, path
        assert 'style="' not in html, path
        assert " onclick" not in html, path
        assert "<script>" not in html, path


def phq9_norms() -> NormsModel:
    """A small expected-response model for PHQ-9 (coefficients as in the kernel's tests)."""
    return NormsModel(
        format_version=1,
        instrument_id="phq9",
        model=MODEL_NAME,
        taus=DEFAULT_TAUS,
        coefficients=((1.0, 0.5, -1.0, -0.1),) * len(DEFAULT_TAUS),
        t_cap=20,
        scale=ScaleInfo(0, 27),
        training_first_day="2023-01-02",
        training_last_day="2024-06-01",
        n_episodes=400,
        n_scores=3000,
        coverage=Coverage(0.9, 0.1, 0.02, (0.1, float("nan")), (10, 0), 0.1, 10, True),
        created_at="2024-06-30T12:00:00+00:00",
    )


def test_expected_band_when_the_clinic_has_norms(web_world: World, tmp_path: Path) -> None:
    history(web_world)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}", data_dir=tmp_path)
    app = create_app(
        settings,
        uow_factory=web_world.factory,
        hasher=FAST_HASHER,
        norms={"phq9": phq9_norms()},
    )
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        email = web_world.users["client_a1"].email
        res = client.post("/api/v1/session", json={"email": email, "password": PASSWORD})
        assert res.status_code == 201
        svg = client.get("/me/progress/phq9/chart.svg").text
        assert "expected range (norms)" in svg
        page = client.get("/me/progress").text
        assert "Grey band: how people who started where you did usually go on" in page
        points = client.get("/api/v1/me/progress").json()[0]["points"]
        assert any(p["expected_low"] is not None for p in points)
