"""Who is seen, how often and when: archetypes, episode lengths, dates, ids, missed sessions.

All functions are vectorised over clients and rows; the only Python loops
run over a handful of digits or rejection rounds, never over clients.
"""

from __future__ import annotations

import math
from typing import cast

import numpy as np
import numpy.typing as npt

from twostep.errors import ConfigurationError
from twostep.instruments.scoring import BoolArray, FloatArray, IntArray
from twostep.synthetic.params import ARCHETYPES, SyntheticParams

EARLY_DROPOUT = ARCHETYPES.index("early_dropout")

StrArray = npt.NDArray[np.str_]


def draw_archetypes(rng: np.random.Generator, params: SyntheticParams) -> IntArray:
    """Archetype code (index into `ARCHETYPES`) of every client."""
    shares = params.archetype_shares()
    if params.sessions is not None:
        shares[EARLY_DROPOUT] = 0.0
    total = shares.sum()
    if total <= 0:
        raise ConfigurationError(
            "SyntheticParams: with a fixed number of sessions the early-dropout archetype is "
            "not available; give another archetype a share above 0"
        )
    return rng.choice(len(ARCHETYPES), size=params.n_clients, p=shares / total).astype(np.int64)


def draw_lengths(
    rng: np.random.Generator, params: SyntheticParams, archetype: IntArray
) -> tuple[IntArray, BoolArray]:
    """Number of administrations of every client, and whether the episode ended early."""
    n = params.n_clients
    if params.sessions is not None:
        return np.full(n, params.sessions, dtype=np.int64), np.zeros(n, dtype=bool)
    extra_mean = params.sessions_mean - params.sessions_min
    size = params.sessions_dispersion
    p = size / (size + extra_mean)
    planned = params.sessions_min + rng.negative_binomial(size, p, size=n).astype(np.int64)
    planned = np.minimum(planned, params.sessions_max)
    lo, hi = params.early_dropout_sessions
    early = archetype == EARLY_DROPOUT
    short = rng.integers(lo, hi + 1, size=n, dtype=np.int64)
    u = rng.random(n)
    v = rng.random(n)
    truncated = ~early & (planned >= 3) & (u < params.dropout_rate)
    cut = 2 + np.floor(v * (planned - 2)).astype(np.int64)  # 2 .. planned-1
    lengths = np.where(early, short, np.where(truncated, cut, planned))
    return lengths, early | truncated


def row_layout(lengths: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Offsets (n_clients + 1), client index per row and 1-based session per row."""
    offsets = np.zeros(lengths.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    n_rows = int(offsets[-1])
    client = np.repeat(np.arange(lengths.shape[0], dtype=np.int64), lengths)
    # session = 1, 2, ... restarting at every client: a cumulative sum of ones
    # with a step back of the previous client's length at each client start
    session = np.ones(n_rows, dtype=np.int64)
    starts = offsets[1:-1]
    keep = starts < n_rows
    session[starts[keep]] = 1 - lengths[:-1][keep]
    np.cumsum(session, out=session)
    return offsets, client, session


def draw_first_dates(rng: np.random.Generator, params: SyntheticParams) -> IntArray:
    """Intake date of every client, as days since 1970-01-01, uniform over the enrolment window."""
    start = np.datetime64(params.start_date, "D").astype(np.int64)
    return start + rng.integers(0, params.enrolment_days, size=params.n_clients, dtype=np.int64)


def draw_dates(
    rng: np.random.Generator,
    params: SyntheticParams,
    first: IntArray,
    offsets: IntArray,
    client: IntArray,
) -> npt.NDArray[np.datetime64]:
    """Administration dates: mostly weekly, some fortnightly, occasional long breaks.

    Gaps are 7 days (probability ``1 - fortnightly_rate - long_break_rate``),
    14 days (``fortnightly_rate``) or 29-70 days (``long_break_rate``); weekly
    and fortnightly gaps move by one day either way with probability
    ``date_jitter_rate``. Dates strictly increase within a client. ``first``
    holds the clients' intake dates (days since the epoch), ``offsets`` and
    ``client`` the rows of the same clients.
    """
    n_rows = client.shape[0]
    # one draw per row from a lookup table of gap lengths (0 = long break, filled below)
    table = _gap_table(params)
    gaps = table[rng.integers(0, _GAP_TABLE_SIZE, size=n_rows, dtype=np.uint16)]
    idx = np.flatnonzero(gaps == 0)
    gaps[idx] = rng.integers(29, 71, size=idx.shape[0], dtype=np.int8)
    firsts = offsets[:-1]
    gaps[firsts] = 0
    days = np.cumsum(gaps, dtype=np.int64)
    days -= np.take(days[firsts] - first, client, mode="clip")
    return days.view("datetime64[D]")


_GAP_TABLE_SIZE = 1 << 16


def _gap_table(params: SyntheticParams) -> npt.NDArray[np.int8]:
    """Gap lengths laid out so that a uniform index draws them with the configured odds.

    Probabilities are resolved to 1/65536.
    """
    p_long = params.long_break_rate
    p_fortnight = params.fortnightly_rate
    p_week = 1.0 - p_long - p_fortnight
    j = params.date_jitter_rate
    odds = [
        (0, p_long),
        (7, p_week * (1 - j)),
        (6, p_week * j / 2),
        (8, p_week * j / 2),
        (14, p_fortnight * (1 - j)),
        (13, p_fortnight * j / 2),
        (15, p_fortnight * j / 2),
    ]
    probs = np.array([q for _, q in odds])
    ends = np.rint(np.cumsum(probs) * _GAP_TABLE_SIZE).astype(np.int64)
    ends[-1] = _GAP_TABLE_SIZE
    counts = np.diff(np.concatenate([[0], ends]))
    return np.repeat(np.array([g for g, _ in odds], dtype=np.int8), counts)


def missing_probability(params: SyntheticParams, n_rows: int, n_kept: int) -> float:
    """Probability that a row that may be missed is a missed administration.

    ``missing_rate * n_rows / (n_rows - n_kept)`` (capped at 1), where
    ``n_kept`` rows are always observed (every intake, and the rows around
    injected sudden gains and losses), so that the expected share of missed
    rows overall is ``missing_rate``.
    """
    free = n_rows - n_kept
    return min(1.0, params.missing_rate * n_rows / free) if free > 0 else 0.0


def draw_missing(
    rng: np.random.Generator, probability: float, session: IntArray, keep: BoolArray
) -> BoolArray:
    """Missed administrations: never the intake nor a row in ``keep``."""
    missed: BoolArray = np.less(rng.random(session.shape[0], dtype=np.float32), probability)
    missed &= session > 1
    missed &= ~keep
    return missed


def make_ids(prefix: str, numbers: IntArray, min_digits: int) -> StrArray:
    """Zero-padded ids such as ``C0000001`` built without a Python loop over rows."""
    largest = int(numbers.max()) if numbers.size else 0
    digits = max(min_digits, len(str(largest)))
    width = len(prefix) + digits
    codes = np.empty((numbers.shape[0], width), dtype=np.uint32)
    for p, ch in enumerate(prefix):
        codes[:, p] = ord(ch)
    x = numbers.astype(np.int64, copy=True)
    for pos in range(width - 1, len(prefix) - 1, -1):
        codes[:, pos] = 48 + x % 10
        x //= 10
    return cast(StrArray, codes.view(np.dtype((np.str_, width))).reshape(numbers.shape[0]))


def assign_therapists(rng: np.random.Generator, params: SyntheticParams) -> IntArray:
    """Therapist index of every client; caseloads vary (gamma-distributed weights)."""
    n = params.n_clients
    n_therapists = max(1, math.ceil(n / params.clients_per_therapist))
    weights: FloatArray = rng.gamma(4.0, 1.0, size=n_therapists)
    edges = np.cumsum(weights)
    u = rng.random(n) * edges[-1]
    index: IntArray = np.searchsorted(edges, u, side="right").astype(np.int64)
    return np.minimum(index, n_therapists - 1)
