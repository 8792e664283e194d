"""Reliable change: thresholds, the Jacobson–Truax index and its alternatives.

Everything here follows ``methods.md`` §0 (conventions) and §1.1/§1.4. All
functions work on whole arrays (one element per client or per pre/post pair).

Sign convention
---------------
``methods.md`` writes every index in the *severity* orientation
(``x2 - x1``: positive = worse). The indices returned here are signed so that
**positive = improvement** (``design.md``: "rci is signed so that positive =
improvement"), whatever the instrument's direction: pass
``higher_is_better=True`` for instruments such as ORS or WEMWBS.

Two kinds of threshold (``methods.md`` §0)
-----------------------------------------
* fixed published thresholds (PHQ-9 6, GAD-7 4 in NHS Talking Therapies):
  a change is reliable iff ``|Δ| >= RC``;
* computed Jacobson–Truax thresholds ``RC_raw = z * S_diff``: reliable iff
  ``|Δ| > RC_raw``; for integer scales the smallest qualifying integer
  ``floor(RC_raw) + 1`` is stored next to ``RC_raw``.

`ReliableChangeThreshold` holds either kind and knows which comparison to use.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import overload

import numpy as np
import numpy.typing as npt

from twostep.errors import AnalysisError, ConfigurationError

__all__ = [
    "Z_HAGEMAN_ARRINDELL",
    "Z_TWO_TAILED_95",
    "RCIMethod",
    "RCIResult",
    "ReliableChangeThreshold",
    "edwards_nunnally",
    "gulliksen_lord_novick",
    "hageman_arrindell",
    "hsu_linn_nord",
    "jacobson_truax",
    "nunnally_kotsch",
    "rci",
    "reliable_change_index",
    "standard_error_of_difference",
    "standard_error_of_measurement",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Two-tailed p < .05 critical value (Jacobson & Truax 1991; methods.md §0 "Key engine defaults").
Z_TWO_TAILED_95 = 1.96
#: Critical value used by Hageman & Arrindell (1999) for RC_ID (methods.md §1.4).
Z_HAGEMAN_ARRINDELL = 1.65

#: Values closer than this to a *fixed* threshold count as equal to it, so that
#: binary floating-point error in decimal scores (e.g. the Mobility Inventory's
#: RC of 0.73) cannot turn a change of exactly RC into "not reliable".
FIXED_THRESHOLD_TOLERANCE = 1e-9


# --------------------------------------------------------------------------- helpers


def _as_float(values: npt.ArrayLike, name: str) -> FloatArray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AnalysisError(f"{name} must be numeric") from exc


def _pair(pre: npt.ArrayLike, post: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    a = _as_float(pre, "pre")
    b = _as_float(post, "post")
    try:
        a_b, b_b = np.broadcast_arrays(a, b)
    except ValueError as exc:
        raise AnalysisError(
            f"pre and post have incompatible shapes {a.shape} and {b.shape}"
        ) from exc
    return np.array(a_b, dtype=np.float64), np.array(b_b, dtype=np.float64)


def _check_positive(value: FloatArray, name: str) -> None:
    if value.size and (not np.all(np.isfinite(value)) or np.any(value <= 0)):
        raise ConfigurationError(f"{name} must be finite and > 0 (got {value.tolist()!r})")


def _check_reliability(value: FloatArray, name: str = "reliability") -> None:
    if value.size and (not np.all(np.isfinite(value)) or np.any(value < 0) or np.any(value >= 1)):
        raise ConfigurationError(
            f"{name} must satisfy 0 <= r < 1 (got {value.tolist()!r}); "
            "r >= 1 would make the standard error of measurement zero"
        )


def _check_z(z: float, name: str = "z") -> float:
    if not math.isfinite(z) or z <= 0:
        raise ConfigurationError(f"{name} must be finite and > 0 (got {z!r})")
    return float(z)


def _orient(raw_severity_index: FloatArray, higher_is_better: bool) -> FloatArray:
    """Turn an index computed as ``(x2 - ...)`` into "positive = improvement".

    For a lower-is-better scale an increase is a worsening, so the sign flips;
    for a higher-is-better scale the raw ``x2 - x1`` sign already means
    improvement.
    """
    return raw_severity_index if higher_is_better else -raw_severity_index


def _scalar_or_array(out: FloatArray) -> float | FloatArray:
    return float(out) if out.ndim == 0 else out


# ------------------------------------------------------------- standard errors


@overload
def standard_error_of_measurement(sd: float, reliability: float) -> float: ...
@overload
def standard_error_of_measurement(sd: npt.ArrayLike, reliability: npt.ArrayLike) -> FloatArray: ...
def standard_error_of_measurement(
    sd: npt.ArrayLike, reliability: npt.ArrayLike
) -> float | FloatArray:
    """Standard error of measurement, ``SE = s1 * sqrt(1 - r_xx)``.

    Parameters
    ----------
    sd
        ``s1``: SD of the pre-treatment (clinical) sample or of a normative
        sample (methods.md §1.1). Must be > 0.
    reliability
        ``r_xx``: test–retest or internal-consistency reliability, ``0 <= r < 1``
        (record which one was used).

    Returns
    -------
    float or ndarray
        A float for scalar inputs, otherwise an array broadcast from the inputs.

    Raises
    ------
    ConfigurationError
        If ``sd <= 0`` or ``reliability`` is outside ``[0, 1)``.

    References
    ----------
    Jacobson, N. S., & Truax, P. (1991). *JCCP 59*(1), 12–19.
    doi:10.1037/0022-006X.59.1.12
    """
    s = _as_float(sd, "sd")
    r = _as_float(reliability, "reliability")
    _check_positive(s, "sd")
    _check_reliability(r)
    return _scalar_or_array(np.asarray(s * np.sqrt(1.0 - r), dtype=np.float64))


@overload
def standard_error_of_difference(sd: float, reliability: float) -> float: ...
@overload
def standard_error_of_difference(sd: npt.ArrayLike, reliability: npt.ArrayLike) -> FloatArray: ...
def standard_error_of_difference(
    sd: npt.ArrayLike, reliability: npt.ArrayLike
) -> float | FloatArray:
    """Standard error of the difference, ``S_diff = sqrt(2 * SE^2) = s1 * sqrt(2 * (1 - r_xx))``.

    This is the Christensen & Mendoza (1986) correction used by Jacobson &
    Truax (1991): the denominator of the RCI is the SE of a *difference* of two
    scores, not the SE of one score (methods.md §1.1, §1.4).

    Parameters
    ----------
    sd
        ``s1``, as in `standard_error_of_measurement`. Must be > 0.
    reliability
        ``r_xx``, ``0 <= r < 1``.

    Raises
    ------
    ConfigurationError
        If ``sd <= 0`` or ``reliability`` is outside ``[0, 1)``.

    References
    ----------
    Jacobson & Truax (1991), *JCCP 59*, 12–19. Christensen, L., & Mendoza,
    J. L. (1986), *Behavior Therapy 17*, 305–308.
    """
    s = _as_float(sd, "sd")
    r = _as_float(reliability, "reliability")
    _check_positive(s, "sd")
    _check_reliability(r)
    # s1 * sqrt(2 (1 - r)) rather than sqrt(2) * SE: one rounding fewer, so that
    # e.g. sd = 10, r = .5 gives exactly 10 (matters for floor(RC_raw) + 1).
    return _scalar_or_array(np.asarray(s * np.sqrt(2.0 * (1.0 - r)), dtype=np.float64))


# ------------------------------------------------------------------ thresholds


@dataclass(frozen=True)
class ReliableChangeThreshold:
    """A reliable-change threshold in raw points, and how to compare with it.

    Build one with `fixed` (a published RC such as PHQ-9 = 6) or
    `jacobson_truax` (``RC_raw = z * S_diff``).

    Attributes
    ----------
    threshold
        The threshold in raw points: the published RC, or the real-valued
        ``RC_raw`` for Jacobson–Truax.
    strict
        ``True`` for computed J&T thresholds (reliable iff ``|Δ| > RC_raw``),
        ``False`` for fixed published thresholds (reliable iff ``|Δ| >= RC``).
    method
        ``"fixed"`` or ``"jacobson_truax"``.
    source
        Where the number comes from (citation or "local data, 2024 intake").
    se, s_diff, rc_raw, rc_integer, z, sd, reliability
        The J&T ingredients (``None`` for fixed thresholds). ``rc_integer`` is
        ``floor(RC_raw) + 1``, set only for integer-scored scales: for integer
        changes ``|Δ| > RC_raw`` is the same as ``|Δ| >= rc_integer``.
    """

    threshold: float
    strict: bool
    method: str = "fixed"
    source: str = ""
    se: float | None = None
    s_diff: float | None = None
    rc_raw: float | None = None
    rc_integer: int | None = None
    z: float | None = None
    sd: float | None = None
    reliability: float | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.threshold) or self.threshold <= 0:
            raise ConfigurationError(
                f"a reliable-change threshold must be finite and > 0 (got {self.threshold!r})"
            )

    @classmethod
    def fixed(cls, rc: float, source: str) -> ReliableChangeThreshold:
        """A fixed published threshold: a change is reliable iff ``|Δ| >= rc``.

        Parameters
        ----------
        rc
            The published reliable-change value in raw points (> 0), e.g. 6 for
            PHQ-9 and 4 for GAD-7 in NHS Talking Therapies (methods.md §2.2).
        source
            Citation recorded with every signal that uses it.
        """
        return cls(threshold=float(rc), strict=False, method="fixed", source=source)

    @classmethod
    def jacobson_truax(
        cls,
        sd: float,
        reliability: float,
        *,
        z: float = Z_TWO_TAILED_95,
        integer_scale: bool = False,
        source: str = "Jacobson & Truax (1991)",
    ) -> ReliableChangeThreshold:
        """A computed Jacobson–Truax threshold ``RC_raw = z * s1 * sqrt(2 * (1 - r_xx))``.

        A change is reliable iff ``|Δ| > RC_raw`` (equivalently ``|RCI| > z``).

        Parameters
        ----------
        sd
            ``s1``: SD of the pre-treatment or normative sample (> 0). Never the
            patient's own SD (methods.md §1.1).
        reliability
            ``r_xx`` with ``0 <= r < 1``.
        z
            Critical value; default 1.96 (two-tailed p < .05). 1.645 only for
            research comparisons (methods.md §1.1).
        integer_scale
            ``True`` for integer-scored totals (PHQ-9, GAD-7, CORE-10 ...): also
            store ``rc_integer = floor(RC_raw) + 1``, the smallest integer change
            that qualifies (methods.md §0/§1.1). Default ``False``.
        source
            Citation or description of where ``sd`` and ``reliability`` come from.

        Raises
        ------
        ConfigurationError
            If ``sd <= 0``, ``reliability`` is outside ``[0, 1)`` or ``z <= 0``.
        """
        z = _check_z(z)
        se = standard_error_of_measurement(float(sd), float(reliability))
        s_diff = standard_error_of_difference(float(sd), float(reliability))
        rc_raw = z * s_diff
        return cls(
            threshold=rc_raw,
            strict=True,
            method="jacobson_truax",
            source=source,
            se=se,
            s_diff=s_diff,
            rc_raw=rc_raw,
            rc_integer=math.floor(rc_raw) + 1 if integer_scale else None,
            z=z,
            sd=float(sd),
            reliability=float(reliability),
        )

    def is_reliable(self, delta: npt.ArrayLike) -> BoolArray:
        """Whether each change ``Δ = post - pre`` is reliable (either direction).

        Strict thresholds: ``|Δ| > threshold``; fixed thresholds:
        ``|Δ| >= threshold`` (with a 1e-9-point tolerance for decimal scores).
        Missing (NaN) changes are ``False``.
        """
        d = np.abs(_as_float(delta, "delta"))
        if self.strict:
            out = d > self.threshold
        else:
            out = d >= self.threshold - FIXED_THRESHOLD_TOLERANCE * max(1.0, self.threshold)
        return np.asarray(out & np.isfinite(d), dtype=np.bool_)

    def is_reliable_improvement(
        self, delta: npt.ArrayLike, *, higher_is_better: bool = False
    ) -> BoolArray:
        """Reliable change in the better direction (a decrease unless ``higher_is_better``)."""
        d = _as_float(delta, "delta")
        better = d > 0 if higher_is_better else d < 0
        return np.asarray(self.is_reliable(d) & better, dtype=np.bool_)

    def is_reliable_deterioration(
        self, delta: npt.ArrayLike, *, higher_is_better: bool = False
    ) -> BoolArray:
        """Reliable change in the worse direction (an increase unless ``higher_is_better``)."""
        d = _as_float(delta, "delta")
        worse = d < 0 if higher_is_better else d > 0
        return np.asarray(self.is_reliable(d) & worse, dtype=np.bool_)


# ------------------------------------------------------------------------- RCI


def rci(
    pre: npt.ArrayLike,
    post: npt.ArrayLike,
    s_diff: npt.ArrayLike,
    *,
    higher_is_better: bool = False,
) -> FloatArray:
    """Jacobson–Truax reliable change index, signed so that positive = improvement.

    ``RCI = (x2 - x1) / S_diff`` (methods.md §1.1) is computed in the
    instrument's native scale and its sign flipped for lower-is-better scales,
    i.e. ``(x1 - x2) / S_diff`` when ``higher_is_better`` is ``False``.

    Parameters
    ----------
    pre, post
        Pre (``x1``) and post (``x2``) scores; broadcast against each other.
    s_diff
        Standard error of the difference (`standard_error_of_difference`);
        scalar or one value per pair (different instruments), > 0.
    higher_is_better
        ``True`` for instruments where higher scores are better. Default ``False``.

    Returns
    -------
    ndarray of float
        NaN where ``pre`` or ``post`` is missing.

    Raises
    ------
    ConfigurationError
        If any ``s_diff`` is not finite and > 0.
    """
    x1, x2 = _pair(pre, post)
    sd = _as_float(s_diff, "s_diff")
    _check_positive(sd, "s_diff")
    with np.errstate(invalid="ignore"):
        return np.asarray(_orient((x2 - x1) / sd, higher_is_better), dtype=np.float64)


class RCIMethod(StrEnum):
    """Reliable-change methods (methods.md §1.1 and §1.4)."""

    JT = "jacobson_truax"
    EN = "edwards_nunnally"
    GLN = "gulliksen_lord_novick"
    HLL = "hsu_linn_nord"
    NK = "nunnally_kotsch"
    HA = "hageman_arrindell"


@dataclass(frozen=True, eq=False)
class RCIResult:
    """A reliable-change index per pair and its classification.

    Attributes
    ----------
    index
        The index, signed so that positive = improvement; NaN where a score is
        missing.
    reliable
        ``|index| > critical_value`` (``False`` where missing).
    improved, deteriorated
        ``index > critical_value`` and ``index < -critical_value``.
    critical_value
        1.96 for every method except Hageman–Arrindell (1.65).
    method
        Which `RCIMethod` produced it.
    higher_is_better
        The orientation the flags were computed for.
    parameters
        The population values actually used (``m_pre``, ``sd_pre``,
        ``reliability``, ``r_dd`` ...), for traceability.
    """

    index: FloatArray
    reliable: BoolArray
    improved: BoolArray
    deteriorated: BoolArray
    critical_value: float
    method: RCIMethod
    higher_is_better: bool
    parameters: Mapping[str, float] = field(default_factory=dict)


def _result(
    index: FloatArray,
    critical_value: float,
    method: RCIMethod,
    higher_is_better: bool,
    parameters: Mapping[str, float],
) -> RCIResult:
    finite = np.isfinite(index)
    improved = np.asarray(finite & (index > critical_value), dtype=np.bool_)
    deteriorated = np.asarray(finite & (index < -critical_value), dtype=np.bool_)
    return RCIResult(
        index=index,
        reliable=np.asarray(improved | deteriorated, dtype=np.bool_),
        improved=improved,
        deteriorated=deteriorated,
        critical_value=critical_value,
        method=method,
        higher_is_better=higher_is_better,
        parameters=dict(parameters),
    )


@dataclass(frozen=True)
class _Sample:
    m_pre: float
    sd_pre: float
    m_post: float
    sd_post: float
    r_pre_post: float


def _sample(x1: FloatArray, x2: FloatArray, needed: str) -> _Sample:
    """Population values estimated from the complete pairs of the batch itself."""
    ok = np.isfinite(x1) & np.isfinite(x2)
    a, b = x1[ok], x2[ok]
    if a.size < 2:
        raise AnalysisError(
            f"{needed} was not given and cannot be estimated from fewer than 2 complete "
            f"pre/post pairs (got {a.size})"
        )
    sd_a, sd_b = float(np.std(a, ddof=1)), float(np.std(b, ddof=1))
    r12 = float(np.corrcoef(a, b)[0, 1]) if sd_a > 0 and sd_b > 0 else math.nan
    return _Sample(float(np.mean(a)), sd_a, float(np.mean(b)), sd_b, r12)


def _population_value(given: float | None, estimated: float, name: str) -> float:
    value = estimated if given is None else float(given)
    if not math.isfinite(value):
        raise AnalysisError(f"{name} is undefined for this sample")
    return value


def _positive_population_value(given: float | None, estimated: float, name: str) -> float:
    value = _population_value(given, estimated, name)
    if value <= 0:
        error = ConfigurationError if given is not None else AnalysisError
        raise error(f"{name} must be > 0 (got {value!r})")
    return value


def jacobson_truax(
    pre: npt.ArrayLike,
    post: npt.ArrayLike,
    *,
    reliability: float,
    sd_pre: float | None = None,
    critical_value: float = Z_TWO_TAILED_95,
    higher_is_better: bool = False,
) -> RCIResult:
    """Jacobson–Truax RCI with its reliable flag.

    ``SE = s1 sqrt(1 - r)``, ``S_diff = sqrt(2 SE²)``, ``RCI = (x2 - x1) / S_diff``,
    reliable iff ``|RCI| > 1.96`` (methods.md §1.1). The returned index is
    signed so that positive = improvement.

    Parameters
    ----------
    pre, post
        Pre and post scores (NaN = missing → NaN index, not reliable).
    reliability
        ``r_xx``, ``0 <= r < 1``.
    sd_pre
        ``s1``. Default ``None``: the SD (ddof = 1) of the pre scores of the
        complete pairs in this batch, as the R package ``clinicalsignificance``
        does. Pass a normative or service-level SD for single clients.
    critical_value
        Default 1.96.
    higher_is_better
        Instrument direction. Default ``False``.

    References
    ----------
    Jacobson & Truax (1991), *JCCP 59*, 12–19.
    """
    x1, x2 = _pair(pre, post)
    s1 = (
        float(sd_pre)
        if sd_pre is not None
        else _positive_population_value(None, _sample(x1, x2, "sd_pre").sd_pre, "sd_pre")
    )
    cv = _check_z(critical_value, "critical_value")
    s_diff = standard_error_of_difference(s1, float(reliability))
    index = rci(x1, x2, s_diff, higher_is_better=higher_is_better)
    params = {"sd_pre": s1, "reliability": float(reliability), "s_diff": s_diff}
    return _result(index, cv, RCIMethod.JT, higher_is_better, params)


def edwards_nunnally(
    pre: npt.ArrayLike,
    post: npt.ArrayLike,
    *,
    reliability: float,
    m_pre: float | None = None,
    sd_pre: float | None = None,
    critical_value: float = Z_TWO_TAILED_95,
    higher_is_better: bool = False,
) -> RCIResult:
    """Edwards–Nunnally index (Speer's 1992 reformulation), corrected for regression to the mean.

    ``T_pre = r (x1 - M_pre) + M_pre`` (estimated true pre score),
    ``SE = s_pre sqrt(1 - r)``, ``RC_EN = (x2 - T_pre) / SE``; reliable iff
    ``|RC_EN| > 1.96`` (methods.md §1.4; the original rule "post outside
    ``T_pre ± 2 SE``" is ``critical_value=2``). Returned with positive =
    improvement.

    Parameters
    ----------
    pre, post
        Pre and post scores.
    reliability
        ``r``, ``0 <= r < 1``.
    m_pre, sd_pre
        Pre-test population mean and SD. Default ``None``: estimated from the
        complete pairs of this batch (mean, SD with ddof = 1).
    critical_value
        Default 1.96.
    higher_is_better
        Instrument direction. Default ``False``.

    References
    ----------
    Speer, D. C. (1992). *JCCP 60*, 402–408. Edwards, D. W., Yarvis, R. M.,
    Mueller, D. P., Zingale, H. C., & Wagman, W. J. (1978).
    """
    x1, x2 = _pair(pre, post)
    r = float(reliability)
    _check_reliability(np.asarray(r))
    est = _sample(x1, x2, "m_pre/sd_pre") if m_pre is None or sd_pre is None else None
    m = _population_value(m_pre, est.m_pre if est else math.nan, "m_pre")
    s = _positive_population_value(sd_pre, est.sd_pre if est else math.nan, "sd_pre")
    cv = _check_z(critical_value, "critical_value")
    se = standard_error_of_measurement(s, r)
    t_pre = r * (x1 - m) + m
    index = _orient((x2 - t_pre) / se, higher_is_better)
    params = {"m_pre": m, "sd_pre": s, "reliability": r, "se": se}
    return _result(index, cv, RCIMethod.EN, higher_is_better, params)


def gulliksen_lord_novick(
    pre: npt.ArrayLike,
    post: npt.ArrayLike,
    *,
    reliability: float,
    m_pre: float | None = None,
    sd_pre: float | None = None,
    critical_value: float = Z_TWO_TAILED_95,
    higher_is_better: bool = False,
) -> RCIResult:
    """Gulliksen–Lord–Novick index.

    ``RC_GLN = [(x2 - M_pre) - r (x1 - M_pre)] / (s_pre sqrt(1 - r²))``,
    reliable iff ``|RC_GLN| > 1.96`` (methods.md §1.4). Positive = improvement.

    Parameters
    ----------
    pre, post
        Pre and post scores.
    reliability
        ``r``, ``0 <= r < 1``.
    m_pre, sd_pre
        Pre-test population mean and SD; default ``None`` = estimated from the
        complete pairs of this batch.
    critical_value
        Default 1.96.
    higher_is_better
        Instrument direction. Default ``False``.

    References
    ----------
    Hsu, L. M. (1989). *Behavioral Assessment 11*, 459–467; Hsu, L. M. (1995).
    *JCCP 63*, 141–144.
    """
    x1, x2 = _pair(pre, post)
    r = float(reliability)
    _check_reliability(np.asarray(r))
    est = _sample(x1, x2, "m_pre/sd_pre") if m_pre is None or sd_pre is None else None
    m = _population_value(m_pre, est.m_pre if est else math.nan, "m_pre")
    s = _positive_population_value(sd_pre, est.sd_pre if est else math.nan, "sd_pre")
    cv = _check_z(critical_value, "critical_value")
    se_pred = s * math.sqrt(1.0 - r**2)
    index = _orient(((x2 - m) - r * (x1 - m)) / se_pred, higher_is_better)
    params = {"m_pre": m, "sd_pre": s, "reliability": r, "se_prediction": se_pred}
    return _result(index, cv, RCIMethod.GLN, higher_is_better, params)


def hsu_linn_nord(
    pre: npt.ArrayLike,
    post: npt.ArrayLike,
    *,
    reliability: float,
    m_pre: float | None = None,
    sd_pre: float | None = None,
    m_post: float | None = None,
    critical_value: float = Z_TWO_TAILED_95,
    higher_is_better: bool = False,
) -> RCIResult:
    """Hsu–Linn–Nord (HLL) index: GLN with the post-test mean for the post term.

    ``RC_HLL = [(x2 - M_post) - r (x1 - M_pre)] / (s_pre sqrt(1 - r²))``,
    reliable iff ``|RC_HLL| > 1.96`` (methods.md §1.4). Because it removes the
    group's mean change, about as many clients "improve" as "deteriorate".
    Positive = improvement.

    Parameters
    ----------
    pre, post
        Pre and post scores.
    reliability
        ``r``, ``0 <= r < 1``.
    m_pre, sd_pre, m_post
        Population values; default ``None`` = estimated from the complete pairs.
    critical_value
        Default 1.96.
    higher_is_better
        Instrument direction. Default ``False``.

    References
    ----------
    Hsu, L. M. (1989), *Behavioral Assessment 11*, 459–467; Hsu (1995), *JCCP 63*, 141–144.
    """
    x1, x2 = _pair(pre, post)
    r = float(reliability)
    _check_reliability(np.asarray(r))
    need = m_pre is None or sd_pre is None or m_post is None
    est = _sample(x1, x2, "m_pre/sd_pre/m_post") if need else None
    m1 = _population_value(m_pre, est.m_pre if est else math.nan, "m_pre")
    s = _positive_population_value(sd_pre, est.sd_pre if est else math.nan, "sd_pre")
    m2 = _population_value(m_post, est.m_post if est else math.nan, "m_post")
    cv = _check_z(critical_value, "critical_value")
    se_pred = s * math.sqrt(1.0 - r**2)
    index = _orient(((x2 - m2) - r * (x1 - m1)) / se_pred, higher_is_better)
    params = {"m_pre": m1, "sd_pre": s, "m_post": m2, "reliability": r, "se_prediction": se_pred}
    return _result(index, cv, RCIMethod.HLL, higher_is_better, params)


def nunnally_kotsch(
    pre: npt.ArrayLike,
    post: npt.ArrayLike,
    *,
    reliability: float,
    reliability_post: float | None = None,
    m_pre: float | None = None,
    sd_pre: float | None = None,
    critical_value: float = Z_TWO_TAILED_95,
    higher_is_better: bool = False,
) -> RCIResult:
    """Nunnally–Kotsch index: Edwards–Nunnally with a two-reliability denominator.

    ``T_pre = r (x1 - M_pre) + M_pre``,
    ``RC_NK = (x2 - T_pre) / sqrt(r² s² (1 - r) + s² (1 - r_post))`` with
    ``s = s_pre``; reliable iff ``|RC_NK| > 1.96`` (methods.md §1.4).
    Positive = improvement.

    Parameters
    ----------
    pre, post
        Pre and post scores.
    reliability
        Pre-test reliability ``r``, ``0 <= r < 1``.
    reliability_post
        Post-test reliability ``r_post``. Default ``None`` = same as
        ``reliability`` (what the R package does, with a warning, when it is
        not given).
    m_pre, sd_pre
        Pre-test population values; default ``None`` = estimated from the
        complete pairs.
    critical_value
        Default 1.96.
    higher_is_better
        Instrument direction. Default ``False``.

    References
    ----------
    Nunnally, J. C., & Kotsch, W. E. (1983). *Br J Clin Psychol 22*, 83–93.
    """
    x1, x2 = _pair(pre, post)
    r = float(reliability)
    r_post = r if reliability_post is None else float(reliability_post)
    _check_reliability(np.asarray(r))
    _check_reliability(np.asarray(r_post), "reliability_post")
    est = _sample(x1, x2, "m_pre/sd_pre") if m_pre is None or sd_pre is None else None
    m = _population_value(m_pre, est.m_pre if est else math.nan, "m_pre")
    s = _positive_population_value(sd_pre, est.sd_pre if est else math.nan, "sd_pre")
    cv = _check_z(critical_value, "critical_value")
    denominator = math.sqrt(r**2 * s**2 * (1.0 - r) + s**2 * (1.0 - r_post))
    t_pre = r * (x1 - m) + m
    index = _orient((x2 - t_pre) / denominator, higher_is_better)
    params = {
        "m_pre": m,
        "sd_pre": s,
        "reliability": r,
        "reliability_post": r_post,
        "denominator": denominator,
    }
    return _result(index, cv, RCIMethod.NK, higher_is_better, params)


def hageman_arrindell(
    pre: npt.ArrayLike,
    post: npt.ArrayLike,
    *,
    reliability: float,
    reliability_post: float | None = None,
    m_pre: float | None = None,
    sd_pre: float | None = None,
    m_post: float | None = None,
    sd_post: float | None = None,
    r_pre_post: float | None = None,
    critical_value: float = Z_HAGEMAN_ARRINDELL,
    higher_is_better: bool = False,
) -> RCIResult:
    """Hageman & Arrindell (1999) RC_ID, using the reliability of difference scores.

    ``r_dd = (s1² r1 + s2² r2 - 2 s1 s2 r12) / (s1² + s2² - 2 s1 s2 r12)``,
    ``RC_ID = [(x2 - x1) r_dd + (M2 - M1)(1 - r_dd)] / (sqrt(r_dd) sqrt(2 SE²))``,
    critical value 1.65 (methods.md §1.4). A research option: it needs
    sample-level pre/post statistics. Positive = improvement.

    ``SE`` is the pre-test standard error of measurement ``s1 sqrt(1 - r1)``
    (methods.md leaves it open; this is what the R package does).

    Parameters
    ----------
    pre, post
        Pre and post scores.
    reliability
        ``r1``, pre-test reliability, ``0 <= r < 1``.
    reliability_post
        ``r2``. Default ``None`` = derived from the same error variance as the
        pre test, ``r2 = (s2² - SE²) / s2²`` (as the R package
        ``clinicalsignificance`` does).
    m_pre, sd_pre, m_post, sd_post, r_pre_post
        ``M1, s1, M2, s2, r12``; default ``None`` = estimated from the complete
        pairs of this batch (means, SDs with ddof = 1, Pearson correlation).
    critical_value
        Default 1.65.
    higher_is_better
        Instrument direction. Default ``False``.

    Raises
    ------
    AnalysisError
        If ``r_dd <= 0`` (the index is undefined) or ``r2`` would be negative.

    References
    ----------
    Hageman, W. J., & Arrindell, W. A. (1999). *Behav Res Ther 37*, 1169–1193.
    """
    x1, x2 = _pair(pre, post)
    r1 = float(reliability)
    _check_reliability(np.asarray(r1))
    need = any(v is None for v in (m_pre, sd_pre, m_post, sd_post, r_pre_post))
    est = _sample(x1, x2, "the pre/post sample statistics") if need else None
    m1 = _population_value(m_pre, est.m_pre if est else math.nan, "m_pre")
    s1 = _positive_population_value(sd_pre, est.sd_pre if est else math.nan, "sd_pre")
    m2 = _population_value(m_post, est.m_post if est else math.nan, "m_post")
    s2 = _positive_population_value(sd_post, est.sd_post if est else math.nan, "sd_post")
    r12 = _population_value(r_pre_post, est.r_pre_post if est else math.nan, "r_pre_post")
    if not -1.0 <= r12 <= 1.0:
        raise ConfigurationError(f"r_pre_post must lie in [-1, 1] (got {r12!r})")
    cv = _check_z(critical_value, "critical_value")
    se = standard_error_of_measurement(s1, r1)
    if reliability_post is None:
        r2 = (s2**2 - se**2) / s2**2
        if r2 < 0:
            raise AnalysisError(
                f"the derived post-test reliability is negative ({r2:.3f}); pass reliability_post"
            )
    else:
        r2 = float(reliability_post)
        _check_reliability(np.asarray(r2), "reliability_post")
    denominator_dd = s1**2 + s2**2 - 2.0 * s1 * s2 * r12
    if denominator_dd <= 0:
        raise AnalysisError("r_dd is undefined: the difference scores have no variance")
    r_dd = (s1**2 * r1 + s2**2 * r2 - 2.0 * s1 * s2 * r12) / denominator_dd
    if r_dd <= 0:
        raise AnalysisError(
            f"the reliability of the difference scores r_dd = {r_dd:.3f} is not positive; "
            "RC_ID is undefined"
        )
    numerator = (x2 - x1) * r_dd + (m2 - m1) * (1.0 - r_dd)
    index = _orient(numerator / (math.sqrt(r_dd) * math.sqrt(2.0 * se**2)), higher_is_better)
    params = {
        "m_pre": m1,
        "sd_pre": s1,
        "m_post": m2,
        "sd_post": s2,
        "r_pre_post": r12,
        "reliability": r1,
        "reliability_post": r2,
        "r_dd": r_dd,
        "se": se,
    }
    return _result(index, cv, RCIMethod.HA, higher_is_better, params)


_ACCEPTS: dict[RCIMethod, frozenset[str]] = {
    RCIMethod.JT: frozenset({"sd_pre"}),
    RCIMethod.EN: frozenset({"m_pre", "sd_pre"}),
    RCIMethod.GLN: frozenset({"m_pre", "sd_pre"}),
    RCIMethod.HLL: frozenset({"m_pre", "sd_pre", "m_post"}),
    RCIMethod.NK: frozenset({"m_pre", "sd_pre", "reliability_post"}),
    RCIMethod.HA: frozenset(
        {"m_pre", "sd_pre", "m_post", "sd_post", "reliability_post", "r_pre_post"}
    ),
}


def reliable_change_index(
    pre: npt.ArrayLike,
    post: npt.ArrayLike,
    *,
    method: RCIMethod | str = RCIMethod.JT,
    reliability: float,
    higher_is_better: bool = False,
    critical_value: float | None = None,
    m_pre: float | None = None,
    sd_pre: float | None = None,
    m_post: float | None = None,
    sd_post: float | None = None,
    reliability_post: float | None = None,
    r_pre_post: float | None = None,
) -> RCIResult:
    """Dispatch to one of the reliable-change methods of methods.md §1.1/§1.4.

    Parameters
    ----------
    pre, post
        Pre and post scores.
    method
        An `RCIMethod` or its value (``"jacobson_truax"`` — the default —,
        ``"edwards_nunnally"``, ``"gulliksen_lord_novick"``, ``"hsu_linn_nord"``,
        ``"nunnally_kotsch"``, ``"hageman_arrindell"``).
    reliability
        Pre-test reliability, ``0 <= r < 1``.
    higher_is_better
        Instrument direction. Default ``False``.
    critical_value
        Default ``None`` = the method's own (1.96; 1.65 for Hageman–Arrindell).
    m_pre, sd_pre, m_post, sd_post, reliability_post, r_pre_post
        Population values; see the method's function. Passing one the method
        does not use is an error rather than silently ignored.

    Raises
    ------
    ConfigurationError
        For an unknown method or a parameter the method does not use.
    """
    try:
        chosen = RCIMethod(method)
    except ValueError as exc:
        known = ", ".join(m.value for m in RCIMethod)
        raise ConfigurationError(
            f"unknown reliable-change method {method!r} (known: {known})"
        ) from exc
    given = {
        name
        for name, value in {
            "m_pre": m_pre,
            "sd_pre": sd_pre,
            "m_post": m_post,
            "sd_post": sd_post,
            "reliability_post": reliability_post,
            "r_pre_post": r_pre_post,
        }.items()
        if value is not None
    }
    unused = sorted(given - _ACCEPTS[chosen])
    if unused:
        raise ConfigurationError(f"{chosen.value} does not use {', '.join(unused)}")
    cv = Z_HAGEMAN_ARRINDELL if chosen is RCIMethod.HA else Z_TWO_TAILED_95
    if critical_value is not None:
        cv = critical_value
    r, hib = reliability, higher_is_better
    if chosen is RCIMethod.JT:
        return jacobson_truax(
            pre, post, reliability=r, sd_pre=sd_pre, critical_value=cv, higher_is_better=hib
        )
    if chosen is RCIMethod.EN:
        return edwards_nunnally(
            pre,
            post,
            reliability=r,
            m_pre=m_pre,
            sd_pre=sd_pre,
            critical_value=cv,
            higher_is_better=hib,
        )
    if chosen is RCIMethod.GLN:
        return gulliksen_lord_novick(
            pre,
            post,
            reliability=r,
            m_pre=m_pre,
            sd_pre=sd_pre,
            critical_value=cv,
            higher_is_better=hib,
        )
    if chosen is RCIMethod.HLL:
        return hsu_linn_nord(
            pre,
            post,
            reliability=r,
            m_pre=m_pre,
            sd_pre=sd_pre,
            m_post=m_post,
            critical_value=cv,
            higher_is_better=hib,
        )
    if chosen is RCIMethod.NK:
        return nunnally_kotsch(
            pre,
            post,
            reliability=r,
            reliability_post=reliability_post,
            m_pre=m_pre,
            sd_pre=sd_pre,
            critical_value=cv,
            higher_is_better=hib,
        )
    return hageman_arrindell(
        pre,
        post,
        reliability=r,
        reliability_post=reliability_post,
        m_pre=m_pre,
        sd_pre=sd_pre,
        m_post=m_post,
        sd_post=sd_post,
        r_pre_post=r_pre_post,
        critical_value=cv,
        higher_is_better=hib,
    )
