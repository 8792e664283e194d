"""`analyze_batch` and `twostep.api.analyze` against the design.md data contract.

A small hand-made PHQ-9 batch (RC 6, case >= 10):

* ``a``: 20, 20, 20, 10, 10, 10 — a sudden gain at 3 -> 4 (see test_sudden_gains.py);
* ``b``: session 1 = 15, session 2 given with an empty score, session 3 not given
  at all (a gap the batch fills), session 4 = 9;
* ``c``: 5, 5, 5, 12, 12, 12 — a sudden loss at 3 -> 4, reliable deterioration.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import twostep.api as api
from twostep.analytics.batch import ScoreBatch
from twostep.analytics.norms_model import DEFAULT_TAUS, MODEL_NAME, Coverage, NormsModel, ScaleInfo
from twostep.analytics.pipeline import Analysis, analyze_batch
from twostep.analytics.scale import Scale
from twostep.analytics.tables import Table
from twostep.errors import ConfigurationError
from twostep.instruments.registry import default_catalogue

CATALOGUE = default_catalogue()
PHQ9 = Scale.from_instrument(CATALOGUE.get("phq9"))

#: design.md "Data contracts"
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

NAN = math.nan
CLIENT = ["a"] * 6 + ["b"] * 3 + ["c"] * 6
SESSION = [1, 2, 3, 4, 5, 6, 1, 2, 4, 1, 2, 3, 4, 5, 6]
SCORE = [20, 20, 20, 10, 10, 10, 15, NAN, 9, 5, 5, 5, 12, 12, 12]


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    batch = ScoreBatch.from_arrays(np.array(CLIENT), np.array(SCORE), session=np.array(SESSION))
    return analyze_batch(batch, PHQ9)


def rows_of(table: Table, key: str) -> list[dict[str, object]]:
    rows = (table.row(i) for i in range(len(table)))
    return [r for r in rows if r["client_id"] == key]


def test_every_contract_column_is_present(analysis: Analysis) -> None:
    assert set(CLIENT_COLUMNS) <= set(analysis.clients.column_names)
    assert set(SESSION_COLUMNS) <= set(analysis.sessions.column_names)
    assert set(EVENT_COLUMNS) <= set(analysis.sudden_gains.column_names)
    assert set(EVENT_COLUMNS) <= set(analysis.sudden_losses.column_names)


def test_clients_table(analysis: Analysis) -> None:
    [a] = rows_of(analysis.clients, "a")
    assert a["instrument"] == "phq9"
    assert (a["n_scores"], a["first_session"], a["last_session"]) == (6, 1, 6)
    assert (a["baseline"], a["final"], a["change"]) == (20, 10, -10)
    assert a["rci"] == pytest.approx(10 / (6 / 1.96))  # positive = improvement
    assert a["reliable_change"] == "improved"
    assert a["clinical_category"] == "improved"  # 10 is still a case
    assert (a["case_at_start"], a["case_at_end"]) == (True, True)
    assert (a["n_sudden_gains"], a["n_sudden_losses"], a["n_setbacks"]) == (1, 0, 0)
    assert a["status"] == "improved"

    [b] = rows_of(analysis.clients, "b")
    assert (b["n_scores"], b["first_session"], b["last_session"]) == (2, 1, 4)
    assert (b["baseline"], b["final"], b["change"]) == (15, 9, -6)
    assert b["reliable_change"] == "improved"  # -6: a tie with the fixed RC counts
    assert b["clinical_category"] == "recovered"  # 15 a case, 9 not, reliable improvement
    assert b["status"] == "recovered"

    [c] = rows_of(analysis.clients, "c")
    assert (c["change"], c["reliable_change"]) == (7, "deteriorated")
    assert c["rci"] == pytest.approx(-7 / (6 / 1.96))
    assert c["clinical_category"] == "deteriorated"
    assert (c["case_at_start"], c["case_at_end"]) == (False, True)
    assert (c["n_sudden_gains"], c["n_sudden_losses"]) == (0, 1)
    assert c["status"] == "deteriorated"


def test_sessions_table_keeps_given_missed_rows_but_not_filled_gaps(analysis: Analysis) -> None:
    b = rows_of(analysis.sessions, "b")
    assert [r["session"] for r in b] == [1, 2, 4]  # session 3 was never given
    assert math.isnan(b[1]["score"])  # session 2: given with an empty score
    assert [r["status"] for r in b] == ["baseline", "", "recovered"]
    assert [r["event"] for r in b] == ["baseline", "missed", "step_better"]
    assert math.isnan(b[0]["change_from_baseline"])  # at intake
    assert math.isnan(b[1]["change_from_baseline"])
    assert (b[2]["change_from_baseline"], b[2]["change_from_previous"]) == (-6, -6)
    assert len(analysis.sessions) == len(SCORE)
    # the batch itself has the filled row (so that neighbours are neighbours in time)
    assert analysis.batch.n_rows == len(SCORE) + 1


def test_sessions_table_labels(analysis: Analysis) -> None:
    a = rows_of(analysis.sessions, "a")
    assert [r["event"] for r in a] == [
        "baseline",
        "fluctuation",
        "fluctuation",
        "sudden_gain",
        "fluctuation",
        "fluctuation",
    ]
    assert [r["change_from_previous"] for r in a][1:] == [0, 0, -10, 0, 0]
    assert not any(r["in_setback"] for r in a)
    c = rows_of(analysis.sessions, "c")
    assert [r["status"] for r in c][3:] == ["deteriorated"] * 3
    assert [r["event"] for r in c][3] == "sudden_loss"
    # the last deterioration waits for the next administration to be confirmed
    assert [r["provisional"] for r in c] == [False] * 5 + [True]
    assert [r["deterioration_confirmed"] for r in c][3:] == ["confirmed", "confirmed", "pending"]


def test_fallback_bands_without_norms(analysis: Analysis) -> None:
    """methods.md §4.3 (no norms): none at intake; red = reliable deterioration (at t >= 2);
    yellow = at t >= 4 improvement < 50 % of RC; green otherwise; white replaces green
    below the cut-off; red_confirmed = red at two consecutive scored administrations."""
    a = rows_of(analysis.sessions, "a")
    assert [r["etr_band"] for r in a] == ["none", "green", "green", "green", "green", "green"]
    c = rows_of(analysis.sessions, "c")
    assert [r["etr_band"] for r in c] == [
        "none",
        "white",
        "white",
        "red",
        "red_confirmed",
        "red_confirmed",
    ]
    b = rows_of(analysis.sessions, "b")
    assert [r["etr_band"] for r in b] == ["none", "none", "white"]
    for r in a + b + c:
        assert math.isnan(r["expected_median"])  # no norms: no expected values
        assert math.isnan(r["expected_low"])
        assert math.isnan(r["expected_high"])


def test_event_tables(analysis: Analysis) -> None:
    [g] = [analysis.sudden_gains.row(i) for i in range(len(analysis.sudden_gains))]
    assert g["client_id"] == "a"
    assert (g["pre_session"], g["post_session"], g["pre_score"], g["post_score"]) == (3, 4, 20, 10)
    assert (g["magnitude"], g["relative_change"], g["reversal"]) == (10, 0.5, False)
    [loss] = [analysis.sudden_losses.row(i) for i in range(len(analysis.sudden_losses))]
    assert loss["client_id"] == "c"
    assert (loss["pre_score"], loss["post_score"], loss["magnitude"]) == (5, 12, 7)
    assert loss["relative_change"] == pytest.approx(7 / 5)


# ------------------------------------------------------------------ refusals


def test_screening_instruments_are_refused() -> None:
    phq2 = CATALOGUE.get("phq2")
    with pytest.raises(ConfigurationError, match="screening"):
        Scale.from_instrument(phq2)
    # even with a threshold given, the kernel refuses a measure that does not track outcome
    scale = Scale.from_instrument(phq2, rc=2)
    assert not scale.tracks_outcome
    batch = ScoreBatch.from_arrays(np.array(["x", "x"]), np.array([4.0, 1.0]), session=[1, 2])
    with pytest.raises(ConfigurationError, match="screening"):
        analyze_batch(batch, scale)
    data = pa.table({"client_id": ["x", "x"], "session": [1, 2], "score": [4, 1]})
    with pytest.raises(ConfigurationError):
        api.analyze(data, instrument="phq2")


def gad7_norms() -> NormsModel:
    return NormsModel(
        format_version=1,
        instrument_id="gad7",
        model=MODEL_NAME,
        taus=DEFAULT_TAUS,
        coefficients=((1.0, 0.5, -1.0, -0.1),) * len(DEFAULT_TAUS),
        t_cap=20,
        scale=ScaleInfo(0, 21),
        training_first_day="2023-01-02",
        training_last_day="2024-06-01",
        n_episodes=400,
        n_scores=3000,
        coverage=Coverage(0.9, 0.1, 0.02, (0.1, float("nan")), (10, 0), 0.1, 10, True),
        created_at="2024-06-30T12:00:00+00:00",
    )


def test_norms_for_another_instrument_are_refused() -> None:
    batch = ScoreBatch.from_arrays(np.array(["x", "x"]), np.array([14.0, 9.0]), session=[1, 2])
    with pytest.raises(ConfigurationError, match="gad7"):
        analyze_batch(batch, PHQ9, norms=gad7_norms())


# ------------------------------------------------------------------ the Python API


def contract_ok(result: api.AnalysisResult) -> None:
    assert set(CLIENT_COLUMNS) <= set(result.clients.column_names)
    assert set(SESSION_COLUMNS) <= set(result.sessions.column_names)
    assert set(EVENT_COLUMNS) <= set(result.sudden_gains.column_names)
    assert set(EVENT_COLUMNS) <= set(result.sudden_losses.column_names)


def test_api_on_an_arrow_table_matches_the_kernel(analysis: Analysis) -> None:
    data = pa.table(
        {
            "client_id": CLIENT,
            "session": SESSION,
            "score": [None if math.isnan(v) else v for v in SCORE],
            "instrument": ["phq9"] * len(CLIENT),
        }
    )
    result = api.analyze(data)
    contract_ok(result)
    sessions = result.sessions.to_pylist()
    assert [(r["client_id"], r["session"]) for r in sessions] == list(
        zip(CLIENT, SESSION, strict=True)
    )
    assert [r["status"] for r in sessions] == analysis.sessions.labels("status").tolist()
    assert [r["event"] for r in sessions] == analysis.sessions.labels("event").tolist()
    clients = {r["client_id"]: r for r in result.clients.to_pylist()}
    assert clients["b"]["status"] == "recovered"
    assert clients["a"]["n_sudden_gains"] == 1
    assert [r["client_id"] for r in result.sudden_losses.to_pylist()] == ["c"]


def test_api_on_a_csv_file(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    lines = ["client_id,session,score"]
    lines += [
        f"{c},{s},{'' if math.isnan(v) else int(v)}"
        for c, s, v in zip(CLIENT, SESSION, SCORE, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = api.analyze(path, instrument="phq9")
    contract_ok(result)
    b = [r for r in result.sessions.to_pylist() if r["client_id"] == "b"]
    assert [r["session"] for r in b] == [1, 2, 4]
    assert b[1]["score"] is None or math.isnan(b[1]["score"])
