"""RL-04/05/06 and catalogue #26/#27: ``Idempotency-Key`` on writes, on SQLite and PostgreSQL.

The app is the served one (`create_app` on a real database, SQL storage). A
retried check-in is stored once and answered with the first answer; the same
key with another body is refused and stores nothing; a reply the client never
read is found again by the retry; twenty twins racing with one key store one
submission; keys belong to one user.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

from trust_app import (
    BASE_URL,
    PASSWORD,
    LiveServer,
    World,
    build_app,
    http_request,
    open_world,
    sign_in_http,
)

from twostep.storage import tables as t

CHECKINS = "/api/v1/me/checkins"


def phq9(item9: int = 0, first: int = 1) -> dict[str, object]:
    answers = {f"item_{k}": first if k == 1 else 1 for k in range(1, 9)}
    return {"instrument_id": "phq9", "answers": {**answers, "item_9": item9}}


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    with open_world(database_url, tmp_path) as w:
        yield w


def client_for(world: World, role: str = "client") -> TestClient:
    client = TestClient(build_app(world), base_url=BASE_URL, follow_redirects=False)
    res = client.post("/api/v1/session", json={"email": world.emails[role], "password": PASSWORD})
    assert res.status_code == 201, res.text
    client.headers["X-CSRF-Token"] = res.json()["csrf_token"]
    return client


@pytest.fixture
def api(world: World) -> Iterator[TestClient]:
    with client_for(world) as client:
        yield client


def count(world: World, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    with world.factory.engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()
        )


def stored(world: World, role: str = "client") -> int:
    return count(world, t.administrations, t.administrations.c.client_id == world.ids[role])


def audited_creates(world: World, role: str = "client") -> int:
    a = t.audit_log.c
    return count(
        world,
        t.audit_log,
        a.client_id == world.ids[role],
        a.action == "create",
        a.object_type == "administration",
        a.outcome == "ok",
    )


def risk_alerts(world: World) -> int:
    return count(world, t.alerts, t.alerts.c.kind == "risk")


def test_a_retry_is_stored_once_and_answered_the_same(world: World, api: TestClient) -> None:
    key = str(uuid.uuid4())
    first = api.post(CHECKINS, json=phq9(item9=1), headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = api.post(CHECKINS, json=phq9(item9=1), headers={"Idempotency-Key": key})
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.content == first.content
    assert stored(world) == 1
    assert audited_creates(world) == 1
    assert risk_alerts(world) == 1  # one alert per submission, not per request
    # without a key, the same body is a new submission
    other = api.post(CHECKINS, json=phq9(item9=1))
    assert other.status_code == 201
    assert other.json()["administration_id"] != first.json()["administration_id"]
    assert stored(world) == 2


def test_the_key_with_another_body_is_refused_and_stores_nothing(
    world: World, api: TestClient
) -> None:
    key = str(uuid.uuid4())
    assert (
        api.post(CHECKINS, json=phq9(first=0), headers={"Idempotency-Key": key}).status_code == 201
    )
    res = api.post(CHECKINS, json=phq9(first=3), headers={"Idempotency-Key": key})
    assert res.status_code == 422
    assert res.headers["content-type"].startswith("application/problem+json")
    assert res.json()["type"] == "/problems/idempotency-key-reused"
    assert stored(world) == 1
    assert audited_creates(world) == 1


@pytest.mark.parametrize(
    "key", ["not-a-uuid", "1" * 1024, "", "dd51bf07-cc21-44f7-bd0e-c658b969061"]
)
def test_a_key_that_is_not_a_uuid_is_refused(world: World, api: TestClient, key: str) -> None:
    res = api.post(CHECKINS, json=phq9(), headers={"Idempotency-Key": key})
    assert res.status_code == 400, res.text
    assert res.json()["type"] == "/problems/invalid-idempotency-key"
    assert stored(world) == 0


def test_keys_belong_to_one_user(world: World, api: TestClient) -> None:
    key = str(uuid.uuid4())
    mine = api.post(CHECKINS, json=phq9(), headers={"Idempotency-Key": key})
    assert mine.status_code == 201
    with client_for(world, "client2") as other:
        theirs = other.post(CHECKINS, json=phq9(), headers={"Idempotency-Key": key})
    assert theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["administration_id"] != mine.json()["administration_id"]
    assert stored(world, "client") == 1
    assert stored(world, "client2") == 1


def test_a_refused_write_is_not_remembered(world: World, api: TestClient) -> None:
    key = str(uuid.uuid4())
    bad = phq9()
    bad["answers"] = {**bad["answers"], "item_1": 7}  # type: ignore[dict-item]
    assert api.post(CHECKINS, json=bad, headers={"Idempotency-Key": key}).status_code == 422
    # the refusal is on record (audit, outcome error), and the key is still free
    good = api.post(CHECKINS, json=phq9(), headers={"Idempotency-Key": key})
    assert good.status_code == 201
    assert stored(world) == 1


def test_the_key_is_in_the_openapi_schema(api: TestClient) -> None:
    op = api.get("/api/v1/openapi.json").json()["paths"][CHECKINS]["post"]
    params = {p["name"]: p for p in op.get("parameters", [])}
    assert params["Idempotency-Key"]["in"] == "header"
    assert params["Idempotency-Key"]["required"] is False


def raw_post(port: int, path: str, body: bytes, headers: dict[str, str]) -> None:
    """Send a request and close the connection without reading a byte of the answer."""
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {len(body)}\r\n"
        f"{head}Connection: close\r\n\r\n"
    ).encode() + body
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
    # closed: the server's reply goes nowhere


def test_a_reply_the_client_never_read_is_found_by_the_retry(world: World) -> None:
    with LiveServer(build_app(world)) as server:
        login = sign_in_http(server.port, world.emails["client"])
        key = str(uuid.uuid4())
        body = json.dumps(phq9(item9=1)).encode()
        headers = {
            **login.headers(),
            "Content-Type": "application/json",
            "Idempotency-Key": key,
        }
        raw_post(server.port, CHECKINS, body, headers)
        deadline = time.monotonic() + 20
        while stored(world) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stored(world) == 1  # the server committed although nobody read the reply
        status, data, res_headers = http_request(server.port, "POST", CHECKINS, body, headers)
    assert status == 201, data
    assert res_headers.get("idempotent-replayed") == "true"
    with world.factory.engine.connect() as conn:
        stored_id = conn.execute(sa.select(t.administrations.c.id)).scalar_one()
    assert json.loads(data)["administration_id"] == stored_id
    assert stored(world) == 1
    assert audited_creates(world) == 1
    assert risk_alerts(world) == 1


def test_twenty_twins_racing_with_one_key_store_one_submission(world: World) -> None:
    with LiveServer(build_app(world)) as server:
        login = sign_in_http(server.port, world.emails["client"])
        body = json.dumps(phq9(item9=1)).encode()
        headers = {
            **login.headers(),
            "Content-Type": "application/json",
            "Idempotency-Key": str(uuid.uuid4()),
        }
        results: list[tuple[int, bytes]] = []
        gate = threading.Barrier(20)
        lock = threading.Lock()

        def send() -> None:
            gate.wait()
            status, data, _ = http_request(server.port, "POST", CHECKINS, body, headers)
            with lock:
                results.append((status, data))

        threads = [threading.Thread(target=send) for _ in range(20)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=120)
    assert len(results) == 20
    assert stored(world) == 1
    assert audited_creates(world) == 1
    assert risk_alerts(world) == 1
    statuses = sorted({s for s, _ in results})
    assert set(statuses) <= {201, 409}, [d[:300] for s, d in results if s not in (201, 409)]
    ids = {json.loads(d)["administration_id"] for s, d in results if s == 201}
    assert len(ids) == 1


def test_other_writes_honour_the_key_too(world: World, api: TestClient) -> None:
    """A journal entry (free text, encrypted at rest) resent with its key is stored once."""
    key = str(uuid.uuid4())
    body = {"mood": 4, "emotions": ["calm"], "text": "resent entry"}
    first = api.post("/api/v1/me/journal", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    again = api.post("/api/v1/me/journal", json=body, headers={"Idempotency-Key": key})
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert count(world, t.journal_entries) == 1
    # the cached answer holds the entry's text: encrypted at rest like the entry itself
    with world.factory.engine.connect() as conn:
        raw = conn.execute(sa.text("SELECT response FROM idempotency_keys")).scalar_one()
    assert b"resent entry" not in bytes(raw)


def test_stored_answers_expire_after_a_week(world: World, api: TestClient) -> None:
    key = str(uuid.uuid4())
    first = api.post(CHECKINS, json=phq9(), headers={"Idempotency-Key": key})
    assert first.status_code == 201
    c = t.idempotency_keys.c
    with world.factory.engine.begin() as conn:  # the answer was stored eight days ago
        conn.execute(
            sa.update(t.idempotency_keys)
            .where(c.key == key)
            .values(created_at=datetime.now(UTC) - timedelta(days=8))
        )
    later = api.post(CHECKINS, json=phq9(), headers={"Idempotency-Key": key})
    assert later.status_code == 201
    assert "idempotent-replayed" not in later.headers  # a new request, a new submission
    assert later.json()["administration_id"] != first.json()["administration_id"]
    assert stored(world) == 2
    assert count(world, t.idempotency_keys) == 1  # the expired answer was purged


@pytest.mark.parametrize("kind", ["sql", "fake"])
def test_the_repository_keeps_one_answer_per_user_and_key(world: World, kind: str) -> None:
    from twostep.domain.fakes import FakeUnitOfWorkFactory
    from twostep.domain.ports import IdempotentResponse
    from twostep.errors import ConflictError

    factory = world.factory if kind == "sql" else FakeUnitOfWorkFactory()
    now = datetime.now(UTC)
    user = world.ids["client"]
    answer = IdempotentResponse(user, "k1", "h" * 64, 201, {"json": {"id": "x"}}, now)
    with factory() as uow:
        uow.idempotency.add(answer)
        uow.idempotency.add(replace(answer, key="k0", created_at=now - timedelta(days=9)))
        uow.commit()
    with factory() as uow:
        assert uow.idempotency.get(user, "k1") == answer
        assert uow.idempotency.get(world.ids["client2"], "k1") is None
        with pytest.raises(ConflictError):
            uow.idempotency.add(replace(answer, request_hash="g" * 64))
    with factory() as uow:
        assert uow.idempotency.purge(now - timedelta(days=7), world.ids["client2"]) == 0
        assert uow.idempotency.purge(now - timedelta(days=7), user) == 1
        assert uow.idempotency.purge(now - timedelta(days=7)) == 0
        uow.commit()
    with factory() as uow:
        assert uow.idempotency.get(user, "k0") is None
        assert uow.idempotency.get(user, "k1") == answer


def test_an_offline_queue_synced_twice_is_stored_once(world: World, api: TestClient) -> None:
    """RL-06: a queue of submissions, the first sync cut at 30 %, then the whole queue again."""
    queue = [(str(uuid.uuid4()), phq9(item9=int(i % 4 == 0), first=i % 4)) for i in range(20)]
    first_ids = {}
    for key, body in queue[:6]:  # the connection drops after 30 %
        res = api.post(CHECKINS, json=body, headers={"Idempotency-Key": key})
        assert res.status_code == 201
        first_ids[key] = res.json()["administration_id"]
    replayed = 0
    for key, body in reversed(queue):  # the next sync sends everything, in another order
        res = api.post(CHECKINS, json=body, headers={"Idempotency-Key": key})
        assert res.status_code == 201
        if key in first_ids:
            assert res.json()["administration_id"] == first_ids[key]
            replayed += res.headers.get("idempotent-replayed") == "true"
    assert replayed == 6
    assert stored(world) == 20
    assert audited_creates(world) == 20
    assert risk_alerts(world) == 5
