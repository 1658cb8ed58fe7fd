"""Resumable training checkpoints in a safe format.

A checkpoint is one safetensors file: the model, the training-only heads and
every optimiser state tensor, plus JSON metadata (config, epoch, optimiser
hyper-parameters, metric history). Nothing is pickled, so a checkpoint from
an untrusted source cannot run code. Files are written atomically; a
truncated or foreign file is refused with the file's name.

Every epoch derives its random streams from (seed, epoch), so resuming from
the checkpoint written after epoch k replays epochs k+1... exactly as an
uninterrupted run would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from r3d_ros.config import R3DConfig, config_to_yaml
from r3d_ros.model.checkpoint import atomic_write, read_safetensors

FORMAT = "r3d_ros.training_state"


class CheckpointError(RuntimeError):
    """A training checkpoint is missing, corrupt, or from another configuration."""


@dataclass
class TrainingState:
    """What a resumed run needs besides the config."""

    epoch: int  # last completed epoch
    modules: dict[str, dict[str, torch.Tensor]]  # name -> state dict
    optimizers: dict[str, dict[str, Any]]  # name -> optimizer.state_dict()
    history: list[dict[str, Any]]
    train_seconds: float = 0.0  # wall time of the completed epochs (evaluations included), over every resume
    teacher_id: str = ""  # model id of the train.teacher file distilled from ('' = none)


def _flatten_optimizer(name: str, state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Move optimiser state tensors into ``tensors``; return the JSON-safe remainder."""
    keys = {}
    for index, slots in state["state"].items():
        for slot, value in slots.items():
            key = f"optimizer.{name}.{index}.{slot}"
            tensors[key] = torch.as_tensor(value).detach().cpu().contiguous()
            keys.setdefault(str(index), []).append(slot)
    return {"param_groups": state["param_groups"], "slots": keys}


def _unflatten_optimizer(name: str, saved: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    state = {
        int(index): {slot: tensors[f"optimizer.{name}.{index}.{slot}"] for slot in slots}
        for index, slots in saved["slots"].items()
    }
    return {"state": state, "param_groups": saved["param_groups"]}


def save_training_state(path: str | Path, config: R3DConfig, state: TrainingState) -> None:
    """Write ``state`` atomically to ``path``."""
    tensors: dict[str, torch.Tensor] = {}
    for module, weights in state.modules.items():
        for key, value in weights.items():
            tensors[f"module.{module}.{key}"] = value.detach().cpu().contiguous()
    optimizers = {name: _flatten_optimizer(name, s, tensors) for name, s in state.optimizers.items()}
    metadata = {
        "format": FORMAT,
        "config": config_to_yaml(config),
        "epoch": str(state.epoch),
        "optimizers": json.dumps(optimizers),
        "history": json.dumps(state.history),
        "train_seconds": repr(float(state.train_seconds)),
        "teacher_model_id": state.teacher_id,
    }
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def load_training_state(path: str | Path, config: R3DConfig) -> TrainingState:
    """Read a checkpoint written by :func:`save_training_state` for the same ``config``."""
    path = Path(path)
    tensors, metadata = read_safetensors(path, CheckpointError, "checkpoint")
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an r3d_ros training checkpoint")
    if metadata.get("config") != config_to_yaml(config):
        raise CheckpointError(f"{path}: written for a different config; resume with the run's own config.yaml")
    modules: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("module."):
            module, name = key[len("module.") :].split(".", 1)
            modules.setdefault(module, {})[name] = value
    optimizers = {
        name: _unflatten_optimizer(name, saved, tensors) for name, saved in json.loads(metadata["optimizers"]).items()
    }
    history = json.loads(metadata["history"])
    # Checkpoints written before the clock was kept resume with the time they did not record as 0.
    train_seconds = float(metadata.get("train_seconds", "0"))
    teacher_id = metadata.get("teacher_model_id", "")
    return TrainingState(int(metadata["epoch"]), modules, optimizers, history, train_seconds, teacher_id)
