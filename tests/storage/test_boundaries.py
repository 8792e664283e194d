"""Only `twostep.storage` talks to the database libraries; the records stay plain."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "twostep"
DATABASE_LIBRARIES = ("sqlalchemy", "alembic", "psycopg", "sqlite3")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
    return found


def test_database_libraries_are_imported_only_by_storage() -> None:
    offenders = [
        f"{path.relative_to(SRC)}:{line} imports {module}"
        for path in sorted(SRC.rglob("*.py"))
        if "storage" not in path.relative_to(SRC).parts
        for line, module in _imports(path)
        if module.split(".")[0] in DATABASE_LIBRARIES
    ]
    assert offenders == []


def test_the_public_names_of_storage() -> None:
    import twostep.storage as storage

    assert storage.__all__ == sorted(storage.__all__)
    assert all(hasattr(storage, name) for name in storage.__all__)
