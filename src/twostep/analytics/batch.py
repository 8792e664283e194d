"""The columnar batch every kernel function works on.

A `ScoreBatch` holds many clients' administrations of **one** instrument as
flat arrays, sorted by client and then by administration, with the clients
marked by ``offsets`` (client ``c`` owns rows ``offsets[c]:offsets[c+1]``).
Kernel functions use those offsets with whole-array operations (or compiled
loops for rules that are sequential by nature); nothing loops over clients in
Python.

Missed administrations keep their place: a row with a NaN score is a missed
administration, and gaps in the ``session`` numbers of a client are filled
with such rows (``observed = False``) so that neighbours in the arrays are
neighbours in time — the sudden-gain criteria depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from twostep.errors import AnalysisError, Problem, ValidationError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Day number used where the date of an administration is unknown.
NO_DAY: int = np.iinfo(np.int64).min


@dataclass(frozen=True, eq=False)
class ScoreBatch:
    """Administrations of one instrument for many clients, sorted by client then session.

    Attributes
    ----------
    client_keys
        The id of each client, in segment order (length ``n_clients``).
    offsets
        Segment boundaries, length ``n_clients + 1``; ``offsets[0] == 0``.
    session
        Administration index of each row as given (1-based, strictly
        increasing within a client, without gaps after densifying).
    day
        Days since 1970-01-01 of each row, `NO_DAY` where unknown.
    raw
        The score in the instrument's native direction; NaN = missed.
    observed
        False for rows inserted to fill a gap in a client's session numbers.
    """

    client_keys: npt.NDArray[np.generic]
    offsets: IntArray
    session: IntArray
    day: IntArray
    raw: FloatArray
    observed: BoolArray

    def __post_init__(self) -> None:
        n = self.raw.shape[0]
        if self.offsets.shape[0] != self.client_keys.shape[0] + 1:
            raise AnalysisError("offsets must have one entry more than client_keys")
        if self.offsets[0] != 0 or self.offsets[-1] != n:
            raise AnalysisError("offsets must start at 0 and end at the number of rows")
        for name in ("session", "day", "observed"):
            if getattr(self, name).shape[0] != n:
                raise AnalysisError(f"{name} must have one entry per row")

    @property
    def n_clients(self) -> int:
        return int(self.client_keys.shape[0])

    @property
    def n_rows(self) -> int:
        return int(self.raw.shape[0])

    @cached_property
    def lengths(self) -> IntArray:
        return np.diff(self.offsets)

    @cached_property
    def client_index(self) -> IntArray:
        """The segment (client) number of every row."""
        return np.repeat(np.arange(self.n_clients, dtype=np.int64), self.lengths)

    @cached_property
    def has_dates(self) -> bool:
        return bool(np.any(self.day != NO_DAY))

    def take_clients(self, clients: npt.ArrayLike) -> ScoreBatch:
        """A new batch with only the given client segments (by segment number), in that order."""
        idx = np.asarray(clients, dtype=np.int64)
        lengths = self.lengths[idx]
        offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        rows = _segment_rows(self.offsets[idx], lengths)
        return ScoreBatch(
            client_keys=self.client_keys[idx],
            offsets=offsets,
            session=self.session[rows],
            day=self.day[rows],
            raw=self.raw[rows],
            observed=self.observed[rows],
        )

    @classmethod
    def from_arrays(
        cls,
        client: npt.ArrayLike,
        score: npt.ArrayLike,
        *,
        session: npt.ArrayLike | None = None,
        date: npt.ArrayLike | None = None,
        densify: bool = True,
    ) -> ScoreBatch:
        """Build a batch from long-format columns (one row per administration).

        Parameters
        ----------
        client
            Client id of each row (strings or integers). Rows need not be sorted;
            already grouped and ordered input is detected and not re-sorted.
        score
            Score in the instrument's native direction; NaN = missed.
        session
            1-based administration index. When omitted, administrations are
            numbered by ``date`` within each client (two on the same day are then
            an error, because their order is unknown).
        date
            ``datetime64`` values (any unit; NaT = unknown), optional.
        densify
            Fill gaps in a client's session numbers with missed administrations.

        Raises
        ------
        ValidationError
            Duplicate client + session, sessions below 1, or neither session nor
            date given.
        """
        client_arr = np.asarray(client)
        y = np.asarray(score, dtype=np.float64)
        n = y.shape[0]
        if client_arr.shape[0] != n:
            raise AnalysisError("client and score must have the same length")
        day = _to_days(date, n)
        if session is None:
            if date is None:
                raise ValidationError(
                    [Problem("columns", "missing_column", "need a session or a date column")]
                )
            sess = None
        else:
            sess = np.asarray(session, dtype=np.int64)
            if sess.shape[0] != n:
                raise AnalysisError("session must have one entry per row")
            if n and sess.min() < 1:
                bad = int(np.flatnonzero(sess < 1)[0])
                raise ValidationError(
                    [Problem(f"row {bad + 1}", "out_of_range", "session numbers start at 1")]
                )

        codes, keys = _factorize(client_arr)
        order_key = sess if sess is not None else day
        order = _sort_order(codes, order_key)
        if order is not None:
            codes, y, day = codes[order], y[order], day[order]
            client_arr = client_arr[order]
            if sess is not None:
                sess = sess[order]
        starts = _segment_starts(codes)
        lengths = np.diff(np.append(starts, n)).astype(np.int64)
        if sess is None:
            same = np.zeros(n, dtype=bool)
            same[1:] = (day[1:] == day[:-1]) & (codes[1:] == codes[:-1])
            if same.any():
                i = int(np.flatnonzero(same)[0])
                raise ValidationError(
                    [
                        Problem(
                            f"client number {codes[i] + 1}",
                            "ambiguous_order",
                            "two administrations on the same date and no session column",
                        )
                    ]
                )
            if (day == NO_DAY).any():
                raise ValidationError(
                    [
                        Problem(
                            "date",
                            "missing_value",
                            "without a session column every row needs a date",
                        )
                    ]
                )
            sess = np.arange(n, dtype=np.int64) - np.repeat(starts, lengths) + 1
        else:
            dup = np.zeros(n, dtype=bool)
            dup[1:] = (sess[1:] == sess[:-1]) & (codes[1:] == codes[:-1])
            if dup.any():
                rows = np.flatnonzero(dup)[:10]
                raise ValidationError(
                    [
                        Problem(
                            f"client number {codes[i] + 1}, session {sess[i]}",
                            "duplicate",
                            "more than one score for the same client and session",
                        )
                        for i in rows
                    ]
                )
        seg_keys = keys[codes[starts]] if keys is not None else client_arr[starts]
        offsets = np.append(starts, n).astype(np.int64)
        observed = np.ones(n, dtype=bool)
        batch = cls(seg_keys, offsets, sess, day, y, observed)
        return batch.densified() if densify else batch

    def densified(self) -> ScoreBatch:
        """Insert missed administrations for gaps in each client's session numbers."""
        n = self.n_rows
        if n == 0:
            return self
        gap = np.zeros(n, dtype=np.int64)
        gap[1:] = self.session[1:] - self.session[:-1] - 1
        gap[self.offsets[:-1]] = 0
        if not gap.any():
            return self
        # Row i of the old batch lands at position i + (rows inserted before it).
        new_pos = np.arange(n, dtype=np.int64) + np.cumsum(gap)
        total = n + int(gap.sum())
        # Each new row belongs to the old row at or before it; inserted rows count on
        # from that row's session number.
        marker = np.zeros(total, dtype=np.int64)
        marker[new_pos] = 1
        owner = np.cumsum(marker) - 1
        step = np.arange(total, dtype=np.int64) - new_pos[owner]
        session = self.session[owner] + step
        day = np.full(total, NO_DAY, dtype=np.int64)
        day[new_pos] = self.day
        raw = np.full(total, np.nan)
        raw[new_pos] = self.raw
        observed = np.zeros(total, dtype=bool)
        observed[new_pos] = self.observed
        offsets = np.append(new_pos[self.offsets[:-1]], total).astype(np.int64)
        return ScoreBatch(self.client_keys, offsets, session, day, raw, observed)


def _to_days(date: npt.ArrayLike | None, n: int) -> IntArray:
    if date is None:
        return np.full(n, NO_DAY, dtype=np.int64)
    arr = np.asarray(date)
    if arr.shape[0] != n:
        raise AnalysisError("date must have one entry per row")
    if not np.issubdtype(arr.dtype, np.datetime64):
        try:
            arr = arr.astype("datetime64[D]")
        except ValueError as exc:
            raise ValidationError(
                [Problem("date", "invalid_date", f"dates must be ISO 8601 ({exc})")]
            ) from None
    days = arr.astype("datetime64[D]")
    out = days.astype(np.int64)
    out[np.isnat(days)] = NO_DAY
    return out


def _factorize(client: npt.NDArray[np.generic]) -> tuple[IntArray, npt.NDArray[np.generic] | None]:
    """Integer codes for the clients; (codes, keys) with keys None when codes are the ids."""
    if np.issubdtype(client.dtype, np.integer):
        return client.astype(np.int64), None
    keys, codes = np.unique(client, return_inverse=True)
    return codes.astype(np.int64).reshape(-1), keys


def _sort_order(codes: IntArray, order_key: IntArray | None) -> IntArray | None:
    """None if rows are already grouped by client (each client once) and ordered; else an order."""
    n = codes.shape[0]
    if n < 2:
        return None
    change = codes[1:] != codes[:-1]
    seg_first = codes[np.concatenate(([0], np.flatnonzero(change) + 1))]
    grouped = np.unique(seg_first).shape[0] == seg_first.shape[0]
    ordered = True
    if order_key is not None:
        ordered = bool(np.all(change | (order_key[1:] > order_key[:-1])))
    if grouped and ordered:
        return None
    keys = (order_key,) if order_key is not None else ()
    return np.lexsort((*keys, codes)).astype(np.int64)


def _segment_starts(codes: IntArray) -> IntArray:
    n = codes.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(([0], np.flatnonzero(codes[1:] != codes[:-1]) + 1)).astype(np.int64)


def _segment_rows(starts: IntArray, lengths: IntArray) -> IntArray:
    """Row indices of the segments starting at ``starts`` with ``lengths``, concatenated."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    seg_start_pos = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    within = np.arange(total, dtype=np.int64) - np.repeat(seg_start_pos, lengths)
    rows: IntArray = np.repeat(starts, lengths) + within
    return rows
