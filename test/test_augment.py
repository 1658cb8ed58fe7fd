"""Colour jitter of training RGB: what it changes, what it keeps, and that it is off unless configured."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from r3d_ros.config import ColorJitterConfig, ConfigError, load_config
from r3d_ros.data.prepared import PreparedVideo
from r3d_ros.train.augment import jitter_rgb
from r3d_ros.train.batches import make_batch

JITTER = ColorJitterConfig(gain=0.3, bias=0.1)
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "config" / "train" / "default.yaml"


def frames(count: int = 5) -> np.ndarray:
    return np.random.default_rng(0).uniform(0.2, 0.8, size=(count, 3, 6, 8)).astype(np.float32)


def test_a_video_gets_one_gain_and_offset_per_channel() -> None:
    rgb = frames()
    out = jitter_rgb(rgb, JITTER, np.random.default_rng(1), per_frame=False)
    assert out.dtype == np.float32 and out.shape == rgb.shape
    for channel in range(3):  # out = gain * in + bias with the same gain and bias on every frame
        gain, bias = np.polyfit(rgb[:, channel].ravel(), out[:, channel].ravel(), 1)
        np.testing.assert_allclose(out[:, channel], gain * rgb[:, channel] + bias, atol=1e-5)
        assert 0.7 <= gain <= 1.3 and -0.1 <= bias <= 0.1


def test_per_frame_jitter_differs_between_frames() -> None:
    rgb = np.repeat(frames(1), 4, axis=0)
    out = jitter_rgb(rgb, JITTER, np.random.default_rng(1), per_frame=True)
    assert not np.allclose(out[0], out[1])


def test_jittered_values_stay_in_range() -> None:
    rgb = np.stack([np.zeros((3, 6, 8)), np.ones((3, 6, 8))]).astype(np.float32)
    out = jitter_rgb(rgb, ColorJitterConfig(gain=0.9, bias=0.5), np.random.default_rng(2), per_frame=True)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_jitter_settings_out_of_range_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="gain"):
        ColorJitterConfig(gain=1.5)
    with pytest.raises(ConfigError, match="bias"):
        ColorJitterConfig(bias=-0.1)


def video(length: int = 30) -> PreparedVideo:
    rng = np.random.default_rng(3)
    return PreparedVideo(
        name="video",
        rgb=rng.uniform(0.2, 0.8, size=(length, 3, 6, 8)).astype(np.float16),
        depth=rng.uniform(0, 1, size=(length, 2, 6, 8)).astype(np.float16),
        depth_present=np.ones(length, dtype=bool),
        labels=np.repeat(np.arange(3), length // 3),
        stamps=np.arange(length) / 10.0,
    )


@pytest.mark.parametrize("enabled", [False, True])
def test_training_batches_jitter_rgb_only_when_configured(enabled: bool) -> None:
    config = load_config(DEFAULT_CONFIG)
    jitter = JITTER if enabled else ColorJitterConfig()
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, rgb_jitter=jitter))
    item = video()
    batch = make_batch([item], config, [np.random.default_rng(0)])
    np.testing.assert_array_equal(batch.depth.numpy(), item.depth.astype(np.float32))
    assert np.allclose(batch.rgb.numpy(), item.rgb.astype(np.float32)) != enabled
