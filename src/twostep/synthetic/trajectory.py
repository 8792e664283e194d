"""Latent severity trajectories on the reference scale (PHQ-9 points, higher = worse).

For client ``i`` at administration ``t`` the severity is

``y[i, t] = intake[i] - b[i] * log(tau[i, t]) + events[i, t] + noise[i, t]``

reflected at 27 (no pile of maximum scores) and clipped at 0 (floor effect).

* ``b[i]`` is the client's rate: improvers lose ``share[i]`` of their intake
  by the 12th administration (``b = share * intake / log 12``); deteriorators
  gain ``share[i]`` of their headroom ``27 - intake`` (``b < 0``).
  Improvement is therefore linear in ``log(session)`` (dose-response,
  methods.md §5.1): fast early change, diminishing returns.
* ``tau = t`` except for plateau clients, whose clock stops for
  ``plateau_length`` administrations from ``plateau_start`` (flat scores above
  the cut-off, then improvement resumes).
* ``events`` are step functions: sudden gains (a one-interval drop that
  stays, sometimes reversed), sudden losses (the mirror) and setbacks (a
  temporary rise that recovers fully or partly).
* ``noise`` is independent normal week-to-week noise with a client-specific
  SD (smaller on the plateau).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import TypeVar

import numpy as np

from twostep.instruments.scoring import BoolArray, FloatArray, IntArray
from twostep.synthetic.params import ARCHETYPES, REFERENCE_CUTOFF, REFERENCE_MAX, SyntheticParams

RESPONDER, SLOW, NON_RESPONDER, DETERIORATOR, PLATEAU, EARLY_DROPOUT = range(len(ARCHETYPES))

#: Session index used for "never" in per-client event positions.
NEVER = np.int64(1) << 40

_LOG12 = math.log(12.0)
#: Fewest administrations a client needs to carry an injected event.
MIN_EVENT_SESSIONS = 5
_GAIN_MAX_SHARE = 0.65


_D = TypeVar("_D", "Clients", "Events")


def client_slice(obj: _D, start: int, stop: int) -> _D:
    """The same per-client parameters restricted to clients ``start:stop``."""
    return replace(obj, **{f.name: getattr(obj, f.name)[start:stop] for f in fields(obj)})


def truncated_normal(
    rng: np.random.Generator, mean: float, sd: float, lo: float, hi: float, size: int
) -> FloatArray:
    """Normal draws truncated to ``[lo, hi]`` by vectorised rejection (then clipping)."""
    out: FloatArray = rng.normal(mean, sd, size=size)
    for _ in range(50):
        bad = np.flatnonzero((out < lo) | (out > hi))
        if bad.size == 0:
            break
        out[bad] = rng.normal(mean, sd, size=bad.size)
    return np.clip(out, lo, hi)


def truncated_correlated(
    rng: np.random.Generator,
    z: FloatArray,
    rho: float,
    mean: float,
    sd: float,
    lo: float,
    hi: float,
) -> FloatArray:
    """``mean + sd * (rho * z + sqrt(1 - rho^2) * e)`` in ``[lo, hi]``, redrawing ``e`` outside."""
    own = math.sqrt(max(0.0, 1.0 - rho * rho))
    out: FloatArray = mean + sd * (rho * z + own * rng.standard_normal(z.shape[0]))
    for _ in range(50):
        bad = np.flatnonzero((out < lo) | (out > hi))
        if bad.size == 0:
            break
        out[bad] = mean + sd * (rho * z[bad] + own * rng.standard_normal(bad.size))
    return np.clip(out, lo, hi)


@dataclass(frozen=True, eq=False)
class Clients:
    """Per-client latent parameters on the reference scale."""

    archetype: IntArray
    lengths: IntArray
    intake: FloatArray
    intake_z: FloatArray
    share: FloatArray
    noise_sd: FloatArray
    plateau_start: IntArray  # NEVER for non-plateau clients
    plateau_length: IntArray


def draw_clients(
    rng: np.random.Generator, params: SyntheticParams, archetype: IntArray, lengths: IntArray
) -> Clients:
    """Draw intake, rate, noise level and plateau window of every client."""
    n = archetype.shape[0]
    p = params
    intake = truncated_normal(rng, p.intake_mean, p.intake_sd, p.intake_min, p.intake_max, n)
    plateau = archetype == PLATEAU
    intake = np.where(plateau, np.maximum(intake, min(p.plateau_min_intake, p.intake_max)), intake)
    intake_z = (intake - p.intake_mean) / p.intake_sd
    means = np.array(
        [
            p.improvement_responder,
            p.improvement_slow,
            p.improvement_non_responder,
            p.deterioration,
            p.plateau_improvement,
            p.improvement_slow,  # early dropouts: whatever they would have done, slowly
        ]
    )
    share = means[archetype] + p.improvement_sd * rng.standard_normal(n)
    improver_cap = np.where(archetype == NON_RESPONDER, 0.2, 0.95)
    share = np.where(
        archetype == DETERIORATOR,
        np.clip(share, 0.1, 1.0),
        np.clip(share, -0.1, improver_cap),
    )
    spread = p.noise_sd_spread
    noise_sd = p.noise_sd * np.exp(spread * rng.standard_normal(n) - spread * spread / 2)
    lo, hi = p.plateau_start
    start = rng.integers(lo, hi + 1, size=n, dtype=np.int64)
    lo, hi = p.plateau_length
    length = rng.integers(lo, hi + 1, size=n, dtype=np.int64)
    return Clients(
        archetype=archetype,
        lengths=lengths,
        intake=intake,
        intake_z=intake_z,
        share=share,
        noise_sd=noise_sd,
        plateau_start=np.where(plateau, start, NEVER),
        plateau_length=np.where(plateau, length, 0),
    )


def slopes(clients: Clients, intake: FloatArray, params: SyntheticParams) -> FloatArray:
    """Rate ``b`` per client (reference points per unit of ``log(tau)``; < 0 = worsening).

    Plateau clients are slowed so that the plateau level stays at least
    ``plateau_margin`` above the cut-off.
    """
    headroom = REFERENCE_MAX - intake
    b = np.where(
        clients.archetype == DETERIORATOR,
        -clients.share * headroom / _LOG12,
        clients.share * intake / _LOG12,
    )
    level = REFERENCE_CUTOFF + params.plateau_margin
    plateau = clients.archetype == PLATEAU
    log_start = np.log(np.where(plateau, clients.plateau_start, 2).astype(np.float64))
    # a plateau from the intake on sits at the intake level whatever the rate
    cap = np.full(intake.shape[0], np.inf)
    np.divide(np.maximum(0.0, intake - level), log_start, out=cap, where=log_start > 0)
    return np.where(plateau, np.minimum(b, cap), b)


def effective_time(
    session: IntArray, plateau_start: IntArray, plateau_length: IntArray
) -> FloatArray:
    """``tau``: the session index with the plateau stretch taken out (per row)."""
    t = np.where(
        session < plateau_start, session, np.maximum(plateau_start, session - plateau_length)
    )
    return t.astype(np.float64)


def mean_at(intake: FloatArray, b: FloatArray, clients: Clients, session: IntArray) -> FloatArray:
    """Expected severity (no events, no noise) of every client at per-client ``session``."""
    tau = effective_time(session, clients.plateau_start, clients.plateau_length)
    return np.asarray(intake - b * np.log(tau), dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Events:
    """Injected sudden gains, sudden losses and setbacks, per client.

    Positions are 1-based session indices; ``NEVER`` where a client has none.
    A gain/loss happens between ``*_pre`` and ``*_pre + 1``; it is reversed
    from ``*_reversal`` on by ``*_regain`` (a share of the magnitude).
    A setback lifts rows ``setback_start .. setback_start + setback_length - 1``
    by ``setback_height``, after which ``setback_residual`` of it remains.
    """

    gain_pre: IntArray
    gain_size: FloatArray
    gain_reversal: IntArray
    gain_regain: FloatArray
    loss_pre: IntArray
    loss_size: FloatArray
    loss_reversal: IntArray
    loss_regain: FloatArray
    setback_start: IntArray
    setback_length: IntArray
    setback_height: FloatArray
    setback_residual: FloatArray


def draw_events(
    rng: np.random.Generator, params: SyntheticParams, clients: Clients, b: FloatArray
) -> Events:
    """Decide which clients get which injected event, where and how large."""
    p = params
    n = clients.archetype.shape[0]
    arch = clients.archetype
    lengths = clients.lengths
    long_enough = lengths >= MIN_EVENT_SESSIONS
    m_lo, m_hi = p.sudden_magnitude

    def position(lo: int, hi_from_end: int) -> IntArray:
        # uniform integer in [lo, length - hi_from_end]
        span = np.maximum(lengths - hi_from_end - lo + 1, 1)
        return lo + np.floor(rng.random(n) * span).astype(np.int64)

    def reversal(pre: IntArray, has: BoolArray) -> tuple[IntArray, FloatArray]:
        reversed_ = has & (rng.random(n) < p.reversal_rate)
        after = rng.integers(1, 4, size=n, dtype=np.int64)
        regain = rng.uniform(0.6, 1.0, size=n)
        return np.where(reversed_, pre + 1 + after, NEVER), np.where(reversed_, regain, 0.0)

    # sudden gains: improving archetypes only
    gain_ok = long_enough & ((arch == RESPONDER) | (arch == SLOW) | (arch == NON_RESPONDER))
    has_gain = gain_ok & (rng.random(n) < p.sudden_gain_rate)
    gain_pre = position(2, 2)
    size = rng.uniform(m_lo, m_hi, size=n)
    pre_level = mean_at(clients.intake, b, clients, gain_pre)
    # a gain takes at most 65 % of the pre-gain level (so it is >= 25 % of it, criterion 2)
    has_gain &= _GAIN_MAX_SHARE * pre_level >= m_lo
    gain_size = np.clip(size, 0.3 * pre_level, np.maximum(_GAIN_MAX_SHARE * pre_level, m_lo))
    gain_rev, gain_regain = reversal(gain_pre, has_gain)

    # sudden losses: anyone with room to worsen
    has_loss = (arch != EARLY_DROPOUT) & long_enough & (rng.random(n) < p.sudden_loss_rate)
    loss_pre = position(2, 2)
    size = rng.uniform(m_lo, m_hi, size=n)
    pre_level = mean_at(clients.intake, b, clients, loss_pre)
    room = REFERENCE_MAX - 1.0 - pre_level
    has_loss &= (room >= m_lo) & ~(has_gain & (loss_pre == gain_pre))
    loss_size = np.clip(np.maximum(size, 0.3 * pre_level), m_lo, np.maximum(room, m_lo))
    loss_rev, loss_regain = reversal(loss_pre, has_loss)

    # setbacks: only where ground has been gained, and never beyond intake + RC
    has_setback = (arch != EARLY_DROPOUT) & long_enough & (rng.random(n) < p.setback_rate)
    sb_start = position(3, 1)
    sb_length = rng.integers(1, 4, size=n, dtype=np.int64)
    h_lo, h_hi = p.setback_height
    height = np.asarray(rng.uniform(h_lo, h_hi, size=n), dtype=np.float64)
    gained = clients.intake - mean_at(clients.intake, b, clients, sb_start)
    has_setback &= gained >= 2.0
    height = np.minimum(height, gained + 5.0)
    full = rng.random(n) < p.setback_full_recovery
    residual = np.where(full, 0.0, rng.uniform(0.2, 0.5, size=n))

    return Events(
        gain_pre=np.where(has_gain, gain_pre, NEVER),
        gain_size=np.where(has_gain, gain_size, 0.0),
        gain_reversal=gain_rev,
        gain_regain=gain_regain,
        loss_pre=np.where(has_loss, loss_pre, NEVER),
        loss_size=np.where(has_loss, loss_size, 0.0),
        loss_reversal=loss_rev,
        loss_regain=loss_regain,
        setback_start=np.where(has_setback, sb_start, NEVER),
        setback_length=np.where(has_setback, sb_length, 0),
        setback_height=np.where(has_setback, height, 0.0),
        setback_residual=residual,
    )


@dataclass(frozen=True, eq=False)
class RowFlags:
    """Per-row truth labels of injected events."""

    sudden_gain: BoolArray  # the post-gain administration
    sudden_loss: BoolArray  # the post-loss administration
    setback: BoolArray  # administrations inside a setback
    keep: BoolArray  # pre and post rows of gains/losses (never missed)


def protected_rows(events: Events, lengths: IntArray) -> int:
    """How many rows after the intake are kept observed around injected gains and losses."""
    e = events

    def valid(at: IntArray) -> int:
        return int(np.count_nonzero((at > 1) & (at <= lengths)))

    gain, loss = e.gain_pre, e.loss_pre
    total = valid(gain) + valid(gain + 1) + valid(loss) + valid(loss + 1)
    # a loss never shares its interval with a gain, but adjacent intervals share a row
    shared = np.where((loss == gain + 1) | (loss + 1 == gain), np.maximum(gain, loss), NEVER)
    return total - valid(shared)


def _mark(n_rows: int, offsets: IntArray, lengths: IntArray, at: IntArray) -> BoolArray:
    """Boolean rows at per-client 1-based sessions ``at`` (ignored where beyond the episode)."""
    out = np.zeros(n_rows, dtype=bool)
    ok = np.flatnonzero(at <= lengths)
    out[offsets[ok] + at[ok] - 1] = True
    return out


def event_shift(
    events: Events, offsets: IntArray, lengths: IntArray
) -> tuple[FloatArray, RowFlags]:
    """Reference-point shift of every row caused by the events, and the row flags.

    Sparse: each event adds a step ``value`` from session ``start`` to the
    end of the client's episode; the steps are scattered into a difference
    array (``np.bincount``) and integrated by one cumulative sum, so the cost
    is one pass over the rows however many events there are.
    """
    n_rows = int(offsets[-1])
    ends = offsets[1:]
    starts: list[IntArray] = []
    values: list[FloatArray] = []

    def step(start: IntArray, value: FloatArray) -> None:
        ok = np.flatnonzero(start <= lengths)
        first = offsets[ok] + start[ok] - 1
        starts.extend((first, ends[ok]))
        values.extend((value[ok], -value[ok]))

    e = events
    step(e.gain_pre + 1, -e.gain_size)
    step(e.gain_reversal, e.gain_size * e.gain_regain)
    step(e.loss_pre + 1, e.loss_size)
    step(e.loss_reversal, -e.loss_size * e.loss_regain)
    setback_end = e.setback_start + e.setback_length
    step(e.setback_start, e.setback_height)
    step(setback_end, e.setback_height * (e.setback_residual - 1.0))
    diff: FloatArray = np.bincount(
        np.concatenate(starts), weights=np.concatenate(values), minlength=n_rows + 1
    ).astype(np.float64, copy=False)
    shift = diff[:n_rows]
    np.cumsum(shift, out=shift)
    # the running sum returns to 0 at every episode end; remove rounding residue
    np.round(shift, 9, out=shift)

    setback = np.zeros(n_rows, dtype=bool)
    for d in range(int(e.setback_length.max(initial=0))):
        inside = np.where(d < e.setback_length, e.setback_start + d, NEVER)
        setback |= _mark(n_rows, offsets, lengths, inside)
    keep = np.zeros(n_rows, dtype=bool)
    for at in (e.gain_pre, e.gain_pre + 1, e.loss_pre, e.loss_pre + 1):
        keep |= _mark(n_rows, offsets, lengths, at)
    flags = RowFlags(
        sudden_gain=_mark(n_rows, offsets, lengths, e.gain_pre + 1),
        sudden_loss=_mark(n_rows, offsets, lengths, e.loss_pre + 1),
        setback=setback,
        keep=keep,
    )
    return shift, flags


def severity(
    intake: FloatArray,
    b: FloatArray,
    noise_sd: FloatArray,
    clients: Clients,
    offsets: IntArray,
    client: IntArray,
    session: IntArray,
    shift: FloatArray,
    noise: FloatArray,
    plateau_noise_factor: float,
) -> tuple[FloatArray, BoolArray]:
    """Reference-scale severity of every row (within 0-27) and the plateau flags.

    ``noise`` is standard normal per row; it is scaled here by the client's
    ``noise_sd`` (times ``plateau_noise_factor`` on the plateau). Only the
    rows of plateau clients are touched for the plateau.
    """
    n_rows = session.shape[0]
    top = int(session.max(initial=1))
    log_table = np.log(np.maximum(np.arange(top + 1, dtype=np.float64), 1.0))
    y = log_table[session]  # log(tau), tau = session off the plateau
    tmp = np.empty(n_rows, dtype=np.float64)  # one scratch buffer for the per-client gathers
    on_plateau = np.zeros(n_rows, dtype=bool)
    rows = plateau_rows(clients, offsets)
    flat_rows = rows[:0]
    if rows.size:
        c = client[rows]
        ps, pl = clients.plateau_start[c], clients.plateau_length[c]
        t = session[rows]
        y[rows] = np.log(effective_time(t, ps, pl))
        flat = (t >= ps) & (t < ps + pl)
        on_plateau[rows] = flat
        flat_rows = rows[flat]
    y *= np.take(b, client, out=tmp, mode="clip")
    np.negative(y, out=y)
    y += np.take(intake, client, out=tmp, mode="clip")
    y += shift
    np.take(noise_sd, client, out=tmp, mode="clip")
    tmp[flat_rows] *= plateau_noise_factor
    tmp *= noise
    y += tmp
    # reflect at the ceiling (a pile of maximum scores is not what services see),
    # clip at the floor (many recovered clients do score 0)
    np.minimum(y, 2.0 * REFERENCE_MAX - y, out=y)
    np.clip(y, 0.0, REFERENCE_MAX, out=y)
    return y, on_plateau


def plateau_rows(clients: Clients, offsets: IntArray) -> IntArray:
    """Row indices of all plateau clients (vectorised ragged ranges)."""
    who = np.flatnonzero(clients.plateau_start < NEVER)
    if who.size == 0:
        return np.zeros(0, dtype=np.int64)
    lengths = clients.lengths[who]
    first = np.repeat(offsets[who], lengths)
    within = np.arange(int(lengths.sum()), dtype=np.int64)
    within -= np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.asarray(first + within, dtype=np.int64)
