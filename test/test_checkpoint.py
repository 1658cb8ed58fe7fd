"""Model files: round trip, and refusal of anything that is not a valid model file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import small_config
from safetensors.torch import save_file

from r3d_ros.config import ConfigError
from r3d_ros.model import ModelFileError, R3DModel, load_model, save_model
from r3d_ros.model.checkpoint import set_model_setting

SET_SETTING = Path(__file__).resolve().parents[1] / "scripts" / "set_model_setting.py"


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, R3DModel, str]:
    model = R3DModel(small_config("model.ebr.enabled=true")).eval()
    path = tmp_path / "model.safetensors"
    return path, model, save_model(path, model)


def test_round_trip_restores_config_and_outputs(saved: tuple[Path, R3DModel, str]) -> None:
    path, model, model_id = saved
    loaded, metadata = load_model(path)
    assert loaded.config == model.config
    assert metadata["model_id"] == model_id
    rgb, depth = torch.rand(1, 3, 24, 32), torch.rand(1, 2, 24, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode_frames(rgb, depth).fused, model.encode_frames(rgb, depth).fused)


def test_a_recorded_noise_limit_changes_the_config_not_the_weights(saved: tuple[Path, R3DModel, str]) -> None:
    path, _, model_id = saved
    assert set_model_setting(path, "max_depth_noise", 0.03) == model_id
    assert set_model_setting(path, "max_rgb_noise", 12.0) == model_id
    loaded, metadata = load_model(path)
    assert loaded.config.model.max_depth_noise == 0.03 and loaded.config.model.max_rgb_noise == 12.0
    assert metadata["model_id"] == model_id


def test_a_recorded_filter_weight_changes_the_config_not_the_weights(saved: tuple[Path, R3DModel, str]) -> None:
    path, _, model_id = saved
    assert set_model_setting(path, "filter_newest_weight", 1.0) == model_id
    assert load_model(path)[0].config.model.filter_newest_weight == 1.0
    assert set_model_setting(path, "filter_newest_weight", None) == model_id
    assert load_model(path)[0].config.model.filter_newest_weight is None
    assert set_model_setting(path, "filter_remaining_weight", 0.5) == model_id
    assert load_model(path)[0].config.model.filter_remaining_weight == 0.5


@pytest.mark.parametrize(("setting", "frames"), [("live_history", 4), ("live_frames", 3)])
def test_a_recorded_live_reading_changes_how_the_live_stack_is_read_not_the_weights(
    setting: str, frames: int, tmp_path: Path
) -> None:
    path = tmp_path / "live.safetensors"
    model_id = save_model(path, R3DModel(small_config("model.temporal.live_encoder=true")).eval())
    assert set_model_setting(path, setting, frames) == model_id
    loaded, metadata = load_model(path)
    assert getattr(loaded.config.model.temporal, setting) == frames and getattr(loaded.temporal, setting) == frames
    assert metadata["model_id"] == model_id


@pytest.mark.parametrize(("setting", "bad"), [("live_history", -1), ("live_frames", 0)])
def test_a_live_reading_is_refused_for_a_model_without_a_live_stack_or_in_part_frames(
    setting: str, bad: int, saved: tuple[Path, R3DModel, str], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=setting):
        set_model_setting(saved[0], setting, 4)  # the EBR model has no live encoder
    path = tmp_path / "live.safetensors"
    save_model(path, R3DModel(small_config("model.temporal.live_encoder=true")).eval())
    for value in (2.5, bad):
        with pytest.raises(ConfigError, match=setting):
            set_model_setting(path, setting, value)


def test_a_bad_after_training_value_is_refused_naming_the_setting(saved: tuple[Path, R3DModel, str]) -> None:
    path = saved[0]
    with pytest.raises(ConfigError, match="max_depth_noise"):
        set_model_setting(path, "max_depth_noise", -1.0)
    with pytest.raises(ConfigError, match="filter_newest_weight"):
        set_model_setting(path, "filter_newest_weight", 4.5)


def test_a_setting_the_weights_depend_on_is_refused_after_training(saved: tuple[Path, R3DModel, str]) -> None:
    with pytest.raises(ValueError, match="token_dim"):
        set_model_setting(saved[0], "token_dim", 3.0)


def set_setting_script(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SET_SETTING), *arguments], capture_output=True, text=True, check=False)


def test_the_setting_script_writes_a_value_and_none_empties_it(saved: tuple[Path, R3DModel, str]) -> None:
    path, _, model_id = saved
    written = set_setting_script(str(path), "filter_newest_weight", "1.0")
    assert written.returncode == 0 and model_id in written.stdout, written.stderr
    assert load_model(path)[0].config.model.filter_newest_weight == 1.0
    assert set_setting_script(str(path), "filter_newest_weight", "none").returncode == 0
    assert load_model(path)[0].config.model.filter_newest_weight is None


def test_the_setting_script_names_a_bad_value_and_leaves_the_file(saved: tuple[Path, R3DModel, str]) -> None:
    path = saved[0]
    before = path.read_bytes()
    refused = set_setting_script(str(path), "max_depth_noise", "-1")
    assert refused.returncode == 2 and "model.max_depth_noise" in refused.stderr
    assert path.read_bytes() == before


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "nothing.safetensors")


def test_truncated_file_is_refused(saved: tuple[Path, R3DModel, str]) -> None:
    path = saved[0]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelFileError, match="not a readable safetensors"):
        load_model(path)


def test_altered_weights_are_refused(saved: tuple[Path, R3DModel, str]) -> None:
    path = saved[0]
    data = bytearray(path.read_bytes())
    data[-8:] = b"\x00\x00\x80\x7f" * 2  # overwrite the last weights with inf
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="recorded model id"):
        load_model(path)


def test_foreign_safetensors_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(ModelFileError, match="not an r3d_ros model file"):
        load_model(path)


def test_weights_from_another_config_are_refused(saved: tuple[Path, R3DModel, str], tmp_path: Path) -> None:
    path = saved[0]
    from safetensors import safe_open
    from safetensors.torch import load_file

    from r3d_ros.config import config_to_yaml

    with safe_open(str(path), framework="pt") as handle:
        metadata = dict(handle.metadata())
    metadata["config"] = config_to_yaml(small_config("model.token_dim=64"))
    other = tmp_path / "mismatched.safetensors"
    save_file(load_file(str(path)), str(other), metadata=metadata)
    with pytest.raises(ModelFileError, match="do not match the embedded config"):
        load_model(other)


def test_save_is_atomic_and_leaves_no_temporary_files(saved: tuple[Path, R3DModel, str]) -> None:
    path = saved[0]
    assert [p.name for p in path.parent.iterdir()] == [path.name]
