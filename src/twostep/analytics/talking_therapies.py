"""NHS Talking Therapies (formerly IAPT) episode outcomes and service rates.

``methods.md`` §2. Each element of the input arrays is one referral/episode:
its first and last paired PHQ-9 and anxiety-disorder-specific-measure (ADSM)
scores, the ADSM's caseness cut-off and reliable-change value (different
episodes may use different ADSMs), and the number of attended treatment
appointments.

The thresholds in methods.md §2.1 are marked [UNCERTAIN]; they are parameters
here, never constants baked into the logic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum, StrEnum

import numpy as np
import numpy.typing as npt

from twostep.analytics.intervals import (
    DEFAULT_SUPPRESSION_THRESHOLD,
    is_suppressed,
    wilson_interval,
)
from twostep.analytics.reliable_change import FIXED_THRESHOLD_TOLERANCE
from twostep.errors import AnalysisError, ConfigurationError

__all__ = [
    "AnxietyMeasure",
    "EpisodeOutcomes",
    "OutcomeCounts",
    "Rate",
    "ReliableChangeRule",
    "ServiceRates",
    "episode_outcomes",
    "outcome_counts",
    "rates_from_counts",
    "service_rates",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

#: NHS Talking Therapies defaults (methods.md §2.1–§2.2).
PHQ9_CUTOFF = 10.0
PHQ9_RC = 6.0
GAD7_CUTOFF = 8.0
GAD7_RC = 4.0
MIN_TREATMENT_APPOINTMENTS = 2


class ReliableChangeRule(StrEnum):
    """How the two measures combine into reliable improvement / deterioration.

    ``EITHER_MEASURE`` (default, methods.md §2.3; established practice, the
    official wording is [UNCERTAIN]): reliable improvement if at least one
    measure improves reliably and neither deteriorates reliably; reliable
    deterioration the mirror image. Opposite reliable changes on the two
    measures count as no reliable change.

    ``DETERIORATION_FIRST`` (twostep's documented alternative, safety-first):
    reliable deterioration if **any** measure deteriorates reliably, even when
    the other one improved reliably; reliable improvement as above (at least
    one improves, none deteriorates). Opposite reliable changes therefore count
    as deterioration. Use it for sensitivity analyses or when a service's
    definition is confirmed to read this way.
    """

    EITHER_MEASURE = "either_measure"
    DETERIORATION_FIRST = "deterioration_first"


class AnxietyMeasure(IntEnum):
    """Which anxiety measure an episode's outcome was computed on."""

    NONE = -1  # no complete anxiety pair: not computable
    ADSM = 0  # the problem descriptor's ADSM (as given in anxiety_first/last)
    GAD7_FALLBACK = 1  # ADSM missing at either end → GAD-7 at both ends


@dataclass(frozen=True, eq=False)
class EpisodeOutcomes:
    """Per-episode NHS Talking Therapies outcome flags.

    Outcome flags are evaluated for every *computable* episode (both measures
    present at both ends), whether or not it finished treatment, and are
    ``False`` where not computable; `service_rates` counts only ``eligible``
    episodes (finished treatment and computable).

    Attributes
    ----------
    finished_treatment
        At least ``min_treatment_appointments`` attended treatment appointments.
    computable
        PHQ-9 and an anxiety measure (ADSM, or the GAD-7 fallback) present at
        the first and at the last pair.
    eligible
        ``finished_treatment & computable``: the population the service rates
        are computed on.
    case_pre, case_post
        ``PHQ-9 >= cut-off or anxiety >= its cut-off`` at the first / last pair.
    recovery
        ``case_pre and not case_post``.
    reliable_improvement, reliable_deterioration
        As defined by `rule` (see `ReliableChangeRule`).
    reliable_recovery
        ``recovery and reliable_improvement``.
    no_reliable_change
        Computable and neither reliable improvement nor reliable deterioration.
    anxiety_measure
        `AnxietyMeasure` code per episode (int8).
    rule
        The two-measure rule used.
    """

    finished_treatment: BoolArray
    computable: BoolArray
    eligible: BoolArray
    case_pre: BoolArray
    case_post: BoolArray
    recovery: BoolArray
    reliable_improvement: BoolArray
    reliable_deterioration: BoolArray
    reliable_recovery: BoolArray
    no_reliable_change: BoolArray
    anxiety_measure: npt.NDArray[np.int8]
    rule: ReliableChangeRule


def _float(values: npt.ArrayLike, name: str) -> FloatArray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AnalysisError(f"{name} must be numeric") from exc


def _at_least(values: FloatArray, threshold: FloatArray) -> BoolArray:
    """``values >= threshold`` with a 1e-9-point tolerance; NaN → False."""
    tol = FIXED_THRESHOLD_TOLERANCE * np.maximum(1.0, np.abs(threshold))
    with np.errstate(invalid="ignore"):
        return np.asarray(values >= threshold - tol, dtype=np.bool_)


def _check_used(values: FloatArray, used: BoolArray, name: str, *, positive: bool) -> None:
    v = values[used]
    if v.size and (not np.all(np.isfinite(v)) or (positive and np.any(v <= 0))):
        rule = "finite and > 0" if positive else "finite"
        raise ConfigurationError(f"{name} must be {rule} for every episode that uses it")


def episode_outcomes(
    phq9_first: npt.ArrayLike,
    phq9_last: npt.ArrayLike,
    anxiety_first: npt.ArrayLike,
    anxiety_last: npt.ArrayLike,
    *,
    anxiety_cutoff: npt.ArrayLike,
    anxiety_rc: npt.ArrayLike,
    treatment_appointments: npt.ArrayLike,
    phq9_cutoff: float = PHQ9_CUTOFF,
    phq9_rc: float = PHQ9_RC,
    min_treatment_appointments: int = MIN_TREATMENT_APPOINTMENTS,
    gad7_first: npt.ArrayLike | None = None,
    gad7_last: npt.ArrayLike | None = None,
    gad7_cutoff: float = GAD7_CUTOFF,
    gad7_rc: float = GAD7_RC,
    rule: ReliableChangeRule | str = ReliableChangeRule.EITHER_MEASURE,
) -> EpisodeOutcomes:
    """NHS Talking Therapies outcomes for many episodes (methods.md §2.3).

    With ``dPHQ = PHQ_last - PHQ_first`` and ``dANX = ANX_last - ANX_first``::

        case_pre   = PHQ_first >= 10 or ANX_first >= cut_A
        case_post  = PHQ_last  >= 10 or ANX_last  >= cut_A
        improve_any = dPHQ <= -6 or dANX <= -RC_A
        worsen_any  = dPHQ >= +6 or dANX >= +RC_A
        recovery               = case_pre and not case_post
        reliable_improvement   = improve_any and not worsen_any     (rule "either_measure")
        reliable_deterioration = worsen_any and not improve_any     (rule "either_measure")
        reliable_recovery      = recovery and reliable_improvement
        no_reliable_change     = otherwise (incl. opposite reliable changes)

    RC values are fixed published thresholds, so a change counts when it is at
    least RC (``|Δ| >= RC``, methods.md §2.2). Only one measure available →
    not computable under the NHS rule (all outcome flags ``False``).

    Parameters
    ----------
    phq9_first, phq9_last
        PHQ-9 totals at the first and last paired contact (NaN = missing).
    anxiety_first, anxiety_last
        The problem descriptor's ADSM at the same contacts (NaN = missing).
    anxiety_cutoff, anxiety_rc
        The ADSM's caseness cut-off (``>=`` is a case) and RC, scalars or one per
        episode (e.g. GAD-7 8 and 4; PDSS 8 and 5; SPIN 19 and 10 — see the
        [UNCERTAIN] table in methods.md §2.1).
    treatment_appointments
        Attended *treatment* appointments per episode (assessment-only
        appointments excluded).
    phq9_cutoff, phq9_rc
        Default 10 and 6.
    min_treatment_appointments
        Finished a course of treatment = at least this many attended treatment
        appointments. Default 2.
    gad7_first, gad7_last
        Optional GAD-7 totals at the same contacts. Where the ADSM is missing
        at either end and both GAD-7 scores exist, GAD-7 is used at **both**
        ends (never ADSM at one end and GAD-7 at the other; Clark et al. 2018,
        Table 2). Default ``None``: no fallback.
    gad7_cutoff, gad7_rc
        Default 8 and 4 (NHS TT caseness and RC for GAD-7).
    rule
        Two-measure rule, `ReliableChangeRule` or its value. Default
        ``"either_measure"``.

    Raises
    ------
    ConfigurationError
        For an unknown rule, a non-positive RC or a non-finite cut-off on an
        episode that uses it, or ``min_treatment_appointments < 1``.
    AnalysisError
        For arrays that do not broadcast to one shape.

    References
    ----------
    NHS England & NCCMH, *NHS Talking Therapies for Anxiety and Depression
    Manual* (2023–2024). Clark, D. M., et al. (2018). *Lancet 391*, 679–686.
    NHS Digital, Psychological Therapies outcomes definitions (June 2020).
    """
    try:
        chosen = ReliableChangeRule(rule)
    except ValueError as exc:
        known = ", ".join(r.value for r in ReliableChangeRule)
        raise ConfigurationError(f"unknown rule {rule!r} (known: {known})") from exc
    if min_treatment_appointments < 1:
        raise ConfigurationError("min_treatment_appointments must be >= 1")
    for name, value in (("phq9_rc", phq9_rc), ("gad7_rc", gad7_rc)):
        if not math.isfinite(value) or value <= 0:
            raise ConfigurationError(f"{name} must be finite and > 0 (got {value!r})")
    for name, value in (("phq9_cutoff", phq9_cutoff), ("gad7_cutoff", gad7_cutoff)):
        if not math.isfinite(value):
            raise ConfigurationError(f"{name} must be finite (got {value!r})")
    if (gad7_first is None) != (gad7_last is None):
        raise ConfigurationError("give both gad7_first and gad7_last, or neither")

    arrays = [
        _float(phq9_first, "phq9_first"),
        _float(phq9_last, "phq9_last"),
        _float(anxiety_first, "anxiety_first"),
        _float(anxiety_last, "anxiety_last"),
        _float(anxiety_cutoff, "anxiety_cutoff"),
        _float(anxiety_rc, "anxiety_rc"),
        _float(treatment_appointments, "treatment_appointments"),
        _float(np.nan if gad7_first is None else gad7_first, "gad7_first"),
        _float(np.nan if gad7_last is None else gad7_last, "gad7_last"),
    ]
    try:
        p1, p2, a1, a2, cut_a, rc_a, appts, g1, g2 = (
            np.array(a, dtype=np.float64) for a in np.broadcast_arrays(*arrays)
        )
    except ValueError as exc:
        raise AnalysisError("the episode arrays have incompatible shapes") from exc

    adsm_ok = np.isfinite(a1) & np.isfinite(a2)
    fallback = ~adsm_ok & np.isfinite(g1) & np.isfinite(g2)
    _check_used(cut_a, adsm_ok, "anxiety_cutoff", positive=False)
    _check_used(rc_a, adsm_ok, "anxiety_rc", positive=True)
    x1 = np.where(fallback, g1, a1)
    x2 = np.where(fallback, g2, a2)
    cut_x = np.where(fallback, gad7_cutoff, np.where(adsm_ok, cut_a, np.nan))
    rc_x = np.where(fallback, gad7_rc, np.where(adsm_ok, rc_a, np.nan))
    anxiety_ok = adsm_ok | fallback
    measure = np.where(
        adsm_ok, AnxietyMeasure.ADSM, np.where(fallback, AnxietyMeasure.GAD7_FALLBACK, -1)
    ).astype(np.int8)

    computable = np.isfinite(p1) & np.isfinite(p2) & anxiety_ok
    with np.errstate(invalid="ignore"):
        finished = np.asarray(appts >= min_treatment_appointments, dtype=np.bool_)
    phq_cut = np.full(p1.shape, float(phq9_cutoff))
    case_pre = computable & (_at_least(p1, phq_cut) | _at_least(x1, cut_x))
    case_post = computable & (_at_least(p2, phq_cut) | _at_least(x2, cut_x))

    d_phq, d_anx = p2 - p1, x2 - x1
    rc_phq = np.full(p1.shape, float(phq9_rc))
    improve_any = computable & (_at_least(-d_phq, rc_phq) | _at_least(-d_anx, rc_x))
    worsen_any = computable & (_at_least(d_phq, rc_phq) | _at_least(d_anx, rc_x))
    improvement = improve_any & ~worsen_any
    if chosen is ReliableChangeRule.EITHER_MEASURE:
        deterioration = worsen_any & ~improve_any
    else:
        deterioration = worsen_any
    recovery = case_pre & ~case_post
    return EpisodeOutcomes(
        finished_treatment=finished,
        computable=computable,
        eligible=finished & computable,
        case_pre=case_pre,
        case_post=case_post,
        recovery=recovery,
        reliable_improvement=improvement,
        reliable_deterioration=deterioration,
        reliable_recovery=recovery & improvement,
        no_reliable_change=computable & ~improvement & ~deterioration,
        anxiety_measure=measure,
        rule=chosen,
    )


@dataclass(frozen=True, eq=False)
class Rate:
    """One service rate per group, with its Wilson interval and suppression flag.

    The counts and the interval are always given in full (the kernel does not
    censor its own output); ``suppressed`` marks cells a publication must hide,
    and `published` applies it.

    Attributes
    ----------
    numerator, denominator
        Counts per group.
    proportion, lower, upper
        ``numerator / denominator`` and its Wilson interval (NaN where the
        denominator is 0).
    suppressed
        ``True`` where the numerator or the denominator is below the
        suppression threshold.
    """

    numerator: IntArray
    denominator: IntArray
    proportion: FloatArray
    lower: FloatArray
    upper: FloatArray
    suppressed: BoolArray

    @property
    def published(self) -> FloatArray:
        """``proportion`` with suppressed cells replaced by NaN."""
        return np.where(self.suppressed, np.nan, self.proportion)


@dataclass(frozen=True, eq=False)
class ServiceRates:
    """NHS Talking Therapies service rates per group.

    Attributes
    ----------
    recovery, reliable_recovery
        Over finished (and computable) referrals minus those not at caseness
        at the start.
    reliable_improvement, reliable_deterioration
        Over all finished (and computable) referrals.
    n_finished
        Finished treatment and computable (the eligible population).
    n_not_case_at_start
        Eligible referrals that were not a case at the start.
    n_finished_not_computable
        Finished treatment but missing a measure at either end (outside every
        denominator; report it as data completeness).
    """

    recovery: Rate
    reliable_recovery: Rate
    reliable_improvement: Rate
    reliable_deterioration: Rate
    n_finished: IntArray
    n_not_case_at_start: IntArray
    n_finished_not_computable: IntArray


def _rate(
    numerator: IntArray, denominator: IntArray, z: float, threshold: int, keep_zero: bool
) -> Rate:
    ci = wilson_interval(numerator, denominator, z=z)
    small = is_suppressed(numerator, threshold=threshold, keep_zero=keep_zero) | is_suppressed(
        denominator, threshold=threshold, keep_zero=keep_zero
    )
    return Rate(numerator, denominator, ci.proportion, ci.lower, ci.upper, small)


def service_rates(
    outcomes: EpisodeOutcomes,
    *,
    group: npt.ArrayLike | None = None,
    n_groups: int | None = None,
    z: float = 1.96,
    suppression_threshold: int = DEFAULT_SUPPRESSION_THRESHOLD,
    keep_zero: bool = False,
) -> ServiceRates:
    """Recovery, reliable recovery, reliable improvement and deterioration rates.

    Denominators (methods.md §2.3; NHS Digital worked examples: recovery
    27,884 / (57,060 − 3,200) = 51.8 %, reliable improvement 39,417 / 57,060
    = 69.1 %)::

        recovery, reliable recovery        : eligible - not a case at start
        reliable improvement, deterioration: eligible

    where eligible = finished a course of treatment and computable (paired
    scores at the start and the end).

    Parameters
    ----------
    outcomes
        From `episode_outcomes`.
    group
        Optional integer code (>= 0) per episode — service, therapist, period —
        to compute the rates for every group at once. Default ``None``: one group.
    n_groups
        Number of groups (to include groups without episodes). Default
        ``max(group) + 1``.
    z
        Wilson interval quantile; default 1.96 (95 %).
    suppression_threshold
        Rates whose numerator or denominator is below this are flagged
        ``suppressed``. Default 10.
    keep_zero
        Do not suppress zero counts (see `twostep.analytics.intervals.is_suppressed`).

    Returns
    -------
    ServiceRates
        Arrays of length ``n_groups`` (1 without ``group``).

    Raises
    ------
    AnalysisError
        If ``group`` is not one non-negative integer code per episode.
    ConfigurationError
        If ``n_groups`` is smaller than the largest code + 1.
    """
    counts = outcome_counts(outcomes, group=group, n_groups=n_groups)
    return rates_from_counts(
        counts, z=z, suppression_threshold=suppression_threshold, keep_zero=keep_zero
    )


@dataclass(frozen=True, eq=False)
class OutcomeCounts:
    """The counts behind `ServiceRates`, per group: sums, so they merge across buckets.

    ``recovery`` … ``reliable_deterioration`` count eligible episodes with that
    outcome; the denominators follow from ``n_finished`` and
    ``n_not_case_at_start`` (see `service_rates`).
    """

    n_finished: IntArray
    n_not_case_at_start: IntArray
    recovery: IntArray
    reliable_recovery: IntArray
    reliable_improvement: IntArray
    reliable_deterioration: IntArray
    n_finished_not_computable: IntArray

    def merge(self, other: OutcomeCounts) -> OutcomeCounts:
        """Element-wise sum (same groups in the same order)."""
        if self.n_finished.shape != other.n_finished.shape:
            raise ConfigurationError("cannot merge outcome counts of different groups")
        return OutcomeCounts(*(getattr(self, f) + getattr(other, f) for f in OUTCOME_COUNT_FIELDS))


OUTCOME_COUNT_FIELDS: tuple[str, ...] = (
    "n_finished",
    "n_not_case_at_start",
    "recovery",
    "reliable_recovery",
    "reliable_improvement",
    "reliable_deterioration",
    "n_finished_not_computable",
)


def outcome_counts(
    outcomes: EpisodeOutcomes,
    *,
    group: npt.ArrayLike | None = None,
    n_groups: int | None = None,
) -> OutcomeCounts:
    """Tally `EpisodeOutcomes` per group (arguments as in `service_rates`)."""
    n = outcomes.eligible.size
    if group is None:
        codes = np.zeros(n, dtype=np.int64)
        count = 1 if n_groups is None else n_groups
    else:
        g = np.asarray(group)
        if g.shape != outcomes.eligible.shape or (
            g.size and (not np.issubdtype(g.dtype, np.integer) or g.min() < 0)
        ):
            raise AnalysisError("group must hold one non-negative integer code per episode")
        codes = g.ravel().astype(np.int64)
        count = int(codes.max()) + 1 if codes.size else 0
        if n_groups is not None:
            if n_groups < count:
                raise ConfigurationError(f"n_groups={n_groups} but codes go up to {count - 1}")
            count = n_groups

    def tally(mask: BoolArray) -> IntArray:
        return np.bincount(codes, weights=mask.ravel(), minlength=count).astype(np.int64)

    eligible = outcomes.eligible
    return OutcomeCounts(
        n_finished=tally(eligible),
        n_not_case_at_start=tally(eligible & ~outcomes.case_pre),
        recovery=tally(eligible & outcomes.recovery),
        reliable_recovery=tally(eligible & outcomes.reliable_recovery),
        reliable_improvement=tally(eligible & outcomes.reliable_improvement),
        reliable_deterioration=tally(eligible & outcomes.reliable_deterioration),
        n_finished_not_computable=tally(outcomes.finished_treatment & ~outcomes.computable),
    )


def rates_from_counts(
    counts: OutcomeCounts,
    *,
    z: float = 1.96,
    suppression_threshold: int = DEFAULT_SUPPRESSION_THRESHOLD,
    keep_zero: bool = False,
) -> ServiceRates:
    """`ServiceRates` from (merged) `OutcomeCounts` — what `service_rates` computes."""
    recovery_base = counts.n_finished - counts.n_not_case_at_start

    def rate(numerator: IntArray, denominator: IntArray) -> Rate:
        return _rate(numerator, denominator, z, suppression_threshold, keep_zero)

    return ServiceRates(
        recovery=rate(counts.recovery, recovery_base),
        reliable_recovery=rate(counts.reliable_recovery, recovery_base),
        reliable_improvement=rate(counts.reliable_improvement, counts.n_finished),
        reliable_deterioration=rate(counts.reliable_deterioration, counts.n_finished),
        n_finished=counts.n_finished,
        n_not_case_at_start=counts.n_not_case_at_start,
        n_finished_not_computable=counts.n_finished_not_computable,
    )
