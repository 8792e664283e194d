"""The input of a population run: a Parquet file or a (Hive-partitioned) directory of them.

Files are taken in sorted path order and read in row groups, so the rows have
a fixed order: a record's row number (the `columns.ROW` column) is its
1-based position in that order, the same on every engine and every rerun.
Work is cut into *slices* of consecutive row groups of one file, each about
`SLICE_ROWS` rows, which workers read independently (bounded memory: a slice
at a time).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
from pyarrow.fs import LocalFileSystem

from twostep.errors import InputFileError, Problem
from twostep.population.columns import ROW, wanted_columns

SLICE_ROWS = 1_000_000


@dataclass(frozen=True)
class Slice:
    """Consecutive row groups of one file; ``first_row`` is the 1-based row number of its first row."""

    path: str
    row_groups: tuple[int, ...]
    partition: ds.Expression | None
    first_row: int
    n_rows: int


@dataclass(frozen=True)
class Source:
    """A scanned input: its schema, the columns read, and the slices."""

    name: str
    schema: pa.Schema
    columns: tuple[str, ...]
    slices: tuple[Slice, ...]

    @property
    def n_rows(self) -> int:
        return sum(s.n_rows for s in self.slices)

    def read(self, part: Slice) -> pa.Table:
        """The rows of one slice with the `ROW` column appended."""
        fmt = ds.ParquetFileFormat()
        frag = fmt.make_fragment(
            part.path,
            filesystem=LocalFileSystem(),
            partition_expression=part.partition if part.partition is not None else ds.scalar(True),
            row_groups=list(part.row_groups),
        )
        table = frag.to_table(schema=self.schema, columns=list(self.columns))
        rows = np.arange(part.first_row, part.first_row + table.num_rows, dtype=np.int64)
        return table.append_column(ROW, pa.array(rows))


def is_parquet(path: Path) -> bool:
    return path.is_dir() or path.suffix.lower() in (".parquet", ".pq")


def open_source(
    path: Path, *, allow_extra_columns: bool = False, slice_rows: int = SLICE_ROWS
) -> Source:
    """Scan the metadata of ``path`` (nothing but footers is read)."""
    name = str(path)
    if not path.exists():
        raise InputFileError([Problem(name, "not_found", "file or directory does not exist")])
    try:
        if path.is_dir():
            files = sorted(
                str(p)
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in (".parquet", ".pq")
                and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
            )
            if not files:
                raise InputFileError([Problem(name, "empty_import", "no Parquet files found")])
            dataset = ds.dataset(
                files, format="parquet", partitioning="hive", partition_base_dir=str(path)
            )
        else:
            dataset = ds.dataset(str(path), format="parquet")
        schema = dataset.schema
        columns = tuple(
            wanted_columns(list(schema.names), allow_extra_columns=allow_extra_columns, source=name)
        )
        slices: list[Slice] = []
        row = 1
        for frag in sorted(dataset.get_fragments(), key=lambda f: f.path):
            groups = frag.row_groups
            i = 0
            while i < len(groups):
                ids: list[int] = []
                n = 0
                while i < len(groups) and (not ids or n + groups[i].num_rows <= slice_rows):
                    ids.append(groups[i].id)
                    n += groups[i].num_rows
                    i += 1
                slices.append(Slice(frag.path, tuple(ids), frag.partition_expression, row, n))
                row += n
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputFileError(
            [Problem(name, "unreadable_parquet", f"not readable Parquet ({type(exc).__name__})")]
        ) from None
    if not slices or row == 1:
        raise InputFileError([Problem(name, "empty_import", "the data have no rows")])
    return Source(name, schema, columns, tuple(slices))
