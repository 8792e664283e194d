"""A two-clinic world where every clinical record carries a unique canary marker.

reliability-security.md §2 ("fixture world"): two clinics, each with an admin,
two therapists, two clients per therapist and a researcher. Every clinical
record of every client — check-ins (one with a risk answer, so a risk alert),
a resolved alert with the action taken, journal entries, setback reflections,
goals with steps and a therapist's review, stressors, self-care, skill
practice, thought records, supporters and contacts, session topics, a check-in
draft, appointments with focus tags, a closed episode with its end reason —
is written through the services, as the app writes it, and every free-text
field holds a marker ``CANARY-<kind>-<nnnn>`` (four digits, so no marker is a
prefix of another). Records without free text are found by their id: every
record id is registered as an id marker too.

`Canary.visible_to` says who may see a marker: the client it belongs to, and
the therapist assigned to that client *now* when the client shares that kind
of entry (`visible_kinds`; None = always shown to the assigned therapist:
scores, alerts, appointments, episodes). Everyone else — the other clients,
other therapists, admins, researchers, the anonymous — must never meet it in
a body, header, export or log line. Focus tags are stored case-folded, so
scans compare in lower case.

Sharing differs by client so that the choices are tested too: ``*a1``/``*b2``
keep the defaults (journal text, reflections and thought records private),
``*a2`` shares everything, ``*b1`` shares nothing.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from twostep.config import Settings
from twostep.domain.records import (
    DEFAULT_SHARING,
    Clinic,
    EntryKind,
    Role,
    User,
    new_id,
)
from twostep.security.passwords import Hasher
from twostep.services import alerts as alert_service
from twostep.services.access import Actor
from twostep.services.appointments import mark_attended, schedule
from twostep.services.assignments import assign_therapist
from twostep.services.checkin import record_checkin
from twostep.services.drafts import save_draft
from twostep.services.episodes import close_episode, open_episode
from twostep.services.goals import GoalInput, StepInput, add_step, create_goal, record_review
from twostep.services.journal import (
    add_journal_entry,
    add_reflection,
    add_self_care,
    add_session_topic,
    add_skill_practice,
    add_stressor,
    add_support_contact,
    add_supporter,
    add_thought_record,
    set_sharing,
)
from twostep.storage import KeyRing, SqlUnitOfWorkFactory, make_engine

PASSWORD = "a long enough canary-world passphrase"
FAST_HASHER = Hasher(time_cost=1, memory_cost=1024, parallelism=1)  # tests only
KEY = bytes(range(32, 64))
KEYS_ENV = f"canary:{base64.b64encode(KEY).decode()}"
KEYRING = KeyRing([("canary", KEY)])

#: who is in each clinic (the clinic number is appended: admin1, ther1a, cl1a1, ...)
STAFF = {"admin": Role.ADMIN, "res": Role.RESEARCHER, "thera": Role.THERAPIST}
THERAPISTS = ("a", "b")
CLIENTS_PER_THERAPIST = 2
NO_SHARING = dict.fromkeys(EntryKind, False)
ALL_SHARED = dict.fromkeys(EntryKind, True)


def sharing_plan(client: str) -> dict[EntryKind, bool]:
    """The sharing choices of a client by name (see the module docstring)."""
    if client.endswith("a2"):
        return dict(ALL_SHARED)
    if client.endswith("b1"):
        return dict(NO_SHARING)
    return dict(DEFAULT_SHARING)


@dataclass(frozen=True)
class Canary:
    """A marker (free text, or a record id) and whose record it is."""

    marker: str
    client: str  # the owning client's name in the world
    kind: str  # what record / field it is in
    visible_kinds: frozenset[EntryKind] | None  # None: always shown to the assigned therapist
    is_id: bool = False

    @property
    def folded(self) -> str:
        return self.marker.casefold()


@dataclass(repr=False)
class CanaryWorld:
    url: str
    settings: Settings
    factory: SqlUnitOfWorkFactory
    users: dict[str, User] = field(default_factory=dict)
    clinics: dict[int, Clinic] = field(default_factory=dict)
    therapist_of: dict[str, str] = field(default_factory=dict)  # client -> therapist (now)
    assignment_of: dict[str, str] = field(default_factory=dict)  # client -> assignment id
    sharing: dict[str, dict[EntryKind, bool]] = field(default_factory=dict)
    canaries: list[Canary] = field(default_factory=list)
    #: record kind -> [(record id, owning client)]: the ids a route's path can name
    objects: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    _n: int = 0

    # ------------------------------------------------------------------ look-ups

    def id(self, name: str) -> str:
        return self.users[name].id

    def email(self, name: str) -> str:
        return self.users[name].email

    def actor(self, name: str) -> Actor:
        u = self.users[name]
        return Actor(u.id, u.clinic_id, u.roles, request_id=f"canary-{name}")

    @property
    def clients(self) -> list[str]:
        return [n for n, u in self.users.items() if Role.CLIENT in u.roles]

    def clinic_of(self, name: str) -> str:
        return self.users[name].clinic_id

    def name_of(self, user_id: str) -> str:
        return next(n for n, u in self.users.items() if u.id == user_id)

    def role_of(self, name: str) -> Role:
        (role,) = self.users[name].roles
        return role

    def sees_client(self, viewer: str | None, client: str) -> bool:
        """May ``viewer`` reach ``client``'s record at all (own record or caseload now)?"""
        if viewer is None:
            return False
        return viewer == client or self.therapist_of.get(client) == viewer

    def visible(self, viewer: str | None, c: Canary) -> bool:
        if viewer is None:
            return False
        if viewer == c.client:
            return True
        if self.therapist_of.get(c.client) != viewer:
            return False
        if c.visible_kinds is None:
            return True
        shared = self.sharing[c.client]
        return any(shared[k] for k in c.visible_kinds)

    def foreign(self, viewer: str | None) -> list[Canary]:
        return [c for c in self.canaries if not self.visible(viewer, c)]

    def of_client(self, client: str, *, ids: bool | None = None) -> list[Canary]:
        return [c for c in self.canaries if c.client == client and (ids is None or c.is_id == ids)]

    def find(self, text: str, among: Iterable[Canary]) -> list[Canary]:
        """The canaries of ``among`` that occur in ``text`` (compared case-folded)."""
        folded = text.casefold()
        return [c for c in among if c.folded in folded]

    def __repr__(self) -> str:
        return f"CanaryWorld({self.url}, {len(self.canaries)} markers)"

    def has_records(self, client: str) -> bool:
        """Whether the client's clinical records were written (all, or a reduced world's)."""
        return client in self.assignment_of

    def object_ids(self, kind: str, client: str) -> list[str]:
        return [i for i, owner in self.objects.get(kind, []) if owner == client]

    # ---------------------------------------------------------------- recording

    def mark(self, kind: str, client: str, visible: Iterable[EntryKind] | None = None) -> str:
        self._n += 1
        marker = f"CANARY-{kind}-{self._n:04d}"
        kinds = frozenset(visible) if visible is not None else None
        self.canaries.append(Canary(marker, client, kind, kinds))
        return marker

    def record(
        self,
        kind: str,
        record_id: str,
        client: str,
        visible: Iterable[EntryKind] | None = None,
    ) -> str:
        kinds = frozenset(visible) if visible is not None else None
        self.canaries.append(Canary(record_id, client, f"{kind}-id", kinds, is_id=True))
        self.objects.setdefault(kind, []).append((record_id, client))
        return record_id

    def close(self) -> None:
        self.factory.engine.dispose()


def _users(world: CanaryWorld, now: datetime) -> None:
    digest = FAST_HASHER.hash(PASSWORD)
    with world.factory() as uow:
        for n in (1, 2):
            clinic = Clinic(
                new_id(),
                f"Canary clinic {n}",
                "Samaritans: call 116 123.",
                "We reply on the next working day.",
                created_at=now - timedelta(days=400),
            )
            uow.clinics.add(clinic)
            world.clinics[n] = clinic
            names: dict[str, Role] = {f"admin{n}": Role.ADMIN, f"res{n}": Role.RESEARCHER}
            for t in THERAPISTS:
                names[f"ther{n}{t}"] = Role.THERAPIST
                for k in range(1, CLIENTS_PER_THERAPIST + 1):
                    names[f"cl{n}{t}{k}"] = Role.CLIENT
            for name, role in names.items():
                user = User(
                    new_id(),
                    clinic.id,
                    f"{name}-{clinic.id[-8:]}@canary.example",
                    f"Person {name}",
                    frozenset({role}),
                    True,
                    now - timedelta(days=300),
                )
                world.users[name] = uow.users.add(user)
                uow.users.set_password_hash(user.id, digest)
        uow.commit()


def _care(world: CanaryWorld, client: str, now: datetime) -> None:
    """Assignment, episodes, check-ins, alerts and appointments of one client."""
    f = world.factory
    n = client[2]
    therapist = f"ther{n}{client[3]}"
    t_actor, c_actor, cid = world.actor(therapist), world.actor(client), world.id(client)
    a = assign_therapist(f, world.actor(f"admin{n}"), cid, world.id(therapist), now=now)
    world.therapist_of[client] = therapist
    world.assignment_of[client] = a.id
    world.objects.setdefault("assignment", []).append((a.id, client))

    old = open_episode(f, t_actor, cid, (now - timedelta(days=200)).date(), now=now)
    reason = world.mark("episode-end", client)
    close_episode(f, t_actor, old.id, (now - timedelta(days=120)).date(), reason, now=now)
    world.record("episode", old.id, client)
    ep = open_episode(f, t_actor, cid, (now - timedelta(days=90)).date(), now=now)
    world.record("episode", ep.id, client)

    known: set[str] = set()
    for week, (phq, gad, risk) in enumerate(((2, 2, 1), (2, 1, 0), (1, 1, 1))):
        at = now - timedelta(days=70 - 14 * week)
        items9 = {f"item_{i}": phq for i in range(1, 9)} | {"item_9": risk}
        res = record_checkin(f, c_actor, cid, "phq9", items9, at, now=now)
        world.record("administration", res.administration.id, client)
        gad7 = {f"item_{i}": gad for i in range(1, 8)}
        res2 = record_checkin(f, c_actor, cid, "gad7", gad7, at + timedelta(minutes=5), now=now)
        world.record("administration", res2.administration.id, client)
        with f() as uow:  # clients never see alerts; the world looks them up to know them
            fresh = [x for x in uow.alerts.for_client(cid) if x.id not in known]
        for alert in fresh:
            known.add(alert.id)
            world.record("alert", alert.id, client)
        if week == 0:  # the first risk alert is followed up and resolved with the action
            (risk_alert,) = [x for x in fresh if x.kind.value == "risk"]
            action = world.mark("alert-action", client)
            alert_service.acknowledge(f, t_actor, risk_alert.id, now=at + timedelta(hours=2))
            alert_service.resolve(f, t_actor, risk_alert.id, action, now=at + timedelta(hours=3))

    past = schedule(f, t_actor, cid, now - timedelta(days=10), now=now)
    mark_attended(f, t_actor, past.id, focus_tags=[world.mark("tag", client).lower()])
    world.record("appointment", past.id, client)
    future = schedule(f, t_actor, cid, now + timedelta(days=5), now=now)
    world.record("appointment", future.id, client)


def _own_words(world: CanaryWorld, client: str, now: datetime) -> None:
    """Everything the client writes between sessions, markers in every free-text field."""
    f, a, cid = world.factory, world.actor(client), world.id(client)
    m = world.mark
    K = EntryKind

    for _ in range(2):
        e = add_journal_entry(
            f, a, cid, mood=4,
            emotions=[m("emotion", client, [K.MOOD])],
            text=m("journal", client, [K.JOURNAL_TEXT]),
            now=now,
        )  # fmt: skip
        world.record("journal", e.id, client, [K.JOURNAL_TEXT, K.MOOD])
    refl = [K.SETBACK_REFLECTIONS]
    r = add_reflection(
        f, a, cid,
        what_happened=m("refl-happened", client, refl),
        what_i_noticed=m("refl-noticed", client, refl),
        what_helped=m("refl-helped", client, refl),
        what_i_learned=m("refl-learned", client, refl),
        now=now,
    )  # fmt: skip
    world.record("reflection", r.id, client, refl)

    g = [K.GOALS]
    view = create_goal(
        f, a, cid,
        GoalInput(
            specific_description=m("goal-specific", client, g),
            measurable_indicator=m("goal-measure", client, g),
            levels={lv: m(f"goal-level{lv + 2}", client, g) for lv in range(-2, 3)},
            importance=2, difficulty=2,
            relevant_to=m("goal-relevant", client, g),
            steps=(StepInput(m("goal-step", client, g)),),
        ),
        now=now,
    )  # fmt: skip
    goal_id = view.goal.id
    world.record("goal", goal_id, client, g)
    for s in view.steps:
        world.record("step", s.id, client, g)
    step = add_step(f, a, goal_id, StepInput(m("goal-step", client, g)))
    world.record("step", step.id, client, g)
    therapist = world.actor(world.therapist_of[client])
    review = record_review(f, therapist, goal_id, 0, notes=m("goal-review", client, g), now=now)
    world.record("review", review.id, client, g)

    s = add_stressor(
        f, a, cid, category="work", severity=3,
        started_on=(now - timedelta(days=30)).date(),
        description=m("stressor", client, [K.STRESSORS]), now=now,
    )  # fmt: skip
    world.record("stressor", s.id, client, [K.STRESSORS])
    sc = add_self_care(
        f, a, cid, done_on=(now - timedelta(days=2)).date(), activity="sleep", minutes=30,
        restorative=6, note=m("self-care", client, [K.SELF_CARE]), now=now,
    )  # fmt: skip
    world.record("self-care", sc.id, client, [K.SELF_CARE])
    sp = add_skill_practice(
        f, a, cid, skill_id="grounding", helpfulness=5,
        note=m("skill", client, [K.SKILL_PRACTICE]), now=now,
    )  # fmt: skip
    world.record("skill", sp.id, client, [K.SKILL_PRACTICE])
    tr_kinds = [K.THOUGHT_RECORDS]
    tr = add_thought_record(
        f, a, cid,
        situation=m("tr-situation", client, tr_kinds),
        automatic_thought=m("tr-thought", client, tr_kinds),
        emotion=m("tr-emotion", client, tr_kinds),
        intensity=60,
        evidence_for=m("tr-for", client, tr_kinds),
        evidence_against=m("tr-against", client, tr_kinds),
        balanced_thought=m("tr-balanced", client, tr_kinds),
        rerated_intensity=30, now=now,
    )  # fmt: skip
    world.record("thought", tr.id, client, tr_kinds)
    net = [K.SUPPORT_NETWORK]
    sup = add_supporter(
        f, a, cid, name=m("supporter", client, net), relation=m("relation", client, net),
        now=now,
    )  # fmt: skip
    world.record("supporter", sup.id, client, net)
    contact = add_support_contact(
        f, a, cid, supporter_id=sup.id, contacted_on=(now - timedelta(days=1)).date(),
        helpful=7, now=now,
    )  # fmt: skip
    world.record("contact", contact.id, client, net)
    for _ in range(2):
        t = add_session_topic(f, a, cid, m("topic", client, [K.SESSION_TOPICS]), now=now)
        world.record("topic", t.id, client, [K.SESSION_TOPICS])
    save_draft(f, a, "gad7", {"item_1": 2, "item_2": 1}, now=now)


def _share(world: CanaryWorld, client: str, now: datetime) -> None:
    plan = sharing_plan(client)
    world.sharing[client] = plan
    f, a, cid = world.factory, world.actor(client), world.id(client)
    current = dict(DEFAULT_SHARING)
    for kind, on in plan.items():
        if current[kind] != on:
            set_sharing(f, a, cid, kind, on, now=now)


def build_world(url: str, data_dir: Path, *, clients: Iterable[str] | None = None) -> CanaryWorld:
    """Write the world into the (migrated, empty) database at ``url``.

    ``clients`` limits the clinical records to some clients (a reduced world,
    e.g. on PostgreSQL); every account is still created.
    """
    settings = Settings(
        database_url=url,
        data_dir=data_dir,
        encryption_keys=KEYS_ENV,  # type: ignore[arg-type]
        environment="test",  # type: ignore[arg-type]
    )
    factory = SqlUnitOfWorkFactory(make_engine(url, keyring=KEYRING))
    world = CanaryWorld(url, settings, factory)
    now = datetime.now(UTC).replace(microsecond=0)
    _users(world, now)
    chosen = list(clients) if clients is not None else world.clients
    for client in world.clients:
        world.sharing[client] = dict(DEFAULT_SHARING)
    for client in chosen:
        _care(world, client, now)
        _own_words(world, client, now)
        _share(world, client, now)
    return world


__all__ = [
    "FAST_HASHER",
    "KEYS_ENV",
    "PASSWORD",
    "Canary",
    "CanaryWorld",
    "build_world",
    "sharing_plan",
]
