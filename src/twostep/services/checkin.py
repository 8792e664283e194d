"""Record a check-in: score → store → kernel on the client's history → alerts, in one transaction.

`record_checkin` is the safety-critical path of twostep:

1. the answers are validated and scored by the catalogue
   (`score_submission`: strict types, prorating rules, risk items);
2. the `Administration` is stored (immutable; ``completed_at`` must carry a
   time zone; ``received_at`` is now);
3. a risk item answered above 0 **always** creates a risk alert, with the
   level of the instrument's tier (methods.md §9) — before anything else can
   fail; a risk item left blank creates a "risk not assessed" alert, never
   "no risk";
4. inside a savepoint, the kernel runs on the client's history of that
   instrument in the same episode (one `analyze_batch` call, with the clinic's
   norms when given) and creates the signal alerts: reliable deterioration
   (first signal / confirmed), not on track (red / red confirmed), sudden
   loss, plateau, Groundhog Day on outcome measures; alliance rupture (and
   nothing else) on alliance measures (SRS, WAI-SR). If this step
   fails, the savepoint is rolled back and the failure is logged and reported
   in the result (``analysis_failed``); the submission and the risk alert are
   kept and committed;
5. one audit event is recorded and everything commits together.

Signal alerts are not duplicated: a new one is created only when no
unresolved alert (open, acknowledged or snoozed) of the same client, kind,
rule and instrument exists. A confirmed signal has a rule of its own
(``deterioration_confirmed``, ``not_on_track_red_confirmed``), so escalation
is never swallowed. Risk and risk-not-assessed alerts are never deduplicated:
every answer needs its own follow-up.

The result carries the explanations (client text, plus the therapist text for
a therapist caller), whether crisis resources must be shown now (a risk item
above 0), the clinic's crisis text, and the clinic's notice that answers may
not be seen straight away (always shown, methods.md §9 point 6).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from twostep.analytics.explain import (
    DEFAULT_DELAY_NOTICE,
    Explanation,
    RiskFacts,
    explain_risk,
    groundhog_day,
)
from twostep.analytics.norms_model import NormsModel
from twostep.analytics.scale import Scale
from twostep.domain.ports import UnitOfWork, UnitOfWorkFactory
from twostep.domain.records import (
    Administration,
    Alert,
    AlertKind,
    Clinic,
    Episode,
    new_id,
)
from twostep.errors import ConflictError, NotFoundError, UnknownInstrumentError
from twostep.instruments.model import Instrument, Purpose
from twostep.instruments.registry import get_instrument
from twostep.instruments.scoring import Score, score_submission
from twostep.services.access import Actor, ClientAccess, Relation, client_access, not_found
from twostep.services.audit import AuditNote, audited
from twostep.services.histories import (
    CourseAnalysis,
    Signals,
    analyze_courses,
    course_of,
    current_course,
)
from twostep.services.process_signs import collect_signs
from twostep.services.setback_context import (
    SetbackStatProvider,
    context_facts,
    explain_at,
    setback_query,
)
from twostep.services.texts import ExplanationText, texts_for
from twostep.services.validation import Checks, utcnow

__all__ = [
    "CheckinDue",
    "CheckinResult",
    "amend_administration",
    "checkin_result",
    "checkins_due",
    "record_checkin",
]

log = logging.getLogger(__name__)

_SETBACK_EVENTS = ("setback", "setback_transient", "setback_sustained")


@dataclass(frozen=True)
class CheckinResult:
    """What the client (or therapist) sees right after submitting.

    ``alerts`` lists the alerts created — only for a therapist caller; clients
    never see alerts or risk levels (methods.md §9 point 3).
    """

    administration: Administration
    explanations: tuple[ExplanationText, ...]
    show_crisis_resources: bool
    crisis_text: str | None
    delay_notice: str
    risk_not_assessed: bool
    signals: Signals | None
    alerts: tuple[Alert, ...]
    analysis_failed: bool = False


@dataclass(frozen=True)
class CheckinDue:
    """A questionnaire the clinic asks for and when it is next due."""

    instrument_id: str
    name: str
    last_completed_at: datetime | None
    due_at: datetime
    due_now: bool


@dataclass(frozen=True)
class _Options:
    norms: Mapping[str, NormsModel] | None
    scales: Mapping[str, Scale] | None
    setback_stats: SetbackStatProvider | None


def _instrument(instrument_id: str, checks: Checks) -> Instrument | None:
    try:
        return get_instrument(instrument_id)
    except UnknownInstrumentError:
        checks.fail("instrument_id", "unknown_instrument", "not an instrument of the catalogue")
        return None


def _clinic(uow: UnitOfWork, clinic_id: str) -> Clinic | None:
    return uow.clinics.get(clinic_id)


def _open_episode(uow: UnitOfWork, client_id: str) -> Episode | None:
    open_ = [e for e in uow.episodes.for_client(client_id) if e.ended_on is None]
    return open_[-1] if open_ else None


def record_checkin(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    instrument_id: str,
    answers: Mapping[str, object],
    completed_at: datetime,
    *,
    episode_id: str | None = None,
    norms: Mapping[str, NormsModel] | None = None,
    scales: Mapping[str, Scale] | None = None,
    setback_stats: SetbackStatProvider | None = None,
    now: datetime | None = None,
) -> CheckinResult:
    """Score, store and analyse one questionnaire submission (see the module docstring).

    ``episode_id`` defaults to the client's open episode (None without one).
    Raises `ValidationError` (answers, time, instrument), `NotFoundError`
    (client or episode not reachable) or `AccessDeniedError` (role).
    """
    at = now or utcnow()
    options = _Options(norms, scales, setback_stats)

    def op(uow: UnitOfWork, note: AuditNote) -> CheckinResult:
        access = note.granted(client_access(uow, actor, client_id))
        checks = Checks("check-in")
        instrument = _instrument(instrument_id, checks)
        when = checks.instant("completed_at", completed_at, now=at)
        checks.done()
        assert instrument is not None
        assert when is not None
        episode = _episode(uow, client_id, episode_id)
        score = score_submission(instrument, answers)
        adm = _administration(access, instrument, score, answers, when, at, episode)
        note.object_id = adm.id
        return _store_and_analyse(uow, access, instrument, score, adm, at, options)

    return audited(uow_factory, actor, "create", "administration", op, client_id=client_id)


def amend_administration(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    administration_id: str,
    answers: Mapping[str, object],
    *,
    completed_at: datetime | None = None,
    norms: Mapping[str, NormsModel] | None = None,
    scales: Mapping[str, Scale] | None = None,
    setback_stats: SetbackStatProvider | None = None,
    now: datetime | None = None,
) -> CheckinResult:
    """Correct a submission: a new version linked to the old one (which stays stored).

    Only the current version can be corrected (`ConflictError` otherwise).
    Alerts raised by the old version stay until a therapist resolves them.
    """
    at = now or utcnow()
    options = _Options(norms, scales, setback_stats)

    def op(uow: UnitOfWork, note: AuditNote) -> CheckinResult:
        old = uow.administrations.get(administration_id)
        if old is None:
            raise not_found("administration")
        access = note.granted(client_access(uow, actor, old.client_id))
        current = {a.id for a in uow.administrations.history(old.client_id, old.instrument_id)}
        if old.id not in current:
            raise ConflictError("this administration has been corrected already")
        checks = Checks("correction")
        instrument = _instrument(old.instrument_id, checks)
        when = checks.instant("completed_at", completed_at or old.completed_at, now=at)
        checks.done()
        assert instrument is not None
        assert when is not None
        score = score_submission(instrument, answers)
        base = _administration(access, instrument, score, answers, when, at, None)
        adm = replace(
            base, episode_id=old.episode_id, version=old.version + 1, supersedes_id=old.id
        )
        note.object_id = adm.id
        return _store_and_analyse(uow, access, instrument, score, adm, at, options)

    return audited(uow_factory, actor, "update", "administration", op, object_id=administration_id)


def checkin_result(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    administration_id: str,
    *,
    instrument_id: str | None = None,
    norms: Mapping[str, NormsModel] | None = None,
    scales: Mapping[str, Scale] | None = None,
    setback_stats: SetbackStatProvider | None = None,
) -> CheckinResult:
    """The `CheckinResult` of a stored administration, as `record_checkin` returned it.

    For the result page after a form post (Post/Redirect/Get): the same
    analysis at the administration's position in its course (`_analyse_at`),
    the same explanations (client text; the therapist text for a therapist of
    the client), crisis flag, risk-not-assessed and delay notice. ``alerts``
    holds the alerts raised by this administration — for a therapist caller
    only; clients never see alerts (methods.md §9 point 3). Nothing is written
    but the audit event (a read). The kernel runs on the course as it is stored
    now: right after the submission that is what `record_checkin` saw; once
    later administrations or context (appointments, stressors) are added, the
    page shows this administration as read in today's course.

    An administration of another client, of a client the caller may not reach,
    one that does not exist, or (with ``instrument_id``) one of another
    instrument: the same `NotFoundError`.
    """
    options = _Options(norms, scales, setback_stats)

    def op(uow: UnitOfWork, note: AuditNote) -> CheckinResult:
        adm = uow.administrations.get(administration_id)
        if adm is None:
            raise not_found("administration")
        try:
            access = note.granted(client_access(uow, actor, adm.client_id))
        except NotFoundError:
            raise not_found("administration") from None
        if instrument_id is not None and adm.instrument_id != instrument_id:
            raise not_found("administration")
        instrument = get_instrument(adm.instrument_id)
        clinic = _clinic(uow, adm.clinic_id)
        risk = _risk_facts(instrument, adm, clinic)
        alerts: tuple[Alert, ...] = ()
        if access.is_therapist:  # clients never see alerts (methods.md §9 point 3)
            mine = uow.alerts.for_client(adm.client_id)
            alerts = tuple(a for a in mine if a.administration_id == adm.id)
        signals: Signals | None = None
        explanations: list[Explanation] = []
        failed = False
        try:
            reading = _analyse_at(uow, access, adm, options, risk)
        except Exception as exc:  # as in record_checkin: the page still shows the score
            failed = True
            log.error(
                "kernel step failed reading administration %s (%s)", adm.id, type(exc).__name__
            )
        else:
            if reading is not None:
                signals, explanations = reading.signals, reading.explanations
        return _result(access, adm, clinic, risk, signals, explanations, alerts, failed=failed)

    return audited(uow_factory, actor, "read", "administration", op, object_id=administration_id)


def _episode(uow: UnitOfWork, client_id: str, episode_id: str | None) -> Episode | None:
    if episode_id is None:
        return _open_episode(uow, client_id)
    episode = uow.episodes.get(episode_id)
    if episode is None or episode.client_id != client_id:
        raise not_found("episode")
    return episode


def _administration(
    access: ClientAccess,
    instrument: Instrument,
    score: Score,
    answers: Mapping[str, object],
    completed_at: datetime,
    received_at: datetime,
    episode: Episode | None,
) -> Administration:
    stored: dict[str, float | None] = {
        iid: (float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None)
        for iid, v in answers.items()
    }
    return Administration(
        id=new_id(),
        clinic_id=access.client.clinic_id,
        client_id=access.client_id,
        episode_id=episode.id if episode is not None else None,
        instrument_id=instrument.id,
        answers={iid: stored.get(iid) for iid in instrument.item_ids},
        total=score.total,
        subscales=dict(score.subscales),
        band=score.band,
        case=score.case,
        risk=score.risk,
        risk_level=score.risk_level,
        risk_not_assessed=score.risk_not_assessed,
        prorated=score.prorated,
        completed_at=completed_at,
        received_at=received_at,
        submitted_by=access.actor.user_id,
    )


def _risk_facts(
    instrument: Instrument, adm: Administration, clinic: Clinic | None
) -> RiskFacts | None:
    rule = instrument.risk
    if rule is None or not (adm.risk or adm.risk_not_assessed):
        return None
    values = [adm.answers.get(i) for i in rule.items]
    answered = [v for v in values if v is not None]
    response = int(max(answered)) if adm.risk and answered else None
    items = [instrument.item(i) for i in rule.items]
    label = ", ".join(f"item {it.number}" for it in items)
    tier = ""
    for t in rule.tiers:
        if t.level == adm.risk_level:
            tier = t.label
    crisis = tuple(
        line.strip() for line in (clinic.crisis_text if clinic else "").splitlines() if line.strip()
    )
    return RiskFacts(
        instrument=instrument.short_name,
        item=label,
        response=response,
        tier_label=tier,
        crisis_resources=crisis,
        delay_notice=_delay_notice(clinic),
    )


def _delay_notice(clinic: Clinic | None) -> str:
    return (clinic.delay_notice.strip() if clinic else "") or DEFAULT_DELAY_NOTICE


def _draft_risk_alert(uow: UnitOfWork, adm: Administration, instrument: Instrument) -> Alert | None:
    """The unresolved risk alert a draft of this questionnaire raised, if any."""
    for alert in uow.alerts.open_for_clients([adm.client_id]):
        params = alert.parameters
        if (
            alert.kind is AlertKind.RISK
            and alert.administration_id is None
            and params.get("draft") is True
            and params.get("instrument") == instrument.id
        ):
            return alert
    return None


def _risk_alerts(instrument: Instrument, adm: Administration, at: datetime) -> list[Alert]:
    """The alerts of a risk item (methods.md §9): one per administration, never deduplicated."""
    rule = instrument.risk
    if rule is None:
        return []
    out = []
    if adm.risk:
        positive = [i for i in rule.items if (adm.answers.get(i) or 0) > rule.above]
        tier = next((t.label for t in rule.tiers if t.level == adm.risk_level), "")
        out.append(
            Alert(
                id=new_id(),
                clinic_id=adm.clinic_id,
                client_id=adm.client_id,
                kind=AlertKind.RISK,
                rule=f"risk item > {rule.above}",
                parameters={"instrument": instrument.id, "items": positive, "tier": tier},
                created_at=at,
                administration_id=adm.id,
                level=adm.risk_level,
            )
        )
    if adm.risk_not_assessed:
        missing = [i for i in rule.items if adm.answers.get(i) is None]
        out.append(
            Alert(
                id=new_id(),
                clinic_id=adm.clinic_id,
                client_id=adm.client_id,
                kind=AlertKind.RISK_NOT_ASSESSED,
                rule="risk item not answered (never prorated)",
                parameters={"instrument": instrument.id, "items": missing},
                created_at=at,
                administration_id=adm.id,
                level=1,
            )
        )
    return out


def _store_and_analyse(
    uow: UnitOfWork,
    access: ClientAccess,
    instrument: Instrument,
    score: Score,
    adm: Administration,
    at: datetime,
    options: _Options,
) -> CheckinResult:
    uow.administrations.add(adm)
    draft = uow.drafts.get(adm.client_id, instrument.id)
    uow.drafts.delete(adm.client_id, instrument.id)  # submitted: the draft is done
    pending = _draft_risk_alert(uow, adm, instrument) if draft and draft.risk_alerted else None
    created = []
    for a in _risk_alerts(instrument, adm, at):
        if pending is not None and a.kind is AlertKind.RISK:
            # the alert raised while the draft was filled in becomes this submission's alert:
            # one alert per administration, and the therapist sees when it was first raised
            merged = replace(
                pending,
                administration_id=adm.id,
                rule=a.rule,
                level=max(a.level, pending.level),
                parameters={**dict(a.parameters), "raised_from_draft": True},
            )
            created.append(uow.alerts.update(merged))
            pending = None
            continue
        created.append(uow.alerts.add(a))
    clinic = _clinic(uow, adm.clinic_id)
    risk = _risk_facts(instrument, adm, clinic)
    signals: Signals | None = None
    explanations: list[Explanation] = []
    failed = False
    try:
        with uow.savepoint():
            signals, explanations, kernel_alerts = _kernel_step(uow, access, adm, at, options, risk)
    except Exception as exc:  # the kernel step must never cost the submission or its risk alert
        failed = True
        log.error(
            "kernel step failed for administration %s (%s); submission and risk alerts kept",
            adm.id,
            type(exc).__name__,
        )
    else:
        created.extend(kernel_alerts)
    return _result(access, adm, clinic, risk, signals, explanations, tuple(created), failed=failed)


def _result(
    access: ClientAccess,
    adm: Administration,
    clinic: Clinic | None,
    risk: RiskFacts | None,
    signals: Signals | None,
    explanations: list[Explanation],
    alerts: tuple[Alert, ...],
    *,
    failed: bool,
) -> CheckinResult:
    """What the caller sees of one administration (shared by recording and reading it)."""
    explanations = list(explanations)
    if risk is not None and not any(e.topic == "risk" for e in explanations):
        e = explain_risk(risk)
        if e is not None:
            explanations.insert(0, e)
    staff = access.is_therapist
    return CheckinResult(
        administration=adm,
        explanations=texts_for(explanations, staff=staff),
        show_crisis_resources=adm.risk,
        crisis_text=(clinic.crisis_text if clinic else "") if adm.risk else None,
        delay_notice=_delay_notice(clinic),
        risk_not_assessed=adm.risk_not_assessed,
        signals=signals,
        alerts=alerts if staff else (),
        analysis_failed=failed,
    )


def _kernel_step(
    uow: UnitOfWork,
    access: ClientAccess,
    adm: Administration,
    at: datetime,
    options: _Options,
    risk: RiskFacts | None,
) -> tuple[Signals | None, list[Explanation], list[Alert]]:
    """Kernel, explanations and signal alerts; explanations carry the risk facts so that no
    normalising phrase is used next to a risk answer (`AdministrationContext.alarming`)."""
    reading = _analyse_at(uow, access, adm, options, risk)
    if reading is None:
        return None, [], []
    result, position, signals = reading.analysis, reading.position, reading.signals
    candidates = _signal_alerts(result, position, signals, adm, at)
    if (
        signals.status in ("plateau_stuck", "plateau_partial")
        and result.instrument.purpose is Purpose.OUTCOME
    ):
        candidates += _groundhog_alert(uow, access, adm, signals, at)
    return signals, reading.explanations, _without_duplicates(uow, candidates)


@dataclass(frozen=True)
class _Reading:
    """The kernel's view of one administration: its course analysis, position and labels."""

    analysis: CourseAnalysis
    position: int
    signals: Signals
    explanations: list[Explanation]


def _analyse_at(
    uow: UnitOfWork,
    access: ClientAccess,
    adm: Administration,
    options: _Options,
    risk: RiskFacts | None,
) -> _Reading | None:
    """The kernel on the administration's course and the explanations at its position
    (None when the kernel does not run). Reads only: `record_checkin` (which then raises the
    signal alerts) and `checkin_result` (the result page) see the same."""
    history = uow.administrations.history(adm.client_id, adm.instrument_id)
    course = course_of(adm.client_id, history, adm.episode_id)
    ids = [a.id for a in course.administrations]
    if adm.id not in ids:
        return None  # corrected since (a later version replaced it): no position of its own
    position = ids.index(adm.id)
    result = analyze_courses(
        adm.instrument_id, [course], scales=options.scales, norms=options.norms
    )
    if result.analysis is None:
        return None
    signals = result.signals(0, position)
    assert signals is not None
    facts = context_facts(uow, access, adm.completed_at, scales=options.scales)
    stat = None
    if options.setback_stats is not None and (
        signals.event in _SETBACK_EVENTS or signals.in_setback
    ):
        stat = options.setback_stats(setback_query(result, 0, position))
    expl = list(explain_at(result, 0, position, facts=facts, setback_stat=stat, risk=risk))
    return _Reading(result, position, signals, expl)


def _alert(
    adm: Administration, kind: AlertKind, rule: str, level: int, at: datetime, **params: object
) -> Alert:
    return Alert(
        id=new_id(),
        clinic_id=adm.clinic_id,
        client_id=adm.client_id,
        kind=kind,
        rule=rule,
        parameters={"instrument": adm.instrument_id, **params},
        created_at=at,
        administration_id=adm.id,
        level=level,
    )


def _signal_alerts(
    result: CourseAnalysis, position: int, s: Signals, adm: Administration, at: datetime
) -> list[Alert]:
    """The alerts the kernel's labels at this administration call for (methods.md §4, §5, §6, §11)."""
    scale = result.scale
    assert scale is not None
    rc = scale.rc.threshold
    out: list[Alert] = []
    if s.alliance in ("rupture", "unrepaired_escalation"):
        escalated = s.alliance == "unrepaired_escalation"
        out.append(
            _alert(
                adm,
                AlertKind.ALLIANCE_RUPTURE,
                f"alliance_{s.alliance}",
                2 if escalated else 1,
                at,
                t=s.t,
            )
        )
    if result.instrument.purpose is not Purpose.OUTCOME:
        return out  # alliance measures speak through their rupture rule only
    if s.status == "deteriorated":
        prev = result.previous_scored(0, position)
        prev_sig = result.signals(0, prev) if prev is not None else None
        confirmed = prev_sig is not None and prev_sig.status == "deteriorated"
        rule = "deterioration_confirmed" if confirmed else "deterioration_first_signal"
        out.append(
            _alert(adm, AlertKind.DETERIORATION, rule, 2 if confirmed else 1, at, t=s.t, rc=rc)
        )
    if s.etr_band in ("red", "red_confirmed"):
        confirmed = s.etr_band == "red_confirmed"
        out.append(
            _alert(
                adm,
                AlertKind.NOT_ON_TRACK,
                f"not_on_track_{s.etr_band}",
                2 if confirmed else 1,
                at,
                t=s.t,
            )
        )
    if s.event in ("sudden_loss", "possible_sudden_loss"):
        out.append(_alert(adm, AlertKind.SUDDEN_LOSS, s.event, 1, at, t=s.t, rc=rc))
    if s.status in ("plateau_stuck", "plateau_partial"):
        out.append(_alert(adm, AlertKind.PLATEAU, s.status, 1, at, t=s.t))
    return out


def _groundhog_alert(
    uow: UnitOfWork, access: ClientAccess, adm: Administration, s: Signals, at: datetime
) -> list[Alert]:
    """Groundhog Day (methods.md §12) for this client, from what the therapist may see."""
    staff_view = ClientAccess(access.actor, access.client, Relation.THERAPIST, access.sharing)
    signs = collect_signs(uow, staff_view, at)
    sig = groundhog_day(
        [s.status],
        engagement_mean=signs.engagement_mean,
        practice_recent=signs.practice_recent,
        practice_before=signs.practice_before,
        missed_in_window=signs.missed_in_window,
        same_focus_run=signs.same_focus_run,
        goal_review_overdue=None
        if signs.goal_review_overdue is None
        else float(signs.goal_review_overdue),
    )
    if not bool(sig.raised[0]):
        return []
    held = list(sig.signs_held(0))
    return [_alert(adm, AlertKind.GROUNDHOG_DAY, "groundhog_day", 1, at, signs=held)]


def _key(a: Alert) -> tuple[str, str, str]:
    return (a.kind.value, a.rule, str(a.parameters.get("instrument", "")))


def _without_duplicates(uow: UnitOfWork, candidates: list[Alert]) -> list[Alert]:
    """Add the candidates that have no unresolved twin (same client, kind, rule, instrument)."""
    if not candidates:
        return []
    client_id = candidates[0].client_id
    taken = {_key(a) for a in uow.alerts.open_for_clients([client_id])}
    out = []
    for a in candidates:
        if _key(a) in taken:
            continue
        taken.add(_key(a))
        out.append(uow.alerts.add(a))
    return out


def checkins_due(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    *,
    now: datetime | None = None,
) -> tuple[CheckinDue, ...]:
    """The clinic's questionnaires and when each is next due for this client."""
    at = now or utcnow()

    def op(uow: UnitOfWork, note: AuditNote) -> tuple[CheckinDue, ...]:
        access = note.granted(client_access(uow, actor, client_id))
        clinic = _clinic(uow, access.client.clinic_id)
        if clinic is None:
            return ()
        every = timedelta(days=clinic.checkin_every_days)
        histories: dict[str, list[Administration]] = {}
        for a in uow.administrations.for_clients([client_id]):  # one query for every instrument
            histories.setdefault(a.instrument_id, []).append(a)
        out = []
        for iid in clinic.instruments:
            try:
                instrument = get_instrument(iid)
            except UnknownInstrumentError:
                log.error("clinic %s lists an instrument not in the catalogue", clinic.id)
                continue
            course = current_course(client_id, histories.get(iid, []))
            last = course.administrations[-1].completed_at if course.administrations else None
            due = (last + every) if last is not None else at
            out.append(CheckinDue(iid, instrument.short_name, last, due, due <= at))
        return tuple(out)

    return audited(uow_factory, actor, "read", "checkin_schedule", op, client_id=client_id)
