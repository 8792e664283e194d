"""An instrument's score grid, and the map from reference points onto it.

The generator simulates severity on the **reference scale** (PHQ-9 points,
0-27, higher = worse) and then places each value on the instrument's own
grid of attainable scores:

* The grid is indexed by **severity units** ``k = 0 .. C``: ``k = 0`` is the
  best attainable score, ``k = C`` the worst. One unit is one step of the
  keyed item sum (1 for integer choice items, the resolution, e.g. 0.1, for
  visual-analogue items), so ``C`` is the number of steps between the
  smallest and largest keyed sum. For "higher is better" instruments (ORS,
  SWEMWBS) the native keyed sum is ``C - k`` steps above its minimum, so
  generating in severity orientation and converting back gives native scores
  in which improvement goes up.
* The total of each grid point is computed by the catalogue's own scoring
  (`twostep.instruments.scoring.score_matrix`) on a canonical item row, so
  sums, means, multipliers, decimals, reverse keying and conversion tables
  (SWEMWBS) are honoured without a second implementation.
* Reference points map piecewise-linearly onto units: 0 to 0, 27 to ``C``
  and the reference caseness boundary 9.5 (PHQ-9 ``>= 10`` after rounding)
  to half a unit below the first grid point that the instrument's default
  clinical cut-off counts as a case. For PHQ-9 the map is the identity; the
  share of clients above cut-off is then the same on every instrument.
  Instruments without a usable cut-off are mapped linearly.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import reduce

import numpy as np

from twostep.errors import ConfigurationError
from twostep.instruments.model import Instrument
from twostep.instruments.scoring import FloatArray, IntArray, is_case, score_matrix
from twostep.synthetic.params import REFERENCE_CUTOFF, REFERENCE_MAX

_TOL = 1e-9


@dataclass(frozen=True, eq=False)
class ItemLayout:
    """The keyed-value ranges of an instrument's scored items, in common units.

    Attributes
    ----------
    unit : float
        Step of every scored item's keyed value (and of the keyed sum).
    low : FloatArray
        Smallest keyed value of each scored item.
    capacity : IntArray
        Number of steps from the smallest to the largest keyed value per item.
    uniform : bool
        Whether all scored items step by ``unit`` (needed for item generation).
    """

    unit: float
    low: FloatArray
    capacity: IntArray
    uniform: bool

    @property
    def total_units(self) -> int:
        """``C``: steps between the smallest and the largest keyed sum."""
        return int(self.capacity.sum())


def item_layout(instrument: Instrument) -> ItemLayout:
    """Describe the scored items of ``instrument`` in common units."""
    steps: list[float] = []
    lows: list[float] = []
    spans: list[float] = []
    uniform = True
    for item in instrument.scored_items:
        scale = item.scale
        if scale.kind == "choice":
            values = sorted(scale.values)
            diffs = {b - a for a, b in itertools.pairwise(values)}
            if len(diffs) > 1:
                uniform = False
            step = float(reduce(math.gcd, diffs)) if diffs else 1.0
        else:
            step = float(scale.resolution)
        steps.append(step)
        lows.append(float(scale.minimum))
        spans.append(float(scale.maximum - scale.minimum))
    if not steps:
        raise ConfigurationError(f"{instrument.id}: no scored items to simulate")
    unit = min(steps)
    if any(abs(s - unit) > _TOL for s in steps):
        uniform = False
    capacity = np.array([round(s / unit) for s in spans], dtype=np.int64)
    return ItemLayout(unit, np.array(lows, dtype=np.float64), capacity, uniform)


def canonical_items(
    instrument: Instrument, layout: ItemLayout, native_units: IntArray
) -> FloatArray:
    """Item rows whose keyed sum is ``native_units`` steps above the minimum.

    Items are filled one after the other in catalogue order; unscored items
    get their smallest value. Used to score the grid, not as realistic data.
    """
    n = native_units.shape[0]
    out = np.empty((n, len(instrument.items)), dtype=np.float64)
    before = np.concatenate([[0], np.cumsum(layout.capacity)[:-1]])
    j_scored = 0
    for j, item in enumerate(instrument.items):
        scale = item.scale
        if not item.scored:
            out[:, j] = scale.minimum if scale.kind != "choice" else min(scale.values)
            continue
        cnt = np.clip(native_units - before[j_scored], 0, layout.capacity[j_scored])
        keyed = np.round(layout.low[j_scored] + cnt * layout.unit, 9)
        out[:, j] = scale.minimum + scale.maximum - keyed if item.reverse else keyed
        j_scored += 1
    return out


@dataclass(frozen=True, eq=False)
class ScoreGrid:
    """The attainable scores of one instrument in severity order.

    Attributes
    ----------
    instrument : Instrument
        The instrument.
    layout : ItemLayout
        Its scored items in common units.
    totals : FloatArray
        Native total of every grid point, indexed by severity unit ``k``
        (``totals[0]`` best, ``totals[-1]`` worst).
    anchor : float or None
        Severity units that the reference caseness boundary maps to; None
        when the instrument is mapped linearly.
    """

    instrument: Instrument
    layout: ItemLayout
    totals: FloatArray
    anchor: float | None

    @property
    def n_units(self) -> int:
        """``C``: the largest severity unit."""
        return self.layout.total_units

    def native_units(self, k: IntArray) -> IntArray:
        """Steps of the keyed sum above its minimum for severity units ``k``."""
        if self.instrument.higher_is_better:
            return np.asarray(self.n_units - k, dtype=np.int64)
        return k

    def to_units(self, y: FloatArray) -> IntArray:
        """Severity units nearest to reference points ``y`` (clipped to the grid).

        Works in place: ``y`` is overwritten (it is a large temporary).
        """
        c = float(self.n_units)
        if self.anchor is None:
            y *= c / REFERENCE_MAX
        else:
            ref_cut = REFERENCE_CUTOFF - 0.5
            low_slope = self.anchor / ref_cut
            high_slope = (c - self.anchor) / (REFERENCE_MAX - ref_cut)
            high = y > ref_cut
            np.multiply(y, low_slope, out=y, where=~high)
            np.multiply(y, high_slope, out=y, where=high)
            np.add(y, self.anchor - ref_cut * high_slope, out=y, where=high)
        y += 0.5
        np.floor(y, out=y)
        np.clip(y, 0, c, out=y)
        return y.astype(np.int64)


def score_grid(instrument: Instrument) -> ScoreGrid:
    """Build the `ScoreGrid` of ``instrument`` (scored with its catalogue rule)."""
    layout = item_layout(instrument)
    c = layout.total_units
    if c < 1:
        raise ConfigurationError(f"{instrument.id}: the scored items admit only one total")
    k = np.arange(c + 1, dtype=np.int64)
    native = (c - k) if instrument.higher_is_better else k
    rows = canonical_items(instrument, layout, native)
    totals = score_matrix(instrument, rows, validate=False).total
    if np.isnan(totals).any():
        raise ConfigurationError(f"{instrument.id}: some keyed sums cannot be scored")
    return ScoreGrid(instrument, layout, totals, _anchor(instrument, totals))


def _anchor(instrument: Instrument, totals: FloatArray) -> float | None:
    cutoff = instrument.clinical_cutoff
    if cutoff is None:
        return None
    case = is_case(totals, cutoff)
    first = int(np.argmax(case))
    # usable only if the cases are exactly the upper part of the severity grid
    if not case.any() or first == 0 or not case[first:].all():
        return None
    return first - 0.5
