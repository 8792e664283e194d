"""The §12 setback-context table: counts per intake band and administration group, mergeable."""

from __future__ import annotations

import numpy as np
import pytest

from twostep.analytics.batch import ScoreBatch
from twostep.analytics.pipeline import analyze_batch
from twostep.analytics.scale import Scale
from twostep.analytics.setback_stats import SetbackCounts, band_codes, setback_counts, t_group
from twostep.errors import AnalysisError, ConfigurationError
from twostep.instruments.registry import default_catalogue

PHQ9 = default_catalogue().get("phq9")
BANDS = [b.label for b in PHQ9.bands]
LO = [b.minimum for b in PHQ9.bands]
HI = [b.maximum for b in PHQ9.bands]


def counts_of(clients: dict[str, list[float]]) -> SetbackCounts:
    ids = [c for c, ys in clients.items() for _ in ys]
    scores = [y for ys in clients.values() for y in ys]
    sessions = [i + 1 for ys in clients.values() for i in range(len(ys))]
    batch = ScoreBatch.from_arrays(np.array(ids), np.array(scores), session=np.array(sessions))
    analysis = analyze_batch(batch, Scale.from_instrument(PHQ9))
    return setback_counts(analysis, bands=BANDS, band_min=LO, band_max=HI)


def cell(counts: SetbackCounts, band: str, group: str) -> tuple[int, int]:
    k, g = counts.bands.index(band), ("2-4", "5-8", "9+").index(group)
    return int(counts.n[k, g]), int(counts.successes[k, g])


def test_groups_and_bands() -> None:
    assert t_group(np.array([1, 2, 4, 5, 8, 9, 30])).tolist() == [-1, 0, 0, 1, 1, 2, 2]
    assert band_codes(np.array([0, 4, 5, 27, np.nan]), LO, HI).tolist() == [0, 0, 1, 4, -1]


def test_counts_setback_episodes_and_those_that_ended_reliably_improved() -> None:
    counts = counts_of(
        {
            "a": [20, 12, 19, 8],  # setback at t=3, ends 12 better: improved
            "b": [20, 12, 19, 20],  # setback at t=3, ends where it started
            "c": [15, 9, 8, 7, 6, 14, 5],  # setback at t=6, improved
            "d": [20, 18, 17, 16],  # no setback
            "e": [20],  # one score: not computable
        }
    )
    assert cell(counts, "severe", "2-4") == (2, 1)
    assert cell(counts, "moderately severe", "5-8") == (1, 1)
    assert int(counts.n.sum()) == 3
    stat = counts.statistic("severe", 3)
    assert stat is not None
    assert (stat.successes, stat.n) == (1, 2)
    assert not stat.shown
    assert counts.statistic("severe", 1) is None
    assert counts.statistic("unknown", 3) is None


def test_an_episode_counts_once_per_group() -> None:
    counts = counts_of({"a": [20, 12, 19, 12, 19, 10, 6]})  # setbacks at t=3 and t=5
    assert int(counts.n.sum()) == 2
    assert cell(counts, "severe", "2-4") == (1, 1)
    assert cell(counts, "severe", "5-8") == (1, 1)


def test_merge_is_a_sum_and_round_trips_through_json() -> None:
    a = counts_of({"a": [20, 12, 19, 8]})
    b = counts_of({"b": [20, 12, 19, 20], "c": [15, 9, 8, 7, 6, 14, 5]})
    both = counts_of({"a": [20, 12, 19, 8], "b": [20, 12, 19, 20], "c": [15, 9, 8, 7, 6, 14, 5]})
    merged = a.merge(b)
    assert merged.n.tolist() == both.n.tolist() == b.merge(a).n.tolist()
    assert merged.successes.tolist() == both.successes.tolist()
    back = SetbackCounts.from_dict(merged.to_dict())
    assert back.n.tolist() == merged.n.tolist()
    assert back.bands == merged.bands
    with pytest.raises(ConfigurationError):
        a.merge(SetbackCounts.empty("gad7", BANDS))
    with pytest.raises(AnalysisError):
        SetbackCounts.from_dict({"instrument_id": "phq9"})
    with pytest.raises(AnalysisError):
        SetbackCounts("phq9", ("x",), np.zeros((1, 3), np.int64), np.ones((1, 3), np.int64))
