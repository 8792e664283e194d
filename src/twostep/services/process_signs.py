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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import fmean

from twostep.domain.ports import UnitOfWork
from twostep.domain.records import Appointment, AppointmentStatus, EntryKind
from twostep.services.access import ClientAccess
from twostep.services.goals import gas_points, review_status

__all__ = [
    "ENGAGEMENT_INSTRUMENT",
    "FOCUS_SESSIONS",
    "WINDOW_DAYS",
    "ProcessSigns",
    "collect_signs",
    "focus_run",
]

#: The window of the process signs (and the "previous four weeks" before it).
WINDOW_DAYS = 28
#: How many of the latest attended sessions are searched for a repeated focus tag.
FOCUS_SESSIONS = 6
#: The catalogue id of the engagement check.
ENGAGEMENT_INSTRUMENT = "engagement"


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
    cid = access.client_id
    window = timedelta(days=WINDOW_DAYS)
    start, before = now - window, now - 2 * window
    engagement = [
        a.total
        for a in uow.administrations.history(cid, ENGAGEMENT_INSTRUMENT)
        if a.total is not None and start < a.completed_at <= now
    ]
    practice: list[datetime] | None = None
    if access.sees(EntryKind.SKILL_PRACTICE):
        practice = [p.practiced_at for p in uow.skill_practice.for_client(cid)]
    if access.sees_journal():
        practice = (practice or []) + [j.created_at for j in uow.journal.for_client(cid)]
    appointments = uow.appointments.for_client(cid)
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
        goals = uow.goals.for_client(cid)
        reviews = uow.goal_reviews.for_client(cid)
        statuses = [review_status(g, reviews, now.date()) for g in goals if g.closed_at is None]
        overdue = any(s.overdue for s in statuses)
        last = [s.last_reviewed_on for s in statuses if s.last_reviewed_on is not None]
        days_since = (now.date() - max(last)).days if last else None
        scored = [p.t_score for p in gas_points(goals, reviews) if p.t_score is not None]
        gas_latest = scored[-1] if scored else None
        gas_previous = scored[-2] if len(scored) > 1 else None
    contacts_recent = contacts_before = None
    if access.sees(EntryKind.SUPPORT_NETWORK):
        days = [c.contacted_on for c in uow.support_contacts.for_client(cid)]
        contacts_recent = float(sum(1 for d in days if start.date() < d <= now.date()))
        contacts_before = float(sum(1 for d in days if before.date() < d <= start.date()))
    return ProcessSigns(
        engagement_mean=round(fmean(engagement), 2) if engagement else None,
        practice_recent=None if practice is None else float(_count(practice, start, now)),
        practice_before=None if practice is None else float(_count(practice, before, start)),
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
