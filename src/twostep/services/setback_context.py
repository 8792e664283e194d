"""What else was going on around a setback (methods.md §12), and the service's setback statistic.

When a setback, deterioration or sudden loss occurs at administration ``t``,
the explanation names context from the preceding 14 days when present —
shown as "what else was going on", never as a cause:

* stressors and life events of severity >= 3 (with their category) that
  were going on in the window;
* a fall of >= 2 points in the mean "was it restorative?" rating of
  self-care in the window against the four weeks before it;
* an alliance rupture (an SRS/WAI-SR administration in the window that the
  kernel labels ``rupture`` or ``unrepaired_escalation``, methods.md §6.4);
* missed sessions (appointments marked missed in the window).

For a therapist the client's sharing choices apply: unshared stressors or
self-care are left out of the context, as everywhere else.

The service's own setback statistic (share of comparable past episodes that
had a setback and still ended with reliable improvement) comes from a
`SetbackStatProvider`, a plain callable; the population analysis will supply
one. Without a provider, or with fewer than 30 comparable episodes, the
explanation uses the general statement `GENERAL_STATEMENT`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from statistics import fmean

from twostep.analytics.contexts import administration_context
from twostep.analytics.explain import (
    CONTEXT_DAYS,
    RESTORATIVE_DROP_MIN,
    STRESSOR_MIN_SEVERITY,
    AllianceFacts,
    Explanation,
    RiskFacts,
    SetbackStatistic,
    explain_administration,
)
from twostep.analytics.norms_model import NormsModel
from twostep.analytics.scale import Scale
from twostep.domain.ports import UnitOfWork, UnitOfWorkFactory
from twostep.domain.records import Administration, AppointmentStatus, EntryKind
from twostep.services.access import Actor, ClientAccess, client_access, not_found
from twostep.services.audit import AuditNote, audited
from twostep.services.histories import (
    CourseAnalysis,
    Signals,
    analyze_courses,
    course_of,
    current_course,
)
from twostep.services.texts import ExplanationText, texts_for

__all__ = [
    "ALLIANCE_INSTRUMENTS",
    "GENERAL_STATEMENT",
    "ClientContext",
    "ContextFacts",
    "SetbackContext",
    "SetbackQuery",
    "SetbackStatProvider",
    "context_facts",
    "explain_at",
    "load_context",
    "setback_context",
    "setback_query",
]

#: The general statement used when no service statistic can be shown (methods.md §12).
GENERAL_STATEMENT = "Setbacks are common in therapy. They do not mean that therapy is failing."
#: Alliance measures whose ruptures count as context.
ALLIANCE_INSTRUMENTS: tuple[str, ...] = ("srs", "wai_sr")
_WINDOW = timedelta(days=CONTEXT_DAYS)
_BEFORE = timedelta(days=28)


@dataclass(frozen=True)
class ContextFacts:
    """The 14 days before an administration, as the explanations take them."""

    stressors: tuple[tuple[str, int], ...] = ()
    restorative_drop: float | None = None
    alliance_rupture: bool = False
    missed_sessions: int = 0

    @property
    def any(self) -> bool:
        """Whether anything worth naming happened (the thresholds of methods.md §12)."""
        return bool(
            self.stressors
            or (self.restorative_drop is not None and self.restorative_drop >= RESTORATIVE_DROP_MIN)
            or self.alliance_rupture
            or self.missed_sessions > 0
        )


def explain_at(
    result: CourseAnalysis,
    course: int,
    position: int,
    *,
    facts: ContextFacts | None = None,
    setback_stat: SetbackStatistic | None = None,
    risk: RiskFacts | None = None,
) -> tuple[Explanation, ...]:
    """Every explanation of one administration, with its context, alliance and risk facts.

    With ``risk`` no normalising phrase is used (`AdministrationContext.alarming`);
    on an alliance measure the rupture/repair label is explained too.
    """
    analysis = result.analysis
    if analysis is None:
        return ()
    f = facts or ContextFacts()
    row = result.row(course, position)
    ctx = administration_context(
        analysis,
        row,
        setback_stat=setback_stat,
        stressors=f.stressors,
        restorative_drop=f.restorative_drop,
        alliance_rupture=f.alliance_rupture,
        missed_sessions=f.missed_sessions,
    )
    alliance = None
    if analysis.alliance is not None:
        alliance = AllianceFacts.from_signals(analysis.alliance, analysis.batch.raw, row)
    return explain_administration(replace(ctx, alliance=alliance, risk=risk))


def alliance_rupture_times(
    uow: UnitOfWork,
    client_id: str,
    *,
    scales: Mapping[str, Scale] | None = None,
    histories: Mapping[str, Sequence[Administration]] | None = None,
) -> tuple[datetime, ...]:
    """When the current course's alliance administrations showed a rupture (one kernel call per measure).

    A rupture is the kernel's alliance label ``rupture`` or
    ``unrepaired_escalation`` (methods.md §6.4) on an SRS/WAI-SR administration.
    ``histories``: the client's current administrations by instrument, when
    the caller has loaded them already (else they are read here).
    """
    times: list[datetime] = []
    for iid in ALLIANCE_INSTRUMENTS:
        history = (
            histories.get(iid, ())
            if histories is not None
            else uow.administrations.history(client_id, iid)
        )
        course = current_course(client_id, history)
        if not course.administrations:
            continue
        result = analyze_courses(iid, [course], scales=scales)
        for pos, a in enumerate(course.administrations):
            sig = result.signals(0, pos)
            if sig is not None and sig.alliance in ("rupture", "unrepaired_escalation"):
                times.append(a.completed_at)
    return tuple(sorted(times))


def alliance_rupture_between(
    uow: UnitOfWork,
    client_id: str,
    start: datetime,
    end: datetime,
    *,
    scales: Mapping[str, Scale] | None = None,
) -> bool:
    """Whether an alliance administration in ``(start, end]`` shows a rupture."""
    return any(start < at <= end for at in alliance_rupture_times(uow, client_id, scales=scales))


@dataclass(frozen=True)
class ClientContext:
    """A client's context streams, loaded once, from which `ContextFacts` for any day follow.

    A view that explains several administrations (every measure of the
    progress page, every setback of the timeline) loads the streams and runs
    the alliance analysis once instead of once per administration.
    ``stressors`` and ``self_care`` hold only what the access may see.
    """

    #: (category, severity, started_on, ended_on) of each visible stressor
    stressors: tuple[tuple[str, int, date, date | None], ...]
    #: (done_on, restorative) of each visible self-care entry that has a rating
    self_care: tuple[tuple[date, int], ...]
    #: when appointments were missed
    missed_at: tuple[datetime, ...]
    #: when alliance administrations showed a rupture (`alliance_rupture_times`)
    ruptures_at: tuple[datetime, ...]

    def facts_at(self, at: datetime) -> ContextFacts:
        """The context of the 14 days up to ``at`` (methods.md §12)."""
        start = at - _WINDOW
        day, first_day = at.date(), start.date()
        stressors = tuple(
            (category, severity)
            for category, severity, started, ended in self.stressors
            if started <= day
            and (ended is None or ended > first_day)
            and severity >= STRESSOR_MIN_SEVERITY
        )
        recent = [r for done, r in self.self_care if first_day < done <= day]
        before = [r for done, r in self.self_care if first_day - _BEFORE < done <= first_day]
        drop = round(fmean(before) - fmean(recent), 2) if recent and before else None
        return ContextFacts(
            stressors=stressors,
            restorative_drop=drop,
            alliance_rupture=any(start < t <= at for t in self.ruptures_at),
            missed_sessions=sum(1 for t in self.missed_at if start < t <= at),
        )


def load_context(
    uow: UnitOfWork,
    access: ClientAccess,
    *,
    scales: Mapping[str, Scale] | None = None,
    ruptures: bool = True,
    histories: Mapping[str, Sequence[Administration]] | None = None,
) -> ClientContext:
    """The client's context streams that ``access`` may see (sharing choices applied).

    ``ruptures=False`` skips the alliance analysis (no rupture is then
    reported); ``histories`` as in `alliance_rupture_times`.
    """
    client_id = access.client_id
    stressors: tuple[tuple[str, int, date, date | None], ...] = ()
    if access.sees(EntryKind.STRESSORS):
        stressors = tuple(
            (s.category.value, s.severity, s.started_on, s.ended_on)
            for s in uow.stressors.for_client(client_id)
        )
    self_care: tuple[tuple[date, int], ...] = ()
    if access.sees(EntryKind.SELF_CARE):
        self_care = tuple(
            (e.done_on, e.restorative)
            for e in uow.self_care.for_client(client_id)
            if e.restorative is not None
        )
    missed = tuple(
        ap.scheduled_at
        for ap in uow.appointments.for_client(client_id)
        if ap.status is AppointmentStatus.MISSED
    )
    rupture_times = (
        alliance_rupture_times(uow, client_id, scales=scales, histories=histories)
        if ruptures
        else ()
    )
    return ClientContext(stressors, self_care, missed, rupture_times)


def context_facts(
    uow: UnitOfWork,
    access: ClientAccess,
    at: datetime,
    *,
    scales: Mapping[str, Scale] | None = None,
) -> ContextFacts:
    """The context of the 14 days up to ``at`` that ``access`` may see.

    For several days of the same client, `load_context` once and call
    `ClientContext.facts_at` for each.
    """
    return load_context(uow, access, scales=scales).facts_at(at)


@dataclass(frozen=True)
class SetbackQuery:
    """What makes past episodes comparable (methods.md §12)."""

    instrument_id: str
    intake_band: str | None
    t: int

    @property
    def t_group(self) -> str:
        """``2-4``, ``5-8`` or ``9+`` (the administration index of the setback)."""
        if self.t <= 4:
            return "2-4"
        if self.t <= 8:
            return "5-8"
        return "9+"


#: Supplies the service's setback statistic for comparable episodes, or None.
SetbackStatProvider = Callable[[SetbackQuery], SetbackStatistic | None]


def setback_query(result: CourseAnalysis, course: int, position: int) -> SetbackQuery:
    """The comparison group of administration ``position`` of a course."""
    adm = result.courses[course].administrations
    intake = next((a for a in adm if a.total is not None), None)
    sig = result.signals(course, position)
    return SetbackQuery(
        instrument_id=result.instrument.id,
        intake_band=intake.band if intake is not None else None,
        t=sig.t if sig is not None else position + 1,
    )


@dataclass(frozen=True)
class SetbackContext:
    """Everything shown around one administration's setback (or other change)."""

    administration_id: str
    instrument_id: str
    signals: Signals | None
    facts: ContextFacts
    statistic: SetbackStatistic | None
    statistic_shown: bool
    general_statement: str
    explanations: tuple[ExplanationText, ...]


def setback_context(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    administration_id: str,
    *,
    provider: SetbackStatProvider | None = None,
    scales: Mapping[str, Scale] | None = None,
    norms: Mapping[str, NormsModel] | None = None,
) -> SetbackContext:
    """The 14-day context, the setback statistic and the explanations of one administration."""

    def op(uow: UnitOfWork, note: AuditNote) -> SetbackContext:
        adm = uow.administrations.get(administration_id)
        if adm is None:
            raise not_found("administration")
        access = note.granted(client_access(uow, actor, adm.client_id))
        return build_context(uow, access, adm, provider=provider, scales=scales, norms=norms)

    return audited(
        uow_factory,
        actor,
        "read",
        "setback_context",
        op,
        object_id=administration_id,
    )


def build_context(
    uow: UnitOfWork,
    access: ClientAccess,
    adm: Administration,
    *,
    provider: SetbackStatProvider | None,
    scales: Mapping[str, Scale] | None,
    norms: Mapping[str, NormsModel] | None,
) -> SetbackContext:
    """`setback_context` inside an open unit of work (after the access check)."""
    history = uow.administrations.history(adm.client_id, adm.instrument_id)
    course = course_of(adm.client_id, history, adm.episode_id)
    ids = [a.id for a in course.administrations]
    if adm.id not in ids:
        raise not_found("administration")
    position = ids.index(adm.id)
    result = analyze_courses(adm.instrument_id, [course], scales=scales, norms=norms)
    facts = context_facts(uow, access, adm.completed_at, scales=scales)
    stat = None
    expl: tuple[ExplanationText, ...] = ()
    signals = result.signals(0, position)
    if result.analysis is not None:
        if provider is not None:
            stat = provider(setback_query(result, 0, position))
        expl = texts_for(
            explain_at(result, 0, position, facts=facts, setback_stat=stat),
            staff=access.is_therapist,
        )
    return SetbackContext(
        administration_id=adm.id,
        instrument_id=adm.instrument_id,
        signals=signals,
        facts=facts,
        statistic=stat,
        statistic_shown=stat is not None and stat.shown,
        general_statement=GENERAL_STATEMENT,
        explanations=expl,
    )
