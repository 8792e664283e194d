"""The synthetic data generator: contract, invariants, realism and ground truth."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twostep.errors import ConfigurationError, UnknownInstrumentError
from twostep.instruments.model import Instrument
from twostep.instruments.registry import default_catalogue, get_instrument
from twostep.instruments.scoring import score_matrix, validate_matrix
from twostep.synthetic import (
    ARCHETYPES,
    SyntheticParams,
    SyntheticScores,
    generate_episodes,
)
from twostep.synthetic.scale import score_grid

ALL_IDS = default_catalogue().ids
ROW_COLUMNS = ("client_id", "session", "date", "score", "therapist_id")


def _generate(**kwargs: object) -> SyntheticScores:
    return generate_episodes(SyntheticParams(**kwargs))  # type: ignore[arg-type]


def _attainable(instrument_id: str) -> np.ndarray:
    return score_grid(get_instrument(instrument_id)).totals


def _first_last(data: SyntheticScores) -> tuple[np.ndarray, np.ndarray]:
    """First and last observed score of every client."""
    observed = ~np.isnan(data.score)
    idx = np.where(observed, np.arange(data.n_rows), -1)
    last = np.maximum.reduceat(idx, data.offsets[:-1])
    return data.score[data.offsets[:-1]], data.score[last]


def _within_client(data: SyntheticScores) -> np.ndarray:
    """Mask over ``np.diff`` of per-row columns: True where both rows are one client's."""
    same = np.ones(max(data.n_rows - 1, 0), dtype=bool)
    same[data.offsets[1:-1] - 1] = False
    return same


def _check_invariants(data: SyntheticScores, params: SyntheticParams) -> None:
    n = data.n_rows
    cols = data.columns()
    assert tuple(cols)[:5] == ROW_COLUMNS
    assert all(v.shape[0] == n for v in cols.values())
    assert data.n_clients == params.n_clients
    assert data.offsets[0] == 0
    assert data.offsets[-1] == n
    lengths = data.lengths
    assert (lengths >= 1).all()
    # sorted by client then session; sessions 1..L without gaps
    assert data.client_id.dtype.kind == "U"
    assert data.therapist_id.dtype.kind == "U"
    assert data.session.dtype == np.int64
    assert data.date.dtype == np.dtype("datetime64[D]")
    assert data.score.dtype == np.float64
    assert (data.client_id[:-1] <= data.client_id[1:]).all()
    expected_session = np.arange(n) - np.repeat(data.offsets[:-1], lengths) + 1
    np.testing.assert_array_equal(data.session, expected_session)
    firsts = data.offsets[:-1]
    assert np.unique(data.client_id).shape[0] == data.n_clients
    np.testing.assert_array_equal(np.repeat(data.client_id[firsts], lengths), data.client_id)
    np.testing.assert_array_equal(np.repeat(data.therapist_id[firsts], lengths), data.therapist_id)
    # dates strictly increase within a client
    assert (np.diff(data.date.astype(np.int64))[_within_client(data)] > 0).all()
    # intake observed, scores on the instrument's grid
    assert not np.isnan(data.score[firsts]).any()
    grid = _attainable(params.instrument)
    observed = ~np.isnan(data.score)
    complete = observed.copy()
    if data.items is not None:  # a prorated mean may fall between grid points
        complete &= ~np.isnan(data.items).any(axis=1)
    assert np.isin(data.score[complete], grid).all()
    assert (data.score[observed] >= grid.min()).all()
    assert (data.score[observed] <= grid.max()).all()
    assert np.isin(data.truth.true_score, grid).all()
    if params.sessions is not None:
        assert (lengths == params.sessions).all()
    # truth
    t = data.truth
    assert t.archetype.shape == (data.n_clients,)
    assert set(np.unique(t.archetype)) <= set(ARCHETYPES)
    for flags in (t.sudden_gain, t.sudden_loss, t.setback, t.plateau, t.true_score):
        assert flags.shape == (n,)
    assert not t.sudden_gain[firsts].any()
    assert not t.sudden_loss[firsts].any()
    # items reproduce the score exactly through the catalogue's scoring
    if data.items is not None:
        ins = get_instrument(data.instrument)
        assert data.item_ids == ins.item_ids
        validate_matrix(ins, data.items)
        np.testing.assert_array_equal(score_matrix(ins, data.items).total, data.score)
        assert np.isnan(data.items[~observed]).all()
    if params.paired_instrument is not None:
        assert data.paired_score is not None
        np.testing.assert_array_equal(np.isnan(data.paired_score), ~observed)
        paired_complete = observed.copy()
        if data.paired_items is not None:  # a prorated mean may fall between grid points
            paired_complete &= ~np.isnan(data.paired_items).any(axis=1)
        grid = _attainable(params.paired_instrument)
        assert np.isin(data.paired_score[paired_complete], grid).all()
        if data.paired_items is not None:
            paired = get_instrument(params.paired_instrument)
            total = score_matrix(paired, data.paired_items).total
            np.testing.assert_array_equal(total, data.paired_score)


# --- contract -----------------------------------------------------------------------


def test_same_seed_gives_identical_output() -> None:
    params = SyntheticParams(n_clients=300, seed=7, items=True, paired_instrument="gad7")
    a, b = generate_episodes(params), generate_episodes(params)
    for name, col in a.columns().items():
        np.testing.assert_array_equal(col, b.columns()[name], err_msg=name)
    for name, col in a.columns(paired=True).items():
        np.testing.assert_array_equal(col, b.columns(paired=True)[name], err_msg=name)
    np.testing.assert_array_equal(a.truth.archetype, b.truth.archetype)
    np.testing.assert_array_equal(a.truth.sudden_gain, b.truth.sudden_gain)
    c = generate_episodes(replace(params, seed=8))
    assert c.n_rows != a.n_rows or not np.array_equal(c.score, a.score, equal_nan=True)


def test_output_is_long_format_sorted_and_equal_length() -> None:
    params = SyntheticParams(n_clients=2000, seed=1, items=True, paired_instrument="gad7")
    data = generate_episodes(params)
    _check_invariants(data, params)
    cols = data.columns()
    assert list(cols) == [*ROW_COLUMNS, *get_instrument("phq9").item_ids]
    assert list(data.columns(items=False)) == list(ROW_COLUMNS)
    assert data.client_id[0] == "C0000001"
    assert data.therapist_id[0].startswith("T")
    assert len(data) == data.n_rows == data.session.shape[0]


def test_columns_are_read_only() -> None:
    data = _generate(n_clients=20, items=True)
    with pytest.raises(ValueError, match="read-only"):
        data.score[0] = 1.0
    assert data.items is not None
    with pytest.raises(ValueError, match="read-only"):
        data.items[0, 0] = 1.0


def test_paired_columns_need_a_paired_measure() -> None:
    with pytest.raises(ValueError, match="paired"):
        _generate(n_clients=5).columns(paired=True)


def test_empty_and_tiny_populations() -> None:
    empty = _generate(n_clients=0, items=True, paired_instrument="gad7")
    assert empty.n_clients == 0
    assert empty.n_rows == 0
    one = _generate(n_clients=1, sessions=1, items=True)
    assert one.n_rows == 1
    assert not np.isnan(one.score[0])


def test_unknown_instrument_is_an_error() -> None:
    with pytest.raises(UnknownInstrumentError):
        _generate(n_clients=5, instrument="no_such_measure")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_clients": -1},
        {"sessions": 0},
        {"missing_rate": 1.0},
        {"missing_rate": -0.1},
        {"share_responder": -1.0},
        {
            "share_responder": 0.0,
            "share_slow": 0.0,
            "share_non_responder": 0.0,
            "share_deteriorator": 0.0,
            "share_plateau": 0.0,
            "share_early_dropout": 0.0,
        },
        {"sessions_min": 5, "sessions_max": 4},
        {"intake_min": 20.0, "intake_max": 10.0},
        {"paired_intake_correlation": 1.5},
        {"start_date": "not a date"},
        {"noise_sd": float("nan")},
        {"plateau_start": (5, 3)},
        {"sudden_magnitude": (0.0, 1.0)},
        {"fortnightly_rate": 0.8, "long_break_rate": 0.3},
    ],
)
def test_invalid_parameters_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        SyntheticParams(**kwargs)  # type: ignore[arg-type]


def test_fixed_sessions_without_any_other_archetype_is_rejected() -> None:
    params = SyntheticParams(
        sessions=12,
        share_responder=0.0,
        share_slow=0.0,
        share_non_responder=0.0,
        share_deteriorator=0.0,
        share_plateau=0.0,
        share_early_dropout=1.0,
    )
    with pytest.raises(ConfigurationError, match="fixed number of sessions"):
        generate_episodes(params)


# --- every instrument in the catalogue ------------------------------------------------


@pytest.mark.parametrize("instrument_id", ALL_IDS)
def test_scores_are_within_range_and_on_resolution(instrument_id: str) -> None:
    ins = get_instrument(instrument_id)
    data = _generate(n_clients=1500, seed=3, instrument=instrument_id)
    observed = data.score[~np.isnan(data.score)]
    assert observed.min() >= ins.scoring.total_min - 1e-9
    assert observed.max() <= ins.scoring.total_max + 1e-9
    assert np.isin(observed, _attainable(instrument_id)).all()
    if ins.scoring.conversion == () and ins.scoring.method == "sum":
        step = min(
            (it.scale.resolution if it.scale.kind != "choice" else 1.0) for it in ins.scored_items
        )
        steps = (observed - ins.scoring.total_min) / (step * ins.scoring.multiplier)
        np.testing.assert_allclose(steps, np.round(steps), atol=1e-6)
    # the whole range is used, not a corner of it
    assert np.unique(observed).shape[0] >= min(10, _attainable(instrument_id).shape[0] // 2)


@pytest.mark.parametrize("instrument_id", ALL_IDS)
def test_items_reproduce_the_totals_exactly(instrument_id: str) -> None:
    params = SyntheticParams(n_clients=800, seed=5, instrument=instrument_id, items=True)
    data = generate_episodes(params)
    _check_invariants(data, params)
    assert data.items is not None
    ins = get_instrument(instrument_id)
    # reverse-keyed items store the raw answer: scoring them gives the total back
    if any(it.reverse for it in ins.items):
        keyed_sum_differs = np.nansum(data.items[:, [it.scored for it in ins.items]], axis=1)
        observed = ~np.isnan(data.score)
        assert (keyed_sum_differs[observed] != data.score[observed]).any()
    # items do not change the totals: same seed without items, same scores
    plain = generate_episodes(replace(params, items=False))
    np.testing.assert_array_equal(plain.score, data.score)


@pytest.mark.parametrize("instrument_id", ALL_IDS)
def test_single_missing_items_are_prorated(instrument_id: str) -> None:
    ins = get_instrument(instrument_id)
    params = SyntheticParams(
        n_clients=800, seed=11, instrument=instrument_id, items=True, item_missing_rate=0.1
    )
    data = generate_episodes(params)
    _check_invariants(data, params)
    assert data.items is not None
    observed = ~np.isnan(data.score)
    blanks = np.isnan(data.items[observed]).sum(axis=1)
    if ins.missing.max_missing < 1:
        assert (blanks == 0).all()  # not scorable with a blank: none are made
        return
    assert set(np.unique(blanks)) == {0, 1}
    assert 0.06 < (blanks == 1).mean() < 0.14
    for iid in ins.missing.never_impute:
        assert not np.isnan(data.items[observed, ins.item_ids.index(iid)]).any()
    table = score_matrix(ins, data.items)
    assert table.prorated[observed].sum() == (blanks == 1).sum()


# --- realism ----------------------------------------------------------------------


def test_missing_share_close_to_parameter() -> None:
    for rate in (0.05, 0.2):
        data = _generate(n_clients=20_000, seed=2, missing_rate=rate)
        assert abs(np.isnan(data.score).mean() - rate) < 0.006
    none = _generate(n_clients=2000, missing_rate=0.0)
    assert not np.isnan(none.score).any()


def test_fixed_sessions_for_the_kernel_benchmark() -> None:
    data = _generate(n_clients=20_000, seed=4, sessions=12, missing_rate=0.05)
    assert (data.lengths == 12).all()
    assert data.n_rows == 240_000
    assert abs(np.isnan(data.score).mean() - 0.05) < 0.004
    assert "early_dropout" not in set(data.truth.archetype)
    assert not data.truth.dropped_out.any()


def test_archetype_shares_roughly_as_configured() -> None:
    params = SyntheticParams(n_clients=30_000, seed=9)
    data = generate_episodes(params)
    shares = params.archetype_shares() / params.archetype_shares().sum()
    for name, share in zip(ARCHETYPES, shares, strict=True):
        assert abs((data.truth.archetype == name).mean() - share) < 0.01, name
    custom = _generate(
        n_clients=20_000,
        share_responder=1.0,
        share_slow=1.0,
        share_non_responder=0.0,
        share_deteriorator=2.0,
        share_plateau=0.0,
        share_early_dropout=0.0,
    )
    counts = {a: (custom.truth.archetype == a).mean() for a in ARCHETYPES}
    assert abs(counts["deteriorator"] - 0.5) < 0.02
    assert abs(counts["responder"] - 0.25) < 0.02
    assert counts["plateau"] == 0.0


def test_intake_severity_spread() -> None:
    data = _generate(n_clients=20_000, seed=6)
    intake, _ = _first_last(data)
    assert 14.0 < intake.mean() < 17.0
    assert 4.0 < intake.std() < 6.5
    assert 0.05 < (intake < 10).mean() < 0.2  # a share below the cut-off


def test_episode_lengths_and_dropout() -> None:
    data = _generate(n_clients=20_000, seed=6)
    lengths = data.lengths
    planned = ~data.truth.dropped_out
    assert lengths[planned].min() >= 4
    assert lengths.max() <= 20
    assert 7.0 < lengths.mean() < 11.0
    early = data.truth.archetype == "early_dropout"
    assert (lengths[early] <= 3).all()
    assert data.truth.dropped_out[early].all()


def test_dates_mostly_weekly_with_gaps_and_long_breaks() -> None:
    data = _generate(n_clients=10_000, seed=6)
    gaps = np.diff(data.date.astype(np.int64))[_within_client(data)]
    assert gaps.min() >= 1
    assert 0.7 < np.isin(gaps, (6, 7, 8)).mean() < 0.9
    assert 0.1 < np.isin(gaps, (13, 14, 15)).mean() < 0.2
    assert 0.015 < (gaps > 28).mean() < 0.05
    assert data.date.min() >= np.datetime64("2023-01-02")


def test_therapists_have_caseloads() -> None:
    data = _generate(n_clients=6000, seed=6, clients_per_therapist=30.0)
    per_client = data.therapist_id[data.offsets[:-1]]
    therapists, caseload = np.unique(per_client, return_counts=True)
    assert 150 <= therapists.shape[0] <= 200
    assert caseload.std() > 0  # caseloads vary


def test_responders_improve_and_deteriorators_worsen() -> None:
    data = _generate(n_clients=20_000, seed=12)
    first, last = _first_last(data)
    change = last - first
    arch = data.truth.archetype
    mean = {a: change[arch == a].mean() for a in ARCHETYPES}
    assert mean["responder"] < -5.0
    assert mean["responder"] < mean["slow"] < mean["non_responder"] < mean["deteriorator"]
    assert mean["deteriorator"] > 3.0
    assert abs(mean["non_responder"]) < 2.0
    reliable_deterioration = (change >= 6).mean()
    assert 0.02 < reliable_deterioration < 0.1


def test_improvement_is_fast_early_then_slower() -> None:
    data = _generate(n_clients=20_000, seed=13, sessions=16, missing_rate=0.0)
    responders = np.repeat(data.truth.archetype == "responder", data.lengths)
    by_session = np.array(
        [data.score[responders & (data.session == s)].mean() for s in range(1, 17)]
    )
    early, late = by_session[0] - by_session[4], by_session[10] - by_session[15]
    assert early > 2 * late > 0  # diminishing returns: linear in log(session)


def test_week_to_week_noise_of_a_few_points() -> None:
    data = _generate(n_clients=10_000, seed=14, missing_rate=0.0)
    quiet = np.repeat(data.truth.archetype == "non_responder", data.lengths)
    quiet &= ~(data.truth.setback | data.truth.sudden_gain | data.truth.sudden_loss)
    diffs = np.diff(data.score)[_within_client(data) & quiet[1:] & quiet[:-1]]
    assert 2.0 < diffs.std() / math.sqrt(2) < 4.0


def test_scores_on_ors_go_up_with_improvement() -> None:
    better = [i.id for i in default_catalogue() if i.higher_is_better and i.tracks_outcome]
    if "ors" not in ALL_IDS:
        pytest.skip(f"no ORS definition in the catalogue (higher-is-better ones: {better})")
    data = _generate(n_clients=5000, seed=15, instrument="ors", items=True)
    first, last = _first_last(data)
    responders = data.truth.archetype == "responder"
    assert (last - first)[responders].mean() > 5.0
    assert data.items is not None
    observed = ~np.isnan(data.score)
    tenths = data.items[observed] * 10
    np.testing.assert_allclose(tenths, np.round(tenths), atol=1e-6)
    totals = data.score[observed] * 10
    np.testing.assert_allclose(totals, np.round(totals), atol=1e-6)


def test_phq9_risk_item_mostly_zero_and_rises_with_severity() -> None:
    data = _generate(n_clients=20_000, seed=16, items=True)
    assert data.items is not None
    observed = ~np.isnan(data.score)
    item9 = data.items[observed, 8]
    total = data.score[observed]
    assert (item9 > 0).mean() < 0.08
    assert (item9[total < 10] > 0).mean() < 0.01
    severe = (total >= 20) & (total <= 24)
    assert 0.04 < (item9[severe] > 0).mean() < 0.2
    assert (item9[total >= 25] > 0).all()  # forced: the other eight items give at most 24
    # the unscored difficulty item is filled and follows severity
    item10 = data.items[observed, 9]
    assert np.isin(item10, (0, 1, 2, 3)).all()
    assert item10[total >= 20].mean() > item10[total < 5].mean() + 1.0


def test_gad7_paired_with_phq9() -> None:
    params = SyntheticParams(n_clients=5000, seed=17, items=True, paired_instrument="gad7")
    data = generate_episodes(params)
    _check_invariants(data, params)
    assert data.paired_instrument == "gad7"
    assert data.paired_score is not None
    assert data.paired_items is not None
    assert data.paired_item_ids == get_instrument("gad7").item_ids
    observed = ~np.isnan(data.score)
    r_level = np.corrcoef(data.score[observed], data.paired_score[observed])[0, 1]
    assert r_level > 0.5
    first = data.offsets[:-1]
    obs_idx = np.where(observed, np.arange(data.n_rows), -1)
    last = np.maximum.reduceat(obs_idx, first)
    phq_change = data.score[last] - data.score[first]
    gad_change = data.paired_score[last] - data.paired_score[first]
    assert np.corrcoef(phq_change, gad_change)[0, 1] > 0.4
    paired_cols = data.columns(paired=True)
    assert list(paired_cols) == [*ROW_COLUMNS, *get_instrument("gad7").item_ids]
    # the paired measure does not disturb the primary one
    alone = generate_episodes(replace(params, paired_instrument=None))
    np.testing.assert_array_equal(alone.score, data.score)


# --- ground truth -------------------------------------------------------------------


def test_injected_events_are_visible_in_the_true_scores() -> None:
    data = _generate(n_clients=20_000, seed=18, missing_rate=0.1)
    t = data.truth
    true = t.true_score
    gain_rows = np.flatnonzero(t.sudden_gain)
    loss_rows = np.flatnonzero(t.sudden_loss)
    assert gain_rows.size > 1000
    assert loss_rows.size > 300
    # pre and post administrations of injected gains/losses are never missed
    for rows in (gain_rows, loss_rows):
        assert not np.isnan(data.score[rows]).any()
        assert not np.isnan(data.score[rows - 1]).any()
    assert (true[gain_rows - 1] - true[gain_rows]).mean() > 5.0
    assert (true[loss_rows] - true[loss_rows - 1]).mean() > 5.0
    gain_clients = np.searchsorted(data.offsets, gain_rows, side="right") - 1
    assert set(np.unique(t.archetype[gain_clients])) <= {"responder", "slow", "non_responder"}
    # setbacks: a temporary rise above the preceding score
    starts = np.flatnonzero(t.setback & ~np.roll(t.setback, 1))
    starts = starts[data.session[starts] > 1]
    assert (true[starts] - true[starts - 1]).mean() > 4.0
    # plateaus: flat and above the cut-off
    plateau = t.plateau
    assert (true[plateau] >= 10).mean() > 0.8
    on_plateau_diffs = np.diff(true)[(plateau[1:] & plateau[:-1])]
    assert np.abs(on_plateau_diffs).mean() < 2.5
    plateau_clients = np.unique(np.searchsorted(data.offsets, np.flatnonzero(plateau), "right") - 1)
    assert set(np.unique(t.archetype[plateau_clients])) == {"plateau"}


def test_true_score_fills_missed_administrations() -> None:
    data = _generate(n_clients=2000, seed=19, missing_rate=0.2)
    missed = np.isnan(data.score)
    assert missed.any()
    np.testing.assert_array_equal(data.truth.true_score[~missed], data.score[~missed])
    assert not np.isnan(data.truth.true_score).any()


# --- property test ------------------------------------------------------------------


def _instrument_ids() -> st.SearchStrategy[str]:
    return st.sampled_from(ALL_IDS)


def _items_possible(instrument: Instrument) -> bool:
    return score_grid(instrument).layout.uniform


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_clients=st.integers(0, 25),
    seed=st.integers(0, 2**32 - 1),
    sessions=st.one_of(st.none(), st.integers(1, 15)),
    sessions_min=st.integers(1, 6),
    sessions_extra=st.integers(0, 10),
    shares=st.lists(st.floats(0.0, 1.0), min_size=6, max_size=6).filter(lambda s: sum(s) > 0.05),
    missing_rate=st.floats(0.0, 0.6),
    item_missing_rate=st.floats(0.0, 0.3),
    instrument=_instrument_ids(),
    paired=st.one_of(st.none(), _instrument_ids()),
    items=st.booleans(),
    dropout_rate=st.floats(0.0, 1.0),
    noise_sd=st.floats(0.0, 6.0),
    plateau_start=st.integers(1, 6),
)
def test_invariants_hold_for_random_parameters(
    n_clients: int,
    seed: int,
    sessions: int | None,
    sessions_min: int,
    sessions_extra: int,
    shares: list[float],
    missing_rate: float,
    item_missing_rate: float,
    instrument: str,
    paired: str | None,
    items: bool,
    dropout_rate: float,
    noise_sd: float,
    plateau_start: int,
) -> None:
    if sessions is not None and sum(shares[:5]) == 0:
        shares[0] = 1.0
    params = SyntheticParams(
        n_clients=n_clients,
        seed=seed,
        sessions=sessions,
        sessions_min=sessions_min,
        sessions_max=sessions_min + sessions_extra,
        sessions_mean=sessions_min + sessions_extra / 2,
        share_responder=shares[0],
        share_slow=shares[1],
        share_non_responder=shares[2],
        share_deteriorator=shares[3],
        share_plateau=shares[4],
        share_early_dropout=shares[5],
        missing_rate=missing_rate,
        item_missing_rate=item_missing_rate,
        instrument=instrument,
        paired_instrument=paired,
        items=items
        and _items_possible(get_instrument(instrument))
        and (paired is None or _items_possible(get_instrument(paired))),
        dropout_rate=dropout_rate,
        noise_sd=noise_sd,
        plateau_start=(plateau_start, plateau_start + 2),
    )
    data = generate_episodes(params)
    _check_invariants(data, params)
    if sessions is None:
        assert data.lengths.max(initial=0) <= max(params.sessions_max, 3)
