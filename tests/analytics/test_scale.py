"""Scale: severity orientation, cut-offs in severity terms, thresholds and their overrides."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from twostep.analytics.scale import Scale
from twostep.errors import ConfigurationError
from twostep.instruments.model import Comparison
from twostep.instruments.registry import get_instrument


def scale(iid: str, **kwargs: float) -> Scale:
    return Scale.from_instrument(get_instrument(iid), **kwargs)


# ------------------------------------------------------------------ orientation


def test_higher_is_worse_scale_keeps_its_scores() -> None:
    s = scale("phq9")
    raw = np.array([0.0, 12.0, 27.0])
    assert s.severity(raw).tolist() == [0.0, 12.0, 27.0]
    assert s.native(raw).tolist() == [0.0, 12.0, 27.0]
    assert s.native_change(np.array([-3.0])).tolist() == [-3.0]
    assert not s.higher_is_better


def test_higher_is_better_scale_is_flipped_around_the_maximum() -> None:
    s = scale("ors")
    assert s.higher_is_better
    raw = np.array([0.0, 24.9, 40.0])
    y = s.severity(raw)
    np.testing.assert_allclose(y, [40.0, 15.1, 0.0])
    np.testing.assert_allclose(s.native(y), raw)
    assert s.native_change(np.array([-5.0])).tolist() == [5.0]  # less severe = higher ORS


def test_ors_cutoff_below_25_is_severity_above_15_exclusive() -> None:
    s = scale("ors")
    assert s.cutoff == 25.0
    assert s.cutoff_comparison is Comparison.LT
    assert s.severity_cutoff == (15.0, False)
    # ORS 25 is not a case, 24.9 is
    assert s.is_case(s.severity([25.0, 24.9, 30.0, np.nan])).tolist() == [False, True, False, False]


def test_le_cutoff_is_inclusive_in_severity() -> None:
    s = replace(scale("ors"), cutoff_comparison=Comparison.LE)
    assert s.severity_cutoff == (15.0, True)
    assert s.is_case(s.severity([25.0, 25.1])).tolist() == [True, False]


def test_phq9_cutoff_ge_10() -> None:
    s = scale("phq9")
    assert s.severity_cutoff == (10.0, True)
    assert s.is_case([9.0, 10.0, 27.0, np.nan]).tolist() == [False, True, True, False]


def test_gt_cutoff_is_exclusive() -> None:
    s = replace(scale("phq9"), cutoff_comparison=Comparison.GT)
    assert s.severity_cutoff == (10.0, False)
    assert s.is_case([10.0, 11.0]).tolist() == [False, True]


@pytest.mark.parametrize(
    ("iid", "comparison"),
    [
        ("phq9", Comparison.LT),
        ("phq9", Comparison.LE),
        ("ors", Comparison.GE),
        ("ors", Comparison.GT),
    ],
)
def test_cutoff_direction_must_match_the_scale(iid: str, comparison: Comparison) -> None:
    s = replace(scale(iid), cutoff_comparison=comparison)
    with pytest.raises(ConfigurationError):
        _ = s.severity_cutoff


def test_no_cutoff_means_never_a_case() -> None:
    s = scale("wai_sr", reliability=0.9, sd=8.0)
    assert s.cutoff is None
    assert s.severity_cutoff is None
    assert s.is_case([12.0, 60.0]).tolist() == [False, False]


def test_cutoff_override() -> None:
    s = scale("phq9", cutoff=12)
    assert s.cutoff == 12
    assert s.severity_cutoff == (12, True)
    assert s.cutoff_source == "given by the user"
    assert scale("phq9").cutoff_source != s.cutoff_source
    w = s.with_cutoff(None, "none")
    assert w.severity_cutoff is None


# ------------------------------------------------------------------ thresholds


def test_phq9_catalogue_threshold_is_fixed_6_inclusive() -> None:
    s = scale("phq9")
    assert s.rc.threshold == 6.0
    assert not s.rc.strict
    assert s.rc_points < 6.0 < s.rc_points + 1e-6  # >= 6 with a tolerance
    assert s.s_diff == pytest.approx(6.0 / 1.96)
    assert s.rc_label.startswith("RC 6 (")


def test_fixed_threshold_s_diff_is_rc_over_1_96() -> None:
    for iid, rc in (("gad7", 4.0), ("ors", 5.0), ("core10", 6.0), ("pcl5", 10.0)):
        s = scale(iid)
        assert s.rc.threshold == rc
        assert s.s_diff == pytest.approx(rc / 1.96)
        # |RCI| >= 1.96 exactly when |change| >= RC
        assert rc / s.s_diff == pytest.approx(1.96)


def test_rc_override_is_a_fixed_threshold() -> None:
    s = scale("phq9", rc=5)
    assert s.rc.threshold == 5.0
    assert not s.rc.strict
    assert s.rc.source == "given by the user"
    assert s.s_diff == pytest.approx(5.0 / 1.96)


def test_reliability_and_sd_give_a_strict_jacobson_truax_threshold() -> None:
    s = scale("phq9", reliability=0.84, sd=5.7)
    expected = 1.96 * 5.7 * math.sqrt(2 * (1 - 0.84))
    assert s.rc.method == "jacobson_truax"
    assert s.rc.strict
    assert s.rc.threshold == pytest.approx(expected)
    assert s.rc_points == pytest.approx(expected)  # no tolerance for strict thresholds
    assert s.rc.rc_integer == math.floor(expected) + 1 == 7
    assert s.s_diff == pytest.approx(5.7 * math.sqrt(2 * (1 - 0.84)))
    assert "r = 0.84" in s.rc.source
    assert s.rc_label.startswith("RC 6.32 (")


def test_jacobson_truax_on_a_decimal_scale_stores_no_integer_threshold() -> None:
    s = scale("ors", reliability=0.8, sd=7.0)
    assert not s.integer
    assert s.rc.rc_integer is None
    assert s.resolution == pytest.approx(0.1)


@pytest.mark.parametrize("iid", ["wai_sr", "k10", "srs", "swemwbs"])
def test_local_rc_instruments_need_rc_or_reliability_and_sd(iid: str) -> None:
    with pytest.raises(ConfigurationError, match="no published reliable-change threshold"):
        scale(iid)
    assert scale(iid, rc=4).rc.threshold == 4.0
    assert scale(iid, reliability=0.9, sd=6.0).rc.strict


@pytest.mark.parametrize("iid", ["phq2", "gad2"])
def test_screening_instruments_are_refused(iid: str) -> None:
    with pytest.raises(ConfigurationError, match="screening measure"):
        scale(iid)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rc": 2.0, "reliability": 0.9, "sd": 1.0}, "not both"),
        ({"reliability": 0.9}, "needs both"),
        ({"sd": 3.0}, "needs both"),
        ({"rc": 0.0}, "positive"),
        ({"rc": -1.0}, "positive"),
        ({"rc": math.nan}, "positive"),
        ({"rc": math.inf}, "positive"),
        ({"reliability": 1.0, "sd": 3.0}, "reliability"),
        ({"reliability": 0.9, "sd": 0.0}, "sd"),
    ],
)
def test_bad_threshold_parameters(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        scale("phq9", **kwargs)


# ------------------------------------------------------------------ custom scales


def test_custom_bdi_ii_from_reliability_and_sd() -> None:
    s = Scale.custom(
        name="BDI-II",
        minimum=0,
        maximum=63,
        higher_is_better=False,
        reliability=0.9,
        sd=7.5,
        cutoff=14,
    )
    assert s.instrument_id == "custom"
    assert s.integer
    assert s.resolution == 1.0
    assert s.rc.strict
    assert s.rc.threshold == pytest.approx(1.96 * 7.5 * math.sqrt(0.2))
    assert s.rc.rc_integer == 7
    assert s.severity_cutoff == (14, True)
    assert s.cutoff_source == "given by the user"
    assert s.tracks_outcome


def test_custom_higher_is_better_cutoff_is_below() -> None:
    s = Scale.custom(name="W", minimum=0, maximum=10, higher_is_better=True, rc=2, cutoff=5)
    assert s.cutoff_comparison is Comparison.LT
    assert s.severity_cutoff == (5.0, False)
    assert s.is_case(s.severity([5.0, 4.9])).tolist() == [False, True]


def test_custom_decimal_scale_resolution() -> None:
    s = Scale.custom(name="V", minimum=0, maximum=1, higher_is_better=False, rc=0.2, integer=False)
    assert s.resolution == 0.01
    assert s.scale_info().resolution == 0.01


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"minimum": 10, "maximum": 0, "rc": 1}, "minimum must be below"),
        ({"minimum": 0, "maximum": 10, "rc": 1, "cutoff": 11}, "outside the score range"),
        ({"minimum": 0, "maximum": 10}, r"give rc \(--rc\), or reliability and sd"),
    ],
)
def test_custom_scale_errors(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        Scale.custom(name="X", higher_is_better=False, **kwargs)  # type: ignore[arg-type]


def test_scale_info_matches_the_scale() -> None:
    info = scale("ors").scale_info()
    assert (info.native_min, info.native_max, info.higher_is_better) == (0.0, 40.0, True)


def test_integer_and_resolution_from_the_catalogue() -> None:
    assert scale("phq9").integer
    assert scale("phq9").resolution == 1.0
    assert not scale("ors").integer
    assert scale("ors").minimum == 0.0
    assert scale("ors").maximum == 40.0
