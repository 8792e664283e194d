"""Alliance rupture and repair (methods.md §6.4): hand-computed series and properties."""

from __future__ import annotations

import dataclasses
import math
import random
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twostep.analytics.alliance import (
    ALLIANCE_LABELS,
    AllianceCode,
    AllianceParams,
    AllianceReason,
    AllianceSignals,
    alliance_ruptures,
    alliance_ruptures_batch,
)
from twostep.analytics.batch import ScoreBatch
from twostep.errors import AnalysisError, ConfigurationError
from twostep.instruments.model import Comparison

NAN = math.nan
N, M, R, P, U = "none", "marker", "rupture", "repair", "unrepaired_escalation"


def one(scores: list[float], params: AllianceParams | None = None, **kw: object) -> AllianceSignals:
    return alliance_ruptures([0, len(scores)], scores, params, **kw)  # type: ignore[arg-type]


def labels(scores: list[float], params: AllianceParams | None = None) -> list[str]:
    return one(scores, params).labels.tolist()


# ------------------------------------------------------------------------ SRS by hand


def test_constant_forties_then_a_drop_to_36_is_a_rupture_by_the_floor() -> None:
    # B = median(40, 40, 40) = 40; changes 0, 0 -> SD 0 -> floor 1.0;
    # threshold max(3, 1.5 * 1) = 3; drop 40 - 36 = 4 >= 3. 36 is not < 36.
    r = one([40, 40, 40, 36])
    assert r.labels.tolist() == [N, N, N, R]
    assert r.baseline[3] == 40
    assert r.sd_w[3] == 1.0
    assert r.threshold[3] == 3.0
    # the 4-point drop is also a marker; the row's code is the rupture
    assert AllianceReason(int(r.reason[3])) == (
        AllianceReason.RELATIVE_DROP | AllianceReason.MARKER_DROP
    )
    assert r.provisional.tolist() == [False, False, False, True]
    ep = r.episodes
    assert len(ep) == 1
    assert (ep.start_row[0], ep.trough_row[0], ep.repair_row[0]) == (3, 3, -1)
    assert ep.provisional[0]
    assert not ep.repaired[0]


def test_a_drop_just_below_the_threshold_is_only_a_marker() -> None:
    # drop 2.9 < 3 -> no rupture; drop >= 1 from the previous score -> marker
    r = one([40, 40, 40, 37.1])
    assert r.labels.tolist() == [N, N, N, M]
    assert AllianceReason(int(r.reason[3])) == AllianceReason.MARKER_DROP


def test_decimal_scores_at_the_threshold_count_despite_rounding() -> None:
    # 39.3 - 36.3 is 2.9999999999999964 in floating point; the rule is ">= 3"
    assert labels([39.3, 39.3, 39.3, 36.3]) == [N, N, N, R]


@pytest.mark.parametrize(
    ("scores", "expected", "repair_row"),
    [
        # repair at the 1st administration after the rupture: 39 >= B - 1 = 39
        ([40, 40, 40, 36, 39], [N, N, N, R, P], 4),
        # 2nd: 37 < 39, then 39.5 >= 39
        ([40, 40, 40, 36, 37, 39.5], [N, N, N, R, N, P], 5),
        # 3rd: 37, 38 < 39, then 39
        ([40, 40, 40, 36, 37, 38, 39], [N, N, N, R, N, N, P], 6),
    ],
)
def test_repair_within_one_two_or_three_administrations(
    scores: list[float], expected: list[str], repair_row: int
) -> None:
    r = one(scores)
    assert r.labels.tolist() == expected
    ep = r.episodes
    assert ep.repair_row.tolist() == [repair_row]
    assert ep.end_row.tolist() == [repair_row]
    assert ep.repaired.tolist() == [True]
    assert ep.provisional.tolist() == [False]
    assert not r.provisional.any()
    assert AllianceReason.REPAIR_BASELINE in AllianceReason(int(r.reason[repair_row]))
    assert r.in_episode.tolist() == [False] * 3 + [True] * (repair_row - 2)


def test_unrepaired_after_three_administrations_escalates() -> None:
    r = one([40, 40, 40, 36, 37, 38, 38.9, 40])
    assert r.labels.tolist() == [N, N, N, R, N, N, U, N]
    ep = r.episodes
    assert (ep.repair_row[0], ep.end_row[0], bool(ep.repaired[0])) == (-1, 6, False)
    assert r.n_escalated.tolist() == [1]
    assert r.n_repaired.tolist() == [0]
    assert r.n_ruptures.tolist() == [1]
    assert not r.provisional.any()


def test_staying_at_36_is_no_repair_when_the_rupture_never_went_below_the_cut_off() -> None:
    # "back >= 36" needs the episode to have been below 36; here it never was
    assert labels([40, 40, 40, 36, 36, 36, 36]) == [N, N, N, R, N, N, U]


def test_open_episode_is_provisional_until_the_window_is_over() -> None:
    r = one([40, 40, 40, 36, 37, 38])
    assert r.labels.tolist() == [N, N, N, R, N, N]
    assert r.provisional.tolist() == [False, False, False, True, True, True]
    assert r.episodes.provisional.tolist() == [True]
    assert r.episodes.end_row.tolist() == [-1]


def test_trough_is_the_lowest_score_of_the_episode() -> None:
    r = one([40, 40, 40, 36, 33, 34, 39.5])
    assert r.labels.tolist() == [N, N, N, R, M, N, P]
    assert r.episodes.trough_row.tolist() == [4]
    assert r.episodes.trough_score.tolist() == [33.0]
    # 33 < 36 inside the open episode: no second rupture, and it uses up "the first time"
    assert AllianceReason(int(r.reason[4])) == AllianceReason.MARKER_DROP


def test_first_two_scores_only_the_cut_off_applies() -> None:
    # a 3.5-point drop at the 2nd score: one previous score is no baseline -> marker only
    assert labels([40, 36.5]) == [N, M]
    # below 36 at the 2nd score: the cut-off rule
    r = one([40, 35])
    assert r.labels.tolist() == [N, R]
    assert AllianceReason(int(r.reason[1])) == (
        AllianceReason.FIRST_BELOW_CUTOFF | AllianceReason.MARKER_DROP
    )
    assert math.isnan(r.baseline[1])
    assert math.isnan(r.threshold[1])


def test_a_first_score_below_the_cut_off_is_a_rupture_repaired_only_by_the_cut_off() -> None:
    r = one([34, 30, 37])
    assert r.labels.tolist() == [R, M, P]
    assert math.isnan(r.episodes.baseline[0])
    assert AllianceReason.REPAIR_CUTOFF in AllianceReason(int(r.reason[2]))
    assert r.episodes.trough_row.tolist() == [1]


def test_only_the_first_score_below_the_cut_off_triggers_the_cut_off_rule() -> None:
    # row 2: B = median(35, 37) = 36, one change -> floor, threshold 3, drop 1 -> no rupture;
    # 35 < 36 again but not for the first time -> marker (drop 2 from 37)
    assert labels([35, 37, 35]) == [R, P, M]


def test_cut_off_comparison_is_configurable() -> None:
    assert labels([38, 36]) == [N, M]
    assert labels([38, 36], AllianceParams.srs(cutoff_comparison=Comparison.LE)) == [N, R]
    assert labels([38, 30], AllianceParams.srs(cutoff=None)) == [N, M]


def test_sd_w_above_the_floor_raises_the_threshold() -> None:
    # changes -4, +4, -4, +4: mean 0, SD (ddof 1) = sqrt(64 / 3) = 4.6188;
    # threshold max(3, 1.5 * 4.6188) = 6.9282; B = median(40, 36, 40) = 40
    p = AllianceParams.srs(cutoff=None)
    r = one([40, 36, 40, 36, 40, 34], p)
    assert r.sd_w[5] == pytest.approx(math.sqrt(64 / 3))
    assert r.threshold[5] == pytest.approx(1.5 * math.sqrt(64 / 3))
    assert r.labels.tolist()[5] == M  # drop 6 < 6.93
    assert one([40, 36, 40, 36, 40, 33], p).labels.tolist()[5] == R  # drop 7


def test_sd_w_uses_sample_sd_of_all_previous_changes() -> None:
    scores = [38.0, 39.5, 37.0, 40.0, 36.5, 39.0]
    r = one(scores, AllianceParams.srs(cutoff=None))
    changes = np.diff(scores)
    for t in range(len(scores)):
        prev = changes[: max(t - 1, 0)]
        sd = statistics.stdev(prev) if prev.size >= 2 else 0.0
        assert r.sd_w[t] == pytest.approx(max(1.0, sd))


def test_baseline_is_the_median_of_the_previous_three() -> None:
    r = one([30, 38, 40, 39, 37], AllianceParams.srs(cutoff=None))
    assert math.isnan(r.baseline[0])
    assert math.isnan(r.baseline[1])
    assert r.baseline[2] == 34.0  # median(30, 38)
    assert r.baseline[3] == 38.0  # median(30, 38, 40)
    assert r.baseline[4] == 39.0  # median(38, 40, 39)


def test_item_marker() -> None:
    items = np.array([[10, 10, 10, 10], [10, 8.5, 10, 10], [10, 10, NAN, 9.5]])
    r = one([40, 38.5, 39.5], items=items)
    assert r.labels.tolist() == [N, M, N]
    assert AllianceReason.MARKER_ITEM in AllianceReason(int(r.reason[1]))
    # no items: only the drop marker
    assert labels([40, 38.5, 39.5]) == [N, M, N]
    # the WAI-SR preset has no item marker
    assert one([4.0, 4.0], AllianceParams.wai_sr(), items=np.ones((2, 12))).labels.tolist() == [
        N,
        N,
    ]


def test_several_episodes_in_one_client() -> None:
    scores = [40, 40, 40, 36, 39.5, 40, 40, 35, 36]
    r = one(scores)
    assert r.labels.tolist() == [N, N, N, R, P, N, N, R, P]
    ep = r.episodes
    assert ep.start_row.tolist() == [3, 7]
    assert ep.repair_row.tolist() == [4, 8]
    # second rupture: B = median(39.5, 40, 40) = 40, drop 5, and first < 36
    assert AllianceReason(int(ep.reason[1])) == (
        AllianceReason.RELATIVE_DROP
        | AllianceReason.FIRST_BELOW_CUTOFF
        | AllianceReason.MARKER_DROP
    )
    # repaired by the cut-off route (36 is back out of < 36) though 36 < B - 1 = 39
    assert AllianceReason(int(r.reason[8])) == AllianceReason.REPAIR_CUTOFF
    assert r.n_ruptures.tolist() == [2]
    assert r.n_repaired.tolist() == [2]


# -------------------------------------------------------------------- missing rows


def test_missed_administrations_are_skipped() -> None:
    r = one([40, NAN, 40, 40, NAN, 36, NAN, 39])
    assert r.labels.tolist() == [N, N, N, N, N, R, N, P]
    assert r.baseline[5] == 40
    assert r.in_episode.tolist() == [False] * 5 + [True] * 3
    assert math.isnan(r.sd_w[6])


def test_missed_administrations_do_not_count_in_the_repair_window() -> None:
    r = one([40, 40, 40, 36, NAN, 37, NAN, 37, NAN, 37])
    assert r.labels.tolist() == [N, N, N, R, N, N, N, N, N, U]
    assert r.episodes.end_row.tolist() == [9]


def test_score_batch_gaps_become_missed_administrations() -> None:
    batch = ScoreBatch.from_arrays(["a"] * 5, [40, 40, 40, 36, 39.5], session=[1, 2, 3, 5, 6])
    r = alliance_ruptures_batch(batch)
    assert r.labels.tolist() == [N, N, N, N, R, P]


# ------------------------------------------------------------------------------ WAI-SR


def test_wai_sr_mean_item_scores() -> None:
    # B = 4.5, SD 0 -> floor 0.25; threshold max(D_min 0.6, 1.5 * 0.25) = 0.6;
    # drop 0.7 -> rupture; repair when a >= B - SD_w = 4.25
    p = AllianceParams.wai_sr(rc=0.6)
    r = one([4.5, 4.5, 4.5, 3.8, 4.2, 4.25], p)
    assert r.labels.tolist() == [N, N, N, R, N, P]
    assert r.threshold[3] == pytest.approx(0.6)
    assert r.sd_w[3] == 0.25


def test_wai_sr_repair_margin_is_the_sd_w_of_the_rupture_row() -> None:
    # changes +.5, -.5, +.5: SD = sqrt(1/3) = .57735; threshold max(.6, .866) = .866;
    # B = median(4.5, 4.0, 4.5) = 4.5; drop 1.0 -> rupture; repair at a >= 4.5 - .57735
    p = AllianceParams.wai_sr(rc=0.6)
    r = one([4.0, 4.5, 4.0, 4.5, 3.5, 3.9, 3.95], p)
    assert r.threshold[4] == pytest.approx(1.5 * math.sqrt(1 / 3))
    assert r.labels.tolist() == [N, N, N, N, R, N, P]


def test_wai_sr_has_no_cut_off_and_no_markers() -> None:
    p = AllianceParams.wai_sr()
    assert p.cutoff is None
    assert p.marker_drop is None
    assert p.repair_margin is None
    assert labels([1.5, 1.0, 1.2], p) == [N, N, N]


def test_wai_sr_fallback_and_total_scale() -> None:
    p = AllianceParams.wai_sr()
    assert (p.min_drop, p.sd_floor) == (0.5, 0.25)
    assert "fallback" in p.min_drop_source
    t = AllianceParams.wai_sr(scale="total")
    assert (t.min_drop, t.sd_floor) == (6.0, 3.0)
    # the same series as mean items and as totals gives the same codes
    mean = [4.5, 4.5, 4.5, 3.9, 4.3, 4.4]
    total = [12 * x for x in mean]
    assert labels(mean, p) == labels(total, t)
    assert AllianceParams.wai_sr(rc=0.55, rc_source="service JT 2024").min_drop_source == (
        "service JT 2024"
    )


# ----------------------------------------------------------------- params and inputs


@pytest.mark.parametrize(
    "change",
    [
        {"baseline_min": 0},
        {"baseline_min": 4},
        {"sd_floor": -1.0},
        {"sd_multiplier": math.nan},
        {"min_drop": 0.0},
        {"cutoff": math.inf},
        {"marker_drop": 0.0},
        {"marker_item_below": math.nan},
        {"repair_window": 0},
        {"repair_margin": -0.5},
    ],
)
def test_impossible_parameters(change: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        dataclasses.replace(AllianceParams.srs(), **change)  # type: ignore[arg-type]


def test_wai_sr_scale_must_be_known() -> None:
    with pytest.raises(ConfigurationError):
        AllianceParams.wai_sr(scale="sum")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("offsets", "scores", "items"),
    [
        ([0, 3], [40, 40], None),
        ([1, 2], [40, 40], None),
        ([0, 2, 1, 2], [40, 40], None),
        ([0, 2], [40, math.inf], None),
        ([0, 2], [40, 40], np.ones((3, 4))),
        ([0, 2], [[40, 40]], None),
    ],
)
def test_bad_inputs(offsets: list[int], scores: list[float], items: object) -> None:
    with pytest.raises(AnalysisError):
        alliance_ruptures(offsets, scores, items=items)  # type: ignore[arg-type]


def test_empty_batch() -> None:
    r = alliance_ruptures([0], [])
    assert r.code.shape == (0,)
    assert len(r.episodes) == 0
    r = alliance_ruptures([0, 0, 0], [])
    assert r.n_ruptures.tolist() == [0, 0]


def test_labels_match_codes() -> None:
    assert [c.value for c in AllianceCode] == list(range(len(ALLIANCE_LABELS)))
    assert [ALLIANCE_LABELS[c] for c in AllianceCode] == [c.name.lower() for c in AllianceCode]


# ------------------------------------------------------------ a naive reference loop


def reference(scores: list[float], p: AllianceParams) -> list[int]:
    """The rule written as plainly as possible, one client at a time."""
    tol = 1e-9
    out: list[int] = []
    hist: list[float] = []
    seen_concern = False
    episode: dict[str, float] | None = None

    def concern(v: float) -> bool:
        return p.cutoff is not None and p.cutoff_comparison.holds(v, p.cutoff)

    for v in scores:
        if math.isnan(v):
            out.append(0)
            continue
        changes = np.diff(hist)
        sd = statistics.stdev(changes) if len(changes) >= 2 else 0.0
        sd_w = max(p.sd_floor, sd)
        b = statistics.median(hist[-p.baseline_window :]) if len(hist) >= p.baseline_min else NAN
        marker = p.marker_drop is not None and bool(hist) and hist[-1] - v >= p.marker_drop - tol
        code = 1 if marker else 0
        if episode is not None:
            episode["count"] += 1
            episode["concern"] = float(episode["concern"] or concern(v))
            back = not math.isnan(episode["b"]) and v >= episode["b"] - episode["m"] - tol
            repaired = back or (bool(episode["concern"]) and not concern(v))
            if repaired:
                code, episode = 3, None
            elif episode["count"] >= p.repair_window:
                code, episode = 4, None
        else:
            relative = not math.isnan(b) and b - v >= max(p.min_drop, p.sd_multiplier * sd_w) - tol
            if relative or (concern(v) and not seen_concern):
                margin = p.repair_margin if p.repair_margin is not None else sd_w
                episode = {"b": b, "m": margin, "count": 0, "concern": float(concern(v))}
                code = 2
        seen_concern = seen_concern or concern(v)
        out.append(code)
        hist.append(v)
    return out


srs_score = st.one_of(
    st.integers(300, 400).map(lambda i: i / 10),
    st.integers(0, 400).map(lambda i: i / 10),
    st.just(NAN),
)
srs_series = st.lists(srs_score, min_size=0, max_size=14)


@settings(max_examples=300, deadline=None)
@given(srs_series)
def test_kernel_equals_the_naive_reference_srs(scores: list[float]) -> None:
    p = AllianceParams.srs()
    assert one(scores, p).code.tolist() == reference(scores, p)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.integers(4, 20).map(lambda i: i / 4), st.just(NAN)), max_size=12))
def test_kernel_equals_the_naive_reference_wai_sr(scores: list[float]) -> None:
    p = AllianceParams.wai_sr(rc=0.6)
    assert one(scores, p).code.tolist() == reference(scores, p)


def _client_view(r: AllianceSignals, rows: slice) -> dict[str, list[object]]:
    return {
        "code": r.code[rows].tolist(),
        "reason": r.reason[rows].tolist(),
        "provisional": r.provisional[rows].tolist(),
        "in_episode": r.in_episode[rows].tolist(),
        "baseline": np.nan_to_num(r.baseline[rows], nan=-1).tolist(),
        "sd_w": np.nan_to_num(r.sd_w[rows], nan=-1).tolist(),
        "threshold": np.nan_to_num(r.threshold[rows], nan=-1).tolist(),
    }


def _episodes_of(r: AllianceSignals, client: int, first_row: int) -> list[tuple[object, ...]]:
    ep = r.episodes
    sel = ep.client == client

    def rel(x: np.ndarray) -> list[int]:
        return [int(v) - first_row if v >= 0 else -1 for v in x[sel]]

    return list(
        zip(
            rel(ep.start_row),
            rel(ep.trough_row),
            rel(ep.repair_row),
            rel(ep.end_row),
            ep.repaired[sel].tolist(),
            ep.provisional[sel].tolist(),
            strict=True,
        )
    )


@settings(max_examples=100, deadline=None)
@given(st.lists(srs_series, min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_one_client_alone_equals_the_same_client_in_a_batch_in_any_order(
    clients: list[list[float]], rnd: random.Random
) -> None:
    lengths = [len(c) for c in clients]
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    batch = alliance_ruptures(offsets, [x for c in clients for x in c])
    order = list(range(len(clients)))
    rnd.shuffle(order)
    permuted = [clients[i] for i in order]
    p_offsets = np.concatenate(([0], np.cumsum([len(c) for c in permuted])))
    perm = alliance_ruptures(p_offsets, [x for c in permuted for x in c])
    for c, scores in enumerate(clients):
        alone = one(scores)
        rows = slice(int(offsets[c]), int(offsets[c + 1]))
        k = order.index(c)
        p_rows = slice(int(p_offsets[k]), int(p_offsets[k + 1]))
        assert _client_view(batch, rows) == _client_view(alone, slice(0, len(scores)))
        assert _client_view(perm, p_rows) == _client_view(alone, slice(0, len(scores)))
        assert _episodes_of(batch, c, rows.start) == _episodes_of(alone, 0, 0)
        assert _episodes_of(perm, k, p_rows.start) == _episodes_of(alone, 0, 0)
        assert batch.n_ruptures[c] == alone.n_ruptures[0] == perm.n_ruptures[k]


@settings(max_examples=150, deadline=None)
@given(srs_series)
def test_live_and_retrospective_agree(scores: list[float]) -> None:
    full = one(scores)
    for t in range(len(scores) + 1):
        live = one(scores[:t])
        assert live.code.tolist() == full.code[:t].tolist()
        # provisional rows belong to an episode still open at the end of the data
        assert not (live.provisional & ~live.in_episode).any()


@settings(max_examples=150, deadline=None)
@given(srs_series)
def test_episode_table_is_consistent_with_the_row_codes(scores: list[float]) -> None:
    r = one(scores)
    ep = r.episodes
    assert ep.start_row.tolist() == np.flatnonzero(r.code == AllianceCode.RUPTURE).tolist()
    ends = np.flatnonzero(
        (r.code == AllianceCode.REPAIR) | (r.code == AllianceCode.UNREPAIRED_ESCALATION)
    )
    assert sorted(ep.end_row[ep.end_row >= 0].tolist()) == ends.tolist()
    assert (ep.repaired == (ep.repair_row >= 0)).all()
    assert (ep.provisional == (ep.end_row < 0)).all()
    assert int(ep.provisional.sum()) <= 1
    a = np.asarray(scores, dtype=float)
    for s, tr, e in zip(ep.start_row, ep.trough_row, ep.end_row, strict=True):
        stop = e + 1 if e >= 0 else len(scores)
        window = a[s:stop]
        assert a[tr] == np.nanmin(window)
        if e >= 0:
            # at most repair_window scored administrations after the rupture
            assert 1 <= np.count_nonzero(~np.isnan(a[s + 1 : e + 1])) <= 3
