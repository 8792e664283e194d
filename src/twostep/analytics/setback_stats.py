"""The setback-context table from the service's own data (methods.md §12, [PROPOSED]).

For a setback at administration ``t``, §12 reports the share of comparable
past episodes — same instrument, same intake severity band, ``t`` in
``2-4`` / ``5-8`` / ``9+`` — that had a setback and still ended with reliable
improvement, with a 95 % Wilson interval, shown only when at least 30 such
episodes exist (`twostep.analytics.explain.SetbackStatistic`).

`setback_counts` counts, for one analysed batch, per (intake band, ``t``
group): ``n`` episodes with a setback onset in that group and ``successes``
among them whose first-to-last change is a reliable improvement. An episode
with setbacks in two groups counts once in each; one with two setbacks in the
same group counts once there. Episodes without a computable first-to-last
change (fewer than two scores) are left out, and every episode in the data is
taken as finished (a score file does not say which episodes are still open:
fit the table on past, closed episodes). The counts are sums, so per-bucket
tables `SetbackCounts.merge` in any order into the table of the whole data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from twostep.analytics.explain import SetbackStatistic
from twostep.analytics.pipeline import Analysis
from twostep.errors import AnalysisError, ConfigurationError

IntArray = npt.NDArray[np.int64]

#: The administration-index groups of §12.
T_GROUPS: tuple[str, ...] = ("2-4", "5-8", "9+")
#: Tolerance of the inclusive band edges (as in instrument scoring).
_EPS = 1e-9


def t_group(t: npt.ArrayLike) -> IntArray:
    """Code of each administration index: 0 for 2–4, 1 for 5–8, 2 for 9+, -1 below 2."""
    ta = np.asarray(t, dtype=np.int64)
    return np.select([ta < 2, ta <= 4, ta <= 8], [-1, 0, 1], 2).astype(np.int64)


def band_codes(
    score: npt.ArrayLike, minimum: Sequence[float], maximum: Sequence[float]
) -> IntArray:
    """Index of the first band (inclusive edges) holding each score; -1 for none or NaN."""
    s = np.asarray(score, dtype=np.float64)
    out = np.full(s.shape[0], -1, dtype=np.int64)
    for k, (lo, hi) in enumerate(zip(minimum, maximum, strict=True)):
        out[(s >= lo - _EPS) & (s <= hi + _EPS) & (out < 0)] = k
    return out


@dataclass(frozen=True, eq=False)
class SetbackCounts:
    """Episodes with a setback (``n``) and those that ended reliably improved (``successes``).

    Arrays of shape ``(len(bands), len(T_GROUPS))``; row ``k`` is intake band
    ``bands[k]``.
    """

    instrument_id: str
    bands: tuple[str, ...]
    n: IntArray
    successes: IntArray

    def __post_init__(self) -> None:
        shape = (len(self.bands), len(T_GROUPS))
        if self.n.shape != shape or self.successes.shape != shape:
            raise AnalysisError(f"setback counts must have shape {shape}")
        if (self.successes > self.n).any() or (self.successes < 0).any():
            raise AnalysisError("need 0 <= successes <= n in every cell")

    @classmethod
    def empty(cls, instrument_id: str, bands: Sequence[str]) -> SetbackCounts:
        shape = (len(bands), len(T_GROUPS))
        z = np.zeros(shape, dtype=np.int64)
        return cls(instrument_id, tuple(bands), z, z.copy())

    def merge(self, other: SetbackCounts) -> SetbackCounts:
        """The sum of both tables (order does not matter)."""
        if (self.instrument_id, self.bands) != (other.instrument_id, other.bands):
            raise ConfigurationError(
                "cannot merge setback tables of different instruments or bands"
            )
        return SetbackCounts(
            self.instrument_id, self.bands, self.n + other.n, self.successes + other.successes
        )

    def statistic(self, band: str, t: int) -> SetbackStatistic | None:
        """The §12 statistic for a setback at administration ``t`` of an episode that
        started in ``band`` (None for an unknown band or ``t < 2``)."""
        if band not in self.bands or t < 2:
            return None
        k = self.bands.index(band)
        g = int(t_group(np.array([t]))[0])
        return SetbackStatistic(
            successes=int(self.successes[k, g]),
            n=int(self.n[k, g]),
            group=f"{self.instrument_id}, intake {band}, administration {T_GROUPS[g]}",
        )

    def rows(self) -> list[dict[str, Any]]:
        """One mapping per cell: band, t group, n, successes, share and Wilson interval."""
        out: list[dict[str, Any]] = []
        for k, band in enumerate(self.bands):
            for g, group in enumerate(T_GROUPS):
                stat = SetbackStatistic(int(self.successes[k, g]), int(self.n[k, g]))
                share, lo, hi = stat.interval
                out.append(
                    {
                        "intake_band": band,
                        "t_group": group,
                        "n": stat.n,
                        "successes": stat.successes,
                        "share": None if stat.n == 0 else share,
                        "lower": None if stat.n == 0 else lo,
                        "upper": None if stat.n == 0 else hi,
                        "shown": stat.shown,
                    }
                )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping; inverse of `from_dict`."""
        return {
            "instrument_id": self.instrument_id,
            "rule": "methods.md §12: episodes with a setback at t in the group, "
            "share ending with reliable improvement (95 % Wilson; shown when n >= 30)",
            "t_groups": list(T_GROUPS),
            "cells": self.rows(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SetbackCounts:
        """Load a mapping made by `to_dict` (AnalysisError when malformed)."""
        try:
            iid = str(data["instrument_id"])
            cells = list(data["cells"])
            bands: list[str] = []
            for c in cells:
                if c["intake_band"] not in bands:
                    bands.append(str(c["intake_band"]))
            out = cls.empty(iid, bands)
            for c in cells:
                k = bands.index(c["intake_band"])
                g = T_GROUPS.index(c["t_group"])
                out.n[k, g] = int(c["n"])
                out.successes[k, g] = int(c["successes"])
        except (KeyError, TypeError, ValueError) as exc:
            raise AnalysisError(f"malformed setback-context table: {exc}") from None
        return cls(iid, out.bands, out.n, out.successes)


def setback_counts(
    analysis: Analysis,
    *,
    bands: Sequence[str],
    band_min: Sequence[float],
    band_max: Sequence[float],
) -> SetbackCounts:
    """Count one analysed batch's episodes for the §12 table.

    Parameters
    ----------
    analysis
        From `analyze_batch` (its setback onsets, administration indices and
        per-client reliable change are used).
    bands, band_min, band_max
        The instrument's severity bands over the native total (inclusive
        edges); the intake band is the band of the episode's first score.
    """
    tr = analysis.trajectory
    batch = analysis.batch
    n_bands = len(bands)
    reliable = np.asarray(analysis.clients["reliable_change"], dtype=np.int64)
    computable = reliable != 3  # RELIABLE_CHANGE_LABELS: 3 = not_computable
    improved = reliable == 1
    band = band_codes(analysis.clients["baseline"], band_min, band_max)
    rows = np.flatnonzero(tr.setback_onset)
    group = t_group(tr.t[rows])
    client = batch.client_index[rows]
    keep = (group >= 0) & computable[client] & (band[client] >= 0)
    client, group = client[keep], group[keep]
    # one count per (episode, t group)
    key = np.unique(client * len(T_GROUPS) + group)
    client, group = key // len(T_GROUPS), key % len(T_GROUPS)
    cell = band[client] * len(T_GROUPS) + group
    size = n_bands * len(T_GROUPS)
    n = np.bincount(cell, minlength=size).astype(np.int64).reshape(n_bands, len(T_GROUPS))
    succ = np.bincount(cell, weights=improved[client], minlength=size)
    successes = np.rint(succ).astype(np.int64).reshape(n_bands, len(T_GROUPS))
    return SetbackCounts(analysis.scale.instrument_id, tuple(bands), n, successes)


__all__ = ["T_GROUPS", "SetbackCounts", "band_codes", "setback_counts", "t_group"]
