"""NHS Talking Therapies episode outcomes and service rates (methods.md §2)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twostep.analytics.intervals import wilson_interval
from twostep.analytics.talking_therapies import (
    AnxietyMeasure,
    EpisodeOutcomes,
    ReliableChangeRule,
    episode_outcomes,
    service_rates,
)
from twostep.errors import AnalysisError, ConfigurationError

NAN = np.nan

# One row per episode: PHQ first, PHQ last, ANX first, ANX last, ANX cut-off, ANX RC, attended
EPISODES = np.array(
    [
        [15, 5, 12, 4, 8, 4, 5],  # 0 recovered + reliable improvement -> reliable recovery
        [15, 8, 5, 10, 8, 4, 5],  # 1 opposite reliable changes (PHQ -7, GAD +5)
        [5, 3, 4, 2, 8, 4, 5],  # 2 not a case at the start
        [15, 5, 12, NAN, 8, 4, 5],  # 3 anxiety missing at the end -> not computable
        [15, 5, 12, 4, 8, 4, 1],  # 4 only one treatment appointment -> not finished
        [10, 16, 8, 8, 8, 4, 3],  # 5 PHQ +6 exactly -> reliable deterioration
        [10, 9, 8, 7, 8, 4, 2],  # 6 recovery without reliable improvement
        [9, 9, 10, 5, 8, 5, 2],  # 7 PDSS (cut-off 8, RC 5): -5 -> reliable improvement
    ],
    dtype=float,
)


def _outcomes(rule: str = "either_measure") -> EpisodeOutcomes:
    e = EPISODES
    return episode_outcomes(
        e[:, 0],
        e[:, 1],
        e[:, 2],
        e[:, 3],
        anxiety_cutoff=e[:, 4],
        anxiety_rc=e[:, 5],
        treatment_appointments=e[:, 6],
        rule=rule,
    )


def test_episode_outcomes_by_hand() -> None:
    out = _outcomes()
    assert out.computable.tolist() == [True, True, True, False, True, True, True, True]
    assert out.finished_treatment.tolist() == [True, True, True, True, False, True, True, True]
    assert out.eligible.tolist() == [True, True, True, False, False, True, True, True]
    assert out.case_pre.tolist() == [True, True, False, False, True, True, True, True]
    assert out.case_post.tolist() == [False, True, False, False, False, True, False, False]
    assert out.recovery.tolist() == [True, False, False, False, True, False, True, True]
    assert out.reliable_improvement.tolist() == [
        True,
        False,
        False,
        False,
        True,
        False,
        False,
        True,
    ]
    assert out.reliable_deterioration.tolist() == [False] * 5 + [True, False, False]
    assert out.reliable_recovery.tolist() == [True, False, False, False, True, False, False, True]
    assert out.no_reliable_change.tolist() == [False, True, True, False, False, False, True, False]
    assert out.rule is ReliableChangeRule.EITHER_MEASURE


def test_opposite_reliable_changes_are_no_reliable_change() -> None:
    out = episode_outcomes(15, 8, 5, 10, anxiety_cutoff=8, anxiety_rc=4, treatment_appointments=4)
    assert not out.reliable_improvement
    assert not out.reliable_deterioration
    assert out.no_reliable_change


def test_deterioration_first_alternative() -> None:
    out = _outcomes("deterioration_first")
    # episode 1 (PHQ -7, GAD +5) becomes a reliable deterioration, nothing else changes
    assert out.reliable_deterioration.tolist() == [
        False,
        True,
        False,
        False,
        False,
        True,
        False,
        False,
    ]
    assert out.reliable_improvement.tolist() == _outcomes().reliable_improvement.tolist()
    assert not out.no_reliable_change[1]


def test_only_one_measure_is_not_computable() -> None:
    out = episode_outcomes(
        [15, NAN], [5, 5], [12, 12], [NAN, 4], anxiety_cutoff=8, anxiety_rc=4,
        treatment_appointments=3,
    )  # fmt: skip
    assert out.computable.tolist() == [False, False]
    for flag in (out.case_pre, out.recovery, out.reliable_improvement, out.no_reliable_change):
        assert not flag.any()
    assert out.anxiety_measure.tolist() == [AnxietyMeasure.NONE, AnxietyMeasure.ADSM]


def test_gad7_fallback_at_both_ends() -> None:
    out = episode_outcomes(
        [9, 9, 9],
        [9, 9, 9],
        [20, 20, NAN],  # ADSM (e.g. SPIN, cut-off 19, RC 10)
        [NAN, 18, NAN],
        anxiety_cutoff=19,
        anxiety_rc=10,
        treatment_appointments=4,
        gad7_first=[12, 12, 12],
        gad7_last=[6, 6, NAN],
    )
    # 0: SPIN missing at the end -> GAD-7 at both ends: 12 -> 6, Δ -6 >= 4, 12 >= 8 -> 6 < 8
    # 1: SPIN complete -> SPIN used (20 -> 18: case -> not a case, Δ -2 < 10), GAD-7 ignored
    # 2: neither measure complete -> not computable
    assert out.anxiety_measure.tolist() == [
        AnxietyMeasure.GAD7_FALLBACK, AnxietyMeasure.ADSM, AnxietyMeasure.NONE,
    ]  # fmt: skip
    assert out.computable.tolist() == [True, True, False]
    assert out.recovery.tolist() == [True, True, False]
    assert out.reliable_improvement.tolist() == [True, False, False]


def test_decimal_measure_at_exactly_rc() -> None:
    # Mobility Inventory (cut-off 2.3, RC 0.73): 3.03 -> 2.30 is a change of exactly RC
    out = episode_outcomes(
        9, 9, 3.03, 2.30, anxiety_cutoff=2.3, anxiety_rc=0.73, treatment_appointments=2
    )
    assert out.reliable_improvement
    assert out.case_post  # 2.30 >= 2.3 is still a case


def test_finished_treatment_threshold_is_a_parameter() -> None:
    out = episode_outcomes(
        15, 5, 12, 4, anxiety_cutoff=8, anxiety_rc=4, treatment_appointments=[2, 3, NAN],
        min_treatment_appointments=3,
    )  # fmt: skip
    assert out.finished_treatment.tolist() == [False, True, False]


def test_episode_outcomes_reject_bad_configuration() -> None:
    kwargs = {"anxiety_cutoff": 8, "anxiety_rc": 4, "treatment_appointments": 2}
    with pytest.raises(ConfigurationError):
        episode_outcomes(1, 1, 1, 1, rule="phq9_only", **kwargs)
    with pytest.raises(ConfigurationError):
        episode_outcomes(1, 1, 1, 1, phq9_rc=0, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        episode_outcomes(1, 1, 1, 1, anxiety_cutoff=8, anxiety_rc=0, treatment_appointments=2)
    with pytest.raises(ConfigurationError):
        episode_outcomes(1, 1, 1, 1, anxiety_cutoff=NAN, anxiety_rc=4, treatment_appointments=2)
    with pytest.raises(ConfigurationError):
        episode_outcomes(1, 1, 1, 1, gad7_first=1, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        episode_outcomes(1, 1, 1, 1, min_treatment_appointments=0, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(AnalysisError):
        episode_outcomes([1, 2], [1, 2, 3], 1, 1, **kwargs)  # type: ignore[arg-type]
    # an RC that no episode uses may be missing
    out = episode_outcomes(1, 1, NAN, NAN, anxiety_cutoff=NAN, anxiety_rc=NAN,
                           treatment_appointments=2)  # fmt: skip
    assert not out.computable


def _nhs_digital_example() -> EpisodeOutcomes:
    """Episodes that reproduce the NHS Digital worked example (methods.md §2.3).

    57,060 finished a course of treatment; 3,200 of them were not at caseness
    at the start; 27,884 recovered; 39,417 reliably improved. Added noise that
    must not enter any denominator: 500 episodes with one appointment and 300
    finished episodes without a final anxiety score.
    """
    blocks = [
        # (count, PHQ first, PHQ last, GAD first, GAD last, appointments)
        (3_200, 5, 5, 5, 5, 4),  # not a case at the start, no change
        (27_884, 20, 5, 15, 5, 6),  # recovered with reliable improvement
        (39_417 - 27_884, 20, 12, 15, 13, 6),  # reliable improvement, still a case
        (57_060 - 3_200 - 39_417, 15, 15, 10, 10, 6),  # a case, no reliable change
        (500, 20, 5, 15, 5, 1),  # did not finish treatment
        (300, 20, 5, 15, NAN, 5),  # finished, not computable
    ]
    cols = [np.repeat([b[i] for b in blocks], [b[0] for b in blocks]) for i in range(1, 6)]
    return episode_outcomes(
        cols[0], cols[1], cols[2], cols[3], anxiety_cutoff=8, anxiety_rc=4,
        treatment_appointments=cols[4],
    )  # fmt: skip


def test_service_rate_denominators_reproduce_the_nhs_digital_worked_example() -> None:
    rates = service_rates(_nhs_digital_example())
    assert rates.n_finished.tolist() == [57_060]
    assert rates.n_not_case_at_start.tolist() == [3_200]
    assert rates.n_finished_not_computable.tolist() == [300]
    # recovery 27,884 / (57,060 - 3,200) = 51.8 %
    assert rates.recovery.numerator.tolist() == [27_884]
    assert rates.recovery.denominator.tolist() == [57_060 - 3_200]
    assert round(100 * rates.recovery.proportion[0], 1) == 51.8
    # reliable improvement 39,417 / 57,060 = 69.1 %
    assert rates.reliable_improvement.numerator.tolist() == [39_417]
    assert rates.reliable_improvement.denominator.tolist() == [57_060]
    assert round(100 * rates.reliable_improvement.proportion[0], 1) == 69.1
    # reliable recovery shares the recovery denominator; deterioration the finished one
    assert rates.reliable_recovery.denominator.tolist() == [53_860]
    assert rates.reliable_recovery.numerator.tolist() == [27_884]
    assert rates.reliable_deterioration.denominator.tolist() == [57_060]
    assert rates.reliable_deterioration.numerator.tolist() == [0]
    ci = wilson_interval(27_884, 53_860)
    assert rates.recovery.lower[0] == pytest.approx(float(ci.lower))
    assert rates.recovery.upper[0] == pytest.approx(float(ci.upper))
    assert not rates.recovery.suppressed[0]
    # zero deteriorations is a small cell and is suppressed by default
    assert rates.reliable_deterioration.suppressed[0]
    assert np.isnan(rates.reliable_deterioration.published[0])
    assert not service_rates(
        _nhs_digital_example(), keep_zero=True
    ).reliable_deterioration.suppressed[0]


def test_service_rates_per_group_with_suppression() -> None:
    out = _outcomes()
    group = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    rates = service_rates(out, group=group, n_groups=3, suppression_threshold=2)
    # group 0 eligible: episodes 0, 1, 2 (3 is not computable, 4 did not finish)
    assert rates.n_finished.tolist() == [3, 3, 0]
    assert rates.n_not_case_at_start.tolist() == [1, 0, 0]
    assert rates.recovery.numerator.tolist() == [1, 2, 0]
    assert rates.recovery.denominator.tolist() == [2, 3, 0]
    assert rates.reliable_improvement.numerator.tolist() == [1, 1, 0]
    assert rates.reliable_deterioration.numerator.tolist() == [0, 1, 0]
    assert rates.n_finished_not_computable.tolist() == [1, 0, 0]
    assert rates.recovery.suppressed.tolist() == [True, False, True]
    assert rates.recovery.proportion[1] == pytest.approx(2 / 3)
    assert np.isnan(rates.recovery.proportion[2])


def test_service_rates_reject_bad_groups() -> None:
    out = _outcomes()
    with pytest.raises(AnalysisError):
        service_rates(out, group=np.zeros(3, dtype=np.int64))
    with pytest.raises(AnalysisError):
        service_rates(out, group=-np.ones(8, dtype=np.int64))
    with pytest.raises(ConfigurationError):
        service_rates(out, group=np.arange(8), n_groups=2)


score = st.integers(min_value=0, max_value=27)


@given(
    st.lists(st.tuples(score, score, score, score, st.integers(0, 5)), min_size=1, max_size=40),
    st.sampled_from(list(ReliableChangeRule)),
)
def test_reliable_change_flags_partition_computable_episodes(
    rows: list[tuple[int, ...]], rule: ReliableChangeRule
) -> None:
    e = np.array(rows, dtype=float)
    out = episode_outcomes(
        e[:, 0], e[:, 1], e[:, 2], e[:, 3], anxiety_cutoff=8, anxiety_rc=4,
        treatment_appointments=e[:, 4], rule=rule,
    )  # fmt: skip
    total = (
        out.reliable_improvement.astype(int)
        + out.reliable_deterioration.astype(int)
        + out.no_reliable_change.astype(int)
    )
    assert (total == 1).all()
    assert not (out.reliable_recovery & ~out.recovery).any()
    assert not (out.recovery & ~out.case_pre).any()
