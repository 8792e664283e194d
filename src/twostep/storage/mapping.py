"""Records to rows and back, exactly.

Each `RecordMapper` pairs one frozen record type of `twostep.domain.records`
with its table. Fields map to columns of the same name unless renamed;
codecs turn what SQL cannot hold directly into what it can: enums into
their string values, tuples into JSON arrays, goal-level descriptors
(``{-2: "...", ...}``, integer keys) into ``[[level, text], ...]``.
Round trips are tested for every record with every optional field set and
unset.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from twostep.domain import records as r
from twostep.storage import tables as t

__all__ = ["MAPPERS", "RecordMapper"]

R = TypeVar("R")


@dataclass(frozen=True)
class Codec:
    """How one field is written to (``dump``) and read from (``load``) its column."""

    dump: Callable[[Any], object]
    load: Callable[[Any], object]


def _same(value: object) -> object:
    return value


def _list(value: Any) -> object:
    return list(value)


def _tuple(value: Any) -> object:
    return tuple(value)


def _dict(value: Any) -> object:
    return dict(value)


def _enum(kind: type[StrEnum]) -> Codec:
    return Codec(dump=lambda v: kind(v).value, load=kind)


def _dump_levels(levels: Mapping[int, str]) -> object:
    return [[int(level), text] for level, text in sorted(levels.items())]


def _load_levels(pairs: list[list[Any]]) -> object:
    return {int(level): text for level, text in pairs}


TUPLE = Codec(dump=_list, load=_tuple)
MAPPING = Codec(dump=_dict, load=_dict)
LEVELS = Codec(dump=_dump_levels, load=_load_levels)


class RecordMapper(Generic[R]):
    """Maps one record type to one table, field by field."""

    def __init__(
        self,
        record_type: type[R],
        table: sa.Table,
        *,
        time_field: str | None,
        rename: Mapping[str, str] | None = None,
        codecs: Mapping[str, Codec] | None = None,
        exclude: tuple[str, ...] = (),
        versioned: bool = False,
    ) -> None:
        self.record_type = record_type
        self.table = table
        #: ``version`` is a row version (optimistic concurrency), bumped by every update
        self.versioned = versioned
        rename = rename or {}
        codecs = codecs or {}
        self.fields: list[tuple[str, str, Codec]] = []
        for f in dataclasses.fields(record_type):  # type: ignore[arg-type]
            if f.name in exclude:
                continue
            column = rename.get(f.name, f.name)
            if column not in table.c:
                raise AssertionError(f"{table.name} has no column {column!r} for {f.name}")
            self.fields.append((f.name, column, codecs.get(f.name, Codec(_same, _same))))
        self.time_column: sa.Column[Any] | None = (
            table.c[rename.get(time_field, time_field)] if time_field else None
        )

    def to_row(self, record: R) -> dict[str, object]:
        """Column values of ``record`` (every mapped column, None included)."""
        return {
            column: (None if (value := getattr(record, name)) is None else codec.dump(value))
            for name, column, codec in self.fields
        }

    def from_row(self, row: Mapping[Any, Any], **extra: object) -> R:
        """The record of a result row (``extra`` supplies fields kept elsewhere)."""
        values: dict[str, object] = {
            name: (None if (value := row[column]) is None else codec.load(value))
            for name, column, codec in self.fields
        }
        values.update(extra)
        return self.record_type(**values)


def _mapper(
    record_type: type[R], table: sa.Table, time_field: str | None, **kw: Any
) -> RecordMapper[R]:
    return RecordMapper(record_type, table, time_field=time_field, **kw)


CLINIC = _mapper(r.Clinic, t.clinics, "created_at", codecs={"instruments": TUPLE}, versioned=True)
USER = _mapper(r.User, t.users, "created_at", exclude=("roles",), versioned=True)
ASSIGNMENT = _mapper(r.Assignment, t.assignments, "started_at")
EPISODE = _mapper(r.Episode, t.episodes, "started_on")
APPOINTMENT = _mapper(
    r.Appointment,
    t.appointments,
    "scheduled_at",
    codecs={"status": _enum(r.AppointmentStatus), "focus_tags": TUPLE},
    versioned=True,
)
ADMINISTRATION = _mapper(
    r.Administration,
    t.administrations,
    "completed_at",
    rename={"case": "is_case"},
    codecs={"answers": MAPPING, "subscales": MAPPING},
)
ALERT = _mapper(
    r.Alert,
    t.alerts,
    "created_at",
    codecs={
        "kind": _enum(r.AlertKind),
        "status": _enum(r.AlertStatus),
        "parameters": MAPPING,
    },
)
GOAL = _mapper(
    r.Goal,
    t.goals,
    "created_at",
    codecs={"levels": LEVELS, "rater": _enum(r.GoalRater)},
    versioned=True,
)
GOAL_STEP = _mapper(r.GoalStep, t.goal_steps, "due_on", versioned=True)
GOAL_REVIEW = _mapper(r.GoalReview, t.goal_reviews, "reviewed_at")
JOURNAL = _mapper(r.JournalEntry, t.journal_entries, "created_at", codecs={"emotions": TUPLE})
REFLECTION = _mapper(r.SetbackReflection, t.setback_reflections, "created_at")
STRESSOR = _mapper(
    r.Stressor,
    t.stressors,
    "started_on",
    codecs={"category": _enum(r.StressorCategory)},
    versioned=True,
)
SELF_CARE = _mapper(
    r.SelfCareEntry, t.self_care_entries, "done_on", codecs={"activity": _enum(r.SelfCareActivity)}
)
SKILL_PRACTICE = _mapper(r.SkillPractice, t.skill_practices, "practiced_at")
THOUGHT_RECORD = _mapper(r.ThoughtRecord, t.thought_records, "created_at")
SUPPORTER = _mapper(r.Supporter, t.supporters, "created_at", codecs={"support_kinds": TUPLE})
SUPPORT_CONTACT = _mapper(r.SupportContact, t.support_contacts, "contacted_on")
TOPIC = _mapper(r.SessionTopic, t.session_topics, "created_at")
SHARING = _mapper(
    r.SharingPreference,
    t.sharing_preferences,
    "updated_at",
    codecs={"kind": _enum(r.EntryKind)},
    versioned=True,
)

#: Every mapper by record type.
MAPPERS: Mapping[type, RecordMapper[Any]] = {
    m.record_type: m
    for m in (
        CLINIC,
        USER,
        ASSIGNMENT,
        EPISODE,
        APPOINTMENT,
        ADMINISTRATION,
        ALERT,
        GOAL,
        GOAL_STEP,
        GOAL_REVIEW,
        JOURNAL,
        REFLECTION,
        STRESSOR,
        SELF_CARE,
        SKILL_PRACTICE,
        THOUGHT_RECORD,
        SUPPORTER,
        SUPPORT_CONTACT,
        TOPIC,
        SHARING,
    )
}
