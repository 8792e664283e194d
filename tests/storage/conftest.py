"""Fixtures of the storage tests: a unit-of-work factory and a seeded clinic.

`World` holds the ids of one clinic (a therapist, two clients, an episode, an
administration, a goal, a supporter) and builds every record type in two
variants: ``full`` (every optional field set, non-UTC offsets, microseconds)
and ``minimal`` (optional fields unset).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from twostep.domain import records as r
from twostep.storage import SqlUnitOfWork, SqlUnitOfWorkFactory

PLUS2 = timezone(timedelta(hours=2))
MINUS5 = timezone(timedelta(hours=-5))
T0 = datetime(2025, 3, 30, 1, 30, 15, 123456, tzinfo=PLUS2)


def at(days: float = 0, tz: timezone = UTC) -> datetime:
    """An instant ``days`` after T0, expressed in ``tz``."""
    return (T0 + timedelta(days=days)).astimezone(tz)


@dataclass
class World:
    clinic_id: str
    therapist_id: str
    client_id: str
    other_client_id: str
    episode_id: str
    administration_id: str
    goal_id: str
    supporter_id: str

    def administration(self, **kw: Any) -> r.Administration:
        base: dict[str, Any] = {
            "id": r.new_id(),
            "clinic_id": self.clinic_id,
            "client_id": self.client_id,
            "episode_id": self.episode_id,
            "instrument_id": "phq9",
            "answers": {f"item_{i}": float(i % 4) for i in range(1, 10)},
            "total": 18.0,
            "subscales": {"somatic": 7.5, "cognitive": None},
            "band": "moderately severe",
            "case": True,
            "risk": True,
            "risk_level": 2,
            "risk_not_assessed": False,
            "prorated": False,
            "completed_at": at(1, MINUS5),
            "received_at": at(1.01),
            "submitted_by": self.client_id,
        }
        base.update(kw)
        return r.Administration(**base)

    def builders(self) -> dict[str, dict[str, Callable[[], Any]]]:
        """repository attribute -> variant -> record factory."""
        w = self
        return {
            "clinics": {
                "full": lambda: r.Clinic(
                    r.new_id(), "Northside", "Call 999", "We reply within 2 days",
                    ("phq9", "gad7", "core10"), 14, at(),
                ),
                "minimal": lambda: r.Clinic(r.new_id(), "Southside", "", ""),
            },
            "users": {
                "full": lambda: r.User(
                    r.new_id(), w.clinic_id, f"{r.new_id()}@Example.org", "Dr Ana Pérez",
                    frozenset({r.Role.THERAPIST, r.Role.ADMIN}), False, at(-3, PLUS2),
                ),
                "minimal": lambda: r.User(
                    r.new_id(), w.clinic_id, f"{r.new_id()}@example.org", "Sam", frozenset()
                ),
            },
            "assignments": {
                "full": lambda: r.Assignment(
                    r.new_id(), w.clinic_id, w.therapist_id, w.client_id, at(-10), at(20, MINUS5)
                ),
                "minimal": lambda: r.Assignment(
                    r.new_id(), w.clinic_id, w.therapist_id, w.other_client_id, at(-10)
                ),
            },
            "episodes": {
                "full": lambda: r.Episode(
                    r.new_id(), w.clinic_id, w.client_id, date(2024, 1, 2), date(2024, 6, 30),
                    "completed — moved away",
                ),
                "minimal": lambda: r.Episode(r.new_id(), w.clinic_id, w.client_id, date(2025, 1, 2)),
            },
            "appointments": {
                "full": lambda: r.Appointment(
                    r.new_id(), w.clinic_id, w.episode_id, w.client_id, w.therapist_id,
                    at(2, MINUS5), r.AppointmentStatus.ATTENDED, ("sleep", "work"), True,
                ),
                "minimal": lambda: r.Appointment(
                    r.new_id(), w.clinic_id, w.episode_id, w.client_id, None, at(3)
                ),
            },
            "administrations": {
                "full": lambda: w.administration(completed_at=at(5, MINUS5), source="fhir"),
                "minimal": lambda: w.administration(
                    episode_id=None, answers={}, total=None, subscales={}, band=None,
                    case=None, risk=False, risk_level=0, submitted_by=None,
                    completed_at=at(6),
                ),
            },
            "alerts": {
                "full": lambda: r.Alert(
                    r.new_id(), w.clinic_id, w.client_id, r.AlertKind.RISK, "phq9.item9>0",
                    {"item": "item_9", "value": 2, "threshold": 0.5, "tags": ["a", "b"],
                     "nested": {"x": None}},
                    at(1), r.AlertStatus.SNOOZED, w.administration_id, 3,
                    "Phoned the client; safety plan reviewed", w.therapist_id, at(1.5, PLUS2),
                    at(3, MINUS5),
                ),
                "minimal": lambda: r.Alert(
                    r.new_id(), w.clinic_id, w.client_id, r.AlertKind.PLATEAU, "plateau", {}, at(2)
                ),
            },
            "goals": {
                "full": lambda: r.Goal(
                    r.new_id(), w.clinic_id, w.client_id, "Walk to the shop", "walks per week",
                    {-2: "none", -1: "one", 0: "two", 1: "three", 2: "four or more"}, -1, 2,
                    "independence", date(2025, 9, 1), 3, 2, r.GoalRater.CLIENT, 14, 2.5,
                    at(-1), at(40, MINUS5),
                ),
                "minimal": lambda: r.Goal(
                    r.new_id(), w.clinic_id, w.client_id, "", "", {}, 0, None, "", None, 0, 0
                ),
            },
            "goal_steps": {
                "full": lambda: r.GoalStep(
                    r.new_id(), w.goal_id, w.client_id, "Buy shoes", date(2025, 4, 2), True, at(2)
                ),
                "minimal": lambda: r.GoalStep(r.new_id(), w.goal_id, w.client_id, "Plan a route"),
            },
            "goal_reviews": {
                "full": lambda: r.GoalReview(
                    r.new_id(), w.goal_id, w.client_id, at(14, PLUS2), 1, "Went twice", w.therapist_id
                ),
                "minimal": lambda: r.GoalReview(r.new_id(), w.goal_id, w.client_id, at(15), None),
            },
            "journal": {
                "full": lambda: r.JournalEntry(
                    r.new_id(), w.client_id, at(1, MINUS5), 7, ("calm", "tired"), "Slept well 😴"
                ),
                "minimal": lambda: r.JournalEntry(r.new_id(), w.client_id, at(2), None),
            },
            "reflections": {
                "full": lambda: r.SetbackReflection(
                    r.new_id(), w.client_id, at(3), "Argument", "Tight chest", "Walk", "Pause first"
                ),
                "minimal": lambda: r.SetbackReflection(r.new_id(), w.client_id, at(4)),
            },
            "stressors": {
                "full": lambda: r.Stressor(
                    r.new_id(), w.client_id, r.StressorCategory.WORK, 4, date(2025, 1, 5),
                    date(2025, 2, 1), "Redundancy talks", at(-2),
                ),
                "minimal": lambda: r.Stressor(
                    r.new_id(), w.client_id, r.StressorCategory.OTHER, 1, date(2025, 1, 6)
                ),
            },
            "self_care": {
                "full": lambda: r.SelfCareEntry(
                    r.new_id(), w.client_id, date(2025, 4, 1), r.SelfCareActivity.YOGA, 45, 8,
                    "Evening class",
                ),
                "minimal": lambda: r.SelfCareEntry(
                    r.new_id(), w.client_id, date(2025, 4, 2), r.SelfCareActivity.SLEEP, None, None
                ),
            },
            "skill_practice": {
                "full": lambda: r.SkillPractice(
                    r.new_id(), w.client_id, "paced_breathing", at(1), 6, "before the meeting"
                ),
                "minimal": lambda: r.SkillPractice(r.new_id(), w.client_id, "grounding", at(2), None),
            },
            "thought_records": {
                "full": lambda: r.ThoughtRecord(
                    r.new_id(), w.client_id, at(1), "Meeting", "They think I'm useless", "shame",
                    85, "Silence", "Thanked me", "One silence is not a verdict", 40,
                ),
                "minimal": lambda: r.ThoughtRecord(
                    r.new_id(), w.client_id, at(2), "Bus", "I'll faint", "fear", 0
                ),
            },
            "supporters": {
                "full": lambda: r.Supporter(
                    r.new_id(), w.client_id, "Maria", "sister", ("emotional", "practical"), True, at(1)
                ),
                "minimal": lambda: r.Supporter(r.new_id(), w.client_id, "Jo", "friend"),
            },
            "support_contacts": {
                "full": lambda: r.SupportContact(
                    r.new_id(), w.client_id, w.supporter_id, date(2025, 4, 3), "phone", 9
                ),
                "minimal": lambda: r.SupportContact(
                    r.new_id(), w.client_id, w.supporter_id, date(2025, 4, 4)
                ),
            },
            "topics": {
                "full": lambda: r.SessionTopic(
                    r.new_id(), w.client_id, at(1), "My sleep", at(8, MINUS5)
                ),
                "minimal": lambda: r.SessionTopic(r.new_id(), w.client_id, at(2), "Work"),
            },
        }  # fmt: skip


REPOSITORIES = [
    "clinics", "users", "assignments", "episodes", "appointments", "administrations", "alerts",
    "goals", "goal_steps", "goal_reviews", "journal", "reflections", "stressors", "self_care",
    "skill_practice", "thought_records", "supporters", "support_contacts", "topics",
]  # fmt: skip


@pytest.fixture
def uow_factory(engine: sa.Engine) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(engine)


@pytest.fixture
def world(uow_factory: SqlUnitOfWorkFactory) -> World:
    """One clinic with a therapist, two clients, an episode, an administration, a goal, a supporter."""
    clinic = r.Clinic(r.new_id(), "Clinic", "Call 111", "We reply in two days", created_at=at(-30))
    therapist = r.User(
        r.new_id(), clinic.id, "t@example.org", "Therapist", frozenset({r.Role.THERAPIST})
    )
    client = r.User(r.new_id(), clinic.id, "c@example.org", "Client", frozenset({r.Role.CLIENT}))
    other = r.User(r.new_id(), clinic.id, "o@example.org", "Other", frozenset({r.Role.CLIENT}))
    episode = r.Episode(r.new_id(), clinic.id, client.id, date(2025, 1, 1))
    w = World(clinic.id, therapist.id, client.id, other.id, episode.id, "", r.new_id(), r.new_id())
    adm = w.administration(completed_at=at(0))
    w.administration_id = adm.id
    goal = r.Goal(w.goal_id, clinic.id, client.id, "g", "m", {0: "x"}, 0, None, "r", None, 1, 1)
    supporter = r.Supporter(w.supporter_id, client.id, "Ann", "friend")
    uow: SqlUnitOfWork
    with uow_factory() as uow:
        uow.clinics.add(clinic)
        for u in (therapist, client, other):
            uow.users.add(u)
        uow.episodes.add(episode)
        uow.administrations.add(adm)
        uow.goals.add(goal)
        uow.supporters.add(supporter)
        uow.commit()
    return w
