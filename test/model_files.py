"""Small real model files and camera streams that several test modules share."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from conftest import small_config

from r3d_ros.model import R3DModel, save_model
from r3d_ros.runtime.image import RawImage


def write_model(path: Path, *overrides: str) -> Path:
    """A seeded untrained model file of conftest's small config with ``overrides`` (BatchNorm statistics set)."""
    torch.manual_seed(0)
    model = R3DModel(small_config(*overrides))
    model.train()
    with torch.no_grad():  # a few batches of BatchNorm statistics so eval mode is not the identity
        model(torch.rand(2, 12, 3, 24, 32), torch.rand(2, 12, 2, 24, 32), torch.ones(2, 12, dtype=torch.bool))
    save_model(path, model.eval())
    return path


def camera_frames(count: int, fps: float = 30.0, seed: int = 0):
    """A moving synthetic scene: (stamp, color bgr8, depth 16UC1) at ``fps``."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    for i in range(count):
        color = np.roll(base, i, axis=1)
        depth = (1000 + 20 * i + rng.integers(0, 50, (60, 80))).astype(np.uint16)
        yield i / fps, RawImage.from_array(color, "bgr8"), RawImage.from_array(depth, "16UC1")
