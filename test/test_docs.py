"""Documentation and launch files stay in step with the code."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("rclpy", reason="rclpy not installed: run the tests through `make test`")
from r3d_ros.ros.parameters import PARAMETERS

ROOT = Path(__file__).resolve().parents[1]


def test_parameter_reference_is_generated_from_the_code() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_parameter_docs.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_params_file_lists_every_node_parameter_with_its_default() -> None:
    values = yaml.safe_load((ROOT / "config" / "anticipate.yaml").read_text())["/**"]["ros__parameters"]
    assert values == {p.name: p.default for p in PARAMETERS}
    assert all(type(values[p.name]) is type(p.default) for p in PARAMETERS)


def test_launch_file_describes_the_node() -> None:
    if importlib.util.find_spec("launch_ros") is None:
        pytest.skip("launch_ros is not installed here (no PyPI wheel); the launch file is checked on a ROS install")
    spec = importlib.util.spec_from_file_location("anticipate_launch", ROOT / "launch" / "anticipate.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    names = {getattr(entity, "name", None) for entity in description.entities}
    for argument in (
        "params_file",
        "model_path",
        "backend",
        "input_source",
        "color_topic",
        "depth_topic",
        "use_sim_time",
        "fastdds_profile",
    ):
        assert argument in names
