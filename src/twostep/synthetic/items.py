"""Item-level responses whose scored total is exactly a given grid point.

Model (a water-filling version of a graded item-response model): each
scored item ``j`` has ``c_j`` response steps and, in administration ``r`` of
client ``i``, a latent position

``base[r, j] = loc[j] + person[i, j] + occasion[r, j]``

on a 0-1 severity scale. At the common level ``tau`` item ``j`` holds
``x_j = c_j * clip(tau - base[r, j], 0, 1)`` steps; ``tau`` is solved per
row so that the steps add up exactly to the target keyed sum (``K`` steps
above the minimum), and the continuous ``x`` is rounded by the
largest-remainder rule. Hence

* the keyed item sum is exactly ``K`` steps, so the catalogue's scoring gives
  the total back (reverse-keyed items store the raw answer
  ``min + max - keyed``);
* every item stays within its allowed values;
* items move together with the total, with stable person-level profiles;
* risk items (PHQ-9 item 9, CORE-10 item 6) sit ``risk_item_offset`` higher
  (with a larger person effect), so they are mostly 0 and endorsed mainly at
  high severity.

All work is whole-array over rows (item-major layout); the loops run over a
fixed handful of solver steps, never over rows. Unscored items (PHQ-9 item
10) follow the severity with some noise; a share of observed rows can have
one imputable item left blank to exercise prorating.
"""

from __future__ import annotations

import numpy as np

from twostep.errors import ConfigurationError
from twostep.instruments.model import Instrument, ResponseScale
from twostep.instruments.scoring import BoolArray, FloatArray, IntArray
from twostep.synthetic.scale import ScoreGrid

_SOLVER_STEPS = 6
_ITEM_LOC_SD = 0.08
_PERSON_SD = 0.08
_RISK_PERSON_SD = 0.30
_OCCASION_SD = 0.10
_UNSCORED_NOISE = 0.6  # SD in response categories


def item_locations(
    rng: np.random.Generator, instrument: Instrument, risk_item_offset: float
) -> FloatArray:
    """Location of every scored item on the 0-1 latent scale (the item profile).

    Small random differences between items, plus ``risk_item_offset`` for
    risk items so that they are endorsed later than the others.
    """
    scored = instrument.scored_items
    risky = set(instrument.risk.items) if instrument.risk is not None else set()
    is_risk = np.array([it.id in risky for it in scored], dtype=bool)
    loc = rng.normal(0.0, _ITEM_LOC_SD, size=len(scored))
    return np.asarray(loc + np.where(is_risk, risk_item_offset, 0.0), dtype=np.float64)


def generate_items(
    rng: np.random.Generator,
    grid: ScoreGrid,
    loc: FloatArray,
    units: IntArray,
    client: IntArray,
    n_clients: int,
    observed: BoolArray,
    item_missing_rate: float,
) -> FloatArray:
    """Item responses, shape ``(n_rows, n_items)`` in catalogue order; NaN rows where not observed.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (a stream of its own, so items do not change totals).
    grid : ScoreGrid
        The instrument's grid.
    loc : FloatArray
        Item locations from `item_locations`.
    units : IntArray
        Severity units of every row (0 = best).
    client : IntArray
        Client index (``0 .. n_clients - 1``) of every row.
    n_clients : int
        Number of clients.
    observed : BoolArray
        Rows with an administration (others get NaN items).
    item_missing_rate : float
        Share of observed rows with one imputable item left blank.

    Returns
    -------
    FloatArray
        The responses.
    """
    ins = grid.instrument
    layout = grid.layout
    if not layout.uniform:
        raise ConfigurationError(
            f"{ins.id}: item generation needs scored items with equally spaced values of one step"
        )
    n_rows = units.shape[0]
    rows = np.flatnonzero(observed)
    target = grid.native_units(units[rows])
    scored = ins.scored_items
    n_scored = len(scored)
    risky = set(ins.risk.items) if ins.risk is not None else set()
    is_risk = np.array([it.id in risky for it in scored], dtype=bool)

    person_sd = np.where(is_risk, _RISK_PERSON_SD, _PERSON_SD)
    person = rng.standard_normal((n_clients, n_scored)) * person_sd
    base = person[client[rows]]
    base += loc
    base += rng.standard_normal((rows.shape[0], n_scored)) * _OCCASION_SD
    counts = _allocate(base, layout.capacity, target)

    out = np.full((n_rows, len(ins.items)), np.nan)
    severity_frac = units[rows] / max(grid.n_units, 1)
    j_scored = 0
    for j, item in enumerate(ins.items):
        scale = item.scale
        if item.scored:
            keyed = layout.low[j_scored] + counts[:, j_scored] * layout.unit
            if scale.kind != "choice":
                keyed = np.round(keyed, 9)
            out[rows, j] = scale.minimum + scale.maximum - keyed if item.reverse else keyed
            j_scored += 1
        else:
            out[rows, j] = _unscored(rng, scale, severity_frac)
    _drop_items(rng, ins, out, rows, item_missing_rate)
    return out


def _allocate(base: FloatArray, capacity: IntArray, target: IntArray) -> IntArray:
    """Steps per item summing exactly to ``target`` (water filling, then largest remainder).

    Item ``j`` of a row holds ``x_j(tau) = c_j * clip(tau - base_j, 0, 1)``
    steps at the common level ``tau``; ``sum_j x_j`` is continuous, piecewise
    linear and increasing in ``tau``. The level is bracketed by bisection and
    then interpolated; the continuous ``x`` is rounded by the largest-remainder
    rule, and the few rows left off by floating point are repaired one step at
    a time. Arrays are laid out item-major, ``(n_items, n_rows)``, so every
    operation runs over long contiguous rows.
    """
    n, m = base.shape
    total = int(capacity.sum())
    counts = np.zeros((m, n), dtype=np.int64)
    counts[:, target >= total] = capacity[:, None]
    rows = np.flatnonzero((target > 0) & (target < total))
    if rows.size == 0:
        return np.ascontiguousarray(counts.T)
    b = np.ascontiguousarray(base[rows].T)
    k = target[rows].astype(np.float64)
    cap = capacity.astype(np.float64)[:, None]
    work = np.empty_like(b)

    def level_sum(tau: FloatArray) -> FloatArray:
        np.subtract(tau[None, :], b, out=work)
        np.clip(work, 0.0, 1.0, out=work)
        np.multiply(work, cap, out=work)
        return np.asarray(work.sum(axis=0), dtype=np.float64)

    # the level lies within [min b + k/C, max b + k/C]; sum_j x_j is piecewise linear,
    # so regula falsi (Illinois variant) lands on the exact level in a few steps
    lo = b.min(axis=0) + k / total
    hi = b.max(axis=0) + k / total
    s_lo, s_hi = level_sum(lo), level_sum(hi)
    side = np.zeros(rows.size, dtype=np.int8)
    for _ in range(_SOLVER_STEPS):
        span = s_hi - s_lo
        done = span < 1e-12
        t = np.where(done, 0.0, (k - s_lo) / np.where(done, 1.0, span))
        mid = lo + (hi - lo) * np.clip(t, 0.0, 1.0)
        s_mid = level_sum(mid)
        ge = s_mid >= k
        # Illinois: halve the stale end's residual when the same side moves twice
        s_lo = np.where(~ge & (side == -1), k - 0.5 * (k - s_lo), s_lo)
        s_hi = np.where(ge & (side == 1), k + 0.5 * (s_hi - k), s_hi)
        hi, s_hi = np.where(ge, mid, hi), np.where(ge, s_mid, s_hi)
        lo, s_lo = np.where(ge, lo, mid), np.where(ge, s_lo, s_mid)
        side = np.where(ge, 1, -1).astype(np.int8)
    span = np.maximum(s_hi - s_lo, 1e-12)
    level_sum(lo + (hi - lo) * np.clip((k - s_lo) / span, 0.0, 1.0))
    x = work
    whole = np.floor(x + 1e-9)
    np.minimum(whole, cap, out=whole)
    frac = x - whole
    result = whole.astype(np.int64)
    # largest remainder: the `short` items with the largest fractions get one step more
    short = np.clip(k - whole.sum(axis=0) + 0.5, 0, m).astype(np.int64)
    ranked = -np.sort(-frac, axis=0)
    cut = ranked[np.maximum(short - 1, 0), np.arange(rows.size)]
    result += (frac >= cut) & (short > 0) & (frac > 0)
    _repair(result, capacity, target[rows])
    counts[:, rows] = result
    return np.ascontiguousarray(counts.T)


def _repair(counts: IntArray, capacity: IntArray, target: IntArray) -> None:
    """Make item-major ``counts`` sum to ``target`` within the caps (in place; rarely needed)."""
    diff = target - counts.sum(axis=0)
    todo = np.flatnonzero(diff != 0)
    while todo.size:
        c = counts[:, todo]
        up = diff[todo] > 0
        room = np.where(up[None, :], c < capacity[:, None], c > 0)
        pick = np.argmax(room, axis=0)
        step = np.where(up, 1, -1)
        counts[pick, todo] += step
        diff[todo] -= step
        todo = todo[diff[todo] != 0]


def _unscored(
    rng: np.random.Generator, scale: ResponseScale, severity_frac: FloatArray
) -> FloatArray:
    """Answers to an unscored item that rise with severity, plus noise."""
    n = severity_frac.shape[0]
    if scale.kind == "choice":
        options = np.array(sorted(scale.values), dtype=np.float64)
        noise = _UNSCORED_NOISE * rng.standard_normal(n)
        idx = np.floor(severity_frac * (options.size - 1) + 0.5 + noise)
        return np.asarray(options[np.clip(idx, 0, options.size - 1).astype(np.int64)])
    lo, hi, res = scale.minimum, scale.maximum, scale.resolution
    x = lo + (hi - lo) * (severity_frac + 0.1 * rng.standard_normal(n))
    return np.asarray(np.round(np.clip(np.round(x / res) * res, lo, hi), 9), dtype=np.float64)


def _drop_items(
    rng: np.random.Generator,
    ins: Instrument,
    out: FloatArray,
    rows: IntArray,
    rate: float,
) -> None:
    """Blank one imputable scored item in a share ``rate`` of the observed rows (in place)."""
    if rate <= 0 or ins.missing.max_missing < 1 or rows.size == 0:
        return
    never = set(ins.missing.never_impute)
    candidates = np.array(
        [j for j, it in enumerate(ins.items) if it.scored and it.id not in never], dtype=np.int64
    )
    if candidates.size == 0:
        return
    hit = rows[rng.random(rows.size) < rate]
    which = candidates[rng.integers(0, candidates.size, size=hit.size)]
    out[hit, which] = np.nan
