"""Per-administration labels (methods.md §5.2, §5.3, §11): hand-computed series.

PHQ-9 unless stated otherwise: RC 6 (fixed, reliable iff |Δ| >= 6), clinical
range y >= 10. Scores are listed session by session (None = missed). Every
case is also run through the naive reference implementation, which must agree
with the kernel on every label (see `analyse`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from twostep.analytics.pipeline import Analysis, AnalysisParams, analyze_batch
from twostep.analytics.scale import Scale
from twostep.analytics.trajectory import TrajectoryParams
from twostep.errors import ConfigurationError
from twostep.instruments.registry import default_catalogue

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_impl import (
    analyse_client,
    kernel_client,
    make_batch,
    ref_params,
    ref_scale,
    reference_rows,
)

CATALOGUE = default_catalogue()
PHQ9 = Scale.from_instrument(CATALOGUE.get("phq9"))
ORS = Scale.from_instrument(CATALOGUE.get("ors"))

Score = float | None


def analyse(
    scores: list[Score],
    scale: Scale = PHQ9,
    *,
    days: list[int | None] | None = None,
    **traj: Any,
) -> Analysis:
    params = AnalysisParams(trajectory=TrajectoryParams(**traj))
    batch = make_batch({"a": scores}, {"a": days} if days is not None else None)
    analysis = analyze_batch(batch, scale, params)
    ref = analyse_client(scores, ref_scale(scale), ref_params(params), days)
    assert kernel_client(analysis, "a") == reference_rows(ref)
    return analysis


def status(a: Analysis) -> list[str]:
    return a.sessions.labels("status").tolist()


def event(a: Analysis) -> list[str]:
    return a.sessions.labels("event").tolist()


def in_setback(a: Analysis) -> list[bool]:
    return a.sessions["in_setback"].tolist()


def provisional(a: Analysis) -> list[bool]:
    return a.sessions["provisional"].tolist()


def plateau(a: Analysis) -> list[str]:
    return a.sessions.labels("plateau").tolist()


def confirmation(a: Analysis) -> list[str]:
    return a.sessions.labels("deterioration_confirmed").tolist()


def client(a: Analysis) -> dict[str, object]:
    return a.clients.row(0)


# ------------------------------------------------------------------ status


def test_baseline_recovered_improved_unchanged() -> None:
    # 15 -> 9: Δ = -6 reliable, intake a case (15 >= 10), now not (9 < 10) -> recovered
    assert status(analyse([15, 9])) == ["baseline", "recovered"]
    # 20 -> 14: Δ = -6 reliable, 14 still >= 10 -> improved
    assert status(analyse([20, 14])) == ["baseline", "improved"]
    # 15 -> 10: Δ = -5 -> unchanged
    assert status(analyse([15, 10])) == ["baseline", "unchanged"]
    # recovered needs a case at intake: 8 -> 2 is a reliable improvement only
    a = analyse([8, 2])
    assert status(a) == ["baseline", "improved"]
    assert client(a)["clinical_category"] == "improved"
    assert not client(a)["case_at_start"]


def test_deterioration_confirmed_not_confirmed_pending() -> None:
    # 10 -> 16: Δ = +6 reliable deterioration; nothing after it yet -> pending (provisional)
    a = analyse([10, 16])
    assert status(a) == ["baseline", "deteriorated"]
    assert confirmation(a) == ["", "pending"]
    assert provisional(a) == [False, True]
    # 10 -> 16 -> 17: deteriorated at the next administration too -> confirmed
    a = analyse([10, 16, 17])
    assert confirmation(a) == ["", "confirmed", "pending"]
    assert provisional(a) == [False, False, True]
    # 10 -> 16 -> 12: 12 - 10 = 2 -> not confirmed
    a = analyse([10, 16, 12])
    assert status(a) == ["baseline", "deteriorated", "unchanged"]
    assert confirmation(a) == ["", "not_confirmed", ""]
    # the next *scored* administration decides (a missed one is skipped)
    a = analyse([10, 16, None, 17])
    assert confirmation(a) == ["", "confirmed", "", "pending"]


def test_deterioration_comes_first() -> None:
    # a flat run at 16 after intake 10 is a plateau by §5.2, but the status is deteriorated
    a = analyse([10, 16, 16, 16, 16, 16])
    assert status(a)[5] == "deteriorated"
    assert plateau(a)[5] == "stuck"


# ------------------------------------------------------------------ plateau


def test_plateau_stuck_partial_and_maintenance() -> None:
    # t = 6, W = (15, 15, 15, 15): range 0 < 6, slope 0 (CI [0, 0] holds 0), mean 15 >= 10
    # no reliable improvement vs intake 15 -> stuck; at t = 5 it is too early (t >= 6)
    a = analyse([15] * 6)
    assert status(a) == ["baseline"] + ["unchanged"] * 4 + ["plateau_stuck"]
    assert plateau(a) == [""] * 5 + ["stuck"]
    # intake 22: 22 - 15 = 7 >= 6 reliable improvement -> partial (before improved)
    a = analyse([22, 15, 15, 15, 15, 15])
    assert status(a)[5] == "plateau_partial"
    assert plateau(a)[5] == "partial"
    # below the cut-off: a maintenance / good-enough window, not an alert
    a = analyse([22, 5, 5, 5, 5, 5])
    assert plateau(a)[5] == "maintenance"
    assert status(a)[5] == "recovered"
    assert client(a)["plateau"] == "maintenance"


def test_plateau_mean_in_the_clinical_range_is_inclusive() -> None:
    # W = (10, 10, 10, 10): mean 10 >= 10 -> stuck
    assert plateau(analyse([12, 10, 10, 10, 10, 10]))[5] == "stuck"
    # W = (10, 10, 10, 9): mean 9.75 < 10. slope: x - 4.5 = (-1.5, -.5, .5, 1.5),
    # y - 9.75 = (.25, .25, .25, -.75): Sxy = -1.5, Sxx = 5, slope -0.3; |slope| * 3 = 0.9 < 2;
    # residuals (-.2, .1, .4, -.3), SSE .3, se = sqrt(.3 / 2 / 5) = .173, t(.95, 2) * se = .506
    # > .3 -> CI holds 0 -> a maintenance window
    a = analyse([12, 10, 10, 10, 10, 9])
    assert plateau(a)[5] == "maintenance"
    assert status(a)[5] == "unchanged"


def test_plateau_range_must_be_below_rc() -> None:
    # W = (12, 17, 17, 12): range 5 < 6, Sxy = 0 -> slope 0; mean 14.5 -> stuck
    assert plateau(analyse([14, 14, 12, 17, 17, 12]))[5] == "stuck"
    # W = (11, 17, 17, 11): range 6 is a reliable change -> no plateau
    assert plateau(analyse([14, 14, 11, 17, 17, 11]))[5] == ""


def test_plateau_slope_must_be_small() -> None:
    # W = (16, 12, 16, 12): y - 14 = (2, -2, 2, -2), Sxy = -4, slope -0.8; residuals
    # (.8, -2.4, 2.4, -.8), SSE 12.8, se = sqrt(12.8 / 10) = 1.131, CI half-width 3.30 holds 0,
    # range 4 < 6, mean 14 -- but |slope| * 3 = 2.4 >= RC / 3 = 2 -> progressing, no plateau
    assert plateau(analyse([16, 16, 16, 12, 16, 12]))[5] == ""
    # W = (16, 15, 15, 14): y - 15 = (1, 0, 0, -1), Sxy = -3, slope -0.6, |slope| * 3 = 1.8 < 2,
    # but residuals (.1, -.3, .3, -.1), SSE .2, se = sqrt(.02) = .141, half-width .413 < .6:
    # the CI excludes 0 -> no plateau
    assert plateau(analyse([16, 16, 16, 15, 15, 14]))[5] == ""


def test_plateau_counts_missed_administrations_in_t_and_skips_them_in_the_window() -> None:
    # t = 5 at the last row although only 4 scores: too early
    assert plateau(analyse([15, None, 15, 15, 15])) == [""] * 5
    # t = 6: W = the last 4 scored administrations (t = 3..6)
    assert plateau(analyse([15, None, 15, 15, 15, 15]))[5] == "stuck"
    # t = 6 with W at t = 1, 2, 5, 6 (x spacing uneven, still flat)
    a = analyse([15, 15, None, None, 15, 15])
    assert plateau(a)[5] == "stuck"
    assert a.sessions["t"].tolist() == [1, 2, 3, 4, 5, 6]


def test_plateau_window_must_span_21_days_when_dates_are_known() -> None:
    scores: list[Score] = [15] * 6
    # weekly: W = t3..t6 on days 14..35 spans 21 days -> plateau
    assert plateau(analyse(scores, days=[0, 7, 14, 21, 28, 35]))[5] == "stuck"
    # every 6 days: W spans 18 days -> no plateau yet
    assert plateau(analyse(scores, days=[0, 6, 12, 18, 24, 30]))[5] == ""
    # one date of the window unknown: the span is not checked
    assert plateau(analyse(scores, days=[0, 6, 12, 18, 24, None]))[5] == "stuck"
    # no dates at all: not checked
    assert plateau(analyse(scores))[5] == "stuck"


def test_no_cut_off_means_no_plateau_alert() -> None:
    scale = Scale.custom(name="x", minimum=0, maximum=27, higher_is_better=False, rc=6)
    a = analyse([15] * 6, scale)
    assert plateau(a)[5] == "maintenance"
    assert status(a)[5] == "unchanged"


# ------------------------------------------------------------------ events


def test_fluctuation_and_steps() -> None:
    # 15 -> 12: |Δ| = 3 < 6 -> fluctuation
    assert event(analyse([15, 12])) == ["baseline", "fluctuation"]
    # 15 -> 9: a reliable step (the 1st -> 2nd interval is not examined for sudden gains)
    assert event(analyse([15, 9])) == ["baseline", "step_better"]
    # step worse = deterioration vs intake (no setback then): 9 -> 15
    assert event(analyse([9, 15])) == ["baseline", "step_worse"]


def test_step_worse_inside_a_setback_episode() -> None:
    # 20, 10, 16 (onset: 16 - 10 = 6, not deteriorated), 22: 22 - 16 = 6 reliable, still in
    # the episode (no new onset); the loss 16 -> 22 fails criterion 3 once N+3 exists:
    # pre (20, 10, 16) mean 15.33, post (22, 22, 10) mean 18 < pre + anything -> no loss
    a = analyse([20, 10, 16, 22, 22, 10])
    assert event(a)[3] == "step_worse"
    assert in_setback(a)[:4] == [False, False, True, True]
    assert client(a)["n_setbacks"] == 1


def test_sudden_events_take_precedence_over_setbacks() -> None:
    # 10, 4, 16, 16, 16: deteriorated (16 - 10 = 6) so no setback; the rise 4 -> 16 is a
    # sudden loss: C1 12 >= 6, C2 12 >= 1, pre (10, 4) mean 7 SS 18, post (16, 16, 16) SS 0,
    # s_pooled = sqrt(18 / 3) = 2.449, 3.182 * 2.449 = 7.79 < 9
    a = analyse([10, 4, 16, 16, 16])
    assert event(a)[2] == "sudden_loss"
    assert status(a)[2] == "deteriorated"
    assert not any(in_setback(a))
    # a sudden gain: 20, 20, 20 -> 10, 10, 10
    assert event(analyse([20, 20, 20, 10, 10, 10]))[3] == "sudden_gain"
    # possible (criterion 3 not yet final)
    assert event(analyse([20, 20, 20, 10, 10]))[3] == "possible_sudden_gain"
    assert event(analyse([5, 5, 5, 12, 12]))[3] == "possible_sudden_loss"


# ------------------------------------------------------------------ setback episodes


def test_transient_setback() -> None:
    # best before t3 = 10; 16 - 10 = 6 >= RC -> onset (16 - 20 = -4: not deteriorated).
    # The loss 10 -> 16 fails criterion 3 (pre mean 15 > post mean 13.3).
    # Regain threshold 10 + 6 / 2 = 13: t4 = 12 <= 13 -> transient; t4 is outside the episode
    a = analyse([20, 10, 16, 12, 12])
    assert event(a) == [
        "baseline",
        "step_better",
        "setback_transient",
        "fluctuation",
        "fluctuation",
    ]
    assert in_setback(a) == [False, False, True, False, False]
    assert a.sessions["setback_onset"].tolist() == [False, False, True, False, False]
    assert client(a)["n_setbacks"] == 1
    assert not any(provisional(a))


def test_sustained_setback() -> None:
    # onset at t3 (16); t4 = 14, t5 = 14 > 13 -> sustained; regained at t6 (12)
    a = analyse([20, 10, 16, 14, 14, 12])
    assert event(a)[2] == "setback_sustained"
    assert in_setback(a) == [False, False, True, True, True, False]


def test_missed_administrations_are_skipped_when_counting_the_next_two() -> None:
    # onset at t3; t4 missed; the next two scored are t5 (14) and t6 (12 <= 13) -> transient
    a = analyse([20, 10, 16, None, 14, 12])
    assert event(a)[2] == "setback_transient"
    assert event(a)[3] == "missed"
    assert in_setback(a) == [False, False, True, True, True, False]


def test_provisional_setback_until_two_more_are_known() -> None:
    # gradual: 14 - 10 = 4, then 17 - 10 = 7 -> onset at t4 (the step 14 -> 17 is no sudden loss)
    a = analyse([20, 10, 14, 17])
    assert event(a)[3] == "setback"
    assert provisional(a)[3]
    a = analyse([20, 10, 14, 17, 16])  # one more, not regained (16 > 13): still open
    assert event(a)[3] == "setback"
    assert provisional(a)[3]
    a = analyse([20, 10, 14, 17, 16, 15])  # two more, neither regains -> sustained
    assert event(a)[3] == "setback_sustained"
    assert not provisional(a)[3]
    a = analyse([20, 10, 14, 17, 12])  # regained at once -> transient
    assert event(a)[3] == "setback_transient"
    assert not provisional(a)[3]


def test_no_setback_when_deteriorated() -> None:
    # 10, 8, 12, 16: at t4 16 - 8 = 8 >= RC but 16 - 10 = 6 is reliable deterioration
    a = analyse([10, 8, 12, 16])
    assert status(a)[3] == "deteriorated"
    assert event(a)[3] == "fluctuation"  # 16 - 12 = 4
    assert not any(in_setback(a))
    assert client(a)["n_setbacks"] == 0


def test_a_new_episode_can_start_after_the_ground_is_regained() -> None:
    # onset t3 (16), regained t4 (12 <= 13), new onset t5 (18 - 10 = 8): the loss 12 -> 18 fails
    # criterion 3 (pre (10, 16, 12) mean 12.67, SS 18.67; post 18 x3; s_pooled = 2.16,
    # 2.776 * 2.16 = 6.0 > 5.33); 18, 18 > 13 -> sustained
    a = analyse([20, 10, 16, 12, 18, 18, 18])
    assert event(a)[2] == "setback_transient"
    assert event(a)[4] == "setback_sustained"
    assert in_setback(a) == [False, False, True, False, True, True, True]
    assert client(a)["n_setbacks"] == 2


def test_a_reliable_step_down_can_be_a_setback_onset() -> None:
    # 10, 4, 16 (deteriorated: 16 - 10 = 6, so no onset), 10: no longer deteriorated but
    # still 10 - 4 = 6 above the best score -> the onset is here, on a step *down* of 6.
    # (t3: the loss 4 -> 16 fails criterion 3, 3.182 * 3.74 > 12 - 7; t4: the gain 16 -> 10
    # fails it, pre mean 10 = post mean 10.) 10, 10 > 4 + 3 -> sustained.
    a = analyse([10, 4, 16, 10, 10, 10])
    assert status(a)[:4] == ["baseline", "recovered", "deteriorated", "unchanged"]
    assert event(a)[2:4] == ["step_worse", "setback_sustained"]
    assert in_setback(a) == [False, False, False, True, True, True]


def test_a_setback_onset_that_is_a_sudden_loss_shows_the_final_loss() -> None:
    # t5: 17 - best 10 = 7 -> onset (17 - 20 = -3, not deteriorated), and the loss 10 -> 17 is
    # final (C1 7, C2 7 >= 2.5; pre (10, 10, 10), post (17, 17, missed): SS 0; N+3 exists).
    # The event shown is the final sudden loss, so the row is not provisional; the setback's
    # own resolution (only one scored administration follows) is kept in `setback`.
    a = analyse([20, 10, 10, 10, 17, 17, None])
    assert event(a)[4] == "sudden_loss"
    assert bool(a.sessions["setback_onset"][4])
    assert not provisional(a)[4]
    assert a.sessions.labels("setback")[4] == "pending"
    assert in_setback(a)[4:] == [True, True, True]


def test_an_episode_that_runs_into_deterioration_and_regains_in_time_is_transient() -> None:
    # methods.md §11 is ambiguous here ("sustained otherwise (including when the episode runs
    # into reliable deterioration ...)"); the kernel reads it as: only the regain within the
    # next two scored administrations decides. Onset t3 (16); t4 = 26 is deteriorated
    # (26 - 20 = 6) inside the episode; t5 = 12 <= 13 regains -> transient.
    # (t4: the loss 16 -> 26 fails criterion 3, pre mean 15.3 vs post mean 16.7; t5: the gain
    # 26 -> 12 fails it too, 2.776 * 5.72 = 15.9 > 17.33 - 12.)
    a = analyse([20, 10, 16, 26, 12, 12, 12])
    assert status(a)[3] == "deteriorated"
    assert event(a)[2:5] == ["setback_transient", "step_worse", "step_better"]
    assert in_setback(a) == [False, False, True, True, False, False, False]


def test_regain_threshold_is_inclusive() -> None:
    # onset at t3 (16 - 10 = 6); t4 = 13 = 10 + 6 / 2 -> the ground is regained
    a = analyse([20, 10, 16, 13, 13])
    assert event(a)[2] == "setback_transient"
    assert in_setback(a) == [False, False, True, False, False]


# ------------------------------------------------------------------ early response


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([20, 18, 16, 14], "early_responder"),  # 20 - 14 = 6 >= RC
        ([20, 18, 17, 17], "partial"),  # 3 >= 50 % of 6 (a tie)
        ([20, 19, 19, 18], "early_non_responder"),  # 2 < 3
        ([20, 21, 22, 23], "early_non_responder"),  # worse
        ([20, 18, 17], "not_assessable"),  # no administration at t = 4..6 yet
        ([20, 18, 17, None, None, None, 10], "not_assessable"),  # t = 4..6 all missed
        ([20, 18, 17, None, 14], "early_responder"),  # t = 4 missed: t = 5 decides
        ([20, 18, 17, 18, 10], "early_non_responder"),  # the first one in 4..6 decides
    ],
)
def test_early_response(scores: list[Score], expected: str) -> None:
    assert client(analyse(scores))["early_response"] == expected


# ------------------------------------------------------------------ higher-is-better scale (ORS)


def test_ors_labels() -> None:
    # ORS 0-40, higher better, case iff raw < 25 (severity y = 40 - raw > 15), RC 5
    # 20 -> 26: y 20 -> 14, improvement 6; 20 < 25 a case, 26 not -> recovered
    assert status(analyse([20, 26], ORS)) == ["baseline", "recovered"]
    # 20 -> 25: improvement 5 (a tie, reliable); 25 is not < 25 -> recovered
    assert status(analyse([20, 25], ORS)) == ["baseline", "recovered"]
    # 20 -> 24: improvement 4 -> unchanged
    assert status(analyse([20, 24], ORS)) == ["baseline", "unchanged"]
    # 30 -> 25: y 10 -> 15 = +5 -> deteriorated
    assert status(analyse([30, 25], ORS)) == ["baseline", "deteriorated"]
    # setback: y = 20, 10, 16 (onset: 6 >= 5), 12 (<= 10 + 2.5) -> transient
    a = analyse([20, 30, 24, 28, 28], ORS)
    assert event(a)[2] == "setback_transient"
    assert in_setback(a) == [False, False, True, False, False]
    # plateau: ORS 18 x6 -> y 22 > 15, in the clinical range -> stuck
    assert status(analyse([18] * 6, ORS))[5] == "plateau_stuck"
    # ORS 30 x6 -> y 10, not a case -> maintenance
    assert plateau(analyse([30] * 6, ORS))[5] == "maintenance"


def test_ors_client_row_keeps_the_native_sign() -> None:
    a = analyse([20, 22, 26], ORS)
    row = client(a)
    assert row["change"] == 6  # final - baseline, native
    assert row["rci"] > 0  # positive = improvement
    assert row["reliable_change"] == "improved"
    assert row["status"] == "recovered"


# ------------------------------------------------------------------ edge cases


def test_single_administration() -> None:
    a = analyse([15])
    assert status(a) == ["baseline"]
    assert event(a) == ["baseline"]
    row = client(a)
    assert row["n_scores"] == 1
    assert np.isnan(row["change"])
    assert np.isnan(row["rci"])
    assert row["reliable_change"] == "not_computable"
    assert row["status"] == "baseline"
    assert row["early_response"] == "not_assessable"


def test_all_missing() -> None:
    a = analyse([None, None, None])
    assert status(a) == ["", "", ""]
    assert event(a) == ["", "", ""]
    row = client(a)
    assert row["n_scores"] == 0
    assert row["status"] == ""
    assert row["n_setbacks"] == 0
    assert np.isnan(row["baseline"])


def test_leading_missed_rows_get_no_labels() -> None:
    # (a reliable step 20 -> 14 here would hit the leading-missed-rows problem of
    # test_sudden_gains.py::test_leading_missed_rows_give_no_possible_gain_at_t2)
    a = analyse([None, None, 20, 17])
    assert status(a) == ["", "", "baseline", "unchanged"]
    assert event(a) == ["", "", "baseline", "fluctuation"]
    assert a.sessions["t"].tolist() == [0, 0, 1, 2]
    row = client(a)
    assert (row["first_session"], row["last_session"], row["baseline"]) == (3, 4, 20)


def test_missed_rows_after_intake() -> None:
    a = analyse([20, None, 14])
    assert status(a) == ["baseline", "", "improved"]
    assert event(a) == ["baseline", "missed", "step_better"]  # the step is from 20
    assert a.sessions["t"].tolist() == [1, 2, 3]


def test_parameters_are_checked() -> None:
    for bad in (
        {"plateau_window": 2},
        {"setback_window": 0},
        {"setback_regain": 0},
        {"early_response_from": 7},
    ):
        with pytest.raises(ConfigurationError):
            TrajectoryParams(**bad)  # type: ignore[arg-type]
