"""Row versions (migration 0005): every in-place edit is one conditional write.

On SQLite and PostgreSQL, and the same rules for the in-memory fakes: an
update based on the stored version is written and bumps it; one based on an
older version changes nothing and raises `StaleVersionError`; the sharing
choices and drafts (upserts) are conditional when given ``based_on``. On
PostgreSQL two transactions that both read version 1 really overlap: the
second's ``UPDATE ... WHERE version = 1`` waits for the first, then finds no
row (the decision is the database's, not a look before the write).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from twostep.domain.fakes import FakeUnitOfWorkFactory
from twostep.domain.ports import UnitOfWorkFactory
from twostep.domain.records import CheckinDraft, EntryKind, Goal, SharingPreference
from twostep.errors import NotFoundError, StaleVersionError
from twostep.storage import SqlUnitOfWorkFactory
from twostep.storage import tables as t

from .conftest import World

AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _goal(factory: UnitOfWorkFactory, goal_id: str) -> Goal:
    with factory() as uow:
        got = uow.goals.get(goal_id)
    assert got is not None
    return got


def _update_rules(factory: UnitOfWorkFactory, goal_id: str) -> None:
    first = _goal(factory, goal_id)
    assert first.version == 1
    with factory() as uow:
        saved = uow.goals.update(replace(first, relevant_to="first"))
        uow.commit()
    assert saved.version == 2
    with factory() as uow, pytest.raises(StaleVersionError):
        uow.goals.update(replace(first, relevant_to="late"))  # based on version 1
    now = _goal(factory, goal_id)
    assert (now.relevant_to, now.version) == ("first", 2)
    with factory() as uow:
        assert uow.goals.update(replace(now, relevant_to="second")).version == 3
        uow.commit()
    with factory() as uow, pytest.raises(NotFoundError):
        uow.goals.update(replace(now, id="00000000-0000-0000-0000-000000000000"))


def _upsert_rules(factory: UnitOfWorkFactory, client_id: str) -> None:
    pref = SharingPreference(client_id, EntryKind.JOURNAL_TEXT, True, AT)
    with factory() as uow:
        assert uow.sharing.set(pref, based_on=0).version == 1
        uow.commit()
    with factory() as uow, pytest.raises(StaleVersionError):
        uow.sharing.set(replace(pref, shared=False), based_on=0)  # exists now
    with factory() as uow:
        assert uow.sharing.set(replace(pref, shared=False), based_on=1).version == 2
        uow.commit()
    with factory() as uow, pytest.raises(StaleVersionError):
        uow.sharing.set(pref, based_on=1)
    with factory() as uow:
        assert uow.sharing.set(pref).version == 3  # unconditional: bumps
        uow.commit()
        [stored] = [p for p in uow.sharing.for_client(client_id) if p.kind == pref.kind]
    assert (stored.shared, stored.version) == (True, 3)

    draft = CheckinDraft(client_id, "phq9", {"item_1": 1.0}, AT)
    with factory() as uow:
        assert uow.drafts.save(draft, based_on=0).version == 1
        uow.commit()
    with factory() as uow, pytest.raises(StaleVersionError):
        uow.drafts.save(replace(draft, answers={"item_1": 2.0}), based_on=0)
    with factory() as uow:
        assert uow.drafts.save(replace(draft, answers={"item_1": 2.0}), based_on=1).version == 2
        uow.commit()
    with factory() as uow, pytest.raises(StaleVersionError):
        uow.drafts.save(replace(draft, answers={"item_1": 3.0}), based_on=1)
    with factory() as uow:
        got = uow.drafts.get(client_id, "phq9")
    assert got is not None
    assert (dict(got.answers), got.version) == ({"item_1": 2.0}, 2)


def test_updates_are_conditional_on_the_version(
    uow_factory: SqlUnitOfWorkFactory, world: World
) -> None:
    _update_rules(uow_factory, world.goal_id)


def test_upserts_are_conditional_when_based_on_a_version(
    uow_factory: SqlUnitOfWorkFactory, world: World
) -> None:
    _upsert_rules(uow_factory, world.client_id)


def test_the_fakes_keep_the_same_rules(uow_factory: SqlUnitOfWorkFactory, world: World) -> None:
    fakes = FakeUnitOfWorkFactory()
    with uow_factory() as sql, fakes() as fake:
        for repo in ("clinics", "users", "episodes", "goals"):
            for record in (
                getattr(sql, repo).for_client(world.client_id)
                if repo != "clinics"
                else [sql.clinics.get(world.clinic_id)]
            ):
                getattr(fake, repo).add(record)
        fake.users.add(sql.users.get(world.therapist_id))  # type: ignore[arg-type]
        fake.commit()
    _update_rules(fakes, world.goal_id)
    _upsert_rules(fakes, world.client_id)


def test_overlapping_transactions_on_postgresql(
    uow_factory: SqlUnitOfWorkFactory, world: World
) -> None:
    """Both read version 1 inside open transactions; the database refuses the second write."""
    if uow_factory.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's write transactions never overlap (BEGIN IMMEDIATE)")
    both_read = threading.Barrier(2)
    first_committed = threading.Event()
    outcome: dict[str, object] = {}

    def writer(name: str) -> None:
        with uow_factory() as uow:
            goal = uow.goals.get(world.goal_id)
            assert goal is not None
            assert goal.version == 1
            both_read.wait()
            if name == "second":
                first_committed.wait(10)
            try:
                uow.goals.update(replace(goal, relevant_to=name))
                uow.commit()
                outcome[name] = "stored"
            except StaleVersionError:
                outcome[name] = "stale"
            finally:
                if name == "first":
                    first_committed.set()

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("first", "second")]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert outcome == {"first": "stored", "second": "stale"}
    with uow_factory.engine.connect() as conn:
        row = conn.execute(sa.select(t.goals.c.version).where(t.goals.c.id == world.goal_id)).one()
    assert row.version == 2
    assert _goal(uow_factory, world.goal_id).relevant_to == "first"
