"""The check-in form post: Post/Redirect/Get and a one-time token (RL-04/05/06).

A successful form post answers 303 to the result page of the stored
administration (``/me/checkin/{instrument}/result/{administration}``); a
refresh of that page is a read. The form carries a hidden ``submission_id``:
posting the same form again (a double click, back and send) records nothing
new and redirects to the first result. Fake-backed tests first, then the same
promise on a real database (SQLite and PostgreSQL) with twin posts at once.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_world import World

from twostep.config import Settings
from twostep.domain.records import AlertKind, Assignment, Clinic, Episode, Role, User, new_id
from twostep.security.passwords import Hasher
from twostep.storage.engine import engine_from_settings
from twostep.storage.unit_of_work import SqlUnitOfWorkFactory
from twostep.web.app import create_app

Client = Callable[[str], TestClient]
CRISIS_LINE = "Samaritans: call 116 123."
RESULT = re.compile(r"^/me/checkin/phq9/result/([0-9a-f-]{36})$")
TOKEN = re.compile(r'name="submission_id" value="([^"]*)"')


def answers(item9: int, rest: int = 2) -> dict[str, str]:
    out = {f"item_{i}": str(rest) for i in range(1, 9)}
    out["item_9"] = str(item9)
    return out


def token_of(html: str) -> str:
    found = TOKEN.findall(html)
    assert len(found) == 1, "the form carries one submission_id"
    return found[0]


def post(
    client: TestClient, instrument: str, data: dict[str, str], token: str | None, **extra: str
) -> object:
    form = data | {"csrf_token": client.headers["X-CSRF-Token"], "action": "submit"} | extra
    if token is not None:
        form["submission_id"] = token
    return client.post(f"/me/checkin/{instrument}", data=form)


def administrations(w: World, name: str) -> list[object]:
    return [a for a in w.store.rows("administrations") if a.client_id == w.id(name)]


def risk_alerts(w: World, name: str) -> list[object]:
    return [
        a for a in w.store.rows("alerts") if a.client_id == w.id(name) and a.kind is AlertKind.RISK
    ]


def shape(res: object) -> tuple[int, str, bytes]:
    """Status, content type and body with the request id blanked (it differs per request)."""
    rid = res.headers.get("x-request-id", "")  # type: ignore[attr-defined]
    body: bytes = res.content  # type: ignore[attr-defined]
    return (
        res.status_code,  # type: ignore[attr-defined]
        res.headers.get("content-type", ""),  # type: ignore[attr-defined]
        body.replace(rid.encode(), b"<rid>") if rid else body,
    )


# ------------------------------------------------------------------- fake-backed


def test_the_form_carries_a_fresh_one_time_token(as_user: Client) -> None:
    client = as_user("client_a1")
    first = token_of(client.get("/me/checkin/phq9").text)
    second = token_of(client.get("/me/checkin/phq9").text)
    assert str(uuid.UUID(first)) == first
    assert first != second


def test_post_redirects_to_the_result_and_a_refresh_stores_nothing(
    as_user: Client, web_world: World
) -> None:
    client = as_user("client_a1")
    token = token_of(client.get("/me/checkin/phq9").text)
    res = post(client, "phq9", answers(0), token)
    assert res.status_code == 303, res.text
    location = res.headers["location"]
    [adm] = administrations(web_world, "client_a1")
    assert RESULT.match(location)
    assert location.endswith(adm.id)
    for _ in range(3):  # the page, then two refreshes
        page = client.get(location)
        assert page.status_code == 200, page.text
        assert page.headers["cache-control"] == "no-store"
        assert "<strong>16</strong> out of 27" in page.text
        assert "What changed" in page.text
        assert "Next: GAD-7" in page.text
        assert CRISIS_LINE not in page.text
    assert len(administrations(web_world, "client_a1")) == 1
    assert risk_alerts(web_world, "client_a1") == []


def test_the_same_form_sent_twice_is_recorded_once(as_user: Client, web_world: World) -> None:
    client = as_user("client_a1")
    token = token_of(client.get("/me/checkin/phq9").text)
    first = post(client, "phq9", answers(1), token)
    again = post(client, "phq9", answers(1), token)
    # back, another answer, send: still the same form, still the first result
    changed = post(client, "phq9", answers(3, rest=0), token)
    assert [r.status_code for r in (first, again, changed)] == [303, 303, 303]
    locations = {r.headers["location"] for r in (first, again, changed)}
    assert len(locations) == 1
    [adm] = administrations(web_world, "client_a1")
    assert adm.total == 17.0
    [alert] = risk_alerts(web_world, "client_a1")
    assert alert.administration_id == adm.id
    page = client.get(locations.pop())
    assert CRISIS_LINE in page.text  # the result page of a risk answer leads with help
    assert "Your therapist has been told about your answer." in page.text
    assert "tier" not in page.text.lower()
    # a new form is a new submission
    fresh = token_of(client.get("/me/checkin/phq9").text)
    assert post(client, "phq9", answers(0), fresh).status_code == 303
    assert len(administrations(web_world, "client_a1")) == 2


def test_a_post_without_a_token_records_once_and_redirects(
    as_user: Client, web_world: World
) -> None:
    client = as_user("client_a1")
    res = post(client, "phq9", answers(0), None)
    assert res.status_code == 303
    assert RESULT.match(res.headers["location"])
    assert len(administrations(web_world, "client_a1")) == 1
    # a token that is not a UUID counts as none (no error for an odd old form)
    res = post(client, "phq9", answers(0), "not-a-uuid")
    assert res.status_code == 303
    assert len(administrations(web_world, "client_a1")) == 2


def test_a_refused_form_is_shown_again_with_the_same_token(
    as_user: Client, web_world: World
) -> None:
    client = as_user("client_a1")
    token = token_of(client.get("/me/checkin/phq9").text)
    bad = post(client, "phq9", answers(0) | {"item_2": "lots"}, token)
    assert bad.status_code == 422
    assert "Some answers need another look" in bad.text
    assert token_of(bad.text) == token
    out_of_range = post(client, "phq9", answers(0) | {"item_2": "7"}, token)
    assert out_of_range.status_code == 422
    assert token_of(out_of_range.text) == token
    assert administrations(web_world, "client_a1") == []
    good = post(client, "phq9", answers(0), token)
    assert good.status_code == 303
    assert len(administrations(web_world, "client_a1")) == 1


def test_save_and_finish_later_keeps_the_token_until_it_is_used(
    as_user: Client, web_world: World
) -> None:
    client = as_user("client_a1")
    token = token_of(client.get("/me/checkin/phq9").text)
    saved = post(client, "phq9", {"item_1": "2"}, token, action="save")
    assert saved.status_code == 200
    assert "Your answers are saved" in saved.text
    assert token_of(saved.text) == token
    assert post(client, "phq9", answers(0), token).status_code == 303
    # back to the sent form, "save and finish later": a draft for a new submission
    later = post(client, "phq9", {"item_1": "1"}, token, action="save")
    assert later.status_code == 200
    assert token_of(later.text) != token
    assert len(administrations(web_world, "client_a1")) == 1


def test_a_token_is_bound_to_its_questionnaire(as_user: Client, web_world: World) -> None:
    client = as_user("client_a1")
    token = token_of(client.get("/me/checkin/phq9").text)
    assert post(client, "phq9", answers(0), token).status_code == 303
    gad7 = {f"item_{i}": "1" for i in range(1, 8)}
    res = post(client, "gad7", gad7, token)
    assert res.status_code == 422
    assert [a.instrument_id for a in administrations(web_world, "client_a1")] == ["phq9"]


def test_another_users_result_is_the_same_404_as_a_random_id(
    as_user: Client, web_world: World
) -> None:
    owner = as_user("client_a1")
    res = post(owner, "phq9", answers(1), str(uuid.uuid4()))
    location = res.headers["location"]
    adm_id = RESULT.match(location).group(1)  # type: ignore[union-attr]
    random = f"/me/checkin/phq9/result/{new_id()}"
    for name in ("client_a2", "client_b1", "client_x"):
        other = as_user(name)
        mine = other.get(location)
        assert mine.status_code == 404
        assert shape(mine) == shape(other.get(random)), name
        assert "out of 27" not in mine.text
    # the owner's own id under another questionnaire is the same 404
    assert shape(owner.get(f"/me/checkin/gad7/result/{adm_id}")) == shape(
        owner.get(f"/me/checkin/gad7/result/{new_id()}")
    )
    assert owner.get(f"/me/checkin/gad7/result/{adm_id}").status_code == 404
    # the page is the client's: staff are refused by role, whatever the id
    for name in ("ther_a", "ther_x", "admin"):
        assert as_user(name).get(location).status_code == 403


def test_the_result_page_is_an_audited_read(as_user: Client, web_world: World) -> None:
    client = as_user("client_a1")
    location = post(client, "phq9", answers(0), str(uuid.uuid4())).headers["location"]
    adm_id = location.rsplit("/", 1)[1]
    before = len(web_world.store.audit_events)
    client.get(location)
    reads = [
        e
        for e in web_world.store.audit_events[before:]
        if e.object_type == "administration" and e.object_id == adm_id
    ]
    assert [(e.action, e.outcome) for e in reads] == [("read", "ok")]
    before = len(web_world.store.audit_events)
    as_user("client_a2").get(location)
    denied = [e for e in web_world.store.audit_events[before:] if e.object_id == adm_id]
    assert [(e.action, e.outcome) for e in denied] == [("read", "denied")]


# ------------------------------------------------------------ on a real database

PASSWORD = "a long enough test passphrase"
FAST_HASHER = Hasher(time_cost=1, memory_cost=1024, parallelism=1)  # tests only
BASE_URL = "https://testserver"
CRISIS = "Samaritans: call 116 123.\nIn an emergency, call 999."
DELAY = "Your therapist may not read your answers until the next working day."

DbApp = tuple[TestClient, TestClient, SqlUnitOfWorkFactory, str]


@pytest.fixture
def db_app(database_url: str, tmp_path: Path) -> Iterator[DbApp]:
    """The app as `twostep serve` builds it on the test's database; two tabs of one session."""
    settings = Settings(database_url=database_url, data_dir=tmp_path)  # migrated already
    factory = SqlUnitOfWorkFactory(engine_from_settings(settings))
    now = datetime.now(UTC)
    clinic = Clinic(new_id(), "prg clinic", CRISIS, DELAY, created_at=now - timedelta(days=90))
    ids: dict[str, str] = {}
    with factory() as uow:
        uow.clinics.add(clinic)
        for name, role in (("ther", Role.THERAPIST), ("client", Role.CLIENT)):
            user = User(
                new_id(), clinic.id, f"{name}@prg.example", name.title(),
                frozenset({role}), True, now - timedelta(days=60),
            )  # fmt: skip
            ids[name] = uow.users.add(user).id
            uow.users.set_password_hash(ids[name], FAST_HASHER.hash(PASSWORD))
        uow.assignments.add(
            Assignment(new_id(), clinic.id, ids["ther"], ids["client"], now - timedelta(days=30))
        )
        uow.episodes.add(Episode(new_id(), clinic.id, ids["client"], date.today()))
        uow.commit()
    app = create_app(settings, hasher=FAST_HASHER)
    tab = TestClient(app, base_url=BASE_URL, follow_redirects=False)
    res = tab.post("/api/v1/session", json={"email": "client@prg.example", "password": PASSWORD})
    assert res.status_code == 201, res.text
    tab.headers["X-CSRF-Token"] = res.json()["csrf_token"]
    twin = TestClient(app, base_url=BASE_URL, follow_redirects=False)
    twin.cookies = tab.cookies
    twin.headers["X-CSRF-Token"] = tab.headers["X-CSRF-Token"]
    with tab, twin:
        yield tab, twin, factory, ids["client"]
    served = app.state.twostep
    for f in (factory, served.uow_factory, served.read_factory):
        engine = getattr(f, "engine", None)
        if engine is not None:
            engine.dispose()


def test_twin_posts_of_one_form_store_one_administration_on_the_database(
    db_app: DbApp,
) -> None:
    tab, twin, factory, client_id = db_app
    token = token_of(tab.get("/me/checkin/phq9").text)
    results: list[object] = []
    start = threading.Barrier(2)

    def send(c: TestClient) -> None:
        start.wait()
        results.append(post(c, "phq9", answers(2), token))

    threads = [threading.Thread(target=send, args=(c,)) for c in (tab, twin)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    results.append(post(tab, "phq9", answers(2), token))  # and a refresh of the post
    assert [r.status_code for r in results] == [303, 303, 303], [r.text for r in results]
    assert len({r.headers["location"] for r in results}) == 1
    location = results[0].headers["location"]
    with factory() as uow:
        history = uow.administrations.history(client_id, "phq9")
        risks = [a for a in uow.alerts.for_client(client_id) if a.kind is AlertKind.RISK]
        stored = uow.idempotency.get(uow.users.get(client_id).id, token)
        creates = [
            e for e in uow.audit.for_client(client_id)
            if (e.action, e.object_type, e.outcome) == ("create", "administration", "ok")
        ]  # fmt: skip
    assert [a.total for a in history] == [18.0]
    assert location.endswith(history[0].id)
    assert [r.administration_id for r in risks] == [history[0].id]
    assert len(creates) == 1
    assert stored is not None
    assert stored.body["location"] == location
    page = tab.get(location)
    assert page.status_code == 200
    assert "<strong>18</strong> out of 27" in page.text
    assert "Your therapist has been told about your answer." in page.text
    with factory() as uow:
        assert len(uow.administrations.history(client_id, "phq9")) == 1
