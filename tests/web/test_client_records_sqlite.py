"""Between-session records end to end on a real SQLite database (migrated schema, SQL storage,
free text encrypted at rest): every kind created through the API and the forms, read back,
downloaded, and seen by the therapist as the client's sharing choices allow."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from twostep.config import Settings
from twostep.domain.records import Assignment, Clinic, Episode, Role, User, new_id
from twostep.security.passwords import Hasher
from twostep.services.access import Actor
from twostep.services.timeline import client_timeline
from twostep.storage.engine import engine_from_settings
from twostep.storage.migrate import upgrade
from twostep.storage.unit_of_work import SqlUnitOfWorkFactory
from twostep.web.app import create_app

#: Changes need If-Match (IN-02); these tests are not about concurrency.
ANY_VERSION = {"If-Match": "*"}

PASSWORD = "a long enough test passphrase"
FAST_HASHER = Hasher(time_cost=1, memory_cost=1024, parallelism=1)  # tests only
BASE_URL = "https://testserver"

SqlApp = tuple[TestClient, SqlUnitOfWorkFactory, dict[str, str], str]


@pytest.fixture
def sql_app(tmp_path: Path) -> Iterator[SqlApp]:
    url = f"sqlite:///{tmp_path / 'twostep.db'}"
    settings = Settings(database_url=url, data_dir=tmp_path)
    upgrade(url)
    factory = SqlUnitOfWorkFactory(engine_from_settings(settings))
    now = datetime.now(UTC)
    clinic = Clinic(new_id(), "sqlite clinic", "Call 999.", "", created_at=now - timedelta(days=90))
    ids: dict[str, str] = {}
    digest = FAST_HASHER.hash(PASSWORD)
    with factory() as uow:
        uow.clinics.add(clinic)
        for name, role in (("ther", Role.THERAPIST), ("client", Role.CLIENT)):
            user = User(
                new_id(),
                clinic.id,
                f"{name}@sqlite.example",
                name.title(),
                frozenset({role}),
                True,
                now - timedelta(days=60),
            )
            ids[name] = uow.users.add(user).id
            uow.users.set_password_hash(ids[name], digest)
        uow.assignments.add(
            Assignment(new_id(), clinic.id, ids["ther"], ids["client"], now - timedelta(days=30))
        )
        uow.episodes.add(Episode(new_id(), clinic.id, ids["client"], date.today()))
        uow.commit()
    app = create_app(settings, hasher=FAST_HASHER)
    client = TestClient(app, base_url=BASE_URL, follow_redirects=False)
    res = client.post(
        "/api/v1/session", json={"email": "client@sqlite.example", "password": PASSWORD}
    )
    assert res.status_code == 201, res.text
    token = res.json()["csrf_token"]
    client.headers["X-CSRF-Token"] = token
    with client:
        yield client, factory, ids, token


def test_every_kind_round_trips_through_sqlite(sql_app: SqlApp) -> None:
    client, factory, ids, token = sql_app
    today = date.today().isoformat()
    goal = {
        "specific_description": "Walk",
        "measurable_indicator": "Days walked",
        "levels": {"-2": "0", "-1": "1", "0": "3", "1": "4", "2": "5"},
        "importance": 2,
        "difficulty": 1,
        "steps": [{"text": "Shoes", "due_on": today}],
    }
    created = {
        "/api/v1/me/goals": client.post("/api/v1/me/goals", json=goal),
        "/api/v1/me/journal": client.post(
            "/api/v1/me/journal", json={"mood": 3, "emotions": ["low"], "text": "secret words"}
        ),
        "/api/v1/me/reflections": client.post(
            "/api/v1/me/reflections", json={"what_happened": "a rough week"}
        ),
        "/api/v1/me/thought-records": client.post(
            "/api/v1/me/thought-records",
            json={"situation": "s", "automatic_thought": "t", "emotion": "e", "intensity": 50},
        ),
        "/api/v1/me/self-care": client.post(
            "/api/v1/me/self-care", json={"done_on": today, "activity": "sleep", "restorative": 6}
        ),
        "/api/v1/me/stressors": client.post(
            "/api/v1/me/stressors", json={"category": "work", "severity": 4, "started_on": today}
        ),
        "/api/v1/me/supporters": client.post(
            "/api/v1/me/supporters", json={"name": "Ana", "relation": "friend"}
        ),
        "/api/v1/me/skills/practice": client.post(
            "/api/v1/me/skills/practice", json={"skill_id": "grounding", "helpfulness": 8}
        ),
    }
    for url, res in created.items():
        assert res.status_code == 201, (url, res.text)
    goal_id = created["/api/v1/me/goals"].json()["id"]
    step_id = created["/api/v1/me/goals"].json()["steps"][0]["id"]
    res = client.patch(
        f"/api/v1/me/goals/{goal_id}/steps/{step_id}", headers=ANY_VERSION, json={"done": True}
    )
    assert res.status_code == 200
    res = client.post(
        "/me/journal", data={"csrf_token": token, "mood": "7", "text": "<b>form</b> entry"}
    )
    assert res.status_code == 303
    for url in created:
        listing = client.get(url).json()
        rows = listing["goals"] if url.endswith("/goals") else listing
        assert rows, url
    assert client.get("/api/v1/me/goals").json()["goals"][0]["levels"]["0"] == "3"
    texts = [e["text"] for e in client.get("/api/v1/me/journal").json()]
    assert texts == ["secret words", "<b>form</b> entry"]
    for page in ("/me/goals", f"/me/goals/{goal_id}", "/me/journal", "/me/privacy/access-log"):
        assert client.get(page).status_code == 200, page
    bundle = json.loads(client.get("/me/download/fhir").content)
    assert bundle["resourceType"] == "Bundle"
    assert "secret words" in json.dumps(bundle)

    # the therapist sees the mood but not the words, until the client shares them
    ther = Actor(ids["ther"], client_id_clinic(factory, ids["ther"]), frozenset({Role.THERAPIST}))
    journal = [
        i.record
        for i in client_timeline(factory, ther, ids["client"]).items
        if i.stream == "journal"
    ]
    assert [(e.text, e.mood) for e in journal] == [("", 3), ("", 7)]  # type: ignore[union-attr]
    assert (
        client.patch(
            "/api/v1/me/sharing", headers=ANY_VERSION, json={"sharing": {"journal_text": True}}
        ).status_code
        == 200
    )
    journal = [
        i.record
        for i in client_timeline(factory, ther, ids["client"]).items
        if i.stream == "journal"
    ]
    assert [e.text for e in journal] == ["secret words", "<b>form</b> entry"]  # type: ignore[union-attr]
    log = client.get("/api/v1/me/access-log").json()
    assert any(r["who"] == "Ther" and r["object_type"] == "timeline" for r in log)


def client_id_clinic(factory: SqlUnitOfWorkFactory, user_id: str) -> str:
    with factory() as uow:
        user = uow.users.get(user_id)
        assert user is not None
        return user.clinic_id
