"""Sudden gains and losses (methods.md §3): hand-computed cases for every criterion.

All cases use PHQ-9 (C1 = RC = 6 points, criterion 2 = 25 %) unless stated
otherwise; scores are listed session by session (None = missed administration,
kept in its place). ``N`` is the pregain administration, ``N+1`` the postgain
one; criterion 3 compares the mean of ``N-2..N`` with the mean of
``N+1..N+3`` against ``t_crit * s_pooled`` with
``s_pooled = sqrt((SS_pre + SS_post) / (n_pre + n_post - 2))`` (SS = sum of
squared deviations, i.e. ``(n - 1) s^2``).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from twostep.analytics.pipeline import Analysis, AnalysisParams, analyze_batch
from twostep.analytics.scale import Scale
from twostep.analytics.sudden_gains import CRITICAL_T, SuddenGainParams
from twostep.errors import ConfigurationError
from twostep.instruments.registry import default_catalogue

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_impl import analyse_client, make_batch, ref_params, ref_scale

CATALOGUE = default_catalogue()
PHQ9 = Scale.from_instrument(CATALOGUE.get("phq9"))
ORS = Scale.from_instrument(CATALOGUE.get("ors"))
#: The 0-63 scale of the suddengains examples (BDI-II-like), C1 = 7 there.
BDI = Scale.custom(name="BDI-II", minimum=0, maximum=63, higher_is_better=False, rc=7, cutoff=14)

Score = float | None


def analyse(
    scores: list[Score],
    scale: Scale = PHQ9,
    *,
    days: list[int | None] | None = None,
    **sg: Any,
) -> Analysis:
    params = AnalysisParams(sudden_gains=SuddenGainParams(**sg))
    batch = make_batch({"a": scores}, {"a": days} if days is not None else None)
    analysis = analyze_batch(batch, scale, params)
    # every hand case is also a check of the reference implementation (the oracle)
    ref = analyse_client(scores, ref_scale(scale), ref_params(params), days)
    assert [(e.pre + 1, e.post + 1) for e in ref.gains] == [
        (g["pre_session"], g["post_session"]) for g in rows(analysis, "gains")
    ]
    assert [(e.pre + 1, e.post + 1) for e in ref.losses] == [
        (g["pre_session"], g["post_session"]) for g in rows(analysis, "losses")
    ]
    return analysis


def rows(analysis: Analysis, which: str) -> list[dict[str, Any]]:
    table = analysis.sudden_gains if which == "gains" else analysis.sudden_losses
    return [table.row(i) for i in range(len(table))]


def intervals(analysis: Analysis, which: str = "gains") -> list[tuple[int, int]]:
    return [(int(r["pre_session"]), int(r["post_session"])) for r in rows(analysis, which)]


def events(analysis: Analysis) -> list[str]:
    return analysis.sessions.labels("event").tolist()


# ------------------------------------------------------------------ criterion 3 by availability


def test_three_plus_three_uses_2_776() -> None:
    # pre (14, 14, 14): mean 14, SS 0; post (8, 10, 12): mean 10, SS 4 + 0 + 4 = 8
    # s_pooled = sqrt(8 / 4) = 1.4142; 2.776 * 1.4142 = 3.926 < 14 - 10 = 4  -> criterion 3 met
    # criterion 1: 14 - 8 = 6 >= 6 (a tie: C1 is inclusive); criterion 2: 6 >= 0.25 * 14 = 3.5
    a = analyse([14, 14, 14, 8, 10, 12])
    [g] = rows(a, "gains")
    assert (g["pre_session"], g["post_session"]) == (3, 4)
    assert g["t_crit"] == 2.776
    assert g["s_pooled"] == pytest.approx(math.sqrt(2))
    assert (g["mean_pre"], g["mean_post"]) == (14, 10)
    assert g["magnitude"] == 6
    assert g["relative_change"] == pytest.approx(6 / 14)
    assert not g["provisional"]
    assert events(a)[3] == "sudden_gain"


def test_three_plus_three_fails_when_the_mean_difference_is_too_small() -> None:
    # post (6, 9, 12): mean 9, SS 9 + 0 + 9 = 18; s_pooled = sqrt(18 / 4) = 2.1213
    # 2.776 * 2.1213 = 5.889 > 14 - 9 = 5  -> criterion 3 not met (criteria 1 and 2 are: 8 >= 6)
    a = analyse([14, 14, 14, 6, 9, 12])
    assert intervals(a) == []
    assert events(a)[3] == "step_better"


def test_alpha_01_uses_4_604() -> None:
    # the 3 + 3 case above: 4.604 * 1.4142 = 6.511 > 4  -> not a gain at alpha .01
    assert intervals(analyse([14, 14, 14, 8, 10, 12], crit3_alpha=0.01)) == []


def test_two_plus_three_uses_3_182() -> None:
    # N-2 missed. pre (14, 14): mean 14, SS 0; post (6, 8, 10): mean 8, SS 8; df 3
    # s_pooled = sqrt(8 / 3) = 1.6330; 3.182 * 1.6330 = 5.196 < 6  -> gain
    a = analyse([15, None, 14, 14, 6, 8, 10])
    [g] = rows(a, "gains")
    assert (g["pre_session"], g["post_session"], g["t_crit"]) == (4, 5, 3.182)
    assert g["s_pooled"] == pytest.approx(math.sqrt(8 / 3))


def test_two_plus_three_below_3_182_but_above_2_776() -> None:
    # post (7, 9, 11): mean 9, SS 8, s_pooled 1.6330; difference 14 - 9 = 5
    # adjusted: 3.182 * 1.6330 = 5.196 > 5 -> no gain; unadjusted: 2.776 * 1.6330 = 4.533 < 5 -> gain
    scores: list[Score] = [15, None, 14, 14, 7, 9, 11]
    assert intervals(analyse(scores)) == []
    a = analyse(scores, crit3_adjust=False)
    assert intervals(a) == [(4, 5)]
    assert rows(a, "gains")[0]["t_crit"] == 2.776


def test_three_plus_two_uses_3_182() -> None:
    # N+2 missed. pre (14, 14, 14); post (6, ., 10): mean 8, SS 8; s_pooled 1.6330
    # 3.182 * 1.6330 = 5.196 < 14 - 8 = 6 -> gain
    a = analyse([14, 14, 14, 6, None, 10])
    [g] = rows(a, "gains")
    assert (g["post_session"], g["t_crit"]) == (4, 3.182)
    assert not g["provisional"]  # N+1..N+3 exist (one of them missed)
    # post (7, ., 11): mean 9, difference 5 < 5.196 -> no gain; unadjusted 4.533 < 5 -> gain
    assert intervals(analyse([14, 14, 14, 7, None, 11])) == []
    assert intervals(analyse([14, 14, 14, 7, None, 11], crit3_adjust=False)) == [(3, 4)]


def test_two_plus_two_uses_4_303() -> None:
    # N-2 and N+2 missed. pre (14, 16): mean 15, SS 2; post (7, 9): mean 8, SS 2; df 2
    # s_pooled = sqrt(4 / 2) = 1.4142; 4.303 * 1.4142 = 6.085 < 15 - 8 = 7 -> gain
    a = analyse([15, None, 14, 16, 7, None, 9])
    [g] = rows(a, "gains")
    assert (g["pre_session"], g["post_session"], g["t_crit"]) == (4, 5, 4.303)
    # post (8, 10): mean 9, difference 6 < 6.085 -> no gain; unadjusted 2.776 * 1.4142 = 3.926 -> gain
    assert intervals(analyse([15, None, 14, 16, 8, None, 10])) == []
    assert intervals(analyse([15, None, 14, 16, 8, None, 10], crit3_adjust=False)) == [(4, 5)]


@pytest.mark.parametrize(
    ("scores", "post"),
    [
        pytest.param([12, None, None, 20, 5, 5, 5], 4, id="one-pregain-score"),
        pytest.param([20, 20, 20, 5, None, None, 6], 3, id="one-postgain-score"),
    ],
)
def test_fewer_than_two_scores_on_a_side_is_not_a_gain(scores: list[Score], post: int) -> None:
    # criteria 1 and 2 hold (20 - 5 = 15), but criterion 3 cannot be computed -> no gain
    a = analyse(scores)
    assert intervals(a) == []
    assert events(a)[post] == "step_better"  # final: rows N+1..N+3 exist
    assert not bool(a.sessions["provisional"][post])


def test_critical_values_match_scipy() -> None:
    for alpha, values in CRITICAL_T.items():
        for df, value in zip((2, 3, 4), values, strict=True):
            assert value == round(float(stats.t.ppf(1 - alpha / 2, df)), 3), (alpha, df)
    assert CRITICAL_T[0.05] == (4.303, 3.182, 2.776)  # methods.md §3.2
    assert SuddenGainParams(crit3_adjust=False).critical_values()[2:].tolist() == [2.776] * 3
    with pytest.raises(ConfigurationError):
        SuddenGainParams(crit3_alpha=0.1)


# ------------------------------------------------------------------ criteria 1 and 2


def test_criterion_2_tie_at_exactly_25_percent() -> None:
    # C1 = 4 here so that criterion 2 decides. 20 -> 15: 5 >= 0.25 * 20 = 5 (tie, met);
    # criterion 3: SS 0 on both sides, 20 - 15 > 0.
    assert intervals(analyse([20, 20, 20, 15, 15, 15], crit1=4)) == [(3, 4)]
    # 21 -> 16: 5 < 0.25 * 21 = 5.25 -> not met
    assert intervals(analyse([21, 21, 21, 16, 16, 16], crit1=4)) == []


def test_criterion_1_and_2_ties_together() -> None:
    # 24 -> 18: 6 >= C1 = 6 and 6 >= 0.25 * 24 = 6
    assert intervals(analyse([24, 24, 24, 18, 18, 18])) == [(3, 4)]
    # 27 -> 21: 6 >= 6 but 6 < 0.25 * 27 = 6.75
    assert intervals(analyse([27, 27, 27, 21, 21, 21])) == []
    # 20 -> 15: 5 < 6
    assert intervals(analyse([20, 20, 20, 15, 15, 15])) == []


def test_zero_pregain_score() -> None:
    # No gain is possible from 0 (the drop would be negative).
    assert intervals(analyse([5, 3, 0, 0, 0, 0])) == []
    # A loss from 0: criterion 2 is 6 >= 0.25 * 0 = 0, met by any rise; C1 6 >= 6;
    # criterion 3: SS 0 on both sides, 6 - 0 > 0.
    a = analyse([0, 0, 0, 6, 6, 6])
    [loss] = rows(a, "losses")
    assert (loss["pre_session"], loss["post_session"]) == (3, 4)
    assert loss["magnitude"] == 6
    assert math.isnan(loss["relative_change"])  # 6 / 0
    assert events(a)[3] == "sudden_loss"
    # ... but criteria 1 and 3 still apply: 0 -> 5 is below C1
    assert intervals(analyse([0, 0, 0, 5, 5, 5]), "losses") == []


@pytest.mark.parametrize(
    "scores",
    [
        pytest.param([20, 20, None, 10, 10, 10], id="pregain-missed"),
        pytest.param([20, 20, 20, None, 10, 10], id="postgain-missed"),
    ],
)
def test_a_missed_pregain_or_postgain_score_is_no_gain(scores: list[Score]) -> None:
    # the drop 20 -> 10 spans a missed administration: no interval N -> N+1 holds it
    assert intervals(analyse(scores)) == []


# ------------------------------------------------------------------ the intervals examined


def test_first_interval_is_examined_only_on_request() -> None:
    scores: list[Score] = [20, 10, 10, 10, 10]
    # default: intervals from the 2nd -> 3rd administration on; 20 -> 10 is the 1st -> 2nd
    assert intervals(analyse(scores)) == []
    assert intervals(analyse(scores, crit3=False)) == []
    # first_interval: examined, but a single pregain score means criterion 3 is missing
    assert intervals(analyse(scores, first_interval=True)) == []
    # ... so with criterion 3 off it is identified (criteria 1 and 2: 10 >= 6, 10 >= 5)
    a = analyse(scores, first_interval=True, crit3=False)
    assert intervals(a) == [(1, 2)]
    assert events(a)[1] == "sudden_gain"
    assert not rows(a, "gains")[0]["provisional"]  # nothing is pending without criterion 3


def test_last_interval_is_examined() -> None:
    # 20 -> 10 at the (last-1) -> last interval: criteria 1 and 2 hold, criterion 3 has a
    # single postgain score -> not in the table, and the event is only "possible".
    a = analyse([20, 20, 20, 10])
    assert intervals(a) == []
    assert events(a)[3] == "possible_sudden_gain"
    assert bool(a.sessions["provisional"][3])


def test_criterion_3_off_identifies_on_criteria_1_and_2() -> None:
    # 20 -> 10 -> 20: criterion 3 would fail (post mean 15), without it the gain stands
    scores: list[Score] = [20, 20, 20, 10, 20, 20]
    assert intervals(analyse(scores)) == []
    assert intervals(analyse(scores, crit3=False)) == [(3, 4)]


# ------------------------------------------------------------------ reversal


def test_reversal_needs_strictly_more_than_half() -> None:
    # gain 20 -> 10 (magnitude 10): reversed iff a later score > 10 + 10 / 2 = 15
    [g] = rows(analyse([20, 20, 20, 10, 10, 10, 15]), "gains")
    assert not g["reversal"]  # 15 is exactly half: not "more than half"
    [g] = rows(analyse([20, 20, 20, 10, 10, 10, 16]), "gains")
    assert g["reversal"]


def test_reversal_counts_from_n_plus_2() -> None:
    # post (10, 16, 10): mean 12, SS 4 + 16 + 4 = 24 + pre SS 0 -> s_pooled = sqrt(24 / 4) = 2.449
    # 2.776 * 2.449 = 6.80 < 20 - 12 = 8 -> gain; N+2 = 16 > 15 -> reversed
    [g] = rows(analyse([20, 20, 20, 10, 16, 10, 10]), "gains")
    assert g["reversal"]


def test_loss_reversal_mirrors() -> None:
    # loss 5 -> 12 (magnitude 7): C1 7 >= 6, C2 7 >= 1.25, criterion 3 SS 0.
    # reversed iff a later score < 12 - 7 / 2 = 8.5
    [loss] = rows(analyse([5, 5, 5, 12, 12, 12, 9]), "losses")
    assert not loss["reversal"]
    [loss] = rows(analyse([5, 5, 5, 12, 12, 12, 8]), "losses")
    assert loss["reversal"]
    assert loss["magnitude"] == 7
    assert loss["relative_change"] == pytest.approx(7 / 5)


def test_losses_mirror_gains() -> None:
    # the 3 + 3 gain above upside down: pre (8, 8, 8), post (14, 12, 10): mean 12, SS 8
    # s_pooled = 1.4142, 2.776 * 1.4142 = 3.926 < 12 - 8 = 4 -> loss; C1 6, C2 6 >= 2
    a = analyse([8, 8, 8, 14, 12, 10])
    [loss] = rows(a, "losses")
    assert (loss["pre_session"], loss["post_session"], loss["t_crit"]) == (3, 4, 2.776)
    assert (loss["pre_score"], loss["post_score"]) == (8, 14)
    assert intervals(a) == []
    assert events(a)[3] == "sudden_loss"


# ------------------------------------------------------------------ provisional, gap, flags


def test_provisional_until_n_plus_3_exists() -> None:
    # 3 + 2 scores so far: 3.182 * 0 < 10 -> met with the data so far, but N+3 is not there
    a = analyse([20, 20, 20, 10, 10])
    [g] = rows(a, "gains")
    assert g["provisional"]
    assert events(a)[3] == "possible_sudden_gain"
    assert bool(a.sessions["provisional"][3])
    a = analyse([20, 20, 20, 10, 10, 10])
    [g] = rows(a, "gains")
    assert not g["provisional"]
    assert events(a)[3] == "sudden_gain"
    assert not bool(a.sessions["provisional"][3])
    # a missed N+3 counts as existing: the live and the retrospective analysis agree then
    assert not rows(analyse([20, 20, 20, 10, 10, None]), "gains")[0]["provisional"]


def test_provisional_loss() -> None:
    a = analyse([5, 5, 5, 12, 12])
    [loss] = rows(a, "losses")
    assert loss["provisional"]
    assert events(a)[3] == "possible_sudden_loss"


def test_gap_flag_over_28_days() -> None:
    scores: list[Score] = [20, 20, 20, 10, 10, 10]
    days: list[int | None] = [0, 7, 14, 42, 49, 56]  # N -> N+1 = 28 days: not a gap
    [g] = rows(analyse(scores, days=days), "gains")
    assert not g["gap"]
    days = [0, 7, 14, 43, 50, 57]  # 29 days: a gap (flagged, not excluded)
    [g] = rows(analyse(scores, days=days), "gains")
    assert g["gap"]
    days = [0, 7, 14, None, 50, 57]  # unknown date: no flag
    [g] = rows(analyse(scores, days=days), "gains")
    assert not g["gap"]


def test_largest_and_earliest() -> None:
    # 27 -> 20 (7 >= 6 and >= 6.75) at 3 -> 4, then 20 -> 12 (8 >= 5) at 6 -> 7
    a = analyse([27, 27, 27, 20, 20, 20, 12, 12, 12])
    got = [(r["post_session"], r["earliest"], r["largest"]) for r in rows(a, "gains")]
    assert got == [(4, True, False), (7, False, True)]
    # equal magnitudes (7 and 7): the first one is the largest
    a = analyse([27, 27, 27, 20, 20, 20, 13, 13, 13])
    got = [(r["post_session"], r["earliest"], r["largest"]) for r in rows(a, "gains")]
    assert got == [(4, True, True), (7, False, False)]
    clients = a.clients
    assert int(clients["n_sudden_gains"][0]) == 2


def test_flags_are_per_client() -> None:
    batch = make_batch({"a": [20, 20, 20, 10, 10, 10], "b": [27, 27, 27, 20, 20, 20, 12, 12, 12]})
    a = analyze_batch(batch, PHQ9)
    got = [
        (r["client_id"], r["post_session"], r["earliest"], r["largest"]) for r in rows(a, "gains")
    ]
    assert got == [("a", 4, True, True), ("b", 4, True, False), ("b", 7, False, True)]


# ------------------------------------------------------------------ the suddengains R package


def test_suddengains_check_interval_examples() -> None:
    """The four examples of ``check_interval`` in the suddengains R package (Wiedemann et al.
    2020), milanwiedemann/suddengains, R/check_interval.R, with the documented output in
    docs/reference/check_interval.html. An intake score is put before the pre values so that
    the interval is the 3rd -> 4th administration."""
    # 1) pre (32, 31, 33), post (5, 6, 7), C1 7, alpha .05: YES; critical value 2.776,
    #    means 32 and 6, SDs 1 and 1 (s_pooled = 1): 26 > 2.776
    a = analyse([32, 31, 33, 5, 6, 7], BDI)
    [g] = rows(a, "gains")
    assert (g["mean_pre"], g["mean_post"], g["s_pooled"], g["t_crit"]) == (32, 6, 1, 2.776)
    # 2) the same at alpha .01: YES, critical value 4.604
    [g] = rows(analyse([32, 31, 33, 5, 6, 7], BDI, crit3_alpha=0.01), "gains")
    assert g["t_crit"] == 4.604
    # 3) pre (NA, 31, 33), post (5, NA, 7), only criterion 3 (criteria 1 and 2 made
    #    trivial), alpha .01: YES, critical value 9.925, means 32 and 6, SDs 1.414:
    #    s_pooled = sqrt((2 + 2) / 2) = 1.414; 26 > 9.925 * 1.414 = 14.04
    a = analyse([35, None, 31, 33, 5, None, 7], BDI, crit1=1e-6, crit2=0.0, crit3_alpha=0.01)
    [g] = rows(a, "gains")
    assert (g["pre_session"], g["post_session"], g["t_crit"]) == (4, 5, 9.925)
    assert (g["mean_pre"], g["mean_post"]) == (32, 6)
    assert g["s_pooled"] == pytest.approx(math.sqrt(2))
    # 4) sudden loss: pre (5, NA, 7), post (16, 12, 14), C1 7: YES; critical value 3.182,
    #    means 6 and 14, SDs 1.414 and 2: s_pooled = sqrt((2 + 8) / 3) = 1.826;
    #    8 > 3.182 * 1.826 = 5.81; C1 16 - 7 = 9 >= 7; C2 9 >= 0.25 * 7
    a = analyse([5, None, 7, 16, 12, 14], BDI)
    [loss] = rows(a, "losses")
    assert (loss["pre_session"], loss["post_session"], loss["t_crit"]) == (3, 4, 3.182)
    assert (loss["mean_pre"], loss["mean_post"]) == (6, 14)
    assert loss["s_pooled"] == pytest.approx(math.sqrt(10 / 3))


# ------------------------------------------------------------------ higher-is-better scales


def test_ors_gain_is_a_native_rise_relative_to_the_ceiling() -> None:
    # ORS 10 -> 20 is y = 30 -> 20 in severity: C1 10 >= 5, C2 10 >= 7.5; criterion 3 SS 0
    a = analyse([10, 10, 10, 20, 20, 20], ORS)
    [g] = rows(a, "gains")
    assert (g["pre_score"], g["post_score"], g["magnitude"]) == (10, 20, 10)
    assert g["relative_change"] == pytest.approx(10 / 30)  # of the distance to the ceiling
    assert (g["mean_pre"], g["mean_post"]) == (10, 20)  # native units in the table


def test_ors_decimal_rise_of_exactly_c1_is_a_sudden_gain() -> None:
    # ORS 27.3 x3 -> 32.3 x3: a rise of 5.0 = RC = C1; criterion 2: 5 >= 0.25 * (40 - 27.3)
    # = 3.175; criterion 3: SS 0 on both sides. The status already calls the change reliable.
    a = analyse([27.3, 27.3, 27.3, 32.3, 32.3, 32.3], ORS)
    assert a.sessions.labels("status")[3] == "improved"
    assert events(a)[3] == "sudden_gain"
    assert len(rows(a, "gains")) == 1


# ------------------------------------------------------------------ leading missed rows


def test_leading_missed_rows_do_not_open_the_first_interval_without_criterion_3() -> None:
    # session 1 missed; 20 (intake) -> 12 is the 1st -> 2nd administration
    a = analyse([None, 20, 12, 12, 12], crit3=False)
    assert intervals(a) == []
    assert events(a)[2] == "step_better"


def test_leading_missed_rows_give_no_possible_gain_at_t2() -> None:
    a = analyse([None, 20, 12])
    assert events(a) == ["", "baseline", "step_better"]
    assert not bool(a.sessions["provisional"][2])


def test_parameters_are_checked() -> None:
    with pytest.raises(ConfigurationError):
        SuddenGainParams(crit2=1.5)
    with pytest.raises(ConfigurationError):
        SuddenGainParams(crit1=0)
    with pytest.raises(ConfigurationError):
        SuddenGainParams(crit3_critical_value=0)
    assert np.isnan(SuddenGainParams().critical_values()[:2]).all()
