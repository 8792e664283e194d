"""Golden tests: published Jacobson et al. (1989) and Claus et al. (2020) data.

Expected category counts are the ones the R package ``clinicalsignificance``
publishes for these data (see tests/data/reference/README.md for the exact
files): its test snapshots ``tests/testthat/_snaps/clinical_significance.md``
and ``_snaps/cs_combined.md``, and its README. They were not computed with
twostep. Hand-computed intermediate values are written out in the comments.

How the R package's analysis maps onto twostep:
* complete pre/post pairs only; M_c and SD_c are the mean and SD (n - 1) of
  the pre scores of those pairs (what twostep's population-value estimation
  does, and what the tests compute independently with ``statistics``);
* "clinical at pre" = pre strictly on the clinical side of the cut-off and
  "functional at post" = post strictly on the functional side; with computed
  (irrational) cut-offs no score ties the cut-off, so ``case_when`` does not
  matter here;
* the package's cut-off b uses the clinical SD where twostep uses the
  functional SD (methods.md §1.2), so b-based numbers differ by design and
  are not compared; cut-offs a and c are the same formulas.
"""

from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path

import numpy as np
import pytest

from twostep.analytics.clinical_significance import classify, cutoffs
from twostep.analytics.reliable_change import (
    RCIMethod,
    ReliableChangeThreshold,
    reliable_change_index,
)

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "reference"


def _number(text: str) -> float:
    return math.nan if text == "NA" else float(text)


def _pairs(
    filename: str, id_column: str, outcome: str, pre: str, post: str
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Wide complete pre/post pairs from a long-format reference CSV, ordered by id."""
    table: dict[str, dict[str, float]] = {}
    with (REFERENCE / filename).open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            table.setdefault(row[id_column], {})[row["time"]] = _number(row[outcome])
    ids = sorted(table, key=int)
    keep = [
        i
        for i in ids
        if not (math.isnan(table[i].get(pre, math.nan)) or math.isnan(table[i].get(post, math.nan)))
    ]
    return (
        keep,
        np.array([table[i][pre] for i in keep]),
        np.array([table[i][post] for i in keep]),
    )


def _counts(labels: np.ndarray) -> dict[str, int]:
    names = ("recovered", "improved", "unchanged", "deteriorated", "harmed")
    return {name: int((labels == name).sum()) for name in names}


# ------------------------------------------------------------ Jacobson et al. 1989


def test_jacobson_1989_gds_jacobson_truax_by_hand_and_published() -> None:
    ids, pre, post = _pairs("jacobson_1989.csv", "subject", "gds", "pre", "post")
    # 30 couples, 4 missing GDS values -> 26 complete pairs (package: n = 26)
    assert len(ids) == 26
    m_c, sd_c = statistics.mean(pre), statistics.stdev(pre)
    # Hand arithmetic (GDS, lower is better, r = .80):
    #   M_c = 69.1538, SD_c = 6.1021 (pre scores of the 26 pairs)
    #   SE = 6.1021 * sqrt(.2) = 2.7289;  S_diff = sqrt(2) * 2.7289 = 3.8593
    #   RC_raw = 1.96 * 3.8593 = 7.5642
    #   cut-off a = 69.1538 - 2 * 6.1021 = 56.9497
    assert m_c == pytest.approx(69.1538, abs=1e-4)
    assert sd_c == pytest.approx(6.1021, abs=1e-4)
    jt = ReliableChangeThreshold.jacobson_truax(sd_c, 0.80)
    assert jt.s_diff == pytest.approx(3.8593, abs=1e-4)
    assert jt.rc_raw == pytest.approx(7.5642, abs=1e-4)
    cut = cutoffs(m_c, sd_c)
    assert cut.value == pytest.approx(56.9497, abs=1e-4)

    res = classify(pre, post, jt, cut)
    by_id = dict(zip(ids, res.labels.tolist(), strict=True))
    # Subject 2: 74.5 -> 56.0, Δ -18.5 (|Δ| > 7.56), pre > 56.95, post < 56.95: recovered
    assert by_id["2"] == "recovered"
    # Subject 14: 63.5 -> 55.0, Δ -8.5 > 7.56, post 55 < 56.95: recovered
    assert by_id["14"] == "recovered"
    # Subject 18: 75.0 -> 62.0, Δ -13, post 62 > 56.95: improved
    assert by_id["18"] == "improved"
    # Subject 15: 57.0 -> 50.0, Δ -7 < 7.56: unchanged although it crosses the cut-off
    assert by_id["15"] == "unchanged"
    # Subject 6: 76.0 -> 77.0, Δ +1: unchanged
    assert by_id["6"] == "unchanged"
    # Published (clinical_significance(jacobson_1989, subject, time, gds,
    # reliability = 0.8, pre = "pre", method = "JT")): 10 / 4 / 12 / 0 / 0
    assert _counts(res.labels) == {
        "recovered": 10,
        "improved": 4,
        "unchanged": 12,
        "deteriorated": 0,
        "harmed": 0,
    }


@pytest.mark.parametrize(
    ("method", "extra", "expected"),
    [
        # clinical_significance(jacobson_1989, ..., gds, reliability = 0.8, method = ...)
        (RCIMethod.GLN, {}, (12, 4, 10, 0, 0)),
        (RCIMethod.HLL, {}, (7, 0, 11, 8, 0)),
        (RCIMethod.EN, {}, (12, 5, 9, 0, 0)),
        (RCIMethod.NK, {"reliability_post": 0.8}, (12, 4, 10, 0, 0)),
    ],
)
def test_jacobson_1989_gds_alternative_methods_published(
    method: RCIMethod, extra: dict[str, float], expected: tuple[int, ...]
) -> None:
    _, pre, post = _pairs("jacobson_1989.csv", "subject", "gds", "pre", "post")
    index = reliable_change_index(pre, post, method=method, reliability=0.80, **extra)  # type: ignore[arg-type]
    cut = cutoffs(statistics.mean(pre), statistics.stdev(pre))
    res = classify(pre, post, index, cut)
    assert tuple(_counts(res.labels).values()) == expected


# ---------------------------------------------------------------- Claus et al. 2020


def test_claus_2020_bdi_population_values_published() -> None:
    ids, pre, _post = _pairs("claus_2020.csv", "id", "bdi", "1", "4")
    # "There were 43 participants in the whole dataset of which 40 (93%) could be included"
    assert len(ids) == 40
    m_c, sd_c = statistics.mean(pre), statistics.stdev(pre)
    # published: M clinical 35.48, SD clinical 8.16, cut-off a 19.16, cut-off c 21.6
    assert round(m_c, 2) == 35.48
    assert round(sd_c, 2) == 8.16
    assert round(cutoffs(m_c, sd_c).value, 2) == 19.16
    # c = (8.1586 * 8 + 8 * 35.475) / (8.1586 + 8) = 21.60
    assert round(cutoffs(m_c, sd_c, 8.0, 8.0).get("c"), 2) == 21.60


@pytest.mark.parametrize(
    ("reliability", "functional", "expected"),
    [
        # summary(clinical_significance(claus_2020, id, time, bdi, reliability = 0.8,
        #   pre = 1, post = 4, method = "JT"))              -> type "a": 10 / 8 / 22 / 0 / 0
        (0.80, False, (10, 8, 22, 0, 0)),
        # ... m_functional = 8, sd_functional = 8, type = "c" -> 10 / 8 / 22 / 0 / 0
        (0.80, True, (10, 8, 22, 0, 0)),
        # package README: reliability = 0.81, type = "c"      -> 10 / 9 / 21 / 0 / 0
        (0.81, True, (10, 9, 21, 0, 0)),
    ],
)
def test_claus_2020_bdi_jacobson_truax_published(
    reliability: float, functional: bool, expected: tuple[int, ...]
) -> None:
    _, pre, post = _pairs("claus_2020.csv", "id", "bdi", "1", "4")
    m_c, sd_c = statistics.mean(pre), statistics.stdev(pre)
    # r = .80: S_diff = 8.1586 * sqrt(.4) = 5.1600, RC_raw = 10.1136
    # r = .81: S_diff = 8.1586 * sqrt(.38) = 5.0293, RC_raw = 9.8575
    jt = ReliableChangeThreshold.jacobson_truax(sd_c, reliability)
    assert jt.rc_raw == pytest.approx(1.96 * sd_c * math.sqrt(2 * (1 - reliability)))
    cut = cutoffs(m_c, sd_c, 8.0, 8.0) if functional else cutoffs(m_c, sd_c)
    res = classify(pre, post, jt, cut)
    assert tuple(_counts(res.labels).values()) == expected


@pytest.mark.parametrize(
    ("method", "extra", "expected"),
    [
        # cs_combined(claus_2020, id, time, hamd, pre = 1, post = 4, reliability = 0.8,
        #   m_functional = 8, sd_functional = 8, cutoff_type = "c", rci_method = ...)
        (RCIMethod.JT, {}, (26, 3, 10, 1, 0)),
        (RCIMethod.EN, {}, (26, 6, 5, 3, 0)),
        (RCIMethod.HLL, {}, (12, 0, 16, 11, 1)),
        (RCIMethod.GLN, {}, (26, 3, 10, 1, 0)),
        (RCIMethod.NK, {"reliability_post": 0.5}, (26, 2, 11, 1, 0)),
    ],
)
def test_claus_2020_hamd_methods_published(
    method: RCIMethod, extra: dict[str, float], expected: tuple[int, ...]
) -> None:
    _, pre, post = _pairs("claus_2020.csv", "id", "hamd", "1", "4")
    assert len(pre) == 40
    m_c, sd_c = statistics.mean(pre), statistics.stdev(pre)
    index = reliable_change_index(pre, post, method=method, reliability=0.80, **extra)  # type: ignore[arg-type]
    res = classify(pre, post, index, cutoffs(m_c, sd_c, 8.0, 8.0))
    assert tuple(_counts(res.labels).values()) == expected


def test_claus_2020_who5_higher_is_better_is_consistent() -> None:
    # WHO-5 is higher-is-better: flipping it (25 - y) as a severity score must give
    # the same categories as analysing it natively with higher_is_better=True.
    _, pre, post = _pairs("claus_2020.csv", "id", "who", "1", "4")
    sd_c = statistics.stdev(pre)
    jt = ReliableChangeThreshold.jacobson_truax(sd_c, 0.8)
    native = classify(
        pre, post, jt, cutoffs(statistics.mean(pre), sd_c, higher_is_better=True),
        higher_is_better=True,
    )  # fmt: skip
    flipped = classify(25 - pre, 25 - post, jt, cutoffs(25 - statistics.mean(pre), sd_c))
    np.testing.assert_array_equal(native.code, flipped.code)
