"""Plain-language explanations of every signal, for clients and for therapists (methods.md §12).

Each signal of one administration — the ``status``, ``event``, ``etr_band``
and setback labels of methods.md §11, plateaus and early response (§5), sudden
gains and losses (§3), alliance ruptures (§6.4), goal attainment (§7), risk
items (§9) and missed administrations — gets an `Explanation` with two texts:

* **client**: plain language in the second person, Flesch–Kincaid grade 8 or
  below, no jargon ("reliable change" is "a change bigger than everyday ups
  and downs"). Ups and downs and setbacks are put in context with a
  normalising tone, but that tone is never used when the client has reliably
  deteriorated, had a sudden loss or answered a risk item (`AdministrationContext.alarming`):
  see `NORMALISING_PHRASES`. The numbers behind the statement are kept apart
  in ``client_details`` (shown on demand), in the instrument's native
  direction ("went up" is better on the ORS, worse on the PHQ-9). Risk texts
  never give a risk rating; they point to the crisis contacts the deployment
  supplies.
* **therapist**: names the rule, the threshold and its source, e.g. "PHQ-9 +7
  from best (RC 6, NHS Talking Therapies) — setback, not deterioration: still
  5 below intake", and marks twostep's own rules as "twostep rule".

Context from the preceding 14 days (stressors of severity >= 3, a fall of >= 2
in the restorative rating of self-care, an alliance rupture, missed sessions)
is shown after a setback, deterioration or sudden loss as "what else was going
on", never as a cause. The service's own setback statistic (share of
comparable episodes that had a setback and still ended with reliable
improvement, 95 % Wilson interval) is shown only with at least 30 episodes;
otherwise a general statement is used.

The module also holds the therapist's support suggestions (an open analogue of
clinical support tools) and the Groundhog Day signal (§12), both computed from
plain numbers.

All of §12 is a set of twostep rules ([PROPOSED]), as are the status, event,
setback, plateau, early-response, ETR and rupture rules it explains.

References
----------
Kincaid, J. P., Fishburne, R. P., Rogers, R. L., & Chissom, B. S. (1975).
Derivation of new readability formulas for Navy enlisted personnel (the
Flesch–Kincaid grade: ``0.39 words/sentence + 11.8 syllables/word - 15.59``).
Jacobson, N. S., & Truax, P. (1991). JCCP 59(1), 12–19 (reliable change).
Tang, T. Z., & DeRubeis, R. J. (1999). JCCP 67(6), 894–904 (sudden gains).
Whipple, J. L., et al. (2003). Journal of Counseling Psychology 50, 59–68
(feedback with clinical support tools).
Wilson, E. B. (1927). JASA 22, 209–212 (the interval of the setback statistic).
Simon, G. E., et al. (2013). Psychiatric Services 64, 1195–1202; NICE NG225
(2022): a risk item prompts a clinical assessment; it does not rate risk.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from twostep.analytics.alliance import (
    ALLIANCE_LABELS,
    AllianceCode,
    AllianceParams,
    AllianceReason,
    AllianceSignals,
)
from twostep.analytics.etr import ETR_BAND_LABELS
from twostep.analytics.intervals import wilson_interval
from twostep.analytics.trajectory import (
    EARLY_RESPONSE_LABELS,
    EVENT_LABELS,
    PLATEAU_LABELS,
    STATUS_LABELS,
    Confirmation,
    EarlyResponse,
    Event,
    Plateau,
    Status,
)
from twostep.errors import AnalysisError
from twostep.instruments.model import Comparison

__all__ = [
    "CONTEXT_DAYS",
    "DEFAULT_DELAY_NOTICE",
    "ETR_BAND_LABELS",
    "GROUNDHOG_SIGNS",
    "NORMALISING_PHRASES",
    "RESTORATIVE_DROP_MIN",
    "SETBACK_STAT_MIN_N",
    "STRESSOR_MIN_SEVERITY",
    "SUPPORT_AREAS",
    "AdministrationContext",
    "AllianceFacts",
    "Explanation",
    "GasFacts",
    "GroundhogParams",
    "GroundhogSignal",
    "Level",
    "RiskFacts",
    "SetbackStatistic",
    "Suggestion",
    "SupportInputs",
    "SupportParams",
    "explain_administration",
    "explain_alliance",
    "explain_client_summary",
    "explain_context",
    "explain_early_response",
    "explain_etr_band",
    "explain_event",
    "explain_gas",
    "explain_plateau",
    "explain_risk",
    "explain_setback",
    "explain_status",
    "groundhog_day",
    "longest_focus_run",
    "support_suggestions",
]

#: Days of context looked at before a setback, deterioration or sudden loss (§12).
CONTEXT_DAYS = 14
#: Stressors of at least this severity are named as context (§12).
STRESSOR_MIN_SEVERITY = 3
#: A fall of at least this much in the mean restorative rating is named as context (§12).
RESTORATIVE_DROP_MIN = 2.0
#: The service's setback statistic is shown only with at least this many episodes (§12).
SETBACK_STAT_MIN_N = 30
#: Phrases that normalise; never in a client text when `AdministrationContext.alarming`.
NORMALISING_PHRASES: tuple[str, ...] = (
    "normal",
    "common",
    "expected",
    "nothing to worry",
    "do not worry",
    "don't worry",
    "part of getting better",
    "many people",
    "this can happen",
    "happens in",
)

_TWOSTEP = "twostep rule"
_RULE_11 = f"{_TWOSTEP} (methods.md §11)"
_JT = "reliable change as in Jacobson & Truax (1991)"


class Level(IntEnum):
    """How an explanation should be shown (higher = more attention)."""

    POSITIVE = 0  # good news
    INFO = 1  # neutral information
    REASSURE = 2  # ups and downs: a normalising tone is right
    WATCH = 3  # worth a look
    CONCERN = 4  # deterioration, not on track, rupture without repair
    URGENT = 5  # a risk item


@dataclass(frozen=True)
class Explanation:
    """One signal explained twice: for the client and for the therapist.

    Attributes
    ----------
    topic
        The signal family: ``status``, ``event``, ``setback``, ``etr_band``,
        ``plateau``, ``early_response``, ``context``, ``alliance``, ``gas``,
        ``risk`` or ``summary``.
    label
        The value within the family (the §11 label, e.g. ``setback_transient``).
    client
        Plain-language text for the client (no numbers needed to follow it).
    client_details
        The numbers behind ``client``, shown on demand.
    therapist
        Rule, threshold and source in one line.
    rule
        The rule that fired, as a formula.
    source
        Where the rule and its threshold come from.
    level
        `Level` (tone and severity).
    twostep_rule
        True when the rule is twostep's own ([PROPOSED]), not a published one.
    """

    topic: str
    label: str
    client: str
    client_details: str
    therapist: str
    rule: str
    source: str
    level: Level
    twostep_rule: bool


# ----------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class SetbackStatistic:
    """The service's setback context (§12): of ``n`` comparable past episodes
    (same instrument, intake severity band, ``t`` in 2–4 / 5–8 / 9+) that had a
    setback, ``successes`` still ended with reliable improvement."""

    successes: int
    n: int
    group: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.successes <= self.n:
            raise AnalysisError("need 0 <= successes <= n for the setback statistic")

    @property
    def shown(self) -> bool:
        """Whether there are enough episodes to show the statistic (n >= 30)."""
        return self.n >= SETBACK_STAT_MIN_N

    @property
    def interval(self) -> tuple[float, float, float]:
        """``(share, lower, upper)``, 95 % Wilson interval (NaN when n = 0)."""
        w = wilson_interval(self.successes, self.n)
        return float(w.proportion), float(w.lower), float(w.upper)


@dataclass(frozen=True)
class AllianceFacts:
    """One alliance administration as `twostep.analytics.alliance` labelled it.

    Build it with `AllianceFacts.from_signals` to keep every number traceable.
    Scores are native (higher = better).
    """

    code: AllianceCode | int | str
    params: AllianceParams = field(default_factory=AllianceParams.srs)
    rater: str = "client"
    score: float | None = None
    previous_score: float | None = None
    baseline: float | None = None
    sd_w: float | None = None
    threshold: float | None = None
    reason: int = 0

    def __post_init__(self) -> None:
        _coerce(self.code, AllianceCode, ALLIANCE_LABELS)

    @property
    def code_value(self) -> AllianceCode:
        return _coerce(self.code, AllianceCode, ALLIANCE_LABELS)

    @classmethod
    def from_signals(
        cls,
        signals: AllianceSignals,
        score: npt.ArrayLike,
        row: int,
        *,
        rater: str = "client",
    ) -> AllianceFacts:
        """The facts of ``row`` from `alliance_ruptures`'s result and its ``score`` input."""
        a = np.asarray(score, dtype=np.float64)
        off = signals.offsets
        if not 0 <= row < a.shape[0]:
            raise AnalysisError(f"row {row} is outside the batch")
        start = int(off[np.searchsorted(off, row, side="right") - 1])
        previous = None
        for q in range(row - 1, start - 1, -1):
            if not math.isnan(a[q]):
                previous = float(a[q])
                break
        return cls(
            code=AllianceCode(int(signals.code[row])),
            params=signals.params,
            rater=rater,
            score=_opt(a[row]),
            previous_score=previous,
            baseline=_opt(signals.baseline[row]),
            sd_w=_opt(signals.sd_w[row]),
            threshold=_opt(signals.threshold[row]),
            reason=int(signals.reason[row]),
        )


@dataclass(frozen=True)
class GasFacts:
    """A goal review: the Goal Attainment Scaling T-score now and at the last review (§7)."""

    t_current: float
    t_previous: float | None = None
    n_goals: int = 0
    threshold: float = 10.0
    rho: float = 0.3


#: Shown with a risk message when answers may not be read at once (§9 point 6).
DEFAULT_DELAY_NOTICE = "Your therapist may not see your answers right away."


@dataclass(frozen=True)
class RiskFacts:
    """A risk item (e.g. PHQ-9 item 9) at one administration (§9).

    ``response`` is the item's answer (``None`` = not answered: "risk not
    assessed"); ``tier_label`` is the follow-up tier from the catalogue (for the
    therapist only); ``crisis_resources`` are the deployment's crisis contacts,
    one per entry; ``delay_notice`` says that answers may not be seen at once.
    """

    instrument: str
    item: str
    response: int | None
    tier_label: str = ""
    crisis_resources: tuple[str, ...] = ()
    delay_notice: str | None = DEFAULT_DELAY_NOTICE

    @property
    def positive(self) -> bool:
        return self.response is not None and self.response > 0


@dataclass(frozen=True)
class AdministrationContext:
    """The facts of one scored (or missed) administration.

    Scores are in the instrument's **native** direction. Labels may be given
    as enum members, integer codes or §11 label strings.

    Attributes
    ----------
    instrument, higher_is_better
        Short name ("PHQ-9", "ORS") and direction.
    score
        The score; None or NaN = missed administration.
    intake_score, previous_score, best_before
        First score, the previous scored administration, and the best score
        before this one (native: the lowest on the PHQ-9, the highest on the ORS).
    rc, rc_source, rc_strict
        Reliable-change threshold in points, its source, and whether change
        must exceed it (computed J&T) rather than reach it (published).
    cutoff, cutoff_source, cutoff_case_when
        Clinical cut-off; ``score <case_when> cutoff`` is the clinical range
        (default ``>=`` when higher is worse, ``<`` when higher is better).
    session
        Administration index ``t`` (intake = 1).
    status, confirmation, event, etr_band, etr_source, plateau, early_response
        The §11 labels (``early_response`` only at the administration where it
        is assessed); ``plateau_window`` is the ``k`` of the plateau rule.
    in_setback, provisional
        The row lies inside a setback episode; its labels may still change.
    stressors, restorative_drop, alliance_rupture, missed_sessions
        Context of the preceding 14 days: ``(category, severity)`` pairs, the
        fall in the restorative self-care rating against the previous four
        weeks, whether the alliance had a rupture, the number of missed sessions.
    setback_stat
        The service's setback statistic for comparable episodes.
    alliance, gas, risk
        Alliance, goal-review and risk-item facts of the same administration.
    """

    instrument: str
    higher_is_better: bool
    score: float | None
    intake_score: float | None = None
    previous_score: float | None = None
    best_before: float | None = None
    rc: float | None = None
    rc_source: str = ""
    rc_strict: bool = False
    cutoff: float | None = None
    cutoff_source: str = ""
    cutoff_case_when: Comparison | None = None
    session: int | None = None
    status: Status | int | str = Status.NONE
    confirmation: Confirmation | int | str = Confirmation.NOT_APPLICABLE
    event: Event | int | str = Event.NONE
    etr_band: str = "none"
    etr_source: str = "twostep expected-response norms (methods.md §4.2)"
    plateau: Plateau | int | str = Plateau.NONE
    plateau_window: int = 4
    early_response: EarlyResponse | int | str | None = None
    in_setback: bool = False
    provisional: bool = False
    stressors: tuple[tuple[str, int], ...] = ()
    restorative_drop: float | None = None
    alliance_rupture: bool = False
    missed_sessions: int = 0
    setback_stat: SetbackStatistic | None = None
    alliance: AllianceFacts | None = None
    gas: GasFacts | None = None
    risk: RiskFacts | None = None

    def __post_init__(self) -> None:
        # validate every label once, so that a typo fails where it is made
        _ = (self.status_code, self.event_code, self.plateau_code, self.early_code)
        _ = self.confirmation_code
        if self.etr_band not in ETR_BAND_LABELS:
            raise AnalysisError(f"unknown etr_band {self.etr_band!r} (known: {ETR_BAND_LABELS})")

    @property
    def status_code(self) -> Status:
        return _coerce(self.status, Status, STATUS_LABELS)

    @property
    def confirmation_code(self) -> Confirmation:
        return _coerce(self.confirmation, Confirmation, _CONFIRMATION_LABELS)

    @property
    def event_code(self) -> Event:
        if self.missed:
            return Event.MISSED
        return _coerce(self.event, Event, EVENT_LABELS)

    @property
    def plateau_code(self) -> Plateau:
        return _coerce(self.plateau, Plateau, PLATEAU_LABELS)

    @property
    def early_code(self) -> EarlyResponse | None:
        if self.early_response is None:
            return None
        return _coerce(self.early_response, EarlyResponse, EARLY_RESPONSE_LABELS)

    @property
    def missed(self) -> bool:
        return self.score is None or math.isnan(self.score)

    @property
    def case_when(self) -> Comparison:
        if self.cutoff_case_when is not None:
            return Comparison(self.cutoff_case_when)
        return Comparison.LT if self.higher_is_better else Comparison.GE

    @property
    def alarming(self) -> bool:
        """Reliable deterioration, a (possible) sudden loss or a positive risk item.

        Client texts use no normalising phrase then (`NORMALISING_PHRASES`).
        """
        return (
            self.status_code is Status.DETERIORATED
            or self.event_code in (Event.SUDDEN_LOSS, Event.POSSIBLE_SUDDEN_LOSS)
            or (self.risk is not None and self.risk.positive)
        )


# ---------------------------------------------------------------------------- helpers

_E = TypeVar("_E", bound=IntEnum)
_CONFIRMATION_LABELS = ("not_applicable", "confirmed", "not_confirmed", "pending")


def _coerce(value: object, enum_cls: type[_E], labels: tuple[str, ...]) -> _E:
    """An enum member from a member, an integer code, a §11 label or a member name."""
    if isinstance(value, enum_cls):
        return value
    if isinstance(value, str):
        key = value.strip().lower()
        if key in labels:
            return enum_cls(labels.index(key))
        if key == "none" and "" in labels:
            return enum_cls(labels.index(""))
        for member in enum_cls:
            if member.name.lower() == key:
                return member
        raise AnalysisError(f"unknown {enum_cls.__name__} label {value!r}")
    if isinstance(value, int | np.integer):
        try:
            return enum_cls(int(value))
        except ValueError:
            raise AnalysisError(f"unknown {enum_cls.__name__} code {value!r}") from None
    raise AnalysisError(f"cannot read {enum_cls.__name__} from {value!r}")


def _label(labels: tuple[str, ...], code: int) -> str:
    return labels[code] or "none"


def _opt(x: float | np.floating | None) -> float | None:
    if x is None or math.isnan(float(x)):
        return None
    return float(x)


def _num(x: float) -> str:
    """A number as people write it: 7, 36.5, 0.25 (no trailing zeros)."""
    if abs(x - round(x)) < 1e-9:
        return str(round(x))
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _signed(x: float) -> str:
    return ("+" if x > 0 else "-" if x < 0 else "±") + _num(abs(x))


def _pct(x: float) -> str:
    return f"{round(100 * x)}%"


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def _better(ctx: AdministrationContext, new: float, old: float) -> float:
    """Improvement from ``old`` to ``new`` in points (positive = better), either direction."""
    return new - old if ctx.higher_is_better else old - new


def _is_case(ctx: AdministrationContext, value: float | None) -> bool:
    if value is None or ctx.cutoff is None:
        return False
    return ctx.case_when.holds(value, ctx.cutoff)


_CUT_PHRASE = {
    Comparison.GE: "of {c} or more",
    Comparison.GT: "above {c}",
    Comparison.LE: "of {c} or less",
    Comparison.LT: "below {c}",
}


def _rc_text(ctx: AdministrationContext) -> str:
    if ctx.rc is None:
        return "RC not available"
    src = f", {ctx.rc_source}" if ctx.rc_source else ""
    return f"RC {_num(ctx.rc)}{src}"


def _rc_rule(ctx: AdministrationContext) -> str:
    return ">" if ctx.rc_strict else ">="


def _cut_text(ctx: AdministrationContext) -> str:
    if ctx.cutoff is None:
        return "no clinical cut-off"
    src = f", {ctx.cutoff_source}" if ctx.cutoff_source else ""
    return f"cut-off {ctx.case_when.value} {_num(ctx.cutoff)}{src}"


def _score_details(ctx: AdministrationContext, *, best: bool = False) -> str:
    """The numbers behind a score explanation, in the native direction."""
    name = ctx.instrument
    if ctx.missed:
        out = [f"No {name} score for this session."]
    else:
        assert ctx.score is not None
        out = [f"Your {name} score today: {_num(ctx.score)}."]
        if ctx.previous_score is not None:
            out.append(_move("Since last time", ctx.previous_score, ctx.score))
        if ctx.intake_score is not None:
            out.append(_move("Since you started", ctx.intake_score, ctx.score))
        if best and ctx.best_before is not None:
            out.append(f"Your best score before today was {_num(ctx.best_before)}.")
    if ctx.higher_is_better:
        out.append(f"On the {name}, a higher score means you are doing better.")
    else:
        out.append(f"On the {name}, a lower score means you are doing better.")
    if ctx.rc is not None:
        more = "more than" if ctx.rc_strict else "at least"
        out.append(
            f"A change of {more} {_num(ctx.rc)} points is bigger than everyday ups and downs."
        )
    if ctx.cutoff is not None:
        phrase = _CUT_PHRASE[ctx.case_when].format(c=_num(ctx.cutoff))
        out.append(f"Scores {phrase} are in the range where people often need help.")
    return " ".join(out)


def _move(lead: str, old: float, new: float) -> str:
    if new > old:
        return f"{lead}, your score went up from {_num(old)} to {_num(new)}."
    if new < old:
        return f"{lead}, your score went down from {_num(old)} to {_num(new)}."
    return f"{lead}, your score stayed at {_num(new)}."


def _vs(ctx: AdministrationContext, ref: float | None, what: str) -> str:
    """``PHQ-9 17 (+7 from best 10)`` style fragment for therapists."""
    if ctx.score is None or ref is None:
        return f"{what} not known"
    return f"{_signed(ctx.score - ref)} from {what} {_num(ref)}"


def _head(ctx: AdministrationContext) -> str:
    t = f" at t={ctx.session}" if ctx.session is not None else ""
    score = "missed" if ctx.missed or ctx.score is None else _num(ctx.score)
    return f"{ctx.instrument} {score}{t}"


def _intake_position(ctx: AdministrationContext) -> str:
    """``still 5 below intake`` (therapist wording, native direction)."""
    if ctx.score is None or ctx.intake_score is None:
        return "intake not known"
    diff = ctx.score - ctx.intake_score
    better = _better(ctx, ctx.score, ctx.intake_score)
    side = "above" if diff > 0 else "below"
    if diff == 0:
        return "level with intake"
    if better > 0:
        return f"still {_num(abs(diff))} {side} intake"
    return f"{_num(abs(diff))} {side} intake, less than RC"


def _make(
    topic: str,
    label: str,
    client: str,
    details: str,
    therapist: str,
    rule: str,
    source: str,
    level: Level,
    *,
    twostep: bool = True,
) -> Explanation:
    if twostep and _TWOSTEP not in therapist:
        therapist = f"{therapist} [{_TWOSTEP}]"
    return Explanation(topic, label, client, details, therapist, rule, source, level, twostep)


# ----------------------------------------------------------------------------- status

_STATUS_CLIENT: dict[Status, str] = {
    Status.NONE: "There is no new score this time, so there is nothing new to compare.",
    Status.BASELINE: (
        "This is your first check-in. It gives us a starting point. "
        "We will compare your later scores with this one."
    ),
    Status.DETERIORATED: (
        "Your score is now worse than when you started. "
        "The change is bigger than everyday ups and downs, so it is worth taking seriously. "
        "Please talk about it with your therapist at your next session, or sooner if you need to."
    ),
    Status.PLATEAU_STUCK: (
        "Your scores have stayed about the same for a while, and things still seem hard."
    ),
    Status.PLATEAU_PARTIAL: (
        "You have made real progress since you started. "
        "For the last few check-ins, your scores have stayed about the same. "
        "There may still be room to feel better. Your therapist can help you plan the next steps."
    ),
    Status.RECOVERED: (
        "Your score has improved by more than everyday ups and downs since you started. "
        "It is now out of the range where people often need help. "
        "Well done for the work you have put in."
    ),
    Status.IMPROVED: (
        "Your score is better than when you started, by more than everyday ups and downs. "
        "That is real progress."
    ),
    Status.UNCHANGED: (
        "Your score is about the same as when you started. "
        "So far, the change is within everyday ups and downs."
    ),
}

_STATUS_LEVEL: dict[Status, Level] = {
    Status.NONE: Level.INFO,
    Status.BASELINE: Level.INFO,
    Status.DETERIORATED: Level.CONCERN,
    Status.PLATEAU_STUCK: Level.WATCH,
    Status.PLATEAU_PARTIAL: Level.WATCH,
    Status.RECOVERED: Level.POSITIVE,
    Status.IMPROVED: Level.POSITIVE,
    Status.UNCHANGED: Level.INFO,
}

_CONFIRM_CLIENT: dict[Confirmation, str] = {
    Confirmation.NOT_APPLICABLE: "",
    Confirmation.CONFIRMED: "It has been this way at two check-ins in a row.",
    Confirmation.PENDING: "Your next check-in will show if it stays this way.",
    Confirmation.NOT_CONFIRMED: (
        "At your next check-in, it was no longer this far from where you started."
    ),
}

_CONFIRM_THERAPIST: dict[Confirmation, str] = {
    Confirmation.NOT_APPLICABLE: "",
    Confirmation.CONFIRMED: "confirmed at the next administration",
    Confirmation.PENDING: "confirmation pending (next administration not yet scored)",
    Confirmation.NOT_CONFIRMED: "not confirmed at the next administration",
}


def _plateau_rule(ctx: AdministrationContext) -> str:
    return (
        f"last {ctx.plateau_window} scored administrations (t >= 6, >= 21 days): "
        f"range < RC, OLS slope 90% CI includes 0 and |slope|*(k-1) < RC/3"
    )


def explain_status(ctx: AdministrationContext) -> Explanation:
    """Explain the §11 ``status`` of the administration (where the client stands vs intake)."""
    st = ctx.status_code
    label = _label(STATUS_LABELS, st)
    client = _STATUS_CLIENT[st]
    rc = _rc_text(ctx)
    op = _rc_rule(ctx)
    source = f"{_RULE_11}; {rc}"
    intake = _vs(ctx, ctx.intake_score, "intake")
    if st is Status.DETERIORATED:
        conf = ctx.confirmation_code
        client = _join(client, _CONFIRM_CLIENT[conf])
        extra = f"; {_CONFIRM_THERAPIST[conf]}" if conf is not Confirmation.NOT_APPLICABLE else ""
        therapist = f"{_head(ctx)} ({intake}; {rc}): reliable deterioration vs intake{extra}"
        rule = f"worsening vs intake {op} RC"
        source = f"{_RULE_11}; {_JT}; {rc}"
    elif st in (Status.PLATEAU_STUCK, Status.PLATEAU_PARTIAL):
        if st is Status.PLATEAU_STUCK and not ctx.alarming:
            client = _join(
                client,
                "This can happen in therapy. It may be a good time to look at your plan "
                "with your therapist and try a new angle.",
            )
        elif st is Status.PLATEAU_STUCK:
            client = _join(client, "Please look at your plan with your therapist.")
        kind = "without" if st is Status.PLATEAU_STUCK else "with"
        therapist = (
            f"{_head(ctx)} ({intake}; {rc}; {_cut_text(ctx)}): plateau {kind} reliable "
            f"improvement vs intake — review formulation and plan ('Groundhog Day'); "
            f"{_TWOSTEP} (methods.md §5.2)"
        )
        rule = _plateau_rule(ctx) + "; mean of the window in the clinical range"
        source = f"{_TWOSTEP} (methods.md §5.2, §11); {rc}; {_cut_text(ctx)}"
    elif st is Status.RECOVERED:
        therapist = (
            f"{_head(ctx)} ({intake}; {rc}; {_cut_text(ctx)}): reliable improvement and "
            f"out of the clinical range (a case at intake) — recovered"
        )
        rule = f"improvement vs intake {op} RC, case at intake, not a case now"
        source = f"{_RULE_11}; {_JT}; {rc}; {_cut_text(ctx)}"
    elif st is Status.IMPROVED:
        if _is_case(ctx, ctx.score):
            client = _join(client, "There may be more ground to gain.")
        therapist = f"{_head(ctx)} ({intake}; {rc}): reliable improvement vs intake"
        rule = f"improvement vs intake {op} RC"
    elif st is Status.UNCHANGED:
        if not ctx.alarming:
            client = _join(
                client, "Change often takes time, and it does not always come in a straight line."
            )
        therapist = f"{_head(ctx)} ({intake}; {rc}): no reliable change vs intake"
        rule = f"|change vs intake| below RC ({op} RC would be reliable)"
    elif st is Status.BASELINE:
        therapist = f"{_head(ctx)}: intake score, the reference for later change ({rc})"
        rule = "first scored administration of the episode"
    else:
        therapist = f"{_head(ctx)}: no status (no score at this administration; {rc})"
        rule = "missed administration or before the first score"
    return _make(
        "status", label, client, _score_details(ctx), therapist, rule, source, _STATUS_LEVEL[st]
    )


# ------------------------------------------------------------------------------ event

_EVENT_LEVEL: dict[Event, Level] = {
    Event.NONE: Level.INFO,
    Event.BASELINE: Level.INFO,
    Event.SUDDEN_LOSS: Level.CONCERN,
    Event.POSSIBLE_SUDDEN_LOSS: Level.WATCH,
    Event.SUDDEN_GAIN: Level.POSITIVE,
    Event.POSSIBLE_SUDDEN_GAIN: Level.POSITIVE,
    Event.SETBACK: Level.WATCH,
    Event.SETBACK_TRANSIENT: Level.REASSURE,
    Event.SETBACK_SUSTAINED: Level.WATCH,
    Event.FLUCTUATION: Level.REASSURE,
    Event.STEP_BETTER: Level.POSITIVE,
    Event.STEP_WORSE: Level.WATCH,
    Event.MISSED: Level.INFO,
}

_SG_SOURCE = (
    "Tang & DeRubeis (1999) criteria, mirrored for losses by Lutz et al. (2013); "
    "criterion 1 = the instrument's RC (twostep default, methods.md §3.1)"
)
_SG_RULE = (
    "step >= RC; step >= 25% of the pre-step score; mean of up to 3 scores before vs "
    "after differs by more than t_crit x pooled SD"
)
_SETBACK_EVENTS = (Event.SETBACK, Event.SETBACK_TRANSIENT, Event.SETBACK_SUSTAINED)
_SETBACK_RULE = (
    "worse than best-before by RC or more, not reliable deterioration vs intake; "
    "transient if within the next 2 administrations the score regains best + RC/2"
)


def _setback_statement(ctx: AdministrationContext) -> tuple[str, str, str]:
    """(client sentence, client details, therapist note) on how often setbacks end well."""
    stat = ctx.setback_stat
    general = "Setbacks are common in therapy. They do not mean that therapy is failing."
    if stat is None:
        return general, "", "no service setback statistic supplied; general statement shown"
    if not stat.shown:
        return (
            general,
            "",
            f"service setback statistic withheld (n = {stat.n} < {SETBACK_STAT_MIN_N} "
            f"comparable episodes); general statement shown",
        )
    share, lo, hi = stat.interval
    group = f"; {stat.group}" if stat.group else ""
    client = (
        f"In this service, {round(100 * share)} in every 100 people who had a setback at a "
        f"similar stage still ended therapy clearly better."
    )
    details = (
        f"This is based on {stat.n} people. "
        f"The true figure is likely between {_pct(lo)} and {_pct(hi)}."
    )
    therapist = (
        f"service setback context: {_pct(share)} (95% Wilson CI {_pct(lo)}-{_pct(hi)}; "
        f"n = {stat.n} comparable episodes{group}) ended with reliable improvement "
        f"({_TWOSTEP}, methods.md §12)"
    )
    return client, details, therapist


def _intake_clause(ctx: AdministrationContext) -> str:
    if ctx.score is None or ctx.intake_score is None:
        return ""
    gain = _better(ctx, ctx.score, ctx.intake_score)
    if gain > 0:
        return "You are still better off than when you started."
    if gain == 0:
        return "You are still no worse off than when you started."
    return "It is still within everyday ups and downs of where you started."


def explain_event(ctx: AdministrationContext) -> Explanation:
    """Explain the §11 ``event`` of the administration (what the latest step was)."""
    ev = ctx.event_code
    label = _label(EVENT_LABELS, ev)
    rc = _rc_text(ctx)
    op = _rc_rule(ctx)
    details = _score_details(ctx, best=ev in _SETBACK_EVENTS)
    source = f"{_RULE_11}; {rc}"
    level = _EVENT_LEVEL[ev]
    step = _vs(ctx, ctx.previous_score, "previous")
    twostep = True
    if ev is Event.SUDDEN_LOSS or ev is Event.POSSIBLE_SUDDEN_LOSS:
        if ev is Event.SUDDEN_LOSS:
            client = (
                "Your score got a lot worse in one step since last time, and it has stayed "
                "that way. This is more than everyday ups and downs. "
                "Please talk with your therapist about it soon."
            )
            what = "sudden loss"
        else:
            client = (
                "Your score got a lot worse in one step since last time. "
                "Your next few check-ins will show if this lasts. "
                "Please tell your therapist how things have been."
            )
            what = "possible sudden loss (criterion 3 needs the next 3 administrations)"
        therapist = f"{_head(ctx)} ({step}; {rc}): {what}"
        rule, source, twostep = _SG_RULE, f"{_SG_SOURCE}; {rc}", False
    elif ev is Event.SUDDEN_GAIN or ev is Event.POSSIBLE_SUDDEN_GAIN:
        if ev is Event.SUDDEN_GAIN:
            client = "Your score got a lot better in one step, and it has stayed better."
            if not ctx.alarming:
                client = _join(
                    client,
                    "Jumps like this often come before good results. "
                    "It can help to talk about what changed.",
                )
            what = "sudden gain"
        else:
            client = (
                "Your score got a lot better in one step since last time. "
                "Your next few check-ins will show if it holds."
            )
            what = "possible sudden gain (criterion 3 needs the next 3 administrations)"
        therapist = f"{_head(ctx)} ({step}; {rc}): {what}"
        rule, source, twostep = _SG_RULE, f"{_SG_SOURCE}; {rc}", False
    elif ev in _SETBACK_EVENTS:
        stat_client, stat_details, stat_note = _setback_statement(ctx)
        best = _vs(ctx, ctx.best_before, "best")
        position = _intake_position(ctx)
        if ev is Event.SETBACK:
            client = _join(
                "Your score has slipped back from your best so far, by more than everyday ups "
                "and downs.",
                _intake_clause(ctx),
                "" if ctx.alarming else stat_client,
                "Your next two check-ins will show if this is a short dip.",
            )
            what = "setback, not deterioration (resolution pending)"
        elif ev is Event.SETBACK_TRANSIENT:
            client = "Your score slipped back from your best for a short time and then came back."
            if not ctx.alarming:
                client = _join(client, "Short dips like this are a normal part of getting better.")
            what = "transient setback (ground regained within 2 administrations)"
        else:
            client = _join(
                "Your score slipped back from your best and has not come back over the next "
                "two check-ins. This is a setback.",
                "" if ctx.alarming else "It does not mean that therapy has failed.",
                "It is worth looking at what has made things harder with your therapist.",
                "" if ctx.alarming else stat_client,
            )
            what = "sustained setback (not regained within 2 administrations)"
        if ev is not Event.SETBACK_TRANSIENT and not ctx.alarming:
            details = _join(details, stat_details)
        therapist = f"{_head(ctx)} ({best}; {rc}) — {what}: {position}; {stat_note}"
        rule = f"{_SETBACK_RULE} (reliable: {op} RC)"
        source = f"{_TWOSTEP} (methods.md §5.3, §11, §12); {rc}"
    elif ev is Event.FLUCTUATION:
        client = "Your score changed only a little since last time."
        if not ctx.alarming:
            client = _join(client, "Small ups and downs like this are normal from week to week.")
        therapist = f"{_head(ctx)} ({step}; {rc}): normal fluctuation, step within RC"
        rule = f"|step from previous| below RC ({op} RC would be reliable)"
        source = f"{_TWOSTEP} (methods.md §5.3, §11); {rc}"
    elif ev is Event.STEP_BETTER:
        client = "Your score got better since last time, by more than everyday ups and downs."
        therapist = f"{_head(ctx)} ({step}; {rc}): reliable step better from the previous score"
        rule = f"improvement from previous {op} RC, not a sudden gain or setback"
    elif ev is Event.STEP_WORSE:
        client = (
            "Your score got worse since last time, by more than everyday ups and downs. "
            "It may help to talk about how the past week went."
        )
        therapist = f"{_head(ctx)} ({step}; {rc}): reliable step worse from the previous score"
        rule = f"worsening from previous {op} RC, not a sudden loss or setback onset"
    elif ev is Event.MISSED:
        client = (
            "There is no check-in for this session. That is okay. "
            "Filling it in next time helps you and your therapist see how things are going."
        )
        if ctx.missed_sessions >= 2:
            client = _join(
                client,
                f"You have missed {ctx.missed_sessions} sessions lately. "
                "If something makes it hard to come, tell your therapist.",
            )
        therapist = (
            f"{_head(ctx)}: missed administration (no score); skipped when counting "
            f"'the next' administrations; missed sessions in {CONTEXT_DAYS} days: "
            f"{ctx.missed_sessions}; {rc}"
        )
        rule = "no score at this session"
    elif ev is Event.BASELINE:
        client = "This first score is your starting point."
        therapist = f"{_head(ctx)}: intake (first scored administration; {rc})"
        rule = "first scored administration"
    else:
        client = "There is nothing to compare with yet."
        therapist = f"{_head(ctx)}: no event (before the first score; {rc})"
        rule = "before the first score"
    if ctx.provisional:
        therapist += " (provisional: later administrations may change this label)"
    return _make("event", label, client, details, therapist, rule, source, level, twostep=twostep)


def explain_setback(ctx: AdministrationContext) -> Explanation | None:
    """Explain an administration inside a setback episode after its onset ("ongoing").

    None when the row is not inside a setback episode, is the onset itself (its
    ``event`` explains it), or the client has reliably deteriorated (the
    status explains that, and a setback text must not soften it).
    """
    if not ctx.in_setback or ctx.event_code in _SETBACK_EVENTS:
        return None
    if ctx.status_code is Status.DETERIORATED:
        return None
    stat_client, stat_details, stat_note = _setback_statement(ctx)
    client = _join(
        "You are still working your way back to your best so far.",
        "" if ctx.alarming else stat_client,
    )
    details = _join(_score_details(ctx, best=True), "" if ctx.alarming else stat_details)
    therapist = (
        f"{_head(ctx)} ({_vs(ctx, ctx.best_before, 'best')}; {_rc_text(ctx)}): inside a "
        f"setback episode, ground not yet regained (best + RC/2); {_intake_position(ctx)}; "
        f"{stat_note}"
    )
    return _make(
        "setback",
        "ongoing",
        client,
        details,
        therapist,
        _SETBACK_RULE,
        f"{_TWOSTEP} (methods.md §5.3, §11, §12); {_rc_text(ctx)}",
        Level.WATCH,
    )


# ---------------------------------------------------------------------------- context


def _stressors(ctx: AdministrationContext) -> list[tuple[str, int]]:
    return [(c, s) for c, s in ctx.stressors if s >= STRESSOR_MIN_SEVERITY]


def explain_context(ctx: AdministrationContext) -> Explanation | None:
    """What else was going on in the 14 days before a setback, deterioration or sudden loss.

    Shown as context, never as a cause (§12). None when nothing triggers it or
    nothing was recorded.
    """
    ev = ctx.event_code
    triggered = (
        ctx.status_code is Status.DETERIORATED
        or ev in (Event.SUDDEN_LOSS, Event.POSSIBLE_SUDDEN_LOSS)
        or ev in _SETBACK_EVENTS
        or (ctx.in_setback and ev is not Event.MISSED)
    )
    stress = _stressors(ctx)
    restorative = ctx.restorative_drop is not None and ctx.restorative_drop >= RESTORATIVE_DROP_MIN
    if not triggered or not (
        stress or restorative or ctx.alliance_rupture or ctx.missed_sessions > 0
    ):
        return None
    client = ["Here is what else was going on in the two weeks before."]
    notes = []
    if stress:
        cats = sorted({c.replace("_", " ") for c, _ in stress})
        listed = cats[0] if len(cats) == 1 else ", ".join(cats[:-1]) + " and " + cats[-1]
        client.append(f"You noted stress with {listed}.")
        notes.append(
            "stressors "
            + ", ".join(f"{c} (severity {s})" for c, s in stress)
            + f" [>= {STRESSOR_MIN_SEVERITY}]"
        )
    if restorative:
        assert ctx.restorative_drop is not None
        client.append("The things you did to look after yourself felt less restful than before.")
        notes.append(
            f"restorative self-care rating -{_num(ctx.restorative_drop)} vs the previous 4 "
            f"weeks [>= {_num(RESTORATIVE_DROP_MIN)}]"
        )
    if ctx.alliance_rupture:
        client.append("Your rating of a recent session was lower than before.")
        notes.append("alliance rupture (methods.md §6.4)")
    if ctx.missed_sessions > 0:
        n = ctx.missed_sessions
        client.append("You missed a session." if n == 1 else f"You missed {n} sessions.")
        notes.append(f"missed sessions: {n}")
    client.append("We show this to give a fuller picture.")
    therapist = (
        f"What else was going on (preceding {CONTEXT_DAYS} days; context, not cause): "
        + "; ".join(notes)
    )
    return _make(
        "context",
        "what_else",
        " ".join(client),
        f"This covers the {CONTEXT_DAYS} days before this check-in.",
        therapist,
        f"events of the preceding {CONTEXT_DAYS} days named after a setback, "
        "deterioration or sudden loss",
        f"{_TWOSTEP} (methods.md §12)",
        Level.INFO,
    )


# --------------------------------------------------------------- ETR, plateau, early

_ETR_CLIENT: dict[str, str] = {
    "none": (
        "There is not enough data yet to compare your progress with others. "
        "Later we can show how you compare with people who started in a similar place."
    ),
    "white": "Your score is out of the range where people often need help.",
    "blue": (
        "You are doing better than most people who started where you did, at this point in therapy."
    ),
    "green": "Your progress is on track. It is in line with people who started where you did.",
    "yellow": (
        "Your progress is a bit slower than for many others who started where you did. "
        "It may help to check with your therapist how things are going."
    ),
    "red": (
        "Your progress is slower than for most people who started where you did. "
        "This is a sign to look at the plan with your therapist."
    ),
    "red_confirmed": (
        "For two check-ins in a row, your progress has been slower than for most people "
        "who started where you did. Please look at the plan with your therapist soon."
    ),
}

_ETR_THERAPIST: dict[str, tuple[str, str, Level]] = {
    "none": (
        "no ETR band: no fitted norms and the rule-based fallback does not apply",
        "no band",
        Level.INFO,
    ),
    "white": (
        "white: score in the functional range (below the clinical cut-off)",
        "not a case by the clinical cut-off (overrides green/blue)",
        Level.POSITIVE,
    ),
    "blue": ("blue: ahead of the expected response", "y_t < Q_0.25(t | y_1)", Level.POSITIVE),
    "green": ("green: on track", "y_t <= Q_0.75(t | y_1)", Level.POSITIVE),
    "yellow": ("yellow: at risk of not benefiting", "Q_0.75 < y_t <= Q_0.90", Level.WATCH),
    "red": (
        "red (first signal): not on track",
        "y_t > Q_0.90(t | y_1) or reliable deterioration vs intake",
        Level.CONCERN,
    ),
    "red_confirmed": (
        "red, confirmed: not on track at two consecutive administrations",
        "red at t-1 and t",
        Level.CONCERN,
    ),
}


def explain_etr_band(ctx: AdministrationContext) -> Explanation:
    """Explain the §11 ``etr_band`` (§4.2 colours, §4.3 fallback)."""
    band = ctx.etr_band
    client = _ETR_CLIENT[band]
    if band == "red" and not ctx.alarming:
        client = _join(client, "One check-in alone does not tell the whole story.")
    what, rule, level = _ETR_THERAPIST[band]
    therapist = f"{_head(ctx)}: ETR band {what} ({ctx.etr_source}; {_rc_text(ctx)})"
    source = (
        f"{_TWOSTEP} (methods.md §4.2 quantile-regression norms, §4.3 fallback); "
        f"{ctx.etr_source}; colour scheme after Lambert et al. (2002)"
    )
    return _make("etr_band", band, client, _score_details(ctx), therapist, rule, source, level)


_PLATEAU_CLIENT: dict[Plateau, str] = {
    Plateau.NONE: "Your recent scores do not show a long flat stretch.",
    Plateau.STUCK: _STATUS_CLIENT[Status.PLATEAU_STUCK],
    Plateau.PARTIAL: _STATUS_CLIENT[Status.PLATEAU_PARTIAL],
    Plateau.MAINTENANCE: (
        "Your scores have stayed steady in a good range. This may be a good time to talk "
        "about how to keep your gains and when to end therapy."
    ),
}


def explain_plateau(ctx: AdministrationContext) -> Explanation:
    """Explain the plateau code (§5.2): none, stuck, partial or maintenance (good-enough)."""
    pl = ctx.plateau_code
    label = _label(PLATEAU_LABELS, pl)
    client = _PLATEAU_CLIENT[pl]
    if pl is Plateau.STUCK:
        client = _join(
            client,
            "Please look at your plan with your therapist."
            if ctx.alarming
            else "This can happen in therapy. It may be a good time to try a new angle.",
        )
    what = {
        Plateau.NONE: "no plateau at this administration (needs t >= 6 and k scored "
        "administrations)",
        Plateau.STUCK: "plateau without reliable improvement vs intake ('Groundhog Day': "
        "review formulation and plan)",
        Plateau.PARTIAL: "plateau after reliable improvement, still in the clinical range",
        Plateau.MAINTENANCE: "flat in the functional range (good-enough level; Barkham et al. "
        "2006): prompt an ending or relapse-prevention review, not an alert",
    }[pl]
    level = {
        Plateau.NONE: Level.INFO,
        Plateau.STUCK: Level.WATCH,
        Plateau.PARTIAL: Level.WATCH,
        Plateau.MAINTENANCE: Level.POSITIVE,
    }[pl]
    therapist = f"{_head(ctx)} ({_rc_text(ctx)}; {_cut_text(ctx)}): {what}"
    source = f"{_TWOSTEP} (methods.md §5.2); {_rc_text(ctx)}; {_cut_text(ctx)}"
    return _make(
        "plateau", label, client, _score_details(ctx), therapist, _plateau_rule(ctx), source, level
    )


def explain_early_response(ctx: AdministrationContext) -> Explanation:
    """Explain the early-response class (§5.2), assessed at the 4th–6th administration."""
    er = ctx.early_code if ctx.early_code is not None else EarlyResponse.NOT_ASSESSABLE
    label = EARLY_RESPONSE_LABELS[er]
    rc = _rc_text(ctx)
    op = _rc_rule(ctx)
    intake = _vs(ctx, ctx.intake_score, "intake")
    if er is EarlyResponse.RESPONDER:
        client = (
            "In your first few sessions, your score already got better by more than everyday "
            "ups and downs."
        )
        if not ctx.alarming:
            client = _join(client, "Early change like this often goes with good results.")
        what, rule, level = "early responder", f"improvement vs intake {op} RC", Level.POSITIVE
    elif er is EarlyResponse.PARTIAL:
        client = (
            "In your first few sessions, your score got a bit better. "
            "There may be more change to come."
        )
        what, rule, level = (
            "partial early response",
            "improvement vs intake >= 50% of RC, below RC",
            Level.INFO,
        )
    elif er is EarlyResponse.NON_RESPONDER:
        client = _join(
            "In your first few sessions, your score has not got better yet.",
            "" if ctx.alarming else "Many people still improve later.",
            "It is a good time to check with your therapist that the plan fits you.",
        )
        what, rule, level = (
            "early non-responder",
            "improvement vs intake < 50% of RC (or worse)",
            Level.WATCH,
        )
    else:
        client = "It is too early to say how fast things are changing."
        what, rule, level = (
            "early response not assessable (no score at administrations 4-6 yet)",
            "first scored administration with 4 <= t <= 6",
            Level.INFO,
        )
    therapist = f"{_head(ctx)} ({intake}; {rc}): {what}"
    source = (
        f"{_TWOSTEP} (methods.md §5.2), after Lutz et al. (2014) and Beard & Delgadillo "
        f"(2019); {rc}"
    )
    return _make(
        "early_response", label, client, _score_details(ctx), therapist, rule, source, level
    )


# --------------------------------------------------------------------------- alliance

_ALLIANCE_CLIENT: dict[AllianceCode, str] = {
    AllianceCode.NONE: (
        "Your rating of this session looks fine. It shows no sign of a problem in how you "
        "and your therapist work together."
    ),
    AllianceCode.MARKER: (
        "Your rating of this session was a bit lower than before. Your therapist may ask how "
        "the sessions feel for you. It is always fine to say what is not working."
    ),
    AllianceCode.RUPTURE: (
        "Your rating of this session was clearly lower than before. "
        "Your therapist will ask you about it. "
        "Saying what did not feel right can make therapy work better for you."
    ),
    AllianceCode.REPAIR: (
        "Your rating of the sessions has come back up after a dip. "
        "Working through a rough patch together is often a sign of a strong working bond."
    ),
    AllianceCode.UNREPAIRED_ESCALATION: (
        "Your ratings of the sessions have stayed lower for a while. "
        "Your therapist wants the sessions to work for you and will talk about this with you. "
        "You can also say what would help."
    ),
}

_RUPTURE_LEAD = "Your rating of this session was clearly lower than before."
_RUPTURE_NORMAL = "This happens in many good working bonds, and talking about it often helps."

_ALLIANCE_LEVEL: dict[AllianceCode, Level] = {
    AllianceCode.NONE: Level.INFO,
    AllianceCode.MARKER: Level.WATCH,
    AllianceCode.RUPTURE: Level.CONCERN,
    AllianceCode.REPAIR: Level.POSITIVE,
    AllianceCode.UNREPAIRED_ESCALATION: Level.CONCERN,
}

_ALLIANCE_LITERATURE = (
    "thresholds in the literature are uncertain: Stiles et al. (2004), Strauss et al. "
    "(2006); rupture repair and outcome: Eubanks, Muran & Safran (2018)"
)


def explain_alliance(facts: AllianceFacts, *, alarming: bool = False) -> Explanation:
    """Explain an alliance code (methods.md §6.4): none, marker, rupture, repair, escalation.

    With ``alarming`` (the same session shows deterioration, a sudden loss or a
    risk item) the rupture text leaves out its normalising sentence.
    """
    code = facts.code_value
    p = facts.params
    inst = p.instrument
    why: list[str] = []
    reason = AllianceReason(facts.reason)
    score = "?" if facts.score is None else _num(facts.score)
    if AllianceReason.RELATIVE_DROP in reason and facts.baseline is not None:
        drop = facts.baseline - (facts.score or 0.0)
        sd = "?" if facts.sd_w is None else _num(facts.sd_w)
        thr = "?" if facts.threshold is None else _num(facts.threshold)
        why.append(
            f"drop {_num(drop)} from baseline {_num(facts.baseline)} (median of the last "
            f"{p.baseline_window}) >= max(D_min {_num(p.min_drop)}, {_num(p.sd_multiplier)} x "
            f"SD_w {sd}) = {thr}; D_min: {p.min_drop_source}"
        )
    if AllianceReason.FIRST_BELOW_CUTOFF in reason and p.cutoff is not None:
        why.append(
            f"first {inst} {p.cutoff_comparison.value} {_num(p.cutoff)} in the series "
            f"({p.cutoff_source})"
        )
    if AllianceReason.MARKER_DROP in reason and p.marker_drop is not None:
        prev = "?" if facts.previous_score is None else _num(facts.previous_score)
        why.append(
            f"drop from previous {prev} -> {score} >= {_num(p.marker_drop)} (PCOMS practice "
            f"per OpenFIT documentation [UNCERTAIN origin])"
        )
    if AllianceReason.MARKER_ITEM in reason and p.marker_item_below is not None:
        why.append(f"a line below {_num(p.marker_item_below)} [UNCERTAIN origin]")
    if AllianceReason.REPAIR_BASELINE in reason:
        margin = "SD_w at the rupture" if p.repair_margin is None else _num(p.repair_margin)
        why.append(f"score back to >= baseline - {margin}")
    if AllianceReason.REPAIR_CUTOFF in reason and p.cutoff is not None:
        why.append(f"back out of the concern range ({p.cutoff_comparison.value} {_num(p.cutoff)})")
    what = {
        AllianceCode.NONE: "no rupture or marker",
        AllianceCode.MARKER: "rupture marker (yellow)",
        AllianceCode.RUPTURE: f"rupture (red); repair window {p.repair_window} administrations",
        AllianceCode.REPAIR: "repair of the open rupture",
        AllianceCode.UNREPAIRED_ESCALATION: (
            f"unrepaired after {p.repair_window} administrations: supervision prompt"
        ),
    }[code]
    therapist = f"{inst} ({facts.rater}-rated) {score}: {what}"
    if why:
        therapist += " — " + "; ".join(why)
    therapist += f"; {_TWOSTEP} (methods.md §6.4)"
    details = []
    if facts.score is not None:
        details.append(f"Your {inst} rating of this session: {_num(facts.score)}.")
    if facts.previous_score is not None:
        details.append(f"Last time: {_num(facts.previous_score)}.")
    if facts.baseline is not None:
        details.append(f"Your usual rating lately: {_num(facts.baseline)}.")
    details.append(f"On the {inst}, a higher rating means the session felt better for you.")
    if p.cutoff is not None:
        phrase = _CUT_PHRASE[p.cutoff_comparison].format(c=_num(p.cutoff))
        details.append(f"Ratings {phrase} can mean that something did not feel right.")
    rule = (
        f"rupture: B_t - a_t >= max(D_min, {_num(p.sd_multiplier)} x SD_w) or first score in "
        f"the concern range; repair within {p.repair_window} administrations"
    )
    source = (
        f"{_TWOSTEP} (methods.md §6.4) [PROPOSED]; D_min: {p.min_drop_source}; "
        f"{_ALLIANCE_LITERATURE}"
    )
    client = _ALLIANCE_CLIENT[code]
    if code is AllianceCode.RUPTURE and not alarming:
        client = client.replace(_RUPTURE_LEAD, _join(_RUPTURE_LEAD, _RUPTURE_NORMAL))
    return _make(
        "alliance",
        ALLIANCE_LABELS[code],
        client,
        " ".join(details),
        therapist,
        rule,
        source,
        _ALLIANCE_LEVEL[code],
    )


# ------------------------------------------------------------------------------- GAS


def explain_gas(facts: GasFacts) -> Explanation:
    """Explain the change in the Goal Attainment Scaling T-score since the last review (§7).

    A change of at least ``threshold`` (10 T points = 1 SD by design) is a
    meaningful change (twostep rule, [PROPOSED]).
    """
    t, prev = facts.t_current, facts.t_previous
    details = [f"Your goal score now: {_num(round(t, 1))}."]
    if prev is None:
        label, level = "first", Level.INFO
        client = "This is your first goal review. Later reviews will show how your goals are going."
        change = "first review"
    else:
        d = t - prev
        details.append(f"At your last review: {_num(round(prev, 1))}.")
        change = f"delta T {_signed(round(d, 1))}"
        if d >= facts.threshold:
            label, level = "up", Level.POSITIVE
            client = "You have moved further toward your goals since your last review."
        elif d <= -facts.threshold:
            label, level = "down", Level.WATCH
            client = (
                "Your goals are going less well than at your last review. Goals can be "
                "changed. You may want to look at them again with your therapist."
            )
        else:
            label, level = "steady", Level.INFO
            client = "Your goals are going about the same as at your last review."
    details.append(
        "A goal score of 50 means your goals went as planned. "
        f"A change of {_num(facts.threshold)} or more is a real shift."
    )
    therapist = (
        f"GAS T {_num(round(t, 1))} ({change}; threshold {_num(facts.threshold)} T = 1 SD; "
        f"n goals = {facts.n_goals}, rho = {_num(facts.rho)}); {_TWOSTEP} (methods.md §7)"
    )
    return _make(
        "gas",
        label,
        client,
        " ".join(details),
        therapist,
        f"|delta T| >= {_num(facts.threshold)}",
        f"{_TWOSTEP} (methods.md §7, [PROPOSED]); T-score: Kiresuk & Sherman (1968)",
        level,
    )


# ------------------------------------------------------------------------------ risk

_NO_CONTACTS = "If you are in danger now, call your local emergency number."


def explain_risk(facts: RiskFacts) -> Explanation | None:
    """Explain a risk item (§9): a kind message with crisis contacts, never a risk rating.

    None when the item was answered 0 (no alert).
    """
    contacts = (
        "If you feel unsafe now, please get help right away: "
        + "; ".join(r.strip().rstrip(".") for r in facts.crisis_resources)
        + "."
        if facts.crisis_resources
        else _NO_CONTACTS
    )
    delay = facts.delay_notice or ""
    where = f"{facts.instrument} {facts.item}"
    source = (
        f"{_TWOSTEP} (methods.md §9), in line with common measurement-based-care practice; "
        "Simon et al. (2013); NICE NG225 (2022): use the item to prompt a clinical "
        "assessment, not to predict suicide"
    )
    if facts.response is None:
        client = _join(
            "You did not answer one question about your safety. That is okay.",
            "If you are having thoughts of hurting yourself, please tell your therapist.",
            contacts,
        )
        therapist = (
            f"{where} not answered: not assessed — never prorated; ask directly at the next "
            f"contact ({_TWOSTEP}, methods.md §9)"
        )
        return _make(
            "risk",
            "not_assessed",
            client,
            _join(contacts, delay),
            therapist,
            "risk item missing",
            source,
            Level.WATCH,
        )
    if facts.response <= 0:
        return None
    client = _join(
        "Thank you for answering so honestly.",
        "One of your answers tells us you may have had thoughts of hurting yourself "
        "or of not wanting to be alive.",
        "You do not have to deal with this alone. Your therapist will be told about your answer.",
        delay,
        contacts,
    )
    tier = f"; follow-up tier: {facts.tier_label}" if facts.tier_label else ""
    therapist = (
        f"{where} = {facts.response} (> 0): immediate alert, whatever the total and the "
        f"trajectory{tier}; acknowledge and record a structured follow-up (e.g. C-SSRS "
        f"screener or local protocol) — a prompt for clinical assessment, not a rating "
        f"({_TWOSTEP}, methods.md §9)"
    )
    return _make(
        "risk",
        "positive",
        client,
        _join(contacts, delay),
        therapist,
        "risk item response > 0",
        source,
        Level.URGENT,
    )


# ------------------------------------------------------------------------ composition


def explain_administration(ctx: AdministrationContext) -> tuple[Explanation, ...]:
    """All explanations for one administration, most urgent first.

    Order: risk item; then for a missed administration only the ``missed``
    event; otherwise status, what else was going on, event, ongoing setback,
    ETR band, plateau (when it adds to the status), early response; then the
    alliance and the goal review of the same session. Labels with nothing to
    say (``none``) are left out.
    """
    out: list[Explanation | None] = []
    if ctx.risk is not None:
        out.append(explain_risk(ctx.risk))
    if ctx.missed:
        out.append(explain_event(ctx))
    else:
        st = ctx.status_code
        if st is not Status.NONE:
            out.append(explain_status(ctx))
        out.append(explain_context(ctx))
        ev = ctx.event_code
        if ev is not Event.NONE and not (ev is Event.BASELINE and st is Status.BASELINE):
            out.append(explain_event(ctx))
        out.append(explain_setback(ctx))
        if ctx.etr_band != "none":
            out.append(explain_etr_band(ctx))
        pl = ctx.plateau_code
        if pl is Plateau.MAINTENANCE or (
            pl is not Plateau.NONE and st not in (Status.PLATEAU_STUCK, Status.PLATEAU_PARTIAL)
        ):
            out.append(explain_plateau(ctx))
        if ctx.early_code not in (None, EarlyResponse.NOT_ASSESSABLE):
            out.append(explain_early_response(ctx))
    if ctx.alliance is not None and ctx.alliance.code_value is not AllianceCode.NONE:
        out.append(explain_alliance(ctx.alliance, alarming=ctx.alarming))
    if ctx.gas is not None:
        out.append(explain_gas(ctx.gas))
    return tuple(e for e in out if e is not None)


def explain_client_summary(
    latest: AdministrationContext,
    *,
    n_scores: int,
    n_setbacks: int = 0,
    n_sudden_gains: int = 0,
    n_sudden_losses: int = 0,
) -> Explanation:
    """One explanation of where a client stands now (the latest administration).

    The client text leads with a risk message when there is one, then the
    status; the therapist text lists the counts of the episode.
    """
    parts = explain_administration(latest)
    lead = [e for e in parts if e.topic == "risk"]
    status = explain_status(latest)
    times = "once" if n_scores == 1 else f"{n_scores} times"
    client = [f"You have filled in the {latest.instrument} {times} so far."]
    client += [e.client for e in lead]
    if latest.missed:
        client.append(explain_event(latest).client)
    elif latest.status_code is not Status.NONE:
        client.append(status.client)
    if n_setbacks > 0:
        word = "a setback" if n_setbacks == 1 else f"{n_setbacks} setbacks"
        client.append(f"Along the way you had {word}.")
        if not latest.alarming:
            client.append("Setbacks like these are common in therapy.")
    level = max((e.level for e in parts), default=Level.INFO)
    therapist = (
        f"{_head(latest)}: status {_label(STATUS_LABELS, latest.status_code)}, latest event "
        f"{_label(EVENT_LABELS, latest.event_code)}, ETR band {latest.etr_band}; "
        f"scores {n_scores}, setback episodes {n_setbacks}, sudden gains {n_sudden_gains}, "
        f"sudden losses {n_sudden_losses}; {_rc_text(latest)}; {_cut_text(latest)}"
    )
    if lead:
        therapist = f"RISK ITEM: {lead[0].therapist}. {therapist}"
    return _make(
        "summary",
        _label(STATUS_LABELS, latest.status_code),
        " ".join(client),
        _score_details(latest),
        therapist,
        "status at the last administration (methods.md §11)",
        f"{_RULE_11}; {_rc_text(latest)}",
        level,
    )


# ---------------------------------------------------------------- support suggestions

#: The areas of §12's support suggestions, in display order.
SUPPORT_AREAS: tuple[str, ...] = (
    "alliance",
    "motivation",
    "social_support",
    "life_events",
    "goals",
)


@dataclass(frozen=True)
class SupportParams:
    """When a support area is flagged (twostep rules, methods.md §12 [PROPOSED])."""

    engagement_mean_min: float = 1.5
    practice_drop_share: float = 0.5
    contact_drop_share: float = 0.5
    stressor_min_severity: int = STRESSOR_MIN_SEVERITY
    gas_drop: float = 10.0


@dataclass(frozen=True)
class SupportInputs:
    """Plain numbers behind the support suggestions; None = not recorded.

    ``practice_*`` and ``support_contacts_*`` are counts (or rates) for the
    last four weeks and the four weeks before; ``stressors`` are
    ``(category, severity)`` pairs of the last 14 days.
    """

    alliance_score: float | None = None
    alliance_instrument: str = "SRS"
    alliance_cutoff: float | None = 36.0
    alliance_cutoff_comparison: Comparison = Comparison.LT
    unrepaired_rupture: bool = False
    open_rupture: bool = False
    engagement_mean: float | None = None
    practice_recent: float | None = None
    practice_before: float | None = None
    support_contacts_recent: float | None = None
    support_contacts_before: float | None = None
    stressors: tuple[tuple[str, int], ...] = ()
    days_since_goal_review: int | None = None
    goal_review_overdue: bool = False
    gas_t_latest: float | None = None
    gas_t_previous: float | None = None


@dataclass(frozen=True)
class Suggestion:
    """One area to explore with the client (therapist-facing)."""

    area: str
    flagged: bool
    finding: str
    prompt: str
    source: str


def _dropped(recent: float | None, before: float | None, share: float) -> bool:
    return (
        recent is not None
        and before is not None
        and before > 0
        and (before - recent >= share * before)
    )


def support_suggestions(
    inputs: SupportInputs, params: SupportParams | None = None
) -> tuple[Suggestion, ...]:
    """What to explore when a client is not on track, deteriorating, on a plateau or stuck.

    One `Suggestion` per area of `SUPPORT_AREAS`, flagged areas first (stable
    order otherwise). Shown with not-on-track, deterioration, plateau and
    Groundhog Day signals (§12); an open analogue of the clinical support tools
    of Whipple et al. (2003), from data twostep already holds.
    """
    p = params or SupportParams()
    src = f"{_TWOSTEP} (methods.md §12)"
    out: list[Suggestion] = []
    # alliance
    a = inputs.alliance_score
    inst = inputs.alliance_instrument
    low = (
        a is not None
        and inputs.alliance_cutoff is not None
        and inputs.alliance_cutoff_comparison.holds(a, inputs.alliance_cutoff)
    )
    bits = []
    if a is not None:
        cut = (
            f" ({inputs.alliance_cutoff_comparison.value} {_num(inputs.alliance_cutoff)})"
            if low and inputs.alliance_cutoff is not None
            else ""
        )
        bits.append(f"latest {inst} {_num(a)}{cut}")
    if inputs.unrepaired_rupture:
        bits.append("unrepaired rupture")
    elif inputs.open_rupture:
        bits.append("rupture awaiting repair")
    flagged = low or inputs.unrepaired_rupture or inputs.open_rupture
    out.append(
        Suggestion(
            "alliance",
            flagged,
            "; ".join(bits) if bits else "no alliance rating recorded",
            "Ask openly how the sessions, goals and approach feel; invite negative feedback"
            + ("; consider supervision" if inputs.unrepaired_rupture else "")
            if flagged or a is not None
            else "Consider a routine alliance rating (SRS or WAI-SR)",
            f"{src}; rupture rule methods.md §6.4",
        )
    )
    # motivation and engagement
    e = inputs.engagement_mean
    e_low = e is not None and e >= p.engagement_mean_min
    practice_down = _dropped(inputs.practice_recent, inputs.practice_before, p.practice_drop_share)
    bits = []
    if e is not None:
        bits.append(
            f"engagement check mean {_num(round(e, 2))} (flag >= "
            f"{_num(p.engagement_mean_min)}; twostep questionnaire, not validated)"
        )
    if inputs.practice_recent is not None and inputs.practice_before is not None:
        bits.append(
            f"practice {_num(inputs.practice_recent)} vs {_num(inputs.practice_before)} "
            f"in the previous 4 weeks"
        )
    out.append(
        Suggestion(
            "motivation",
            e_low or practice_down,
            "; ".join(bits) if bits else "no engagement check or practice log recorded",
            "Explore ambivalence, task fit and obstacles to between-session practice",
            src,
        )
    )
    # social support
    c_down = _dropped(
        inputs.support_contacts_recent, inputs.support_contacts_before, p.contact_drop_share
    )
    if inputs.support_contacts_recent is not None and inputs.support_contacts_before is not None:
        finding = (
            f"support-network contacts {_num(inputs.support_contacts_recent)} vs "
            f"{_num(inputs.support_contacts_before)} in the previous 4 weeks"
        )
    else:
        finding = "no support-network contacts recorded"
    out.append(
        Suggestion(
            "social_support",
            c_down,
            finding,
            "Ask who the client has turned to lately and what gets in the way of contact",
            src,
        )
    )
    # life events
    stress = [(c, s) for c, s in inputs.stressors if s >= p.stressor_min_severity]
    out.append(
        Suggestion(
            "life_events",
            bool(stress),
            "; ".join(f"{c} (severity {s})" for c, s in stress)
            if stress
            else f"no stressor of severity >= {p.stressor_min_severity} in {CONTEXT_DAYS} days",
            "Talk through recent life events and their weight (context, not cause)",
            src,
        )
    )
    # goals
    g_now, g_before = inputs.gas_t_latest, inputs.gas_t_previous
    gas_down = g_now is not None and g_before is not None and g_before - g_now >= p.gas_drop
    bits = []
    if inputs.days_since_goal_review is not None:
        bits.append(f"last goal review {inputs.days_since_goal_review} days ago")
    if inputs.goal_review_overdue:
        bits.append("goal review overdue")
    if g_now is not None:
        trend = f" (from {_num(round(g_before, 1))})" if g_before is not None else ""
        bits.append(f"GAS T {_num(round(g_now, 1))}{trend}")
    out.append(
        Suggestion(
            "goals",
            inputs.goal_review_overdue or gas_down,
            "; ".join(bits) if bits else "no goals or goal reviews recorded",
            "Review the goals together: are they still the right ones, and are the steps "
            "small enough?",
            f"{src}; GAS methods.md §7",
        )
    )
    return tuple(sorted(out, key=lambda s: not s.flagged))


# -------------------------------------------------------------------- Groundhog Day

#: The process signs of the Groundhog Day signal (§12), bit i of `GroundhogSignal.signs`.
GROUNDHOG_SIGNS: tuple[str, ...] = (
    "engagement_low",
    "practice_down",
    "missed_sessions",
    "same_focus",
    "goal_review_overdue",
)


@dataclass(frozen=True)
class GroundhogParams:
    """Thresholds of the Groundhog Day signal (twostep rule, methods.md §12)."""

    engagement_mean_min: float = 1.5
    practice_drop_share: float = 0.5
    missed_min: int = 2
    same_focus_min: int = 3
    min_signs: int = 2


@dataclass(frozen=True, eq=False)
class GroundhogSignal:
    """Per client: whether the signal is raised and which signs held."""

    raised: npt.NDArray[np.bool_]
    plateau: npt.NDArray[np.bool_]
    signs: npt.NDArray[np.uint8]
    n_signs: npt.NDArray[np.int64]

    def signs_held(self, i: int) -> tuple[str, ...]:
        """The names of the signs that held for client ``i``."""
        bits = int(self.signs[i])
        return tuple(name for k, name in enumerate(GROUNDHOG_SIGNS) if bits & (1 << k))


def _arr(x: npt.ArrayLike | None, n: int) -> npt.NDArray[np.float64] | None:
    if x is None:
        return None
    try:
        out = np.broadcast_to(np.asarray(x, dtype=np.float64), (n,))
    except ValueError as exc:
        raise AnalysisError("each Groundhog Day input needs one value per client") from exc
    return np.asarray(out, dtype=np.float64)


def groundhog_day(
    status: npt.ArrayLike,
    *,
    engagement_mean: npt.ArrayLike | None = None,
    practice_recent: npt.ArrayLike | None = None,
    practice_before: npt.ArrayLike | None = None,
    missed_in_window: npt.ArrayLike | None = None,
    same_focus_run: npt.ArrayLike | None = None,
    goal_review_overdue: npt.ArrayLike | None = None,
    params: GroundhogParams | None = None,
) -> GroundhogSignal:
    """The Groundhog Day signal (§12) for many clients at once.

    Raised when ``status`` is ``plateau_stuck`` or ``plateau_partial`` **and**
    at least two process signs hold over the same window:

    * engagement-check mean ``>= 1.5``;
    * skill practice or journaling down by ``>= 50 %`` against the previous
      four weeks (``before > 0`` and ``before - recent >= 0.5 * before``);
    * ``>= 2`` missed or cancelled sessions in the window;
    * the same session-focus tag at ``>= 3`` consecutive sessions
      (see `longest_focus_run`);
    * goal reviews overdue.

    Parameters
    ----------
    status
        `Status` codes or §11 labels, one per client.
    engagement_mean, practice_recent, practice_before
        Engagement-check mean (0-3); practice counts in the last four weeks
        and in the four weeks before.
    missed_in_window, same_focus_run, goal_review_overdue
        Missed or cancelled sessions in the window; the longest run of the
        same session-focus tag; whether goal reviews are overdue. Each input is
        one value per client (or a scalar); None or NaN = not recorded (the
        sign does not hold).
    """
    p = params or GroundhogParams()
    st_in = np.atleast_1d(np.asarray(status))
    if st_in.dtype.kind in "iu":
        st = st_in.astype(np.int64)
    else:
        st = np.array([_coerce(str(v), Status, STATUS_LABELS) for v in st_in], dtype=np.int64)
    n = st.shape[0]
    plateau = (st == Status.PLATEAU_STUCK) | (st == Status.PLATEAU_PARTIAL)
    signs = np.zeros(n, dtype=np.uint8)
    with np.errstate(invalid="ignore"):
        e = _arr(engagement_mean, n)
        if e is not None:
            signs |= np.where(e >= p.engagement_mean_min, 1, 0).astype(np.uint8)
        r, b = _arr(practice_recent, n), _arr(practice_before, n)
        if r is not None and b is not None:
            down = (b > 0) & (b - r >= p.practice_drop_share * b)
            signs |= np.where(down, 2, 0).astype(np.uint8)
        m = _arr(missed_in_window, n)
        if m is not None:
            signs |= np.where(m >= p.missed_min, 4, 0).astype(np.uint8)
        f = _arr(same_focus_run, n)
        if f is not None:
            signs |= np.where(f >= p.same_focus_min, 8, 0).astype(np.uint8)
        g = _arr(goal_review_overdue, n)
        if g is not None:
            signs |= np.where(g > 0, 16, 0).astype(np.uint8)
    n_signs = np.unpackbits(signs[:, None], axis=1).sum(axis=1).astype(np.int64)
    return GroundhogSignal(
        raised=plateau & (n_signs >= p.min_signs),
        plateau=plateau,
        signs=signs,
        n_signs=n_signs,
    )


def longest_focus_run(tags: Sequence[str | None]) -> int:
    """Longest run of consecutive sessions with the same (non-empty) session-focus tag."""
    best = run = 0
    prev: str | None = None
    for tag in tags:
        if tag and tag == prev:
            run += 1
        else:
            run = 1 if tag else 0
        prev = tag or None
        best = max(best, run)
    return best
