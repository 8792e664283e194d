"""Outcome counts merge across buckets into exactly the rates of `service_rates`."""

from __future__ import annotations

import numpy as np

from twostep.analytics.talking_therapies import (
    OUTCOME_COUNT_FIELDS,
    episode_outcomes,
    outcome_counts,
    rates_from_counts,
    service_rates,
)


def test_counts_of_parts_merge_into_the_rates_of_the_whole() -> None:
    rng = np.random.default_rng(3)
    n = 2000
    phq = rng.integers(0, 28, size=(2, n)).astype(float)
    gad = rng.integers(0, 22, size=(2, n)).astype(float)
    phq[1, :50] = np.nan
    outcomes = episode_outcomes(
        phq[0],
        phq[1],
        gad[0],
        gad[1],
        anxiety_cutoff=8.0,
        anxiety_rc=4.0,
        treatment_appointments=rng.integers(1, 10, n),
        min_treatment_appointments=2,
    )
    group = rng.integers(0, 6, n)
    whole = service_rates(outcomes, group=group, n_groups=6)
    parts = [slice(0, 700), slice(700, 1300), slice(1300, n)]
    merged = None
    for p in parts:
        sub = type(outcomes)(
            **{
                f: (getattr(outcomes, f)[p] if f != "rule" else outcomes.rule)
                for f in outcomes.__dataclass_fields__
            }
        )
        c = outcome_counts(sub, group=group[p], n_groups=6)
        merged = c if merged is None else merged.merge(c)
    assert merged is not None
    rates = rates_from_counts(merged)
    for name in ("recovery", "reliable_recovery", "reliable_improvement", "reliable_deterioration"):
        a, b = getattr(whole, name), getattr(rates, name)
        assert a.numerator.tolist() == b.numerator.tolist()
        assert a.denominator.tolist() == b.denominator.tolist()
        np.testing.assert_array_equal(a.lower, b.lower)
        np.testing.assert_array_equal(a.suppressed, b.suppressed)
    assert whole.n_finished_not_computable.sum() > 0
    assert len(OUTCOME_COUNT_FIELDS) == len(merged.__dataclass_fields__)
