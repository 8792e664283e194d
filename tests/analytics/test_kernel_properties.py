"""Properties of the change-analytics kernel on random batches (hypothesis).

(a) the compiled kernel equals the naive reference implementation
    (`reference_impl`) on every row and client;
(b) permuting the clients changes nothing;
(c) a client alone gives the same result as inside a large batch;
(d) mirroring the scale (raw -> 27 - raw, higher-is-better, cut-off mirrored)
    keeps every label;
(e) live vs retrospective (methods.md §11): the history up to ``t`` gives the
    same labels as the whole history wherever the prefix label is not
    provisional, and provisional labels resolve to an allowed label;
(f) the client table is consistent with the session and event tables.

Series are random walks on the PHQ-9 range 0–27 (0–40 for ORS-like scales)
with missed administrations, optional dates (some unknown) and, for some
clients, missed administrations left out of the input (gaps in the session
numbers that the batch fills).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from twostep.analytics.batch import ScoreBatch
from twostep.analytics.pipeline import Analysis, AnalysisParams, analyze_batch
from twostep.analytics.scale import Scale
from twostep.analytics.sudden_gains import SuddenGainParams
from twostep.analytics.trajectory import TrajectoryParams
from twostep.instruments.model import Comparison
from twostep.instruments.registry import default_catalogue

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_impl import (
    KernelClient,
    analyse_client,
    kernel_client,
    kernel_events,
    make_batch,
    ref_params,
    ref_scale,
    reference_rows,
)

CATALOGUE = default_catalogue()
PHQ9 = Scale.from_instrument(CATALOGUE.get("phq9"))
GAD7 = Scale.from_instrument(CATALOGUE.get("gad7"))
ORS = Scale.from_instrument(CATALOGUE.get("ors"))

#: Scales on which integer scores cannot hit the boundaries affected by the known
#: regain problem (RC / 2 is not an integer, or the threshold is a computed J&T one).
SCALES: dict[str, tuple[Scale, int]] = {
    "rc5": (Scale.custom(name="RC5", minimum=0, maximum=27, higher_is_better=False, rc=5, cutoff=10), 27),
    "jacobson_truax": (
        Scale.custom(
            name="JT", minimum=0, maximum=27, higher_is_better=False, reliability=0.84, sd=5.7,
            cutoff=10,
        ),
        27,
    ),
    "ors": (ORS, 40),
    "ors_jacobson_truax": (
        Scale.custom(
            name="JT+", minimum=0, maximum=40, higher_is_better=True, reliability=0.8, sd=8.7,
            cutoff=25,
        ),
        40,
    ),
    "no_cutoff": (Scale.custom(name="NC", minimum=0, maximum=27, higher_is_better=False, rc=5), 27),
}  # fmt: skip

STEPS = (-9, -7, -6, -5, -4, -3, -2, -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 9)

Score = float | None


@dataclass(frozen=True)
class Client:
    scores: list[Score]
    days: list[int | None] | None = None
    drop_missed: bool = False  # leave the missed administrations out of the input


Batch = dict[str, Client]


@st.composite
def clients(
    draw: st.DrawFn, top: int = 27, *, leading_missed: bool = False, decimals: bool = False
) -> Client:
    n = draw(st.integers(1, 15))
    y = float(draw(st.integers(0, top)))
    scores: list[Score] = []
    for i in range(n):
        if i:
            step = float(draw(st.sampled_from(STEPS)))
            if decimals:
                step += draw(st.sampled_from((0.0, 0.0, 0.1, -0.1, 0.3, 0.5)))
            y = round(min(top, max(0.0, y + step)), 1)
        missed = draw(st.integers(0, 6)) == 0 and (i > 0 or leading_missed)
        scores.append(None if missed else y)
    days: list[int | None] | None = None
    if draw(st.booleans()):
        day, days = 19_700, []
        for _ in range(n):
            day += draw(st.integers(1, 35))
            days.append(None if draw(st.integers(0, 12)) == 0 else day)
    return Client(scores, days, draw(st.booleans()))


def batches(top: int = 27, **kw: bool) -> st.SearchStrategy[Batch]:
    return st.lists(clients(top, **kw), min_size=1, max_size=6).map(
        lambda cs: {f"c{i}": c for i, c in enumerate(cs)}
    )


@st.composite
def analysis_params(draw: st.DrawFn) -> AnalysisParams:
    sg = SuddenGainParams(
        crit1=draw(st.sampled_from((None, None, None, 3.0, 7.0))),
        crit2=draw(st.sampled_from((0.25, 0.25, 0.0, 0.5))),
        crit3=draw(st.sampled_from((True, True, False))),
        crit3_adjust=draw(st.booleans()),
        crit3_alpha=draw(st.sampled_from((0.05, 0.01, 0.001))),
        first_interval=draw(st.booleans()),
    )
    tr = TrajectoryParams(
        plateau_window=draw(st.sampled_from((3, 4, 5))),
        plateau_min_t=draw(st.sampled_from((4, 6))),
        setback_window=draw(st.sampled_from((1, 2, 3))),
        early_response_to=draw(st.sampled_from((4, 6))),
    )
    return AnalysisParams(sudden_gains=sg, trajectory=tr)


def build(batch: Batch, *, order: list[int] | None = None) -> ScoreBatch:
    dated = any(c.days is not None for c in batch.values())
    return make_batch(
        {k: c.scores for k, c in batch.items()},
        {k: c.days for k, c in batch.items()} if dated else None,
        drop_missed={k for k, c in batch.items() if c.drop_missed},
        order=order,
    )


def event_tuples(analysis: Analysis, key: str, *, loss: bool) -> list[tuple[object, ...]]:
    return [
        (
            int(e["pre_session"]) - 1,
            int(e["post_session"]) - 1,
            round(float(e["magnitude"]), 9),
            e["reversal"],
            e["provisional"],
            e["gap"],
            e["largest"],
            e["earliest"],
        )
        for e in kernel_events(analysis, key, loss=loss)
    ]


def check_against_reference(batch: Batch, scale: Scale, params: AnalysisParams) -> None:
    analysis = analyze_batch(build(batch), scale, params)
    rs, rp = ref_scale(scale), ref_params(params)
    for key, c in batch.items():
        ref = analyse_client(c.scores, rs, rp, c.days)
        assert kernel_client(analysis, key) == reference_rows(ref), (key, c)
        for loss, expected in ((False, ref.gains), (True, ref.losses)):
            want = [
                (
                    e.pre,
                    e.post,
                    round(e.magnitude, 9),
                    e.reversal,
                    e.provisional,
                    e.gap,
                    e.largest,
                    e.earliest,
                )
                for e in expected
            ]
            assert event_tuples(analysis, key, loss=loss) == want, (key, c, loss)
    # the sessions table keeps the input rows (missed ones too) but not the filled gaps
    n_input = sum(
        1
        for c in batch.values()
        for i, v in enumerate(c.scores)
        if not (v is None and c.drop_missed and 0 < i < len(c.scores) - 1)
    )
    assert len(analysis.sessions) == n_input


# ------------------------------------------------------------------ (a) kernel == reference


@pytest.mark.parametrize("scale_name", sorted(SCALES))
@settings(max_examples=120, deadline=None)
@given(data=st.data(), params=analysis_params())
def test_kernel_equals_reference(
    scale_name: str, data: st.DataObject, params: AnalysisParams
) -> None:
    scale, top = SCALES[scale_name]
    check_against_reference(data.draw(batches(top)), scale, params)


@settings(max_examples=200, deadline=None)
@given(batch=batches())
def test_kernel_equals_reference_rc5_default_params(batch: Batch) -> None:
    check_against_reference(batch, SCALES["rc5"][0], AnalysisParams())


#: Regain exactly at best_onset + RC/2: PHQ-9 (RC 6) 10 + 3 = 13, GAD-7 (RC 4) 6 + 2 = 8.
REGAIN_EXAMPLE: Batch = {"a": Client([20, 10, 16, 13, 13]), "b": Client([12, 6, 10, 8, 8])}


@pytest.mark.parametrize("scale", [PHQ9, GAD7], ids=["phq9", "gad7"])
@settings(max_examples=100, deadline=None)
@given(batch=batches(21), params=analysis_params())
@example(batch=REGAIN_EXAMPLE, params=AnalysisParams())
def test_kernel_equals_reference_with_even_fixed_rc(
    scale: Scale, batch: Batch, params: AnalysisParams
) -> None:
    check_against_reference(batch, scale, params)


@settings(max_examples=100, deadline=None)
@given(batch=batches(40, decimals=True), params=analysis_params())
@example(batch={"a": Client([27.3, 27.3, 27.3, 32.3, 32.3, 32.3])}, params=AnalysisParams())
@example(  # a set C1 of 7 met by a decimal drop of exactly 7 (32.3 - 25.3 in floats: 6.99...96)
    batch={"a": Client([5.0, *[None] * 11, 23.0, 32.3, 25.3])},
    params=AnalysisParams(sudden_gains=SuddenGainParams(crit1=7.0)),
)
def test_kernel_equals_reference_on_decimal_ors(batch: Batch, params: AnalysisParams) -> None:
    check_against_reference(batch, ORS, params)


@settings(max_examples=100, deadline=None)
@given(batch=batches(leading_missed=True), params=analysis_params())
@example(batch={"a": Client([None, 20, 12])}, params=AnalysisParams())
def test_kernel_equals_reference_with_leading_missed_rows(
    batch: Batch, params: AnalysisParams
) -> None:
    check_against_reference(batch, SCALES["rc5"][0], params)


# ------------------------------------------------------------------ (b), (c) batch invariance


def per_client(analysis: Analysis, key: str) -> tuple[object, ...]:
    """Everything the analysis says about one client, independent of its position."""
    row = analysis.clients.row(int(np.flatnonzero(analysis.batch.client_keys == key)[0]))
    row = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
    sessions = analysis.sessions
    mine = np.flatnonzero(sessions.labels("client_id") == key)
    session_rows = [{k: v for k, v in sessions.row(int(i)).items() if k != "date"} for i in mine]
    session_rows = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in session_rows
    ]
    return (
        row,
        session_rows,
        kernel_client(analysis, key),
        event_tuples(analysis, key, loss=False),
        event_tuples(analysis, key, loss=True),
    )


@settings(max_examples=100, deadline=None)
@given(batch=batches(), params=analysis_params(), seed=st.integers(0, 2**32 - 1))
def test_permuting_clients_changes_nothing(batch: Batch, params: AnalysisParams, seed: int) -> None:
    rng = np.random.default_rng(seed)
    base = analyze_batch(build(batch), PHQ9, params)
    # shuffled input rows (the batch sorts them) ...
    n_input = sum(len(input_positions(c)) for c in batch.values())
    shuffled = analyze_batch(build(batch, order=list(rng.permutation(n_input))), PHQ9, params)
    # ... and client segments in another order (the batch is not re-sorted then)
    perm = rng.permutation(base.batch.n_clients)
    reordered = analyze_batch(base.batch.take_clients(perm), PHQ9, params)
    for key in batch:
        expected = per_client(base, key)
        assert per_client(shuffled, key) == expected
        assert per_client(reordered, key) == expected


@settings(max_examples=50, deadline=None)
@given(one=clients(), params=analysis_params(), seed=st.integers(0, 2**32 - 1))
def test_one_client_alone_equals_the_same_client_in_a_large_batch(
    one: Client, params: AnalysisParams, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    others: Batch = {}
    for i in range(2000):
        n = int(rng.integers(1, 16))
        walk = np.clip(rng.integers(0, 28) + np.cumsum(rng.choice(STEPS, n)), 0, 27)
        scores: list[Score] = [None if rng.random() < 0.15 else float(v) for v in walk]
        others[f"z{i:04d}"] = Client(scores)
    position = int(rng.integers(0, len(others) + 1))
    keys = list(others)
    big: Batch = {k: others[k] for k in keys[:position]}
    big["m"] = one
    big.update({k: others[k] for k in keys[position:]})
    alone = analyze_batch(build({"m": one}), PHQ9, params)
    inside = analyze_batch(build(big), PHQ9, params)
    assert per_client(inside, "m") == per_client(alone, "m")


# ------------------------------------------------------------------ (d) mirrored scale


#: PHQ-9 written the other way round: raw' = 27 - raw, higher is better; the case
#: "raw >= 10" becomes "raw' <= 17".
PHQ9_MIRRORED = dataclasses.replace(
    PHQ9,
    instrument_id="phq9_mirrored",
    higher_is_better=True,
    cutoff=17.0,
    cutoff_comparison=Comparison.LE,
)


@settings(max_examples=100, deadline=None)
@given(batch=batches(), params=analysis_params())
def test_mirrored_scale_keeps_every_label(batch: Batch, params: AnalysisParams) -> None:
    mirrored = {
        k: dataclasses.replace(c, scores=[None if v is None else 27 - v for v in c.scores])
        for k, c in batch.items()
    }
    a = analyze_batch(build(batch), PHQ9, params)
    b = analyze_batch(build(mirrored), PHQ9_MIRRORED, params)
    for col in (
        "status",
        "event",
        "in_setback",
        "setback_onset",
        "plateau",
        "deterioration_confirmed",
        "provisional",
        "etr_band",
        "t",
    ):
        assert a.sessions[col].tolist() == b.sessions[col].tolist(), col
    np.testing.assert_array_equal(b.sessions["score"], 27 - a.sessions["score"])
    np.testing.assert_array_equal(
        b.sessions["change_from_baseline"], -a.sessions["change_from_baseline"]
    )
    for col in (
        "n_scores",
        "reliable_change",
        "clinical_category",
        "case_at_start",
        "case_at_end",
        "n_sudden_gains",
        "n_sudden_losses",
        "n_setbacks",
        "status",
        "early_response",
    ):
        assert a.clients[col].tolist() == b.clients[col].tolist(), col
    np.testing.assert_array_equal(b.clients["rci"], a.clients["rci"])  # positive = better
    np.testing.assert_array_equal(b.clients["change"], -a.clients["change"])
    for name in ("sudden_gains", "sudden_losses"):
        ta, tb = getattr(a, name), getattr(b, name)
        for col in ("client_id", "pre_session", "post_session", "magnitude", "reversal"):
            assert ta[col].tolist() == tb[col].tolist(), (name, col)
        np.testing.assert_array_equal(tb["pre_score"], 27 - ta["pre_score"])
        np.testing.assert_array_equal(tb["post_score"], 27 - ta["post_score"])


# ------------------------------------------------------------------ (e) live vs retrospective

#: What a provisional event may turn into once the look-ahead exists (methods.md §11).
RESOLVES_TO: dict[str, set[str]] = {
    # a fall can be a setback onset: after a deterioration (no onset then) the first
    # non-deteriorated score may still lie RC above the best one
    "possible_sudden_gain": {
        "possible_sudden_gain",
        "sudden_gain",
        "setback",
        "setback_transient",
        "setback_sustained",
        "step_better",
        "fluctuation",
    },
    "possible_sudden_loss": {
        "possible_sudden_loss",
        "sudden_loss",
        "setback",
        "setback_transient",
        "setback_sustained",
        "step_worse",
        "fluctuation",
    },
    "setback": {"setback", "setback_transient", "setback_sustained"},
}


def input_positions(c: Client) -> list[int]:
    """Row positions (0-based sessions) that are given in the input."""
    return [
        i
        for i, v in enumerate(c.scores)
        if not (v is None and c.drop_missed and 0 < i < len(c.scores) - 1)
    ]


@settings(max_examples=150, deadline=None)
@given(batch=batches(), params=analysis_params())
def test_live_equals_retrospective_once_labels_are_final(
    batch: Batch, params: AnalysisParams
) -> None:
    # every prefix of every client becomes one client of a single batch
    prefixes: Batch = {}
    for key, c in batch.items():
        positions = input_positions(c)
        for j, pos in enumerate(positions):
            end = pos + 1
            prefixes[f"{key}|{j:02d}"] = Client(
                c.scores[:end],
                c.days[:end] if c.days is not None else None,
                c.drop_missed,
            )
    full = analyze_batch(build(batch), PHQ9, params)
    live = analyze_batch(build(prefixes), PHQ9, params)
    for key, c in batch.items():
        whole = kernel_client(full, key)
        whole_gains = event_tuples(full, key, loss=False)
        whole_losses = event_tuples(full, key, loss=True)
        for j in range(len(input_positions(c))):
            part = kernel_client(live, f"{key}|{j:02d}")
            check_prefix(part, whole)
            for mine, theirs in (
                (event_tuples(live, f"{key}|{j:02d}", loss=False), whole_gains),
                (event_tuples(live, f"{key}|{j:02d}", loss=True), whole_losses),
            ):
                final = {e[:3] for e in mine if not e[4]}  # (pre, post, magnitude) if final
                assert final <= {e[:3] for e in theirs}


def check_prefix(part: KernelClient, whole: KernelClient) -> None:
    for i in range(len(part.t)):
        # status, t and in_setback look only backwards: always the same
        assert part.t[i] == whole.t[i]
        assert part.status[i] == whole.status[i], i
        assert part.in_setback[i] == whole.in_setback[i], i
        assert part.setback_onset[i] == whole.setback_onset[i], i
        assert part.plateau[i] == whole.plateau[i], i
        assert part.best_before[i] == whole.best_before[i], i
        if not part.provisional[i]:
            assert part.event[i] == whole.event[i], i
            assert part.confirmation[i] == whole.confirmation[i], i
            continue
        # provisional: resolves to an allowed label
        if part.event[i] in RESOLVES_TO:
            assert whole.event[i] in RESOLVES_TO[part.event[i]], (i, part.event[i], whole.event[i])
        else:
            assert part.event[i] == whole.event[i], i
        if part.confirmation[i] == "pending":
            assert whole.confirmation[i] in ("confirmed", "not_confirmed", "pending"), i
        else:
            assert part.confirmation[i] == whole.confirmation[i], i


# ------------------------------------------------------------------ (f) the client table


@settings(max_examples=150, deadline=None)
@given(batch=batches(), params=analysis_params())
def test_client_table_is_consistent(batch: Batch, params: AnalysisParams) -> None:
    a = analyze_batch(build(batch), PHQ9, params)
    clients_t, sessions = a.clients, a.sessions
    rc = PHQ9.rc.threshold
    gains_by = a.sudden_gains.labels("client_id").tolist()
    losses_by = a.sudden_losses.labels("client_id").tolist()
    for c, key in enumerate(clients_t.labels("client_id").tolist()):
        row = clients_t.row(c)
        mine = sessions.labels("client_id") == key
        scored = mine & ~np.isnan(sessions["score"])
        scores = sessions["score"][scored]
        assert row["n_scores"] == len(scores)
        assert row["n_sudden_gains"] == gains_by.count(key)
        assert row["n_sudden_losses"] == losses_by.count(key)
        assert row["n_setbacks"] == int(sessions["setback_onset"][mine].sum())
        if len(scores) == 0:
            assert row["status"] == ""
            continue
        baseline, final = scores[0], scores[-1]
        assert (row["baseline"], row["final"]) == (baseline, final)
        assert row["first_session"] == sessions["session"][scored][0]
        assert row["last_session"] == sessions["session"][scored][-1]
        assert row["status"] == sessions.labels("status")[scored][-1]
        assert row["case_at_start"] == (baseline >= 10)
        assert row["case_at_end"] == (final >= 10)
        if len(scores) < 2:
            assert math.isnan(row["change"])
            assert math.isnan(row["rci"])
            assert row["reliable_change"] == "not_computable"
            continue
        change = final - baseline
        assert row["change"] == change
        assert np.sign(row["rci"]) == np.sign(-change)  # positive = improvement (PHQ-9: a fall)
        assert row["rci"] == pytest.approx(-change / (rc / 1.96))
        expected = "improved" if change <= -rc else "deteriorated" if change >= rc else "no_change"
        assert row["reliable_change"] == expected
        if expected == "improved" and baseline >= 10 and final < 10:
            category = "recovered"
        elif expected == "no_change":
            category = "unchanged"
        else:
            category = expected
        assert row["clinical_category"] == category


def test_property_helpers_build_what_they_say() -> None:
    batch: Batch = {"a": Client([3, None, None, 5, None], drop_missed=True)}
    sb = build(batch)
    assert sb.session.tolist() == [1, 2, 3, 4, 5]
    assert sb.observed.tolist() == [True, False, False, True, True]
    assert input_positions(batch["a"]) == [0, 3, 4]
    assert len(analyze_batch(sb, PHQ9).sessions) == 3
