"""The services layer talks to ports only: no SQL, web or file-format libraries."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "twostep"
FORBIDDEN = ("sqlalchemy", "fastapi", "starlette", "pyarrow", "psycopg", "twostep.storage")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append(node.module)
    return out


FILES = [
    *sorted((SRC / "services").glob("*.py")),
    SRC / "domain" / "fakes.py",
    SRC / "domain" / "skills.py",
]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_forbidden_imports(path: Path) -> None:
    bad = [m for m in _imports(path) if m.split(".")[0] in FORBIDDEN or m.startswith(FORBIDDEN)]
    assert bad == []
