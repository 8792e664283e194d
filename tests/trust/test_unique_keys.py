"""RL-09: the natural key of a create is a database rule — fifty at once store one row.

On SQLite and on PostgreSQL (a database made by the shipped migrations),
fifty threads released together by a barrier create the same thing through
the services (each thread its own unit of work, as concurrent requests have)
or through the served app:

* a questionnaire administration imported fifty times at once — natural key
  (client, instrument, completed_at, version), ``uq_administrations_natural_key``;
* an account with one e-mail address (spelled in different cases) —
  ``users.email_key`` unique;
* an assignment of one therapist to one client — the partial unique index
  ``uq_assignments_open`` (migration 0005; before it, two overlapping
  requests on PostgreSQL could both pass the service's look-up and insert);
* the same account and assignment through ``POST /api/v1/admin/...`` on a
  real uvicorn: one 201, the other answers 409 ``conflict``, never 5xx.

Every loser is refused with `ConflictError` (or, for an import, finds the
response already stored and adds nothing); exactly one row exists after.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from .conftest import NOW, Clinic, engine_for, make_clinic

sys.path.insert(0, str(Path(__file__).resolve().parent))

from trust_app import (
    FAST_HASHER,
    LiveServer,
    build_app,
    http_request,
    open_world,
    sign_in_http,
)

from twostep.domain.records import Administration, Role, User, new_id
from twostep.errors import ConflictError
from twostep.instruments.registry import get_instrument
from twostep.instruments.scoring import score_submission
from twostep.services.assignments import assign_therapist
from twostep.services.clinic_admin import create_account
from twostep.services.records_io import store_imported_administrations
from twostep.storage import SqlUnitOfWorkFactory
from twostep.storage import tables as t

N = 50


@pytest.fixture
def engine(migrated_url: str) -> Iterator[sa.Engine]:
    engine = engine_for(migrated_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def clinic(engine: sa.Engine) -> Clinic:
    return make_clinic(engine)


def at_once(n: int, work: Callable[[int], object]) -> Counter[str]:
    """Run ``work(i)`` in ``n`` threads released together; count the outcomes by kind."""
    barrier = threading.Barrier(n)
    outcomes: list[str] = [""] * n

    def one(i: int) -> None:
        barrier.wait()
        try:
            work(i)
            outcomes[i] = "ok"
        except ConflictError:
            outcomes[i] = "conflict"
        except Exception as exc:
            outcomes[i] = f"error: {type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=180)
    return Counter(outcomes)


def count(engine: sa.Engine, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()
        )


def _administration(clinic: Clinic) -> Administration:
    answers = {f"item_{k}": 1 for k in range(1, 10)}
    score = score_submission(get_instrument("phq9"), answers)
    when = NOW - timedelta(days=2)
    return Administration(
        id=new_id(),
        clinic_id=clinic.clinic_id,
        client_id=clinic.client_id,
        episode_id=None,
        instrument_id="phq9",
        answers=dict(answers),
        total=score.total,
        subscales=dict(score.subscales),
        band=score.band,
        case=score.case,
        risk=score.risk,
        risk_level=score.risk_level,
        risk_not_assessed=score.risk_not_assessed,
        prorated=score.prorated,
        completed_at=when,
        received_at=when,
        source="import",
    )


def test_fifty_imports_of_one_administration_store_one(engine: sa.Engine, clinic: Clinic) -> None:
    factory = SqlUnitOfWorkFactory(engine)
    same = _administration(clinic)

    def work(i: int) -> object:
        # each import gives its row a new id: only the natural key makes them the same
        record = Administration(**{**same.__dict__, "id": new_id()})
        return store_imported_administrations(factory, clinic.therapist, [record], now=NOW)

    outcomes = at_once(N, work)
    assert set(outcomes) <= {"ok", "conflict"}, outcomes
    assert outcomes["ok"] >= 1
    a = t.administrations.c
    assert count(engine, t.administrations, a.client_id == clinic.client_id) == 1


def test_fifty_accounts_with_one_email_store_one(engine: sa.Engine, clinic: Clinic) -> None:
    factory = SqlUnitOfWorkFactory(engine)
    spellings = ["new.person@example.org", "New.Person@Example.org", " NEW.PERSON@example.org"]

    def work(i: int) -> object:
        return create_account(
            factory,
            clinic.admin,
            email=spellings[i % len(spellings)].strip(),
            display_name=f"New person {i}",
            roles=["client"],
            password=None,
            hasher=FAST_HASHER,
            now=NOW,
        )

    outcomes = at_once(N, work)
    assert outcomes == Counter({"ok": 1, "conflict": N - 1}), outcomes
    u = t.users.c
    assert count(engine, t.users, u.email_key == "new.person@example.org") == 1


def test_fifty_assignments_of_one_pair_store_one(engine: sa.Engine, clinic: Clinic) -> None:
    factory = SqlUnitOfWorkFactory(engine)
    with factory() as uow:
        second = uow.users.add(
            User(
                new_id(),
                clinic.clinic_id,
                f"second-{clinic.clinic_id[:8]}@example.org",
                "Second therapist",
                frozenset({Role.THERAPIST}),
                created_at=NOW - timedelta(days=30),
            )
        )
        uow.commit()

    outcomes = at_once(
        N, lambda i: assign_therapist(factory, clinic.admin, clinic.client_id, second.id, now=NOW)
    )
    assert outcomes == Counter({"ok": 1, "conflict": N - 1}), outcomes
    c = t.assignments.c
    open_pair = (c.therapist_id == second.id, c.client_id == clinic.client_id, c.ended_at.is_(None))
    assert count(engine, t.assignments, *open_pair) == 1


def test_the_database_refuses_a_second_open_assignment_itself(
    engine: sa.Engine, clinic: Clinic
) -> None:
    """The index, not the service: a raw second open row of the same pair is refused."""
    with engine.connect() as conn:
        row = dict(
            conn.execute(
                sa.select(t.assignments).where(t.assignments.c.client_id == clinic.client_id)
            )
            .mappings()
            .one()
        )
    twin = {**row, "id": new_id()}
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.insert(t.assignments).values(twin))
    # an ended assignment of the same pair is history, not a duplicate
    ended = {**twin, "ended_at": row["started_at"] + timedelta(days=1)}
    with engine.begin() as conn:
        conn.execute(sa.insert(t.assignments).values(ended))


def _post_at_once(port: int, headers: dict[str, str], path: str, bodies: list[Any]) -> Counter[int]:
    barrier = threading.Barrier(len(bodies))
    statuses: list[int] = [0] * len(bodies)

    def one(i: int) -> None:
        barrier.wait()
        status, _, _ = http_request(
            port,
            "POST",
            path,
            json.dumps(bodies[i]).encode(),
            {**headers, "Content-Type": "application/json"},
        )
        statuses[i] = status

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=180)
    return Counter(statuses)


def test_fifty_requests_through_the_app_store_one(migrated_url: str, tmp_path: Path) -> None:
    with open_world(migrated_url, tmp_path) as world, LiveServer(build_app(world)) as server:
        login = sign_in_http(server.port, world.emails["admin"])
        email = f"raced-{world.ids['admin'][:8]}@example.org"
        bodies = [
            {"email": email, "display_name": f"Raced {i}", "roles": ["therapist"]} for i in range(N)
        ]
        got = _post_at_once(server.port, login.headers(), "/api/v1/admin/users", bodies)
        assert got == Counter({201: 1, 409: N - 1}), got
        assert count(world.factory.engine, t.users, t.users.c.email_key == email) == 1

        with world.factory() as uow:
            therapist = uow.users.by_email(email)
        assert therapist is not None
        pair = {"client_id": world.ids["client"], "therapist_id": therapist.id}
        got = _post_at_once(server.port, login.headers(), "/api/v1/admin/assignments", [pair] * N)
        assert got == Counter({201: 1, 409: N - 1}), got
        c = t.assignments.c
        assert (
            count(
                world.factory.engine,
                t.assignments,
                c.therapist_id == therapist.id,
                c.ended_at.is_(None),
            )
            == 1
        )
