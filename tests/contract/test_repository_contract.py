"""One contract for the ports, run on the in-memory fakes, SQLite and PostgreSQL.

Every test here runs three times: on `FakeUnitOfWorkFactory` (what the
service tests use), on SQLite and on PostgreSQL (`SqlUnitOfWorkFactory` on the
``engine`` fixture of ``tests/conftest.py``). A service that passes its tests
on the fakes can only rely on what is promised here, so whatever differs
between the fakes and SQL is a bug in one of them (the SQL behaviour is the
reference; the fakes were aligned where they differed).

Covered for every repository: add / get / update / delete, ``for_client`` in
time order with the half-open ``since <= time < until`` window (a calendar
day counts as midnight UTC), records without a time first, ties broken by
id, duplicate ids. Then the repositories with queries of their own (users,
assignments, administrations, alerts, sharing, audit) and the transaction
promises of the unit of work.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import pytest

from twostep.domain import records as r
from twostep.domain.fakes import FakeUnitOfWorkFactory
from twostep.domain.ports import AuditEvent, UnitOfWork, UnitOfWorkFactory
from twostep.errors import ConflictError, NotFoundError, ValidationError

T0 = datetime(2025, 3, 10, 9, 30, 0, 250000, tzinfo=UTC)
PLUS2 = timezone(timedelta(hours=2))
MINUS5 = timezone(timedelta(hours=-5))

IMPLEMENTATIONS = [
    "fake",
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgresql),
]


@pytest.fixture(params=IMPLEMENTATIONS)
def backend(request: pytest.FixtureRequest) -> str:
    """Overrides the root ``backend`` fixture: the fakes are a third implementation here."""
    return str(request.param)


@dataclass(frozen=True)
class Ports:
    """The implementation under test: a writer factory and a reader factory.

    ``reader`` opens units of work that only read. On SQLite it starts a
    deferred transaction (a writer holds ``BEGIN IMMEDIATE``, so a second
    writer would wait for it); elsewhere it is the same factory.
    """

    name: str
    factory: UnitOfWorkFactory
    reader: UnitOfWorkFactory


@pytest.fixture
def ports(backend: str, request: pytest.FixtureRequest) -> Ports:
    if backend == "fake":
        fake = FakeUnitOfWorkFactory()
        return Ports("fake", fake, fake)
    from twostep.storage import SqlUnitOfWorkFactory

    engine = request.getfixturevalue("engine")
    return Ports(
        backend, SqlUnitOfWorkFactory(engine), SqlUnitOfWorkFactory(engine, read_only=True)
    )


@pytest.fixture
def uow_factory(ports: Ports) -> UnitOfWorkFactory:
    return ports.factory


# ------------------------------------------------------------------------------------ seed


@dataclass
class Seed:
    """One clinic, a therapist and two clients, each client with an episode, goal and supporter."""

    clinic: r.Clinic
    therapist: r.User
    client: r.User
    other: r.User
    episode: dict[str, str]
    goal: dict[str, str]
    supporter: dict[str, str]

    @property
    def cid(self) -> str:
        return self.client.id

    @property
    def oid(self) -> str:
        return self.other.id


@pytest.fixture
def seed(uow_factory: UnitOfWorkFactory) -> Seed:
    clinic = r.Clinic(r.new_id(), "Clinic", "Call 111", "Two days", created_at=T0 - timedelta(90))
    roles = frozenset({r.Role.CLIENT})
    therapist = r.User(
        r.new_id(), clinic.id, "t@example.org", "T", frozenset({r.Role.THERAPIST}), True, T0
    )
    client = r.User(r.new_id(), clinic.id, "c@example.org", "C", roles, True, T0)
    other = r.User(r.new_id(), clinic.id, "o@example.org", "O", roles, True, T0)
    s = Seed(clinic, therapist, client, other, {}, {}, {})
    with uow_factory() as uow:
        uow.clinics.add(clinic)
        for u in (therapist, client, other):
            uow.users.add(u)
        for c in (client.id, other.id):
            ep = r.Episode(r.new_id(), clinic.id, c, date(2025, 1, 1))
            goal = r.Goal(
                r.new_id(), clinic.id, c, "g", "m", {0: "x"}, 0, None, "r", None, 1, 1,
                created_at=T0 - timedelta(days=60),
            )  # fmt: skip
            sup = r.Supporter(r.new_id(), c, "Ann", "friend", created_at=T0 - timedelta(days=60))
            uow.episodes.add(ep)
            uow.goals.add(goal)
            uow.supporters.add(sup)
            s.episode[c], s.goal[c], s.supporter[c] = ep.id, goal.id, sup.id
        uow.commit()
    return s


# ----------------------------------------------------------------------- record builders

Builder = Callable[[Seed, str, Any, str], Any]


def _day(when: datetime | None) -> date | None:
    return None if when is None else when.astimezone(UTC).date()


def _adm(s: Seed, client: str, when: datetime, rid: str, **kw: Any) -> r.Administration:
    base: dict[str, Any] = {
        "id": rid,
        "clinic_id": s.clinic.id,
        "client_id": client,
        "episode_id": s.episode[client],
        "instrument_id": "phq9",
        "answers": {f"item_{i}": float(i % 4) for i in range(1, 10)},
        "total": 12.0,
        "subscales": {},
        "band": "moderate",
        "case": True,
        "risk": False,
        "risk_level": 0,
        "risk_not_assessed": False,
        "prorated": False,
        "completed_at": when,
        "received_at": when + timedelta(minutes=1),
        "submitted_by": client,
    }
    base.update(kw)
    return r.Administration(**base)


#: repository -> (builder(seed, client, time, id), whether its time is a calendar day)
BUILDERS: dict[str, tuple[Builder, bool]] = {
    "assignments": (
        lambda s, c, t, i: r.Assignment(i, s.clinic.id, s.therapist.id, c, t), False,
    ),
    "episodes": (lambda s, c, t, i: r.Episode(i, s.clinic.id, c, _day(t)), True),
    "appointments": (
        lambda s, c, t, i: r.Appointment(i, s.clinic.id, s.episode[c], c, s.therapist.id, t),
        False,
    ),
    "administrations": (lambda s, c, t, i: _adm(s, c, t, i), False),
    "alerts": (
        lambda s, c, t, i: r.Alert(i, s.clinic.id, c, r.AlertKind.PLATEAU, "plateau", {}, t),
        False,
    ),
    "goals": (
        lambda s, c, t, i: r.Goal(
            i, s.clinic.id, c, "g", "m", {0: "x"}, 0, None, "r", None, 1, 1, created_at=t
        ),
        False,
    ),
    "goal_steps": (lambda s, c, t, i: r.GoalStep(i, s.goal[c], c, "step", _day(t)), True),
    "goal_reviews": (lambda s, c, t, i: r.GoalReview(i, s.goal[c], c, t, 1, "ok"), False),
    "journal": (lambda s, c, t, i: r.JournalEntry(i, c, t, 5, ("calm",), "text"), False),
    "reflections": (lambda s, c, t, i: r.SetbackReflection(i, c, t, "a", "b", "c", "d"), False),
    "stressors": (
        lambda s, c, t, i: r.Stressor(i, c, r.StressorCategory.WORK, 3, _day(t)), True,
    ),
    "self_care": (
        lambda s, c, t, i: r.SelfCareEntry(i, c, _day(t), r.SelfCareActivity.YOGA, 30, 7), True,
    ),
    "skill_practice": (lambda s, c, t, i: r.SkillPractice(i, c, "grounding", t, 6), False),
    "thought_records": (
        lambda s, c, t, i: r.ThoughtRecord(i, c, t, "sit", "thought", "fear", 70), False,
    ),
    "supporters": (lambda s, c, t, i: r.Supporter(i, c, "Jo", "friend", created_at=t), False),
    "support_contacts": (
        lambda s, c, t, i: r.SupportContact(i, c, s.supporter[c], _day(t), "phone", 8), True,
    ),
    "topics": (lambda s, c, t, i: r.SessionTopic(i, c, t, "topic"), False),
}  # fmt: skip

#: A change of each (mutable) record for `update`.
CHANGES: dict[str, dict[str, Any]] = {
    "assignments": {"ended_at": T0 + timedelta(days=30)},
    "episodes": {"ended_on": date(2025, 6, 1), "end_reason": "completed"},
    "appointments": {"status": r.AppointmentStatus.MISSED, "focus_tags": ("sleep",)},
    "alerts": {"status": r.AlertStatus.RESOLVED, "action_taken": "called", "updated_at": T0},
    "goals": {"specific_description": "walk more", "closed_at": T0 + timedelta(days=3)},
    "goal_steps": {"done": True, "done_at": T0},
    "goal_reviews": {"attained_level": 2, "notes": "better"},
    "journal": {"text": "changed", "mood": 2},
    "reflections": {"what_helped": "a walk"},
    "stressors": {"severity": 5, "ended_on": date(2025, 9, 1)},
    "self_care": {"minutes": 60},
    "skill_practice": {"helpfulness": 9},
    "thought_records": {"balanced_thought": "maybe not", "rerated_intensity": 30},
    "supporters": {"name": "Joanna"},
    "support_contacts": {"helpful": 2},
    "topics": {"addressed_at": T0 + timedelta(days=1)},
}

REPOS = sorted(BUILDERS)
MUTABLE = sorted(CHANGES)


def build(repo: str, s: Seed, client: str, when: datetime | None, rid: str | None = None) -> Any:
    return BUILDERS[repo][0](s, client, when, rid or r.new_id())


def instant_of(record: Any, repo: str) -> datetime | None:
    """The record's main time as an instant (a calendar day is midnight UTC)."""
    field = {
        "assignments": "started_at",
        "episodes": "started_on",
        "appointments": "scheduled_at",
        "administrations": "completed_at",
        "goal_steps": "due_on",
        "goal_reviews": "reviewed_at",
        "stressors": "started_on",
        "self_care": "done_on",
        "skill_practice": "practiced_at",
        "support_contacts": "contacted_on",
    }.get(repo, "created_at")
    value = getattr(record, field)
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=UTC)
    return None


def ordered(records: list[Any], repo: str) -> list[Any]:
    """The promised order: time (records without a time first), then id."""

    def key(x: Any) -> tuple[bool, datetime, str]:
        t = instant_of(x, repo)
        return (t is not None, t or datetime.min.replace(tzinfo=UTC), x.id)

    return sorted(records, key=key)


def repo_of(uow: UnitOfWork, name: str) -> Any:
    return getattr(uow, name)


def ids(records: list[Any]) -> list[str]:
    return [x.id for x in records]


# ------------------------------------------------------------------ every repository


@pytest.mark.parametrize("repo", REPOS)
def test_add_get_and_duplicate_ids(uow_factory: UnitOfWorkFactory, seed: Seed, repo: str) -> None:
    record = build(repo, seed, seed.cid, T0)
    with uow_factory() as uow:
        assert repo_of(uow, repo).add(record) == record
        assert repo_of(uow, repo).get(record.id) == record  # read your own writes
        with pytest.raises(ConflictError):
            repo_of(uow, repo).add(record)
        # the refused write leaves the transaction usable and the first record in place
        assert repo_of(uow, repo).get(record.id) == record
        uow.commit()
    with uow_factory() as uow:
        assert repo_of(uow, repo).get(record.id) == record
        assert repo_of(uow, repo).get(r.new_id()) is None
        with pytest.raises(ConflictError):
            repo_of(uow, repo).add(record)


@pytest.mark.parametrize("repo", MUTABLE)
def test_update_and_delete(uow_factory: UnitOfWorkFactory, seed: Seed, repo: str) -> None:
    record = build(repo, seed, seed.cid, T0)
    changed = replace(record, **CHANGES[repo])
    with uow_factory() as uow:
        with pytest.raises(NotFoundError):
            repo_of(uow, repo).update(record)
        with pytest.raises(NotFoundError):
            repo_of(uow, repo).delete(record.id)
        repo_of(uow, repo).add(record)
        assert repo_of(uow, repo).update(changed) == changed
        uow.commit()
    with uow_factory() as uow:
        assert repo_of(uow, repo).get(record.id) == changed
        repo_of(uow, repo).delete(record.id)
        assert repo_of(uow, repo).get(record.id) is None
        with pytest.raises(NotFoundError):
            repo_of(uow, repo).delete(record.id)
        uow.commit()
    with uow_factory() as uow:
        assert repo_of(uow, repo).get(record.id) is None
        assert repo_of(uow, repo).for_client(seed.cid, since=T0 - timedelta(days=1)) == []


@pytest.mark.parametrize("repo", REPOS)
def test_for_client_time_order_ties_and_half_open_window(
    uow_factory: UnitOfWorkFactory, seed: Seed, repo: str
) -> None:
    day = timedelta(days=1)
    # two records at the same moment, added in descending id order: ties go by id
    tie_ids = sorted([r.new_id(), r.new_id()], reverse=True)
    mine = [
        build(repo, seed, seed.cid, T0 + 2 * day),
        build(repo, seed, seed.cid, T0),
        build(repo, seed, seed.cid, T0 + day),
        build(repo, seed, seed.cid, T0 + 3 * day, tie_ids[0]),
    ]
    tie = build(repo, seed, seed.cid, T0 + 3 * day, tie_ids[1])
    if repo == "administrations":  # the natural key allows one per client, instrument, moment
        tie = replace(tie, instrument_id="gad7")
    mine.append(tie)
    if repo == "assignments":  # one open assignment per therapist and client (RL-09)
        mine = [replace(a, ended_at=a.started_at + timedelta(hours=1)) for a in mine[:-1]] + [
            mine[-1]
        ]
    theirs = build(repo, seed, seed.oid, T0 + day)
    with uow_factory() as uow:
        for x in [*mine, theirs]:
            repo_of(uow, repo).add(x)
        uow.commit()
    is_day = BUILDERS[repo][1]
    with uow_factory() as uow:
        got = repo_of(uow, repo).for_client(seed.cid)
        # the seed's own goal / supporter / episode belong to the client too
        seeded = [x for x in got if x.id not in {m.id for m in mine}]
        assert got == ordered([*mine, *seeded], repo)
        assert ids(got)[-2:] == sorted(tie_ids)
        assert theirs not in got
        assert repo_of(uow, repo).for_client(seed.oid)[-1] == theirs
        assert repo_of(uow, repo).for_client(r.new_id()) == []

        def window(since: datetime | None, until: datetime | None) -> list[Any]:
            keep = [
                x
                for x in [*mine, *seeded]
                if (t := instant_of(x, repo)) is not None
                and (since is None or t >= since)
                and (until is None or t < until)
            ]
            return ordered(keep, repo)

        for since, until in [
            (T0 + day, None),
            (None, T0 + 2 * day),
            (T0 + day, T0 + 2 * day),
            (T0, T0),  # empty
            (T0 - 100 * day, T0 + 100 * day),
            # the same instants in other zones
            ((T0 + day).astimezone(MINUS5), (T0 + 3 * day).astimezone(PLUS2)),
        ]:
            got = repo_of(uow, repo).for_client(seed.cid, since=since, until=until)
            assert got == window(since, until), (since, until)
        if is_day:
            # a calendar day is midnight UTC: from 09:30 on day 0 to 09:30 on day 1 holds day 1
            midnight = datetime.combine(T0.date(), time(0), tzinfo=UTC)
            got = repo_of(uow, repo).for_client(seed.cid, since=T0, until=T0 + day)
            assert [instant_of(x, repo) for x in got] == [midnight + day]
            late_evening_before = (midnight - timedelta(hours=1)).astimezone(PLUS2)
            got = repo_of(uow, repo).for_client(
                seed.cid, since=late_evening_before, until=midnight + day
            )
            assert [instant_of(x, repo) for x in got] == [midnight]
        else:
            exact = repo_of(uow, repo).for_client(seed.cid, since=T0, until=T0 + day)
            assert [instant_of(x, repo) for x in exact] == [T0]


@pytest.mark.parametrize("repo", REPOS)
def test_for_client_refuses_naive_bounds(
    uow_factory: UnitOfWorkFactory, seed: Seed, repo: str
) -> None:
    with uow_factory() as uow:
        repo_of(uow, repo).add(build(repo, seed, seed.cid, T0))
        naive = T0.replace(tzinfo=None)
        with pytest.raises(ValidationError):
            repo_of(uow, repo).for_client(seed.cid, since=naive)
        with pytest.raises(ValidationError):
            repo_of(uow, repo).for_client(seed.cid, until=naive)


@pytest.mark.parametrize(
    ("repo", "timeless"),
    [
        ("goal_steps", lambda s: r.GoalStep(r.new_id(), s.goal[s.cid], s.cid, "no date")),
        ("goals", lambda s: replace(build("goals", s, s.cid, T0), created_at=None)),
        ("supporters", lambda s: r.Supporter(r.new_id(), s.cid, "Kim", "neighbour")),
    ],
)
def test_records_without_a_time_come_first_and_never_match_a_window(
    uow_factory: UnitOfWorkFactory, seed: Seed, repo: str, timeless: Callable[[Seed], Any]
) -> None:
    dated = build(repo, seed, seed.cid, T0 - timedelta(days=400))
    blank = timeless(seed)
    with uow_factory() as uow:
        repo_of(uow, repo).add(dated)
        repo_of(uow, repo).add(blank)
        uow.commit()
    with uow_factory() as uow:
        got = repo_of(uow, repo).for_client(seed.cid)
        assert got[0] == blank
        assert dated in got
        far = T0 - timedelta(days=10_000)
        assert blank not in repo_of(uow, repo).for_client(seed.cid, since=far)
        assert blank not in repo_of(uow, repo).for_client(seed.cid, until=T0 + timedelta(9999))


def test_clinics(uow_factory: UnitOfWorkFactory, seed: Seed) -> None:
    other = r.Clinic(r.new_id(), "Other", "", "")
    with uow_factory() as uow:
        assert uow.clinics.get(seed.clinic.id) == seed.clinic
        uow.clinics.add(other)
        with pytest.raises(ConflictError):
            uow.clinics.add(other)
        renamed = replace(other, name="Renamed", instruments=("phq9",), checkin_every_days=14)
        uow.clinics.update(renamed)
        assert uow.clinics.get(other.id) == renamed
        assert uow.clinics.for_client(seed.cid) == []  # clinics belong to no client
        uow.clinics.delete(other.id)
        assert uow.clinics.get(other.id) is None
        with pytest.raises(NotFoundError):
            uow.clinics.update(renamed)


# ------------------------------------------------------------------------------ users


def test_users_by_email_is_case_insensitive_and_unique(
    uow_factory: UnitOfWorkFactory, seed: Seed
) -> None:
    ann = r.User(
        r.new_id(), seed.clinic.id, "Ann.Smith@Example.ORG", "Ann",
        frozenset({r.Role.THERAPIST, r.Role.ADMIN}), True, T0,
    )  # fmt: skip
    with uow_factory() as uow:
        uow.users.add(ann)
        uow.commit()
    with uow_factory() as uow:
        assert uow.users.by_email("ann.smith@example.org") == ann
        assert uow.users.by_email("  ANN.SMITH@EXAMPLE.ORG ") == ann
        assert uow.users.by_email("ann@example.org") is None
        with pytest.raises(ConflictError):
            uow.users.add(replace(ann, id=r.new_id(), email="ann.smith@example.org"))
        # the refused write leaves the transaction usable
        bob = r.User(r.new_id(), seed.clinic.id, "bob@example.org", "Bob", frozenset())
        uow.users.add(bob)
        with pytest.raises(ConflictError):
            uow.users.update(replace(bob, email="ANN.smith@example.org"))
        # a user may change the case of their own address, and their roles
        moved = replace(ann, email="ann.smith@example.org", roles=frozenset({r.Role.CLIENT}))
        uow.users.update(moved)
        uow.commit()
    with uow_factory() as uow:
        assert uow.users.get(ann.id) == moved
        assert uow.users.by_email("Bob@Example.org") == bob
        assert uow.users.for_client(ann.id) == [moved]  # a user's "client" is the user
        assert uow.users.for_client(ann.id, since=T0 + timedelta(seconds=1)) == []


def test_users_in_clinic_in_creation_order_then_id(
    uow_factory: UnitOfWorkFactory, seed: Seed
) -> None:
    clinic = r.Clinic(r.new_id(), "Two", "", "")
    tie = sorted([r.new_id(), r.new_id()], reverse=True)
    people = [
        r.User(tie[0], clinic.id, "a@two.org", "A", frozenset(), True, T0),
        r.User(tie[1], clinic.id, "b@two.org", "B", frozenset(), True, T0),
        r.User(r.new_id(), clinic.id, "c@two.org", "C", frozenset(), True, T0 - timedelta(1)),
        r.User(r.new_id(), clinic.id, "d@two.org", "D", frozenset()),  # no time: first
    ]
    with uow_factory() as uow:
        uow.clinics.add(clinic)
        for p in people:
            uow.users.add(p)
        uow.commit()
    with uow_factory() as uow:
        got = uow.users.in_clinic(clinic.id)
        # B has the smaller id of the two created at the same moment
        assert [u.display_name for u in got] == ["D", "C", "B", "A"]
        assert seed.client in uow.users.in_clinic(seed.clinic.id)


# ------------------------------------------------------------------------ assignments


def test_assignments_active_at_a_given_time(uow_factory: UnitOfWorkFactory, seed: Seed) -> None:
    day = timedelta(days=1)
    ended = r.Assignment(r.new_id(), seed.clinic.id, seed.therapist.id, seed.cid, T0 - 10 * day, T0)
    current = r.Assignment(r.new_id(), seed.clinic.id, seed.therapist.id, seed.cid, T0)
    future = r.Assignment(r.new_id(), seed.clinic.id, seed.therapist.id, seed.oid, T0 + 5 * day)
    old = r.Assignment(
        r.new_id(), seed.clinic.id, seed.therapist.id, seed.oid, T0 - 9 * day, T0 - 8 * day
    )
    with uow_factory() as uow:
        for a in (current, future, ended, old):
            uow.assignments.add(a)
        uow.commit()
    with uow_factory() as uow:
        a = uow.assignments
        t = seed.therapist.id
        # started_at <= at < ended_at
        assert a.active_for_client(seed.cid, T0 - day) == [ended]
        assert a.active_for_client(seed.cid, T0) == [current]
        assert a.active_for_client(seed.cid, T0 - 10 * day) == [ended]
        assert a.active_for_client(seed.cid, T0 - 10 * day - timedelta(microseconds=1)) == []
        assert a.active_for_client(seed.oid, T0) == []
        assert a.active_for_therapist(t, T0 - 8.5 * day) == [ended, old]
        assert a.active_for_therapist(t, T0 + 6 * day) == [current, future]
        assert a.active_for_therapist(t, (T0 + 6 * day).astimezone(MINUS5)) == [current, future]
        assert a.active_for_therapist(seed.cid, T0) == []
        # without a time: now (the records are in 2025; the open ones are still active)
        assert a.active_for_therapist(t) == [current, future]
        assert a.active_for_client(seed.oid) == [future]
        assert a.for_client(seed.cid) == [ended, current]
        assert a.for_client(seed.oid) == [old, future]


# -------------------------------------------------------------------- administrations


def test_administrations_are_immutable(uow_factory: UnitOfWorkFactory, seed: Seed) -> None:
    first = _adm(seed, seed.cid, T0, r.new_id())
    with uow_factory() as uow:
        uow.administrations.add(first)
        uow.commit()
    with uow_factory() as uow:
        with pytest.raises(ConflictError):
            uow.administrations.update(replace(first, total=1.0))
        with pytest.raises(ConflictError):
            uow.administrations.update(_adm(seed, seed.cid, T0, r.new_id()))
        with pytest.raises(ConflictError):
            uow.administrations.delete(first.id)
        uow.commit()
    with uow_factory() as uow:
        assert uow.administrations.get(first.id) == first


def test_the_same_submission_twice_conflicts(uow_factory: UnitOfWorkFactory, seed: Seed) -> None:
    first = _adm(seed, seed.cid, T0, r.new_id())
    with uow_factory() as uow:
        uow.administrations.add(first)
        # same client, instrument, moment (in another zone) and version: a double submission
        with pytest.raises(ConflictError):
            uow.administrations.add(
                _adm(seed, seed.cid, T0.astimezone(PLUS2), r.new_id(), total=3.0)
            )
        # another instrument, client or moment is fine
        uow.administrations.add(_adm(seed, seed.cid, T0, r.new_id(), instrument_id="gad7"))
        uow.administrations.add(_adm(seed, seed.oid, T0, r.new_id()))
        uow.administrations.add(_adm(seed, seed.cid, T0 + timedelta(microseconds=1), r.new_id()))
        uow.commit()
    with uow_factory() as uow:
        assert len(uow.administrations.for_client(seed.cid)) == 3


def test_corrections_are_new_versions_and_history_keeps_the_current_one(
    uow_factory: UnitOfWorkFactory, seed: Seed
) -> None:
    day = timedelta(days=1)
    v1 = _adm(seed, seed.cid, T0, r.new_id(), total=10.0)
    later = _adm(seed, seed.cid, T0 + day, r.new_id(), total=11.0)
    v2 = _adm(seed, seed.cid, T0, r.new_id(), total=9.0, version=2, supersedes_id=v1.id)
    v3 = _adm(seed, seed.cid, T0, r.new_id(), total=8.0, version=3, supersedes_id=v2.id)
    with uow_factory() as uow:
        for a in (v1, later, v2):
            uow.administrations.add(a)
        uow.commit()
    with uow_factory() as uow:
        adms = uow.administrations
        assert adms.history(seed.cid, "phq9") == [v2, later]
        assert adms.history(seed.cid, "gad7") == []
        # every version stays stored and readable
        assert adms.get(v1.id) == v1
        assert adms.for_client(seed.cid) == ordered([v1, v2, later], "administrations")
        # a version can be superseded once, by the next version, of the same client and instrument
        with pytest.raises(ConflictError):  # v1 was superseded already
            adms.add(replace(v2, id=r.new_id(), completed_at=T0 + 2 * day))
        with pytest.raises(ConflictError):  # must be version 3
            adms.add(replace(v3, version=4))
        with pytest.raises(ConflictError):  # another client
            adms.add(replace(v3, client_id=seed.oid, episode_id=seed.episode[seed.oid]))
        with pytest.raises(ConflictError):  # another instrument
            adms.add(replace(v3, instrument_id="gad7"))
        with pytest.raises(NotFoundError):  # nothing to supersede
            adms.add(replace(v3, supersedes_id=r.new_id()))
        with pytest.raises(ValidationError):  # a later version must name the one it replaces
            adms.add(replace(v3, supersedes_id=None, completed_at=T0 + 3 * day))
        adms.add(v3)
        uow.commit()
    with uow_factory() as uow:
        assert uow.administrations.history(seed.cid, "phq9") == [v3, later]
        assert uow.administrations.for_clients([seed.cid]) == [v3, later]


def test_for_clients_keeps_the_client_order_then_time_then_id(
    uow_factory: UnitOfWorkFactory, seed: Seed
) -> None:
    day = timedelta(days=1)
    c, o = seed.cid, seed.oid
    tie = sorted([r.new_id(), r.new_id()], reverse=True)
    mine_late = _adm(seed, c, T0 + day, r.new_id())
    mine_tie_a = _adm(seed, c, T0, tie[0])
    mine_tie_b = _adm(seed, c, T0, tie[1], instrument_id="gad7")
    theirs = _adm(seed, o, T0 - day, r.new_id())
    theirs_gad = _adm(seed, o, T0 + 2 * day, r.new_id(), instrument_id="gad7")
    fixed = _adm(seed, o, T0 - day, r.new_id(), version=2, supersedes_id=theirs.id, total=1.0)
    with uow_factory() as uow:
        for a in (mine_late, mine_tie_a, mine_tie_b, theirs, theirs_gad, fixed):
            uow.administrations.add(a)
        uow.commit()
    with uow_factory() as uow:
        adms = uow.administrations
        mine = [*sorted([mine_tie_a, mine_tie_b], key=lambda a: a.id), mine_late]
        assert adms.for_clients([o, c]) == [fixed, theirs_gad, *mine]
        assert adms.for_clients([c, o, c]) == [*mine, fixed, theirs_gad]
        assert adms.for_clients([c, o], "gad7") == [mine_tie_b, theirs_gad]
        assert adms.for_clients([o], "phq9") == [fixed]
        assert adms.for_clients([]) == []
        assert adms.for_clients([r.new_id()]) == []


# ------------------------------------------------------------------------------ alerts


def test_open_alerts_of_many_clients(uow_factory: UnitOfWorkFactory, seed: Seed) -> None:
    tie = sorted([r.new_id(), r.new_id()], reverse=True)

    def alert(client: str, status: r.AlertStatus, at: datetime, rid: str | None = None) -> Any:
        a = build("alerts", seed, client, at, rid)
        return replace(a, status=status)

    day = timedelta(days=1)
    made = [
        alert(seed.cid, r.AlertStatus.OPEN, T0 + day),
        alert(seed.cid, r.AlertStatus.ACKNOWLEDGED, T0, tie[0]),
        alert(seed.oid, r.AlertStatus.SNOOZED, T0, tie[1]),
        alert(seed.oid, r.AlertStatus.OPEN, T0 - day),
    ]
    resolved = alert(seed.cid, r.AlertStatus.RESOLVED, T0 - 2 * day)
    with uow_factory() as uow:
        for a in [*made, resolved]:
            uow.alerts.add(a)
        uow.commit()
    with uow_factory() as uow:
        expected = sorted(made, key=lambda a: (a.created_at, a.id))
        assert uow.alerts.open_for_clients([seed.cid, seed.oid]) == expected
        assert uow.alerts.open_for_clients([seed.oid, seed.cid, seed.oid]) == expected
        assert uow.alerts.open_for_clients([seed.cid]) == [
            a for a in expected if a.client_id == seed.cid
        ]
        assert uow.alerts.open_for_clients([]) == []
        assert resolved in uow.alerts.for_client(seed.cid)
        uow.alerts.update(replace(made[0], status=r.AlertStatus.RESOLVED, action_taken="done"))
        assert made[0].id not in ids(uow.alerts.open_for_clients([seed.cid]))


# ----------------------------------------------------------------------------- sharing


def test_sharing_set_replaces_and_for_client_lists_chosen_kinds(
    uow_factory: UnitOfWorkFactory, seed: Seed
) -> None:
    with uow_factory() as uow:
        assert uow.sharing.for_client(seed.cid) == []
        uow.sharing.set(r.SharingPreference(seed.cid, r.EntryKind.MOOD, False, T0))
        uow.sharing.set(r.SharingPreference(seed.cid, r.EntryKind.JOURNAL_TEXT, True, T0))
        uow.sharing.set(r.SharingPreference(seed.oid, r.EntryKind.JOURNAL_TEXT, True, T0))
        uow.commit()
    later = T0 + timedelta(hours=1)
    with uow_factory() as uow:
        uow.sharing.set(r.SharingPreference(seed.cid, r.EntryKind.JOURNAL_TEXT, False, later))
        uow.commit()
    with uow_factory() as uow:
        assert uow.sharing.for_client(seed.cid) == [
            r.SharingPreference(seed.cid, r.EntryKind.JOURNAL_TEXT, False, later),
            r.SharingPreference(seed.cid, r.EntryKind.MOOD, False, T0),
        ]
        assert uow.sharing.for_client(seed.oid) == [
            r.SharingPreference(seed.oid, r.EntryKind.JOURNAL_TEXT, True, T0)
        ]
        assert all(type(p.kind) is r.EntryKind for p in uow.sharing.for_client(seed.cid))


# ------------------------------------------------------------------------------- audit


def _event(client: str | None, action: str, at: datetime | None = T0) -> AuditEvent:
    return AuditEvent(
        "actor-1", "therapist", action, "journal_entry", "obj-1", client, "ok", "rq", at
    )


def test_audit_record_and_for_client(uow_factory: UnitOfWorkFactory, seed: Seed) -> None:
    with uow_factory() as uow:
        uow.audit.record(_event(seed.cid, "read"))
        uow.audit.record(_event(seed.oid, "read"))
        uow.audit.record(_event(None, "login"))
        uow.audit.record(_event(seed.cid, "update", (T0 + timedelta(1)).astimezone(PLUS2)))
        uow.commit()
    with uow_factory() as uow:
        got = uow.audit.for_client(seed.cid)
        assert [e.action for e in got] == ["read", "update"]
        assert got == [_event(seed.cid, "read"), _event(seed.cid, "update", T0 + timedelta(1))]
        # what this transaction recorded counts too, after what was committed
        uow.audit.record(_event(seed.cid, "delete"))
        assert [e.action for e in uow.audit.for_client(seed.cid)] == ["read", "update", "delete"]
        uow.rollback()
        assert [e.action for e in uow.audit.for_client(seed.cid)] == ["read", "update"]
    with uow_factory() as uow:
        assert [e.action for e in uow.audit.for_client(seed.cid)] == ["read", "update"]
        assert [e.action for e in uow.audit.for_client(seed.oid)] == ["read"]


def test_audit_events_get_a_time_and_naive_times_are_refused(
    uow_factory: UnitOfWorkFactory, seed: Seed
) -> None:
    before = datetime.now(UTC)
    with uow_factory() as uow:
        uow.audit.record(_event(seed.cid, "read", None))
        with pytest.raises(ValidationError):
            uow.audit.record(_event(seed.cid, "read", T0.replace(tzinfo=None)))
        uow.commit()
    with uow_factory() as uow:
        [event] = uow.audit.for_client(seed.cid)
    assert event.at is not None
    assert before <= event.at <= datetime.now(UTC)


# ------------------------------------------------------------------------ transactions


def entry(s: Seed, text: str = "x", client: str | None = None) -> r.JournalEntry:
    return r.JournalEntry(r.new_id(), client or s.cid, T0, 5, (), text)


def test_commit_makes_changes_visible_to_new_units_of_work(ports: Ports, seed: Seed) -> None:
    e = entry(seed)
    with ports.factory() as uow:
        uow.journal.add(e)
        assert uow.journal.get(e.id) == e
        with ports.reader() as other:  # another transaction does not see uncommitted work
            assert other.journal.get(e.id) is None
            assert other.journal.for_client(seed.cid) == []
        uow.commit()
        # the unit of work goes on after a commit, in a new transaction
        second = uow.journal.add(entry(seed, "second"))
        with ports.reader() as other:
            assert other.journal.get(e.id) == e
            assert other.journal.get(second.id) is None
    # leaving the block without commit rolls back
    with ports.factory() as uow:
        assert uow.journal.get(e.id) == e
        assert uow.journal.get(second.id) is None


def test_rollback_discards_and_the_unit_of_work_goes_on(ports: Ports, seed: Seed) -> None:
    lost, kept = entry(seed), entry(seed)
    with ports.factory() as uow:
        uow.journal.add(lost)
        uow.sharing.set(r.SharingPreference(seed.cid, r.EntryKind.MOOD, False, T0))
        uow.audit.record(_event(seed.cid, "create"))
        uow.rollback()
        assert uow.journal.get(lost.id) is None
        assert uow.sharing.for_client(seed.cid) == []
        uow.journal.add(kept)
        uow.commit()
    with ports.factory() as uow:
        assert uow.journal.for_client(seed.cid) == [kept]
        assert uow.sharing.for_client(seed.cid) == []
        assert uow.audit.for_client(seed.cid) == []


def test_an_exception_in_the_block_rolls_back(ports: Ports, seed: Seed) -> None:
    e = entry(seed)

    def fail() -> None:
        with ports.factory() as uow:
            uow.journal.add(e)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail()
    with ports.factory() as uow:
        assert uow.journal.get(e.id) is None


def test_a_savepoint_undoes_only_its_own_work(ports: Ports, seed: Seed) -> None:
    before, inside, after = entry(seed, "before"), entry(seed, "inside"), entry(seed, "after")
    with ports.factory() as uow:
        uow.journal.add(before)
        uow.audit.record(_event(seed.cid, "before"))

        def fail() -> None:
            with uow.savepoint():
                uow.journal.add(inside)
                uow.audit.record(_event(seed.cid, "inside"))
                uow.sharing.set(r.SharingPreference(seed.cid, r.EntryKind.MOOD, False, T0))
                assert uow.journal.get(inside.id) == inside
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            fail()
        assert uow.journal.get(before.id) == before
        assert uow.journal.get(inside.id) is None
        assert uow.sharing.for_client(seed.cid) == []
        with uow.savepoint():  # a savepoint left normally keeps its work
            uow.journal.add(after)
        uow.commit()
    with ports.factory() as uow:
        assert {e.text for e in uow.journal.for_client(seed.cid)} == {"before", "after"}
        assert [e.action for e in uow.audit.for_client(seed.cid)] == ["before"]


def test_a_savepoint_keeps_audit_events_read_back_inside_it(ports: Ports, seed: Seed) -> None:
    """Reading the audit trail inside a failed savepoint must not lose events from before it."""
    with ports.factory() as uow:
        uow.audit.record(_event(seed.cid, "before"))

        def fail() -> None:
            with uow.savepoint():
                uow.audit.record(_event(seed.cid, "inside"))
                assert [e.action for e in uow.audit.for_client(seed.cid)] == ["before", "inside"]
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            fail()
        assert [e.action for e in uow.audit.for_client(seed.cid)] == ["before"]
        uow.commit()
    with ports.factory() as uow:
        assert [e.action for e in uow.audit.for_client(seed.cid)] == ["before"]


def test_nested_savepoints_and_a_conflict_inside_one(ports: Ports, seed: Seed) -> None:
    a, b, c = entry(seed, "a"), entry(seed, "b"), entry(seed, "c")
    with ports.factory() as uow:

        def inner() -> None:
            with uow.savepoint():
                uow.journal.add(b)
                uow.journal.add(a)  # duplicate: the inner savepoint is undone, b with it

        with uow.savepoint():
            uow.journal.add(a)
            with pytest.raises(ConflictError):
                inner()
            uow.journal.add(c)
        uow.commit()
    with ports.factory() as uow:
        assert {e.text for e in uow.journal.for_client(seed.cid)} == {"a", "c"}


def test_an_outer_rollback_undoes_a_completed_savepoint(ports: Ports, seed: Seed) -> None:
    e = entry(seed)
    with ports.factory() as uow:
        with uow.savepoint():
            uow.journal.add(e)
        uow.rollback()
        uow.commit()
    with ports.factory() as uow:
        assert uow.journal.get(e.id) is None


# ---------------------------------------------------------------------- round trips


@pytest.mark.parametrize("repo", REPOS)
def test_records_come_back_equal_with_instants_in_utc(
    uow_factory: UnitOfWorkFactory, seed: Seed, repo: str
) -> None:
    record = build(repo, seed, seed.cid, T0.astimezone(MINUS5))
    with uow_factory() as uow:
        repo_of(uow, repo).add(record)
        uow.commit()
    with uow_factory() as uow:
        back = repo_of(uow, repo).get(record.id)
    assert back == record
    for f in dataclasses.fields(back):
        value = getattr(back, f.name)
        if isinstance(value, datetime):
            assert value.tzinfo is UTC, f.name  # instants come back in UTC, as stored


@pytest.mark.parametrize("repo", [x for x in REPOS if not BUILDERS[x][1]])
def test_naive_instants_are_refused(uow_factory: UnitOfWorkFactory, seed: Seed, repo: str) -> None:
    record = build(repo, seed, seed.cid, T0)
    naive = {
        f.name: getattr(record, f.name).replace(tzinfo=None)
        for f in dataclasses.fields(record)
        if isinstance(getattr(record, f.name), datetime)
    }
    assert naive
    with uow_factory() as uow:
        with pytest.raises(ValidationError):
            repo_of(uow, repo).add(replace(record, **naive))
        repo_of(uow, repo).add(record)  # the transaction is still usable
        if repo in CHANGES:
            with pytest.raises(ValidationError):
                repo_of(uow, repo).update(replace(record, **naive))
        uow.commit()
    with uow_factory() as uow:
        assert repo_of(uow, repo).get(record.id) == record


# ------------------------------------------------- what only the database enforces

FAKES_HAVE_NO_CONSTRAINTS = (
    "known difference, not aligned: the fakes keep no foreign keys, cascades or CHECK "
    "constraints (the services validate before writing, and test_fakes.py relies on "
    "records that reference nothing)"
)


def test_references_must_exist_and_goals_take_their_steps_along(
    ports: Ports, seed: Seed, request: pytest.FixtureRequest
) -> None:
    if ports.name == "fake":
        request.applymarker(pytest.mark.xfail(strict=True, reason=FAKES_HAVE_NO_CONSTRAINTS))
    with ports.factory() as uow:
        with pytest.raises(ConflictError):  # no such client
            uow.journal.add(r.JournalEntry(r.new_id(), r.new_id(), T0, 5))
        with pytest.raises(ConflictError):  # a step pointing at another client's goal
            uow.goal_steps.add(r.GoalStep(r.new_id(), seed.goal[seed.oid], seed.cid, "x"))
        with pytest.raises(ConflictError):  # a client with clinical records cannot be deleted
            uow.users.delete(seed.cid)
        goal = build("goals", seed, seed.cid, T0)
        step = r.GoalStep(r.new_id(), goal.id, seed.cid, "step")
        uow.goals.add(goal)
        uow.goal_steps.add(step)
        uow.goals.delete(goal.id)
        assert uow.goal_steps.get(step.id) is None  # ON DELETE CASCADE


def test_check_constraints_refuse_out_of_range_values(
    ports: Ports, seed: Seed, request: pytest.FixtureRequest
) -> None:
    if ports.name == "fake":
        request.applymarker(pytest.mark.xfail(strict=True, reason=FAKES_HAVE_NO_CONSTRAINTS))
    with ports.factory() as uow:
        with pytest.raises(ValidationError):
            uow.journal.add(r.JournalEntry(r.new_id(), seed.cid, T0, 11))  # mood 0-10
        with pytest.raises(ValidationError):
            uow.stressors.add(
                r.Stressor(r.new_id(), seed.cid, r.StressorCategory.WORK, 9, T0.date())
            )  # severity 1-5
