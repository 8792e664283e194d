"""Confidence intervals for proportions and small-cell suppression.

Used for service-level rates (methods.md §2.3) and for the setback context
of methods.md §12 ("... with a 95 % Wilson interval").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from twostep.errors import AnalysisError, ConfigurationError

__all__ = [
    "DEFAULT_SUPPRESSION_THRESHOLD",
    "WilsonInterval",
    "is_suppressed",
    "suppress_counts",
    "wilson_interval",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Counts below this are suppressed by default (small-cell disclosure control).
DEFAULT_SUPPRESSION_THRESHOLD = 10


@dataclass(frozen=True, eq=False)
class WilsonInterval:
    """Proportions with their Wilson score intervals (NaN where ``n = 0``).

    Attributes
    ----------
    proportion
        ``k / n``.
    lower, upper
        Interval bounds, within ``[0, 1]`` and bracketing ``proportion``.
    z
        The normal quantile used (1.96 for 95 %).
    """

    proportion: FloatArray
    lower: FloatArray
    upper: FloatArray
    z: float


def _counts(values: npt.ArrayLike, name: str) -> FloatArray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AnalysisError(f"{name} must be numeric") from exc
    if arr.size and (not np.all(np.isfinite(arr)) or np.any(arr < 0)):
        raise AnalysisError(f"{name} must be finite and >= 0")
    return arr


def wilson_interval(
    successes: npt.ArrayLike, trials: npt.ArrayLike, *, z: float = 1.96
) -> WilsonInterval:
    """Wilson score interval for binomial proportions, vectorised.

    With ``p = k / n``::

        centre    = (k + z²/2) / (n + z²)
        halfwidth = z / (n + z²) * sqrt(k (n - k) / n + z²/4)
        [lower, upper] = centre ∓ halfwidth

    Edge cases: ``k = 0`` gives ``lower = 0`` exactly and ``k = n`` gives
    ``upper = 1`` exactly (the interval is still informative on the other
    side); ``n = 0`` gives NaN for the proportion and both bounds.

    Parameters
    ----------
    successes
        ``k``, counts (>= 0, <= ``n``).
    trials
        ``n``, counts (>= 0); broadcast against ``successes``.
    z
        Standard-normal quantile; default 1.96 (two-sided 95 %).

    Raises
    ------
    ConfigurationError
        If ``z`` is not finite and > 0.
    AnalysisError
        For negative or non-finite counts, ``k > n``, or shapes that do not
        broadcast.

    References
    ----------
    Wilson, E. B. (1927). Probable inference, the law of succession, and
    statistical inference. *JASA 22*, 209–212. Brown, Cai & DasGupta (2001),
    *Statistical Science 16*, 101–133.
    """
    if not math.isfinite(z) or z <= 0:
        raise ConfigurationError(f"z must be finite and > 0 (got {z!r})")
    k = _counts(successes, "successes")
    n = _counts(trials, "trials")
    try:
        k, n = (np.array(a, dtype=np.float64) for a in np.broadcast_arrays(k, n))
    except ValueError as exc:
        raise AnalysisError("successes and trials have incompatible shapes") from exc
    if np.any(k > n):
        raise AnalysisError("successes cannot exceed trials")

    z2 = z * z
    empty = n == 0
    n_safe = np.where(empty, 1.0, n)
    p = k / n_safe
    centre = (k + z2 / 2.0) / (n_safe + z2)
    half = z / (n_safe + z2) * np.sqrt(k * (n_safe - k) / n_safe + z2 / 4.0)
    lower = np.clip(centre - half, 0.0, 1.0)
    upper = np.clip(centre + half, 0.0, 1.0)
    lower = np.where(k == 0, 0.0, np.minimum(lower, p))
    upper = np.where(k == n_safe, 1.0, np.maximum(upper, p))
    nan = np.full(p.shape, np.nan)
    return WilsonInterval(
        proportion=np.where(empty, nan, p),
        lower=np.where(empty, nan, lower),
        upper=np.where(empty, nan, upper),
        z=float(z),
    )


def is_suppressed(
    counts: npt.ArrayLike,
    *,
    threshold: int = DEFAULT_SUPPRESSION_THRESHOLD,
    keep_zero: bool = False,
) -> BoolArray:
    """Small-cell suppression mask: ``True`` where ``count < threshold``.

    Parameters
    ----------
    counts
        Cell counts (>= 0).
    threshold
        Smallest count that may be published; default 10.
    keep_zero
        Publish zero counts (a zero discloses nothing about an individual in
        some publication policies). Default ``False``: zeros are suppressed
        like any other count below the threshold.

    Raises
    ------
    ConfigurationError
        If ``threshold`` < 1.
    AnalysisError
        For negative or non-finite counts.
    """
    if threshold < 1:
        raise ConfigurationError(f"threshold must be >= 1 (got {threshold!r})")
    c = _counts(counts, "counts")
    out = c < threshold
    if keep_zero:
        out &= c != 0
    return np.asarray(out, dtype=np.bool_)


def suppress_counts(
    counts: npt.ArrayLike,
    *,
    threshold: int = DEFAULT_SUPPRESSION_THRESHOLD,
    keep_zero: bool = False,
) -> FloatArray:
    """Counts as floats with suppressed cells replaced by NaN (see `is_suppressed`)."""
    c = _counts(counts, "counts")
    return np.where(is_suppressed(c, threshold=threshold, keep_zero=keep_zero), np.nan, c)
