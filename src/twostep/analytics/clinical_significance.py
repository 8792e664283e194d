"""Clinical significance: Jacobson–Truax cut-offs a, b, c and the outcome categories.

``methods.md`` §1.2 (cut-offs) and §1.3 (categories). The cut-off formulas are
written for a lower-is-better scale; ``higher_is_better=True`` flips the signs.
Categories are computed for whole arrays of pre/post pairs at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Literal

import numpy as np
import numpy.typing as npt

from twostep.analytics.reliable_change import (
    FIXED_THRESHOLD_TOLERANCE,
    RCIResult,
    ReliableChangeThreshold,
)
from twostep.errors import AnalysisError, ConfigurationError

__all__ = [
    "CATEGORY_LABELS",
    "Category",
    "ClinicalSignificanceResult",
    "CutoffResult",
    "CutoffType",
    "classify",
    "cutoffs",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
CodeArray = npt.NDArray[np.int8]


class CutoffType(StrEnum):
    """Jacobson & Truax (1991) cut-off types."""

    A = "a"  # beyond 2 SD of the clinical mean
    B = "b"  # within 2 SD of the functional mean
    C = "c"  # equal standardised distance from both means


@dataclass(frozen=True)
class CutoffResult:
    """The three J&T cut-offs, and which one to use.

    Attributes
    ----------
    a
        ``M_c - 2 SD_c`` (lower-is-better) / ``M_c + 2 SD_c`` (higher-is-better).
    b
        ``M_f + 2 SD_f`` / ``M_f - 2 SD_f`` with the **functional** SD; ``None``
        without functional norms.
    c
        ``(SD_c M_f + SD_f M_c) / (SD_c + SD_f)``; ``None`` without functional norms.
    recommended
        ``a`` without functional norms; ``c`` when the distributions overlap;
        ``b`` when they do not (J&T 1991, methods.md §1.2).
    overlap
        Whether the two populations overlap (see `cutoffs`); ``None`` without
        functional norms.
    higher_is_better
        The scale direction the cut-offs were computed for.
    m_clinical, sd_clinical, m_functional, sd_functional
        The population values used (SDs after any true-score adjustment).
    overlap_sd
        Half-width, in SDs, of the ranges compared to decide overlap.
    """

    a: float
    b: float | None
    c: float | None
    recommended: CutoffType
    overlap: bool | None
    higher_is_better: bool
    m_clinical: float
    sd_clinical: float
    m_functional: float | None
    sd_functional: float | None
    overlap_sd: float = 2.0

    @property
    def value(self) -> float:
        """The recommended cut-off."""
        return self.get(self.recommended)

    def get(self, which: CutoffType | str) -> float:
        """The cut-off of type ``which`` (``"a"``, ``"b"`` or ``"c"``).

        Raises
        ------
        ConfigurationError
            For ``b`` or ``c`` without functional norms.
        """
        kind = CutoffType(which)
        value = {CutoffType.A: self.a, CutoffType.B: self.b, CutoffType.C: self.c}[kind]
        if value is None:
            raise ConfigurationError(f"cut-off {kind.value} needs functional-population norms")
        return value


def _finite(value: float, name: str) -> float:
    v = float(value)
    if not math.isfinite(v):
        raise ConfigurationError(f"{name} must be finite (got {value!r})")
    return v


def _positive(value: float, name: str) -> float:
    v = _finite(value, name)
    if v <= 0:
        raise ConfigurationError(f"{name} must be > 0 (got {value!r})")
    return v


def _true_score_sd(sd: float, reliability: float | None, name: str) -> float:
    if reliability is None:
        return sd
    r = _finite(reliability, name)
    if not 0 < r <= 1:
        raise ConfigurationError(f"{name} must satisfy 0 < r <= 1 (got {reliability!r})")
    return sd * math.sqrt(r)


def cutoffs(
    m_clinical: float,
    sd_clinical: float,
    m_functional: float | None = None,
    sd_functional: float | None = None,
    *,
    higher_is_better: bool = False,
    overlap_sd: float = 2.0,
    reliability_clinical: float | None = None,
    reliability_functional: float | None = None,
) -> CutoffResult:
    """Jacobson–Truax clinical-significance cut-offs a, b and c.

    For a lower-is-better scale (methods.md §1.2)::

        a = M_c - 2 SD_c
        b = M_f + 2 SD_f                     # functional SD, NOT the clinical SD
        c = (SD_c M_f + SD_f M_c) / (SD_c + SD_f)

    For higher-is-better scales the signs flip (``a = M_c + 2 SD_c``,
    ``b = M_f - 2 SD_f``); ``c`` is the same formula. If ``SD_c == SD_f``,
    ``c`` is the midpoint of the two means. (The R package
    ``clinicalsignificance`` computes ``b`` with the clinical SD; twostep
    deliberately does not.)

    **Overlap** (twostep's operational definition; J&T 1991 give none): the
    distributions overlap when the ranges ``M_c ± k SD_c`` and ``M_f ± k SD_f``
    intersect, ``k = overlap_sd`` (default 2, the width a and b are built
    on). With ``k = 2`` this is the same as "cut-off b lies at or beyond cut-off
    a on the clinical side" (``b >= a`` for lower-is-better). Recommended
    cut-off: ``a`` without functional norms, ``c`` when the distributions
    overlap, ``b`` when they do not.

    Cut-offs are population parameters (one per instrument), so this function
    takes scalars; `classify` applies them to whole arrays of clients.

    Parameters
    ----------
    m_clinical, sd_clinical
        Mean and SD of the clinical (dysfunctional) population (SD > 0).
    m_functional, sd_functional
        Mean and SD of the functional (community) population; both or neither.
    higher_is_better
        Scale direction. Default ``False``.
    overlap_sd
        ``k`` in the overlap rule above (> 0). Default 2.
    reliability_clinical, reliability_functional
        Optional: compute Hageman & Arrindell (1999) "true-score" cut-offs by
        multiplying each SD by ``sqrt(r)`` (methods.md §1.4). Default ``None``
        (ordinary J&T cut-offs).

    Raises
    ------
    ConfigurationError
        For a non-positive SD, only one of the functional norms, or a
        functional mean that is not on the healthy side of the clinical mean
        (usually a wrong ``higher_is_better``).

    References
    ----------
    Jacobson & Truax (1991), *JCCP 59*, 12–19. Hageman & Arrindell (1999),
    *Behav Res Ther 37*, 1169–1193.
    """
    m_c = _finite(m_clinical, "m_clinical")
    sd_c = _true_score_sd(
        _positive(sd_clinical, "sd_clinical"), reliability_clinical, "reliability_clinical"
    )
    k = _positive(overlap_sd, "overlap_sd")
    sign = -1.0 if higher_is_better else 1.0  # +1: lower is better
    a = m_c - sign * 2.0 * sd_c
    if (m_functional is None) != (sd_functional is None):
        raise ConfigurationError("give both m_functional and sd_functional, or neither")
    if m_functional is None or sd_functional is None:
        return CutoffResult(
            a=a,
            b=None,
            c=None,
            recommended=CutoffType.A,
            overlap=None,
            higher_is_better=higher_is_better,
            m_clinical=m_c,
            sd_clinical=sd_c,
            m_functional=None,
            sd_functional=None,
            overlap_sd=k,
        )
    m_f = _finite(m_functional, "m_functional")
    sd_f = _true_score_sd(
        _positive(sd_functional, "sd_functional"), reliability_functional, "reliability_functional"
    )
    if sign * (m_c - m_f) <= 0:
        better = "higher" if higher_is_better else "lower"
        raise ConfigurationError(
            f"the functional mean ({m_f}) must be {better} than the clinical mean ({m_c}) "
            f"on a {better}-is-better scale"
        )
    b = m_f + sign * 2.0 * sd_f
    c = (sd_c * m_f + sd_f * m_c) / (sd_c + sd_f)
    # ranges [m - k sd, m + k sd] intersect <=> healthy edge of clinical <= sick edge of functional
    overlap = sign * ((m_c - sign * k * sd_c) - (m_f + sign * k * sd_f)) <= 0
    return CutoffResult(
        a=a,
        b=b,
        c=c,
        recommended=CutoffType.C if overlap else CutoffType.B,
        overlap=bool(overlap),
        higher_is_better=higher_is_better,
        m_clinical=m_c,
        sd_clinical=sd_c,
        m_functional=m_f,
        sd_functional=sd_f,
        overlap_sd=k,
    )


class Category(IntEnum):
    """Outcome category codes (methods.md §1.3)."""

    NOT_COMPUTABLE = -1
    RECOVERED = 0
    IMPROVED = 1
    UNCHANGED = 2
    DETERIORATED = 3
    HARMED = 4


#: Label of each code, indexed by ``code + 1``.
CATEGORY_LABELS: tuple[str, ...] = (
    "not_computable",
    "recovered",
    "improved",
    "unchanged",
    "deteriorated",
    "harmed",
)


@dataclass(frozen=True, eq=False)
class ClinicalSignificanceResult:
    """Per-pair outcome categories.

    Attributes
    ----------
    code
        `Category` codes (int8): -1 not_computable, 0 recovered, 1 improved,
        2 unchanged, 3 deteriorated, 4 harmed.
    case_at_start, case_at_end
        Pre / post score in the clinical range (``False`` where missing).
    not_a_case_at_intake
        Pre score present and not in the clinical range: such a client can
        never be "recovered" and is reported as such next to the category.
    reliable_improvement, reliable_deterioration
        The reliable-change flags the categories were built on.
    change
        ``post - pre`` in the instrument's native direction (NaN where missing).
    """

    code: CodeArray
    case_at_start: BoolArray
    case_at_end: BoolArray
    not_a_case_at_intake: BoolArray
    reliable_improvement: BoolArray
    reliable_deterioration: BoolArray
    change: FloatArray

    @property
    def labels(self) -> npt.NDArray[np.str_]:
        """The category label of every pair."""
        return np.asarray(CATEGORY_LABELS)[self.code.astype(np.intp) + 1]

    def counts(self) -> dict[str, int]:
        """Number of pairs per category label (every label present, zeros included)."""
        tally = np.bincount(self.code.ravel().astype(np.intp) + 1, minlength=len(CATEGORY_LABELS))
        return {label: int(n) for label, n in zip(CATEGORY_LABELS, tally, strict=True)}


def _float_array(values: npt.ArrayLike, name: str) -> FloatArray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AnalysisError(f"{name} must be numeric") from exc


def _is_case(severity: FloatArray, cut: FloatArray, case_when: Literal[">=", ">"]) -> BoolArray:
    tolerance = FIXED_THRESHOLD_TOLERANCE * np.maximum(1.0, np.abs(cut))
    with np.errstate(invalid="ignore"):
        out = severity >= cut - tolerance if case_when == ">=" else severity > cut + tolerance
    return np.asarray(out & np.isfinite(severity), dtype=np.bool_)


def classify(
    pre: npt.ArrayLike,
    post: npt.ArrayLike,
    threshold: ReliableChangeThreshold | RCIResult,
    cutoff: CutoffResult | npt.ArrayLike,
    *,
    case_when: Literal[">=", ">"] = ">=",
    higher_is_better: bool = False,
    harmed: bool = True,
) -> ClinicalSignificanceResult:
    """Jacobson–Truax outcome categories for many pre/post pairs.

    In severity orientation, with "case" = score in the clinical range
    (methods.md §1.3):

    ============  =====================================================================
    recovered     case at start AND not a case at end AND reliable improvement
    improved      reliable improvement but not recovered
    unchanged     neither reliable improvement nor reliable deterioration
    deteriorated  reliable deterioration but not harmed
    harmed        not a case at start AND case at end AND reliable deterioration
                  (optional 5th category, mirror of recovered, as in the R package
                  ``clinicalsignificance``; with ``harmed=False`` these are
                  "deteriorated")
    ============  =====================================================================

    A missing pre or post score gives ``not_computable`` (code -1). A client
    who is not a case at intake can never be recovered; `not_a_case_at_intake`
    flags them.

    Parameters
    ----------
    pre, post
        First and last (or any requested pair of) scores, native direction.
    threshold
        A `ReliableChangeThreshold` (J&T or fixed published RC), or the
        `RCIResult` of one of the alternative indices (its ``improved`` /
        ``deteriorated`` flags are used; its orientation must match).
    cutoff
        A `CutoffResult` (its recommended value is used) or the cut-off score
        itself: a scalar, or one per pair (e.g. several instruments at once).
    case_when
        Whether a score *at* the cut-off is a case, read in severity
        orientation: ``">="`` (default; PHQ-9 ≥ 10 is a case) or ``">"`` (the
        cut-off itself is not a case; e.g. ORS, where only totals *below* 25
        are clinical, is ``higher_is_better=True, case_when=">"``). Values
        within 1e-9 points of the cut-off count as equal to it.
    higher_is_better
        Scale direction. Default ``False``.
    harmed
        Report the optional "harmed" category. Default ``True``.

    Raises
    ------
    ConfigurationError
        For an unknown ``case_when`` or a threshold/cut-off computed for the
        other scale direction.
    AnalysisError
        For arrays that do not match in shape.

    References
    ----------
    Jacobson & Truax (1991), *JCCP 59*, 12–19.
    """
    if case_when not in (">=", ">"):
        raise ConfigurationError(f'case_when must be ">=" or ">" (got {case_when!r})')
    x1 = _float_array(pre, "pre")
    x2 = _float_array(post, "post")
    if isinstance(cutoff, CutoffResult):
        if cutoff.higher_is_better != higher_is_better:
            raise ConfigurationError("the cut-off was computed for the other scale direction")
        cut = np.asarray(cutoff.value, dtype=np.float64)
    else:
        cut = _float_array(cutoff, "cutoff")
        if cut.size and not np.all(np.isfinite(cut)):
            raise ConfigurationError("cut-off scores must be finite")
    try:
        x1, x2, cut = (np.array(a, dtype=np.float64) for a in np.broadcast_arrays(x1, x2, cut))
    except ValueError as exc:
        raise AnalysisError("pre, post and cutoff have incompatible shapes") from exc

    change = x2 - x1
    computable = np.isfinite(x1) & np.isfinite(x2)
    if isinstance(threshold, RCIResult):
        if threshold.higher_is_better != higher_is_better:
            raise ConfigurationError("the RCI was computed for the other scale direction")
        try:
            improve = np.broadcast_to(threshold.improved, x1.shape) & computable
            worsen = np.broadcast_to(threshold.deteriorated, x1.shape) & computable
        except ValueError as exc:
            raise AnalysisError("the RCI result does not match the pre/post arrays") from exc
    else:
        improve = threshold.is_reliable_improvement(change, higher_is_better=higher_is_better)
        worsen = threshold.is_reliable_deterioration(change, higher_is_better=higher_is_better)

    sign = -1.0 if higher_is_better else 1.0
    case_start = _is_case(sign * x1, sign * cut, case_when)
    case_end = _is_case(sign * x2, sign * cut, case_when)
    not_case_start = np.isfinite(x1) & ~case_start

    recovered = case_start & ~case_end & improve
    harm = not_case_start & case_end & worsen if harmed else np.zeros_like(worsen)

    code = np.full(x1.shape, Category.UNCHANGED, dtype=np.int8)
    code[improve] = Category.IMPROVED
    code[recovered] = Category.RECOVERED
    code[worsen] = Category.DETERIORATED
    code[harm] = Category.HARMED
    code[~computable] = Category.NOT_COMPUTABLE
    return ClinicalSignificanceResult(
        code=code,
        case_at_start=case_start,
        case_at_end=case_end,
        not_a_case_at_intake=np.asarray(not_case_start, dtype=np.bool_),
        reliable_improvement=np.asarray(improve, dtype=np.bool_),
        reliable_deterioration=np.asarray(worsen, dtype=np.bool_),
        change=change,
    )
