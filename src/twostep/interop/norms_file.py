"""Norms files: a fitted `NormsModel` as versioned JSON.

The file is written atomically (a temporary file next to it, then renamed),
so a crash never leaves half a model; loading validates every field and names
the file and the field of each problem.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from twostep.analytics.norms_model import NormsModel
from twostep.analytics.setback_stats import SetbackCounts
from twostep.errors import AnalysisError, InputFileError, Problem, ValidationError


def write_norms(
    model: NormsModel, path: Path, *, setback_context: Mapping[str, Any] | None = None
) -> None:
    """Write ``model`` to ``path`` as pretty-printed JSON.

    ``setback_context`` (`SetbackCounts.to_dict`, methods.md §12) is stored
    under the key ``setback_context``; `NormsModel.from_dict` ignores it and
    `read_setback_context` reads it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    data = model.to_dict()
    if setback_context is not None:
        data["setback_context"] = dict(setback_context)
    text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".norms-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_norms(path: Path) -> NormsModel:
    """Load and validate a norms file."""
    data = _read_object(path)
    try:
        return NormsModel.from_dict(data)
    except ValidationError as exc:
        raise InputFileError(
            [Problem(f"{path}: {p.where}", p.code, p.message) for p in exc.problems]
        ) from None


def read_setback_context(path: Path) -> SetbackCounts | None:
    """The §12 setback-context table of a norms file (None when the file has none)."""
    data = _read_object(path)
    table = data.get("setback_context")
    if table is None:
        return None
    try:
        return SetbackCounts.from_dict(table)
    except AnalysisError as exc:
        raise InputFileError(
            [Problem(f"{path}: norms.setback_context", "invalid", str(exc))]
        ) from None


def _read_object(path: Path) -> dict[str, Any]:
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError([Problem(name, "not_found", "norms file does not exist")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(
            [Problem(name, "unreadable", f"cannot read: {type(exc).__name__}")]
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(
            [Problem(f"{name}, line {exc.lineno}", "malformed_json", "not valid JSON")]
        ) from None
    if not isinstance(data, dict):
        raise InputFileError([Problem(name, "malformed_json", "expected a JSON object")])
    return data
