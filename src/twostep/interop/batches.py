"""From a validated long table to kernel batches, one per instrument.

This is where the rules that need the instrument are checked: the instrument
id exists, a score lies in the instrument's range (and is whole for integer
scales), item responses are valid (then scored by the catalogue), a score
given next to item responses matches them, and no client has two scores for
one session. Every problem names the file, the row and the column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from twostep.analytics.batch import ScoreBatch
from twostep.analytics.scale import Scale
from twostep.errors import InputFileError, Problem, ResponseValidationError, UnknownInstrumentError
from twostep.instruments.model import Instrument
from twostep.instruments.registry import Catalogue
from twostep.instruments.scoring import responses_from_columns, score_matrix
from twostep.interop.long_format import MAX_LISTED, LongTable


@dataclass(frozen=True)
class InstrumentBatch:
    """The rows of one instrument, ready for the kernel."""

    instrument_id: str
    batch: ScoreBatch
    therapist_id: npt.NDArray[np.str_] | None  # per client (first non-empty value), if given
    n_input_rows: int


def split_by_instrument(
    table: LongTable,
    catalogue: Catalogue,
    *,
    instrument: str | None = None,
    custom: Scale | None = None,
) -> list[InstrumentBatch]:
    """Validate ``table`` against the catalogue and build one batch per instrument.

    With ``instrument`` given, only rows of that instrument are analysed (rows
    without an instrument column are taken to be that instrument). With
    ``custom`` (a scale outside the catalogue) every row is that scale.
    """
    name = table.source
    if custom is not None:
        return [_build(table, name, custom.instrument_id, None, custom)]
    if table.instrument is None:
        if instrument is None:
            raise InputFileError(
                [
                    Problem(
                        f"{name}, row 1",
                        "missing_column",
                        "no instrument column and no --instrument given",
                    )
                ]
            )
        ins = catalogue.get(instrument)
        return [_build(table, name, ins.id, ins, None)]
    ids = table.instrument
    wanted = [catalogue.get(instrument).id] if instrument is not None else None
    uniques = [str(v) for v in pc.unique(ids).to_pylist()]
    unknown = [u for u in uniques if u not in catalogue]
    if unknown and wanted is None:
        problems = []
        for u in unknown:
            rows = table.row[np.asarray(pc.equal(ids, u).to_numpy(zero_copy_only=False))]
            problems.append(
                Problem(
                    f"{name}, row {rows[0]}, column instrument",
                    "unknown_instrument",
                    str(UnknownInstrumentError(u, catalogue.ids))
                    + (f" ({len(rows)} rows)" if len(rows) > 1 else ""),
                )
            )
        raise InputFileError(problems, context=name)
    out: list[InstrumentBatch] = []
    for iid in wanted or sorted(uniques):
        mask = np.asarray(pc.equal(ids, iid).to_numpy(zero_copy_only=False), dtype=bool)
        if not mask.any():
            raise InputFileError(
                [Problem(name, "no_rows", f"the file has no rows for instrument {iid!r}")]
            )
        part = table.take(np.flatnonzero(mask))
        out.append(_build(part, name, iid, catalogue.get(iid), None))
    return out


def _build(
    table: LongTable, name: str, iid: str, ins: Instrument | None, custom: Scale | None
) -> InstrumentBatch:
    problems: list[Problem] = []
    score = table.score.copy() if table.score is not None else None
    if table.items:
        if ins is None:
            raise InputFileError(
                [
                    Problem(
                        f"{name}, row 1",
                        "items_need_instrument",
                        "item columns need a catalogue instrument",
                    )
                ]
            )
        score = _score_items(table, name, ins, score, problems)
    assert score is not None
    lo, hi, integer, short = _range(ins, custom)
    present = ~np.isnan(score)
    outside = present & ((score < lo) | (score > hi))
    for i in np.flatnonzero(outside)[:MAX_LISTED]:
        problems.append(
            Problem(
                f"{name}, row {table.row[i]}, column score",
                "out_of_range",
                f"{score[i]:g} is outside the {short} range {lo:g}–{hi:g}",
            )
        )
    if integer:
        fractional = present & ~outside & (np.floor(score) != score)
        for i in np.flatnonzero(fractional)[:MAX_LISTED]:
            problems.append(
                Problem(
                    f"{name}, row {table.row[i]}, column score",
                    "not_a_whole_number",
                    f"{short} totals are whole numbers; got {score[i]:g}",
                )
            )
    if problems:
        raise InputFileError(problems, context=name)

    encoded = table.client_id.dictionary_encode()
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    keys = np.asarray(encoded.dictionary.to_numpy(zero_copy_only=False), dtype=str)
    # number clients in sorted id order, so outputs do not depend on input row order
    order = np.argsort(keys, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0])
    codes, keys = rank[codes], keys[order]
    _check_duplicates(table, name, codes, keys)
    batch = ScoreBatch.from_arrays(codes, score, session=table.session, date=table.date)
    batch = ScoreBatch(
        client_keys=keys[np.asarray(batch.client_keys, dtype=np.int64)],
        offsets=batch.offsets,
        session=batch.session,
        day=batch.day,
        raw=batch.raw,
        observed=batch.observed,
    )
    therapist = None
    if table.therapist_id is not None:
        therapist = _first_per_client(
            codes, table.therapist_id, keys, np.asarray(batch.client_keys, dtype=str)
        )
    return InstrumentBatch(iid, batch, therapist, len(table))


def _range(ins: Instrument | None, custom: Scale | None) -> tuple[float, float, bool, str]:
    if custom is not None:
        return custom.minimum, custom.maximum, custom.integer, custom.name
    assert ins is not None
    sc = ins.scoring
    integer = (
        sc.method == "sum"
        and not sc.conversion
        and all(i.scale.kind == "choice" for i in ins.scored_items)
    )
    return sc.total_min, sc.total_max, integer, ins.short_name


def _score_items(
    table: LongTable,
    name: str,
    ins: Instrument,
    score: npt.NDArray[np.float64] | None,
    problems: list[Problem],
) -> npt.NDArray[np.float64]:
    # a file with several instruments has the union of their item columns: a column
    # that this instrument does not have must be empty on its rows
    extra = [c for c in table.items if c not in ins.item_ids]
    filled = [(c, np.flatnonzero(~np.isnan(table.items[c]))) for c in extra]
    bad = [(c, rows) for c, rows in filled if rows.size]
    if bad:
        raise InputFileError(
            [
                Problem(
                    f"{name}, row {table.row[rows[0]]}, column {c}",
                    "unknown_item",
                    f"{ins.short_name} has no item {c}"
                    + (f" ({rows.size} rows)" if rows.size > 1 else ""),
                )
                for c, rows in bad
            ],
            context=name,
        )
    given = {c: v for c, v in table.items.items() if c in ins.item_ids}
    answered_any = any(bool((~np.isnan(v)).any()) for v in given.values())
    absent = [i.id for i in ins.items if i.scored and i.id not in given]
    if answered_any and absent:  # a missing column is not "every answer missing" (#34)
        raise InputFileError(
            [
                Problem(
                    f"{name}, row 1",
                    "missing_column",
                    f"{ins.short_name} item answers need a column per scored item; missing: "
                    + ", ".join(absent),
                )
            ],
            context=name,
        )
    matrix = responses_from_columns(ins, given)
    labels = [f"{name}, row {r}" for r in table.row]
    try:
        scored = score_matrix(ins, matrix, row_labels=labels)
    except ResponseValidationError as exc:
        named = [
            Problem(p.where.replace(", item_", ", column item_"), p.code, p.message)
            for p in exc.problems
        ]
        raise InputFileError(named, context=name) from None
    answered = ~np.all(np.isnan(matrix), axis=1)
    out = np.where(answered, scored.total, np.nan)
    if score is not None:
        both = answered & ~np.isnan(score) & ~np.isnan(scored.total)
        differs = both & (np.abs(score - scored.total) > 1e-9)
        for i in np.flatnonzero(differs)[:MAX_LISTED]:
            problems.append(
                Problem(
                    f"{name}, row {table.row[i]}, column score",
                    "score_mismatch",
                    f"the score {score[i]:g} does not match its items, which score {scored.total[i]:g}",
                )
            )
        out = np.where(answered, out, score)
    return out


def _check_duplicates(
    table: LongTable, name: str, codes: npt.NDArray[np.int64], keys: npt.NDArray[np.str_]
) -> None:
    if table.session is not None:
        order_key = table.session
        what = "session"
    else:
        assert table.date is not None
        order_key = table.date.astype(np.int64)
        what = "date"
    order = np.lexsort((order_key, codes))
    c, k = codes[order], order_key[order]
    dup = np.flatnonzero((c[1:] == c[:-1]) & (k[1:] == k[:-1]))
    if dup.size:
        problems = []
        for d in dup[:MAX_LISTED]:
            a, b = sorted((int(table.row[order[d]]), int(table.row[order[d + 1]])))
            problems.append(
                Problem(
                    f"{name}, rows {a} and {b}",
                    "duplicate",
                    f"the same client has two scores for the same {what}",
                )
            )
        raise InputFileError(problems, context=name)


def _first_per_client(
    codes: npt.NDArray[np.int64],
    values: pa.Array,
    keys: npt.NDArray[np.str_],
    client_keys: npt.NDArray[np.str_],
) -> npt.NDArray[np.str_]:
    """The first non-empty value of each client (empty string when none)."""
    vals = np.asarray(values.to_numpy(zero_copy_only=False), dtype=str)
    # empty values sort after filled ones within a client, so "first" is the first filled
    order = np.lexsort((np.arange(codes.shape[0]), vals == "", codes))
    first = np.ones(order.shape[0], dtype=bool)
    first[1:] = codes[order][1:] != codes[order][:-1]
    by_code = np.empty(keys.shape[0], dtype=vals.dtype)
    by_code[codes[order][first]] = vals[order][first]
    position = {k: i for i, k in enumerate(keys.tolist())}
    return by_code[[position[k] for k in client_keys.tolist()]]
