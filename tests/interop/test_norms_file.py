"""Norms files: atomic JSON writes, validated reads that name file and field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from twostep.analytics.norms_model import NormsModel
from twostep.api import fit_norms
from twostep.cli.demo_data import synthetic_table
from twostep.errors import InputFileError
from twostep.interop.norms_file import read_norms, write_norms
from twostep.synthetic import SyntheticParams, generate_episodes


@pytest.fixture(scope="module")
def model() -> NormsModel:
    data = generate_episodes(SyntheticParams(n_clients=400, seed=11))
    cols = synthetic_table(data, items=False)
    table = pa.table({k: pa.array(v, from_pandas=True) for k, v in cols.items()})
    return fit_norms(table, instrument="phq9", created_at="2025-01-01T00:00:00+00:00")


def test_round_trip(tmp_path: Path, model: NormsModel) -> None:
    path = tmp_path / "sub" / "norms.json"
    write_norms(model, path)
    assert read_norms(path) == model
    assert json.loads(path.read_text(encoding="utf-8"))["instrument_id"] == "phq9"
    assert sorted(p.name for p in path.parent.iterdir()) == ["norms.json"]  # no temp files


def test_overwrite_replaces_the_file(tmp_path: Path, model: NormsModel) -> None:
    path = tmp_path / "norms.json"
    path.write_text("old", encoding="utf-8")
    write_norms(model, path)
    assert read_norms(path) == model


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as info:
        read_norms(tmp_path / "none.json")
    assert info.value.problems[0].code == "not_found"


def test_directory_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as info:
        read_norms(tmp_path)
    assert info.value.problems[0].code == "unreadable"


def test_malformed_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "norms.json"
    path.write_text('{\n  "a": 1,\n  oops\n}\n', encoding="utf-8")
    with pytest.raises(InputFileError) as info:
        read_norms(path)
    [problem] = info.value.problems
    assert problem.code == "malformed_json"
    assert problem.where == f"{path}, line 3"


def test_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "norms.json"
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(InputFileError) as info:
        read_norms(path)
    assert info.value.problems[0].code == "malformed_json"


def test_invalid_field_names_file_and_field(tmp_path: Path, model: NormsModel) -> None:
    data = model.to_dict()
    data["taus"] = [0.9, 0.1]
    del data["n_scores"]
    path = tmp_path / "norms.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputFileError) as info:
        read_norms(path)
    wheres = [p.where for p in info.value.problems]
    assert all(w.startswith(f"{path}: ") for w in wheres)
    assert any("taus" in w for w in wheres)
    assert any("n_scores" in w for w in wheres)


def test_model_predicts_after_reading(tmp_path: Path, model: NormsModel) -> None:
    path = tmp_path / "norms.json"
    write_norms(model, path)
    loaded = read_norms(path)
    assert np.allclose(np.asarray(loaded.coefficients), np.asarray(model.coefficients))
