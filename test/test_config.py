"""The configuration tree: defaults, YAML round trip, and errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from r3d_ros.config import ConfigError, R3DConfig, config_to_yaml, load_config

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_are_valid() -> None:
    config = load_config()
    assert isinstance(config, R3DConfig)
    assert config.model.num_classes == len(config.model.class_names)


def test_yaml_round_trip_is_identical(tmp_path: Path) -> None:
    config = load_config(overrides=["model.class_names=[a,b,c]", "model.fuser.score=rank", "anticipation.fps=15"])
    path = tmp_path / "c.yaml"
    path.write_text(config_to_yaml(config))
    assert load_config(path) == config


def test_override_parses_yaml_values() -> None:
    config = load_config(overrides=["model.ebr.enabled=true", "model.rgb_encoder.channels=[4, 8]"])
    assert config.model.ebr.enabled is True
    assert config.model.rgb_encoder.channels == [4, 8]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.fuser.kind=attention", "model.fuser.kind: must be one of"),
        ("model.token_dim=big", "model.token_dim: expected an integer"),
        ("model.input.height=2", "model.input.height: must be in [8, 1024]"),
        ("model.fuser.blend_fraction=0.9", "model.fuser.blend_fraction: must be in [0, 0.5]"),
        ("anticipation.window=true", "anticipation.window: expected an integer"),
        ("anticipation.horizon_s=-1", "anticipation.horizon_s: must be > 0"),
        ("model.class_names=[a]", "model.class_names: needs at least two classes"),
        ("model.class_names=[a,a]", "model.class_names: contains duplicates"),
        ("model.token_dim=30", "model.token_dim: must be a multiple of fuser.attention_heads"),
        ("model.input.min_depth_m=9", "model.input.min_depth_m: must be in [0, max_depth_m"),
        ("train.ema_decay=1", "train.ema_decay: must be in [0, 1)"),
    ],
)
def test_bad_value_names_the_field(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(overrides=[override])
    assert message in str(error.value)


def test_unknown_key_is_rejected_with_its_path() -> None:
    with pytest.raises(ConfigError, match=r"unknown key\(s\) model.fuser.blend"):
        load_config(overrides=["model.fuser.blend=0.1"])


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")


def test_invalid_yaml_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(path)


def test_yaml_is_never_executed(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("model: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(path)


def test_shipped_training_configs_load() -> None:
    paths = sorted((ROOT / "config" / "train").glob("*.yaml"))
    assert paths, "config/train/ ships at least one training config"
    for path in paths:
        load_config(path)
