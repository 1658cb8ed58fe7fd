"""Augmentation of training frames (colour jitter, blur, zooming out): what each changes and keeps, off by default."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from r3d_ros.config import (
    BlurConfig,
    ColorJitterConfig,
    ConfigError,
    DepthCorruptionConfig,
    InputConfig,
    ZoomOutConfig,
    load_config,
)
from r3d_ros.data.prepared import PreparedVideo
from r3d_ros.runtime.preprocess import prepare_depth
from r3d_ros.train.augment import augment_rgb, blur_rgb, corrupt_depth, jitter_rgb, zoom_out
from r3d_ros.train.batches import make_batch

JITTER = ColorJitterConfig(gain=0.3, bias=0.1)
BLUR = BlurConfig(probability=1.0, max_sigma=1.5)
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


def video(length: int = 30, size: tuple[int, int] = (6, 8)) -> PreparedVideo:
    rng = np.random.default_rng(3)
    return PreparedVideo(
        name="video",
        rgb=rng.uniform(0.2, 0.8, size=(length, 3, *size)).astype(np.float16),
        depth=rng.uniform(0, 1, size=(length, 2, *size)).astype(np.float16),
        depth_present=np.ones(length, dtype=bool),
        labels=np.repeat(np.arange(3), length // 3),
        stamps=np.arange(length) / 10.0,
        depth_noise=np.full(length, 0.01, dtype=np.float32),
        rgb_noise=np.full(length, 1.0, dtype=np.float32),
    )


@pytest.mark.parametrize(
    ("jitter", "blur"), [(ColorJitterConfig(), BlurConfig()), (JITTER, BlurConfig()), (ColorJitterConfig(), BLUR)]
)
def test_training_batches_change_rgb_only_when_configured(jitter: ColorJitterConfig, blur: BlurConfig) -> None:
    config = load_config(DEFAULT_CONFIG)
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, rgb_jitter=jitter, rgb_blur=blur))
    item = video()
    batch = make_batch([item], config, [np.random.default_rng(0)])
    np.testing.assert_array_equal(batch.depth.numpy(), item.depth.astype(np.float32))
    assert np.allclose(batch.rgb.numpy(), item.rgb.astype(np.float32)) != (jitter.enabled or blur.enabled)


def high_frequency_energy(rgb: np.ndarray) -> float:
    return float(np.abs(np.diff(rgb, axis=-1)).mean() + np.abs(np.diff(rgb, axis=-2)).mean())


def test_blur_removes_fine_texture_and_keeps_mean_brightness() -> None:
    rgb = frames()
    out = blur_rgb(rgb, BLUR, np.random.default_rng(1), per_frame=True)
    assert out.dtype == np.float32 and out.shape == rgb.shape
    assert high_frequency_energy(out) < 0.7 * high_frequency_energy(rgb)
    np.testing.assert_allclose(out.mean(axis=(2, 3)), rgb.mean(axis=(2, 3)), atol=0.03)


def test_a_video_is_blurred_with_one_sigma() -> None:
    rgb = np.repeat(frames(1), 4, axis=0)
    out = blur_rgb(rgb, BLUR, np.random.default_rng(1), per_frame=False)
    for frame in out[1:]:
        np.testing.assert_array_equal(frame, out[0])
    assert not np.allclose(out[0], rgb[0])


def test_blur_probability_decides_how_many_frames_are_blurred() -> None:
    rgb = np.repeat(frames(1), 400, axis=0)
    out = blur_rgb(rgb, BlurConfig(probability=0.25), np.random.default_rng(4), per_frame=True)
    changed = ~np.isclose(out, rgb).all(axis=(1, 2, 3))
    assert 0.18 < changed.mean() < 0.32


def test_blur_leaves_the_input_array_unchanged() -> None:
    rgb = frames()
    before = rgb.copy()
    blur_rgb(rgb, BLUR, np.random.default_rng(1), per_frame=True)
    np.testing.assert_array_equal(rgb, before)


def test_augmentation_off_returns_the_frames_and_draws_nothing() -> None:
    rgb, rng = frames(), np.random.default_rng(5)
    assert augment_rgb(rgb, ColorJitterConfig(), BlurConfig(), rng, per_frame=True) is rgb
    assert rng.random() == np.random.default_rng(5).random()


def test_blur_settings_out_of_range_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="probability"):
        BlurConfig(probability=1.5)
    with pytest.raises(ConfigError, match="max_sigma"):
        BlurConfig(max_sigma=0.1)


def figure_scene() -> tuple[np.ndarray, np.ndarray]:
    """One 40x40 frame: a bright square 2 m away in the middle of a dark wall 4 m away (max depth 6 m)."""
    rgb = np.full((1, 3, 40, 40), 0.2, dtype=np.float32)
    rgb[:, :, 10:30, 10:30] = 0.9
    depth = np.stack([np.full((40, 40), 4 / 6), np.ones((40, 40))]).astype(np.float32)[None]
    depth[:, 0, 10:30, 10:30] = 2 / 6
    return rgb, depth


def test_zooming_out_shrinks_the_figure_and_pushes_it_away() -> None:
    rgb, depth = figure_scene()
    config = ZoomOutConfig(probability=1.0, min_scale=0.5)
    out_rgb, out_depth = zoom_out(rgb, depth, config, np.random.default_rng(0), per_frame=False)
    scale = np.random.default_rng(0).uniform(0.5, 1.0, size=2)[1]  # the draws zoom_out made: decide, then scale
    near = np.isclose(out_depth[0, 0], 2 / 6 / scale, rtol=1e-5)  # the figure, now farther
    far = np.isclose(out_depth[0, 0], min(4 / 6 / scale, 1.0), rtol=1e-5)  # the wall, clipped at 6 m
    assert (near | far).all()
    assert abs(near.sum() / 400 - scale**2) < 0.1  # the figure's area shrinks with the scale squared
    assert abs((out_rgb[0, 0] > 0.55).sum() / 400 - scale**2) < 0.1  # in RGB too
    assert out_depth[0, 1].all()


def test_zooming_out_never_blends_a_depth_reading_with_a_hole() -> None:
    rgb, depth = figure_scene()
    depth[:, :, ::2, ::2] = 0.0  # every other pixel of every other row invalid: value 0, mask 0
    _, out = zoom_out(rgb, depth, ZoomOutConfig(probability=1.0), np.random.default_rng(1), per_frame=True)
    valid = out[0, 1] > 0
    assert set(np.unique(out[0, 1])) <= {0.0, 1.0}
    assert (out[0, 0][~valid] == 0).all() and (out[0, 0][valid] > 2 / 6 - 1e-6).all()


def test_zooming_out_leaves_the_cached_frames_unchanged() -> None:
    rgb, depth = figure_scene()
    before = rgb.copy(), depth.copy()
    zoom_out(rgb, depth, ZoomOutConfig(probability=1.0), np.random.default_rng(2), per_frame=True)
    np.testing.assert_array_equal(rgb, before[0])
    np.testing.assert_array_equal(depth, before[1])


def test_a_video_the_draw_does_not_zoom_comes_back_as_it_was() -> None:
    rgb, depth = figure_scene()
    config = ZoomOutConfig(probability=0.25)
    rng = np.random.default_rng(next(s for s in range(100) if np.random.default_rng(s).random() >= 0.25))
    out_rgb, out_depth = zoom_out(rgb, depth, config, rng, per_frame=False)
    np.testing.assert_array_equal(out_rgb, rgb)
    np.testing.assert_array_equal(out_depth, depth)


def test_zoom_settings_out_of_range_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="probability"):
        ZoomOutConfig(probability=-0.1)
    with pytest.raises(ConfigError, match="min_scale"):
        ZoomOutConfig(min_scale=1.0)


def test_training_batches_zoom_out_depth_with_rgb_only_when_configured() -> None:
    config = load_config(DEFAULT_CONFIG)
    off = dataclasses.replace(config.train, rgb_jitter=ColorJitterConfig(), rgb_blur=BlurConfig())
    on = dataclasses.replace(off, zoom_out=ZoomOutConfig(probability=1.0))
    item = video(size=(48, 64))
    plain = make_batch([item], dataclasses.replace(config, train=off), [np.random.default_rng(0)])
    zoomed = make_batch([item], dataclasses.replace(config, train=on), [np.random.default_rng(0)])
    np.testing.assert_array_equal(plain.depth.numpy(), item.depth.astype(np.float32))
    assert not np.allclose(zoomed.depth.numpy(), plain.depth.numpy())
    assert not np.allclose(zoomed.rgb.numpy(), plain.rgb.numpy())
    assert np.array_equal(zoomed.window_index.numpy(), plain.window_index.numpy())  # the same windows and labels


def test_a_depth_scale_error_multiplies_every_reading_by_one_gain_and_keeps_holes() -> None:
    _, depth = figure_scene()
    depth[:, :, ::3, ::3] = 0.0  # holes: value 0, mask 0
    config = DepthCorruptionConfig(probability=1.0, max_gain_change=0.2, max_relative_noise=0.0)
    out = corrupt_depth(depth, config, np.random.default_rng(0), per_frame=False, size=InputConfig())
    valid = depth[0, 1] > 0
    gains = out[0, 0][valid] / depth[0, 0][valid]
    assert 0.8 <= gains.min() and gains.max() <= 1.2 and np.ptp(gains) < 1e-5
    assert (out[0, 0][~valid] == 0).all()
    np.testing.assert_array_equal(out[0, 1], depth[0, 1])


def test_depth_noise_is_relative_to_each_reading() -> None:
    depth = np.stack([np.full((200, 200), 0.5), np.ones((200, 200))]).astype(np.float32)[None]
    config = DepthCorruptionConfig(probability=1.0, max_gain_change=0.0, max_relative_noise=0.2)
    out = corrupt_depth(depth, config, np.random.default_rng(1), per_frame=True, size=InputConfig())
    relative = out[0, 0] / 0.5 - 1.0
    drawn = np.random.default_rng(1).uniform(0.0, 0.2, size=(3, 1))[2, 0]  # decide, gain, then noise level
    assert abs(relative.mean()) < 0.01 and relative.std() == pytest.approx(drawn, rel=0.05)


def wall_at_3m(downsample: str, readings: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A wall at 3 m with noise 0.05: (a noisy camera image through prepare_depth, the noise-free input given the
    stereo noise by the augmentation, both in metres; the augmented valid mask; the drawn coefficient / 0.05)."""
    size = InputConfig(height=48, width=64, max_depth_m=6.0, depth_downsample=downsample)
    camera = 3.0 + 0.05 * 9.0 * np.random.default_rng(0).standard_normal((120, 160))
    preprocessed, _ = prepare_depth(camera.astype(np.float32), size)
    clean, _ = prepare_depth(np.full((120, 160), 3.0, dtype=np.float32), size)
    config = DepthCorruptionConfig(
        probability=1.0, max_gain_change=0.0, max_relative_noise=0.0, max_noise_at_1m=0.05, readings_per_pixel=readings
    )
    out = corrupt_depth(clean[None], config, np.random.default_rng(3), per_frame=False, size=size)
    drawn = np.random.default_rng(3).uniform(0.0, 0.05, size=4)[3]  # decide, gain, relative noise, then stereo
    return preprocessed[0] * 6.0, out[0, 0] * 6.0, out[0, 1], drawn / 0.05


def test_stereo_noise_pulls_a_network_pixel_towards_the_camera_as_the_preprocessing_does() -> None:
    preprocessed, augmented, mask, fraction = wall_at_3m("closest", readings=6)
    real_shift = (preprocessed - 3.0).mean()
    assert real_shift < -0.4  # the nearest of six noisy readings: about 1.3 std nearer
    assert (augmented - 3.0).mean() == pytest.approx(real_shift * fraction, rel=0.05)
    assert augmented.std() == pytest.approx(preprocessed.std() * fraction, rel=0.1)
    assert (mask == 1).all()


def test_stereo_noise_grows_with_the_distance_squared() -> None:
    depth = np.stack([np.full((100, 100), 0.25), np.ones((100, 100))]).astype(np.float32)[None]
    far = np.stack([np.full((100, 100), 0.5), np.ones((100, 100))]).astype(np.float32)[None]
    config = DepthCorruptionConfig(probability=1.0, max_gain_change=0.0, max_relative_noise=0.0, max_noise_at_1m=0.05)
    size = InputConfig(depth_downsample="closest")
    near_shift = corrupt_depth(depth, config, np.random.default_rng(4), per_frame=False, size=size)[0, 0].mean() - 0.25
    far_shift = corrupt_depth(far, config, np.random.default_rng(4), per_frame=False, size=size)[0, 0].mean() - 0.5
    assert near_shift < 0 and far_shift / near_shift == pytest.approx(4.0, rel=0.05)


def test_stereo_noise_is_averaged_without_a_pull_when_the_input_averages_readings() -> None:
    # Area weights over 2.5 x 2.5 readings (1, 1, 1/2 per axis) average about as much as eight equal ones.
    preprocessed, augmented, _, fraction = wall_at_3m("area", readings=8)
    assert abs((augmented - 3.0).mean()) < 0.01 and abs((preprocessed - 3.0).mean()) < 0.01
    assert augmented.std() == pytest.approx(preprocessed.std() * fraction, rel=0.1)


def test_a_video_whose_depth_is_not_corrupted_comes_back_as_it_was() -> None:
    _, depth = figure_scene()
    before = depth.copy()
    rng = np.random.default_rng(next(s for s in range(100) if np.random.default_rng(s).random() >= 0.25))
    size = InputConfig()
    assert corrupt_depth(depth, DepthCorruptionConfig(probability=0.25), rng, per_frame=False, size=size) is depth
    corrupt_depth(depth, DepthCorruptionConfig(probability=1.0), np.random.default_rng(2), per_frame=True, size=size)
    np.testing.assert_array_equal(depth, before)  # the cached frames are never changed


def test_depth_corruption_settings_out_of_range_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="probability"):
        DepthCorruptionConfig(probability=2.0)
    with pytest.raises(ConfigError, match="max_gain_change"):
        DepthCorruptionConfig(max_gain_change=1.0)
    with pytest.raises(ConfigError, match="max_relative_noise"):
        DepthCorruptionConfig(max_relative_noise=-0.1)
    with pytest.raises(ConfigError, match="max_noise_at_1m"):
        DepthCorruptionConfig(max_noise_at_1m=0.6)
    with pytest.raises(ConfigError, match="readings_per_pixel"):
        DepthCorruptionConfig(readings_per_pixel=0)


def test_training_batches_corrupt_depth_and_leave_rgb_alone_when_configured() -> None:
    config = load_config(DEFAULT_CONFIG)
    off = dataclasses.replace(
        config.train, rgb_jitter=ColorJitterConfig(), rgb_blur=BlurConfig(), zoom_out=ZoomOutConfig()
    )
    on = dataclasses.replace(off, depth_corruption=DepthCorruptionConfig(probability=1.0))
    item = video(size=(48, 64))
    plain = make_batch([item], dataclasses.replace(config, train=off), [np.random.default_rng(0)])
    corrupted = make_batch([item], dataclasses.replace(config, train=on), [np.random.default_rng(0)])
    assert not np.allclose(corrupted.depth.numpy(), plain.depth.numpy())
    np.testing.assert_array_equal(corrupted.rgb.numpy(), plain.rgb.numpy())
    assert np.array_equal(corrupted.window_index.numpy(), plain.window_index.numpy())
