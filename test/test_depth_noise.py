"""Depth too noisy to trust: estimated from the image alone, and left out as if missing."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from r3d_ros.config import ConfigError, InputConfig, StreamConfig, SyntheticConfig
from r3d_ros.data.prepared import PreparedVideo
from r3d_ros.data.synthetic import generate_synthetic
from r3d_ros.eval.model_eval import presence
from r3d_ros.model import load_model
from r3d_ros.runtime.depth_noise import depth_noise_at_1m, limit_at_stream, limit_in_force, pixel_error, too_noisy
from r3d_ros.runtime.image import RawImage, decode_depth
from r3d_ros.runtime.preprocess import preprocess_frame, readings_per_pixel

ROOT = Path(__file__).resolve().parents[1]
SIZE = InputConfig(height=24, width=32, max_depth_m=6.0, min_depth_m=0.1)


def rendered_depth(noise: float, frames: int = 4) -> list[np.ndarray]:
    """Metric depth of the synthetic renderer's first test video, stereo noise ``noise`` at 1 m."""
    video = generate_synthetic(SyntheticConfig(num_train=0, num_test=1, depth_noise=noise, seed=7)).videos[0]
    loaded = [video.load(i) for i in range(0, 40, 40 // frames)]
    return [decode_depth(f.depth, f.depth_scale) for f in loaded if f.depth is not None]


def stereo_wall(noise: float, step_m: float = 0.0, shape: tuple[int, int] = (120, 160)) -> np.ndarray:
    """A wall sloping from 1.5 to 3 m across the image, its right half ``step_m`` nearer, with stereo noise
    ``noise`` at 1 m, in millimetres."""
    rng = np.random.default_rng(0)
    depth = np.broadcast_to(np.linspace(1.5, 3.0, shape[1]), shape).copy()
    depth[:, shape[1] // 2 :] -= step_m
    return np.rint((depth + rng.standard_normal(shape) * noise * depth**2) * 1000).astype(np.uint16)


@pytest.mark.parametrize("noise", [0.003, 0.01, 0.03, 0.05])
def test_the_estimate_recovers_the_renderers_depth_noise(noise: float) -> None:
    estimates = [depth_noise_at_1m(m, SIZE.min_depth_m) for m in rendered_depth(noise)]
    assert estimates and all(e == pytest.approx(noise, rel=0.1) for e in estimates)


def test_edges_and_holes_do_not_raise_the_estimate() -> None:
    metres = stereo_wall(0.01, step_m=1.0).astype(np.float32) / 1000  # an edge pair on every row
    metres[np.random.default_rng(1).random(metres.shape) < 0.2] = 0.0  # a fifth of the readings invalid
    assert depth_noise_at_1m(metres, SIZE.min_depth_m) == pytest.approx(0.01, rel=0.15)


def test_without_enough_valid_readings_the_noise_is_unknown_and_never_too_high() -> None:
    metres = np.zeros((120, 160), dtype=np.float32)
    metres[:2, :20] = 2.0
    noise = depth_noise_at_1m(metres, SIZE.min_depth_m)
    assert math.isnan(noise) and not too_noisy(noise, 0.02)


@pytest.mark.parametrize("readings", [1, 6, 25, 100])
def test_a_pixel_keeping_the_nearest_reading_errs_by_the_nearest_of_its_readings(readings: int) -> None:
    nearest = np.random.default_rng(0).standard_normal((20000, readings)).min(axis=1)
    assert pixel_error(readings, "closest") == pytest.approx(np.mean(np.abs(nearest)), rel=0.02)


@pytest.mark.parametrize("readings", [1, 6, 25])
def test_a_pixel_averaging_its_readings_errs_by_their_mean(readings: int) -> None:
    mean = np.random.default_rng(0).standard_normal((20000, readings)).mean(axis=1)
    assert pixel_error(readings, "area") == pytest.approx(np.mean(np.abs(mean)), rel=0.02)


def test_a_limit_holds_as_measured_at_its_own_resolution_and_is_lower_on_a_finer_stream() -> None:
    assert limit_at_stream(0.08, 6.25, 6.25, "closest") == pytest.approx(0.08)
    assert limit_at_stream(0.08, 100, 6.25, "closest") == pytest.approx(0.08 / 1.94, rel=0.01)
    assert limit_at_stream(0.08, 100, 6.25, "area") == pytest.approx(0.08 * 4)  # averaging cancels noise


def test_a_stream_has_as_many_readings_per_network_pixel_as_its_central_crop_has_pixels_per_input_pixel() -> None:
    size = InputConfig(height=48, width=64)
    assert readings_per_pixel(120, 160, size) == pytest.approx(6.25)
    assert readings_per_pixel(480, 640, size) == pytest.approx(100)
    assert readings_per_pixel(720, 1280, size) == pytest.approx(225)  # 16:9 cropped to 4:3


def test_a_zero_limit_keeps_depth_of_any_noise() -> None:
    assert not too_noisy(0.5, 0.0) and too_noisy(0.5, 0.02) and not too_noisy(0.01, 0.02)


def test_depth_noisier_than_the_limit_goes_in_as_missing() -> None:
    color = RawImage.from_array(np.full((120, 160, 3), 128, dtype=np.uint8), "rgb8")
    depth = RawImage.from_array(stereo_wall(0.04), "16UC1")
    kept = preprocess_frame(color, depth, SIZE, max_depth_noise=0.0)
    left_out = preprocess_frame(color, depth, SIZE, max_depth_noise=0.02)
    assert kept.depth_present and not kept.depth_rejected and kept.depth_noise == pytest.approx(0.04, rel=0.1)
    assert not left_out.depth_present and left_out.depth_rejected and not left_out.depth.any()
    assert left_out.depth_noise == kept.depth_noise
    np.testing.assert_array_equal(left_out.rgb, kept.rgb)


def test_depth_within_the_limit_is_kept() -> None:
    color = RawImage.from_array(np.full((120, 160, 3), 128, dtype=np.uint8), "rgb8")
    frame = preprocess_frame(color, RawImage.from_array(stereo_wall(0.01), "16UC1"), SIZE, max_depth_noise=0.02)
    assert frame.depth_present and not frame.depth_rejected


def test_the_shipped_model_records_a_limit_well_above_the_noise_it_was_trained_on() -> None:
    model, _ = load_model(ROOT / "models" / "r3d_default.safetensors")
    limit = model.config.model.max_depth_noise
    assert limit > 1.5 * model.config.data.synthetic.depth_noise


def test_minus_one_selects_the_models_own_limit_and_zero_keeps_all() -> None:
    assert limit_in_force(-1.0, 0.03) == 0.03 and limit_in_force(0.02, 0.03) == 0.02
    assert limit_in_force(0.0, 0.03) == 0.0 and limit_in_force(-1.0, 0.0) == 0.0
    assert StreamConfig().max_depth_noise == -1.0


def test_a_negative_limit_other_than_minus_one_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="max_depth_noise"):
        StreamConfig(max_depth_noise=-0.5)


def prepared(noise: list[float]) -> PreparedVideo:
    count = len(noise)
    return PreparedVideo(
        "v",
        np.zeros((count, 3, 2, 2), np.float16),
        np.zeros((count, 2, 2, 2), np.float16),
        np.array([not math.isnan(n) for n in noise]),
        np.zeros(count, np.int64),
        np.arange(count) / 10.0,
        np.array(noise, np.float32),
        np.full(count, 1.0, np.float32),
    )


def test_evaluation_leaves_out_the_depth_the_node_would_leave_out() -> None:
    videos = [prepared([0.01, 0.05, math.nan, 0.03])]
    assert presence("both", videos, seed=0, max_depth_noise=0.02)["depth_present"][0].tolist() == [
        True, False, True, False
    ]  # fmt: skip
    assert presence("rgb_absent", videos, seed=0, max_depth_noise=0.02)["depth_present"][0].tolist() == [
        True, False, True, False
    ]  # fmt: skip
    assert presence("both", videos, seed=0, max_depth_noise=0.0)["depth_present"][0].all()
