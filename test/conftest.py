"""Shared fixtures: small configs and a DDS domain of the test session's own."""

from __future__ import annotations

import os
import random

import pytest
import torch

# Each test session gets its own DDS domain so concurrent runs on one machine never
# see each other's topics; discovery stays on loopback (scripts/with-env sets it too).
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(1, 100)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")

from r3d_ros.config import R3DConfig, load_config

CLASSES = ["reach", "grasp", "lift", "place", "wave"]


def small_config(*overrides: str) -> R3DConfig:
    """A small model config (fast on CPU) with extra ``key=value`` overrides."""
    return load_config(
        overrides=[
            f"model.class_names=[{','.join(CLASSES)}]",
            "model.token_dim=32",
            "model.rgb_encoder.channels=[8,16]",
            "model.depth_encoder.channels=[8,16]",
            "model.input.height=24",
            "model.input.width=32",
            "model.temporal.dim=32",
            "anticipation.horizon_s=2.0",
            "model.fuser.blend_fraction=0.25",
            "anticipation.window=12",
            *overrides,
        ]
    )


@pytest.fixture
def config() -> R3DConfig:
    return small_config()


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
