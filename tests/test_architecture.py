"""The dependency rule: the core (instruments, analytics) is pure.

`instruments/` and `analytics/` may import only the standard library, numpy,
each other and `twostep.errors`; the kernel (`analytics/`) may also use numba
to compile the loops that are sequential by nature. No database, web,
file-format or engine code may reach the core. The synthetic-data generator
follows the same rule so that kernels and benchmarks can use it anywhere.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "twostep"
CORE_INTERNAL = ("twostep.instruments", "twostep.analytics", "twostep.errors")
RULES: dict[str, tuple[set[str], tuple[str, ...]]] = {
    "instruments": ({"numpy"}, CORE_INTERNAL),
    "analytics": ({"numpy", "numba"}, CORE_INTERNAL),
    "synthetic": ({"numpy"}, (*CORE_INTERNAL, "twostep.synthetic")),
}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import stays inside its package
                package = path.parent.relative_to(SRC.parent).as_posix().replace("/", ".")
                found.append((node.lineno, package))
            elif node.module:
                found.append((node.lineno, node.module))
    return found


def is_allowed(module: str, third_party: set[str], internal: tuple[str, ...]) -> bool:
    top = module.split(".")[0]
    if top in sys.stdlib_module_names or top == "__future__":
        return True
    if top in third_party:
        return True
    return any(module == p or module.startswith(p + ".") for p in internal)


@pytest.mark.parametrize("package", sorted(RULES))
def test_core_imports_only_what_it_may(package: str) -> None:
    third_party, internal = RULES[package]
    files = sorted((SRC / package).rglob("*.py"))
    assert files, f"no modules found in {package}/"
    offenders = [
        f"{path.relative_to(SRC)}:{line} imports {module}"
        for path in files
        for line, module in imported_modules(path)
        if not is_allowed(module, third_party, internal)
    ]
    assert offenders == []


def test_rule_detects_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import sqlalchemy\nfrom fastapi import FastAPI\nimport numpy as np\n")
    modules = [m for _, m in imported_modules(bad)]
    third_party, internal = RULES["analytics"]
    assert [m for m in modules if not is_allowed(m, third_party, internal)] == [
        "sqlalchemy",
        "fastapi",
    ]
