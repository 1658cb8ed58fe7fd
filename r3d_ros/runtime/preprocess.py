"""The one preprocessing function: raw color + depth images -> the network's input tensors.

Training, bag replay and the node all call :func:`preprocess_frame`, so the
inputs the model sees at run time cannot drift from those it was trained on.

- Geometry: the central crop with the model's aspect ratio, resized to
  ``model.input`` height x width (area interpolation). Color and aligned depth
  get the same crop, so they stay registered.
- Color: any accepted encoding -> RGB in [0, 1].
- Depth: metric (metres from 16UC1 millimetres or the device's depth scale, or
  32FC1 metres), invalid readings (0, NaN, inf, below ``min_depth_m``) masked.
  A network pixel is valid when at least half of the camera pixels it covers
  are. Its value is the closest valid reading among them
  (``depth_downsample: closest``) or their mean (``area``): averaging blends a
  limb a pixel or two wide with the wall behind it, so a hand 0.4 m in front
  of the body and one 0.4 m behind it can give the same value, while the
  closest reading keeps each surface's own depth. Invalid readings never
  enter either, so holes do not drag edges towards 0.
  The network gets depth / ``max_depth_m`` (clipped to 1) and the valid mask,
  never a per-frame min-max normalisation.
- A missing depth image, or one with no valid pixel, yields ``depth_present``
  False and an all-zero depth input; so does one whose estimated noise
  (:mod:`r3d_ros.runtime.depth_noise`) is above ``max_depth_noise``
  (``depth_rejected`` True), because a model follows depth that is present but
  wrong where it would read RGB without it.
- Likewise RGB whose estimated noise at the network's input
  (:mod:`r3d_ros.runtime.rgb_noise`) is above ``max_rgb_noise`` yields
  ``rgb_present`` False and an all-zero RGB input (``rgb_rejected`` True), but
  only on a frame whose depth is kept: the gates never leave a frame without
  both modalities.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from r3d_ros.config import InputConfig, R3DConfig
from r3d_ros.runtime.depth_noise import depth_noise_at_1m, limit_at_stream, too_noisy
from r3d_ros.runtime.image import RawImage, decode_color, decode_depth
from r3d_ros.runtime.rgb_noise import pixel_noise

# A resized depth pixel is valid when at least this fraction of its source area was.
MIN_VALID_FRACTION = 0.5


@dataclass
class ModelFrame:
    """One preprocessed frame, ready for the per-frame path."""

    rgb: np.ndarray  # (3, H, W) float32 in [0, 1]
    depth: np.ndarray  # (2, H, W) float32: depth / max_depth_m (0 where invalid), valid mask
    depth_present: bool
    depth_noise: float = float("nan")  # estimated std of a reading at 1 m (m); NaN without depth
    depth_rejected: bool = False  # depth was there but noisier than max_depth_noise, so left out
    rgb_present: bool = True
    rgb_noise: float = float("nan")  # estimated std of the pixel noise at the network's input (0-255 scale)
    rgb_rejected: bool = False  # RGB noisier than max_rgb_noise on a frame with depth, so left out


def center_crop_box(height: int, width: int, target_height: int, target_width: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the largest central crop with the target aspect ratio."""
    if height * target_width > width * target_height:
        crop_height = max(1, round(width * target_height / target_width))
        top = (height - crop_height) // 2
        return top, top + crop_height, 0, width
    crop_width = max(1, round(height * target_width / target_height))
    left = (width - crop_width) // 2
    return 0, height, left, left + crop_width


def readings_per_pixel(height: int, width: int, size: InputConfig) -> float:
    """Camera pixels per network pixel for a ``height`` x ``width`` image: its central crop's area over the input's."""
    top, bottom, left, right = center_crop_box(height, width, size.height, size.width)
    return (bottom - top) * (right - left) / (size.height * size.width)


def model_depth_limit(config: R3DConfig, height: int, width: int) -> float:
    """The model's own depth noise limit (``model.max_depth_noise``) for a ``height`` x ``width`` stream.

    The limit is measured on the synthetic renderer's test sets (r3d_ros.eval.noise_limit), at its
    resolution; a stream with more camera readings per network pixel gets it converted
    (:func:`r3d_ros.runtime.depth_noise.limit_at_stream`). A model not trained on the renderer keeps
    its limit as recorded.
    """
    limit, size = config.model.max_depth_noise, config.model.input
    if config.data.source != "synthetic" or not limit:
        return limit
    measured = readings_per_pixel(config.data.synthetic.height, config.data.synthetic.width, size)
    return limit_at_stream(limit, readings_per_pixel(height, width, size), measured, size.depth_downsample)


def _crop_resize(array: np.ndarray, size: InputConfig) -> np.ndarray:
    top, bottom, left, right = center_crop_box(array.shape[0], array.shape[1], size.height, size.width)
    return cv2.resize(array[top:bottom, left:right], (size.width, size.height), interpolation=cv2.INTER_AREA)


def prepare_rgb(rgb: np.ndarray, size: InputConfig) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3, h, w) float32 in [0, 1]."""
    return np.ascontiguousarray(_crop_resize(rgb, size).transpose(2, 0, 1), dtype=np.float32) * np.float32(1 / 255)


def _closest_resize(metres: np.ndarray, valid: np.ndarray, size: InputConfig) -> np.ndarray:
    """The nearest valid reading in each network pixel's cell of the crop (inf where none)."""
    top, bottom, left, right = center_crop_box(metres.shape[0], metres.shape[1], size.height, size.width)
    crop = np.where(valid[top:bottom, left:right], metres[top:bottom, left:right], np.float32(np.inf))
    rows = np.arange(size.height) * crop.shape[0] // size.height
    cols = np.arange(size.width) * crop.shape[1] // size.width
    return np.minimum.reduceat(np.minimum.reduceat(crop, rows, axis=0), cols, axis=1)


def prepare_depth(metres: np.ndarray | None, size: InputConfig) -> tuple[np.ndarray, bool]:
    """(H, W) float32 metres (0 = invalid) -> ((2, h, w) network depth input, depth_present)."""
    out = np.zeros((2, size.height, size.width), dtype=np.float32)
    if metres is None:
        return out, False
    valid = (metres >= size.min_depth_m) & np.isfinite(metres)
    if not valid.any():
        return out, False
    weight = _crop_resize(valid.astype(np.float32), size)
    if size.depth_downsample == "closest":
        depth = _closest_resize(metres.astype(np.float32, copy=False), valid, size)
        mask = (weight >= MIN_VALID_FRACTION) & np.isfinite(depth)
        depth = np.where(mask, depth, np.float32(0))
    else:
        total = _crop_resize(np.where(valid, metres, 0.0).astype(np.float32), size)
        mask = weight >= MIN_VALID_FRACTION
        depth = np.divide(total, weight, out=np.zeros_like(total), where=mask)
    out[0] = np.minimum(depth / np.float32(size.max_depth_m), 1.0)
    out[1] = mask
    return out, bool(mask.any())


def rgb_noise_at_input(rgb: np.ndarray, size: InputConfig) -> float:
    """Estimated std (0-255) of the noise the network sees in (H, W, 3) uint8 ``rgb``: area resizing averages it."""
    top, bottom, _, _ = center_crop_box(rgb.shape[0], rgb.shape[1], size.height, size.width)
    return pixel_noise(rgb) * min(1.0, size.height / (bottom - top))


def preprocess_frame(
    color: RawImage,
    depth: RawImage | None,
    size: InputConfig,
    depth_scale: float = 0.001,
    max_depth_noise: float = 0.0,
    max_rgb_noise: float = 0.0,
) -> ModelFrame:
    """Decode, crop, resize and normalise one RGB-D frame (``depth`` None = missing).

    ``depth_scale`` is the size of one 16-bit depth unit in metres (read it from
    the device; 0.001 is the RealSense default). Depth noisier than
    ``max_depth_noise`` (std at 1 m; 0 = keep all) is left out as if missing;
    RGB noisier than ``max_rgb_noise`` (std at the network's input, 0-255; 0 =
    keep all) too, where the frame keeps its depth.
    Raises ImageError for a malformed image.
    """
    pixels = decode_color(color)
    frame = ModelFrame(prepare_rgb(pixels, size), *prepare_depth(None, size))
    frame.rgb_noise = rgb_noise_at_input(pixels, size)
    if depth is not None:
        metres = decode_depth(depth, depth_scale)
        frame.depth_noise = depth_noise_at_1m(metres, size.min_depth_m)
        if too_noisy(frame.depth_noise, max_depth_noise):
            frame.depth_rejected = True
        else:
            frame.depth, frame.depth_present = prepare_depth(metres, size)
    if frame.depth_present and too_noisy(frame.rgb_noise, max_rgb_noise):
        frame.rgb, frame.rgb_present, frame.rgb_rejected = np.zeros_like(frame.rgb), False, True
    return frame
