"""The Python API: ``twostep.analyze(...)`` on a file or a data frame.

>>> import twostep
>>> result = twostep.analyze("scores.csv", instrument="phq9")   # doctest: +SKIP
>>> result.clients.to_pandas()                                  # doctest: +SKIP
>>> result.write("out/")                                        # doctest: +SKIP

The tables are Arrow tables with the columns of the design.md data contract;
``.to_pandas()`` or ``polars.from_arrow(...)`` turn them into data frames.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from twostep.analytics.norms import NormsModel
from twostep.analytics.pipeline import Analysis, AnalysisParams, analyze_batch
from twostep.analytics.scale import Scale
from twostep.errors import ConfigurationError, InputFileError, Problem
from twostep.instruments.registry import Catalogue, default_catalogue
from twostep.interop.arrow import concat, to_arrow
from twostep.interop.batches import InstrumentBatch, split_by_instrument
from twostep.interop.long_format import LongTable, read_long, read_long_arrow

TABLES = ("clients", "sessions", "sudden_gains", "sudden_losses")


@dataclass(frozen=True)
class AnalysisResult:
    """What `analyze` returns: four Arrow tables plus the kernel analyses behind them."""

    clients: pa.Table
    sessions: pa.Table
    sudden_gains: pa.Table
    sudden_losses: pa.Table
    analyses: tuple[Analysis, ...]
    inputs: tuple[InstrumentBatch, ...]
    source: str
    ruptures: pa.Table | None = None  # alliance measures only (SRS, WAI-SR)
    notes: tuple[str, ...] = ()  # things the user should know (e.g. norms that were not used)

    def table(self, name: str) -> pa.Table:
        if name not in TABLES:
            raise KeyError(name)
        result: pa.Table = getattr(self, name)
        return result


def load(
    data: str | Path | pa.Table | Any,
    *,
    allow_extra_columns: bool = False,
) -> LongTable:
    """Read and validate long-format scores from a path, an Arrow table, or a pandas/polars frame."""
    if isinstance(data, str | Path):
        return read_long(data, allow_extra_columns=allow_extra_columns)
    if isinstance(data, pa.Table):
        return read_long_arrow(data, allow_extra_columns=allow_extra_columns)
    if isinstance(data, Mapping):
        return read_long_arrow(pa.table(dict(data)), allow_extra_columns=allow_extra_columns)
    to_arrow_method = getattr(data, "to_arrow", None)
    if callable(to_arrow_method):  # polars
        return read_long_arrow(to_arrow_method(), allow_extra_columns=allow_extra_columns)
    try:  # pandas and anything else Arrow understands
        return read_long_arrow(
            pa.Table.from_pandas(data, preserve_index=False),
            allow_extra_columns=allow_extra_columns,
        )
    except (TypeError, AttributeError, pa.ArrowInvalid) as exc:
        raise InputFileError(
            [Problem("data", "unsupported_input", f"cannot read {type(data).__name__}: {exc}")]
        ) from None


def analyze(
    data: str | Path | pa.Table | Any,
    *,
    instrument: str | None = None,
    scale: Scale | None = None,
    params: AnalysisParams | None = None,
    norms: NormsModel | Sequence[NormsModel] | None = None,
    catalogue: Catalogue | None = None,
    rc: float | None = None,
    reliability: float | None = None,
    sd: float | None = None,
    cutoff: float | None = None,
    allow_extra_columns: bool = False,
) -> AnalysisResult:
    """Analyse long-format scores: every statistic of methods.md, per client and session.

    Parameters
    ----------
    data
        A CSV/Parquet path, an Arrow table, a pandas or polars data frame, or a
        mapping of columns, in the long format of design.md.
    instrument
        Catalogue id (e.g. ``"phq9"``) when the data have no instrument column,
        or to analyse only that instrument's rows.
    scale
        A scale outside the catalogue (`Scale.custom`), instead of ``instrument``.
    params
        Parameters of every rule (`AnalysisParams`).
    norms
        Fitted expected-response norms (one model per instrument).
    rc, reliability, sd, cutoff
        Override the instrument's reliable-change threshold (fixed ``rc`` or
        Jacobson–Truax from ``reliability`` and ``sd``) and its cut-off.
    """
    cat = catalogue or default_catalogue()
    table = load(data, allow_extra_columns=allow_extra_columns)
    parts = split_by_instrument(table, cat, instrument=instrument, custom=scale)
    by_instrument = _norms_map(norms)
    analyses: list[Analysis] = []
    for part in parts:
        if scale is not None:
            sc = scale
        else:
            sc = Scale.from_instrument(
                cat.get(part.instrument_id), rc=rc, reliability=reliability, sd=sd, cutoff=cutoff
            )
        analyses.append(
            analyze_batch(part.batch, sc, params, norms=by_instrument.get(part.instrument_id))
        )
    analysed = {p.instrument_id for p in parts}
    notes = tuple(
        f"norms for {iid} were not used: the data have no {iid} scores"
        for iid in sorted(set(by_instrument) - analysed)
    )
    return replace(_assemble(analyses, tuple(parts), table.source), notes=notes)


def fit_norms(
    data: str | Path | pa.Table | Any,
    *,
    instrument: str,
    catalogue: Catalogue | None = None,
    created_at: str | None = None,
    min_episodes: int = 300,
    min_scores: int = 1500,
) -> NormsModel:
    """Fit expected-response norms (methods.md §4.2) for one instrument from long-format scores.

    Raises `ConfigurationError` when the data are too few for the minimum of
    methods.md (300 episodes, 1,500 scored administrations after intake).
    """
    import datetime as dt

    from twostep.analytics.folds import client_folds
    from twostep.analytics.norms import NormsAccumulator

    cat = catalogue or default_catalogue()
    ins = cat.get(instrument)
    table = load(data)
    [part] = split_by_instrument(table, cat, instrument=ins.id)
    scale = Scale.from_instrument(ins) if ins.reliable_change.threshold else None
    info = (scale or Scale.from_instrument(ins, rc=1.0)).scale_info()
    batch = part.batch
    acc = NormsAccumulator(info)
    acc.add(
        batch.offsets,
        info.to_severity(batch.raw),
        None,
        client_folds(batch.client_keys),
        day=batch.day,
    )
    stamp = created_at or dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    model = acc.fit(
        instrument_id=ins.id, created_at=stamp, min_episodes=min_episodes, min_scores=min_scores
    )
    if model is None:
        raise ConfigurationError(
            f"too little data to fit {ins.short_name} norms: {acc.n_episodes} episodes and "
            f"{acc.n_scores} scores after intake; methods.md §4.2 asks for at least "
            f"{min_episodes} episodes and {min_scores} scores (until then the rule-based "
            "fallback of §4.3 is used)"
        )
    return model


def _norms_map(norms: NormsModel | Sequence[NormsModel] | None) -> dict[str, NormsModel]:
    if norms is None:
        return {}
    models = [norms] if isinstance(norms, NormsModel) else list(norms)
    out: dict[str, NormsModel] = {}
    for m in models:
        if m.instrument_id in out:
            raise ConfigurationError(f"two norms files for {m.instrument_id!r}")
        out[m.instrument_id] = m
    return out


def _assemble(
    analyses: list[Analysis], parts: tuple[InstrumentBatch, ...], source: str
) -> AnalysisResult:
    tables: dict[str, pa.Table] = {}
    for name in TABLES:
        pieces = []
        for a in analyses:
            t = to_arrow(getattr(a, name))
            if name != "clients":
                t = t.add_column(
                    1, "instrument", pa.array(np.repeat(a.scale.instrument_id, len(t)))
                )
            pieces.append(t)
        tables[name] = concat(pieces)
    rupture_tables = [
        to_arrow(a.ruptures).add_column(
            1, "instrument", pa.array(np.repeat(a.scale.instrument_id, len(a.ruptures)))
        )
        for a in analyses
        if a.ruptures is not None
    ]
    return AnalysisResult(
        ruptures=concat(rupture_tables) if rupture_tables else None,
        clients=tables["clients"],
        sessions=tables["sessions"],
        sudden_gains=tables["sudden_gains"],
        sudden_losses=tables["sudden_losses"],
        analyses=tuple(analyses),
        inputs=parts,
        source=source,
    )
