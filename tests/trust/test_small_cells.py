"""Small cells and rounding in what researchers see (reliability-security.md AZ-09).

The service-outcomes table (`twostep.services.outcomes`) hides every cell with
a numerator or denominator below the threshold (10, stricter than the
specification's "7 or fewer"), hides complementary cells so that no hidden
cell can be worked out from the total and the shown groups, and — for
researchers only — rounds every shown count to the nearest 5 (OpenSAFELY),
with rates and intervals computed from the rounded counts. Hand-computed cases
first, then hypothesis properties over random tables:

* no shown count is below the threshold, for any view;
* every count a researcher is shown is a multiple of 5;
* no hidden cell can be recovered from the total: for each hidden group the
  values consistent with what is shown (the total, the shown groups, "small"
  meaning a numerator below the threshold, "complementary" meaning counts at
  or above it) are never a single number — for numerators and denominators.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twostep.services.outcomes import (
    RATE_KEYS,
    RESEARCHER_ROUNDING,
    THRESHOLD,
    Cell,
    round_count,
    shown_cells,
    suppress_cells,
)

R = len(RATE_KEYS)


def table(k_groups: list[int], n_groups: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Every rate with the same groups (the total as the last column)."""
    k = np.array([[*k_groups, sum(k_groups)]] * R, dtype=np.int64)
    n = np.array([[*n_groups, sum(n_groups)]] * R, dtype=np.int64)
    return k, n


def counts(cell: Cell) -> tuple[int | None, int | None]:
    return cell.numerator, cell.denominator


# --------------------------------------------------------------------------- by hand


def test_the_parameters_are_the_documented_ones() -> None:
    assert THRESHOLD == 10
    assert RESEARCHER_ROUNDING == 5


@pytest.mark.parametrize(
    ("value", "base", "want"),
    [(0, 5, 0), (2, 5, 0), (3, 5, 5), (7, 5, 5), (8, 5, 10), (10, 5, 10), (12, 5, 10),
     (13, 5, 15), (14, 5, 15), (47, 5, 45), (48, 5, 50), (15, 10, 20), (14, 10, 10),
     (13, 1, 13)],
)  # fmt: skip
def test_round_count(value: int, base: int, want: int) -> None:
    assert round_count(value, base) == want


def test_small_group_hides_the_next_smallest_and_researchers_see_multiples_of_5() -> None:
    # groups A 20/30, B 10/12, C 3/5; total 33/47
    k, n = table([20, 10, 3], [30, 12, 5])
    hidden = suppress_cells(k, n)
    assert hidden[0].tolist() == [0, 2, 1, 0]  # C small, B complementary, total shown
    staff = [shown_cells(k, n, hidden, c) for c in range(4)]
    assert counts(staff[0][0]) == (20, 30)
    assert counts(staff[1][0]) == (None, None)
    assert staff[1][0].hidden == "complementary"
    assert staff[2][0].hidden == "small"
    assert counts(staff[3][0]) == (33, 47)
    assert staff[3][0].proportion == pytest.approx(33 / 47)
    research = [shown_cells(k, n, hidden, c, round_to=5) for c in range(4)]
    assert counts(research[0][0]) == (20, 30)
    assert counts(research[3][0]) == (35, 45)  # 33 and 47 rounded
    assert research[3][0].proportion == pytest.approx(35 / 45)  # from the rounded counts
    assert research[1][0].hidden == "complementary"


def test_two_zero_groups_would_give_themselves_away_so_the_total_is_hidden() -> None:
    # A 15/20, B 0/4, C 0/3: B and C are small; their numerators add up to 15 - 15 = 0,
    # so both would be known to be 0 — the total is hidden as well
    k, n = table([15, 0, 0], [20, 4, 3])
    hidden = suppress_cells(k, n)
    assert hidden[0].tolist() == [0, 1, 1, 2]
    # with 2/4 and 1/3 the sum is 3 — which split is not known: the total stays
    k, n = table([15, 2, 1], [20, 4, 3])
    assert suppress_cells(k, n)[0].tolist() == [0, 1, 1, 0]


def test_a_complementary_cell_at_the_threshold_cannot_be_read_back() -> None:
    # A 30/40, B 10/10, C 0/2: C small (k in 0..9), B complementary (k >= 10);
    # hidden numerators add up to 10, so B = 10 and C = 0 would follow: total hidden
    k, n = table([30, 10, 0], [40, 10, 2])
    hidden = suppress_cells(k, n)
    assert hidden[0, 3] == 2


def test_rounding_below_the_threshold_hides_the_cell() -> None:
    k, n = table([11, 30], [30, 40])
    hidden = suppress_cells(k, n, threshold=11)
    assert hidden[0].tolist() == [0, 0, 0]
    research = shown_cells(k, n, hidden, 0, threshold=11, round_to=5)
    assert research[0].hidden == "small"  # 11 rounds to 10 < 11
    assert counts(shown_cells(k, n, hidden, 0, threshold=11)[0]) == (11, 30)
    # decided before rounding, so that complementary suppression covers it: A is small
    # for a researcher, and B (the only other group) is hidden with it
    rounded = suppress_cells(k, n, threshold=11, round_to=5)
    assert rounded[0].tolist() == [1, 2, 0]


# --------------------------------------------------------------------------- properties


@st.composite
def tables(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    g = draw(st.integers(1, 5))
    ks, ns = [], []
    for _ in range(R):
        n_row = draw(st.lists(st.integers(0, 40), min_size=g, max_size=g))
        k_row = [draw(st.integers(0, x)) for x in n_row]
        ks.append([*k_row, sum(k_row)])
        ns.append([*n_row, sum(n_row)])
    return np.array(ks, dtype=np.int64), np.array(ns, dtype=np.int64)


def _range(
    values: np.ndarray,
    hidden: list[int],
    kinds: list[str],
    shown: list[int],
    small_upper: float,
    threshold: int,
) -> list[tuple[float, float]]:
    """What a reader can infer about each hidden group from the total and the shown groups."""
    g = values.shape[0] - 1
    rest = float(values[g] - sum(values[i] for i in shown))
    lower = [0.0 if kind == "small" else float(threshold) for kind in kinds]
    upper = [small_upper if kind == "small" else math.inf for kind in kinds]
    out = []
    for i in range(len(hidden)):
        lo = max(lower[i], rest - sum(u for j, u in enumerate(upper) if j != i))
        hi = min(upper[i], rest - sum(x for j, x in enumerate(lower) if j != i))
        out.append((lo, hi))
    return out


THRESHOLDS = st.sampled_from([THRESHOLD, 7, 11])  # the default, the spec's, an odd one
ROUNDINGS = st.sampled_from([1, RESEARCHER_ROUNDING])  # staff, researchers


@settings(max_examples=300, deadline=None)
@given(tables(), THRESHOLDS, ROUNDINGS)
def test_no_shown_count_is_small_and_researchers_see_multiples_of_5(
    data: tuple[np.ndarray, np.ndarray], threshold: int, round_to: int
) -> None:
    k, n = data
    hidden = suppress_cells(k, n, threshold=threshold, round_to=round_to)
    for col in range(k.shape[1]):
        for cell in shown_cells(k, n, hidden, col, threshold=threshold, round_to=round_to):
            if cell.hidden:
                assert counts(cell) == (None, None)
                assert cell.proportion is None
                continue
            assert cell.numerator is not None
            assert cell.denominator is not None
            assert cell.numerator >= threshold
            assert cell.denominator >= threshold
            assert cell.numerator % round_to == 0
            assert cell.denominator % round_to == 0
            assert cell.proportion == pytest.approx(cell.numerator / cell.denominator)


@settings(max_examples=300, deadline=None)
@given(tables(), THRESHOLDS, ROUNDINGS)
def test_no_hidden_cell_can_be_recovered_from_the_total(
    data: tuple[np.ndarray, np.ndarray], threshold: int, round_to: int
) -> None:
    """Checked against the exact counts (a researcher sees them rounded: less still)."""
    k, n = data
    g = k.shape[1] - 1
    hidden = suppress_cells(k, n, threshold=threshold, round_to=round_to)
    cells = [shown_cells(k, n, hidden, c, threshold=threshold, round_to=1) for c in range(g + 1)]
    for r in range(R):
        if cells[g][r].hidden or g < 2:
            continue  # without a total (or with one group) there is nothing to subtract
        hid = [c for c in range(g) if cells[c][r].hidden]
        shown = [c for c in range(g) if not cells[c][r].hidden]
        assert len(hid) != 1, "one hidden group = the total minus the shown ones"
        if not hid:
            continue
        kinds = [str(cells[c][r].hidden) for c in hid]
        for values, small_upper in ((k[r], threshold - 1.0), (n[r], math.inf)):
            for lo, hi in _range(values, hid, kinds, shown, small_upper, threshold):
                assert lo < hi, f"a hidden count is pinned to {lo} (rate {RATE_KEYS[r]})"


# ------------------------------------------------------------- the population report


def test_population_report_withholds_a_second_group_when_one_is_small() -> None:
    """``twostep population run``'s service.json: one small therapist next to the service
    total would be the total minus the others, so a second therapist is withheld too."""
    from twostep.population.service import service_html, service_report
    from twostep.population.work import CHANGE_FIELDS, Partials

    def change(n_paired: int, improved: int) -> np.ndarray:
        values = {"n_paired": n_paired, "improved": improved, "deteriorated": 0,
                  "n_case_at_start": n_paired, "recovered": improved}  # fmt: skip
        return np.array([values[f] for f in CHANGE_FIELDS], dtype=np.int64)

    groups = {"A": (40, 30), "B": (25, 12), "C": (6, 3)}  # C is small: n 6, k 3
    partials = Partials(n_rows=100, clients={"phq9": 71})
    partials.counts[("phq9", "service", "all")] = change(71, 45)
    for key, (n_paired, improved) in groups.items():
        partials.counts[("phq9", "therapist", key)] = change(n_paired, improved)
    report = service_report(partials, source="test", min_pairs=2)
    rows = {r["group"]: r for r in report["instruments"]["phq9"]["therapist"]}
    improvement = {g: rows[g]["reliable_improvement"] for g in groups}
    assert improvement["C"]["suppressed"]
    assert improvement["B"] == {"k": None, "n": None, "suppressed": True, "complementary": True}
    assert improvement["A"]["k"] == 30  # the biggest group stays
    (total,) = report["instruments"]["phq9"]["service"]
    assert total["reliable_improvement"]["k"] == 45
    # n_paired: C's is withheld (6), so B's is too
    assert [rows[g]["n_paired"] for g in ("A", "B", "C")] == [40, None, None]
    assert "withheld so that a small group cannot be worked out" in service_html(report)
