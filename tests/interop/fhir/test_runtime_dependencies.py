"""The FHIR package must run without fhir.resources (the tests alone use it to validate)."""

from __future__ import annotations

import ast
import types
from pathlib import Path

import twostep.interop.fhir as package

SRC = Path(package.__file__).parent


def test_no_runtime_import_of_fhir_resources() -> None:
    offenders = []
    for path in sorted(SRC.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.name}: {n}" for n in names if n.split(".")[0] in ("fhir", "fhir_core")
            ]
    assert offenders == []


def test_public_names() -> None:
    public = {
        n
        for n in dir(package)
        if not n.startswith("_")
        and not isinstance(getattr(package, n), types.ModuleType)
        and n != "annotations"
    }
    assert set(package.__all__) == public
