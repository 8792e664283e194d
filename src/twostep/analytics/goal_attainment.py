"""Goal Attainment Scaling (GAS) T-scores for many clients and reviews at once.

``methods.md`` §7. Goals come as flat arrays (one element per goal); a
``group`` code or Arrow-style ``offsets`` say which goals belong to which
client/review, and every group is scored in one vectorised pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from twostep.errors import AnalysisError, ConfigurationError

__all__ = [
    "GAS_LEVELS",
    "GASResult",
    "gas_t_score",
    "importance_difficulty_weights",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

#: The five attainment levels: -2 much less ... +2 much more than expected.
GAS_LEVELS: tuple[int, ...] = (-2, -1, 0, 1, 2)


@dataclass(frozen=True, eq=False)
class GASResult:
    """GAS T-scores, one per group (client/review).

    Attributes
    ----------
    t_score
        ``T`` per group; NaN for a group with no scored goal.
    n_goals
        Number of goals scored in each group (goals with a missing level are
        dropped and not counted).
    equal_weights_used
        ``True`` where every scored goal had weight 0, so equal weights were
        used instead (as ``gasr`` does).
    rho
        The assumed average inter-goal correlation.
    """

    t_score: FloatArray
    n_goals: IntArray
    equal_weights_used: BoolArray
    rho: float


def _float_array(values: npt.ArrayLike, name: str) -> FloatArray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AnalysisError(f"{name} must be numeric") from exc
    if arr.ndim != 1:
        raise AnalysisError(f"{name} must be one-dimensional (got shape {arr.shape})")
    return arr


def _group_codes(
    n: int,
    group: npt.ArrayLike | None,
    offsets: npt.ArrayLike | None,
    n_groups: int | None,
) -> tuple[IntArray, int]:
    if group is not None and offsets is not None:
        raise ConfigurationError("give either group or offsets, not both")
    if offsets is not None:
        off = np.asarray(offsets)
        if (
            off.ndim != 1
            or off.size < 1
            or not np.issubdtype(off.dtype, np.integer)
            or off[0] != 0
            or off[-1] != n
            or np.any(np.diff(off) < 0)
        ):
            raise AnalysisError(
                "offsets must be a non-decreasing integer array running from 0 to len(levels)"
            )
        count = off.size - 1
        if n_groups is not None and n_groups != count:
            raise ConfigurationError(f"n_groups={n_groups} but offsets define {count} groups")
        codes = np.repeat(np.arange(count, dtype=np.int64), np.diff(off))
        return codes, count
    if group is None:
        count = 1 if n_groups is None else n_groups
        if count != 1:
            raise ConfigurationError("without group or offsets there is exactly one group")
        return np.zeros(n, dtype=np.int64), 1
    g = np.asarray(group)
    if g.shape != (n,) or (g.size and not np.issubdtype(g.dtype, np.integer)):
        raise AnalysisError("group must be an integer array with one code per goal")
    if g.size and g.min() < 0:
        raise AnalysisError("group codes must be >= 0")
    count = int(g.max()) + 1 if g.size else 0
    if n_groups is not None:
        if n_groups < count:
            raise ConfigurationError(f"n_groups={n_groups} but group codes go up to {count - 1}")
        count = n_groups
    return g.astype(np.int64), count


def gas_t_score(
    levels: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    *,
    group: npt.ArrayLike | None = None,
    offsets: npt.ArrayLike | None = None,
    n_groups: int | None = None,
    rho: float = 0.3,
) -> GASResult:
    """Kiresuk–Sherman GAS T-score per group of goals.

    ::

        T = 50 + 10 * sum(w_i x_i) / sqrt((1 - rho) * sum(w_i²) + rho * (sum(w_i))²)

    (methods.md §7, formula as in the ``gasr`` R package). Unweighted
    (``w_i = 1``, ``n`` goals): ``T = 50 + 10 sum(x_i) / sqrt((1 - rho) n + rho n²)``.
    Test vectors: ``x = (-2, 0, -1, 2, 0, 1)``, ``w = (3, 5, 1, 4, 2, 6)`` →
    55.0; three unweighted goals at -1 → 36.31; one goal at +2 → 70.

    Parameters
    ----------
    levels
        Attained level of each goal, one of -2, -1, 0, +1, +2; NaN = not rated
        (the goal is dropped and not counted in ``n_goals``).
    weights
        Weight of each goal (finite, >= 0; e.g. `importance_difficulty_weights`).
        Default ``None`` = unweighted (all 1). If every scored goal of a group
        has weight 0, that group uses equal weights (as ``gasr`` does) and
        ``equal_weights_used`` is set.
    group
        Integer code (>= 0) of the client/review each goal belongs to, in any
        order. Mutually exclusive with ``offsets``.
    offsets
        Arrow-style segment offsets for goals sorted by group: length
        ``n_groups + 1``, from 0 to ``len(levels)``.
    n_groups
        Number of groups (to include trailing groups without goals). Default:
        ``max(group) + 1``, or ``len(offsets) - 1``; one group when neither
        ``group`` nor ``offsets`` is given.
    rho
        Assumed average inter-goal correlation, ``0 <= rho <= 1``. Default 0.3
        (Kiresuk & Sherman 1968).

    Returns
    -------
    GASResult
        T per group (NaN where no goal was scored: T is undefined), the count
        of scored goals and the equal-weights flag.

    Raises
    ------
    ConfigurationError
        For ``rho`` outside ``[0, 1]`` or inconsistent grouping arguments.
    AnalysisError
        For a level outside -2..+2, a negative or missing weight on a scored
        goal, or arrays of different lengths.

    References
    ----------
    Kiresuk, T. J., & Sherman, R. E. (1968). *Community Mental Health Journal
    4*(6), 443–453. Turner-Stokes, L. (2009). *Clinical Rehabilitation 23*,
    362–370.
    """
    if not math.isfinite(rho) or not 0.0 <= rho <= 1.0:
        raise ConfigurationError(f"rho must satisfy 0 <= rho <= 1 (got {rho!r})")
    x = _float_array(levels, "levels")
    if weights is None:
        w = np.ones_like(x)
    else:
        w = _float_array(weights, "weights")
        if w.shape != x.shape:
            raise AnalysisError(f"weights has {w.size} values but levels has {x.size}")
    codes, count = _group_codes(x.size, group, offsets, n_groups)

    scored = np.isfinite(x)
    xs, ws, gs = x[scored], w[scored], codes[scored]
    if xs.size and not np.all(np.isin(xs, GAS_LEVELS)):
        bad = np.unique(xs[~np.isin(xs, GAS_LEVELS)])
        raise AnalysisError(f"GAS levels must be -2, -1, 0, 1 or 2 (got {bad.tolist()})")
    if ws.size and (not np.all(np.isfinite(ws)) or np.any(ws < 0)):
        raise AnalysisError("every scored goal needs a finite weight >= 0")

    n_goals = np.bincount(gs, minlength=count).astype(np.int64)
    weight_sum = np.bincount(gs, weights=ws, minlength=count)
    equal = (n_goals > 0) & (weight_sum == 0)
    ws = np.where(equal[gs], 1.0, ws)

    sum_wx = np.bincount(gs, weights=ws * xs, minlength=count)
    sum_w2 = np.bincount(gs, weights=ws * ws, minlength=count)
    sum_w = np.bincount(gs, weights=ws, minlength=count)
    denominator = np.sqrt((1.0 - rho) * sum_w2 + rho * sum_w**2)
    has_goals = n_goals > 0
    t = np.full(count, np.nan)
    t[has_goals] = 50.0 + 10.0 * sum_wx[has_goals] / denominator[has_goals]
    return GASResult(t_score=t, n_goals=n_goals, equal_weights_used=equal, rho=float(rho))


def importance_difficulty_weights(
    importance: npt.ArrayLike, difficulty: npt.ArrayLike
) -> FloatArray:
    """Goal weights ``w = importance × difficulty`` (Turner-Stokes 2009; methods.md §7).

    Parameters
    ----------
    importance, difficulty
        Ratings 0, 1, 2 or 3 per goal (0 = not at all ... 3 = very); NaN =
        not rated, which gives a NaN weight.

    Raises
    ------
    AnalysisError
        For a rating that is not 0, 1, 2 or 3, or arrays that do not broadcast.
    """
    try:
        imp, dif = np.broadcast_arrays(
            np.asarray(importance, dtype=np.float64), np.asarray(difficulty, dtype=np.float64)
        )
    except (TypeError, ValueError) as exc:
        raise AnalysisError(
            "importance and difficulty must be numeric arrays of one shape"
        ) from exc
    for name, values in (("importance", imp), ("difficulty", dif)):
        rated = values[np.isfinite(values)]
        if not np.all(np.isin(rated, (0.0, 1.0, 2.0, 3.0))) or np.any(np.isinf(values)):
            raise AnalysisError(f"{name} ratings must be 0, 1, 2 or 3")
    return np.asarray(imp * dif, dtype=np.float64)
