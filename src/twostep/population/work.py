"""The per-bucket function every engine calls: one bucket of clients through the kernel.

`run_bucket` takes one bucket — every administration of a set of clients,
all instruments, as one Arrow table — validates it (`columns.long_table`),
splits it by instrument (`interop.batches.split_by_instrument`, which sorts by
client and administration) and hands each instrument's rows to
`analytics.pipeline.analyze_batch` as one columnar batch: exactly what
`twostep.analyze` does with a whole file in memory. The engines only decide
which clients share a bucket and where the bucket runs; a client is always
whole inside one bucket, so every per-client result is the in-process result.

Besides the four result tables a bucket returns `Partials`: sums that merge
across buckets in any order — the NHS Talking Therapies outcome counts per
group, per-instrument reliable-change counts, the §12 setback-context counts
and, when norms are being fitted, the §4.2 training-cell counts
(`NormsAccumulator`). The driver merges them and computes every rate once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from twostep.analytics.folds import client_folds
from twostep.analytics.norms import NormsAccumulator
from twostep.analytics.norms_model import NormsModel
from twostep.analytics.pairing import pair_episodes
from twostep.analytics.pipeline import Analysis, AnalysisParams, analyze_batch
from twostep.analytics.scale import Scale
from twostep.analytics.setback_stats import SetbackCounts, setback_counts
from twostep.analytics.talking_therapies import (
    OUTCOME_COUNT_FIELDS,
    episode_outcomes,
    outcome_counts,
)
from twostep.instruments.model import Instrument
from twostep.instruments.registry import Catalogue, default_catalogue
from twostep.interop.arrow import to_arrow
from twostep.interop.batches import InstrumentBatch, split_by_instrument
from twostep.interop.long_format import LongTable
from twostep.population.columns import long_table
from twostep.reports.talking_therapies import GAD7_CASENESS, GAD7_RC

TABLES = ("clients", "sessions", "sudden_gains", "sudden_losses")
#: Group dimensions of the service rates, in report order.
DIMENSIONS = ("service", "therapist", "site", "period")
#: Per-instrument counts: clients with a computable change, and their outcomes.
CHANGE_FIELDS = ("n_paired", "improved", "deteriorated", "n_case_at_start", "recovered")
TALKING_THERAPIES = "talking_therapies"

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Job:
    """What every bucket does (picklable: it travels to worker processes and executors).

    ``norms`` are applied in the analysis (one model per instrument);
    ``fit_instrument`` makes the bucket count norms training cells and
    setback-context episodes for that instrument; ``write_tables`` False skips
    the four result tables (a norms fit needs only the partials).
    """

    source: str
    instrument: str | None = None
    norms: tuple[NormsModel, ...] = ()
    params: AnalysisParams | None = None
    instrument_paths: tuple[str, ...] = ()
    write_tables: bool = True
    fit_instrument: str | None = None
    min_pairs: int = 2

    def catalogue(self) -> Catalogue:
        if not self.instrument_paths:
            return default_catalogue()
        from pathlib import Path

        return Catalogue.load(extra_dirs=[Path(p) for p in self.instrument_paths])


@dataclass
class Partials:
    """Mergeable sums from one or more buckets (see the module docstring)."""

    n_rows: int = 0
    clients: dict[str, int] = field(default_factory=dict)
    #: (table, dimension, group key) -> counts (OUTCOME_COUNT_FIELDS or CHANGE_FIELDS)
    counts: dict[tuple[str, str, str], IntArray] = field(default_factory=dict)
    setbacks: dict[str, SetbackCounts] = field(default_factory=dict)
    norms: dict[str, NormsAccumulator] = field(default_factory=dict)

    def merge(self, other: Partials) -> Partials:
        """Add ``other`` into this (in place) and return it."""
        self.n_rows += other.n_rows
        for k, v in other.clients.items():
            self.clients[k] = self.clients.get(k, 0) + v
        for key, c in other.counts.items():
            mine = self.counts.get(key)
            self.counts[key] = c.copy() if mine is None else mine + c
        for k, s in other.setbacks.items():
            self.setbacks[k] = s if k not in self.setbacks else self.setbacks[k].merge(s)
        for k, a in other.norms.items():
            self.norms[k] = a if k not in self.norms else self.norms[k].merge(a)
        return self


@dataclass(frozen=True)
class BucketResult:
    tables: Mapping[str, pa.Table]
    partials: Partials


def run_bucket(table: pa.Table, job: Job) -> BucketResult:
    """Validate and analyse one bucket (an Arrow table with the `columns.ROW` column)."""
    return run_long(long_table(table, job.source), job)


def run_long(long: LongTable, job: Job) -> BucketResult:
    """`run_bucket` on an already validated table (the in-process path for CSV input)."""
    cat = job.catalogue()
    partials = Partials(n_rows=len(long))
    if job.fit_instrument is not None:
        _fit_partials(long, job, cat, partials)
    if not job.write_tables:
        return BucketResult({}, partials)
    # therapist and site are grouped here (_client_groups), not by the split
    parts = _parts(replace(long, therapist_id=None, site=None), cat, job.instrument)
    by_id = {m.instrument_id: m for m in job.norms}
    analyses = [
        analyze_batch(
            p.batch,
            Scale.from_instrument(cat.get(p.instrument_id)),
            job.params,
            norms=by_id.get(p.instrument_id),
        )
        for p in parts
    ]
    groups = _client_groups(long)
    for a, p in zip(analyses, parts, strict=True):
        partials.clients[p.instrument_id] = a.batch.n_clients
        _change_counts(a, groups, partials)
    _talking_therapies(analyses, groups, job.min_pairs, partials)
    tables = {name: _table(analyses, name) for name in TABLES} if analyses else {}
    return BucketResult(tables, partials)


def _table(analyses: list[Analysis], name: str) -> pa.Table:
    """One result table of every instrument, as `twostep.analyze` assembles it.

    Text columns stay dictionary-encoded (``dictionary<int32, string>``, one
    dictionary per instrument's chunk), which spares decoding millions of
    labels; Parquet stores them as plain text columns with dictionary pages.
    """
    pieces = []
    for a in analyses:
        t = to_arrow(getattr(a, name))
        if name != "clients":
            ids = pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(len(t), dtype=np.int32)), pa.array([a.scale.instrument_id])
            )
            t = t.add_column(1, "instrument", ids)
        pieces.append(_dictionary_text(t))
    return pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]


def _dictionary_text(table: pa.Table) -> pa.Table:
    """Plain text columns as ``dictionary<int32, string>`` (so every part has one schema)."""
    cols = []
    for col in table.columns:
        if pa.types.is_string(col.type):
            col = col.dictionary_encode()
        cols.append(col)
    return pa.table(cols, names=table.column_names)


def _parts(long: LongTable, cat: Catalogue, instrument: str | None) -> list[InstrumentBatch]:
    """`split_by_instrument`, except that a bucket without the wanted instrument is empty."""
    if instrument is not None and long.instrument is not None:
        iid = cat.get(instrument).id
        if not pc.any(pc.equal(long.instrument, iid)).as_py():
            return []
    return split_by_instrument(long, cat, instrument=instrument)


def instrument_bands(ins: Instrument) -> tuple[tuple[str, ...], list[float], list[float]]:
    """Labels, minima and maxima of the instrument's severity bands."""
    return (
        tuple(b.label for b in ins.bands),
        [b.minimum for b in ins.bands],
        [b.maximum for b in ins.bands],
    )


def norms_scale(ins: Instrument) -> Scale:
    """The scale norms are fitted on (as `twostep.api.fit_norms` chooses it)."""
    if ins.reliable_change.threshold:
        return Scale.from_instrument(ins)
    return Scale.from_instrument(ins, rc=1.0)


def _fit_partials(long: LongTable, job: Job, cat: Catalogue, partials: Partials) -> None:
    assert job.fit_instrument is not None
    ins = cat.get(job.fit_instrument)
    scale = norms_scale(ins)
    info = scale.scale_info()
    acc = NormsAccumulator(info)
    labels, lo, hi = instrument_bands(ins)
    counts = SetbackCounts.empty(ins.id, labels)
    for part in _parts(long, cat, ins.id):
        batch = part.batch
        acc.add(
            batch.offsets,
            info.to_severity(batch.raw),
            None,
            client_folds(batch.client_keys),
            day=batch.day,
        )
        if ins.reliable_change.threshold and scale.tracks_outcome and ins.bands:
            counts = setback_counts(
                analyze_batch(batch, scale), bands=labels, band_min=lo, band_max=hi
            )
    partials.norms[ins.id] = acc
    partials.setbacks[ins.id] = counts


#: A group dimension of some episodes: (code per episode, label of each code).
_Keyed = tuple[IntArray, npt.NDArray[np.str_]]


@dataclass(frozen=True)
class _Groups:
    """Per-client group codes of a bucket: therapist and site at the latest administration."""

    keys: npt.NDArray[np.str_]  # sorted client ids
    values: Mapping[str, _Keyed]  # dimension -> (code per client in `keys`, labels)

    def of(self, client_keys: npt.NDArray[np.generic], dimension: str) -> _Keyed:
        codes, labels = self.values[dimension]
        pos = np.searchsorted(self.keys, np.asarray(client_keys, dtype=str))
        return codes[pos], labels


def _sorted_codes(values: pa.Array) -> tuple[npt.NDArray[np.str_], IntArray]:
    """Distinct values in sorted order and each row's position among them (hash-based)."""
    enc = values.dictionary_encode()
    distinct = np.asarray(enc.dictionary.to_numpy(zero_copy_only=False), dtype=str)
    order = np.argsort(distinct, kind="stable")
    rank = np.empty(order.shape[0], dtype=np.int64)
    rank[order] = np.arange(order.shape[0], dtype=np.int64)
    codes = rank[np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)]
    return distinct[order], codes


def _client_groups(long: LongTable) -> _Groups:
    keys, codes = _sorted_codes(long.client_id)
    n = codes.shape[0]
    # latest administration first: date (unknown last), then session, packed in one key
    session = long.session if long.session is not None else np.zeros(n, dtype=np.int64)
    recency = np.minimum(session, (1 << 20) - 1)
    if long.date is not None:
        day = long.date.astype("datetime64[D]").astype(np.int64) + (1 << 24)
        day = np.where(np.isnat(long.date), 0, np.clip(day, 1, (1 << 30) - 1))
        recency = recency | (day << 20)
    values: dict[str, _Keyed] = {}
    for name, column in (("therapist", long.therapist_id), ("site", long.site)):
        if column is None:
            continue
        labels, vals = _sorted_codes(column)
        filled = (labels != "")[vals].astype(np.int64)
        # the filled value at the client's latest administration (ties: the smallest value),
        # whatever the order of the rows
        order = np.lexsort((vals, -((filled << 52) | recency), codes))
        head = np.ones(order.shape[0], dtype=bool)
        head[1:] = codes[order][1:] != codes[order][:-1]
        out = np.empty(keys.shape[0], dtype=np.int64)
        out[codes[order][head]] = vals[order][head]
        values[name] = (out, labels)
    return _Groups(keys, values)


def _periods(days: IntArray) -> _Keyed:
    """Calendar quarter (``2025-Q1``) of each day number; ``unknown`` where unknown."""
    from twostep.analytics.batch import NO_DAY

    known = days != NO_DAY
    d = np.where(known, days, 0).astype("datetime64[D]")
    year = d.astype("datetime64[Y]").astype(np.int64) + 1970
    quarter = d.astype("datetime64[M]").astype(np.int64) % 12 // 3
    code = np.where(known, year * 4 + quarter, -1)
    uniq, inv = np.unique(code, return_inverse=True)
    labels = np.array([f"{c // 4}-Q{c % 4 + 1}" if c >= 0 else "unknown" for c in uniq.tolist()])
    return inv.reshape(-1).astype(np.int64), labels


def _dimension_keys(
    analysis: Analysis, rows: IntArray, clients: IntArray, groups: _Groups
) -> dict[str, _Keyed]:
    """Group codes per counted episode for every dimension the data have.

    ``clients`` are segment numbers of ``analysis.batch``; ``rows`` the batch
    row of each episode's last scored administration (its period; -1: none).
    """
    n = clients.shape[0]
    out: dict[str, _Keyed] = {"service": (np.zeros(n, dtype=np.int64), np.array(["all"]))}
    keys = analysis.batch.client_keys[clients]
    for name in groups.values:
        out[name] = groups.of(keys, name)
    if analysis.batch.has_dates:
        from twostep.analytics.batch import NO_DAY

        day = np.where(rows >= 0, analysis.batch.day[np.maximum(rows, 0)], NO_DAY)
        out["period"] = _periods(day)
    return out


def _add_counts(
    partials: Partials,
    table: str,
    keys: Mapping[str, _Keyed],
    flags: npt.NDArray[np.int64],
) -> None:
    """Sum the per-episode count rows ``flags`` (n × fields) per group of every dimension."""
    for dimension, (codes, labels) in keys.items():
        sums = np.stack(
            [
                np.bincount(codes, weights=flags[:, j], minlength=labels.shape[0])
                for j in range(flags.shape[1])
            ],
            axis=1,
        ).astype(np.int64)
        present = np.flatnonzero(np.bincount(codes, minlength=labels.shape[0]))
        for g in present.tolist():
            slot = (table, dimension, str(labels[g]))
            prev = partials.counts.get(slot)
            partials.counts[slot] = sums[g].copy() if prev is None else prev + sums[g]


def _change_counts(a: Analysis, groups: _Groups, partials: Partials) -> None:
    c = a.clients
    reliable = np.asarray(c["reliable_change"], dtype=np.int64)
    category = np.asarray(c["clinical_category"], dtype=np.int64)
    paired = reliable != 3
    case = np.asarray(c["case_at_start"], dtype=bool) & paired
    flags = np.column_stack(
        (paired, reliable == 1, reliable == 2, case, case & (category == 0))
    ).astype(np.int64)
    clients = np.arange(a.batch.n_clients, dtype=np.int64)
    keys = _dimension_keys(a, a.trajectory.last_row, clients, groups)
    _add_counts(partials, a.scale.instrument_id, keys, flags)


def _talking_therapies(
    analyses: list[Analysis], groups: _Groups, min_pairs: int, partials: Partials
) -> None:
    by_id = {a.scale.instrument_id: a for a in analyses}
    if "phq9" not in by_id or "gad7" not in by_id:
        return
    phq = by_id["phq9"]
    pairs = pair_episodes(phq.batch, by_id["gad7"].batch)
    if len(pairs) == 0:
        return
    outcomes = episode_outcomes(
        pairs.a_first,
        pairs.a_last,
        pairs.b_first,
        pairs.b_last,
        anxiety_cutoff=GAD7_CASENESS,
        anxiety_rc=GAD7_RC,
        treatment_appointments=pairs.n_pairs,
        min_treatment_appointments=min_pairs,
    )
    # one row of counts per episode: outcome_counts with one group per episode
    n = len(pairs)
    per = outcome_counts(outcomes, group=np.arange(n, dtype=np.int64), n_groups=n)
    flags = np.column_stack([getattr(per, f) for f in OUTCOME_COUNT_FIELDS]).astype(np.int64)
    clients = np.searchsorted(phq.batch.client_keys, pairs.client_keys).astype(np.int64)
    # the period of an episode: its last paired contact
    start = phq.batch.offsets[clients]
    sessions = phq.batch.session
    rows = start + np.maximum(pairs.last_session - sessions[start], 0)
    _add_counts(partials, TALKING_THERAPIES, _dimension_keys(phq, rows, clients, groups), flags)
