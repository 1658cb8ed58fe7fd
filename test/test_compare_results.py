"""scripts/compare_results.py: per-seed agreement of two evaluations, the model's numbers and the references apart."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("compare_results", ROOT / "scripts" / "compare_results.py")
compare_results = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_results)


def write(path: Path, model: str, moc: list[float], oracle: list[float], chain: list[float]) -> Path:
    row = {
        "moc/a0.2_b0.5": {"values": moc},
        "reference/oracle/a0.2_b0.5": {"values": oracle},
        "reference/chain_recognised/a0.2_b0.5": {"values": chain},
    }
    path.write_text(json.dumps({"summary": {f"{model}/trained/both": row}}))
    return path


def test_the_models_numbers_the_oracles_and_the_model_reading_references_are_counted_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write(tmp_path / "a.json", "m", [0.3, 0.4], [0.5, 0.6], [0.4, 0.4])
    b = write(tmp_path / "b.json", "m", [0.3, 0.4], [0.5, 0.61], [0.4, 0.4])
    assert compare_results.main([str(a), str(b)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("model: 0 of 2 per-seed values differ")
    assert lines[1].startswith("model-free references: 1 of 2 per-seed values differ, largest by 0.0100")
    assert lines[2].startswith("references that read the model: 0 of 2")


def test_rename_compares_two_models_evaluations_row_for_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(tmp_path / "a.json", "new", [0.1, 0.1], [0.5, 0.6], [0.4, 0.4])
    b = write(tmp_path / "b.json", "old", [0.3, 0.4], [0.5, 0.6], [0.4, 0.4])
    assert compare_results.main([str(a), str(b), "--rename", "new=old"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("model: 2 of 2") and lines[1].startswith("model-free references: 0 of 2")
