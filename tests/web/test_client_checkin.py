"""The client's home and check-in pages and API (/me, /me/checkin, /api/v1/me/checkins)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from service_world import CRISIS, DELAY, World

from twostep.domain.records import AlertKind, AlertStatus

#: Changes need If-Match (IN-02); these tests are not about concurrency.
ANY_VERSION = {"If-Match": "*"}
NEW_DRAFT = {"If-None-Match": "*"}  # a draft is started with If-None-Match

Client = Callable[[str], TestClient]

CRISIS_LINE = "Samaritans: call 116 123."
PHQ9_ITEM9 = "Thoughts that you would be better off dead or of hurting yourself in some way"


def form(token: str, answers: dict[str, object], action: str = "submit") -> dict[str, str]:
    out = {k: str(v) for k, v in answers.items()}
    out["csrf_token"] = token
    out["action"] = action
    return out


def phq9_form(item9: int, rest: int = 1) -> dict[str, object]:
    answers: dict[str, object] = {f"item_{i}": rest for i in range(1, 9)}
    answers["item_9"] = item9
    return answers


def risk_alerts(w: World, name: str) -> list[object]:
    return [
        a
        for a in w.store.rows("alerts")
        if a.client_id == w.id(name) and a.kind is AlertKind.RISK and a.status is AlertStatus.OPEN
    ]


# ------------------------------------------------------------------------ pages


def test_home_shows_due_checkins_and_calm_crisis_box(as_user: Client) -> None:
    client = as_user("client_a1")
    page = client.get("/me")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    assert "Hello, Client A1" in html
    assert 'href="/me/checkin/phq9"' in html
    assert "If you need help now" in html
    assert CRISIS_LINE in html
    assert 'href="/me/progress"' in html


def test_checkin_list_and_phq9_form_with_item_text(as_user: Client) -> None:
    client = as_user("client_a1")
    listing = client.get("/me/checkin")
    assert listing.status_code == 200
    assert "Questionnaire 1 of 2" in listing.text
    page = client.get("/me/checkin/phq9")
    assert page.status_code == 200
    html = page.text
    assert "Questionnaire 1 of 2" in html
    assert PHQ9_ITEM9 in html  # PHQ-9's wording may be shown
    assert html.count("<fieldset") == 10
    assert html.count("<legend>") == 10
    # the live region for crisis resources sits right below the risk question (item 9)
    region = html.index('<div id="crisis-alert" role="alert"')
    assert html.index('name="item_9"') < region < html.index('name="item_10"')
    assert DELAY in html
    assert 'name="csrf_token"' in html
    assert 'hx-post="/me/checkin/phq9/draft"' in html
    assert "Save and finish later" in html


def test_scoring_only_instruments_show_no_item_text(as_user: Client) -> None:
    client = as_user("client_a1")
    ors = client.get("/me/checkin/ors").text
    assert "does not include it" in ors  # the honest note
    assert 'type="number"' in ors
    assert 'step="0.1"' in ors
    assert "Personal well-being" in ors  # twostep's own description
    assert ors.count("<label for=") == 4
    core = client.get("/me/checkin/core10").text
    assert "not been confirmed" in core
    assert "Tension and anxiety" in core
    phq = client.get("/me/checkin/phq9").text
    assert "does not include it" not in phq
    assert "not been confirmed" not in phq


def test_unknown_instrument_page_is_404(as_user: Client) -> None:
    assert as_user("client_a1").get("/me/checkin/nope").status_code == 404


def test_form_submit_without_js_shows_score_band_explanation(
    as_user: Client, web_world: World
) -> None:
    client = as_user("client_a1")
    token = client.headers["X-CSRF-Token"]
    res = client.post(
        "/me/checkin/phq9", data=form(token, phq9_form(0, rest=2)), follow_redirects=True
    )
    assert res.status_code == 200, res.text
    assert [r.status_code for r in res.history] == [303]  # Post/Redirect/Get
    html = res.text
    assert "<strong>16</strong> out of 27" in html
    assert "Moderately severe" in html or "moderately severe" in html.lower()
    assert "What changed" in html
    assert "Next: GAD-7" in html
    assert CRISIS_LINE not in html
    stored = [
        a
        for a in web_world.store.rows("administrations")
        if a.client_id == web_world.id("client_a1")
    ]
    assert [a.total for a in stored] == [16.0]


def test_risk_answer_on_submit_shows_crisis_and_alerts(as_user: Client, web_world: World) -> None:
    client = as_user("client_a1")
    token = client.headers["X-CSRF-Token"]
    res = client.post("/me/checkin/phq9", data=form(token, phq9_form(1)), follow_redirects=True)
    assert res.status_code == 200
    assert CRISIS_LINE in res.text
    assert "Your therapist has been told about your answer." in res.text
    assert DELAY in res.text
    assert '<span class="tag info">Your safety</span>' in res.text  # calm, no alarm sign
    assert "tier" not in res.text.lower()  # no risk level shown to the client
    assert len(risk_alerts(web_world, "client_a1")) == 1


def test_risk_answer_in_a_draft_alerts_at_once_htmx(as_user: Client, web_world: World) -> None:
    client = as_user("client_a1")
    res = client.post(
        "/me/checkin/phq9/draft", data={"item_9": "1"}, headers={"HX-Request": "true"}
    )
    assert res.status_code == 200
    assert 'hx-swap-oob="innerHTML"' in res.text
    assert CRISIS_LINE in res.text
    assert DELAY in res.text
    assert "Saved: 1 of 10 answered." in res.text
    [alert] = risk_alerts(web_world, "client_a1")
    assert alert.parameters["draft"] is True
    # the form restores the draft, and shows the crisis box server-side
    page = client.get("/me/checkin/phq9").text
    assert 'name="item_9" value="1" checked' in page
    assert CRISIS_LINE in page


def test_save_and_finish_later_without_js(as_user: Client, web_world: World) -> None:
    client = as_user("client_a1")
    token = client.headers["X-CSRF-Token"]
    answers = {"item_1": 2, "item_9": 2}
    res = client.post("/me/checkin/phq9", data=form(token, answers, action="save"))
    assert res.status_code == 200
    assert "Your answers are saved" in res.text
    assert CRISIS_LINE in res.text
    assert len(risk_alerts(web_world, "client_a1")) == 1
    assert web_world.store.rows("administrations") == []


def test_invalid_form_answer_rerenders_with_error(as_user: Client, web_world: World) -> None:
    client = as_user("client_a1")
    token = client.headers["X-CSRF-Token"]
    answers = phq9_form(1)
    answers["item_2"] = "lots"
    res = client.post("/me/checkin/phq9", data=form(token, answers))
    assert res.status_code == 422
    assert "Some answers need another look" in res.text
    assert 'href="#q-item_2"' in res.text
    assert CRISIS_LINE in res.text  # the risk answer still shows help at once
    assert len(risk_alerts(web_world, "client_a1")) == 1  # and reaches the therapist


def test_form_post_without_csrf_is_refused(as_user: Client) -> None:
    client = as_user("client_a1")
    del client.headers["X-CSRF-Token"]
    res = client.post("/me/checkin/phq9", data={"item_1": "1", "action": "submit"})
    assert res.status_code == 403


def test_therapist_gets_403_on_client_pages(as_user: Client) -> None:
    client = as_user("ther_a")
    for path in ("/me", "/me/checkin", "/me/checkin/phq9"):
        assert client.get(path).status_code == 403, path
    res = client.post("/me/checkin/phq9/draft", data={"item_9": "1"})
    assert res.status_code == 403


def test_signed_out_is_sent_to_sign_in_or_401(anonymous: TestClient) -> None:
    assert anonymous.get("/me/checkin").headers["location"] == "/login"
    assert anonymous.get("/api/v1/me/checkins/due").status_code == 401


# -------------------------------------------------------------------------- API


def test_api_due_lists_the_clinic_questionnaires(as_user: Client) -> None:
    res = as_user("client_a1").get("/api/v1/me/checkins/due")
    assert res.status_code == 200
    body = res.json()
    assert [d["instrument_id"] for d in body] == ["phq9", "gad7"]
    assert all(d["due_now"] for d in body)


def test_api_submit_returns_score_band_explanation(as_user: Client) -> None:
    client = as_user("client_a1")
    answers = {f"item_{i}": 2 for i in range(1, 9)} | {"item_9": 0, "item_10": None}
    res = client.post("/api/v1/me/checkins", json={"instrument_id": "phq9", "answers": answers})
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["score"] == 16.0
    assert body["band"].lower() == "moderately severe"
    assert body["risk"] is False
    assert body["show_crisis_resources"] is False
    assert body["crisis_text"] is None
    assert body["delay_notice"] == DELAY
    assert isinstance(body["explanation"], str)
    assert body["explanation"]
    for e in body["explanations"]:
        assert set(e) == {"topic", "label", "level", "text", "details"}  # no therapist text


def test_api_risk_item_gives_crisis_text_and_an_open_alert(
    as_user: Client, web_world: World
) -> None:
    client = as_user("client_a1")
    answers = {f"item_{i}": 1 for i in range(1, 9)} | {"item_9": 1}
    res = client.post("/api/v1/me/checkins", json={"instrument_id": "phq9", "answers": answers})
    assert res.status_code == 201
    body = res.json()
    assert body["risk"] is True
    assert body["show_crisis_resources"] is True
    assert body["crisis_text"] == CRISIS
    assert len(risk_alerts(web_world, "client_a1")) == 1
    assert "level" not in {k for k in body if k.startswith("risk_level")}


def test_api_draft_with_risk_alerts_at_once(as_user: Client, web_world: World) -> None:
    client = as_user("client_a1")
    res = client.put(
        "/api/v1/me/checkins/phq9/draft", headers=NEW_DRAFT, json={"answers": {"item_9": 1}}
    )
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["show_crisis_resources"] is True
    assert body["crisis_text"] == CRISIS
    assert body["delay_notice"] == DELAY
    [alert] = risk_alerts(web_world, "client_a1")
    assert alert.administration_id is None
    # a second save of the same draft does not alert twice; the draft reads back
    client.put(
        "/api/v1/me/checkins/phq9/draft", headers=ANY_VERSION, json={"answers": {"item_1": 3}}
    )
    got = client.get("/api/v1/me/checkins/phq9/draft").json()
    assert got["answers"] == {"item_9": 1.0, "item_1": 3.0}
    assert len(risk_alerts(web_world, "client_a1")) == 1
    assert client.delete("/api/v1/me/checkins/phq9/draft").status_code == 204
    assert client.get("/api/v1/me/checkins/phq9/draft").status_code == 404
    assert len(risk_alerts(web_world, "client_a1")) == 1  # the answer was given: the alert stays


def test_other_users_drafts_are_unreachable(as_user: Client) -> None:
    a2 = as_user("client_a2")
    assert (
        a2.put(
            "/api/v1/me/checkins/gad7/draft", headers=NEW_DRAFT, json={"answers": {"item_1": 2}}
        ).status_code
        == 200
    )
    a1 = as_user("client_a1")
    assert a1.get("/api/v1/me/checkins/gad7/draft").status_code == 404
    assert " checked" not in a1.get("/me/checkin/gad7").text  # a1 has no gad7 draft of theirs
    therapist = as_user("ther_a")
    assert therapist.get("/api/v1/me/checkins/gad7/draft").status_code == 403
    assert (
        therapist.put(
            "/api/v1/me/checkins/gad7/draft", headers=ANY_VERSION, json={"answers": {"item_1": 1}}
        ).status_code
        == 403
    )


def test_api_strict_answers(as_user: Client) -> None:
    client = as_user("client_a1")
    for bad in ("3", True, [1], {"v": 1}):
        res = client.post(
            "/api/v1/me/checkins", json={"instrument_id": "phq9", "answers": {"item_1": bad}}
        )
        assert res.status_code == 422, bad
        assert res.headers["content-type"].startswith("application/problem+json")
        pointers = [e["pointer"] for e in res.json()["errors"]]
        assert any(p.startswith("/answers/item_1") for p in pointers), pointers
    res = client.post(
        "/api/v1/me/checkins",
        json={"instrument_id": "phq9", "answers": {}, "client_id": "someone-else"},
    )
    assert res.status_code == 422
    res = client.put(
        "/api/v1/me/checkins/phq9/draft", headers=ANY_VERSION, json={"answers": {"item_9": "1"}}
    )
    assert res.status_code == 422


def test_api_answers_out_of_range_or_unknown_are_422(as_user: Client) -> None:
    client = as_user("client_a1")
    res = client.post(
        "/api/v1/me/checkins", json={"instrument_id": "phq9", "answers": {"item_1": 7}}
    )
    assert res.status_code == 422
    res = client.post("/api/v1/me/checkins", json={"instrument_id": "nope", "answers": {}})
    assert res.status_code == 422
    assert res.json()["errors"][0]["pointer"] in ("/instrument", "/instrument_id")


def test_api_therapist_cannot_use_client_checkin_routes(as_user: Client) -> None:
    therapist = as_user("ther_a")
    assert therapist.get("/api/v1/me/checkins/due").status_code == 403
    res = therapist.post(
        "/api/v1/me/checkins", json={"instrument_id": "phq9", "answers": {"item_1": 1}}
    )
    assert res.status_code == 403


def test_a_late_autosave_after_submitting_does_not_revive_the_draft(
    as_user: Client, web_world: World
) -> None:
    client = as_user("client_a1")
    token = client.headers["X-CSRF-Token"]
    page = client.get("/me/checkin/phq9").text
    opened = page.split('name="opened_at" value="')[1].split('"')[0]
    res = client.post("/me/checkin/phq9", data=form(token, phq9_form(0)), follow_redirects=True)
    assert res.status_code == 200
    late = client.post(
        "/me/checkin/phq9/draft",
        data={"item_1": "1", "opened_at": opened},
        headers={"HX-Request": "true"},
    )
    assert "Your answers have been sent." in late.text
    assert client.get("/api/v1/me/checkins/phq9/draft").status_code == 404
    # a form opened after that saves as usual
    fresh = client.post(
        "/me/checkin/phq9/draft", data={"item_1": "1"}, headers={"HX-Request": "true"}
    )
    assert "Saved: 1 of 10 answered." in fresh.text


def test_ors_visual_analogue_answers_by_form_and_api(as_user: Client) -> None:
    client = as_user("client_a1")
    token = client.headers["X-CSRF-Token"]
    lines = {"item_1": "7.5", "item_2": "6", "item_3": "5,5", "item_4": "8.0"}
    res = client.post("/me/checkin/ors", data=form(token, lines), follow_redirects=True)
    assert res.status_code == 200, res.text
    assert "<strong>27</strong> out of 40" in res.text
    assert "a higher score means you are doing better" in res.text
    bad = client.post("/me/checkin/ors", data=form(token, lines | {"item_2": "11"}))
    assert bad.status_code == 422
    answers = {"item_1": 2.5, "item_2": 3, "item_3": 4.0, "item_4": 2.5}
    api = client.post("/api/v1/me/checkins", json={"instrument_id": "ors", "answers": answers})
    assert api.status_code == 201, api.text
    assert api.json()["score"] == 12.0
    assert api.json()["in_clinical_range"] is True
