"""What the generator returns: long-format columns plus the ground truth behind them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from twostep.instruments.scoring import BoolArray, FloatArray, IntArray

StrArray = npt.NDArray[np.str_]
DateArray = npt.NDArray[np.datetime64]


@dataclass(frozen=True, eq=False)
class SyntheticTruth:
    """The latent structure behind the scores, for tests and method checks.

    Per-client arrays have ``n_clients`` elements in client order; per-row
    arrays align with the rows of `SyntheticScores`.

    Attributes
    ----------
    archetype : StrArray
        Per client: ``responder``, ``slow``, ``non_responder``,
        ``deteriorator``, ``plateau`` or ``early_dropout``.
    dropped_out : BoolArray
        Per client: the episode ended before its planned length (all early
        dropouts, plus clients cut short by ``dropout_rate``).
    intake : FloatArray
        Per client: expected intake severity in reference points (PHQ-9
        points, before noise).
    true_score : FloatArray
        Per row: the native score the client would have had, also at missed
        administrations, and before any item was left blank.
    sudden_gain : BoolArray
        Per row: the post-gain administration of an injected sudden gain
        (the gain is between this row and the previous one). Injected gains
        are large (>= ``sudden_magnitude[0]`` reference points before noise)
        but noise can hide some from a Tang-DeRubeis detector.
    sudden_loss : BoolArray
        Per row: the post-loss administration of an injected sudden loss.
    setback : BoolArray
        Per row: inside an injected setback (a temporary rise).
    plateau : BoolArray
        Per row: on the plateau of a plateau client.
    paired_true_score : FloatArray or None
        Per row: ``true_score`` of the paired measure.
    """

    archetype: StrArray
    dropped_out: BoolArray
    intake: FloatArray
    true_score: FloatArray
    sudden_gain: BoolArray
    sudden_loss: BoolArray
    setback: BoolArray
    plateau: BoolArray
    paired_true_score: FloatArray | None = None


@dataclass(frozen=True, eq=False)
class SyntheticScores:
    """Synthetic administrations in the long format of design.md, sorted by client then session.

    All per-row arrays have the same length and are read-only.

    Attributes
    ----------
    instrument : str
        Catalogue id of ``score``/``items``.
    client_id : StrArray
        Per row, e.g. ``"C0000001"`` (zero-padded, so string order is client order).
    session : IntArray
        Per row: 1-based administration index within the episode, counting
        missed administrations.
    date : DateArray
        Per row: ``datetime64[D]`` date of the (scheduled) administration.
    score : FloatArray
        Per row: native total, NaN for a missed administration.
    therapist_id : StrArray
        Per row, e.g. ``"T0001"``; one therapist per client.
    offsets : IntArray
        ``n_clients + 1`` row offsets: client ``i`` has rows ``offsets[i]:offsets[i+1]``.
    truth : SyntheticTruth
        The ground truth.
    item_ids : tuple[str, ...]
        Item ids of ``instrument`` in column order of ``items``.
    items : FloatArray or None
        ``(n_rows, n_items)`` responses in catalogue order (NaN = missing).
    paired_instrument : str or None
        Catalogue id of the paired measure.
    paired_score : FloatArray or None
        Per row: native total of the paired measure (NaN exactly where ``score`` is).
    paired_item_ids : tuple[str, ...]
        Item ids of the paired measure.
    paired_items : FloatArray or None
        Item responses of the paired measure.
    """

    instrument: str
    client_id: StrArray
    session: IntArray
    date: DateArray
    score: FloatArray
    therapist_id: StrArray
    offsets: IntArray
    truth: SyntheticTruth
    item_ids: tuple[str, ...] = ()
    items: FloatArray | None = None
    paired_instrument: str | None = None
    paired_score: FloatArray | None = None
    paired_item_ids: tuple[str, ...] = ()
    paired_items: FloatArray | None = None

    @property
    def n_clients(self) -> int:
        """Number of clients (episodes)."""
        return int(self.offsets.shape[0] - 1)

    @property
    def n_rows(self) -> int:
        """Number of rows (scheduled administrations, missed ones included)."""
        return int(self.session.shape[0])

    def __len__(self) -> int:
        return self.n_rows

    @property
    def lengths(self) -> IntArray:
        """Rows per client."""
        return np.diff(self.offsets)

    def columns(self, *, paired: bool = False, items: bool = True) -> dict[str, npt.NDArray[Any]]:
        """The long-format columns in contract order.

        Parameters
        ----------
        paired : bool
            Give the paired measure's ``score`` (and items) instead of the
            primary one's.
        items : bool
            Append one column per item (named by item id, e.g. ``item_1``)
            when item responses were generated.

        Returns
        -------
        dict[str, numpy.ndarray]
            ``client_id, session, date, score, therapist_id`` then the items.
        """
        if paired and self.paired_score is None:
            raise ValueError("no paired measure was generated")
        score = self.paired_score if paired else self.score
        matrix = self.paired_items if paired else self.items
        ids = self.paired_item_ids if paired else self.item_ids
        assert score is not None
        out: dict[str, npt.NDArray[Any]] = {
            "client_id": self.client_id,
            "session": self.session,
            "date": self.date,
            "score": score,
            "therapist_id": self.therapist_id,
        }
        if items and matrix is not None:
            for j, iid in enumerate(ids):
                out[iid] = matrix[:, j]
        return out
