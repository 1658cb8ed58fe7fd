"""scripts/merge_eval.py: one table from r3d-eval-model runs split by seeds; what it divides by, what it refuses."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from r3d_ros.eval.model_eval import KEYS

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("merge_eval", ROOT / "scripts" / "merge_eval.py")
merge_eval = importlib.util.module_from_spec(spec)
spec.loader.exec_module(merge_eval)


def row(moc: list[float], oracle: list[float], segmentation: list[float]) -> dict[str, dict[str, list[float]]]:
    metrics = {f"moc/{k}": moc for k in KEYS} | {f"reference/oracle/{k}": oracle for k in KEYS}
    return {name: {"values": values} for name, values in (metrics | {"segmentation_accuracy": segmentation}).items()}


def write_run(path: Path, seeds: list[int], rows: dict[str, dict]) -> Path:
    path.write_text(json.dumps({"seeds": seeds, "summary": rows}))
    return path


def table(output: str) -> dict[str, list[str]]:
    """The last table's rows by their first cell."""
    rows = [line.strip("|").split("|") for line in output.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): [cell.strip() for cell in cells[1:]] for cells in rows}


def test_runs_split_by_seed_are_joined_and_divided_by_the_oracle_as_a_ratio_of_the_seeds_means(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write_run(tmp_path / "a.json", [1], {"m/trained/both": row([0.2], [0.5], [0.9])})
    second = write_run(tmp_path / "b.json", [2], {"m/trained/both": row([0.6], [0.5], [0.8])})
    assert merge_eval.main(["--models", "m", "--results", str(first), str(second)]) == 0
    assert table(capsys.readouterr().out)["m"] == ["0.800"] * len(KEYS) + ["0.850"]


def test_relative_divides_a_condition_by_the_same_models_trained_setting_with_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = {
        "m/trained/both": row([0.5, 0.3], [1, 1], [1.0, 1.0]),
        "m/trained/depth_absent": row([0.3, 0.3], [1, 1], [0.9, 0.7]),
    }
    run = write_run(tmp_path / "a.json", [1, 2], rows)
    assert merge_eval.main(["--models", "m", "--results", str(run), "--condition", "depth_absent", "--relative"]) == 0
    assert table(capsys.readouterr().out)["m"] == ["0.750"] * len(KEYS) + ["0.800"]


def test_two_runs_that_disagree_on_a_seed_are_refused(tmp_path: Path) -> None:
    first = write_run(tmp_path / "a.json", [1], {"m/trained/both": row([0.2], [0.5], [0.9])})
    second = write_run(tmp_path / "b.json", [1], {"m/trained/both": row([0.3], [0.5], [0.9])})
    with pytest.raises(SystemExit):
        merge_eval.main(["--models", "m", "--results", str(first), str(second)])


def test_mean_adds_each_columns_mean_over_the_models_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = {"a/trained/both": row([0.4], [0.5], [0.9]), "b/trained/both": row([0.5], [0.5], [0.7])}
    run = write_run(tmp_path / "a.json", [1], rows)
    assert merge_eval.main(["--models", "a", "b", "--results", str(run), "--mean"]) == 0
    assert table(capsys.readouterr().out)["(mean of the models)"] == ["0.900"] * len(KEYS) + ["0.800"]


def test_a_prefixed_run_renames_its_models_so_two_runs_naming_different_files_alike_compare(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = write_run(tmp_path / "a.json", [1], {"seed2/trained/both": row([0.2], [0.5], [0.9])})
    new = write_run(tmp_path / "b.json", [1], {"seed2/trained/both": row([0.3], [0.5], [0.9])})
    arguments = ["--models", "seed2", "old_seed2", "--results", str(new), f"old_={old}", "--against", "old_seed2"]
    assert merge_eval.main(arguments) == 0
    assert table(capsys.readouterr().out)["seed2"][0] == "+0.100 (1)"  # paired MoC, ahead on 1 seed
