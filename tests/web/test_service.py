"""The service-outcomes dashboard (/service) and its API (aggregates only, small cells hidden)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_world import World
from test_outcomes import add_episode, hand_case

from twostep.domain.records import Role, User, new_id

URL = "/api/v1/service/outcomes"
Client = Callable[[str], TestClient]


def cell(row: dict[str, object], rate: str) -> dict[str, object]:
    cells = row["cells"]
    assert isinstance(cells, list)
    return next(c for c in cells if c["rate"] == rate)


def test_api_gives_rates_with_wilson_intervals(web_world: World, as_user: Client) -> None:
    hand_case(web_world, "ther_a")
    res = as_user("admin").get(URL, params={"group": "none", "period": "2024-Q2"})
    assert res.status_code == 200
    body = res.json()
    assert body["view"] == "admin"
    assert body["n_episodes"] == 14
    ri = cell(body["total"], "reliable_improvement")
    assert (ri["numerator"], ri["denominator"], ri["hidden"]) == (10, 14, None)
    assert ri["lower"] == pytest.approx(0.4535, abs=1e-3)
    assert ri["upper"] == pytest.approx(0.8828, abs=1e-3)
    det = cell(body["total"], "reliable_deterioration")
    assert det == {
        "rate": "reliable_deterioration",
        "numerator": None,
        "denominator": None,
        "proportion": None,
        "lower": None,
        "upper": None,
        "hidden": "small",
    }
    assert body["suppression_threshold"] == 10
    assert {d["rate"] for d in body["definitions"]} >= {"recovery", "plateau"}


def test_no_client_identity_in_any_view(web_world: World, as_user: Client) -> None:
    hand_case(web_world, "ther_a")
    hand_case(web_world, "ther_b")
    client_names = [u.display_name for u in web_world.users.values() if Role.CLIENT in u.roles]
    client_ids = [u.id for u in web_world.users.values() if Role.CLIENT in u.roles]
    for who in ("admin", "researcher", "ther_a"):
        c = as_user(who)
        for text in (c.get(URL).text, c.get("/service").text):
            for secret in (*client_names, *client_ids):
                assert secret not in text, (who, secret)
    research = as_user("researcher").get(URL).json()
    assert {r["label"] for r in research["rows"]} == {"Therapist 1", "Therapist 2"}
    assert "Ther A" not in as_user("researcher").get("/service").text
    ther = as_user("ther_a").get(URL).json()
    assert [r["label"] for r in ther["rows"]] == ["You"]
    assert ther["rows"][0]["is_own"] is True
    assert cell(ther["rows"][0], "reliable_improvement")["numerator"] == 10
    admin = as_user("admin").get(URL).json()
    assert {r["label"] for r in admin["rows"]} == {"Ther A", "Ther B"}


def test_page_shows_rates_definitions_and_hidden_cells(web_world: World, as_user: Client) -> None:
    hand_case(web_world, "ther_a")
    page = as_user("admin").get("/service", params={"group": "period"})  # exact counts
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    assert "76.9 %" in html  # recovery 10/13
    assert "95 % CI 49.7 % to 91.8 %" in html
    assert "fewer than 10" in html
    assert "What the rates mean" in html
    assert "Reliable deterioration" in html
    assert "2024-Q2" in html
    assert "No norms have been fitted" in html
    assert '<label for="period">' in html
    assert '<label for="group">' in html


def test_therapist_names_are_escaped_for_admins(web_world: World, as_user: Client) -> None:
    t = web_world.users["ther_a"]
    with web_world.factory() as uow:
        uow.users.update(
            User(t.id, t.clinic_id, t.email, "<b>Ther</b>", t.roles, True, t.created_at)
        )
        uow.commit()
    hand_case(web_world, "ther_a")
    html = as_user("admin").get("/service").text
    assert "<b>Ther</b>" not in html
    assert "&lt;b&gt;Ther&lt;/b&gt;" in html


@pytest.mark.parametrize(
    "params",
    [{"period": "2024-Q9"}, {"period": "x" * 40}, {"group": "client"}, {"period": "2024-5"}],
)
def test_bad_filters_are_422(as_user: Client, params: dict[str, str]) -> None:
    res = as_user("admin").get(URL, params=params)
    assert res.status_code == 422
    assert res.headers["content-type"].startswith("application/problem+json")
    page = as_user("admin").get("/service", params=params)
    assert page.status_code == 422
    assert "text/html" in page.headers["content-type"]


def test_roles(anonymous: TestClient, as_user: Client) -> None:
    assert anonymous.get(URL).status_code == 401
    assert as_user("client_a1").get(URL).status_code == 403
    assert as_user("client_a1").get("/service").status_code == 403
    for who in ("ther_a", "admin", "researcher", "ther_admin"):
        assert as_user(who).get(URL).status_code == 200


def test_other_clinic_is_never_counted(web_world: World, as_user: Client) -> None:
    hand_case(web_world, "ther_x")
    assert as_user("admin").get(URL).json()["n_episodes"] == 0
    assert as_user("ther_x").get(URL).json()["n_episodes"] == 14


def test_read_is_audited_as_an_aggregate(web_world: World, as_user: Client) -> None:
    add_episode(web_world, "ther_a", [18, 6], [14, 5])
    before = len(web_world.store.audit_events)
    as_user("researcher").get(URL)
    events = [
        e for e in web_world.store.audit_events[before:] if e.object_type == "service_outcomes"
    ]
    assert len(events) == 1
    assert events[0].client_id is None
    assert events[0].request_id  # the web request's id reaches the audit
    assert new_id() != events[0].request_id


def test_norms_status_is_listed(web_world: World, tmp_path: Path) -> None:
    from twostep.analytics.norms_model import (
        DEFAULT_TAUS,
        MODEL_NAME,
        Coverage,
        NormsModel,
        ScaleInfo,
    )
    from twostep.config import Settings
    from twostep.security.passwords import Hasher
    from twostep.web.app import create_app

    model = NormsModel(
        format_version=1,
        instrument_id="phq9",
        model=MODEL_NAME,
        taus=DEFAULT_TAUS,
        coefficients=((1.0, 0.5, -1.0, -0.1),) * len(DEFAULT_TAUS),
        t_cap=20,
        scale=ScaleInfo(0, 27),
        training_first_day="2023-01-02",
        training_last_day="2024-06-01",
        n_episodes=412,
        n_scores=3000,
        coverage=Coverage(0.9, 0.1, 0.02, (0.13, 0.12), (10, 10), 0.125, 20, False),
        created_at="2024-06-30T12:00:00+00:00",
    )
    hasher = Hasher(time_cost=1, memory_cost=1024, parallelism=1)
    digest = hasher.hash("a long enough test passphrase")
    with web_world.factory() as uow:
        uow.users.set_password_hash(web_world.id("researcher"), digest)
        uow.commit()
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}", data_dir=tmp_path)
    app = create_app(settings, uow_factory=web_world.factory, hasher=hasher, norms={"phq9": model})
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        email = web_world.users["researcher"].email
        res = c.post(
            "/api/v1/session", json={"email": email, "password": "a long enough test passphrase"}
        )
        assert res.status_code == 201
        (norms,) = c.get(URL).json()["norms"]
        assert norms["instrument"] == "phq9"
        assert norms["n_episodes"] == 412
        assert norms["coverage_passed"] is False
        assert norms["training_window"] == "2023-01-02 to 2024-06-01"
        html = c.get("/service").text
        assert "412" in html
        assert "failed" in html
        assert "12.5 % above the upper band" in html
