"""The client's "My progress" and "How I'm growing" pages (issue 5).

**My progress** — per measure of the current episode: every score with its
§11 labels (setbacks, sudden gains and losses marked), the normal-fluctuation
band around the best score so far (a change smaller than RC from the best is
everyday ups and downs), the clinical cut-off, the expected band when norms
exist, the stressors logged, and the plain-language explanation of the latest
change (methods.md §11–12). A setback is shown as a setback inside progress,
never as failure; deterioration is never hidden (the kernel's texts).

**How I'm growing** — beside the symptom charts, the other signs of growth
week by week: coping skills practised and how much they helped, self-care and
how restful it was, contacts with supporters, reflections and journal
entries written, goal steps done, and the goal-attainment T-score per review.
Highlights are short plain sentences that only ever name what went well, so
progress is visible even in a week when a score went up.

Both pages are open to the client and their therapist; the sharing policy
applies to the therapist.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from statistics import fmean

from twostep.analytics.contexts import explain_client
from twostep.analytics.norms_model import NormsModel
from twostep.analytics.scale import Scale
from twostep.domain.ports import UnitOfWork, UnitOfWorkFactory
from twostep.domain.records import Administration, EntryKind, StressorCategory
from twostep.services.access import Actor, ClientAccess, client_access
from twostep.services.audit import AuditNote, audited
from twostep.services.goals import GasPoint, gas_explanation, gas_points
from twostep.services.histories import Course, analyze_courses, current_course
from twostep.services.setback_context import ClientContext, explain_at, load_context
from twostep.services.texts import ExplanationText, texts_for
from twostep.services.validation import utcnow

__all__ = [
    "Growth",
    "MeasureProgress",
    "ProgressPoint",
    "StressorMarker",
    "WeekGrowth",
    "growth",
    "my_progress",
]


@dataclass(frozen=True)
class ProgressPoint:
    administration_id: str
    completed_at: datetime
    score: float | None
    t: int
    status: str
    event: str
    etr_band: str
    in_setback: bool
    provisional: bool
    best_so_far: float | None
    fluctuation_low: float | None
    fluctuation_high: float | None
    expected_low: float | None
    expected_median: float | None
    expected_high: float | None


@dataclass(frozen=True)
class StressorMarker:
    started_on: date
    ended_on: date | None
    category: StressorCategory
    severity: int


@dataclass(frozen=True)
class MeasureProgress:
    instrument_id: str
    name: str
    higher_is_better: bool
    minimum: float
    maximum: float
    cutoff: float | None
    rc: float | None
    points: tuple[ProgressPoint, ...]
    stressors: tuple[StressorMarker, ...]
    summary: ExplanationText | None
    latest: tuple[ExplanationText, ...]


def _num(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else x


def my_progress(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    scales: Mapping[str, Scale] | None = None,
    norms: Mapping[str, NormsModel] | None = None,
    only: str | None = None,
) -> tuple[MeasureProgress, ...]:
    """Every measure with change statistics in the current episode, one kernel call each.

    ``only``: just that instrument's measure (one chart), the others not computed.
    """

    def op(uow: UnitOfWork, note: AuditNote) -> tuple[MeasureProgress, ...]:
        access = note.granted(client_access(uow, actor, client_id))
        histories: dict[str, list[Administration]] = {}
        for a in uow.administrations.for_clients([client_id]):
            histories.setdefault(a.instrument_id, []).append(a)
        everything = histories
        if only is not None:
            histories = {i: h for i, h in histories.items() if i == only}
        if not histories:
            return ()
        # once for every measure, from the administrations already read
        context = load_context(uow, access, scales=scales, histories=everything)
        markers = tuple(
            StressorMarker(started, ended, StressorCategory(category), severity)
            for category, severity, started, ended in context.stressors
        )
        out = []
        for iid in sorted(histories):
            course = current_course(client_id, histories[iid])
            m = _measure(access, iid, course, context, markers, scales, norms)
            if m is not None:
                out.append(m)
        return tuple(out)

    return audited(uow_factory, actor, "read", "progress", op, client_id=client_id)


def _measure(
    access: ClientAccess,
    iid: str,
    course: Course,
    context: ClientContext,
    markers: tuple[StressorMarker, ...],
    scales: Mapping[str, Scale] | None,
    norms: Mapping[str, NormsModel] | None,
) -> MeasureProgress | None:
    result = analyze_courses(iid, [course], scales=scales, norms=norms)
    if result.analysis is None or result.scale is None:
        return None
    scale = result.scale
    rc = scale.rc.threshold
    points = []
    best: float | None = None
    for pos, adm in enumerate(course.administrations):
        sig = result.signals(0, pos)
        assert sig is not None
        if adm.total is not None:
            better = best is None or (
                adm.total > best if scale.higher_is_better else adm.total < best
            )
            best = adm.total if better else best
        low = high = None
        if best is not None:
            low, high = (best - rc, best) if scale.higher_is_better else (best, best + rc)
        points.append(
            ProgressPoint(
                administration_id=adm.id,
                completed_at=adm.completed_at,
                score=adm.total,
                t=sig.t,
                status=sig.status,
                event=sig.event,
                etr_band=sig.etr_band,
                in_setback=sig.in_setback,
                provisional=sig.provisional,
                best_so_far=best,
                fluctuation_low=_num(low),
                fluctuation_high=_num(high),
                expected_low=sig.expected_low,
                expected_median=sig.expected_median,
                expected_high=sig.expected_high,
            )
        )
    staff = access.is_therapist
    last = len(course.administrations) - 1
    facts = context.facts_at(course.administrations[last].completed_at)
    latest = texts_for(explain_at(result, 0, last, facts=facts), staff=staff)
    summary = explain_client(result.analysis, 0)
    return MeasureProgress(
        instrument_id=iid,
        name=scale.name,
        higher_is_better=scale.higher_is_better,
        minimum=scale.minimum,
        maximum=scale.maximum,
        cutoff=scale.cutoff,
        rc=rc,
        points=tuple(points),
        stressors=markers,
        summary=texts_for([summary], staff=staff)[0] if summary is not None else None,
        latest=latest,
    )


@dataclass(frozen=True)
class WeekGrowth:
    """One week (Monday to Sunday) of growth signs; None where the kind is not visible."""

    week_start: date
    skill_practice: int | None
    mean_helpfulness: float | None
    self_care: int | None
    mean_restorative: float | None
    support_contacts: int | None
    reflections: int | None
    journal_entries: int | None
    steps_done: int | None


@dataclass(frozen=True)
class Growth:
    weeks: tuple[WeekGrowth, ...]
    gas: tuple[GasPoint, ...]
    gas_explanation: ExplanationText | None
    highlights: tuple[str, ...]


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _avg(values: list[int]) -> float | None:
    return round(fmean(values), 1) if values else None


def growth(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    weeks: int = 12,
    now: datetime | None = None,
) -> Growth:
    """The signs of growth over the last ``weeks`` weeks (see the module docstring)."""
    at = now or utcnow()

    def op(uow: UnitOfWork, note: AuditNote) -> Growth:
        access = note.granted(client_access(uow, actor, client_id))
        return _growth(uow, access, max(1, min(weeks, 104)), at)

    return audited(uow_factory, actor, "read", "growth", op, client_id=client_id)


def _growth(uow: UnitOfWork, access: ClientAccess, n_weeks: int, at: datetime) -> Growth:
    cid = access.client_id
    first = _monday(at.date()) - timedelta(weeks=n_weeks - 1)
    starts = [first + timedelta(weeks=k) for k in range(n_weeks)]

    def week(d: date) -> int | None:
        k = (d - first).days // 7
        return k if 0 <= k < n_weeks and d <= at.date() else None

    def counts(days: list[date] | None) -> list[int | None]:
        if days is None:
            return [None] * n_weeks
        out: list[int | None] = [0] * n_weeks
        for d in days:
            k = week(d)
            if k is not None:
                out[k] = (out[k] or 0) + 1
        return out

    def means(pairs: list[tuple[date, int | None]] | None) -> list[float | None]:
        if pairs is None:
            return [None] * n_weeks
        buckets: list[list[int]] = [[] for _ in range(n_weeks)]
        for d, v in pairs:
            k = week(d)
            if k is not None and v is not None:
                buckets[k].append(v)
        return [_avg(b) for b in buckets]

    practice = (
        [(p.practiced_at.date(), p.helpfulness) for p in uow.skill_practice.for_client(cid)]
        if access.sees(EntryKind.SKILL_PRACTICE)
        else None
    )
    care = (
        [(e.done_on, e.restorative) for e in uow.self_care.for_client(cid)]
        if access.sees(EntryKind.SELF_CARE)
        else None
    )
    contacts = (
        [c.contacted_on for c in uow.support_contacts.for_client(cid)]
        if access.sees(EntryKind.SUPPORT_NETWORK)
        else None
    )
    reflections = (
        [r.created_at.date() for r in uow.reflections.for_client(cid)]
        if access.sees(EntryKind.SETBACK_REFLECTIONS)
        else None
    )
    journal = (
        [j.created_at.date() for j in uow.journal.for_client(cid)]
        if access.sees_journal()
        else None
    )
    steps = None
    gas: tuple[GasPoint, ...] = ()
    if access.sees(EntryKind.GOALS):
        steps = [
            s.done_at.date()
            for s in uow.goal_steps.for_client(cid)
            if s.done and s.done_at is not None
        ]
        gas = gas_points(uow.goals.for_client(cid), uow.goal_reviews.for_client(cid))
    practice_n = counts([d for d, _ in practice] if practice is not None else None)
    care_n = counts([d for d, _ in care] if care is not None else None)
    helped, restful = means(practice), means(care)
    contacts_n, reflections_n = counts(contacts), counts(reflections)
    journal_n, steps_n = counts(journal), counts(steps)
    rows = tuple(
        WeekGrowth(
            week_start=starts[k],
            skill_practice=practice_n[k],
            mean_helpfulness=helped[k],
            self_care=care_n[k],
            mean_restorative=restful[k],
            support_contacts=contacts_n[k],
            reflections=reflections_n[k],
            journal_entries=journal_n[k],
            steps_done=steps_n[k],
        )
        for k in range(n_weeks)
    )
    return Growth(
        weeks=rows,
        gas=gas,
        gas_explanation=gas_explanation(gas, staff=access.is_therapist),
        highlights=_highlights(rows[-4:], access.is_self),
    )


def _total(rows: tuple[WeekGrowth, ...], name: str) -> int:
    return sum(int(getattr(r, name) or 0) for r in rows)


def _highlights(recent: tuple[WeekGrowth, ...], self_view: bool) -> tuple[str, ...]:
    """Short sentences on what went well in the last four weeks (never on what did not)."""
    you = "You" if self_view else "The client"
    out = []
    n = _total(recent, "skill_practice")
    if n:
        out.append(f"{you} practised a coping skill {n} {'time' if n == 1 else 'times'}.")
    helped = [r.mean_helpfulness for r in recent if r.mean_helpfulness is not None]
    if helped and fmean(helped) >= 5:
        out.append(f"On average the skills helped {round(fmean(helped))} out of 10.")
    n = _total(recent, "self_care")
    if n:
        out.append(f"{you} made time for self-care {n} {'time' if n == 1 else 'times'}.")
    n = _total(recent, "support_contacts")
    if n:
        out.append(
            f"{you} reached out to people who support you {n} {'time' if n == 1 else 'times'}."
        )
    n = _total(recent, "reflections") + _total(recent, "journal_entries")
    if n:
        out.append(f"{you} wrote {n} {'entry' if n == 1 else 'entries'} in the journal.")
    n = _total(recent, "steps_done")
    if n:
        out.append(f"{you} finished {n} goal {'step' if n == 1 else 'steps'}.")
    return tuple(out)
