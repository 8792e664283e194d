"""The client's check-in end to end on a real SQLite database (migrated schema, SQL storage).

The app is built the way `twostep serve` builds it — `create_app(Settings(database_url=...))`
without fakes — after `twostep.storage.migrate.upgrade`. The test fills in a draft with a
risk answer, submits the questionnaire through the form and the API, and reads back what
the database holds: the administrations, the risk alerts and the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from twostep.config import Settings
from twostep.domain.records import (
    AlertKind,
    Assignment,
    Clinic,
    Episode,
    Role,
    User,
    new_id,
)
from twostep.security.passwords import Hasher
from twostep.storage.engine import engine_from_settings
from twostep.storage.migrate import upgrade
from twostep.storage.unit_of_work import SqlUnitOfWorkFactory
from twostep.web.app import create_app

PASSWORD = "a long enough test passphrase"
FAST_HASHER = Hasher(time_cost=1, memory_cost=1024, parallelism=1)  # tests only
BASE_URL = "https://testserver"  # the session cookie is __Host- (Secure)
CRISIS = "Samaritans: call 116 123.\nIn an emergency, call 999."
DELAY = "Your therapist may not read your answers until the next working day."


SqlApp = tuple[TestClient, SqlUnitOfWorkFactory, dict[str, str]]


@pytest.fixture
def sql_app(tmp_path: Path) -> Iterator[SqlApp]:
    url = f"sqlite:///{tmp_path / 'twostep.db'}"
    settings = Settings(database_url=url, data_dir=tmp_path)
    upgrade(url)
    factory = SqlUnitOfWorkFactory(engine_from_settings(settings))
    now = datetime.now(UTC)
    clinic = Clinic(new_id(), "sqlite clinic", CRISIS, DELAY, created_at=now - timedelta(days=90))
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
    client.headers["X-CSRF-Token"] = res.json()["csrf_token"]
    with client:
        yield client, factory, ids


def test_checkin_on_sqlite(sql_app: SqlApp) -> None:
    client, factory, ids = sql_app
    token = client.headers["X-CSRF-Token"]

    # a risk answer in a draft (htmx) shows crisis resources and alerts at once
    res = client.post("/me/checkin/phq9/draft", data={"item_9": "2"}, headers={"HX-Request": "1"})
    assert res.status_code == 200
    assert "Samaritans: call 116 123." in res.text
    with factory() as uow:
        [draft_alert] = uow.alerts.for_client(ids["client"])
        assert draft_alert.kind is AlertKind.RISK
        assert draft_alert.level == 2
        assert uow.drafts.get(ids["client"], "phq9") is not None

    # the form restores the draft (decrypted from the database)
    page = client.get("/me/checkin/phq9")
    assert 'name="item_9" value="2" checked' in page.text

    # the full form submission, without JavaScript
    data = {f"item_{i}": "1" for i in range(1, 9)} | {"item_9": "2"}
    res = client.post("/me/checkin/phq9", data=data | {"action": "submit", "csrf_token": token})
    assert res.status_code == 303, res.text  # Post/Redirect/Get: the result page is a read
    assert res.headers["location"].startswith("/me/checkin/phq9/result/")
    res = client.get(res.headers["location"])
    assert res.status_code == 200, res.text
    assert "<strong>10</strong> out of 27" in res.text
    assert "Your therapist has been told about your answer." in res.text

    # and one more through the API
    answers = {f"item_{i}": 0 for i in range(1, 8)}
    res = client.post("/api/v1/me/checkins", json={"instrument_id": "gad7", "answers": answers})
    assert res.status_code == 201, res.text
    assert res.json()["score"] == 0.0
    assert res.json()["show_crisis_resources"] is False

    with factory() as uow:
        history = uow.administrations.history(ids["client"], "phq9")
        assert [a.total for a in history] == [10.0]
        assert history[0].answers["item_9"] == 2.0
        assert uow.drafts.get(ids["client"], "phq9") is None  # submitted: the draft is gone
        risks = [a for a in uow.alerts.for_client(ids["client"]) if a.kind is AlertKind.RISK]
        # the draft's alert became the submission's: one alert per administration
        [risk] = risks
        assert risk.administration_id == history[0].id
        events = uow.audit.for_client(ids["client"])
    kinds = {(e.action, e.object_type, e.outcome) for e in events}
    assert ("update", "checkin_draft", "ok") in kinds
    assert ("create", "administration", "ok") in kinds

    # progress and its chart come from the same database
    assert "Your PHQ-9 check-ins" in client.get("/me/progress/phq9/chart.svg").text
    measures = {m["instrument_id"]: m for m in client.get("/api/v1/me/progress").json()}
    assert [p["score"] for p in measures["phq9"]["points"]] == [10.0]
    assert [p["score"] for p in measures["gad7"]["points"]] == [0.0]
