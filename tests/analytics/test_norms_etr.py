"""ETR bands (methods.md §4.2 alerts, §4.3 fallback, §11 labels): by hand and vs a reference."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twostep.analytics.etr import ETR_BAND_LABELS, EtrBand, EtrParams, etr_bands
from twostep.analytics.folds import client_folds
from twostep.analytics.norms import NormsAccumulator
from twostep.analytics.norms_model import DEFAULT_TAUS, Coverage, NormsModel, ScaleInfo
from twostep.errors import AnalysisError, ConfigurationError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
PHQ9 = ScaleInfo(0, 27)
NAN = math.nan
COVERAGE = Coverage(0.9, 0.1, 0.02, (0.1,) * 5, (100,) * 5, 0.1, 500, True)


def flat_norms(q10: float, q25: float, q50: float, q75: float, q90: float, **kw: Any) -> NormsModel:
    """Norms whose quantiles are the same at every (y1, t): intercept-only rows."""
    coefficients = tuple((q, 0.0, 0.0, 0.0) for q in (q10, q25, q50, q75, q90))
    return model_with(coefficients, **kw)


def model_with(coefficients: tuple[tuple[float, ...], ...], **kw: Any) -> NormsModel:
    fields: dict[str, Any] = {
        "format_version": 1,
        "instrument_id": "phq9",
        "model": "twostep.etr.quantile_log_t",
        "taus": DEFAULT_TAUS,
        "coefficients": coefficients,
        "t_cap": 20,
        "scale": PHQ9,
        "training_first_day": None,
        "training_last_day": None,
        "n_episodes": 300,
        "n_scores": 1500,
        "coverage": COVERAGE,
        "created_at": "2024-01-01T00:00:00",
    }
    fields.update(kw)
    return NormsModel(**fields)


def segments(*clients: list[float]) -> tuple[IntArray, FloatArray]:
    lengths = [len(c) for c in clients]
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    return offsets, np.array([v for c in clients for v in c], dtype=float)


def labels(result: Any) -> list[str]:
    return [ETR_BAND_LABELS[b] for b in result.band]


PHQ = {"rc": 6.0, "rc_strict": False, "cutoff": (10.0, True)}


# ------------------------------------------------------------------ fallback (§4.3)


def test_fallback_by_hand() -> None:
    offsets, y = segments(
        [20, 27, 26, 20, 17, 14, 8],  # deteriorates, no change at t=4, then recovers
        [15, 14, 13, 13, 9],  # slow: yellow at t=4, below the cut-off at t=5
        [12, NAN, 19],  # reliable deterioration after a missed session
        [NAN, NAN],  # all missing
        [18],  # intake only
    )
    r = etr_bands(offsets, y, norms=None, **PHQ)
    assert r.method == "fallback"
    assert labels(r) == [
        *["none", "red", "red_confirmed", "red_confirmed", "green", "green", "white"],
        *["none", "green", "green", "yellow", "white"],
        *["none", "none", "red"],
        *["none", "none"],
        *["none"],
    ]
    assert [ETR_BAND_LABELS[b] for b in r.last_band] == ["white", "white", "red", "none", "none"]
    assert np.isnan(r.expected_median).all()


def test_fallback_boundaries() -> None:
    # improvement of exactly 50 % of RC (3 points) is not "below 50 %" → green
    offsets, y = segments([20, 18, 18, 17], [20, 18, 18, 18])
    assert labels(etr_bands(offsets, y, norms=None, **PHQ)) == [
        *["none", "green", "green", "green"],
        *["none", "green", "green", "yellow"],
    ]
    # strict (computed J&T) threshold: a change equal to RC is not reliable
    offsets, y = segments([10, 16, 17])
    strict = etr_bands(offsets, y, norms=None, rc=6.0, rc_strict=True, cutoff=(10.0, True))
    assert labels(strict) == ["none", "green", "red"]


def test_fallback_without_a_cut_off() -> None:
    # no cut-off: no white, and the "no improvement while in the clinical range" clause
    # cannot apply, so y_t >= y_1 at t >= 4 is yellow
    offsets, y = segments([12, 11, 12, 13, 2])
    r = etr_bands(offsets, y, norms=None, rc=6.0, rc_strict=False, cutoff=None)
    assert labels(r) == ["none", "green", "green", "yellow", "green"]


def test_fallback_white_can_be_switched_off() -> None:
    offsets, y = segments([12, 4])
    r = etr_bands(offsets, y, norms=None, **PHQ, params=EtrParams(fallback_white=False))
    assert labels(r) == ["none", "green"]


def test_cut_off_exclusive_and_as_a_number() -> None:
    offsets, y = segments([20, 10])
    inclusive = etr_bands(offsets, y, norms=None, rc=6.0, rc_strict=False, cutoff=10.0)
    exclusive = etr_bands(
        offsets, y, norms=None, rc=6.0, rc_strict=False, cutoff=10.0, cutoff_inclusive=False
    )
    assert labels(inclusive) == ["none", "green"]  # 10 is a case with >= 10
    assert labels(exclusive) == ["none", "white"]
    assert labels(
        etr_bands(offsets, y, norms=None, rc=6.0, rc_strict=False, cutoff=(10.0, False))
    ) == [
        "none",
        "white",
    ]


# ------------------------------------------------------------------ with norms (§4.2)

NORMS = flat_norms(5, 8, 10, 12, 15)


def test_norm_bands_by_hand() -> None:
    offsets, y = segments([14, 20, 16, 13, 12, 7, 15, 9, 20])
    r = etr_bands(offsets, y, norms=NORMS, rc=6.0, rc_strict=False, cutoff=None)
    assert r.method == "norms"
    assert labels(r) == [
        "none",  # intake
        "none",  # t = 2: no colour before t = 3, however high
        "red",  # 16 > Q90 = 15
        "yellow",  # 12 < 13 <= 15
        "green",  # 12 = Q75 is on track
        "blue",  # 7 < Q25 = 8
        "yellow",  # 15 = Q90 is not above it
        "green",  # 9 is between Q25 and Q75
        "red",  # reliable deterioration (20 - 14 = 6) and > Q90
    ]


def test_white_overrides_green_and_blue_only() -> None:
    offsets, y = segments([20, 20, 7, 9, 13, 16], [20, 20, 11])
    r = etr_bands(offsets, y, norms=flat_norms(5, 8, 10, 12, 15), **{**PHQ, "cutoff": (14.0, True)})
    assert labels(r) == [
        *["none", "none", "white", "white", "yellow", "red"],
        *["none", "none", "white"],
    ]


def test_reliable_deterioration_is_red_inside_the_band() -> None:
    offsets, y = segments([2, 3, 8])  # 8 <= Q75 but 8 - 2 >= RC
    r = etr_bands(offsets, y, norms=NORMS, **PHQ)
    assert labels(r) == ["none", "none", "red"]


def test_persistence_skips_missed_administrations() -> None:
    offsets, y = segments(
        [14, 14, 16, NAN, 17, 18],  # red, missed, red → confirmed; stays confirmed
        [14, 14, 16, 11, 17],  # red, green, red: not confirmed
        [14, 16, 17],  # the t = 2 score has no colour, so t = 3 is a first signal
    )
    r = etr_bands(offsets, y, norms=NORMS, rc=6.0, rc_strict=False, cutoff=None)
    assert labels(r) == [
        *["none", "none", "red", "none", "red_confirmed", "red_confirmed"],
        *["none", "none", "red", "green", "red"],
        *["none", "none", "red"],
    ]
    assert [ETR_BAND_LABELS[b] for b in r.last_band] == ["red_confirmed", "red", "red"]


def test_scores_at_a_quantile_within_the_tie_tolerance() -> None:
    norms = flat_norms(5, 8, 10, 12 - 1e-9, 15 - 1e-9)
    offsets, y = segments([14, 14, 12, 15])
    assert labels(etr_bands(offsets, y, norms=norms, rc=6.0, rc_strict=False, cutoff=None)) == [
        "none",
        "none",
        "green",
        "yellow",
    ]


def test_expected_values() -> None:
    norms = model_with(((1.0, 0.5, -1.0, -0.1), (2, 0.6, -1, -0.1), (3, 0.7, -1, -0.1),
                        (4, 0.8, -1, -0.1), (5, 0.9, -1, -0.1)))  # fmt: skip
    offsets, y = segments([NAN, 20, NAN, 15, 14] + [12] * 20, [NAN])
    r = etr_bands(offsets, y, norms=norms, **PHQ)
    cols = np.column_stack(
        [r.expected_q10, r.expected_low, r.expected_median, r.expected_high, r.expected_q90]
    )
    assert np.isnan(cols[:2]).all()  # before and at intake
    assert np.isnan(cols[-1]).all()  # a client without scores
    t = np.arange(1, 25)
    np.testing.assert_allclose(cols[2:-1], norms.predict(20.0, t[1:]))  # missed rows included
    np.testing.assert_allclose(cols[-2], cols[2 + 18])  # t = 24 is flat at t = 20
    assert r.band[2] == EtrBand.NONE  # missed row


def test_crossing_norms_are_rearranged_in_the_band_kernel() -> None:
    crossing = model_with(((9.0, 0, 0, 0), (2, 0, 0, 0), (8, 0, 0, 0), (4, 0, 0, 0), (6, 0, 0, 0)))
    offsets, y = segments([10, 10, 8.5, 2.5])
    r = etr_bands(offsets, y, norms=crossing, rc=6.0, rc_strict=False, cutoff=None)
    assert r.expected_q10[2:].tolist() == [2.0, 2.0]
    assert r.expected_q90[2:].tolist() == [9.0, 9.0]
    assert labels(r) == [
        "none",
        "none",
        "yellow",
        "blue",
    ]  # Q75 = 8 < 8.5 <= Q90 = 9; 2.5 < Q25 = 4


def test_given_t_and_y1_are_used() -> None:
    offsets, y = segments([14, 16, 16], [NAN, 14, 16, 16])
    implicit = etr_bands(offsets, y, norms=NORMS, **PHQ)
    t = np.array([1, 2, 3, 0, 1, 2, 3])
    explicit = etr_bands(offsets, y, t, norms=NORMS, **PHQ, y1=np.full(7, 14.0))
    np.testing.assert_array_equal(implicit.band, explicit.band)
    later = etr_bands(offsets, y, t + 1, norms=NORMS, **PHQ)  # every row one step later
    assert labels(later)[:3] == ["none", "red", "red_confirmed"]


def test_result_helpers() -> None:
    offsets, y = segments([14, 14, 16])
    r = etr_bands(offsets, y, norms=NORMS, **PHQ)
    assert r.labels == ETR_BAND_LABELS
    assert r.band_labels().tolist() == ["none", "none", "red"]
    assert not r.provisional.any()


def test_bad_arguments() -> None:
    offsets, y = segments([14, 14, 16])
    with pytest.raises(ConfigurationError):
        etr_bands(offsets, y, norms=None, rc=0.0, rc_strict=False, cutoff=None)
    with pytest.raises(ConfigurationError):
        etr_bands(offsets, y, norms=model_with(((1.0, 0, 0, 0),), taus=(0.5,)), **PHQ)
    with pytest.raises(AnalysisError):
        etr_bands(offsets[:-1], y, norms=None, **PHQ)
    with pytest.raises(AnalysisError):
        etr_bands(offsets, y, np.array([1, 2]), norms=None, **PHQ)
    with pytest.raises(ConfigurationError):
        EtrParams(min_t=1)
    with pytest.raises(ConfigurationError):
        EtrParams(fallback_late_t=1)
    with pytest.raises(ConfigurationError):
        EtrParams(fallback_yellow_share=2.0)


def test_fitted_norms_end_to_end() -> None:
    rng = np.random.default_rng(0)
    n, k = 2000, 10
    y1 = rng.integers(8, 28, size=n).astype(float)
    mean = y1[:, None] * np.exp(-0.3 * np.log(np.arange(1, k + 1)))[None, :]
    y = np.clip(np.round(mean + rng.normal(0, 2.5, size=(n, k))), 0, 27)
    y[:, 0] = y1
    offsets = np.arange(0, n * k + 1, k)
    keys = np.char.add("P", np.arange(n).astype(str))
    acc = NormsAccumulator(PHQ9)
    acc.add(offsets, y.ravel(), None, client_folds(keys))
    norms = acc.fit(instrument_id="phq9", created_at="2024-01-01T00:00:00")
    assert norms is not None
    assert norms.coverage.passed
    r = etr_bands(offsets, y.ravel(), norms=norms, **PHQ)
    colored = r.band[np.tile(np.arange(k), n) >= 2]
    share_red = np.isin(colored, [EtrBand.RED, EtrBand.RED_CONFIRMED]).mean()
    assert 0.05 < share_red < 0.2  # ~10 % above Q90, plus a few reliable deteriorations


# ------------------------------------------------------------------ reference implementation


def reference(
    offsets: IntArray,
    y: FloatArray,
    norms: NormsModel | None,
    rc: float,
    strict: bool,
    cut: float | None,
) -> list[int]:
    """The rules of the module docstring, one administration at a time."""
    out: list[int] = []
    for c in range(offsets.shape[0] - 1):
        seg = y[offsets[c] : offsets[c + 1]]
        first = next((i for i, v in enumerate(seg) if not math.isnan(v)), None)
        prev_red = False
        for i, v in enumerate(seg):
            if first is None or i <= first or math.isnan(v):
                out.append(0)
                continue
            t = i - first + 1
            y1 = seg[first]
            worse = (v - y1 > rc) if strict else (v - y1 >= rc)
            case = cut is not None and v >= cut
            code = 0
            if norms is not None and t >= 3:
                q = norms.predict(y1, t)[0]
                if worse or v > q[4] + 1e-6:
                    code = 5
                elif v > q[3] + 1e-6:
                    code = 4
                else:
                    code = 2 if v < q[1] - 1e-6 else 3
                    if cut is not None and not case:
                        code = 1
            elif norms is None and t >= 2:
                if worse or (t >= 4 and v >= y1 and case):
                    code = 5
                elif t >= 4 and y1 - v < 0.5 * rc:
                    code = 4
                else:
                    code = 1 if cut is not None and not case else 3
            if code == 5 and prev_red:
                code = 6
            prev_red = code >= 5
            out.append(code)
    return out


clients = st.lists(
    st.lists(st.one_of(st.integers(0, 27).map(float), st.just(NAN)), min_size=0, max_size=12),
    min_size=1,
    max_size=12,
)
coef = st.tuples(st.floats(-5, 30), st.floats(-1, 1.5), st.floats(-10, 10), st.floats(-1, 1))


@settings(max_examples=150, deadline=None)
@given(
    clients,
    st.one_of(st.none(), st.lists(coef, min_size=5, max_size=5)),
    st.sampled_from([(6.0, False), (4.5, True)]),
    st.one_of(st.none(), st.sampled_from([8.0, 10.0])),
)
def test_kernel_equals_the_reference(
    data: list[list[float]],
    coefficients: list[tuple[float, float, float, float]] | None,
    rc: tuple[float, bool],
    cut: float | None,
) -> None:
    offsets, y = segments(*data)
    norms = None if coefficients is None else model_with(tuple(coefficients))
    got = etr_bands(offsets, y, norms=norms, rc=rc[0], rc_strict=rc[1], cutoff=cut)
    assert got.band.tolist() == reference(offsets, y, norms, rc[0], rc[1], cut)
    for c in range(offsets.shape[0] - 1):
        scored = np.flatnonzero(~np.isnan(y[offsets[c] : offsets[c + 1]]))
        last = got.band[offsets[c] + scored[-1]] if scored.size else 0
        assert got.last_band[c] == last
