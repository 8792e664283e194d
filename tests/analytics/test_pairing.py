"""pair_episodes: first and last contact at which both measures are scored, per client."""

from __future__ import annotations

import numpy as np
import pytest

from twostep.analytics.batch import ScoreBatch
from twostep.analytics.pairing import pair_episodes

NAN = np.nan


def batch(rows: list[tuple[str, int, float]]) -> ScoreBatch:
    client, session, score = zip(*rows, strict=True)
    return ScoreBatch.from_arrays(list(client), list(score), session=list(session))


def test_first_and_last_paired_sessions() -> None:
    phq = batch(
        [
            ("a", 1, 18), ("a", 2, NAN), ("a", 3, 14), ("a", 4, 9), ("a", 5, 7),
            ("b", 1, 20), ("b", 2, 16),
        ]
    )  # fmt: skip
    gad = batch(
        [
            ("a", 1, NAN), ("a", 2, 12), ("a", 3, 11), ("a", 4, 8), ("a", 5, NAN),
            ("b", 1, 15), ("b", 2, 10),
        ]
    )  # fmt: skip
    p = pair_episodes(phq, gad)
    assert p.client_keys.tolist() == ["a", "b"]
    # a: session 1 lacks GAD-7, 2 lacks PHQ-9, 5 lacks GAD-7 -> pairs at 3 and 4
    assert p.first_session.tolist() == [3, 1]
    assert p.last_session.tolist() == [4, 2]
    assert p.a_first.tolist() == [14.0, 20.0]
    assert p.a_last.tolist() == [9.0, 16.0]
    assert p.b_first.tolist() == [11.0, 15.0]
    assert p.b_last.tolist() == [8.0, 10.0]
    assert p.n_pairs.tolist() == [2, 2]
    assert len(p) == 2


def test_clients_in_only_one_batch_are_excluded() -> None:
    phq = batch([("a", 1, 18), ("only_phq", 1, 12), ("c", 1, 10), ("c", 2, 9)])
    gad = batch([("a", 1, 12), ("only_gad", 1, 9), ("c", 2, 7)])
    p = pair_episodes(phq, gad)
    assert p.client_keys.tolist() == ["a", "c"]
    assert p.n_pairs.tolist() == [1, 1]
    assert p.first_session.tolist() == [1, 2]
    assert p.last_session.tolist() == [1, 2]
    assert p.a_first.tolist() == [18.0, 9.0]
    assert p.b_first.tolist() == [12.0, 7.0]


def test_single_paired_contact_is_first_and_last() -> None:
    p = pair_episodes(batch([("a", 1, 18), ("a", 2, 12)]), batch([("a", 2, 9), ("a", 3, 5)]))
    assert p.first_session.tolist() == p.last_session.tolist() == [2]
    assert p.a_first.tolist() == p.a_last.tolist() == [12.0]
    assert p.b_first.tolist() == p.b_last.tolist() == [9.0]


def test_integer_client_ids_in_different_orders() -> None:
    a = ScoreBatch.from_arrays([5, 3], [10.0, 4.0], session=[1, 1])
    b = ScoreBatch.from_arrays([3, 5], [7.0, 8.0], session=[1, 1])
    p = pair_episodes(a, b)
    assert p.client_keys.tolist() == [3, 5]
    assert p.a_first.tolist() == [4.0, 10.0]
    assert p.b_first.tolist() == [7.0, 8.0]


def test_densified_gaps_are_not_pairs() -> None:
    phq = batch([("a", 1, 18), ("a", 4, 10)])  # sessions 2, 3 inserted as missed
    gad = batch([("a", 1, 12), ("a", 2, 10), ("a", 3, 9), ("a", 4, 6)])
    p = pair_episodes(phq, gad)
    assert p.n_pairs.tolist() == [2]
    assert p.last_session.tolist() == [4]


def test_many_clients_against_a_loop() -> None:
    rng = np.random.default_rng(7)
    rows_a, rows_b = [], []
    for c in range(60):
        for s in range(1, int(rng.integers(1, 8)) + 1):
            rows_a.append(
                (f"c{c:03d}", s, NAN if rng.random() < 0.3 else float(rng.integers(0, 28)))
            )
            if rng.random() < 0.8:
                rows_b.append(
                    (f"c{c:03d}", s, NAN if rng.random() < 0.3 else float(rng.integers(0, 22)))
                )
    p = pair_episodes(batch(rows_a), batch(rows_b))
    a = {(c, s): v for c, s, v in rows_a}
    b = {(c, s): v for c, s, v in rows_b}
    expected = {}
    for (c, s), v in sorted(a.items()):
        w = b.get((c, s), NAN)
        if not np.isnan(v) and not np.isnan(w):
            expected.setdefault(c, []).append((s, v, w))
    assert p.client_keys.tolist() == sorted(expected)
    for i, c in enumerate(p.client_keys.tolist()):
        pairs = expected[c]
        assert p.n_pairs[i] == len(pairs)
        assert (p.first_session[i], p.a_first[i], p.b_first[i]) == pairs[0]
        assert (p.last_session[i], p.a_last[i], p.b_last[i]) == pairs[-1]


@pytest.mark.parametrize(
    ("a_rows", "b_rows"),
    [
        ([("a", 1, 18.0)], [("b", 1, 12.0)]),
        ([("a", 1, 18.0)], [("a", 2, 12.0)]),
    ],
)
def test_no_paired_contact_gives_no_rows(
    a_rows: list[tuple[str, int, float]], b_rows: list[tuple[str, int, float]]
) -> None:
    p = pair_episodes(batch(a_rows), batch(b_rows))
    assert len(p) == 0
