"""Per-frame targets read through the training windows' indices: near-change weights, and remaining frames."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from r3d_ros.config import ConfigError, TrainConfig, load_config
from r3d_ros.data.prepared import PreparedVideo
from r3d_ros.data.sampling import remaining_after
from r3d_ros.model.losses import IGNORE
from r3d_ros.train.batches import boundary_weights, make_batch, segmentation_weights

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "config" / "train" / "default.yaml"


def test_frames_on_both_sides_of_each_change_get_the_weight() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2])
    weights = boundary_weights(labels, frames=2, weight=3.0)
    assert weights.tolist() == [1, 1, 3, 3, 3, 3, 1, 3, 3, 3, 3]


def test_a_video_of_one_action_has_no_boundary() -> None:
    assert boundary_weights(np.full(6, 4), frames=3, weight=2.0).tolist() == [1.0] * 6


def test_near_change_weights_multiply_the_recent_frame_weights() -> None:
    recent = torch.tensor([[1.0, 1.0, 3.0]])
    near_change = np.array([[2.0, 1.0, 2.0]])
    assert segmentation_weights(recent, near_change).tolist() == [[2.0, 1.0, 6.0]]
    assert segmentation_weights(None, near_change).tolist() == [[2.0, 1.0, 2.0]]
    assert segmentation_weights(recent, None) is recent


def video(length: int = 40) -> PreparedVideo:
    rng = np.random.default_rng(3)
    return PreparedVideo(
        name="video",
        rgb=rng.uniform(0.2, 0.8, size=(length, 3, 6, 8)).astype(np.float16),
        depth=rng.uniform(0, 1, size=(length, 2, 6, 8)).astype(np.float16),
        depth_present=np.ones(length, dtype=bool),
        labels=np.repeat(np.arange(4), length // 4),
        stamps=np.arange(length) / 10.0,
        depth_noise=np.full(length, 0.01, dtype=np.float32),
        rgb_noise=np.full(length, 1.0, dtype=np.float32),
    )


def batch_weights(frames: int, weight: float) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    config = load_config(DEFAULT_CONFIG)
    train = dataclasses.replace(config.train, boundary_frames=frames, boundary_weight=weight)
    batch = make_batch([video()], dataclasses.replace(config, train=train), [np.random.default_rng(0)])
    return batch.targets.segmentation_weight, batch.window_index, batch.window_mask


def test_training_windows_weigh_the_frames_near_a_change_of_their_video() -> None:
    weights, index, mask = batch_weights(frames=2, weight=3.0)
    expected = boundary_weights(video().labels, 2, 3.0)
    assert weights is not None
    for row, real, window_weights in zip(index.numpy(), mask.numpy(), weights.numpy(), strict=True):
        np.testing.assert_array_equal(window_weights[real], expected[row[real]])
        assert (window_weights[~real] == 1.0).all()
    assert (weights == 3.0).any()


@pytest.mark.parametrize(("frames", "weight"), [(0, 3.0), (2, 1.0)])
def test_no_weights_when_switched_off(frames: int, weight: float) -> None:
    weights, _, _ = batch_weights(frames, weight)
    assert weights is None


def test_bad_boundary_settings_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="boundary_frames"):
        TrainConfig(boundary_frames=-1)
    with pytest.raises(ConfigError, match="boundary_weight"):
        TrainConfig(boundary_weight=0.0)


def test_training_windows_carry_each_frames_remaining_frames_when_the_model_has_the_head() -> None:
    config = load_config(DEFAULT_CONFIG)
    model = dataclasses.replace(config.model, temporal=dataclasses.replace(config.model.temporal, remaining_frames=6))
    batch = make_batch([video()], dataclasses.replace(config, model=model), [np.random.default_rng(0)])
    expected = remaining_after(video().labels, 6)
    targets = batch.targets.remaining
    for row, real, window_targets in zip(
        batch.window_index.numpy(), batch.window_mask.numpy(), targets.numpy(), strict=True
    ):
        np.testing.assert_array_equal(window_targets[real], expected[row[real]])
        assert (window_targets[~real] == IGNORE).all()


def test_no_remaining_targets_without_the_head() -> None:
    config = load_config(DEFAULT_CONFIG, overrides=["model.temporal.remaining_frames=0"])
    assert make_batch([video()], config, [np.random.default_rng(0)]).targets.remaining is None
