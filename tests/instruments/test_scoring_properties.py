"""Properties of scoring that hold for every instrument in the catalogue (hypothesis)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twostep.errors import ResponseValidationError
from twostep.instruments.model import Instrument, Item
from twostep.instruments.registry import Catalogue
from twostep.instruments.scoring import (
    Score,
    responses_from_columns,
    score_matrix,
    score_submission,
)

INSTRUMENTS = list(Catalogue.load(entry_points=False))
WITH_REVERSE = [i for i in INSTRUMENTS if any(it.reverse for it in i.items)]
Answers = dict[str, float | int | None]

instruments = st.sampled_from(INSTRUMENTS)


def valid_value(item: Item) -> st.SearchStrategy[float | int]:
    scale = item.scale
    if scale.kind == "choice":
        return st.sampled_from(scale.values)
    tenths = st.integers(int(scale.minimum * 10), int(scale.maximum * 10)).map(lambda v: v / 10)
    anywhere = st.floats(scale.minimum, scale.maximum, allow_nan=False, allow_infinity=False)
    return tenths | anywhere


@st.composite
def submissions(draw: st.DrawFn, ins: Instrument, *, complete: bool = False) -> Answers:
    """A valid submission; about one item in eight is left unanswered unless ``complete``."""
    out: Answers = {}
    for item in ins.items:
        if not complete and draw(st.integers(0, 7)) == 0:
            out[item.id] = None
        else:
            out[item.id] = draw(valid_value(item))
    return out


def value_of(answers: Mapping[str, float | int | None], item_id: str) -> float:
    v = answers.get(item_id)
    return math.nan if v is None else float(v)


def as_row(ins: Instrument, answers: Mapping[str, float | int | None]) -> list[float]:
    return [value_of(answers, i) for i in ins.item_ids]


@settings(deadline=None, max_examples=300)
@given(data=st.data())
def test_total_is_within_range_or_unscorable(data: st.DataObject) -> None:
    ins = data.draw(instruments)
    s = score_submission(ins, data.draw(submissions(ins)))
    sc = ins.scoring
    if s.total is None:
        assert s.reason
        assert s.case is None
        assert s.band is None
    else:
        assert sc.total_min <= s.total <= sc.total_max
        assert s.reason is None
        assert s.prorated == (s.n_missing > 0)
        if ins.bands:
            assert s.band is not None
        if ins.clinical_cutoff is not None:
            assert s.case is not None
    for sub in ins.subscales:
        value = s.subscales[sub.id]
        if value is not None:
            lo = sum(ins.item(i).scale.minimum for i in sub.items)
            hi = sum(ins.item(i).scale.maximum for i in sub.items)
            assert lo <= value <= hi


@settings(deadline=None, max_examples=150)
@given(data=st.data())
def test_complete_integer_submissions_score_to_the_plain_sum(data: st.DataObject) -> None:
    ins = data.draw(instruments.filter(lambda i: i.scoring.method == "sum"))
    answers = data.draw(submissions(ins, complete=True))
    s = score_submission(ins, answers)
    keyed = [
        it.scale.minimum + it.scale.maximum - value_of(answers, it.id)
        if it.reverse
        else value_of(answers, it.id)
        for it in ins.scored_items
    ]
    assert s.raw_total == pytest.approx(sum(keyed), abs=0.051)
    assert not s.prorated


@settings(deadline=None, max_examples=150)
@given(data=st.data())
def test_item_column_order_does_not_matter(data: st.DataObject) -> None:
    ins = data.draw(instruments)
    rows = data.draw(st.lists(submissions(ins), min_size=1, max_size=8))
    ordered = np.array([as_row(ins, r) for r in rows])
    order = data.draw(st.permutations(list(ins.item_ids)))
    # items missing in every row may be left out of the columns altogether (but one column
    # must stay, or there is no row count)
    columns = {
        iid: ordered[:, ins.item_ids.index(iid)]
        for iid in order
        if iid == order[0]
        or not np.isnan(ordered[:, ins.item_ids.index(iid)]).all()
        or data.draw(st.booleans())
    }
    shuffled = responses_from_columns(ins, columns)
    np.testing.assert_array_equal(shuffled, ordered)
    a, b = score_matrix(ins, ordered), score_matrix(ins, shuffled)
    np.testing.assert_array_equal(a.total, b.total)
    np.testing.assert_array_equal(a.risk_level, b.risk_level)


@settings(deadline=None, max_examples=150)
@given(data=st.data())
def test_reverse_keying_mirrors(data: st.DataObject) -> None:
    ins = data.draw(st.sampled_from(WITH_REVERSE))
    answers = data.draw(submissions(ins, complete=True))
    item = data.draw(st.sampled_from([i for i in ins.items if i.reverse]))
    lo, hi = int(item.scale.minimum), int(item.scale.maximum)
    v = answers[item.id]
    assert isinstance(v, int)
    before = score_submission(ins, answers).total
    mirrored = {**answers, item.id: lo + hi - v}
    after = score_submission(ins, mirrored).total
    assert before is not None
    assert after is not None
    # the item contributed hi + lo - v and now contributes v
    assert after - before == v - (lo + hi - v)


def test_core10_reverse_items_are_mirrored_by_hand() -> None:
    core = next(i for i in INSTRUMENTS if i.id == "core10")
    base = {f"item_{n}": 2 for n in range(1, 11)}
    assert score_submission(core, base).total == 20
    # item 2 from 2 to 4 - 2 = 2 is a fixed point; from 0 (contributes 4) to 4 (contributes 0)
    assert score_submission(core, {**base, "item_2": 0}).total == 22
    assert score_submission(core, {**base, "item_2": 4}).total == 18


def _same(a: Score, b: Score) -> None:
    assert a == b, f"{a} != {b}"


@settings(deadline=None, max_examples=100)
@given(data=st.data())
def test_matrix_equals_row_by_row(data: st.DataObject) -> None:
    ins = data.draw(instruments)
    rows = data.draw(st.lists(submissions(ins), min_size=1, max_size=40))
    table = score_matrix(ins, np.array([as_row(ins, r) for r in rows]))
    assert len(table) == len(rows)
    for k, answers in enumerate(rows):
        _same(table.row(k), score_submission(ins, answers))


def out_of_range(item: Item) -> st.SearchStrategy[float | int]:
    scale = item.scale
    if scale.kind == "choice":
        lo, hi = int(scale.minimum), int(scale.maximum)
        return st.integers(hi + 1, hi + 100) | st.integers(lo - 100, lo - 1)
    above = st.floats(scale.maximum, 1e9, exclude_min=True, allow_nan=False)
    below = st.floats(-1e9, scale.minimum, exclude_max=True, allow_nan=False)
    return above | below | st.sampled_from([math.inf, -math.inf])


@settings(deadline=None, max_examples=200)
@given(data=st.data())
def test_out_of_range_always_raises_naming_the_item(data: st.DataObject) -> None:
    ins = data.draw(instruments)
    answers = data.draw(submissions(ins))
    item = data.draw(st.sampled_from(ins.items))
    bad = data.draw(out_of_range(item))
    answers[item.id] = bad
    with pytest.raises(ResponseValidationError) as info:
        score_submission(ins, answers)
    assert [p.where for p in info.value.problems] == [item.id]
    assert item.id in str(info.value)
    row = np.array([as_row(ins, answers)])
    with pytest.raises(ResponseValidationError) as info2:
        score_matrix(ins, row)
    assert [p.where for p in info2.value.problems] == [f"row 1, {item.id}"]


CHOICE_ITEMS = [
    (ins, item) for ins in INSTRUMENTS for item in ins.items if item.scale.kind == "choice"
]


@pytest.mark.parametrize("bad", [True, False, "3", 2.5, 1.0, [1]])
@pytest.mark.parametrize(
    ("ins", "item"), CHOICE_ITEMS, ids=[f"{i.id}-{it.id}" for i, it in CHOICE_ITEMS]
)
def test_choice_items_reject_non_integers(ins: Instrument, item: Item, bad: object) -> None:
    answers: dict[str, object] = {i.id: None for i in ins.items}
    answers[item.id] = bad
    with pytest.raises(ResponseValidationError) as info:
        score_submission(ins, answers)
    assert [(p.where, p.code) for p in info.value.problems] == [(item.id, "wrong_type")]


@settings(deadline=None, max_examples=100)
@given(data=st.data())
def test_choice_items_reject_any_fractional_number(data: st.DataObject) -> None:
    ins, item = data.draw(st.sampled_from(CHOICE_ITEMS))
    bad = data.draw(
        st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not float(x).is_integer())
    )
    with pytest.raises(ResponseValidationError) as info:
        score_submission(ins, {item.id: bad})
    assert [p.where for p in info.value.problems] == [item.id]


@pytest.mark.parametrize("ins", INSTRUMENTS, ids=lambda i: i.id)
def test_unknown_item_is_rejected(ins: Instrument) -> None:
    with pytest.raises(ResponseValidationError) as info:
        score_submission(ins, {"item_99": 1})
    assert [(p.where, p.code) for p in info.value.problems] == [("item_99", "unknown_item")]
