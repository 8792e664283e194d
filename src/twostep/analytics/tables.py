"""Kernel result tables: named, equal-length numpy columns, categorical codes with labels.

The kernel returns `Table`s rather than data frames so that it stays free of
pandas/Arrow (edges convert: `twostep.interop.arrow`). A categorical column
is stored as small integer codes plus a tuple of labels, which an edge turns
into a dictionary-encoded Arrow column without building millions of strings.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from twostep.errors import AnalysisError


@dataclass(frozen=True)
class Table:
    """An ordered set of equal-length columns.

    ``categories`` maps a column name to the labels of its integer codes
    (code ``i`` means ``labels[i]``; code -1 means missing). Labels are a
    tuple of strings, or an array (e.g. the client ids of a batch, so that a
    ``client_id`` column of ten million rows is stored as segment numbers).
    """

    name: str
    columns: Mapping[str, npt.NDArray[np.generic]]
    categories: Mapping[str, Sequence[object] | npt.NDArray[np.generic]] = field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        lengths = {k: v.shape[0] for k, v in self.columns.items()}
        if len(set(lengths.values())) > 1:
            raise AnalysisError(f"table {self.name}: columns differ in length: {lengths}")
        for k in self.categories:
            if k not in self.columns:
                raise AnalysisError(f"table {self.name}: category for unknown column {k!r}")

    def __len__(self) -> int:
        return next(iter(self.columns.values())).shape[0] if self.columns else 0

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    def __getitem__(self, name: str) -> npt.NDArray[np.generic]:
        return self.columns[name]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(self.columns)

    def labels(self, name: str) -> npt.NDArray[np.str_]:
        """A categorical column as strings (for small tables and tests)."""
        labels = self.categories[name]
        codes = np.asarray(self.columns[name], dtype=np.int64)
        table = np.array([*(str(x) for x in labels), ""], dtype=object)
        return np.asarray(table[np.where(codes < 0, len(labels), codes)], dtype=str)

    def row(self, i: int) -> dict[str, object]:
        """Row ``i`` as a dict with labels decoded (for explanations and tests)."""
        out: dict[str, object] = {}
        for k, v in self.columns.items():
            if k in self.categories:
                code = int(v[i])
                out[k] = str(self.categories[k][code]) if code >= 0 else ""
            else:
                out[k] = v[i].item() if hasattr(v[i], "item") else v[i]
        return out

    def take(self, index: npt.ArrayLike) -> Table:
        """The rows at ``index``."""
        idx = np.asarray(index)
        return Table(self.name, {k: v[idx] for k, v in self.columns.items()}, dict(self.categories))
