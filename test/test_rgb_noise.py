"""RGB too noisy to trust: estimated from the image alone, and left out where the frame keeps its depth."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from r3d_ros.config import ConfigError, InputConfig, ModelConfig, StreamConfig, SyntheticConfig
from r3d_ros.data.prepared import PreparedVideo
from r3d_ros.data.synthetic import generate_synthetic
from r3d_ros.eval.model_eval import presence
from r3d_ros.model import load_model
from r3d_ros.runtime.image import RawImage, decode_color
from r3d_ros.runtime.preprocess import preprocess_frame, rgb_noise_at_input
from r3d_ros.runtime.rgb_noise import pixel_noise

ROOT = Path(__file__).resolve().parents[1]
SIZE = InputConfig(height=24, width=32, max_depth_m=6.0, min_depth_m=0.1)


def rendered_color(noise: float, frames: int = 4) -> list[np.ndarray]:
    """RGB of the synthetic renderer's first test video with pixel noise ``noise`` (0-255)."""
    video = generate_synthetic(SyntheticConfig(num_train=0, num_test=1, rgb_noise=noise, seed=7)).videos[0]
    return [decode_color(video.load(i).color) for i in range(0, 40, 40 // frames)]


def noisy_gradient(noise: float, shape: tuple[int, int] = (120, 160)) -> RawImage:
    """A smooth colour gradient with independent pixel noise ``noise`` (0-255)."""
    rng = np.random.default_rng(0)
    ramp = np.broadcast_to(np.linspace(40, 200, shape[1]), shape)[..., None].repeat(3, axis=2)
    pixels = np.clip(np.rint(ramp + rng.standard_normal((*shape, 3)) * noise), 0, 255).astype(np.uint8)
    return RawImage.from_array(pixels, "rgb8")


def wall(shape: tuple[int, int] = (120, 160)) -> RawImage:
    """A clean wall 2 m away, in millimetres."""
    return RawImage.from_array(np.full(shape, 2000, dtype=np.uint16), "16UC1")


@pytest.mark.parametrize("noise", [10.0, 20.0, 40.0])
def test_the_estimate_recovers_the_renderers_pixel_noise(noise: float) -> None:
    estimates = [pixel_noise(rgb) for rgb in rendered_color(noise)]
    assert estimates and all(e == pytest.approx(noise, rel=0.1) for e in estimates)


def test_a_clean_render_reads_far_below_visible_noise() -> None:
    assert all(pixel_noise(rgb) < 4.0 for rgb in rendered_color(0.0))


def test_the_estimate_at_the_input_shrinks_with_the_image() -> None:
    small, large = decode_color(noisy_gradient(20.0)), decode_color(noisy_gradient(20.0, (480, 640)))
    assert rgb_noise_at_input(small, SIZE) == pytest.approx(pixel_noise(small) * 24 / 120)
    assert rgb_noise_at_input(large, SIZE) == pytest.approx(pixel_noise(large) * 24 / 480)


def test_rgb_noisier_than_the_limit_goes_in_as_missing_on_a_frame_with_depth() -> None:
    kept = preprocess_frame(noisy_gradient(40.0), wall(), SIZE, max_rgb_noise=0.0)
    left_out = preprocess_frame(noisy_gradient(40.0), wall(), SIZE, max_rgb_noise=2.0)
    assert kept.rgb_present and not kept.rgb_rejected and kept.rgb_noise == pytest.approx(40 * 24 / 120, rel=0.1)
    assert not left_out.rgb_present and left_out.rgb_rejected and not left_out.rgb.any()
    assert left_out.depth_present
    np.testing.assert_array_equal(left_out.depth, kept.depth)


def test_rgb_within_the_limit_is_kept() -> None:
    frame = preprocess_frame(noisy_gradient(5.0), wall(), SIZE, max_rgb_noise=2.0)
    assert frame.rgb_present and not frame.rgb_rejected and frame.rgb.any()


def test_noisy_rgb_is_kept_on_a_frame_without_depth() -> None:
    frame = preprocess_frame(noisy_gradient(40.0), None, SIZE, max_rgb_noise=2.0)
    assert frame.rgb_present and not frame.rgb_rejected and not frame.depth_present


def test_noisy_rgb_is_kept_where_its_depth_was_left_out_for_noise() -> None:
    rng = np.random.default_rng(1)
    depth = np.rint(2000 + rng.standard_normal((120, 160)) * 0.05 * 4 * 1000).astype(np.uint16)
    frame = preprocess_frame(noisy_gradient(40.0), RawImage.from_array(depth, "16UC1"), SIZE, 0.001, 0.02, 2.0)
    assert frame.depth_rejected and frame.rgb_present and not frame.rgb_rejected


def prepared(rgb_noise: list[float], depth: list[bool]) -> PreparedVideo:
    count = len(rgb_noise)
    return PreparedVideo(
        "v",
        np.zeros((count, 3, 2, 2), np.float16),
        np.zeros((count, 2, 2, 2), np.float16),
        np.array(depth),
        np.zeros(count, np.int64),
        np.arange(count) / 10.0,
        np.full(count, 0.01, np.float32),
        np.array(rgb_noise, np.float32),
    )


def test_evaluation_leaves_out_the_rgb_the_node_would_leave_out() -> None:
    videos = [prepared([1.0, 9.0, 9.0, math.nan], [True, True, False, True])]
    assert presence("both", videos, seed=0, max_rgb_noise=4.0)["rgb_present"][0].tolist() == [True, False, True, True]
    assert presence("depth_absent", videos, seed=0, max_rgb_noise=4.0)["rgb_present"] is None
    assert presence("both", videos, seed=0, max_rgb_noise=0.0)["rgb_present"] is None


def test_minus_one_selects_the_models_own_rgb_limit_by_default() -> None:
    assert StreamConfig().max_rgb_noise == -1.0 and ModelConfig().max_rgb_noise == 0.0


def test_a_bad_rgb_limit_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="max_rgb_noise"):
        StreamConfig(max_rgb_noise=-0.5)
    with pytest.raises(ConfigError, match="max_rgb_noise"):
        ModelConfig(max_rgb_noise=300.0)


def test_the_shipped_model_records_an_rgb_limit_above_what_its_clean_renders_read() -> None:
    model, _ = load_model(ROOT / "models" / "r3d_default.safetensors")
    size = model.config.model.input
    clean = max(rgb_noise_at_input(rgb, size) for rgb in rendered_color(model.config.data.synthetic.rgb_noise))
    assert model.config.model.max_rgb_noise > 2 * clean
