"""Clinical-significance cut-offs and categories (methods.md §1.2, §1.3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twostep.analytics.clinical_significance import (
    CATEGORY_LABELS,
    Category,
    CutoffType,
    classify,
    cutoffs,
)
from twostep.analytics.reliable_change import (
    ReliableChangeThreshold,
    hsu_linn_nord,
)
from twostep.errors import AnalysisError, ConfigurationError

# ----------------------------------------------------------------------- cut-offs


def test_cutoffs_lower_is_better_by_hand() -> None:
    # M_c 35.48, SD_c 8.16, M_f 8, SD_f 8:
    # a = 35.48 - 16.32 = 19.16; b = 8 + 16 = 24 (functional SD);
    # c = (8.16 * 8 + 8 * 35.48) / 16.16 = (65.28 + 283.84) / 16.16 = 21.6040
    res = cutoffs(35.48, 8.16, 8.0, 8.0)
    assert res.a == pytest.approx(19.16)
    assert res.b == pytest.approx(24.0)
    assert res.c == pytest.approx(349.12 / 16.16)
    assert res.overlap is True  # b (24) >= a (19.16)
    assert res.recommended is CutoffType.C
    assert res.value == pytest.approx(21.6040, abs=1e-4)


def test_cutoff_b_uses_the_functional_sd() -> None:
    # the R package would give b = M_f + 2 SD_c = 10 + 2 * 3 = 16; methods.md wants 10 + 2 * 7
    assert cutoffs(30.0, 3.0, 10.0, 7.0).b == pytest.approx(24.0)


def test_c_is_the_midpoint_when_sds_are_equal() -> None:
    res = cutoffs(30.0, 5.0, 10.0, 5.0)
    assert res.c == pytest.approx(20.0)


def test_non_overlapping_distributions_recommend_b() -> None:
    # a = 40 - 6 = 34; b = 10 + 6 = 16 < a: the 2-SD ranges [34, 46] and [4, 16] do not meet
    res = cutoffs(40.0, 3.0, 10.0, 3.0)
    assert res.overlap is False
    assert res.recommended is CutoffType.B
    assert res.value == pytest.approx(16.0)
    assert res.c == pytest.approx(25.0)


def test_overlap_width_is_a_parameter() -> None:
    # with 5-SD ranges [25, 55] and [-5, 25] the distributions touch -> overlap -> c
    res = cutoffs(40.0, 3.0, 10.0, 3.0, overlap_sd=5.0)
    assert res.overlap is True
    assert res.recommended is CutoffType.C


def test_cutoffs_higher_is_better_flip_signs() -> None:
    # a = 20 + 2*5 = 30; b = 35 - 2*4 = 27; c = (5*35 + 4*20) / 9 = 255 / 9
    res = cutoffs(20.0, 5.0, 35.0, 4.0, higher_is_better=True)
    assert res.a == pytest.approx(30.0)
    assert res.b == pytest.approx(27.0)
    assert res.c == pytest.approx(255 / 9)
    assert res.overlap is True  # b (27) <= a (30)
    assert res.recommended is CutoffType.C


def test_without_functional_norms_only_a() -> None:
    res = cutoffs(30.0, 5.0)
    assert res.a == pytest.approx(20.0)
    assert res.b is None
    assert res.c is None
    assert res.overlap is None
    assert res.recommended is CutoffType.A
    assert res.value == pytest.approx(20.0)
    with pytest.raises(ConfigurationError):
        res.get("c")


def test_true_score_cutoffs_shrink_the_sds() -> None:
    # SD_c 10 * sqrt(.81) = 9; SD_f 5 * sqrt(.64) = 4 -> a = 30 - 18 = 12; b = 5 + 8 = 13
    res = cutoffs(30.0, 10.0, 5.0, 5.0, reliability_clinical=0.81, reliability_functional=0.64)
    assert res.sd_clinical == pytest.approx(9.0)
    assert res.sd_functional == pytest.approx(4.0)
    assert res.a == pytest.approx(12.0)
    assert res.b == pytest.approx(13.0)
    assert res.c == pytest.approx((9 * 5 + 4 * 30) / 13)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"m_clinical": 30, "sd_clinical": 0},
        {"m_clinical": 30, "sd_clinical": -2},
        {"m_clinical": 30, "sd_clinical": 5, "m_functional": 10},
        {"m_clinical": 30, "sd_clinical": 5, "m_functional": 10, "sd_functional": 0},
        {"m_clinical": 30, "sd_clinical": 5, "m_functional": 40, "sd_functional": 5},
        {
            "m_clinical": 30,
            "sd_clinical": 5,
            "m_functional": 10,
            "sd_functional": 5,
            "overlap_sd": 0,
        },
        {"m_clinical": math.nan, "sd_clinical": 5},
    ],
)
def test_cutoffs_reject_impossible_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        cutoffs(**kwargs)  # type: ignore[arg-type]


# ----------------------------------------------------------------------- classify

PHQ9_RC = ReliableChangeThreshold.fixed(6, "NHS Talking Therapies Manual")


def test_classify_by_hand() -> None:
    pre = [20, 20, 8, 12, 5, 12, np.nan, 20, 10, 9]
    post = [8, 12, 8, 20, 12, 18, 10, np.nan, 4, 1]
    res = classify(pre, post, PHQ9_RC, 10)
    assert res.labels.tolist() == [
        "recovered",  # 20 -> 8: Δ -12 reliable, case -> not a case
        "improved",  # 20 -> 12: Δ -8 reliable, still >= 10
        "unchanged",  # 8 -> 8
        "deteriorated",  # 12 -> 20: Δ +8, was a case already
        "harmed",  # 5 -> 12: Δ +7, not a case -> case
        "deteriorated",  # 12 -> 18: Δ +6 = RC counts (fixed threshold, >=)
        "not_computable",  # missing pre
        "not_computable",  # missing post
        "recovered",  # 10 -> 4: 10 is a case (>= 10), Δ -6
        "improved",  # 9 -> 1: reliable improvement but not a case at intake
    ]
    assert res.code.dtype == np.int8
    assert res.code[6] == -1
    assert Category.NOT_COMPUTABLE.value == -1
    assert res.not_a_case_at_intake.tolist() == [
        False, False, True, False, True, False, False, False, False, True,
    ]  # fmt: skip
    assert res.case_at_start[:6].tolist() == [True, True, False, True, False, True]
    assert res.case_at_end[:6].tolist() == [False, True, False, True, True, True]
    assert res.change[:2].tolist() == [-12.0, -8.0]
    assert res.counts() == {
        "not_computable": 2,
        "recovered": 2,
        "improved": 2,
        "unchanged": 1,
        "deteriorated": 2,
        "harmed": 1,
    }


def test_not_a_case_at_intake_is_never_recovered() -> None:
    res = classify([9, 9.5], [0, 0], PHQ9_RC, 10)
    assert (res.code == Category.IMPROVED).all()
    assert res.not_a_case_at_intake.all()


def test_case_when_strict_excludes_the_cutoff() -> None:
    res = classify([10], [4], PHQ9_RC, 10, case_when=">")
    assert res.labels.tolist() == ["improved"]
    assert res.not_a_case_at_intake.tolist() == [True]


def test_harmed_is_optional() -> None:
    res = classify([5], [12], PHQ9_RC, 10, harmed=False)
    assert res.labels.tolist() == ["deteriorated"]


def test_higher_is_better_instrument() -> None:
    # ORS-like: clinical below 25 (case_when=">" in severity orientation), RC 5
    ors_rc = ReliableChangeThreshold.fixed(5, "Miller et al. 2003")
    res = classify(
        [15, 15, 25, 30], [30, 22, 25, 24], ors_rc, 25, case_when=">", higher_is_better=True
    )
    # 15 -> 30 recovered; 15 -> 22 improved (still < 25); 25 -> 25 unchanged;
    # 30 -> 24: Δ -6 reliable worsening, not a case -> case: harmed
    assert res.labels.tolist() == ["recovered", "improved", "unchanged", "harmed"]


def test_classify_with_a_cutoff_result_and_jt_threshold() -> None:
    cut = cutoffs(30.0, 5.0, 10.0, 5.0)  # c = 20
    jt = ReliableChangeThreshold.jacobson_truax(5.0, 0.8)  # RC_raw 6.198
    res = classify([30, 30, 30], [15, 24, 23.8], jt, cut)
    # Δ -15 recovered; Δ -6 not reliable (6 < 6.198); Δ -6.2 reliable, 23.8 >= 20: improved
    assert res.labels.tolist() == ["recovered", "unchanged", "improved"]


def test_classify_per_pair_cutoffs() -> None:
    res = classify([12, 12], [5, 5], PHQ9_RC, [10, 4])
    assert res.labels.tolist() == ["recovered", "improved"]


def test_classify_with_an_alternative_rci() -> None:
    pre = np.array([10.0, 20.0, 30.0])
    post = np.array([2.0, 22.0, 15.0])
    hll = hsu_linn_nord(pre, post, reliability=0.8, m_pre=20, sd_pre=10, m_post=10)
    # HLL index (0, -2, 0.5): only the 2nd pair changes reliably, for the worse
    res = classify(pre, post, hll, 15)
    assert res.labels.tolist() == ["unchanged", "deteriorated", "unchanged"]


def test_classify_rejects_inconsistent_inputs() -> None:
    with pytest.raises(ConfigurationError):
        classify([1], [2], PHQ9_RC, 10, case_when="<=")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        classify([1], [2], PHQ9_RC, cutoffs(30.0, 5.0), higher_is_better=True)
    hll = hsu_linn_nord([1.0, 5.0], [2.0, 3.0], reliability=0.8)
    with pytest.raises(ConfigurationError):
        classify([1.0, 5.0], [2.0, 3.0], hll, 10, higher_is_better=True)
    with pytest.raises(AnalysisError):
        classify([1, 2, 3], [1, 2], PHQ9_RC, 10)
    with pytest.raises(AnalysisError):
        classify([1, 2, 3], [1, 2, 3], hll, 10)
    with pytest.raises(ConfigurationError):
        classify([1], [2], PHQ9_RC, math.nan)


def test_category_labels_align_with_codes() -> None:
    for category in Category:
        assert CATEGORY_LABELS[category + 1] == category.name.lower()


scores = st.integers(min_value=0, max_value=40)


@given(
    st.lists(st.tuples(scores, scores), min_size=1, max_size=30),
    st.integers(min_value=1, max_value=39),
    st.sampled_from([">=", ">"]),
    st.booleans(),
    st.one_of(
        st.integers(min_value=1, max_value=15).map(
            lambda rc: ReliableChangeThreshold.fixed(rc, "")
        ),
        st.tuples(st.floats(1, 10), st.floats(0, 0.95)).map(
            lambda p: ReliableChangeThreshold.jacobson_truax(p[0], p[1])
        ),
    ),
)
def test_flipping_the_scale_direction_keeps_the_category(
    pairs: list[tuple[int, int]],
    cut: int,
    case_when: str,
    harmed: bool,
    threshold: ReliableChangeThreshold,
) -> None:
    maximum = 40
    pre = np.array([p for p, _ in pairs], dtype=float)
    post = np.array([q for _, q in pairs], dtype=float)
    native = classify(pre, post, threshold, cut, case_when=case_when, harmed=harmed)  # type: ignore[arg-type]
    flipped = classify(
        maximum - pre,
        maximum - post,
        threshold,
        maximum - cut,
        case_when=case_when,  # type: ignore[arg-type]
        higher_is_better=True,
        harmed=harmed,
    )
    np.testing.assert_array_equal(native.code, flipped.code)
    np.testing.assert_array_equal(native.not_a_case_at_intake, flipped.not_a_case_at_intake)
