"""A synthetic service population written as Parquet, and helpers to compare result tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from twostep.cli.demo_data import synthetic_table
from twostep.interop.arrow import decode_dictionaries
from twostep.synthetic import SyntheticParams, generate_episodes

#: Sort keys that make every result table's row order canonical.
SORT_KEYS = {
    "clients": ["instrument", "client_id"],
    "sessions": ["instrument", "client_id", "session"],
    "sudden_gains": ["instrument", "client_id", "pre_session"],
    "sudden_losses": ["instrument", "client_id", "pre_session"],
}


def population_table(n_clients: int, seed: int) -> pa.Table:
    """PHQ-9 with GAD-7 at the same sessions, therapists, and a site per therapist."""
    data = generate_episodes(
        SyntheticParams(n_clients=n_clients, seed=seed, paired_instrument="gad7")
    )
    cols = synthetic_table(data, items=False)
    table = pa.table({k: pa.array(v, from_pandas=True) for k, v in cols.items()})
    therapist = np.asarray(cols["therapist_id"], dtype=str)
    odd = np.isin(np.array([t[-1] for t in therapist.tolist()]), list("13579"))
    site = np.where(odd, "north", "south")
    table = table.append_column("site", pa.array(site))
    # shuffle the rows: engines and the kernel must not depend on the input order
    order = np.random.default_rng(seed).permutation(table.num_rows)
    return table.take(pa.array(order))


def canonical(table: pa.Table, name: str) -> pa.Table:
    """Plain string columns, rows sorted by the table's keys."""
    t = decode_dictionaries(table)
    return t.sort_by([(k, "ascending") for k in SORT_KEYS[name]])


def read_output(out: Path, name: str) -> pa.Table:
    return canonical(ds.dataset(out / name, format="parquet").to_table(), name)


@pytest.fixture(scope="session")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,500 clients × (PHQ-9 + GAD-7) as one Parquet file with small row groups."""
    path = tmp_path_factory.mktemp("population") / "scores.parquet"
    pq.write_table(population_table(1500, seed=11), path, row_group_size=4096)
    return path


@pytest.fixture(scope="session")
def population_dir(tmp_path_factory: pytest.TempPathFactory, population: Path) -> Path:
    """The same rows as a Hive-partitioned directory (instrument=phq9/ … files)."""
    root = tmp_path_factory.mktemp("population_dir") / "scores"
    table = pq.read_table(population)
    pq.write_to_dataset(table, root, partition_cols=["instrument"], max_rows_per_group=5000)
    return root
