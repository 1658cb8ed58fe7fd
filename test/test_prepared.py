"""Prepared videos: the cache never mixes frames rendered with different settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from r3d_ros.config import InputConfig, SyntheticConfig
from r3d_ros.data.prepared import prepare_dataset
from r3d_ros.data.synthetic import generate_synthetic

SIZE = InputConfig(height=24, width=32)


def prepared(cache: Path, rgb_noise: float):
    config = SyntheticConfig(num_train=1, num_test=0, seconds=2.0, fps=5.0, height=48, width=64, rgb_noise=rgb_noise)
    return prepare_dataset(generate_synthetic(config), SIZE, 5.0, cache, progress=False)[0]


def test_cached_video_equals_a_fresh_preparation(tmp_path: Path) -> None:
    first = prepared(tmp_path, 2.0)
    again = prepared(tmp_path, 2.0)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    np.testing.assert_array_equal(first.rgb, again.rgb)
    np.testing.assert_array_equal(first.labels, again.labels)


def test_cache_keeps_different_benchmark_settings_apart(tmp_path: Path) -> None:
    quiet = prepared(tmp_path, 2.0)
    noisy = prepared(tmp_path, 40.0)
    assert len(list(tmp_path.glob("*.npz"))) == 2
    assert np.abs(noisy.rgb.astype(np.float32) - quiet.rgb.astype(np.float32)).mean() > 0.01
