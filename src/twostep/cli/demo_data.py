"""``twostep demo-data``: write synthetic long-format scores (for demos, tests and benchmarks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from twostep.interop.long_format import write_csv
from twostep.synthetic import SyntheticParams, SyntheticScores, generate_episodes


def synthetic_table(data: SyntheticScores, *, items: bool) -> dict[str, npt.NDArray[Any]]:
    """The long-format columns of ``data`` (both measures stacked when a paired one exists)."""
    parts = [(data.instrument, data.columns(items=items))]
    if data.paired_instrument is not None:
        parts.append((data.paired_instrument, data.columns(paired=True, items=items)))
    columns: dict[str, list[np.ndarray]] = {}
    names: list[str] = ["client_id", "session", "date", "instrument", "score", "therapist_id"]
    for _, cols in parts:
        for key in cols:
            if key not in names:
                names.append(key)
    for instrument, cols in parts:
        n = len(cols["client_id"])
        for key in names:
            if key == "instrument":
                value = np.repeat(instrument, n)
            else:
                value = cols.get(key, np.full(n, np.nan))
            columns.setdefault(key, []).append(value)
    return {k: np.concatenate(v) for k, v in columns.items()}


def write_demo_data(params: SyntheticParams, out: Path, *, items: bool) -> tuple[int, int]:
    """Generate and write; returns (rows, clients). Parquet when ``out`` ends in .parquet."""
    data = generate_episodes(params)
    columns = synthetic_table(data, items=items)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    if out.suffix.lower() in (".parquet", ".pq"):
        table = pa.table({k: pa.array(v, from_pandas=True) for k, v in columns.items()})
        pq.write_table(table, tmp)
    else:
        write_csv(tmp, columns)
    tmp.replace(out)
    return len(columns["client_id"]), data.n_clients
