"""Raw camera images and their decoding into arrays, for every source the project reads.

A :class:`RawImage` is an image as a driver, a ROS message or a bag delivers it:
a byte buffer plus height, width, encoding and row step (rows may be padded,
``step > width * bytes_per_pixel``). Decoding checks the layout and raises
:class:`ImageError` naming what is wrong, so a malformed image is dropped and
counted by the caller instead of crashing it or being misread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# encoding -> (dtype, channels) of the ROS sensor_msgs/Image encodings we accept.
COLOR_ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
}
DEPTH_ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "16UC1": (np.dtype(np.uint16), 1),  # millimetres (scaled by depth_scale when given)
    "mono16": (np.dtype(np.uint16), 1),  # what some drivers call 16UC1 depth
    "32FC1": (np.dtype(np.float32), 1),  # metres
}


class ImageError(ValueError):
    """An image cannot be decoded: unknown encoding, zero size, or a buffer that does not match its layout."""


@dataclass(frozen=True)
class RawImage:
    """An undecoded image: ``data`` holds ``height`` rows of ``step`` bytes."""

    data: bytes | bytearray | memoryview | np.ndarray
    height: int
    width: int
    encoding: str
    step: int
    is_bigendian: bool = False

    @classmethod
    def from_array(cls, array: np.ndarray, encoding: str) -> RawImage:
        """Wrap a (H, W) or (H, W, C) array with a tight row step."""
        array = np.ascontiguousarray(array)
        height, width = array.shape[:2]
        return cls(array, height, width, encoding, array.strides[0])


def _bytes(image: RawImage) -> np.ndarray:
    """The image's buffer as a flat uint8 array (no copy)."""
    buffer = np.frombuffer(image.data, dtype=np.uint8) if not isinstance(image.data, np.ndarray) else image.data
    return buffer.reshape(-1).view(np.uint8) if buffer.dtype != np.uint8 or buffer.ndim != 1 else buffer


def check_layout(image: RawImage, kind: str) -> None:
    """Raise ImageError unless ``image`` is a well-formed ``kind`` ("color" or "depth") image.

    Checks only the header and the buffer length, without touching pixels, so a
    stream can refuse a malformed frame before it costs anything or disturbs state.
    The buffer must hold exactly ``step * height`` bytes: a longer one means the
    header and the data disagree, and reading it as if they did would misplace rows.
    """
    table = COLOR_ENCODINGS if kind == "color" else DEPTH_ENCODINGS
    if image.encoding not in table:
        raise ImageError(f"unsupported {kind} encoding {image.encoding!r}; supported: {', '.join(table)}")
    dtype, channels = table[image.encoding]
    if image.height <= 0 or image.width <= 0:
        raise ImageError(f"{kind} image has zero size ({image.width}x{image.height})")
    row_bytes = image.width * channels * dtype.itemsize
    if image.step < row_bytes:
        raise ImageError(
            f"{kind} image step {image.step} is smaller than width*bytes per pixel = {row_bytes} ({image.encoding})"
        )
    size, expected = _bytes(image).size, image.step * image.height
    if size != expected:
        raise ImageError(f"{kind} image data has {size} bytes, expected step*height = {expected}")


def _layout(image: RawImage, kind: str) -> np.ndarray:
    """View ``image`` as a (H, W, C) array of its encoding, checking every size."""
    check_layout(image, kind)
    dtype, channels = (COLOR_ENCODINGS if kind == "color" else DEPTH_ENCODINGS)[image.encoding]
    row_bytes = image.width * channels * dtype.itemsize
    rows = _bytes(image).reshape(image.height, image.step)[:, :row_bytes]
    order = ">" if image.is_bigendian else "<"
    pixels = np.ascontiguousarray(rows).view(dtype.newbyteorder(order) if dtype.itemsize > 1 else dtype)
    return pixels.reshape(image.height, image.width, channels)


def decode_color(image: RawImage) -> np.ndarray:
    """Any accepted color encoding -> (H, W, 3) uint8 in RGB order."""
    pixels = _layout(image, "color")
    if image.encoding == "mono8":
        return np.repeat(pixels, 3, axis=2)
    if image.encoding.startswith("bgr"):
        return np.ascontiguousarray(pixels[:, :, 2::-1])
    return np.ascontiguousarray(pixels[:, :, :3])


def decode_depth(image: RawImage, depth_scale: float = 0.001) -> np.ndarray:
    """Depth image -> (H, W) float32 metres; invalid readings (0, NaN, inf, negative) come out as 0.

    16UC1/mono16 pixels are in units of ``depth_scale`` metres (millimetres by
    default; pass the device's scale), 32FC1 pixels are metres.
    """
    pixels = _layout(image, "depth")[:, :, 0]
    if pixels.dtype.kind == "u":
        metres = pixels.astype(np.float32) * np.float32(depth_scale)
    else:
        metres = pixels.astype(np.float32)
        metres[~np.isfinite(metres) | (metres < 0)] = 0.0
    return metres
