"""What the client keeps between sessions: journal, reflections, stressors, self-care, skills,
thought records, support network, topics for the next session, and sharing choices.

Every entry is written by the client themselves (a therapist gets
`AccessDeniedError`), validated strictly (ranges, allowed values, non-empty
text, at most 10,000 characters of free text, aware times not in the
future), and read under the access policy: for a therapist, kinds the client
has not shared are not returned at all, and journal entries lose their text
or their mood as the client chose (`ClientAccess.journal_entry`).

Session topics are the exception on the write side: the therapist may mark a
topic as addressed in the session.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Protocol, TypeVar

from twostep.domain.ports import Repository, UnitOfWork, UnitOfWorkFactory
from twostep.domain.records import (
    EntryKind,
    JournalEntry,
    SelfCareActivity,
    SelfCareEntry,
    SessionTopic,
    SetbackReflection,
    SharingPreference,
    SkillPractice,
    Stressor,
    StressorCategory,
    SupportContact,
    Supporter,
    ThoughtRecord,
    new_id,
)
from twostep.domain.skills import SKILL_IDS
from twostep.errors import ConflictError, StaleVersionError
from twostep.services.access import Actor, ClientAccess, client_access, not_found, sharing_for
from twostep.services.audit import AuditNote, audited
from twostep.services.validation import MAX_SHORT_TEXT, Checks, instant_of, utcnow
from twostep.services.versions import based_on, combined_version

__all__ = [
    "CONTACT_MODES",
    "SUPPORT_KINDS",
    "SharingState",
    "add_journal_entry",
    "add_reflection",
    "add_self_care",
    "add_session_topic",
    "add_skill_practice",
    "add_stressor",
    "add_support_contact",
    "add_supporter",
    "add_thought_record",
    "end_stressor",
    "get_journal_entry",
    "get_sharing",
    "get_sharing_state",
    "list_journal",
    "list_reflections",
    "list_self_care",
    "list_session_topics",
    "list_skill_practice",
    "list_stressors",
    "list_support_contacts",
    "list_supporters",
    "list_thought_records",
    "mark_topic_addressed",
    "set_sharing",
    "set_sharing_choices",
]

#: Kinds of support a supporter gives.
SUPPORT_KINDS: tuple[str, ...] = (
    "emotional",
    "practical",
    "company",
    "advice",
    "information",
    "other",
)
#: How a contact with a supporter happened.
CONTACT_MODES: tuple[str, ...] = ("in_person", "phone", "message", "online", "group")
_MAX_EMOTIONS = 20


class _Owned(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def client_id(self) -> str: ...


R = TypeVar("R", bound=_Owned)
Repo = Callable[[UnitOfWork], Repository[R]]


def _future_day(checks: Checks, where: str, value: date | None, now: datetime) -> None:
    # a client a few time zones east of UTC may already be in tomorrow
    if value is not None and value > now.date() + timedelta(days=1):
        checks.fail(where, "in_future", "may not be in the future")


def _create(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    object_type: str,
    repo: Repo[R],
    build: Callable[[UnitOfWork, ClientAccess], R],
) -> R:
    """Validate and store one entry written by the client."""

    def op(uow: UnitOfWork, note: AuditNote) -> R:
        access = note.granted(client_access(uow, actor, client_id))
        access.require_self(f"write {object_type.replace('_', ' ')}s")
        record = build(uow, access)
        note.object_id = record.id
        return repo(uow).add(record)

    return audited(uow_factory, actor, "create", object_type, op, client_id=client_id)


def _in_range(at: datetime | None, since: datetime | None, until: datetime | None) -> bool:
    if at is None:
        return since is None and until is None
    return (since is None or at >= since) and (until is None or at < until)


def _list(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    object_type: str,
    kind: EntryKind,
    repo: Repo[R],
    time_of: Callable[[R], datetime | None],
    since: datetime | None,
    until: datetime | None,
) -> tuple[R, ...]:
    """The client's entries of one kind, oldest first; () for a therapist when not shared."""

    def op(uow: UnitOfWork, note: AuditNote) -> tuple[R, ...]:
        access = note.granted(client_access(uow, actor, client_id))
        if not access.sees(kind):
            return ()
        rows = repo(uow).for_client(client_id)
        return tuple(r for r in rows if _in_range(time_of(r), since, until))

    return audited(uow_factory, actor, "read", object_type, op, client_id=client_id)


# ---------------------------------------------------------------------- journal


def add_journal_entry(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    mood: int | None = None,
    emotions: Sequence[str] = (),
    text: str = "",
    created_at: datetime | None = None,
    now: datetime | None = None,
) -> JournalEntry:
    """A journal entry: mood 0–10, emotions (short words) and free text; at least one of them."""
    at = now or utcnow()

    def build(uow: UnitOfWork, access: ClientAccess) -> JournalEntry:
        c = Checks("journal entry")
        m = c.integer("mood", mood, 0, 10)
        em = c.texts("emotions", emotions, max_items=_MAX_EMOTIONS, max_len=50)
        body = c.text("text", text)
        when = c.instant("created_at", created_at or at, now=at)
        if m is None and not em and not body and not c.problems:
            c.fail("entry", "empty", "write something, or choose a mood or an emotion")
        c.done()
        assert when is not None
        return JournalEntry(new_id(), client_id, when, m, em, body)

    return _create(uow_factory, actor, client_id, "journal_entry", lambda u: u.journal, build)


def list_journal(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[JournalEntry, ...]:
    """Journal entries, oldest first, with unshared parts removed for a therapist."""

    def op(uow: UnitOfWork, note: AuditNote) -> tuple[JournalEntry, ...]:
        access = note.granted(client_access(uow, actor, client_id))
        out = []
        for e in uow.journal.for_client(client_id):
            seen = access.journal_entry(e)
            if seen is not None and _in_range(e.created_at, since, until):
                out.append(seen)
        return tuple(out)

    return audited(uow_factory, actor, "read", "journal_entry", op, client_id=client_id)


def get_journal_entry(uow_factory: UnitOfWorkFactory, actor: Actor, entry_id: str) -> JournalEntry:
    """One journal entry as the actor may see it (NotFoundError when hidden)."""

    def op(uow: UnitOfWork, note: AuditNote) -> JournalEntry:
        entry = uow.journal.get(entry_id)
        if entry is None:
            raise not_found("journal entry")
        access = note.granted(client_access(uow, actor, entry.client_id))
        seen = access.journal_entry(entry)
        if seen is None:
            raise not_found("journal entry")
        return seen

    return audited(uow_factory, actor, "read", "journal_entry", op, object_id=entry_id)


# ------------------------------------------------------------------ reflections


def add_reflection(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    what_happened: str = "",
    what_i_noticed: str = "",
    what_helped: str = "",
    what_i_learned: str = "",
    created_at: datetime | None = None,
    now: datetime | None = None,
) -> SetbackReflection:
    """A setback reflection: what happened, what I noticed, what helped, what I learned."""
    at = now or utcnow()

    def build(uow: UnitOfWork, access: ClientAccess) -> SetbackReflection:
        c = Checks("setback reflection")
        parts = [
            c.text("what_happened", what_happened),
            c.text("what_i_noticed", what_i_noticed),
            c.text("what_helped", what_helped),
            c.text("what_i_learned", what_i_learned),
        ]
        when = c.instant("created_at", created_at or at, now=at)
        if not any(parts) and not c.problems:
            c.fail("reflection", "empty", "write at least one part of the reflection")
        c.done()
        assert when is not None
        return SetbackReflection(new_id(), client_id, when, *parts)

    return _create(uow_factory, actor, client_id, "reflection", lambda u: u.reflections, build)


def list_reflections(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[SetbackReflection, ...]:
    return _list(
        uow_factory,
        actor,
        client_id,
        "reflection",
        EntryKind.SETBACK_REFLECTIONS,
        lambda u: u.reflections,
        lambda r: r.created_at,
        since,
        until,
    )


# -------------------------------------------------------------------- stressors


def add_stressor(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    category: StressorCategory | str,
    severity: int,
    started_on: date,
    ended_on: date | None = None,
    description: str = "",
    now: datetime | None = None,
) -> Stressor:
    """A stressor or life event: category, severity 1–5, start (and end) date."""
    at = now or utcnow()

    def build(uow: UnitOfWork, access: ClientAccess) -> Stressor:
        c = Checks("stressor")
        cat = c.choice("category", category, StressorCategory)
        sev = c.integer("severity", severity, 1, 5, required=True)
        start = c.day("started_on", started_on)
        end = c.day("ended_on", ended_on, required=False)
        _future_day(c, "ended_on", end, at)
        if start is not None and end is not None and end < start:
            c.fail("ended_on", "before_start", "cannot be before the start date")
        text = c.text("description", description, max_len=2_000)
        c.done()
        assert cat is not None
        assert sev is not None
        assert start is not None
        return Stressor(new_id(), client_id, cat, sev, start, end, text, created_at=at)

    return _create(uow_factory, actor, client_id, "stressor", lambda u: u.stressors, build)


def end_stressor(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    stressor_id: str,
    ended_on: date,
    *,
    now: datetime | None = None,
    expected_version: int | None = None,
) -> Stressor:
    """Mark a stressor as over (the client only).

    ``expected_version``: the version the edit is based on (the HTTP ``If-Match``); when
    another writer changed the record since, `StaleVersionError` and nothing is written.
    """
    at = now or utcnow()

    def op(uow: UnitOfWork, note: AuditNote) -> Stressor:
        old = uow.stressors.get(stressor_id)
        if old is None:
            raise not_found("stressor")
        access = note.granted(client_access(uow, actor, old.client_id))
        if not access.sees(EntryKind.STRESSORS):
            raise not_found("stressor")
        access.require_self("change stressors")
        c = Checks("stressor")
        end = c.day("ended_on", ended_on)
        _future_day(c, "ended_on", end, at)
        if end is not None and end < old.started_on:
            c.fail("ended_on", "before_start", "cannot be before the start date")
        c.done()
        return uow.stressors.update(replace(based_on(old, expected_version), ended_on=end))

    return audited(uow_factory, actor, "update", "stressor", op, object_id=stressor_id)


def list_stressors(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[Stressor, ...]:
    return _list(
        uow_factory,
        actor,
        client_id,
        "stressor",
        EntryKind.STRESSORS,
        lambda u: u.stressors,
        lambda s: instant_of(s.started_on),
        since,
        until,
    )


# -------------------------------------------------------------------- self-care


def add_self_care(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    done_on: date,
    activity: SelfCareActivity | str,
    minutes: int | None = None,
    restorative: int | None = None,
    note: str = "",
    now: datetime | None = None,
) -> SelfCareEntry:
    """A self-care activity: what, how long, and "was it restorative?" 0–10."""
    at = now or utcnow()

    def build(uow: UnitOfWork, access: ClientAccess) -> SelfCareEntry:
        c = Checks("self-care entry")
        day = c.day("done_on", done_on)
        _future_day(c, "done_on", day, at)
        act = c.choice("activity", activity, SelfCareActivity)
        mins = c.integer("minutes", minutes, 0, 24 * 60)
        rest = c.integer("restorative", restorative, 0, 10)
        text = c.text("note", note)
        c.done()
        assert day is not None
        assert act is not None
        return SelfCareEntry(new_id(), client_id, day, act, mins, rest, text)

    return _create(uow_factory, actor, client_id, "self_care", lambda u: u.self_care, build)


def list_self_care(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[SelfCareEntry, ...]:
    return _list(
        uow_factory,
        actor,
        client_id,
        "self_care",
        EntryKind.SELF_CARE,
        lambda u: u.self_care,
        lambda s: instant_of(s.done_on),
        since,
        until,
    )


# --------------------------------------------------------------- skill practice


def add_skill_practice(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    skill_id: str,
    helpfulness: int | None = None,
    note: str = "",
    practiced_at: datetime | None = None,
    now: datetime | None = None,
) -> SkillPractice:
    """A practice of a skill from the library, with how much it helped (0–10)."""
    at = now or utcnow()

    def build(uow: UnitOfWork, access: ClientAccess) -> SkillPractice:
        c = Checks("skill practice")
        if skill_id not in SKILL_IDS:
            c.fail("skill_id", "unknown_skill", "not a skill of the library")
        helped = c.integer("helpfulness", helpfulness, 0, 10)
        text = c.text("note", note)
        when = c.instant("practiced_at", practiced_at or at, now=at)
        c.done()
        assert when is not None
        return SkillPractice(new_id(), client_id, skill_id, when, helped, text)

    return _create(
        uow_factory, actor, client_id, "skill_practice", lambda u: u.skill_practice, build
    )


def list_skill_practice(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[SkillPractice, ...]:
    return _list(
        uow_factory,
        actor,
        client_id,
        "skill_practice",
        EntryKind.SKILL_PRACTICE,
        lambda u: u.skill_practice,
        lambda s: s.practiced_at,
        since,
        until,
    )


# -------------------------------------------------------------- thought records


def add_thought_record(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    situation: str,
    automatic_thought: str,
    emotion: str,
    intensity: int,
    evidence_for: str = "",
    evidence_against: str = "",
    balanced_thought: str = "",
    rerated_intensity: int | None = None,
    created_at: datetime | None = None,
    now: datetime | None = None,
) -> ThoughtRecord:
    """A thought record: situation, thought, emotion and intensity 0–100, evidence, re-rating."""
    at = now or utcnow()

    def build(uow: UnitOfWork, access: ClientAccess) -> ThoughtRecord:
        c = Checks("thought record")
        sit = c.text("situation", situation, required=True)
        thought = c.text("automatic_thought", automatic_thought, required=True)
        emo = c.text("emotion", emotion, required=True, max_len=MAX_SHORT_TEXT)
        inten = c.integer("intensity", intensity, 0, 100, required=True)
        ev_for = c.text("evidence_for", evidence_for)
        ev_against = c.text("evidence_against", evidence_against)
        balanced = c.text("balanced_thought", balanced_thought)
        rerated = c.integer("rerated_intensity", rerated_intensity, 0, 100)
        when = c.instant("created_at", created_at or at, now=at)
        c.done()
        assert inten is not None
        assert when is not None
        return ThoughtRecord(
            new_id(),
            client_id,
            when,
            sit,
            thought,
            emo,
            inten,
            ev_for,
            ev_against,
            balanced,
            rerated,
        )

    return _create(
        uow_factory, actor, client_id, "thought_record", lambda u: u.thought_records, build
    )


def list_thought_records(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[ThoughtRecord, ...]:
    return _list(
        uow_factory,
        actor,
        client_id,
        "thought_record",
        EntryKind.THOUGHT_RECORDS,
        lambda u: u.thought_records,
        lambda t: t.created_at,
        since,
        until,
    )


# -------------------------------------------------------------- support network


def add_supporter(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    name: str,
    relation: str,
    support_kinds: Sequence[str] = (),
    is_group: bool = False,
    now: datetime | None = None,
) -> Supporter:
    """A person or group in the client's support network."""
    at = now or utcnow()

    def build(uow: UnitOfWork, access: ClientAccess) -> Supporter:
        c = Checks("supporter")
        who = c.text("name", name, required=True, max_len=MAX_SHORT_TEXT)
        rel = c.text("relation", relation, required=True, max_len=100)
        kinds = c.texts("support_kinds", support_kinds, max_items=len(SUPPORT_KINDS), max_len=20)
        for k in kinds:
            if k not in SUPPORT_KINDS:
                c.fail("support_kinds", "not_allowed", f"must be among: {', '.join(SUPPORT_KINDS)}")
        if not isinstance(is_group, bool):
            c.fail("is_group", "wrong_type", "expected true or false")
        c.done()
        return Supporter(new_id(), client_id, who, rel, kinds, is_group, created_at=at)

    return _create(uow_factory, actor, client_id, "supporter", lambda u: u.supporters, build)


def list_supporters(
    uow_factory: UnitOfWorkFactory, actor: Actor, client_id: str
) -> tuple[Supporter, ...]:
    return _list(
        uow_factory,
        actor,
        client_id,
        "supporter",
        EntryKind.SUPPORT_NETWORK,
        lambda u: u.supporters,
        lambda s: s.created_at,
        None,
        None,
    )


def add_support_contact(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    supporter_id: str,
    contacted_on: date,
    mode: str = "in_person",
    helpful: int | None = None,
    now: datetime | None = None,
) -> SupportContact:
    """A contact with someone from the support network, and how helpful it was (0–10)."""
    at = now or utcnow()

    def build(uow: UnitOfWork, access: ClientAccess) -> SupportContact:
        supporter = uow.supporters.get(supporter_id)
        if supporter is None or supporter.client_id != client_id:
            raise not_found("supporter")
        c = Checks("support contact")
        day = c.day("contacted_on", contacted_on)
        _future_day(c, "contacted_on", day, at)
        if mode not in CONTACT_MODES:
            c.fail("mode", "not_allowed", f"must be one of: {', '.join(CONTACT_MODES)}")
        rating = c.integer("helpful", helpful, 0, 10)
        c.done()
        assert day is not None
        return SupportContact(new_id(), client_id, supporter.id, day, mode, rating)

    return _create(
        uow_factory, actor, client_id, "support_contact", lambda u: u.support_contacts, build
    )


def list_support_contacts(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[SupportContact, ...]:
    return _list(
        uow_factory,
        actor,
        client_id,
        "support_contact",
        EntryKind.SUPPORT_NETWORK,
        lambda u: u.support_contacts,
        lambda s: instant_of(s.contacted_on),
        since,
        until,
    )


# ------------------------------------------------------------- session topics


def add_session_topic(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    text: str,
    *,
    now: datetime | None = None,
) -> SessionTopic:
    """Something the client wants to raise at the next session ("For my next session")."""
    at = now or utcnow()

    def build(uow: UnitOfWork, access: ClientAccess) -> SessionTopic:
        c = Checks("session topic")
        body = c.text("text", text, required=True, max_len=2_000)
        c.done()
        return SessionTopic(new_id(), client_id, at, body)

    return _create(uow_factory, actor, client_id, "session_topic", lambda u: u.topics, build)


def list_session_topics(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    open_only: bool = False,
) -> tuple[SessionTopic, ...]:
    """The client's topics, oldest first (only those not yet addressed with ``open_only``)."""

    def op(uow: UnitOfWork, note: AuditNote) -> tuple[SessionTopic, ...]:
        access = note.granted(client_access(uow, actor, client_id))
        if not access.sees(EntryKind.SESSION_TOPICS):
            return ()
        rows = uow.topics.for_client(client_id)
        return tuple(t for t in rows if not open_only or t.addressed_at is None)

    return audited(uow_factory, actor, "read", "session_topic", op, client_id=client_id)


def mark_topic_addressed(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    topic_id: str,
    *,
    now: datetime | None = None,
) -> SessionTopic:
    """Mark a topic as talked about (client or therapist)."""
    at = now or utcnow()

    def op(uow: UnitOfWork, note: AuditNote) -> SessionTopic:
        topic = uow.topics.get(topic_id)
        if topic is None:
            raise not_found("session topic")
        access = note.granted(client_access(uow, actor, topic.client_id))
        if not access.sees(EntryKind.SESSION_TOPICS):
            raise not_found("session topic")
        if topic.addressed_at is not None:
            raise ConflictError("the topic has been addressed already")
        return uow.topics.update(replace(topic, addressed_at=at))

    return audited(uow_factory, actor, "update", "session_topic", op, object_id=topic_id)


# -------------------------------------------------------------------- sharing


def get_sharing(
    uow_factory: UnitOfWorkFactory, actor: Actor, client_id: str
) -> dict[EntryKind, bool]:
    """The client's sharing choice for every kind of entry (defaults where never chosen)."""

    def op(uow: UnitOfWork, note: AuditNote) -> dict[EntryKind, bool]:
        note.granted(client_access(uow, actor, client_id))
        return sharing_for(uow, client_id)

    return audited(uow_factory, actor, "read", "sharing", op, client_id=client_id)


@dataclass(frozen=True)
class SharingState:
    """The client's sharing choice for every kind, with one version for the whole set."""

    sharing: dict[EntryKind, bool]
    version: int


def _sharing_state(uow: UnitOfWork, client_id: str) -> SharingState:
    prefs = uow.sharing.for_client(client_id)
    return SharingState(sharing_for(uow, client_id), combined_version(p.version for p in prefs))


def get_sharing_state(uow_factory: UnitOfWorkFactory, actor: Actor, client_id: str) -> SharingState:
    """`get_sharing` with the version of the set (the HTTP ``ETag``)."""

    def op(uow: UnitOfWork, note: AuditNote) -> SharingState:
        note.granted(client_access(uow, actor, client_id))
        return _sharing_state(uow, client_id)

    return audited(uow_factory, actor, "read", "sharing", op, client_id=client_id)


def set_sharing_choices(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    choices: Mapping[str, bool],
    *,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> SharingState:
    """Set several sharing choices at once, all or none (the client only).

    ``expected_version`` is the version of the whole set the client saw; the client's
    choices are locked for the transaction and every row is written conditionally
    on the version it was read with, so a concurrent change refuses this one
    (`StaleVersionError`).
    """
    at = now or utcnow()

    def op(uow: UnitOfWork, note: AuditNote) -> SharingState:
        access = note.granted(client_access(uow, actor, client_id))
        access.require_self("change sharing choices")
        c = Checks("sharing")
        wanted: dict[EntryKind, bool] = {}
        for kind, shared in choices.items():
            k = c.choice(f"sharing.{kind}", kind, EntryKind)
            if not isinstance(shared, bool):
                c.fail(f"sharing.{kind}", "wrong_type", "expected true or false")
            elif k is not None:
                wanted[k] = shared
        c.done()
        uow.sharing.lock(client_id)
        stored = {EntryKind(p.kind): p for p in uow.sharing.for_client(client_id)}
        seen = combined_version(p.version for p in stored.values())
        if expected_version is not None and seen != expected_version:
            raise StaleVersionError("the sharing choices were changed meanwhile")
        for k, shared in wanted.items():
            old = stored.get(k)
            base = old.version if old is not None else 0
            uow.sharing.set(SharingPreference(client_id, k, shared, at), based_on=base)
        return _sharing_state(uow, client_id)

    return audited(uow_factory, actor, "update", "sharing", op, client_id=client_id)


def set_sharing(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    kind: EntryKind | str,
    shared: bool,
    *,
    now: datetime | None = None,
) -> SharingPreference:
    """Share a kind of entry with the therapist, or keep it private (the client only)."""
    at = now or utcnow()

    def op(uow: UnitOfWork, note: AuditNote) -> SharingPreference:
        access = note.granted(client_access(uow, actor, client_id))
        access.require_self("change sharing choices")
        c = Checks("sharing")
        k = c.choice("kind", kind, EntryKind)
        if not isinstance(shared, bool):
            c.fail("shared", "wrong_type", "expected true or false")
        c.done()
        assert k is not None
        return uow.sharing.set(SharingPreference(client_id, k, shared, at))

    return audited(uow_factory, actor, "update", "sharing", op, client_id=client_id)
