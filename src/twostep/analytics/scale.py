"""What the kernel needs to know about a measure, in severity orientation.

All change arithmetic runs on a severity-oriented score ``y`` (higher =
worse; methods.md conventions). For a "higher is better" scale (ORS, SRS,
WAI-SR, SWEMWBS) twostep uses ``y = max - raw``, so that the relative
criterion of the sudden-gain rule means "a share of the remaining distance to
the ceiling" (methods.md §3.5). A `Scale` carries that orientation, the
reliable-change threshold and the clinical cut-off, each with its source, and
is built from a catalogue instrument or — for a scale outside the catalogue
(BDI-II, a clinic's own measure) — from plain numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from twostep.analytics.norms_model import ScaleInfo
from twostep.analytics.reliable_change import ReliableChangeThreshold
from twostep.errors import ConfigurationError
from twostep.instruments.model import Comparison, Instrument, ReliableChangeKind

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Fixed thresholds are compared with this tolerance so that decimal scores
#: (ORS 24.3 - 19.3 = 4.999999...) meet a threshold of 5 as a clinician would.
_FIXED_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Scale:
    """A measure as the kernel sees it.

    Attributes
    ----------
    instrument_id, name
        Identification (``name`` is the short name shown in texts, e.g. "PHQ-9").
    minimum, maximum
        The range of the native total.
    higher_is_better
        Native direction; severity orientation is ``y = maximum - raw`` then.
    rc
        The reliable-change threshold (with its semantics and source).
    cutoff, cutoff_comparison, cutoff_source
        Clinical range in native units: ``raw <comparison> cutoff`` is a case.
        None when the measure has no cut-off.
    integer
        Whether totals are whole numbers.
    tracks_outcome
        False for screening measures (PHQ-2, GAD-2): no change statistics.
    resolution
        The step between attainable totals (1 for integer sums, 0.1 for ORS).
    purpose
        ``outcome``, ``alliance`` (SRS, WAI-SR: rupture and repair apply too),
        ``process`` or ``screening``.
    """

    instrument_id: str
    name: str
    minimum: float
    maximum: float
    higher_is_better: bool
    rc: ReliableChangeThreshold
    cutoff: float | None = None
    cutoff_comparison: Comparison = Comparison.GE
    cutoff_source: str = ""
    integer: bool = True
    tracks_outcome: bool = True
    resolution: float = 1.0
    purpose: str = "outcome"

    def __post_init__(self) -> None:
        if not self.minimum < self.maximum:
            raise ConfigurationError(f"{self.name}: the minimum must be below the maximum")
        if self.cutoff is not None and not self.minimum <= self.cutoff <= self.maximum:
            raise ConfigurationError(f"{self.name}: the cut-off lies outside the score range")

    # ----------------------------------------------------------- construction

    @classmethod
    def from_instrument(
        cls,
        instrument: Instrument,
        *,
        rc: float | None = None,
        reliability: float | None = None,
        sd: float | None = None,
        cutoff: float | None = None,
        z: float = 1.96,
    ) -> Scale:
        """The instrument's catalogue values, with optional overrides.

        ``rc`` replaces the threshold by a fixed one; ``reliability`` + ``sd``
        compute a Jacobson–Truax threshold instead (required for instruments
        whose RC must be computed locally, such as WAI-SR or K10).
        """
        threshold = _threshold(
            instrument.short_name,
            rc=rc,
            reliability=reliability,
            sd=sd,
            z=z,
            integer=_integer(instrument),
            catalogue=instrument,
        )
        cut = instrument.clinical_cutoff
        return cls(
            instrument_id=instrument.id,
            name=instrument.short_name,
            minimum=instrument.scoring.total_min,
            maximum=instrument.scoring.total_max,
            higher_is_better=instrument.higher_is_better,
            rc=threshold,
            cutoff=cutoff if cutoff is not None else (cut.value if cut else None),
            cutoff_comparison=cut.comparison
            if cut is not None
            else (Comparison.LT if instrument.higher_is_better else Comparison.GE),
            cutoff_source="given by the user"
            if cutoff is not None
            else (cut.citation.source if cut else ""),
            integer=_integer(instrument),
            tracks_outcome=instrument.tracks_outcome,
            resolution=_resolution(instrument),
            purpose=instrument.purpose.value,
        )

    @classmethod
    def custom(
        cls,
        *,
        name: str,
        minimum: float,
        maximum: float,
        higher_is_better: bool,
        rc: float | None = None,
        reliability: float | None = None,
        sd: float | None = None,
        cutoff: float | None = None,
        integer: bool = True,
        z: float = 1.96,
        instrument_id: str = "custom",
        resolution: float | None = None,
    ) -> Scale:
        """A scale outside the catalogue (e.g. BDI-II 0–63, higher worse, RC from α and SD).

        Give ``rc`` (a fixed threshold) or ``reliability`` and ``sd`` (Jacobson–Truax).
        The cut-off, if any, is a case when ``raw >= cutoff`` (higher worse) or
        ``raw < cutoff`` (higher better).
        """
        threshold = _threshold(
            name, rc=rc, reliability=reliability, sd=sd, z=z, integer=integer, catalogue=None
        )
        return cls(
            instrument_id=instrument_id,
            name=name,
            minimum=float(minimum),
            maximum=float(maximum),
            higher_is_better=higher_is_better,
            rc=threshold,
            cutoff=cutoff,
            cutoff_comparison=Comparison.LT if higher_is_better else Comparison.GE,
            cutoff_source="given by the user" if cutoff is not None else "",
            integer=integer,
            resolution=resolution if resolution is not None else (1.0 if integer else 0.01),
        )

    def scale_info(self) -> ScaleInfo:
        """The scale description stored with fitted norms."""
        return ScaleInfo(self.minimum, self.maximum, self.higher_is_better, self.resolution)

    def with_cutoff(self, cutoff: float | None, source: str) -> Scale:
        return replace(self, cutoff=cutoff, cutoff_source=source)

    # ----------------------------------------------------------- orientation

    def severity(self, raw: npt.ArrayLike) -> FloatArray:
        """Native scores to severity orientation (higher = worse).

        For a higher-is-worse scale this returns the input itself (no copy):
        kernel arrays are never modified in place.
        """
        r = np.asarray(raw, dtype=np.float64)
        return self.maximum - r if self.higher_is_better else r

    def native(self, y: npt.ArrayLike) -> FloatArray:
        """Severity-oriented scores back to the native direction (no copy when they coincide)."""
        v = np.asarray(y, dtype=np.float64)
        return self.maximum - v if self.higher_is_better else v

    def native_change(self, delta: npt.ArrayLike) -> FloatArray:
        """A severity-oriented change as a change in native points (sign flipped if higher is better)."""
        d = np.asarray(delta, dtype=np.float64)
        return -d if self.higher_is_better else d

    @property
    def severity_cutoff(self) -> tuple[float, bool] | None:
        """The clinical range in severity orientation: ``(c, inclusive)`` meaning
        ``y >= c`` (inclusive) or ``y > c``; None without a cut-off."""
        if self.cutoff is None:
            return None
        cmp = self.cutoff_comparison
        if not self.higher_is_better:
            if cmp is Comparison.GE:
                return self.cutoff, True
            if cmp is Comparison.GT:
                return self.cutoff, False
            raise ConfigurationError(f"{self.name}: a higher-is-worse cut-off must use >= or >")
        if cmp is Comparison.LT:  # raw < c  <=>  y > max - c
            return self.maximum - self.cutoff, False
        if cmp is Comparison.LE:  # raw <= c  <=>  y >= max - c
            return self.maximum - self.cutoff, True
        raise ConfigurationError(f"{self.name}: a higher-is-better cut-off must use < or <=")

    def is_case(self, y: npt.ArrayLike) -> BoolArray:
        """Whether severity-oriented scores lie in the clinical range (False for NaN)."""
        v = np.asarray(y, dtype=np.float64)
        sc = self.severity_cutoff
        if sc is None:
            return np.zeros(v.shape, dtype=np.bool_)
        c, inclusive = sc
        with np.errstate(invalid="ignore"):
            out = v >= c if inclusive else v > c
        return np.asarray(out & ~np.isnan(v), dtype=np.bool_)

    # ----------------------------------------------------------- thresholds

    @property
    def rc_points(self) -> float:
        """The threshold as the compiled kernels compare it (with their semantics)."""
        t = self.rc.threshold
        return t if self.rc.strict else t - _FIXED_TOLERANCE * max(1.0, t)

    @property
    def rc_label(self) -> str:
        """E.g. "RC 6 (NHS Talking Therapies Manual)"."""
        t = self.rc.threshold
        value = f"{t:g}" if not self.rc.strict else f"{t:.2f}"
        return f"RC {value} ({self.rc.source})" if self.rc.source else f"RC {value}"

    @property
    def s_diff(self) -> float:
        """Standard error of the difference behind the RCI.

        For a computed J&T threshold it is the ``S_diff`` used; for a fixed
        published threshold twostep uses the ``S_diff`` that threshold implies,
        ``RC / z`` with z = 1.96, so that ``|RCI| >= 1.96`` exactly when
        ``|Δ| >= RC`` and the RCI never contradicts the reliable-change label.
        """
        if self.rc.s_diff is not None:
            return float(self.rc.s_diff)
        return self.rc.threshold / 1.96


def _resolution(instrument: Instrument) -> float:
    """The step between attainable totals (1 for integer sums)."""
    sc = instrument.scoring
    if _integer(instrument):
        return float(sc.multiplier)
    if sc.conversion or sc.decimals > 0:
        return 10.0 ** (-sc.decimals) if sc.decimals > 0 else 1.0
    items = instrument.scored_items
    if sc.method == "mean":
        return 1.0 / len(items)
    return min(i.scale.resolution for i in items) * sc.multiplier


def _integer(instrument: Instrument) -> bool:
    sc = instrument.scoring
    return (
        sc.method == "sum"
        and not sc.conversion
        and all(i.scale.kind == "choice" for i in instrument.scored_items)
        and float(sc.multiplier).is_integer()
    )


def _threshold(
    name: str,
    *,
    rc: float | None,
    reliability: float | None,
    sd: float | None,
    z: float,
    integer: bool,
    catalogue: Instrument | None,
) -> ReliableChangeThreshold:
    if rc is not None and (reliability is not None or sd is not None):
        raise ConfigurationError("give either rc or reliability + sd, not both")
    if rc is not None:
        if not (math.isfinite(rc) and rc > 0):
            raise ConfigurationError("rc must be a positive number of points")
        return ReliableChangeThreshold.fixed(rc, source="given by the user")
    if reliability is not None or sd is not None:
        if reliability is None or sd is None:
            raise ConfigurationError("a Jacobson–Truax threshold needs both reliability and sd")
        return ReliableChangeThreshold.jacobson_truax(
            sd,
            reliability,
            z=z,
            integer_scale=integer,
            source=f"Jacobson & Truax (1991) with r = {reliability:g}, SD = {sd:g} given by the user",
        )
    if catalogue is not None:
        spec = catalogue.reliable_change
        if spec.kind is ReliableChangeKind.FIXED and spec.threshold is not None:
            return ReliableChangeThreshold.fixed(spec.threshold, source=spec.citation.source)
        if spec.kind is ReliableChangeKind.JACOBSON_TRUAX and spec.threshold is not None:
            return ReliableChangeThreshold(
                threshold=spec.threshold,
                strict=True,
                method="jacobson_truax",
                source=spec.citation.source,
            )
        if spec.kind is ReliableChangeKind.NOT_APPLICABLE and not catalogue.tracks_outcome:
            raise ConfigurationError(
                f"{name} is a screening measure: it is not used for change statistics"
            )
        if spec.kind is ReliableChangeKind.NOT_APPLICABLE:
            raise ConfigurationError(
                f"{name} has no reliable-change threshold ({catalogue.purpose.value} measure): "
                "give rc (--rc) to analyse its course anyway"
            )
        raise ConfigurationError(
            f"{name} has no published reliable-change threshold: give rc (--rc), or reliability "
            "and sd (--reliability, --sd) for a Jacobson–Truax threshold from your own data"
        )
    raise ConfigurationError(
        f"{name}: give rc (--rc), or reliability and sd (--reliability, --sd) for the "
        "reliable-change threshold"
    )
