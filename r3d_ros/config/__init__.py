"""Configuration: one validated dataclass tree, loaded from YAML, saved with every checkpoint."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from r3d_ros.config.loader import ConfigError, from_dict, merge, parse_override, read_yaml, to_dict
from r3d_ros.config.schema import (
    AnticipationConfig,
    BlurConfig,
    ColorJitterConfig,
    DataConfig,
    DepthCorruptionConfig,
    DistillConfig,
    EBRConfig,
    EBRTrainConfig,
    EncoderConfig,
    EvalConfig,
    FramePretrainConfig,
    FuserConfig,
    InputConfig,
    ModelConfig,
    MonitorConfig,
    NodeConfig,
    R3DConfig,
    RecordingConfig,
    RSCConfig,
    RuntimeConfig,
    StreamConfig,
    SyntheticConfig,
    TeacherConfig,
    TemporalConfig,
    TrainConfig,
    ZoomOutConfig,
)

__all__ = [
    "AnticipationConfig",
    "BlurConfig",
    "ColorJitterConfig",
    "ConfigError",
    "DataConfig",
    "DepthCorruptionConfig",
    "DistillConfig",
    "EBRConfig",
    "EBRTrainConfig",
    "EncoderConfig",
    "EvalConfig",
    "FramePretrainConfig",
    "FuserConfig",
    "InputConfig",
    "ModelConfig",
    "MonitorConfig",
    "NodeConfig",
    "R3DConfig",
    "RSCConfig",
    "RecordingConfig",
    "RuntimeConfig",
    "StreamConfig",
    "SyntheticConfig",
    "TeacherConfig",
    "TemporalConfig",
    "TrainConfig",
    "ZoomOutConfig",
    "config_from_dict",
    "config_to_yaml",
    "load_config",
]


# Sections of the tree that nothing read: deployment settings are the node's parameters and
# r3d-eval-bag's options (NodeConfig, StreamConfig, RuntimeConfig). Model files and run folders
# written before 2026-12-02 still carry them; they are dropped with a warning.
RETIRED_SECTIONS = ("runtime", "stream")


def config_from_dict(data: dict[str, Any]) -> R3DConfig:
    """Validate a plain mapping into an :class:`R3DConfig`."""
    retired = [key for key in RETIRED_SECTIONS if key in data]
    if retired:
        logging.getLogger("r3d_ros.config").warning(
            "ignoring retired config section(s) %s: set these with the node's parameters or r3d-eval-bag's options",
            ", ".join(retired),
        )
        data = {key: value for key, value in data.items() if key not in retired}
    return from_dict(R3DConfig, data)


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> R3DConfig:
    """Load a YAML config (defaults when ``path`` is None) with ``key.path=value`` overrides."""
    data = read_yaml(path) if path is not None else {}
    for override in overrides:
        data = merge(data, parse_override(override))
    return config_from_dict(data)


def config_to_yaml(config: R3DConfig) -> str:
    """Serialise a config tree to YAML that :func:`load_config` reads back identically."""
    return yaml.safe_dump(to_dict(config), sort_keys=False)
