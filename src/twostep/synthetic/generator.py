"""`generate_episodes`: synthetic measurement-based-care data, fully vectorised.

Pipeline:

1. per client (one vectorised pass over all clients) — archetype, episode
   length (random or fixed), dropout, therapist, intake date, intake
   severity, log-time rate, plateau window, injected sudden gains, sudden
   losses and setbacks, and the paired measure's own intake and noise level
   (`twostep.synthetic.schedule`, `twostep.synthetic.trajectory`);
2. per row, in blocks of `CHUNK_CLIENTS` clients (a loop over a few dozen
   blocks, never over clients or rows; it keeps the temporaries small and in
   cache, which matters more than anything else at a million clients) —
   dates, severity on the reference scale with noise, the instrument's grid
   (`twostep.synthetic.scale`), missed administrations, the paired measure
   and item responses (`twostep.synthetic.items`), written into the output
   columns.

Randomness comes from independent streams spawned from
``numpy.random.SeedSequence(seed)`` (one per purpose, and one per block for
the per-row draws), so the output depends only on the parameters and the
seed, and switching ``items`` or the paired measure on does not change the
primary scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from twostep.errors import ConfigurationError
from twostep.instruments.registry import get_instrument
from twostep.instruments.scoring import BoolArray, FloatArray, IntArray, score_matrix
from twostep.synthetic.items import generate_items, item_locations
from twostep.synthetic.params import ARCHETYPES, SyntheticParams
from twostep.synthetic.result import DateArray, StrArray, SyntheticScores, SyntheticTruth
from twostep.synthetic.scale import ScoreGrid, score_grid
from twostep.synthetic.schedule import (
    assign_therapists,
    draw_archetypes,
    draw_dates,
    draw_first_dates,
    draw_lengths,
    draw_missing,
    make_ids,
    missing_probability,
    row_layout,
)
from twostep.synthetic.trajectory import (
    Clients,
    client_slice,
    draw_clients,
    draw_events,
    event_shift,
    protected_rows,
    severity,
    slopes,
    truncated_correlated,
)

#: Clients per block of the per-row pass (fixed, so output never depends on the machine).
CHUNK_CLIENTS = 1 << 15

_A = TypeVar("_A", bound=npt.NDArray[Any])


@dataclass(frozen=True, eq=False)
class _Paired:
    """Per-client parameters of the paired measure."""

    grid: ScoreGrid
    intake: FloatArray
    b: FloatArray
    noise_sd: FloatArray


@dataclass(frozen=True, eq=False)
class _Out:
    """The preallocated output columns, filled block by block."""

    session: IntArray
    date: DateArray
    score: FloatArray
    true_score: FloatArray
    client_id: StrArray
    therapist_id: StrArray
    sudden_gain: BoolArray
    sudden_loss: BoolArray
    setback: BoolArray
    plateau: BoolArray
    items: FloatArray | None
    paired_score: FloatArray | None
    paired_true: FloatArray | None
    paired_items: FloatArray | None


def generate_episodes(params: SyntheticParams | None = None) -> SyntheticScores:
    """Generate one episode of care per client, in long format.

    Parameters
    ----------
    params : SyntheticParams, optional
        What to generate; the defaults give 1000 PHQ-9 episodes of 1-20
        administrations (see `SyntheticParams` for every parameter).

    Returns
    -------
    SyntheticScores
        Equal-length per-row columns sorted by client then session, optional
        item responses and paired measure, and the ground truth.

    Raises
    ------
    twostep.errors.UnknownInstrumentError
        If an instrument id is not in the catalogue.
    twostep.errors.ConfigurationError
        If the parameters cannot be honoured (e.g. items for an instrument
        whose scored items step differently).

    Examples
    --------
    >>> data = generate_episodes(SyntheticParams(n_clients=10, seed=1))
    >>> data.n_clients
    10
    """
    p = params if params is not None else SyntheticParams()
    grid = score_grid(get_instrument(p.instrument))
    paired_grid = (
        score_grid(get_instrument(p.paired_instrument)) if p.paired_instrument is not None else None
    )
    if p.items:
        for g in (grid, paired_grid):
            if g is not None and not g.layout.uniform:
                raise ConfigurationError(
                    f"{g.instrument.id}: item generation needs scored items whose values step "
                    "evenly by one common step; generate totals only (items=False)"
                )
    seeds = np.random.SeedSequence(p.seed).spawn(5)
    rng_schedule, rng_traj, rng_paired, rng_items = (np.random.default_rng(s) for s in seeds[:4])
    n = p.n_clients

    # 1. per client
    archetype = draw_archetypes(rng_schedule, p)
    lengths, dropped_out = draw_lengths(rng_schedule, p, archetype)
    therapist = assign_therapists(rng_schedule, p)
    first_date = draw_first_dates(rng_schedule, p)
    clients = draw_clients(rng_traj, p, archetype, lengths)
    b = slopes(clients, clients.intake, p)
    events = draw_events(rng_traj, p, clients, b)
    paired = (
        _paired_clients(rng_paired, p, paired_grid, clients) if paired_grid is not None else None
    )
    loc = item_locations(rng_items, grid.instrument, p.risk_item_offset) if p.items else None
    paired_loc = (
        item_locations(rng_items, paired_grid.instrument, p.risk_item_offset)
        if p.items and paired_grid is not None
        else None
    )

    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    n_rows = int(offsets[-1])
    p_missing = missing_probability(p, n_rows, n + protected_rows(events, lengths))
    client_ids = make_ids("C", np.arange(1, n + 1, dtype=np.int64), 7)
    n_therapists = max(1, math.ceil(n / p.clients_per_therapist))
    therapist_ids = make_ids("T", np.arange(1, n_therapists + 1, dtype=np.int64), 4)
    out = _allocate(n_rows, client_ids, therapist_ids, grid, paired_grid, p.items)

    # 2. per row, block by block
    n_chunks = max(1, math.ceil(n / CHUNK_CLIENTS))
    chunk_seeds = seeds[4].spawn(n_chunks)
    for k in range(n_chunks):
        c0, c1 = k * CHUNK_CLIENTS, min(n, (k + 1) * CHUNK_CLIENTS)
        if c1 <= c0:
            break
        r0, r1 = int(offsets[c0]), int(offsets[c1])
        rngs = [np.random.default_rng(s) for s in chunk_seeds[k].spawn(4)]
        local_offsets, local_client, session = row_layout(lengths[c0:c1])
        rows = slice(r0, r1)
        out.session[rows] = session
        out.date[rows] = draw_dates(rngs[0], p, first_date[c0:c1], local_offsets, local_client)
        out.client_id[rows] = client_ids[c0:c1][local_client]
        out.therapist_id[rows] = therapist_ids[therapist[c0:c1]][local_client]

        cl = client_slice(clients, c0, c1)
        ev = client_slice(events, c0, c1)
        shift, flags = event_shift(ev, local_offsets, cl.lengths)
        noise = rngs[0].standard_normal(r1 - r0)
        y, on_plateau = severity(
            cl.intake,
            b[c0:c1],
            cl.noise_sd,
            cl,
            local_offsets,
            local_client,
            session,
            shift,
            noise,
            p.plateau_noise_factor,
        )
        units = grid.to_units(y)
        true_score = grid.totals[units]
        missed = draw_missing(rngs[0], p_missing, session, flags.keep)
        out.true_score[rows] = true_score
        out.score[rows] = np.where(missed, np.nan, true_score)
        out.sudden_gain[rows] = flags.sudden_gain
        out.sudden_loss[rows] = flags.sudden_loss
        out.setback[rows] = flags.setback
        out.plateau[rows] = on_plateau

        if paired is not None:
            assert out.paired_score is not None
            assert out.paired_true is not None
            p_units = _paired_units(
                rngs[1], p, paired, cl, c0, c1, local_offsets, local_client, session, shift
            )
            p_true = paired.grid.totals[p_units]
            out.paired_true[rows] = p_true
            out.paired_score[rows] = np.where(missed, np.nan, p_true)
        if out.items is not None and loc is not None:
            items, total = _items_and_totals(
                rngs[2], p, grid, loc, units, local_client, c1 - c0, missed
            )
            out.items[rows] = items
            out.score[rows] = total
        if out.paired_items is not None and paired is not None and paired_loc is not None:
            assert out.paired_score is not None
            items, total = _items_and_totals(
                rngs[3], p, paired.grid, paired_loc, p_units, local_client, c1 - c0, missed
            )
            out.paired_items[rows] = items
            out.paired_score[rows] = total

    names = np.array(ARCHETYPES)
    truth = SyntheticTruth(
        archetype=_ro(names[archetype]),
        dropped_out=_ro(dropped_out),
        intake=_ro(clients.intake),
        true_score=_ro(out.true_score),
        sudden_gain=_ro(out.sudden_gain),
        sudden_loss=_ro(out.sudden_loss),
        setback=_ro(out.setback),
        plateau=_ro(out.plateau),
        paired_true_score=_ro(out.paired_true) if out.paired_true is not None else None,
    )
    return SyntheticScores(
        instrument=grid.instrument.id,
        client_id=_ro(out.client_id),
        session=_ro(out.session),
        date=_ro(out.date),
        score=_ro(out.score),
        therapist_id=_ro(out.therapist_id),
        offsets=_ro(offsets),
        truth=truth,
        item_ids=grid.instrument.item_ids if out.items is not None else (),
        items=_ro(out.items) if out.items is not None else None,
        paired_instrument=paired_grid.instrument.id if paired_grid is not None else None,
        paired_score=_ro(out.paired_score) if out.paired_score is not None else None,
        paired_item_ids=(
            paired_grid.instrument.item_ids
            if paired_grid is not None and out.paired_items is not None
            else ()
        ),
        paired_items=_ro(out.paired_items) if out.paired_items is not None else None,
    )


def _allocate(
    n_rows: int,
    client_ids: StrArray,
    therapist_ids: StrArray,
    grid: ScoreGrid,
    paired_grid: ScoreGrid | None,
    items: bool,
) -> _Out:
    def floats() -> FloatArray:
        return np.empty(n_rows, dtype=np.float64)

    def bools() -> BoolArray:
        return np.empty(n_rows, dtype=bool)

    def matrix(g: ScoreGrid) -> FloatArray:
        return np.empty((n_rows, len(g.instrument.items)), dtype=np.float64)

    has_paired = paired_grid is not None
    return _Out(
        session=np.empty(n_rows, dtype=np.int64),
        date=np.empty(n_rows, dtype="datetime64[D]"),
        score=floats(),
        true_score=floats(),
        client_id=np.empty(n_rows, dtype=client_ids.dtype),
        therapist_id=np.empty(n_rows, dtype=therapist_ids.dtype),
        sudden_gain=bools(),
        sudden_loss=bools(),
        setback=bools(),
        plateau=bools(),
        items=matrix(grid) if items else None,
        paired_score=floats() if has_paired else None,
        paired_true=floats() if has_paired else None,
        paired_items=matrix(paired_grid) if items and paired_grid is not None else None,
    )


def _paired_clients(
    rng: np.random.Generator, p: SyntheticParams, grid: ScoreGrid, clients: Clients
) -> _Paired:
    """The paired measure shares archetype, rate and events; intake and noise are its own."""
    intake = truncated_correlated(
        rng,
        clients.intake_z,
        p.paired_intake_correlation,
        p.intake_mean,
        p.intake_sd,
        p.intake_min,
        p.intake_max,
    )
    b = slopes(clients, intake, p)
    spread = p.noise_sd_spread
    n = intake.shape[0]
    noise_sd = p.noise_sd * np.exp(spread * rng.standard_normal(n) - spread * spread / 2)
    return _Paired(grid, intake, b, noise_sd)


def _paired_units(
    rng: np.random.Generator,
    p: SyntheticParams,
    paired: _Paired,
    clients: Clients,
    c0: int,
    c1: int,
    offsets: IntArray,
    client: IntArray,
    session: IntArray,
    shift: FloatArray,
) -> IntArray:
    """Severity units of the paired measure for clients ``c0:c1``."""
    noise = rng.standard_normal(int(session.shape[0]))
    coupled: FloatArray = np.multiply(shift, p.paired_event_coupling)
    y, _ = severity(
        paired.intake[c0:c1],
        paired.b[c0:c1],
        paired.noise_sd[c0:c1],
        clients,
        offsets,
        client,
        session,
        coupled,
        noise,
        p.plateau_noise_factor,
    )
    return paired.grid.to_units(y)


def _items_and_totals(
    rng: np.random.Generator,
    p: SyntheticParams,
    grid: ScoreGrid,
    loc: FloatArray,
    units: IntArray,
    client: IntArray,
    n_clients: int,
    missed: BoolArray,
) -> tuple[FloatArray, FloatArray]:
    """Item responses and the totals the catalogue scores them to (NaN where missed)."""
    items = generate_items(rng, grid, loc, units, client, n_clients, ~missed, p.item_missing_rate)
    total = score_matrix(grid.instrument, items, validate=False).total
    return items, np.where(missed, np.nan, total)


def _ro(arr: _A) -> _A:
    """Mark ``arr`` read-only (the result is frozen) and return it."""
    arr.setflags(write=False)
    return arr
