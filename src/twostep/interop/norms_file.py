"""Norms files: a fitted `NormsModel` as versioned JSON.

The file is written atomically (a temporary file next to it, then renamed),
so a crash never leaves half a model; loading validates every field and names
the file and the field of each problem.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from twostep.analytics.norms_model import NormsModel
from twostep.errors import InputFileError, Problem, ValidationError


def write_norms(model: NormsModel, path: Path) -> None:
    """Write ``model`` to ``path`` as pretty-printed JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(model.to_dict(), indent=2, allow_nan=False) + "\n"
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
    try:
        return NormsModel.from_dict(data)
    except ValidationError as exc:
        raise InputFileError(
            [Problem(f"{name}: {p.where}", p.code, p.message) for p in exc.problems]
        ) from None
