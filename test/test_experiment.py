"""r3d-experiment's parallel trainings: every run happens, and a killed process ends the experiment with an error."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from r3d_ros.train.experiment import TrainingProcessDied, run_in_processes


def test_every_item_runs_in_a_spawned_process(tmp_path: Path) -> None:
    folders = [tmp_path / name for name in "abc"]
    run_in_processes(os.mkdir, folders, jobs=2)
    assert all(folder.is_dir() for folder in folders)


def test_an_error_in_a_run_reaches_the_caller(tmp_path: Path) -> None:
    with pytest.raises(FileExistsError):
        run_in_processes(os.mkdir, [tmp_path], jobs=2)


def test_a_killed_training_process_stops_the_experiment_instead_of_hanging() -> None:
    with pytest.raises(TrainingProcessDied, match="out-of-memory"):
        run_in_processes(signal.raise_signal, [signal.SIGKILL], jobs=2)
