"""ETR norms (methods.md §4.2): training rows, collapsed counts, merging, coverage, the model."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twostep.analytics.batch import NO_DAY
from twostep.analytics.folds import client_folds
from twostep.analytics.norms import NormsAccumulator, fit_norms
from twostep.analytics.norms_model import (
    DEFAULT_TAUS,
    MODEL_NAME,
    Coverage,
    NormsModel,
    ScaleInfo,
    design_matrix,
)
from twostep.analytics.quantile_regression import quantile_loss, quantile_regression
from twostep.errors import AnalysisError, ConfigurationError, ValidationError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
PHQ9 = ScaleInfo(0, 27)
CREATED = "2024-06-30T12:00:00+00:00"
LOOSE = {"min_episodes": 1, "min_scores": 1}


def population(
    n_clients: int, n_admin: int, seed: int, missing: float = 0.1
) -> tuple[IntArray, FloatArray, npt.NDArray[np.str_]]:
    """PHQ-9-like episodes: log-time improvement from the intake, integer scores, NaN = missed."""
    rng = np.random.default_rng(seed)
    y1 = rng.integers(5, 28, size=n_clients).astype(float)
    t = np.arange(1, n_admin + 1)
    rate = rng.uniform(0.0, 0.5, size=n_clients)
    mean = y1[:, None] * np.exp(-rate[:, None] * np.log(t)[None, :])
    y = np.clip(np.round(mean + rng.normal(0, 2.5, size=mean.shape)), 0, 27)
    y[:, 0] = y1
    y[:, 1:][rng.random((n_clients, n_admin - 1)) < missing] = np.nan
    offsets = np.arange(0, n_clients * n_admin + 1, n_admin, dtype=np.int64)
    keys = np.char.add("C", np.arange(n_clients).astype(str))
    return offsets, y.ravel(), keys


def accumulate(
    offsets: IntArray, y: FloatArray, keys: npt.NDArray[np.str_], **kw: Any
) -> NormsAccumulator:
    acc = NormsAccumulator(kw.pop("scale", PHQ9), **kw)
    acc.add(offsets, y, None, client_folds(keys))
    return acc


def training_rows(
    offsets: IntArray, y: FloatArray, t_cap: int = 20, closed: Any = None
) -> tuple[FloatArray, IntArray, FloatArray]:
    """The definition of the training rows, client by client (reference)."""
    y1s: list[float] = []
    ts: list[int] = []
    yts: list[float] = []
    for c in range(offsets.shape[0] - 1):
        seg = y[offsets[c] : offsets[c + 1]]
        scored = np.flatnonzero(~np.isnan(seg))
        if scored.size == 0 or (scored.size < 3 and not (closed is not None and closed[c])):
            continue
        first = scored[0]
        for r in scored[1:]:
            y1s.append(seg[first])
            ts.append(min(r - first + 1, t_cap))
            yts.append(seg[r])
    return np.array(y1s), np.array(ts, dtype=np.int64), np.array(yts)


# ------------------------------------------------------------------ training rows


def test_training_rows_by_hand() -> None:
    y = np.array(
        [
            *[np.nan, 10, 12, np.nan, 8],  # starts late: y1 = 10, rows t=2 (12), t=4 (8)
            *[20, 15],  # two scores, open: not used
            *[20, 15],  # two scores, closed: used
            *[np.nan, np.nan],  # no score
            *[9],  # intake only, closed: no training row, not an episode
        ]
    )
    offsets = np.array([0, 5, 7, 9, 11, 12])
    closed = np.array([False, False, True, False, True])
    acc = NormsAccumulator(PHQ9)
    acc.add(offsets, y, None, np.array([0, 1, 2, 3, 4]), closed=closed)
    fold, y1, t, yt, count = acc.cells()
    got = sorted(
        zip(fold.tolist(), y1.tolist(), t.tolist(), yt.tolist(), count.tolist(), strict=True)
    )
    assert got == [(0, 10.0, 2, 12.0, 1), (0, 10.0, 4, 8.0, 1), (2, 20.0, 2, 15.0, 1)]
    assert acc.n_episodes == 2
    assert acc.n_scores == 3
    assert acc.episodes.tolist() == [1, 0, 1, 0, 0]


def test_given_t_is_used_and_beyond_the_cap_counts_at_the_cap() -> None:
    y = np.arange(25, dtype=float) % 27
    offsets = np.array([0, 25])
    acc = NormsAccumulator(PHQ9, t_cap=20)
    acc.add(offsets, y, None, np.array([0]))
    _, _, t, _, count = acc.cells()
    assert int(count[t == 20].sum()) == 6  # t = 20..25
    assert t.max() == 20
    given_t = NormsAccumulator(PHQ9, t_cap=20)
    given_t.add(offsets, y, np.arange(1, 26), np.array([0]))
    assert np.array_equal(given_t.keys, acc.keys)
    shifted = NormsAccumulator(PHQ9, t_cap=20)
    shifted.add(offsets, y, np.arange(1, 26) + 1, np.array([0]))  # intake recorded as t = 2
    assert shifted.n_scores == 25


def test_decimal_scale_is_quantised_to_its_resolution() -> None:
    ors = ScaleInfo(0, 40, higher_is_better=True, resolution=0.1)
    raw = np.array([30.0, 24.04, 19.96, 20.0])
    acc = NormsAccumulator(ors)
    acc.add(np.array([0, 4]), ors.to_severity(raw), None, np.array([1]))
    _, y1, _, yt, _ = acc.cells()
    np.testing.assert_allclose(y1, 10.0)
    np.testing.assert_allclose(sorted(yt), [16.0, 20.0, 20.0])


def test_scores_outside_the_scale_are_rejected() -> None:
    acc = NormsAccumulator(PHQ9)
    for bad in (28.0, -1.0, np.inf):
        with pytest.raises(AnalysisError, match="outside the severity range"):
            acc.add(np.array([0, 3]), np.array([10.0, bad, 5.0]), None, np.array([0]))


@pytest.mark.parametrize(
    ("offsets", "fold", "t", "match"),
    [
        (np.array([0, 2]), np.array([0]), None, "offsets"),
        (np.array([0, 3]), np.array([0, 1]), None, "client_fold"),
        (np.array([0, 3]), np.array([5]), None, "client_fold"),
        (np.array([0, 3]), np.array([0]), np.array([1, 2]), "t must have"),
    ],
)
def test_bad_batches_are_rejected(offsets: IntArray, fold: IntArray, t: Any, match: str) -> None:
    with pytest.raises(AnalysisError, match=match):
        NormsAccumulator(PHQ9).add(offsets, np.array([1.0, 2.0, 3.0]), t, fold)


@pytest.mark.parametrize("kw", [{"t_cap": 1}, {"n_folds": 1}, {"min_scores_per_episode": 1}])
def test_bad_accumulator_settings(kw: dict[str, int]) -> None:
    with pytest.raises(ConfigurationError):
        NormsAccumulator(PHQ9, **kw)


def test_training_window_from_days() -> None:
    offsets, y, keys = population(20, 4, 0, missing=0.0)
    day = np.full(y.shape[0], NO_DAY)
    day[5] = 19_000
    day[70] = 19_500
    acc = NormsAccumulator(PHQ9)
    acc.add(offsets, y, None, client_folds(keys), day=day)
    acc.add(offsets[:1], y[:0], None, np.zeros(0, dtype=np.int64))  # empty batch
    model = acc.fit(instrument_id="phq9", created_at=CREATED, **LOOSE)
    assert model is not None
    assert (model.training_first_day, model.training_last_day) == ("2022-01-08", "2023-05-23")
    assert (
        accumulate(offsets, y, keys)
        .fit(instrument_id="phq9", created_at=CREATED, **LOOSE)
        .training_first_day
        is None
    )  # type: ignore[union-attr]


# ------------------------------------------------------------------ the fit


def test_collapsed_counts_give_the_row_level_minimum() -> None:
    offsets, y, keys = population(400, 8, 1)
    model = accumulate(offsets, y, keys).fit(instrument_id="phq9", created_at=CREATED)
    assert model is not None
    y1, t, yt = training_rows(offsets, y)
    X = design_matrix(y1, t, 20)
    for k, tau in enumerate(DEFAULT_TAUS):
        direct = quantile_regression(X, yt, tau)
        assert quantile_loss(X, yt, model.coef[k], tau) == pytest.approx(
            quantile_loss(X, yt, direct, tau), rel=1e-9
        )


def test_minimum_data() -> None:
    offsets, y, keys = population(300, 6, 2, missing=0.0)  # 300 episodes x 5 rows = 1500
    assert accumulate(offsets, y, keys).fit(instrument_id="phq9", created_at=CREATED) is not None
    y_less = y.copy()
    y_less[5] = np.nan  # 1499 training rows
    assert accumulate(offsets, y_less, keys).fit(instrument_id="phq9", created_at=CREATED) is None
    offsets, y, keys = population(299, 8, 2, missing=0.0)  # 299 episodes, 2093 rows
    acc = accumulate(offsets, y, keys)
    assert acc.fit(instrument_id="phq9", created_at=CREATED) is None
    assert acc.fit(instrument_id="phq9", created_at=CREATED, min_episodes=299) is not None


def test_fit_norms_convenience_equals_the_accumulator() -> None:
    offsets, y, keys = population(350, 6, 3)
    a = fit_norms(
        offsets, y, None, client_folds(keys), scale=PHQ9, instrument_id="phq9", created_at=CREATED
    )
    b = accumulate(offsets, y, keys).fit(instrument_id="phq9", created_at=CREATED)
    assert a == b


def test_bucketed_merge_equals_one_pass() -> None:
    offsets, y, keys = population(1000, 10, 4)
    whole = accumulate(offsets, y, keys)
    total = NormsAccumulator(PHQ9)
    for lo, hi in ((0, 100), (100, 550), (550, 1000)):
        part = NormsAccumulator(PHQ9)
        sl = slice(offsets[lo], offsets[hi])
        part.add(offsets[lo : hi + 1] - offsets[lo], y[sl], None, client_folds(keys[lo:hi]))
        total = total.merge(part)
    assert np.array_equal(total.keys, whole.keys)
    assert np.array_equal(total.counts, whole.counts)
    a = total.fit(instrument_id="phq9", created_at=CREATED)
    b = whole.fit(instrument_id="phq9", created_at=CREATED)
    assert a is not None
    assert a.to_dict() == b.to_dict()  # type: ignore[union-attr]


def test_merging_different_settings_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        NormsAccumulator(PHQ9).merge(NormsAccumulator(PHQ9, t_cap=12))
    with pytest.raises(ConfigurationError):
        NormsAccumulator(PHQ9).merge(NormsAccumulator(ScaleInfo(0, 21)))


def test_large_tables_are_counted_sparsely_with_the_same_result() -> None:
    fine = ScaleInfo(0, 40, resolution=0.01)  # 4001 levels: the table has ~1.5e9 cells
    rng = np.random.default_rng(5)
    y = np.round(rng.uniform(0, 40, size=60), 2)
    offsets = np.array([0, 20, 40, 60])
    acc = NormsAccumulator(fine)
    acc.add(offsets, y, None, np.array([0, 1, 2]))
    assert acc.n_cells > 1e9
    assert acc.n_scores == 57
    assert acc.keys.shape[0] <= 57


def test_coverage_matches_a_fold_by_fold_refit() -> None:
    offsets, y, keys = population(600, 8, 6)
    folds = client_folds(keys)
    model = accumulate(offsets, y, keys).fit(instrument_id="phq9", created_at=CREATED)
    assert model is not None
    cov = model.coverage
    row_fold = np.repeat(folds, np.diff(offsets))
    above_total = 0
    for f in range(5):
        mask = row_fold == f
        tr_off = np.concatenate(([0], np.cumsum(np.diff(offsets)[folds != f])))
        ho_off = np.concatenate(([0], np.cumsum(np.diff(offsets)[folds == f])))
        y1, t, yt = training_rows(tr_off, y[~mask])
        X = design_matrix(y1, t, 20)
        coef = np.stack([quantile_regression(X, yt, tau) for tau in DEFAULT_TAUS])
        hy1, ht, hyt = training_rows(ho_off, y[mask])
        q90 = np.clip(np.sort(design_matrix(hy1, ht, 20) @ coef.T, axis=1), 0, 27)[:, 4]
        above = int((hyt > q90 + 1e-6).sum())
        above_total += above
        assert cov.fold_n[f] == hyt.shape[0]
        # the row-level optimum may be another point of a non-unique optimal set
        assert cov.fold_share[f] == pytest.approx(above / hyt.shape[0], abs=0.01)
    assert cov.n == sum(cov.fold_n) == model.n_scores
    assert cov.share == pytest.approx(above_total / cov.n, abs=0.01)
    assert cov.passed is (abs(cov.share - 0.1) <= 0.02)
    assert cov.target == pytest.approx(0.1)


def test_coverage_flag_uses_the_tolerance() -> None:
    offsets, y, keys = population(400, 8, 7)
    acc = accumulate(offsets, y, keys)
    strict = acc.fit(instrument_id="phq9", created_at=CREATED, coverage_tolerance=0.0)
    loose = acc.fit(instrument_id="phq9", created_at=CREATED, coverage_tolerance=0.5)
    assert strict is not None
    assert loose is not None
    assert not strict.coverage.passed
    assert loose.coverage.passed


def test_empty_fold_has_nan_share() -> None:
    offsets, y, _ = population(40, 6, 8)
    acc = NormsAccumulator(PHQ9)
    acc.add(offsets, y, None, np.arange(40) % 4)  # fold 4 stays empty
    model = acc.fit(instrument_id="phq9", created_at=CREATED, **LOOSE)
    assert model is not None
    assert np.isnan(model.coverage.fold_share[4])
    assert model.coverage.fold_n[4] == 0
    assert model.coverage.n == model.n_scores


def test_fit_settings_are_checked() -> None:
    acc = accumulate(*population(10, 4, 0))
    with pytest.raises(ConfigurationError):
        acc.fit(instrument_id="x", created_at=CREATED, taus=(0.5, 0.25))
    with pytest.raises(ConfigurationError):
        acc.fit(instrument_id="x", created_at=CREATED, taus=(0.25, 0.5))  # no 0.90 for coverage


def test_created_at_accepts_a_datetime() -> None:
    when = datetime(2024, 6, 30, 12, 0, tzinfo=UTC)
    model = accumulate(*population(30, 4, 0)).fit(instrument_id="x", created_at=when, **LOOSE)
    assert model is not None
    assert model.created_at == CREATED


def test_constant_scores() -> None:
    offsets = np.arange(0, 3 * 50 + 1, 3)
    acc = NormsAccumulator(PHQ9)
    acc.add(offsets, np.full(150, 10.0), None, np.arange(50) % 5)
    model = acc.fit(instrument_id="x", created_at=CREATED, **LOOSE)
    assert model is not None
    np.testing.assert_allclose(model.predict([10, 10, 10], [2, 3, 30]), 10.0, atol=1e-6)
    assert model.coverage.share == 0.0


# ------------------------------------------------------------------ prediction


CROSSING = [23.0, 17.0, 14.0, 7.0, 8.0, 1.0, 2.0, 0.0, 4.0, 22.0, 18.0, 25.0]


def test_quantile_crossing_is_rearranged() -> None:
    acc = NormsAccumulator(PHQ9)
    acc.add(np.array([0, 3, 6, 9, 12]), np.array(CROSSING), None, np.array([0, 1, 2, 3]))
    model = acc.fit(instrument_id="x", created_at=CREATED, **LOOSE)
    assert model is not None
    y1, t = np.meshgrid(np.arange(28.0), np.arange(1, 21))
    raw = design_matrix(y1.ravel(), t.ravel(), 20) @ model.coef.T
    assert (np.diff(raw, axis=1) < -1e-6).any()  # the fitted lines do cross
    pred = model.predict(y1.ravel(), t.ravel())
    assert (np.diff(pred, axis=1) >= 0).all()
    np.testing.assert_allclose(pred, np.clip(np.sort(raw, axis=1), 0, 27))


def test_predict_is_flat_beyond_the_cap_and_clipped() -> None:
    model = make_model(coefficients=((-5.0, 1.0, -2.0, 0.0),) * 5)
    p = model.predict(np.array([3.0, 3.0, 20.0]), np.array([20, 60, 1]))
    np.testing.assert_allclose(p[0], p[1])
    assert p[0, 0] == 0.0  # -5 + 3 - 2 log 20 < 0, clipped to the minimum
    np.testing.assert_allclose(p[2], 15.0)
    assert model.predict(5.0, [2, 3]).shape == (2, 5)
    with pytest.raises(AnalysisError):
        model.predict([10.0], [0])


def test_tau_index() -> None:
    model = make_model()
    assert model.tau_index(0.75) == 3
    with pytest.raises(ConfigurationError):
        model.tau_index(0.95)


# ------------------------------------------------------------------ the model file


def make_model(**changes: Any) -> NormsModel:
    base: dict[str, Any] = {
        "format_version": 1,
        "instrument_id": "phq9",
        "model": MODEL_NAME,
        "taus": DEFAULT_TAUS,
        "coefficients": ((1.0, 0.5, -1.0, -0.1),) * 5,
        "t_cap": 20,
        "scale": PHQ9,
        "training_first_day": "2023-01-02",
        "training_last_day": "2024-06-01",
        "n_episodes": 400,
        "n_scores": 3000,
        "coverage": Coverage(0.9, 0.1, 0.02, (0.1, float("nan")), (10, 0), 0.1, 10, True),
        "created_at": CREATED,
    }
    base.update(changes)
    return NormsModel(**base)


def test_round_trip_through_json() -> None:
    offsets, y, keys = population(400, 8, 9)
    model = accumulate(offsets, y, keys).fit(instrument_id="phq9", created_at=CREATED)
    assert model is not None
    loaded = NormsModel.from_dict(json.loads(json.dumps(model.to_dict(), allow_nan=False)))
    assert loaded == model
    text = json.dumps(make_model().to_dict(), allow_nan=False)  # NaN fold share → null
    back = NormsModel.from_dict(json.loads(text))
    assert np.isnan(back.coverage.fold_share[1])
    assert back.to_dict() == make_model().to_dict()


def test_reflected_scale_round_trip() -> None:
    ors = ScaleInfo(0, 40, higher_is_better=True, resolution=0.1)
    model = make_model(scale=ors)
    d = model.to_dict()
    assert d["scale"]["severity_orientation"] == "max_minus_raw"
    assert NormsModel.from_dict(d).scale == ors
    np.testing.assert_allclose(ors.from_severity(ors.to_severity([30.0, 12.5])), [30.0, 12.5])


def broken(path: str, value: Any) -> dict[str, Any]:
    d = make_model().to_dict()
    *parents, last = path.split(".")
    node = d
    for key in parents:
        node = node[key]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return d


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        ("instrument_id", KeyError, "norms.instrument_id"),
        ("instrument_id", 7, "norms.instrument_id"),
        ("instrument_id", "", "norms.instrument_id"),
        ("format_version", 2, "norms.format_version"),
        ("format_version", True, "norms.format_version"),
        ("model", "other", "norms.model"),
        ("terms", ["a"], "norms.terms"),
        ("taus", [0.5, 0.25], "norms.taus"),
        ("taus", [0.1, "x"], "norms.taus"),
        ("coefficients", [[1.0, 2.0]], "norms.coefficients"),
        ("coefficients", [[1.0, 2.0, 3.0, 4.0]], "norms.coefficients"),
        ("t_cap", 1, "norms.t_cap"),
        ("t_cap", 2.5, "norms.t_cap"),
        ("scale", [], "norms.scale"),
        ("scale.native_max", -1, "norms.scale"),
        ("scale.native_min", float("inf"), "norms.scale.native_min"),
        ("scale.severity_orientation", "max_minus_raw", "norms.scale.severity_orientation"),
        ("scale.severity_max", 30, "norms.scale.severity_max"),
        ("scale.higher_is_better", "no", "norms.scale.higher_is_better"),
        ("training_first_day", "2023-13-01", "norms.training_first_day"),
        ("training_first_day", "2025-01-01", "norms.training_last_day"),
        ("n_scores", -3, "norms.n_scores"),
        ("coverage", KeyError, "norms.coverage"),
        ("coverage.tau", KeyError, "norms.coverage.tau"),
        ("coverage.fold_share", ["x"], "norms.coverage.fold_share"),
        ("coverage.fold_n", [1.5, 2], "norms.coverage.fold_n"),
        ("coverage.fold_n", [1], "norms.coverage.fold_n"),
        ("coverage.passed", 1, "norms.coverage.passed"),
        ("created_at", "yesterday", "norms.created_at"),
    ],
)
def test_invalid_files_name_the_field(path: str, value: Any, where: str) -> None:
    with pytest.raises(ValidationError) as info:
        NormsModel.from_dict(broken(path, value))
    assert where in [p.where for p in info.value.problems]


def test_every_problem_is_reported_at_once() -> None:
    d = broken("t_cap", 0)
    d["n_episodes"] = "many"
    with pytest.raises(ValidationError) as info:
        NormsModel.from_dict(d)
    assert {p.where for p in info.value.problems} == {"norms.t_cap", "norms.n_episodes"}


def test_a_non_mapping_is_rejected() -> None:
    with pytest.raises(ValidationError, match="mapping"):
        NormsModel.from_dict([1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "args", [(0, float("inf")), (5, 5), (0, 10, False, 0.0), (0, 10, False, 0.3)]
)
def test_bad_scales(args: tuple[Any, ...]) -> None:
    with pytest.raises(ConfigurationError):
        ScaleInfo(*args)


# ------------------------------------------------------------------ properties

scores = st.lists(
    st.lists(
        st.one_of(st.integers(0, 27).map(float), st.just(float("nan"))), min_size=1, max_size=7
    ),
    min_size=6,
    max_size=25,
)


def flatten(clients: list[list[float]]) -> tuple[IntArray, FloatArray, npt.NDArray[np.str_]]:
    lengths = [len(c) for c in clients]
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    y = np.array([v for c in clients for v in c], dtype=float)
    return offsets, y, np.array([f"id{i}" for i in range(len(clients))])


def fitted(acc: NormsAccumulator) -> dict[str, Any] | None:
    model = acc.fit(instrument_id="x", created_at=CREATED, **LOOSE)
    return None if model is None else model.to_dict()


@settings(max_examples=25, deadline=None)
@given(scores, st.lists(st.tuples(st.floats(0, 27), st.integers(1, 40)), min_size=1, max_size=30))
def test_predicted_quantiles_are_monotone_in_tau(
    clients: list[list[float]], points: list[tuple[float, int]]
) -> None:
    offsets, y, keys = flatten(clients)
    model = accumulate(offsets, y, keys).fit(instrument_id="x", created_at=CREATED, **LOOSE)
    if model is None:
        return
    y1 = np.array([p[0] for p in points])
    t = np.array([p[1] for p in points])
    q = model.predict(y1, t)
    assert (np.diff(q, axis=1) >= 0).all()
    assert ((q >= 0) & (q <= 27)).all()


@settings(max_examples=20, deadline=None)
@given(scores, st.randoms(use_true_random=False))
def test_merging_in_any_order_and_permuting_clients_give_the_same_model(
    clients: list[list[float]], rnd: Any
) -> None:
    offsets, y, keys = flatten(clients)
    whole = fitted(accumulate(offsets, y, keys))
    # permuting the clients
    order = list(range(len(clients)))
    rnd.shuffle(order)
    p_off, p_y, _ = flatten([clients[i] for i in order])
    assert fitted(accumulate(p_off, p_y, keys[order])) == whole
    # splitting into parts merged in a random order
    cuts = sorted(rnd.sample(range(1, len(clients)), 2))
    parts = []
    for lo, hi in zip([0, *cuts], [*cuts, len(clients)], strict=True):
        sl = slice(offsets[lo], offsets[hi])
        parts.append(accumulate(offsets[lo : hi + 1] - offsets[lo], y[sl], keys[lo:hi]))
    rnd.shuffle(parts)
    total = parts[0]
    for part in parts[1:]:
        total = part.merge(total) if rnd.random() < 0.5 else total.merge(part)
    assert fitted(total) == whole


@pytest.mark.parametrize(
    "changes",
    [
        {"taus": (0.5, 0.4, 0.6, 0.7, 0.8)},
        {"coefficients": ((1.0, 0.0, 0.0, 0.0),) * 4},
        {"coefficients": ((1.0, 0.0, 0.0),) * 5},
        {"t_cap": 1},
    ],
)
def test_inconsistent_models_cannot_be_built(changes: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        make_model(**changes)
