"""Documentation and launch files stay in step with the code."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

pytest.importorskip("rclpy", reason="rclpy not installed: run the tests through `make test`")
from r3d_ros.ros.launch_args import LaunchArgumentError, fastdds_profile, parameter_overrides
from r3d_ros.ros.parameters import PARAMETERS

ROOT = Path(__file__).resolve().parents[1]


def test_parameter_reference_is_generated_from_the_code() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_parameter_docs.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_model_card_is_generated_from_the_shipped_model_and_its_evaluation() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "model_card.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def model_card() -> ModuleType:
    """scripts/model_card.py as a module (scripts are not a package)."""
    spec = importlib.util.spec_from_file_location("model_card", ROOT / "scripts" / "model_card.py")
    card = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(card)
    return card


def test_model_card_refuses_another_recipes_draw_as_a_training_seed(tmp_path: Path) -> None:
    card = model_card()
    shipped = card.recipe(card.SEEDS / "runs" / "fused-seed1" / "config.yaml")
    other = yaml.safe_load((card.SEEDS / "runs" / "fused-seed1" / "config.yaml").read_text())
    other["train"]["seed"] = 5
    run_config = tmp_path / "config.yaml"
    run_config.write_text(yaml.safe_dump(other))
    card.same_recipe(shipped, run_config)  # another seed is the same recipe
    other["model"]["temporal"]["dim"] = 64
    run_config.write_text(yaml.safe_dump(other))
    with pytest.raises(ValueError, match=r"model\.temporal\.dim"):
        card.same_recipe(shipped, run_config)


def test_model_card_takes_a_draw_decoded_another_way_as_the_same_recipe(tmp_path: Path) -> None:
    card = model_card()
    shipped = card.recipe(card.SEEDS / "runs" / "fused-seed1" / "config.yaml")
    other = yaml.safe_load((card.SEEDS / "runs" / "fused-seed1" / "config.yaml").read_text())
    other["model"]["filter_newest_weight"] = 3.0  # set after training: the weights do not depend on them
    other["model"]["temporal"]["live_frames"] = 4
    run_config = tmp_path / "config.yaml"
    run_config.write_text(yaml.safe_dump(other))
    card.same_recipe(shipped, run_config)
    assert card.decoded_with(card.recipe(run_config)) == "0.5 / 3; 4; 1"


def test_model_card_quotes_a_rerun_as_another_draw_only_when_every_setting_and_the_seed_match(tmp_path: Path) -> None:
    card = model_card()
    shipped = card.recipe(card.SEEDS / "runs" / "fused-seed1" / "config.yaml")
    rerun = yaml.safe_load((card.SEEDS / "runs" / "fused-seed1" / "config.yaml").read_text())
    rerun["data"]["cache_dir"] = str(tmp_path / "cache")
    run_config = tmp_path / "config.yaml"
    run_config.write_text(yaml.safe_dump(rerun))
    assert card.rerun_of(shipped, run_config)  # where the videos were cached does not change the recipe
    rerun["train"]["seed"] = 5
    run_config.write_text(yaml.safe_dump(rerun))
    assert not card.rerun_of(shipped, run_config)  # another seed is another draw on purpose, not a rerun


def test_params_file_lists_every_node_parameter_with_its_default() -> None:
    values = yaml.safe_load((ROOT / "config" / "anticipate.yaml").read_text())["/**"]["ros__parameters"]
    assert values == {p.name: p.default for p in PARAMETERS}
    assert all(type(values[p.name]) is type(p.default) for p in PARAMETERS)


def test_launch_arguments_left_empty_leave_the_params_file_in_charge() -> None:
    given = {"model_path": "", "backend": "onnxruntime", "color_topic": "", "namespace": "robot1"}
    assert parameter_overrides(given) == {"backend": "onnxruntime"}


@pytest.mark.parametrize("path", ["", "   ", "/nonexistent/profile.xml"])
def test_an_empty_or_missing_fastdds_profile_is_refused_by_name(path: str) -> None:
    with pytest.raises(LaunchArgumentError, match="fastdds_profile"):
        fastdds_profile(path)


def test_the_shipped_fastdds_profile_is_accepted() -> None:
    path = str(ROOT / "config" / "fastdds_large_images.xml")
    assert fastdds_profile(path) == path


def _launch_module():
    if importlib.util.find_spec("launch_ros") is None:
        pytest.skip("launch_ros is not installed here (no PyPI wheel); the launch file is checked on a ROS install")
    spec = importlib.util.spec_from_file_location("anticipate_launch", ROOT / "launch" / "anticipate.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_launch_file_declares_its_arguments() -> None:
    module = _launch_module()
    from launch.actions import DeclareLaunchArgument

    description = module.generate_launch_description()
    names = {entity.name for entity in description.entities if isinstance(entity, DeclareLaunchArgument)}
    assert names >= {"params_file", "model_path", "backend", "input_source", "color_topic", "depth_topic",
                     "use_sim_time", "fastdds_profile", "namespace", "output_topic"}  # fmt: skip


def test_launch_file_builds_the_node_from_given_arguments() -> None:
    module = _launch_module()
    from launch import LaunchContext
    from launch_ros.actions import LifecycleNode

    context = LaunchContext()
    context.launch_configurations.update({name: "" for name in module.ARGUMENTS})
    context.launch_configurations.update({
        "params_file": str(ROOT / "config" / "anticipate.yaml"),
        "fastdds_profile": str(ROOT / "config" / "fastdds_large_images.xml"),
        "output_topic": "anticipated_action", "use_sim_time": "false", "backend": "onnxruntime",
    })  # fmt: skip
    actions = module.launch_setup(context)
    assert any(isinstance(action, LifecycleNode) for action in actions)
    context.launch_configurations["fastdds_profile"] = ""
    with pytest.raises(LaunchArgumentError):
        module.launch_setup(context)
