"""The between-session numbers behind Groundhog Day and the support suggestions (methods.md §12).

`collect_signs` gathers, for one client and the window of the last four
weeks, the plain numbers that `twostep.analytics.explain.groundhog_day` and
`support_suggestions` take:

* engagement-check mean (the mean of the engagement check's totals, each
  already a 0–3 item mean);
* skill practice plus journaling: count in the last four weeks and in the
  four weeks before;
* missed or cancelled appointments in the window (and those missed without
  notice alone);
* the longest run of the same session-focus tag over the last six attended
  sessions (a session may carry several tags; a tag counts at every session
  that carries it);
* goal reviews overdue, days since the last review, and the GAS T-score now
  and at the review before;
* support-network contacts in the last four weeks and the four weeks before.

Only what the actor may see is counted: for a therapist, unshared kinds are
None ("not recorded"), so a Groundhog sign can never leak an unshared entry.
No kernel call happens here; callers that analyse many clients call the
kernel once per instrument and then `groundhog_day` once for all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import fmean
from typing import Protocol, TypeVar

from twostep.domain.ports import UnitOfWork
from twostep.domain.records import (
    Administration,
    Appointment,
    AppointmentStatus,
    EntryKind,
    Goal,
    GoalReview,
    JournalEntry,
    SkillPractice,
    SupportContact,
)
from twostep.services.access import ClientAccess
from twostep.services.goals import gas_points, review_status

__all__ = [
    "ENGAGEMENT_INSTRUMENT",
    "FOCUS_SESSIONS",
    "WINDOW_DAYS",
    "ProcessSigns",
    "collect_signs",
    "collect_signs_many",
    "focus_run",
]

#: The window of the process signs (and the "previous four weeks" before it).
WINDOW_DAYS = 28
#: How many of the latest attended sessions are searched for a repeated focus tag.
FOCUS_SESSIONS = 6
#: The catalogue id of the engagement check.
ENGAGEMENT_INSTRUMENT = "engagement"


class _ClientRecord(Protocol):
    @property
    def client_id(self) -> str: ...


@dataclass(frozen=True)
class ProcessSigns:
    """One client's between-session numbers (None = not recorded or not visible)."""

    engagement_mean: float | None = None
    practice_recent: float | None = None
    practice_before: float | None = None
    missed_in_window: int = 0
    missed_no_notice: int = 0
    same_focus_run: int = 0
    same_focus_tag: str | None = None
    goal_review_overdue: bool | None = None
    days_since_goal_review: int | None = None
    gas_t_latest: float | None = None
    gas_t_previous: float | None = None
    support_contacts_recent: float | None = None
    support_contacts_before: float | None = None


def focus_run(
    appointments: Sequence[Appointment], *, last: int = FOCUS_SESSIONS
) -> tuple[int, str | None]:
    """Longest run of one focus tag over the last ``last`` attended sessions, and the tag."""
    attended = sorted(
        (a for a in appointments if a.status is AppointmentStatus.ATTENDED),
        key=lambda a: a.scheduled_at,
    )[-last:]
    best, best_tag = 0, None
    runs: dict[str, int] = {}
    for ap in attended:
        tags = {t.strip().casefold() for t in ap.focus_tags if t.strip()}
        runs = {t: runs.get(t, 0) + 1 for t in tags}
        for t, n in sorted(runs.items()):
            if n > best:
                best, best_tag = n, t
    return best, best_tag


def _count(times: Sequence[datetime], start: datetime, end: datetime) -> int:
    return sum(1 for t in times if start < t <= end)


def collect_signs(uow: UnitOfWork, access: ClientAccess, now: datetime) -> ProcessSigns:
    """The process signs of ``access.client`` over the four weeks up to ``now``."""
    return collect_signs_many(uow, [access], now)[0]


def collect_signs_many(
    uow: UnitOfWork,
    accesses: Sequence[ClientAccess],
    now: datetime,
    *,
    administrations: Sequence[Administration] | None = None,
) -> list[ProcessSigns]:
    """`collect_signs` for many clients with one query per stream (a caseload at once).

    ``administrations`` may pass the clients' current administrations when the
    caller has loaded them already (only the engagement check's are used).
    """
    if not accesses:
        return []
    ids = [a.client_id for a in accesses]

    def visible(kind: EntryKind) -> list[str]:
        return [a.client_id for a in accesses if a.sees(kind)]

    if administrations is None:
        administrations = uow.administrations.for_clients(ids, ENGAGEMENT_INSTRUMENT)
    engagement = _by_client(a for a in administrations if a.instrument_id == ENGAGEMENT_INSTRUMENT)
    practice = _by_client(uow.skill_practice.for_many_clients(visible(EntryKind.SKILL_PRACTICE)))
    journal_ids = [a.client_id for a in accesses if a.sees_journal()]
    journal = _by_client(uow.journal.for_many_clients(journal_ids))
    appointments = _by_client(uow.appointments.for_many_clients(ids))
    goal_ids = visible(EntryKind.GOALS)
    goals = _by_client(uow.goals.for_many_clients(goal_ids))
    reviews = _by_client(uow.goal_reviews.for_many_clients(goal_ids))
    contacts = _by_client(uow.support_contacts.for_many_clients(visible(EntryKind.SUPPORT_NETWORK)))
    return [
        _signs(
            access,
            now,
            engagement=engagement.get(access.client_id, []),
            practice=practice.get(access.client_id, []),
            journal=journal.get(access.client_id, []),
            appointments=appointments.get(access.client_id, []),
            goals=goals.get(access.client_id, []),
            reviews=reviews.get(access.client_id, []),
            contacts=contacts.get(access.client_id, []),
        )
        for access in accesses
    ]


_R = TypeVar("_R", bound=_ClientRecord)


def _by_client(records: Iterable[_R]) -> dict[str, list[_R]]:
    out: dict[str, list[_R]] = {}
    for r in records:
        out.setdefault(r.client_id, []).append(r)
    return out


def _signs(
    access: ClientAccess,
    now: datetime,
    *,
    engagement: Sequence[Administration],
    practice: Sequence[SkillPractice],
    journal: Sequence[JournalEntry],
    appointments: Sequence[Appointment],
    goals: Sequence[Goal],
    reviews: Sequence[GoalReview],
    contacts: Sequence[SupportContact],
) -> ProcessSigns:
    """One client's signs from their records (already loaded)."""
    window = timedelta(days=WINDOW_DAYS)
    start, before = now - window, now - 2 * window
    totals = [a.total for a in engagement if a.total is not None and start < a.completed_at <= now]
    times: list[datetime] | None = None
    if access.sees(EntryKind.SKILL_PRACTICE):
        times = [p.practiced_at for p in practice]
    if access.sees_journal():
        times = (times or []) + [j.created_at for j in journal]
    missed = sum(
        1
        for a in appointments
        if a.status in (AppointmentStatus.MISSED, AppointmentStatus.CANCELLED)
        and start < a.scheduled_at <= now
    )
    no_notice = sum(
        1
        for a in appointments
        if a.status is AppointmentStatus.MISSED and start < a.scheduled_at <= now
    )
    run, tag = focus_run([a for a in appointments if a.scheduled_at <= now])
    overdue = days_since = gas_latest = gas_previous = None
    if access.sees(EntryKind.GOALS):
        statuses = [review_status(g, reviews, now.date()) for g in goals if g.closed_at is None]
        overdue = any(s.overdue for s in statuses)
        last = [s.last_reviewed_on for s in statuses if s.last_reviewed_on is not None]
        days_since = (now.date() - max(last)).days if last else None
        scored = [p.t_score for p in gas_points(goals, reviews) if p.t_score is not None]
        gas_latest = scored[-1] if scored else None
        gas_previous = scored[-2] if len(scored) > 1 else None
    contacts_recent = contacts_before = None
    if access.sees(EntryKind.SUPPORT_NETWORK):
        days = [c.contacted_on for c in contacts]
        contacts_recent = float(sum(1 for d in days if start.date() < d <= now.date()))
        contacts_before = float(sum(1 for d in days if before.date() < d <= start.date()))
    return ProcessSigns(
        engagement_mean=round(fmean(totals), 2) if totals else None,
        practice_recent=None if times is None else float(_count(times, start, now)),
        practice_before=None if times is None else float(_count(times, before, start)),
        missed_in_window=missed,
        missed_no_notice=no_notice,
        same_focus_run=run,
        same_focus_tag=tag,
        goal_review_overdue=overdue,
        days_since_goal_review=days_since,
        gas_t_latest=gas_latest,
        gas_t_previous=gas_previous,
        support_contacts_recent=contacts_recent,
        support_contacts_before=contacts_before,
    )
