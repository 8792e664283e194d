"""Submitted questionnaires are immutable; corrections are versions; natural keys hold under races."""

from __future__ import annotations

import dataclasses
import threading

import pytest
import sqlalchemy as sa

from twostep.domain import records as r
from twostep.errors import ConflictError, NotFoundError, TwostepError, ValidationError
from twostep.storage import SqlUnitOfWorkFactory
from twostep.storage import tables as t
from twostep.storage.failures import translated
from twostep.storage.mapping import ADMINISTRATION

from .conftest import World, at


def test_update_and_delete_are_refused(uow_factory: SqlUnitOfWorkFactory, world: World) -> None:
    with uow_factory() as uow:
        adm = uow.administrations.get(world.administration_id)
        assert adm is not None
        with pytest.raises(ConflictError, match="immutable"):
            uow.administrations.update(dataclasses.replace(adm, total=0.0))
        with pytest.raises(ConflictError):
            uow.administrations.delete(adm.id)


def test_the_database_refuses_updates_too(engine: sa.Engine, world: World) -> None:
    stmt = sa.update(t.administrations).where(t.administrations.c.id == world.administration_id)
    with pytest.raises(ConflictError, match="immutable"), translated(), engine.begin() as conn:
        conn.execute(stmt.values(total=0.0))


def test_corrections_are_new_versions(uow_factory: SqlUnitOfWorkFactory, world: World) -> None:
    with uow_factory() as uow:
        v1 = uow.administrations.get(world.administration_id)
        assert v1 is not None
        v2 = dataclasses.replace(v1, id=r.new_id(), total=12.0, version=2, supersedes_id=v1.id)
        uow.administrations.add(v2)
        uow.commit()
    with uow_factory() as uow:
        assert uow.administrations.history(world.client_id, "phq9") == [v2]
        assert uow.administrations.for_clients([world.client_id]) == [v2]
        assert uow.administrations.get(v1.id) == v1  # the original stays on record
        # a version can be superseded only once
        v2b = dataclasses.replace(v2, id=r.new_id(), total=11.0)
        with pytest.raises(ConflictError):
            uow.administrations.add(v2b)
        v3 = dataclasses.replace(v2, id=r.new_id(), total=10.0, version=3, supersedes_id=v2.id)
        uow.administrations.add(v3)
        uow.commit()
    with uow_factory() as uow:
        assert uow.administrations.history(world.client_id, "phq9") == [v3]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"supersedes_id": "missing"}, NotFoundError),
        ({"instrument_id": "gad7"}, ConflictError),
        ({"version": 3}, ConflictError),
    ],
)
def test_bad_corrections(
    uow_factory: SqlUnitOfWorkFactory,
    world: World,
    change: dict[str, object],
    error: type[Exception],
) -> None:
    with uow_factory() as uow:
        v1 = uow.administrations.get(world.administration_id)
        assert v1 is not None
        v2 = dataclasses.replace(v1, id=r.new_id(), version=2, supersedes_id=v1.id)
        with pytest.raises(error):
            uow.administrations.add(dataclasses.replace(v2, **change))  # type: ignore[arg-type]


def test_version_and_supersedes_go_together(
    uow_factory: SqlUnitOfWorkFactory, world: World
) -> None:
    lone_v2 = world.administration(version=2, completed_at=at(9))
    with uow_factory() as uow, pytest.raises(ValidationError):
        uow.administrations.add(lone_v2)


def test_a_correction_cannot_move_to_another_client(
    engine: sa.Engine, uow_factory: SqlUnitOfWorkFactory, world: World
) -> None:
    with uow_factory() as uow:
        v1 = uow.administrations.get(world.administration_id)
        assert v1 is not None
    row = {
        **ADMINISTRATION.to_row(v1),
        "id": r.new_id(),
        "client_id": world.other_client_id,
        "episode_id": None,
        "version": 2,
        "supersedes_id": v1.id,
    }
    # the repository refuses it on every backend ...
    with uow_factory() as uow, pytest.raises(ConflictError):
        uow.administrations.add(ADMINISTRATION.from_row(row))
    # ... and PostgreSQL's trigger refuses it from raw SQL too (SQLite has no such
    # trigger: it would cost a third of bulk-import speed; see storage/triggers.py)
    if engine.dialect.name == "postgresql":
        with pytest.raises(ConflictError), translated(), engine.begin() as conn:
            conn.execute(sa.insert(t.administrations).values(row))


def test_same_natural_key_twice_is_a_conflict(
    uow_factory: SqlUnitOfWorkFactory, world: World
) -> None:
    with uow_factory() as uow:
        v1 = uow.administrations.get(world.administration_id)
        assert v1 is not None
        with pytest.raises(ConflictError):
            uow.administrations.add(dataclasses.replace(v1, id=r.new_id()))


def test_twenty_threads_insert_the_same_administration(
    engine: sa.Engine, uow_factory: SqlUnitOfWorkFactory, world: World
) -> None:
    template = world.administration(completed_at=at(30))
    n = 20
    start = threading.Barrier(n)
    outcomes: list[str] = []
    lock = threading.Lock()

    def submit() -> None:
        record = dataclasses.replace(template, id=r.new_id())
        start.wait()
        try:
            with uow_factory() as uow:
                uow.administrations.add(record)
                uow.commit()
            result = "ok"
        except ConflictError:
            result = "conflict"
        except TwostepError as exc:  # pragma: no cover - would fail the assertion below
            result = f"{type(exc).__name__}: {exc}"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=submit) for _ in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(outcomes) == ["conflict"] * (n - 1) + ["ok"]
    with engine.connect() as conn:
        count = conn.execute(
            sa.select(sa.func.count()).where(
                t.administrations.c.completed_at == template.completed_at
            )
        ).scalar_one()
    assert count == 1
