"""The clinical records twostep keeps, as plain frozen values.

These are what services, storage adapters, FHIR and the web layer pass to
each other. They know nothing of SQL: `twostep.storage` maps them to tables,
and tests use in-memory fakes of the same ports (`twostep.domain.ports`).

Identifiers are UUID strings made by `new_id` (random, 122 bits). Instants
are timezone-aware `datetime`s (UTC inside twostep); calendar days are
`date`s. Free text written by a client (journal, reflections, notes, names of
supporters) is plain `str` here and encrypted at rest by the storage adapter.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


def new_id() -> str:
    """A new random identifier (UUID4 as a string)."""
    return str(uuid.uuid4())


class Role(StrEnum):
    CLIENT = "client"
    THERAPIST = "therapist"
    ADMIN = "admin"
    RESEARCHER = "researcher"


class AppointmentStatus(StrEnum):
    SCHEDULED = "scheduled"
    ATTENDED = "attended"
    MISSED = "missed"  # did not attend, no notice
    CANCELLED = "cancelled"


class AlertKind(StrEnum):
    RISK = "risk"  # a risk item answered above 0 (methods.md §9)
    RISK_NOT_ASSESSED = "risk_not_assessed"  # the risk item was left blank
    DETERIORATION = "deterioration"
    NOT_ON_TRACK = "not_on_track"
    PLATEAU = "plateau"
    GROUNDHOG_DAY = "groundhog_day"
    SUDDEN_LOSS = "sudden_loss"
    ALLIANCE_RUPTURE = "alliance_rupture"
    GOAL_REVIEW_OVERDUE = "goal_review_overdue"
    MISSED_SESSIONS = "missed_sessions"


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


class StressorCategory(StrEnum):
    TRAUMA = "trauma"
    HEALTH = "health"
    FAMILY = "family"
    RELATIONSHIPS = "relationships"
    WORK = "work"
    FINANCIAL = "financial"
    OTHER = "other"


class SelfCareActivity(StrEnum):
    EXERCISE = "exercise"
    SLEEP = "sleep"
    NUTRITION = "nutrition"
    HOBBY = "hobby"
    NATURE = "nature"
    MINDFULNESS = "mindfulness"
    YOGA = "yoga"
    SOCIAL = "social"
    OTHER = "other"


class GoalRater(StrEnum):
    CLIENT = "client"
    CLINICIAN = "clinician"
    JOINT = "joint"


class EntryKind(StrEnum):
    """Kinds of between-session entry a client may share with their therapist or keep private."""

    JOURNAL_TEXT = "journal_text"
    MOOD = "mood"  # the mood numbers and emotions of journal entries
    SETBACK_REFLECTIONS = "setback_reflections"
    STRESSORS = "stressors"
    SELF_CARE = "self_care"
    SKILL_PRACTICE = "skill_practice"
    THOUGHT_RECORDS = "thought_records"
    SUPPORT_NETWORK = "support_network"
    GOALS = "goals"
    SESSION_TOPICS = "session_topics"


#: What a new client shares until they choose otherwise: journal text is private
#: by default (issue 4), the numbers that help the therapist are shared.
DEFAULT_SHARING: Mapping[EntryKind, bool] = {
    EntryKind.JOURNAL_TEXT: False,
    EntryKind.MOOD: True,
    EntryKind.SETBACK_REFLECTIONS: False,
    EntryKind.STRESSORS: True,
    EntryKind.SELF_CARE: True,
    EntryKind.SKILL_PRACTICE: True,
    EntryKind.THOUGHT_RECORDS: False,
    EntryKind.SUPPORT_NETWORK: True,
    EntryKind.GOALS: True,
    EntryKind.SESSION_TOPICS: True,
}


@dataclass(frozen=True)
class Clinic:
    id: str
    name: str
    crisis_text: str
    delay_notice: str
    instruments: tuple[str, ...] = ("phq9", "gad7")
    checkin_every_days: int = 7
    created_at: datetime | None = None


@dataclass(frozen=True)
class User:
    """A person with an account. ``roles`` may combine therapist and admin."""

    id: str
    clinic_id: str
    email: str
    display_name: str
    roles: frozenset[Role]
    is_active: bool = True
    created_at: datetime | None = None

    def has(self, role: Role) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class Assignment:
    """A therapist responsible for a client from ``started_at`` until ``ended_at``."""

    id: str
    clinic_id: str
    therapist_id: str
    client_id: str
    started_at: datetime
    ended_at: datetime | None = None


@dataclass(frozen=True)
class Episode:
    """One treatment episode (referral) of a client."""

    id: str
    clinic_id: str
    client_id: str
    started_on: date
    ended_on: date | None = None
    end_reason: str | None = None


@dataclass(frozen=True)
class Appointment:
    id: str
    clinic_id: str
    episode_id: str
    client_id: str
    therapist_id: str | None
    scheduled_at: datetime
    status: AppointmentStatus = AppointmentStatus.SCHEDULED
    focus_tags: tuple[str, ...] = ()
    assessment_only: bool = False


@dataclass(frozen=True)
class Administration:
    """One submitted questionnaire, scored by the catalogue.

    Immutable once submitted: a correction is a new `Administration` with
    ``version + 1`` and ``supersedes_id`` pointing at the one it replaces.
    ``answers`` maps item ids to values (None = not answered).
    """

    id: str
    clinic_id: str
    client_id: str
    episode_id: str | None
    instrument_id: str
    answers: Mapping[str, float | None]
    total: float | None
    subscales: Mapping[str, float | None]
    band: str | None
    case: bool | None
    risk: bool
    risk_level: int
    risk_not_assessed: bool
    prorated: bool
    completed_at: datetime
    received_at: datetime
    submitted_by: str | None = None
    version: int = 1
    supersedes_id: str | None = None
    source: str = "app"  # app | import | fhir


@dataclass(frozen=True)
class Alert:
    id: str
    clinic_id: str
    client_id: str
    kind: AlertKind
    rule: str
    parameters: Mapping[str, object]
    created_at: datetime
    status: AlertStatus = AlertStatus.OPEN
    administration_id: str | None = None
    level: int = 0  # risk tier (methods.md §9) or signal severity
    action_taken: str | None = None
    updated_by: str | None = None
    updated_at: datetime | None = None
    snoozed_until: datetime | None = None


@dataclass(frozen=True)
class Goal:
    """A SMART goal with goal-attainment level descriptors (methods.md §7)."""

    id: str
    clinic_id: str
    client_id: str
    specific_description: str
    measurable_indicator: str
    levels: Mapping[int, str]  # -2..+2 -> observable descriptor
    baseline_level: int
    achievable_rating: int | None  # clinician judgement 0-3
    relevant_to: str
    target_date: date | None
    importance: int  # 0-3
    difficulty: int  # 0-3
    rater: GoalRater = GoalRater.JOINT
    review_every_days: int = 28
    weight: float | None = None  # None = importance x difficulty (Turner-Stokes 2009)
    created_at: datetime | None = None
    closed_at: datetime | None = None


@dataclass(frozen=True)
class GoalStep:
    id: str
    goal_id: str
    client_id: str
    text: str
    due_on: date | None = None
    done: bool = False
    done_at: datetime | None = None


@dataclass(frozen=True)
class GoalReview:
    id: str
    goal_id: str
    client_id: str
    reviewed_at: datetime
    attained_level: int | None  # -2..+2; None = not rated
    notes: str = ""
    reviewer_id: str | None = None


@dataclass(frozen=True)
class JournalEntry:
    id: str
    client_id: str
    created_at: datetime
    mood: int | None  # 0-10
    emotions: tuple[str, ...] = ()
    text: str = ""


@dataclass(frozen=True)
class SetbackReflection:
    id: str
    client_id: str
    created_at: datetime
    what_happened: str = ""
    what_i_noticed: str = ""
    what_helped: str = ""
    what_i_learned: str = ""


@dataclass(frozen=True)
class Stressor:
    id: str
    client_id: str
    category: StressorCategory
    severity: int  # 1-5
    started_on: date
    ended_on: date | None = None
    description: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True)
class SelfCareEntry:
    id: str
    client_id: str
    done_on: date
    activity: SelfCareActivity
    minutes: int | None
    restorative: int | None  # "was it restorative?" 0-10
    note: str = ""


@dataclass(frozen=True)
class SkillPractice:
    id: str
    client_id: str
    skill_id: str  # see twostep.domain.skills
    practiced_at: datetime
    helpfulness: int | None  # 0-10
    note: str = ""


@dataclass(frozen=True)
class ThoughtRecord:
    id: str
    client_id: str
    created_at: datetime
    situation: str
    automatic_thought: str
    emotion: str
    intensity: int  # 0-100
    evidence_for: str = ""
    evidence_against: str = ""
    balanced_thought: str = ""
    rerated_intensity: int | None = None


@dataclass(frozen=True)
class Supporter:
    """A person or group in the client's support network."""

    id: str
    client_id: str
    name: str
    relation: str
    support_kinds: tuple[str, ...] = ()  # e.g. emotional, practical, company, advice
    is_group: bool = False
    created_at: datetime | None = None


@dataclass(frozen=True)
class SupportContact:
    id: str
    client_id: str
    supporter_id: str
    contacted_on: date
    mode: str = "in_person"  # in_person | phone | message | online | group
    helpful: int | None = None  # 0-10


@dataclass(frozen=True)
class SessionTopic:
    """Something the client wants to raise at the next session."""

    id: str
    client_id: str
    created_at: datetime
    text: str
    addressed_at: datetime | None = None


@dataclass(frozen=True)
class SharingPreference:
    client_id: str
    kind: EntryKind
    shared: bool
    updated_at: datetime | None = None


@dataclass(frozen=True)
class ClientProfile:
    """A client as their therapist sees them (no clinical content)."""

    user: User
    therapist_ids: tuple[str, ...] = ()
    sharing: Mapping[EntryKind, bool] = field(default_factory=lambda: dict(DEFAULT_SHARING))
