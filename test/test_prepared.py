"""Prepared videos: the cache never mixes different settings, and worker processes change nothing."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pytest

from r3d_ros.config import ConfigError, InputConfig, SyntheticConfig, config_from_dict
from r3d_ros.data.prepared import PreparationError, iter_prepared, prepare_dataset
from r3d_ros.data.synthetic import generate_synthetic
from r3d_ros.data.video import Frame
from r3d_ros.runtime.image import RawImage

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


def small_dataset(num_train: int = 3):
    config = SyntheticConfig(num_train=num_train, num_test=0, seconds=2.0, fps=5.0, height=48, width=64)
    return generate_synthetic(config)


def test_worker_processes_prepare_the_same_arrays_as_one_process() -> None:
    alone = prepare_dataset(small_dataset(), SIZE, 5.0, progress=False, workers=1)
    forked = prepare_dataset(small_dataset(), SIZE, 5.0, progress=False, workers=2)
    assert [v.name for v in forked] == [v.name for v in alone]
    for mine, theirs in zip(forked, alone, strict=True):
        np.testing.assert_array_equal(mine.rgb, theirs.rgb)
        np.testing.assert_array_equal(mine.depth, theirs.depth)
        np.testing.assert_array_equal(mine.labels, theirs.labels)
        np.testing.assert_array_equal(mine.rgb_noise, theirs.rgb_noise)


def test_worker_processes_fill_the_cache_that_a_later_run_reads(tmp_path: Path) -> None:
    forked = prepare_dataset(small_dataset(), SIZE, 5.0, tmp_path, progress=False, workers=2)
    assert len(list(tmp_path.glob("*.npz"))) == 3
    assert not list(tmp_path.glob("*.tmp.npz"))
    cached = prepare_dataset(small_dataset(), SIZE, 5.0, tmp_path, progress=False, workers=2)
    for mine, theirs in zip(cached, forked, strict=True):
        np.testing.assert_array_equal(mine.depth, theirs.depth)


def test_only_videos_missing_from_the_cache_are_prepared_again(tmp_path: Path) -> None:
    prepare_dataset(small_dataset(2), SIZE, 5.0, tmp_path, progress=False, workers=2)
    first_two = {path: path.stat().st_mtime_ns for path in tmp_path.glob("*.npz")}
    prepared = prepare_dataset(small_dataset(4), SIZE, 5.0, tmp_path, progress=False, workers=2)
    assert len(prepared) == 4 and len(list(tmp_path.glob("*.npz"))) == 4
    assert {path: path.stat().st_mtime_ns for path in first_two} == first_two


def test_videos_come_one_by_one_in_order_whether_cached_or_prepared_by_workers(tmp_path: Path) -> None:
    prepare_dataset(small_dataset(2), SIZE, 5.0, tmp_path, progress=False, workers=1)  # the first two cached
    alone = prepare_dataset(small_dataset(4), SIZE, 5.0, progress=False, workers=1)
    streamed = list(iter_prepared(small_dataset(4), SIZE, 5.0, tmp_path, workers=2))
    assert [v.name for v in streamed] == [v.name for v in alone]
    for mine, theirs in zip(streamed, alone, strict=True):
        np.testing.assert_array_equal(mine.rgb, theirs.rgb)
        np.testing.assert_array_equal(mine.depth, theirs.depth)


def test_a_consumer_that_stops_early_leaves_no_worker_behind() -> None:
    videos = iter_prepared(small_dataset(4), SIZE, 5.0, workers=2)
    first = next(videos)
    assert first.name == small_dataset(4).videos[0].name
    videos.close()
    assert multiprocessing.active_children() == []


def test_a_malformed_frame_in_a_worker_names_its_video() -> None:
    dataset = small_dataset()
    broken = dataset.videos[1]
    good_load = broken.load

    def load(frame: int) -> Frame:
        loaded = good_load(frame)
        return Frame(RawImage.from_array(np.zeros((4, 4), np.uint16), "16UC1"), loaded.depth)

    broken.load = load
    with pytest.raises(PreparationError, match=broken.name):
        prepare_dataset(dataset, SIZE, 5.0, progress=False, workers=2)


def test_a_negative_number_of_workers_is_refused_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match="workers"):
        config_from_dict({"data": {"workers": -1}})
