"""The per-client activity counters (`client_activity`) that the triage cache is keyed by."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from twostep.domain import records as r
from twostep.storage import SqlUnitOfWorkFactory
from twostep.storage import tables as t

from .conftest import World

AT = datetime(2025, 3, 30, 1, 30, 15, 123456, tzinfo=UTC)


def _clients(uow_factory: SqlUnitOfWorkFactory, world: World, n: int) -> list[str]:
    ids = r.new_ids(n)
    users = [
        r.User(i, world.clinic_id, f"bulk{k}@example.org", "B", frozenset({r.Role.CLIENT}))
        for k, i in enumerate(ids)
    ]
    with uow_factory() as uow:
        uow.add_many(uow.users, users)
        uow.commit()
    return ids


def test_a_touch_counts_every_change_per_client(
    uow_factory: SqlUnitOfWorkFactory, world: World
) -> None:
    # 1,500 clients take the bulk path on SQLite (above 1,000); two clients the ordinary one
    many = _clients(uow_factory, world, 1500)
    few = [world.client_id, world.other_client_id]
    with uow_factory() as uow:
        uow.activity.touch(many, AT)
        uow.activity.touch(few, AT)
        uow.commit()
    later = AT + timedelta(hours=1)
    with uow_factory() as uow:
        uow.activity.touch([*many[:700], *many[:700], *few[:1], *many[700:1400]], later)
        uow.commit()
    with uow_factory() as uow:
        versions = uow.activity.versions([*many, *few])
        rows = uow.read(sa.select(t.client_activity))
    expected = dict.fromkeys(many[:1400], 2) | dict.fromkeys(many[1400:], 1)
    expected |= {few[0]: 2, few[1]: 1}
    assert versions == expected  # a client listed twice in one touch counts once
    when = {row["client_id"]: row["changed_at"] for row in rows}
    assert when[many[0]] == later
    assert when[many[1499]] == AT
    assert when[few[0]] == later
    assert when[few[1]] == AT


def test_a_touch_rolls_back_with_its_transaction(
    uow_factory: SqlUnitOfWorkFactory, world: World
) -> None:
    many = _clients(uow_factory, world, 1200)
    with uow_factory() as uow:
        uow.activity.touch(many, AT)
        uow.rollback()
    with uow_factory() as uow:
        assert uow.activity.versions(many) == {}
