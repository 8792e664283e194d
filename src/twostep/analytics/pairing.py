"""Pair two measures taken at the same contacts (PHQ-9 with GAD-7) per client.

NHS Talking Therapies outcomes (methods.md §2.3) use the first and the last
*paired* scores of a referral: a depression score and an anxiety score
recorded at the same contact. Given two batches (one per measure), this finds
for every client present in both the first and last session at which both
scores exist, and how many such paired contacts there are — in whole-array
operations (sorting and searching over ``(client, session)`` keys).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from twostep.analytics.batch import ScoreBatch

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class PairedEpisodes:
    """One row per client with at least one paired contact.

    ``a_*`` / ``b_*`` are native scores of the first and second measure at
    the first and last paired contact; ``n_pairs`` counts paired contacts.
    """

    client_keys: npt.NDArray[np.generic]
    first_session: IntArray
    last_session: IntArray
    a_first: FloatArray
    a_last: FloatArray
    b_first: FloatArray
    b_last: FloatArray
    n_pairs: IntArray

    def __len__(self) -> int:
        return int(self.client_keys.shape[0])


def pair_episodes(a: ScoreBatch, b: ScoreBatch) -> PairedEpisodes:
    """First and last contact with both measures scored, per client in both batches."""
    keys = np.union1d(a.client_keys, b.client_keys)
    ka, row_a = _row_keys(a, keys)
    kb, row_b = _row_keys(b, keys)
    common, ia, ib = np.intersect1d(ka, kb, assume_unique=True, return_indices=True)
    rows_a = row_a[ia]
    rows_b = row_b[ib]
    if common.shape[0] == 0:
        empty_f = np.zeros(0, dtype=np.float64)
        empty_i = np.zeros(0, dtype=np.int64)
        return PairedEpisodes(
            keys[:0], empty_i, empty_i, empty_f, empty_f, empty_f, empty_f, empty_i
        )
    # `common` is sorted by (client, session): group by client
    client = common >> 32
    starts = np.flatnonzero(np.concatenate(([True], client[1:] != client[:-1])))
    ends = np.append(starts[1:], common.shape[0]) - 1
    return PairedEpisodes(
        client_keys=keys[client[starts]],
        first_session=(common[starts] & 0xFFFFFFFF).astype(np.int64),
        last_session=(common[ends] & 0xFFFFFFFF).astype(np.int64),
        a_first=a.raw[rows_a[starts]],
        a_last=a.raw[rows_a[ends]],
        b_first=b.raw[rows_b[starts]],
        b_last=b.raw[rows_b[ends]],
        n_pairs=(ends - starts + 1).astype(np.int64),
    )


def _row_keys(batch: ScoreBatch, keys: npt.NDArray[np.generic]) -> tuple[IntArray, IntArray]:
    """Sorted ``client_position << 32 | session`` of every scored row, and the rows."""
    position = np.searchsorted(keys, batch.client_keys).astype(np.int64)
    rows = np.flatnonzero(~np.isnan(batch.raw))
    client = position[batch.client_index[rows]]
    out = (client << 32) | batch.session[rows].astype(np.int64)
    order = np.argsort(out, kind="stable")
    return out[order], rows[order].astype(np.int64)
