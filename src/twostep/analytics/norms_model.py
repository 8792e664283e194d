"""The fitted ETR norms: a frozen, JSON-ready model (methods.md §4.2, [PROPOSED]).

A `NormsModel` holds the quantile-regression coefficients of

``Q_tau(y_t | y_1, t) = b0 + b1*y_1 + b2*log(t') + b3*y_1*log(t')``, ``t' = min(t, t_cap)``

for each level ``tau`` (severity orientation), with everything needed to use
and audit it: the scale it was fitted on, the training window and size, the
cross-validated coverage and the creation time. `NormsModel.to_dict` gives a
JSON-ready mapping and `NormsModel.from_dict` validates one on load; writing
the file is the caller's job (the kernel does no I/O).

`predict_quantiles` applies the monotone rearrangement of Chernozhukov,
Fernández-Val & Galichon (2010): with a finite set of levels, rearranging the
predicted quantile curve is sorting the predictions of each row. Predictions
are then clipped to the scale's severity range (a score can be neither above
the maximum nor below the minimum, so clipping never changes a band).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from twostep.errors import AnalysisError, ConfigurationError, Problem, ValidationError

FloatArray = npt.NDArray[np.float64]

NORMS_FORMAT_VERSION = 1
MODEL_NAME = "twostep.etr.quantile_log_t"
TERMS: tuple[str, ...] = ("intercept", "y1", "log_t", "y1_log_t")
DEFAULT_TAUS: tuple[float, ...] = (0.10, 0.25, 0.50, 0.75, 0.90)
#: A score within this many resolution units of a predicted quantile counts as *at* it
#: (the interior-point solution is exact only to about 1e-9).
TIE_TOLERANCE = 1e-6
ORIENTATION_RAW = "raw"
ORIENTATION_REFLECTED = "max_minus_raw"


@dataclass(frozen=True)
class ScaleInfo:
    """An instrument's total-score scale and how it maps to severity orientation.

    Severity ``y = raw`` when higher is worse, ``y = native_max - raw`` when
    higher is better (methods.md conventions), so the severity range is
    ``native_min..native_max`` or ``0..native_max - native_min``.

    Attributes
    ----------
    native_min, native_max : float
        Range of the total in the instrument's own direction.
    higher_is_better : bool
    resolution : float
        Step between attainable totals (1 for integer totals); scores are
        rounded to it when norms are counted.
    """

    native_min: float
    native_max: float
    higher_is_better: bool = False
    resolution: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.native_min) and math.isfinite(self.native_max)):
            raise ConfigurationError("scale bounds must be finite")
        if not self.native_max > self.native_min:
            raise ConfigurationError("native_max must exceed native_min")
        if not (math.isfinite(self.resolution) and self.resolution > 0):
            raise ConfigurationError("resolution must be positive")
        steps = (self.native_max - self.native_min) / self.resolution
        if abs(steps - round(steps)) > 1e-6 or steps > 1e6:
            raise ConfigurationError("the scale range must be a whole number of resolution steps")

    @property
    def severity_orientation(self) -> str:
        return ORIENTATION_REFLECTED if self.higher_is_better else ORIENTATION_RAW

    @property
    def severity_min(self) -> float:
        return 0.0 if self.higher_is_better else float(self.native_min)

    @property
    def severity_max(self) -> float:
        span = self.native_max - self.native_min
        return float(span) if self.higher_is_better else float(self.native_max)

    @property
    def n_levels(self) -> int:
        """Number of attainable totals on the grid."""
        return round((self.native_max - self.native_min) / self.resolution) + 1

    def to_severity(self, raw: npt.ArrayLike) -> FloatArray:
        """Native scores → severity orientation (NaN stays NaN)."""
        r = np.asarray(raw, dtype=np.float64)
        return np.asarray(self.native_max - r if self.higher_is_better else r, dtype=np.float64)

    def from_severity(self, y: npt.ArrayLike) -> FloatArray:
        """Severity orientation → native scores."""
        return self.to_severity(y)


@dataclass(frozen=True)
class Coverage:
    """Cross-validated coverage of the upper quantile (methods.md §4.2 validation).

    ``fold_share[k]`` is the share of fold ``k``'s scores above the ``tau``
    quantile predicted by the model fitted on the other folds (NaN when the
    fold or its complement is empty); ``share`` pools the folds. ``passed`` is
    ``|share - target| <= tolerance``. Folds: `twostep.analytics.folds`.
    """

    tau: float
    target: float
    tolerance: float
    fold_share: tuple[float, ...]
    fold_n: tuple[int, ...]
    share: float
    n: int
    passed: bool
    fold_hash: str = "fnv1a64-utf8-mod-k"


@dataclass(frozen=True)
class NormsModel:
    """Fitted expected-treatment-response quantiles for one instrument.

    Attributes
    ----------
    format_version : int
    instrument_id : str
    model : str
        `MODEL_NAME`; the terms are `TERMS`.
    taus : tuple of float
        Increasing quantile levels.
    coefficients : tuple of tuple of float
        One row per tau: ``(b0, b1, b2, b3)`` for `TERMS`.
    t_cap : int
        ``t`` beyond it is treated as ``t_cap`` (flat curves).
    scale : ScaleInfo
    training_first_day, training_last_day : str or None
        ISO dates of the first and last training administration, when known.
    n_episodes, n_scores : int
        Episodes and training rows (scores at ``t >= 2``) fitted on.
    coverage : Coverage
    created_at : str
        ISO 8601 time given by the caller.
    """

    format_version: int
    instrument_id: str
    model: str
    taus: tuple[float, ...]
    coefficients: tuple[tuple[float, ...], ...]
    t_cap: int
    scale: ScaleInfo
    training_first_day: str | None
    training_last_day: str | None
    n_episodes: int
    n_scores: int
    coverage: Coverage
    created_at: str

    def __post_init__(self) -> None:
        if not valid_taus(self.taus):
            raise ConfigurationError("taus must be increasing and within (0, 1)")
        if len(self.coefficients) != len(self.taus) or any(
            len(row) != len(TERMS) for row in self.coefficients
        ):
            raise ConfigurationError(f"coefficients must be one row of {len(TERMS)} per tau")
        if self.t_cap < 2:
            raise ConfigurationError("t_cap must be at least 2")

    def describe(self) -> str:
        """One line for reports: what was fitted, on what, and whether coverage passed."""
        window = (
            f", {self.training_first_day} to {self.training_last_day}"
            if self.training_first_day and self.training_last_day
            else ""
        )
        cov = self.coverage
        verdict = "passed" if cov.passed else "FAILED"
        return (
            f"{self.model} quantile model for {self.instrument_id} fitted {self.created_at} on "
            f"{self.n_episodes:,} episodes / {self.n_scores:,} scores{window}; cross-validated share "
            f"above the {cov.tau:.0%} quantile {cov.share:.1%} (target {cov.target:.0%} ± "
            f"{cov.tolerance:.0%}: {verdict})"
        )

    @property
    def coef(self) -> FloatArray:
        """Coefficients as an array of shape (len(taus), 4)."""
        return np.asarray(self.coefficients, dtype=np.float64).reshape(len(self.taus), len(TERMS))

    def tau_index(self, tau: float) -> int:
        """Position of level ``tau`` in `taus` (ConfigurationError if absent)."""
        for i, x in enumerate(self.taus):
            if abs(x - tau) < 1e-9:
                return i
        raise ConfigurationError(f"the norms have no {tau} quantile (taus: {self.taus})")

    def predict(self, y1: npt.ArrayLike, t: npt.ArrayLike) -> FloatArray:
        """Expected quantiles of ``y_t`` given intake ``y1`` and administration ``t``.

        Parameters
        ----------
        y1 : float array
            Intake scores (severity orientation).
        t : int array
            Administration index (intake = 1), ``>= 1``; broadcast against ``y1``.

        Returns
        -------
        ndarray of shape (n, len(taus))
            Sorted along each row (monotone rearrangement) and clipped to the
            severity range.
        """
        y1b, tb = np.broadcast_arrays(
            np.asarray(y1, dtype=np.float64), np.asarray(t, dtype=np.float64)
        )
        y1a, ta = y1b.reshape(-1), tb.reshape(-1)
        if (ta < 1).any():
            raise AnalysisError("t must be at least 1 (intake = 1)")
        return predict_quantiles(
            self.coef, y1a, ta, self.t_cap, self.scale.severity_min, self.scale.severity_max
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping (NaN → None); inverse of `from_dict`."""
        cov = self.coverage
        return {
            "format_version": self.format_version,
            "instrument_id": self.instrument_id,
            "model": self.model,
            "terms": list(TERMS),
            "taus": list(self.taus),
            "coefficients": [list(row) for row in self.coefficients],
            "t_cap": self.t_cap,
            "scale": {
                "native_min": self.scale.native_min,
                "native_max": self.scale.native_max,
                "higher_is_better": self.scale.higher_is_better,
                "resolution": self.scale.resolution,
                "severity_orientation": self.scale.severity_orientation,
                "severity_min": self.scale.severity_min,
                "severity_max": self.scale.severity_max,
            },
            "training_first_day": self.training_first_day,
            "training_last_day": self.training_last_day,
            "n_episodes": self.n_episodes,
            "n_scores": self.n_scores,
            "coverage": {
                "tau": cov.tau,
                "target": cov.target,
                "tolerance": cov.tolerance,
                "fold_share": [_nan_none(x) for x in cov.fold_share],
                "fold_n": list(cov.fold_n),
                "share": _nan_none(cov.share),
                "n": cov.n,
                "passed": cov.passed,
                "fold_hash": cov.fold_hash,
            },
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NormsModel:
        """Validate and load a mapping made by `to_dict`.

        Raises
        ------
        ValidationError
            Listing every field that is missing, of the wrong type or
            inconsistent (``where`` = ``norms.<field>``).
        """
        r = _Reader(data)
        version = r.integer("format_version")
        if version is not None and version != NORMS_FORMAT_VERSION:
            r.fail("format_version", "unsupported", f"unsupported format version {version}")
        instrument = r.string("instrument_id")
        model = r.string("model")
        if model is not None and model != MODEL_NAME:
            r.fail("model", "unknown_model", f"unknown model {model!r} (expected {MODEL_NAME!r})")
        terms = r.value("terms", list)
        if terms is not None and tuple(terms) != TERMS:
            r.fail("terms", "unknown_terms", f"terms must be {list(TERMS)}")
        taus = r.numbers("taus")
        if taus is not None and not valid_taus(taus):
            r.fail("taus", "invalid", "taus must be increasing and within (0, 1)")
        coef = _read_coefficients(r, len(taus) if taus is not None else None)
        t_cap = r.integer("t_cap", minimum=2)
        scale = _read_scale(r)
        first = r.iso_date("training_first_day")
        last = r.iso_date("training_last_day")
        if first and last and first > last:
            r.fail("training_last_day", "invalid", "the training window ends before it starts")
        n_episodes = r.integer("n_episodes", minimum=0)
        n_scores = r.integer("n_scores", minimum=0)
        coverage = _read_coverage(r)
        created = r.string("created_at")
        if created is not None:
            try:
                datetime.fromisoformat(created)
            except ValueError:
                r.fail("created_at", "invalid_timestamp", "created_at must be ISO 8601")
        if (
            r.problems
            or instrument is None
            or taus is None
            or coef is None
            or t_cap is None
            or scale is None
            or coverage is None
            or n_episodes is None
            or n_scores is None
            or created is None
        ):
            raise ValidationError(r.problems or [Problem("norms", "invalid", "invalid model")])
        return cls(
            format_version=NORMS_FORMAT_VERSION,
            instrument_id=instrument,
            model=MODEL_NAME,
            taus=tuple(taus),
            coefficients=coef,
            t_cap=t_cap,
            scale=scale,
            training_first_day=first,
            training_last_day=last,
            n_episodes=n_episodes,
            n_scores=n_scores,
            coverage=coverage,
            created_at=created,
        )


def design_matrix(y1: FloatArray, t: npt.NDArray[np.generic], t_cap: int) -> FloatArray:
    """Rows ``(1, y_1, log t', y_1 log t')`` with ``t' = min(t, t_cap)``."""
    lt = np.log(np.minimum(np.asarray(t, dtype=np.float64), float(t_cap)))
    return np.column_stack((np.ones_like(y1), y1, lt, y1 * lt))


def predict_quantiles(
    coef: FloatArray, y1: FloatArray, t: npt.NDArray[np.generic], t_cap: int, lo: float, hi: float
) -> FloatArray:
    """Predictions of every level, sorted per row and clipped to ``[lo, hi]``."""
    q = design_matrix(y1, t, t_cap) @ coef.T
    q.sort(axis=1)
    return np.clip(q, lo, hi)


def valid_taus(taus: tuple[float, ...] | list[float]) -> bool:
    """Whether ``taus`` is non-empty, strictly increasing and inside (0, 1)."""
    return (
        bool(taus)
        and taus[0] > 0
        and taus[-1] < 1
        and all(a < b for a, b in itertools.pairwise(taus))
    )


def _nan_none(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


class _Reader:
    """Typed field access that collects every problem instead of stopping at the first."""

    def __init__(self, data: Mapping[str, Any], prefix: str = "norms") -> None:
        self.data = data if isinstance(data, Mapping) else {}
        self.prefix = prefix
        self.problems: list[Problem] = []
        if not isinstance(data, Mapping):
            self.fail("", "wrong_type", "the norms model must be a mapping (JSON object)")

    def fail(self, key: str, code: str, message: str) -> None:
        where = f"{self.prefix}.{key}" if key else self.prefix
        self.problems.append(Problem(where, code, message))

    def value(self, key: str, kind: type | tuple[type, ...], *, optional: bool = False) -> Any:
        if key not in self.data:
            if not optional:
                self.fail(key, "missing", "required field is missing")
            return None
        v = self.data[key]
        if v is None and optional:
            return None
        if not isinstance(v, kind) or (isinstance(v, bool) and kind is not bool):
            self.fail(key, "wrong_type", f"expected {_kind_name(kind)}, got {type(v).__name__}")
            return None
        return v

    def string(self, key: str) -> str | None:
        v: str | None = self.value(key, str)
        if v is not None and not v:
            self.fail(key, "empty", "must not be empty")
            return None
        return v

    def integer(self, key: str, minimum: int | None = None) -> int | None:
        v: int | None = self.value(key, int)
        if v is not None and minimum is not None and v < minimum:
            self.fail(key, "out_of_range", f"must be at least {minimum}")
            return None
        return v

    def number(self, key: str, *, optional: bool = False) -> float | None:
        v = self.value(key, (int, float), optional=optional)
        if v is None:
            return None
        if not math.isfinite(v):
            self.fail(key, "not_finite", "must be a finite number")
            return None
        return float(v)

    def numbers(self, key: str) -> list[float] | None:
        v = self.value(key, list)
        if v is None:
            return None
        if not all(_is_number(x) for x in v):
            self.fail(key, "wrong_type", "must be a list of finite numbers")
            return None
        return [float(x) for x in v]

    def iso_date(self, key: str) -> str | None:
        v: str | None = self.value(key, str, optional=True)
        if v is not None:
            try:
                date.fromisoformat(v)
            except ValueError:
                self.fail(key, "invalid_date", "must be an ISO date (YYYY-MM-DD) or null")
                return None
        return v

    def sub(self, key: str) -> _Reader | None:
        v = self.value(key, Mapping)
        if v is None:
            return None
        child = _Reader(v, f"{self.prefix}.{key}")
        child.problems = self.problems
        return child


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "integer", float: "number", str: "string", bool: "boolean", list: "list"}
    return " or ".join(names.get(k, "object") for k in kinds)


def _is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _read_coefficients(r: _Reader, n_taus: int | None) -> tuple[tuple[float, ...], ...] | None:
    rows = r.value("coefficients", list)
    if rows is None:
        return None
    ok = all(
        isinstance(row, list) and len(row) == len(TERMS) and all(_is_number(x) for x in row)
        for row in rows
    )
    if not ok:
        r.fail("coefficients", "invalid", f"must be lists of {len(TERMS)} finite numbers")
        return None
    if n_taus is not None and len(rows) != n_taus:
        r.fail("coefficients", "invalid", f"must have one row per tau ({n_taus})")
        return None
    return tuple(tuple(float(x) for x in row) for row in rows)


def _read_scale(r: _Reader) -> ScaleInfo | None:
    s = r.sub("scale")
    if s is None:
        return None
    lo = s.number("native_min")
    hi = s.number("native_max")
    hib = s.value("higher_is_better", bool)
    res = s.number("resolution")
    orientation = s.string("severity_orientation")
    if lo is None or hi is None or hib is None or res is None or orientation is None:
        return None
    try:
        scale = ScaleInfo(lo, hi, bool(hib), res)
    except ConfigurationError as exc:
        s.fail("", "invalid", str(exc))
        return None
    if orientation != scale.severity_orientation:
        s.fail(
            "severity_orientation",
            "inconsistent",
            f"must be {scale.severity_orientation!r} when higher_is_better is {hib}",
        )
        return None
    for key, expected in (
        ("severity_min", scale.severity_min),
        ("severity_max", scale.severity_max),
    ):
        got = s.number(key, optional=True)
        if got is not None and abs(got - expected) > 1e-9:
            s.fail(key, "inconsistent", f"must be {expected} for this scale")
    return scale


def _read_coverage(r: _Reader) -> Coverage | None:
    c = r.sub("coverage")
    if c is None:
        return None
    tau = c.number("tau")
    target = c.number("target")
    tolerance = c.number("tolerance")
    shares = c.value("fold_share", list)
    if shares is not None and not all(x is None or _is_number(x) for x in shares):
        c.fail("fold_share", "wrong_type", "must be a list of numbers or nulls")
        shares = None
    fold_n = c.value("fold_n", list)
    if fold_n is not None and not all(
        isinstance(x, int) and not isinstance(x, bool) for x in fold_n
    ):
        c.fail("fold_n", "wrong_type", "must be a list of integers")
        fold_n = None
    if shares is not None and fold_n is not None and len(shares) != len(fold_n):
        c.fail("fold_n", "inconsistent", "must have one entry per fold_share")
    share = c.number("share", optional=True)
    n = c.integer("n", minimum=0)
    passed = c.value("passed", bool)
    fold_hash = c.string("fold_hash")
    if (
        tau is None
        or target is None
        or tolerance is None
        or shares is None
        or fold_n is None
        or n is None
        or passed is None
        or fold_hash is None
    ):
        return None
    return Coverage(
        tau=tau,
        target=target,
        tolerance=tolerance,
        fold_share=tuple(math.nan if x is None else float(x) for x in shares),
        fold_n=tuple(fold_n),
        share=math.nan if share is None else share,
        n=n,
        passed=bool(passed),
        fold_hash=fold_hash,
    )


__all__ = [
    "DEFAULT_TAUS",
    "MODEL_NAME",
    "NORMS_FORMAT_VERSION",
    "TERMS",
    "TIE_TOLERANCE",
    "Coverage",
    "NormsModel",
    "ScaleInfo",
    "design_matrix",
    "predict_quantiles",
    "valid_taus",
]
