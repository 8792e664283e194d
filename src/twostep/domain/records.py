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

import os
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

import numpy as np
import numpy.typing as npt


def new_id() -> str:
    """A new identifier: a time-ordered UUID (version 7, RFC 9562) as a string.

    48 bits of Unix time in milliseconds, then 74 random bits: unguessable,
    and new records land at the end of the primary-key index instead of at
    random places in it (faster inserts on both databases).
    """
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | rand
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def new_ids(n: int) -> list[str]:
    """``n`` version-7 UUIDs in increasing order, made in bulk (for imports)."""
    if n == 0:
        return []
    ms = time.time_ns() // 1_000_000
    raw = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    stamp = np.frombuffer(int(ms & ((1 << 48) - 1)).to_bytes(6, "big"), dtype=np.uint8)
    raw[:, :6] = stamp
    # a 12-bit counter after the version nibble keeps the ids ordered within one millisecond
    counter = np.arange(n, dtype=np.uint32) % 4096
    raw[:, 6] = 0x70 | (counter >> 8).astype(np.uint8)
    raw[:, 7] = (counter & 0xFF).astype(np.uint8)
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    # hex digits laid out as 8-4-4-4-12 with dashes, in whole arrays (a million ids in ~0.2 s)
    digits = np.frombuffer(raw.tobytes().hex().encode("ascii"), dtype="S1").reshape(n, 32)
    out = np.empty((n, 36), dtype="S1")
    out[:, [8, 13, 18, 23]] = b"-"
    out[:, 0:8], out[:, 9:13], out[:, 14:18] = digits[:, 0:8], digits[:, 8:12], digits[:, 12:16]
    out[:, 19:23], out[:, 24:36] = digits[:, 16:20], digits[:, 20:32]
    text = out.tobytes().decode("ascii")
    return [text[i : i + 36] for i in range(0, 36 * n, 36)]


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
    version: int = field(default=1, compare=False)  # optimistic concurrency (ETag)


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
    version: int = field(default=1, compare=False)  # optimistic concurrency (ETag)

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
    version: int = field(default=1, compare=False)  # optimistic concurrency (ETag)


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
    version: int = field(default=1, compare=False)  # optimistic concurrency (ETag)


@dataclass(frozen=True)
class GoalStep:
    id: str
    goal_id: str
    client_id: str
    text: str
    due_on: date | None = None
    done: bool = False
    done_at: datetime | None = None
    version: int = field(default=1, compare=False)  # optimistic concurrency (ETag)


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
    version: int = field(default=1, compare=False)  # optimistic concurrency (ETag)


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
    version: int = field(default=1, compare=False)  # optimistic concurrency (ETag)


@dataclass(frozen=True, eq=False)
class AdministrationColumns:
    """Many administrations of one instrument as columns: the bulk-import shape.

    Row ``i`` is the administration whose answers are ``answers[i]`` (NaN = not
    answered; all-NaN with ``answered[i]`` False for a total given without
    items), completed at ``completed_at[i]`` (UTC). `records` turns them into
    `Administration` records (the slow path, for small batches and fakes).
    """

    clinic_id: str
    instrument_id: str
    item_ids: tuple[str, ...]
    ids: Sequence[str]
    client_ids: npt.NDArray[np.str_]
    answers: npt.NDArray[np.float64]
    answered: npt.NDArray[np.bool_]
    total: npt.NDArray[np.float64]
    subscales: Mapping[str, npt.NDArray[np.float64]]
    band: Sequence[str | None]
    case: npt.NDArray[np.float64]  # 1.0, 0.0 or NaN (unknown)
    risk: npt.NDArray[np.bool_]
    risk_level: npt.NDArray[np.int64]
    risk_not_assessed: npt.NDArray[np.bool_]
    prorated: npt.NDArray[np.bool_]
    completed_at: npt.NDArray[np.datetime64]  # datetime64[us], UTC
    received_at: datetime
    submitted_by: str | None
    source: str = "import"

    def __len__(self) -> int:
        return len(self.ids)

    def records(self) -> Iterator[Administration]:
        """The rows as `Administration` records."""
        from datetime import UTC

        stamps = self.completed_at.astype("datetime64[us]").astype(np.int64)
        for i, rid in enumerate(self.ids):
            answers: dict[str, float | None] = {}
            if self.answered[i]:
                answers = {
                    k: (None if np.isnan(v) else float(v))
                    for k, v in zip(self.item_ids, self.answers[i], strict=True)
                }
            total = float(self.total[i])
            case = float(self.case[i])
            yield Administration(
                id=rid,
                clinic_id=self.clinic_id,
                client_id=str(self.client_ids[i]),
                episode_id=None,
                instrument_id=self.instrument_id,
                answers=answers,
                total=None if np.isnan(total) else total,
                subscales={
                    k: (None if np.isnan(v[i]) else float(v[i])) for k, v in self.subscales.items()
                },
                band=self.band[i],
                case=None if np.isnan(case) else bool(case),
                risk=bool(self.risk[i]),
                risk_level=int(self.risk_level[i]),
                risk_not_assessed=bool(self.risk_not_assessed[i]),
                prorated=bool(self.prorated[i]),
                completed_at=datetime.fromtimestamp(int(stamps[i]) / 1e6, tz=UTC),
                received_at=self.received_at,
                submitted_by=self.submitted_by,
                source=self.source,
            )


@dataclass(frozen=True)
class CheckinDraft:
    """A questionnaire the client has started but not submitted (saved as they answer).

    Kept server-side (encrypted), never in the browser's storage. ``risk_alerted``
    records that a risk answer in this draft has already alerted the therapist.
    """

    client_id: str
    instrument_id: str
    answers: Mapping[str, float | None]
    updated_at: datetime
    risk_alerted: bool = False
    version: int = field(default=1, compare=False)  # optimistic concurrency (ETag)


@dataclass(frozen=True)
class WebSession:
    """A signed-in browser session, kept server-side.

    The cookie holds a random token; only its SHA-256 (``token_hash``) is
    stored, so a copy of the database does not hand out sessions. The CSRF
    token of the session is stored the same way.
    """

    id: str
    user_id: str
    token_hash: str
    csrf_hash: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime  # absolute lifetime
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class MfaEnrolment:
    """A user's TOTP second factor (`twostep.security.totp`; reliability-security.md AN-05).

    ``secret`` is base32 text, encrypted at rest; the factor is on once the user
    confirmed it with a code (``confirmed_at``). ``last_step`` is the time step of
    the last accepted code: only later steps are accepted (no replay).
    ``recovery_hashes`` are SHA-256 hashes of the unused single-use recovery codes.
    """

    user_id: str
    secret: str
    created_at: datetime
    confirmed_at: datetime | None = None
    last_step: int | None = None
    recovery_hashes: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.confirmed_at is not None


@dataclass(frozen=True)
class ImportBatch:
    """One imported file, remembered by content hash so that importing it again adds nothing."""

    id: str
    clinic_id: str
    kind: str  # scores | fhir
    source_name: str
    file_hash: str  # SHA-256 of the file's bytes, hex
    rows: int
    created_at: datetime
    created_by: str | None = None


@dataclass(frozen=True)
class ClientProfile:
    """A client as their therapist sees them (no clinical content)."""

    user: User
    therapist_ids: tuple[str, ...] = ()
    sharing: Mapping[EntryKind, bool] = field(default_factory=lambda: dict(DEFAULT_SHARING))
