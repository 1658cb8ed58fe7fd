"""Model files: safetensors weights plus the full config, written atomically, read safely.

A model file carries everything needed to rebuild the network and reproduce
its inputs (the config tree: input size, frame rate, window, horizon, class
names), so nothing about the model has to be repeated in node parameters.
Nothing is ever unpickled. A missing, truncated, foreign or mismatched file is
refused with a :class:`ModelFileError` that names the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
import yaml
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from r3d_ros.config import ConfigError, config_from_dict, config_to_yaml
from r3d_ros.model.r3d import R3DModel

FORMAT = "r3d_ros.model"
FORMAT_VERSION = "1"


class ModelFileError(RuntimeError):
    """A model file cannot be used: missing, corrupt, or not matching its config."""


def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file normal permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """Short content hash of a state dict, used as the model id."""
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:12]


def save_model(path: str | Path, model: R3DModel, metadata: dict[str, str] | None = None) -> str:
    """Write ``model`` and its config to ``path`` (.safetensors); return the model id."""
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    model_id = state_digest(state)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": config_to_yaml(model.config),
        "model_id": model_id,
        **(metadata or {}),
    }
    atomic_write(path, lambda tmp: save_file(state, tmp, metadata=header))
    return model_id


def read_safetensors(path: Path, error: type[Exception], what: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of a safetensors file; a missing or unreadable file raises ``error`` naming it."""
    if not path.is_file():
        raise error(f"{what} not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        return load_file(str(path)), metadata
    except (SafetensorError, OSError, ValueError) as reason:
        raise error(f"{path}: not a readable safetensors {what} ({reason})") from None


def read_model_file(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Return (state dict, metadata) of a model file, refusing anything that is not one."""
    path = Path(path)
    state, metadata = read_safetensors(path, ModelFileError, "model file")
    if metadata.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not an r3d_ros model file (format={metadata.get('format')!r})")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model format version {metadata.get('format_version')!r} is not supported "
            f"(this r3d_ros reads version {FORMAT_VERSION})"
        )
    return state, metadata


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[R3DModel, dict[str, str]]:
    """Rebuild the model a file describes and load its weights (eval mode)."""
    state, metadata = read_model_file(path)
    try:
        config = config_from_dict(yaml.safe_load(metadata["config"]))
    except (KeyError, ConfigError, yaml.YAMLError) as error:
        raise ModelFileError(f"{path}: embedded config is missing or invalid: {error}") from None
    model = R3DModel(config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ModelFileError(f"{path}: weights do not match the embedded config: {error}") from None
    if state_digest(state) != metadata.get("model_id"):
        raise ModelFileError(f"{path}: weights do not match the recorded model id (file altered or corrupt)")
    return model.to(device).eval(), metadata


# Settings a finished model file may change: they act after the network (which frames the node
# keeps, how the grammar filter weighs the network's outputs), so the weights stay what was trained.
AFTER_TRAINING_SETTINGS = (
    "max_depth_noise",
    "max_rgb_noise",
    "filter_evidence_weight",
    "filter_newest_weight",
    "filter_remaining_weight",
    "live_history",
    "live_frames",
)


def set_model_setting(path: str | Path, setting: str, value: float | None) -> str:
    """Record ``value`` as ``model.<setting>`` in the model file at ``path``; returns its (unchanged) model id.

    The noise limits are measured after training (``r3d_ros.eval.noise_limit``) and
    the filter weights are chosen on evaluations of the trained model, so only the
    embedded config changes. Raises ValueError for a setting not in
    ``AFTER_TRAINING_SETTINGS`` and ConfigError naming a bad value.
    """
    if setting not in AFTER_TRAINING_SETTINGS:
        raise ValueError(f"model.{setting} is not set after training (one of {', '.join(AFTER_TRAINING_SETTINGS)})")
    model, metadata = load_model(path)
    if setting in ("live_history", "live_frames"):  # model.temporal.*: how the live stack is read
        if value is None or value != int(value):
            raise ConfigError(f"model.temporal.{setting}: expected a whole number of frames, got {value}")
        getattr(model, f"set_{setting}")(int(value))
    else:
        settings = dataclasses.replace(model.config.model, **{setting: value})
        model.config = dataclasses.replace(model.config, model=settings)
    extra = {k: v for k, v in metadata.items() if k not in ("format", "format_version", "config", "model_id")}
    return save_model(path, model, extra)
