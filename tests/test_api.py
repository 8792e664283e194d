"""twostep.analyze / fit_norms / load: the Python API on files, Arrow tables and data frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import twostep
from twostep import AnalysisParams, NormsModel, Scale, SuddenGainParams
from twostep.api import TABLES, AnalysisResult, analyze, fit_norms, load
from twostep.cli.demo_data import synthetic_table, write_demo_data
from twostep.errors import ConfigurationError, InputFileError, UnknownInstrumentError
from twostep.interop.arrow import decode_dictionaries
from twostep.synthetic import SyntheticParams, generate_episodes

CLIENT_COLUMNS = [
    "client_id",
    "instrument",
    "n_scores",
    "first_session",
    "last_session",
    "baseline",
    "final",
    "change",
    "rci",
    "reliable_change",
    "clinical_category",
    "case_at_start",
    "case_at_end",
    "n_sudden_gains",
    "n_sudden_losses",
    "n_setbacks",
    "status",
]
SESSION_COLUMNS = [
    "client_id",
    "session",
    "score",
    "change_from_baseline",
    "change_from_previous",
    "status",
    "event",
    "in_setback",
    "etr_band",
    "expected_median",
    "expected_low",
    "expected_high",
    "provisional",
]
EVENT_COLUMNS = [
    "client_id",
    "pre_session",
    "post_session",
    "pre_score",
    "post_score",
    "magnitude",
    "relative_change",
    "reversal",
]
CREATED = "2025-01-01T00:00:00+00:00"


def columns(n_clients: int, seed: int, **kwargs: object) -> dict[str, np.ndarray]:
    data = generate_episodes(SyntheticParams(n_clients=n_clients, seed=seed, **kwargs))  # type: ignore[arg-type]
    return synthetic_table(data, items=bool(kwargs.get("items", False)))


def arrow(cols: dict[str, np.ndarray]) -> pa.Table:
    return pa.table({k: pa.array(v, from_pandas=True) for k, v in cols.items()})


def plain(result: AnalysisResult, name: str) -> pa.Table:
    return decode_dictionaries(result.table(name))


def same_results(a: AnalysisResult, b: AnalysisResult) -> None:
    for name in TABLES:
        ta, tb = plain(a, name), plain(b, name)
        assert ta.column_names == tb.column_names, name
        assert ta.equals(tb), name


@pytest.fixture(scope="module")
def history_norms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, NormsModel]:
    path = tmp_path_factory.mktemp("history") / "history.csv"
    write_demo_data(
        SyntheticParams(n_clients=400, seed=21, paired_instrument="gad7"), path, items=False
    )
    return {iid: fit_norms(path, instrument=iid, created_at=CREATED) for iid in ("phq9", "gad7")}


# ------------------------------------------------------------------ inputs


def test_same_result_from_csv_parquet_arrow_pandas_and_mapping(tmp_path: Path) -> None:
    params = SyntheticParams(n_clients=40, seed=5)
    csv, parquet = tmp_path / "s.csv", tmp_path / "s.parquet"
    write_demo_data(params, csv, items=False)
    write_demo_data(params, parquet, items=False)
    cols = synthetic_table(generate_episodes(params), items=False)
    from_csv = analyze(csv, instrument="phq9")
    assert from_csv.source == str(csv)
    assert from_csv.clients.num_rows == 40
    same_results(from_csv, analyze(str(csv), instrument="phq9"))
    same_results(from_csv, analyze(parquet, instrument="phq9"))
    same_results(from_csv, analyze(arrow(cols), instrument="phq9"))
    same_results(from_csv, analyze(pd.DataFrame(cols), instrument="phq9"))
    mapping = {
        k: (v.tolist() if k != "score" else [None if np.isnan(x) else x for x in v])
        for k, v in cols.items()
    }
    mapping["date"] = [str(d) for d in cols["date"]]
    same_results(from_csv, analyze(mapping, instrument="phq9"))


def test_pandas_with_typed_columns() -> None:
    df = pd.DataFrame(
        {
            "client_id": ["A", "A", "A", "B"],
            "date": pd.to_datetime(["2025-01-01", "2025-01-08", "2025-01-15", "2025-01-02"]),
            "score": [20.0, np.nan, 8.0, 12.0],
        }
    )
    result = analyze(df, instrument="phq9")
    clients = result.clients.to_pandas()
    assert clients["client_id"].tolist() == ["A", "B"]
    assert clients["baseline"].tolist() == [20.0, 12.0]
    assert clients["final"].tolist() == [8.0, 12.0]
    sessions = result.sessions.to_pandas()
    assert sessions["session"].tolist() == [1, 2, 3, 1]  # numbered by date
    assert np.isnan(sessions["score"][1])


def test_allow_extra_columns_with_pandas() -> None:
    df = pd.DataFrame({"client_id": ["A"], "session": [1], "score": [5], "notes": ["x"]})
    table = load(df, allow_extra_columns=True)
    assert table.client_id.to_pylist() == ["A"]


def test_allow_extra_columns_with_arrow_and_files(tmp_path: Path) -> None:
    t = pa.table({"client_id": ["A"], "session": [1], "score": [5], "notes": ["x"]})
    with pytest.raises(InputFileError):
        load(t)
    assert len(load(t, allow_extra_columns=True)) == 1
    path = tmp_path / "x.csv"
    path.write_text("client_id,session,score,notes\nA,1,5,x\n", encoding="utf-8")
    result = analyze(path, instrument="phq9", allow_extra_columns=True)
    assert result.clients.num_rows == 1


def test_unsupported_input() -> None:
    with pytest.raises(InputFileError) as info:
        load(42)
    assert info.value.problems[0].code == "unsupported_input"


def test_bad_input_raises_input_file_error(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("client_id,session,score\nA,1,30\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="row 2, column score"):
        analyze(path, instrument="phq9")
    with pytest.raises(UnknownInstrumentError):
        analyze(path, instrument="nope")


# ------------------------------------------------------------------ instruments


def test_multi_instrument_file_returns_both_with_an_instrument_column(tmp_path: Path) -> None:
    path = tmp_path / "paired.csv"
    write_demo_data(
        SyntheticParams(n_clients=20, seed=3, paired_instrument="gad7"), path, items=False
    )
    result = analyze(path)
    assert [a.scale.instrument_id for a in result.analyses] == ["gad7", "phq9"]
    for name in TABLES:
        t = plain(result, name)
        assert "instrument" in t.column_names, name
        if t.num_rows:
            assert set(t.column("instrument").to_pylist()) <= {"phq9", "gad7"}
    clients = plain(result, "clients")
    assert sorted(set(clients.column("instrument").to_pylist())) == ["gad7", "phq9"]
    assert clients.num_rows == 40
    sessions = plain(result, "sessions")
    assert set(sessions.column("instrument").to_pylist()) == {"phq9", "gad7"}
    # filter one instrument
    only = analyze(path, instrument="gad7")
    assert [a.scale.instrument_id for a in only.analyses] == ["gad7"]
    assert set(plain(only, "clients").column("instrument").to_pylist()) == {"gad7"}
    gad_rows = pc.equal(sessions.column("instrument"), "gad7")
    assert plain(only, "sessions").equals(sessions.filter(gad_rows))


def test_items_are_scored_through_the_api(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    write_demo_data(SyntheticParams(n_clients=10, seed=4, items=True), path, items=True)
    with_items = analyze(path, instrument="phq9")
    frame = pd.read_csv(path).drop(columns=[f"item_{i}" for i in range(1, 11)])
    without = analyze(frame, instrument="phq9")
    np.testing.assert_array_equal(
        with_items.sessions.column("score").to_numpy(zero_copy_only=False),
        without.sessions.column("score").to_numpy(zero_copy_only=False),
    )


def test_screening_instrument_is_refused() -> None:
    t = pa.table({"client_id": ["A", "A"], "session": [1, 2], "score": [3, 2]})
    with pytest.raises(ConfigurationError, match="screening"):
        analyze(t, instrument="phq2")


def test_local_rc_instrument_needs_parameters() -> None:
    t = pa.table({"client_id": ["A", "A"], "session": [1, 2], "score": [20, 30]})
    with pytest.raises(ConfigurationError, match="reliable-change"):
        analyze(t, instrument="swemwbs")
    result = analyze(t, instrument="swemwbs", reliability=0.89, sd=3.9)
    assert result.analyses[0].scale.rc.strict


# ------------------------------------------------------------------ scales and overrides


def test_custom_scale_bdi_ii() -> None:
    t = pa.table(
        {
            "client_id": ["A"] * 4 + ["B"] * 3,
            "session": [1, 2, 3, 4, 1, 2, 3],
            "score": [40, 35, 20, 10, 20, 25, 30],
        }
    )
    bdi = Scale.custom(
        name="BDI-II",
        minimum=0,
        maximum=63,
        higher_is_better=False,
        reliability=0.9,
        sd=7.5,
        cutoff=14,
    )
    result = analyze(t, scale=bdi)
    assert result.analyses[0].scale is bdi
    clients = plain(result, "clients").to_pylist()
    a, b = clients
    assert a["reliable_change"] == "improved"
    assert a["clinical_category"] == "recovered"
    assert b["reliable_change"] == "deteriorated"
    assert a["rci"] == pytest.approx(30 / bdi.s_diff)
    assert set(plain(result, "sessions").column("instrument").to_pylist()) == {"custom"}


def test_change_keeps_the_raw_sign_and_rci_is_positive_for_improvement() -> None:
    phq = analyze(
        pa.table({"client_id": ["A", "A"], "session": [1, 2], "score": [20, 8]}), instrument="phq9"
    )
    row = plain(phq, "clients").to_pylist()[0]
    assert row["change"] == -12.0
    assert row["rci"] == pytest.approx(12 * 1.96 / 6)
    assert row["reliable_change"] == "improved"
    ors = analyze(
        pa.table({"client_id": ["A", "A"], "session": [1, 2], "score": [15.0, 30.5]}),
        instrument="ors",
    )
    row = plain(ors, "clients").to_pylist()[0]
    assert row["change"] == pytest.approx(15.5)
    assert row["rci"] > 0
    assert row["reliable_change"] == "improved"
    assert row["case_at_start"]
    assert not row["case_at_end"]
    s = plain(ors, "sessions").to_pylist()
    assert s[1]["change_from_baseline"] == pytest.approx(15.5)


def test_rc_and_cutoff_overrides() -> None:
    t = pa.table({"client_id": ["A", "A"], "session": [1, 2], "score": [14, 9]})
    default = plain(analyze(t, instrument="phq9"), "clients").to_pylist()[0]
    assert default["reliable_change"] == "no_change"  # 5 < 6
    loose = plain(analyze(t, instrument="phq9", rc=5), "clients").to_pylist()[0]
    assert loose["reliable_change"] == "improved"
    assert loose["clinical_category"] == "recovered"
    high_cut = plain(analyze(t, instrument="phq9", rc=5, cutoff=8), "clients").to_pylist()[0]
    assert high_cut["case_at_end"]
    assert high_cut["clinical_category"] == "improved"


def test_params_change_sudden_gains() -> None:
    t = pa.table(
        {
            "client_id": ["B"] * 6,
            "session": [1, 2, 3, 4, 5, 6],
            "score": [20, 10, 21, 12, 20, 11],
        }
    )
    assert analyze(t, instrument="phq9").sudden_gains.num_rows == 0
    no_c3 = AnalysisParams(sudden_gains=SuddenGainParams(crit3=False))
    assert analyze(t, instrument="phq9", params=no_c3).sudden_gains.num_rows == 2


# ------------------------------------------------------------------ norms


def test_norms_give_expected_values_and_bands(
    tmp_path: Path, history_norms: dict[str, NormsModel]
) -> None:
    path = tmp_path / "caseload.csv"
    write_demo_data(
        SyntheticParams(n_clients=30, seed=22, paired_instrument="gad7"), path, items=False
    )
    without = analyze(path)
    result = analyze(path, norms=list(history_norms.values()))
    for a in result.analyses:
        assert a.norms is history_norms[a.scale.instrument_id]
    s = plain(result, "sessions")
    t = s.column("t").to_numpy()
    scored = ~np.isnan(s.column("score").to_numpy(zero_copy_only=False))
    band = np.asarray(s.column("etr_band").to_pylist())
    for col in ("expected_median", "expected_low", "expected_high"):
        values = s.column(col).to_numpy(zero_copy_only=False)
        assert not np.isnan(values[t >= 2]).any(), col
        assert np.isnan(values[t == 1]).all(), col
        assert (s.column(col).null_count) == int((t < 2).sum())
    assert np.all(band[t < 3] == "none")
    assert np.all(band[(t >= 3) & scored] != "none")
    assert set(band[(t >= 3) & scored]) <= {
        "white",
        "blue",
        "green",
        "yellow",
        "red",
        "red_confirmed",
    }
    low = s.column("expected_low").to_numpy(zero_copy_only=False)
    high = s.column("expected_high").to_numpy(zero_copy_only=False)
    assert np.all(low[t >= 2] <= high[t >= 2])
    # without norms the expected columns are empty
    w = plain(without, "sessions")
    assert w.column("expected_median").null_count == w.num_rows


def test_norms_for_another_instrument_or_twice(history_norms: dict[str, NormsModel]) -> None:
    t = pa.table({"client_id": ["A", "A"], "session": [1, 2], "score": [14, 9]})
    # Current behaviour (awkward): norms for an instrument that is not analysed are
    # silently ignored, so the rule-based fallback is used without a word.
    result = analyze(t, instrument="phq9", norms=history_norms["gad7"])
    assert result.analyses[0].norms is None
    with pytest.raises(ConfigurationError, match="two norms"):
        analyze(t, instrument="phq9", norms=[history_norms["phq9"], history_norms["phq9"]])


def test_fit_norms_needs_enough_data() -> None:
    t = arrow(columns(20, 1))
    with pytest.raises(ConfigurationError) as info:
        fit_norms(t, instrument="phq9")
    message = str(info.value)
    assert "300 episodes" in message
    assert "1500 scores" in message
    model = fit_norms(t, instrument="phq9", min_episodes=10, min_scores=50, created_at=CREATED)
    assert model.instrument_id == "phq9"
    assert model.created_at == CREATED


def test_fit_norms_describes_its_data(history_norms: dict[str, NormsModel]) -> None:
    m = history_norms["phq9"]
    assert m.instrument_id == "phq9"
    assert m.n_episodes >= 300
    assert m.n_scores >= 1500
    assert "phq9" in m.describe()


# ------------------------------------------------------------------ tables


def test_tables_have_the_design_columns() -> None:
    result = analyze(arrow(columns(60, 9)), instrument="phq9")
    assert set(CLIENT_COLUMNS) <= set(result.clients.column_names)
    assert set(SESSION_COLUMNS) <= set(result.sessions.column_names)
    assert set(EVENT_COLUMNS) <= set(result.sudden_gains.column_names)
    assert set(EVENT_COLUMNS) <= set(result.sudden_losses.column_names)
    clients = plain(result, "clients")
    assert set(clients.column("reliable_change").to_pylist()) <= {
        "improved", "deteriorated", "no_change", "not_computable"
    }  # fmt: skip
    assert set(clients.column("clinical_category").to_pylist()) <= {
        "recovered", "improved", "unchanged", "deteriorated", "not_computable"
    }  # fmt: skip
    assert result.sudden_gains.num_rows > 0
    # one session row per observed administration (inserted gap rows are not listed)
    n_observed = sum(int(a.batch.observed.sum()) for a in result.analyses)
    assert result.sessions.num_rows == n_observed
    with pytest.raises(KeyError):
        result.table("nope")


def test_facade_exports() -> None:
    for name in twostep.__all__:
        assert hasattr(twostep, name), name
    assert twostep.analyze is analyze
    assert twostep.get_instrument("phq9").short_name == "PHQ-9"
    score = twostep.score_submission(
        twostep.get_instrument("gad7"), {f"item_{i}": 1 for i in range(1, 8)}
    )
    assert score.total == 7
    assert issubclass(twostep.ValidationError, twostep.TwostepError)
