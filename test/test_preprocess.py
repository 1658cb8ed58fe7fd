"""The one preprocessing function and raw image decoding."""

from __future__ import annotations

import numpy as np
import pytest

from r3d_ros.config import ConfigError, InputConfig, config_from_dict
from r3d_ros.runtime.image import ImageError, RawImage, decode_color, decode_depth
from r3d_ros.runtime.preprocess import center_crop_box, preprocess_frame
from r3d_ros.runtime.timebase import FrameRateLimiter, subsample_indices

SIZE = InputConfig(height=24, width=32, max_depth_m=6.0, min_depth_m=0.1)


def padded(array: np.ndarray, encoding: str, extra: int = 7) -> RawImage:
    """A RawImage whose rows carry ``extra`` bytes of padding filled with garbage."""
    rows = array.reshape(array.shape[0], -1).view(np.uint8)
    buffer = np.full((rows.shape[0], rows.shape[1] + extra), 0xAB, dtype=np.uint8)
    buffer[:, : rows.shape[1]] = rows
    return RawImage(buffer.tobytes(), array.shape[0], array.shape[1], encoding, buffer.shape[1])


@pytest.fixture
def rgb() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("encoding", "convert"),
    [
        ("rgb8", lambda x: x),
        ("bgr8", lambda x: x[:, :, ::-1]),
        ("rgba8", lambda x: np.dstack([x, np.full(x.shape[:2], 9, np.uint8)])),
        ("bgra8", lambda x: np.dstack([x[:, :, ::-1], np.full(x.shape[:2], 9, np.uint8)])),
    ],
)
def test_every_color_encoding_decodes_to_rgb(rgb: np.ndarray, encoding: str, convert) -> None:
    assert np.array_equal(decode_color(padded(np.ascontiguousarray(convert(rgb)), encoding)), rgb)


def test_mono8_becomes_three_equal_channels(rgb: np.ndarray) -> None:
    gray = np.ascontiguousarray(rgb[:, :, 0])
    decoded = decode_color(RawImage.from_array(gray, "mono8"))
    assert decoded.shape == (48, 64, 3)
    assert np.array_equal(decoded[:, :, 2], gray)


def test_16uc1_depth_is_millimetres_by_default() -> None:
    depth = np.array([[0, 1000], [2500, 65535]], dtype=np.uint16)
    np.testing.assert_allclose(decode_depth(padded(depth, "16UC1")), [[0, 1.0], [2.5, 65.535]], rtol=1e-6)


def test_16uc1_depth_uses_the_device_depth_scale() -> None:
    depth = np.array([[4000]], dtype=np.uint16)
    assert decode_depth(RawImage.from_array(depth, "16UC1"), depth_scale=0.00025)[0, 0] == pytest.approx(1.0)


def test_32fc1_depth_is_metres_and_nan_inf_become_invalid() -> None:
    depth = np.array([[1.5, np.nan], [np.inf, -2.0]], dtype=np.float32)
    np.testing.assert_array_equal(decode_depth(padded(depth, "32FC1")), [[1.5, 0.0], [0.0, 0.0]])


def test_big_endian_depth_is_decoded() -> None:
    depth = np.array([[1234]], dtype=">u2")
    image = RawImage(depth.tobytes(), 1, 1, "16UC1", 2, is_bigendian=True)
    assert decode_depth(image)[0, 0] == pytest.approx(1.234)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (RawImage(b"", 0, 4, "rgb8", 12), "zero size"),
        (RawImage(b"\0" * 10, 2, 4, "rgb8", 10), "step 10 is smaller"),
        (RawImage(b"\0" * 20, 2, 4, "rgb8", 12), "expected step\\*height = 24"),
        (RawImage(b"\0" * 24, 2, 4, "yuv422", 12), "unsupported color encoding"),
    ],
)
def test_malformed_color_images_name_the_problem(image: RawImage, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        decode_color(image)


def test_color_encoding_used_as_depth_is_refused(rgb: np.ndarray) -> None:
    with pytest.raises(ImageError, match="unsupported depth encoding 'rgb8'"):
        decode_depth(RawImage.from_array(rgb, "rgb8"))


def test_preprocessed_frame_has_model_shapes_and_ranges(rgb: np.ndarray) -> None:
    depth = np.full((48, 64), 3000, dtype=np.uint16)
    frame = preprocess_frame(RawImage.from_array(rgb, "rgb8"), RawImage.from_array(depth, "16UC1"), SIZE)
    assert frame.rgb.shape == (3, 24, 32) and frame.rgb.dtype == np.float32
    assert 0.0 <= frame.rgb.min() and frame.rgb.max() <= 1.0
    assert frame.depth.shape == (2, 24, 32)
    np.testing.assert_allclose(frame.depth[0], 0.5, rtol=1e-6)  # 3 m / 6 m, metric, no min-max
    assert frame.depth_present and frame.depth[1].all()


def test_depth_holes_are_masked_and_do_not_drag_valid_depth_down(rgb: np.ndarray) -> None:
    depth = np.full((48, 64), 2000, dtype=np.uint16)
    depth[:, ::2] = 0  # every other column is a stereo hole
    depth[:24] = 0  # the top half is entirely invalid
    frame = preprocess_frame(RawImage.from_array(rgb, "rgb8"), RawImage.from_array(depth, "16UC1"), SIZE)
    valid = frame.depth[1].astype(bool)
    assert not valid[:12].any() and valid[12:].all()
    np.testing.assert_allclose(frame.depth[0][valid], 2.0 / 6.0, rtol=1e-6)
    assert (frame.depth[0][~valid] == 0).all()


CLOSEST = InputConfig(height=24, width=32, max_depth_m=6.0, min_depth_m=0.1, depth_downsample="closest")


def wall_with_a_thin_arm(arm_mm: int) -> np.ndarray:
    """A wall at 5 m (90 x 120 pixels) crossed by a horizontal arm two camera pixels thick."""
    depth = np.full((90, 120), 5000, dtype=np.uint16)
    depth[41:43, 20:100] = arm_mm
    return depth


def network_depth_m(depth: np.ndarray, size: InputConfig) -> np.ndarray:
    color = RawImage.from_array(np.zeros((*depth.shape, 3), np.uint8), "rgb8")
    frame = preprocess_frame(color, RawImage.from_array(depth, "16UC1"), size)
    return frame.depth[0] * size.max_depth_m


def test_closest_downsampling_keeps_a_thin_arm_at_its_own_depth() -> None:
    for arm_mm in (2600, 3400):  # a hand in front of the body plane, and one behind it
        nearest = network_depth_m(wall_with_a_thin_arm(arm_mm), CLOSEST).min()
        np.testing.assert_allclose(nearest, arm_mm / 1000, atol=1e-3)


def test_area_downsampling_blends_a_thin_arm_with_the_wall() -> None:
    # The reason "closest" exists: averaged, two arms 0.8 m apart come out within 0.4 m.
    front = network_depth_m(wall_with_a_thin_arm(2600), SIZE).min()
    behind = network_depth_m(wall_with_a_thin_arm(3400), SIZE).min()
    assert front > 3.4 and behind - front < 0.4


def test_closest_downsampling_ignores_holes_and_masks_mostly_invalid_cells(rgb: np.ndarray) -> None:
    depth = np.full((48, 64), 2000, dtype=np.uint16)
    depth[:, ::2] = 0  # zeros are holes, never the closest reading
    depth[:24] = 0
    frame = preprocess_frame(RawImage.from_array(rgb, "rgb8"), RawImage.from_array(depth, "16UC1"), CLOSEST)
    valid = frame.depth[1].astype(bool)
    assert not valid[:12].any() and valid[12:].all()
    np.testing.assert_allclose(frame.depth[0][valid], 2.0 / 6.0, rtol=1e-6)
    assert (frame.depth[0][~valid] == 0).all()


def test_closest_downsampling_handles_any_input_size(rgb: np.ndarray) -> None:
    for shape in ((47, 61), (480, 640), (20, 30)):  # not a multiple of the network size, or smaller than it
        depth = np.full(shape, 1500, dtype=np.uint16)
        assert np.allclose(network_depth_m(depth, CLOSEST), 1.5)


def test_an_unknown_depth_downsampling_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match=r"model\.input\.depth_downsample"):
        config_from_dict({"model": {"input": {"depth_downsample": "median"}}})


def test_missing_or_all_invalid_depth_is_reported_absent(rgb: np.ndarray) -> None:
    color = RawImage.from_array(rgb, "rgb8")
    assert not preprocess_frame(color, None, SIZE).depth_present
    empty = RawImage.from_array(np.full((48, 64), np.nan, np.float32), "32FC1")
    frame = preprocess_frame(color, empty, SIZE)
    assert not frame.depth_present and not frame.depth.any()


def test_any_resolution_is_center_cropped_to_the_model_aspect() -> None:
    assert center_crop_box(720, 1280, 48, 64) == (0, 720, 160, 1120)
    assert center_crop_box(480, 640, 48, 64) == (0, 480, 0, 640)
    wide = np.zeros((720, 1280, 3), np.uint8)
    wide[:, :160] = 255  # outside the crop: must not show up
    frame = preprocess_frame(RawImage.from_array(wide, "rgb8"), None, SIZE)
    assert frame.rgb.max() == 0.0


def test_rate_limiter_gives_the_same_frames_for_15_30_and_60_fps() -> None:
    kept = {}
    for fps in (15, 30, 60):
        stamps = np.arange(0, 3, 1 / fps)
        kept[fps] = np.round(stamps[subsample_indices(stamps, 5.0)], 3).tolist()
    assert kept[15] == kept[30] == kept[60]
    assert len(kept[30]) == 15


def test_rate_limiter_tolerates_jitter_and_reanchors_after_a_gap() -> None:
    limiter = FrameRateLimiter(10.0)
    accepted = [limiter.accept(t) for t in (0.0, 0.05, 0.099, 0.15, 0.2, 5.0, 5.05, 5.1)]
    assert accepted == [True, False, True, False, True, True, False, True]
