"""Compressed camera images (image_transport's ``compressed`` and ``compressedDepth``) to raw images.

Cameras on a robot often publish only compressed streams to save bandwidth.
The node decodes them on its worker thread (never in a DDS callback) with
OpenCV, into the same :class:`RawImage` the raw topics give, so everything
downstream (validation, preprocessing, the model) is unchanged.

- ``compressed`` (sensor_msgs/CompressedImage, format like ``"bgr8; jpeg compressed bgr8"``):
  JPEG or PNG of the colour image, which compressed_image_transport encodes in BGR order.
- ``compressedDepth`` (format like ``"16UC1; compressedDepth png"``): a 12-byte header
  (int32 format, two float32 depth-quantisation parameters) then a PNG. For 16UC1 the PNG
  holds the depth values as they were; for 32FC1 it holds quantised inverse depth,
  ``depth = a / (value - b)`` (0 stays invalid).
"""

from __future__ import annotations

import struct

import cv2
import numpy as np

from r3d_ros.runtime.image import ImageError, RawImage

DEPTH_HEADER = struct.Struct("<iff")


def decode_compressed_color(data: bytes | bytearray | memoryview, image_format: str) -> RawImage:
    """A ``compressed`` colour image -> RawImage (bgr8, or mono8 for a grey image)."""
    pixels = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise ImageError(f"compressed color image ({image_format!r}, {len(data)} bytes) cannot be decoded")
    if pixels.dtype != np.uint8:
        raise ImageError(f"compressed color image decodes to {pixels.dtype}, expected 8-bit")
    if pixels.ndim == 2:
        return RawImage.from_array(pixels, "mono8")
    if pixels.shape[2] == 4:
        pixels = np.ascontiguousarray(pixels[:, :, :3])
    return RawImage.from_array(pixels, "bgr8")


def decode_compressed_depth(data: bytes | bytearray | memoryview, image_format: str) -> RawImage:
    """A ``compressedDepth`` image -> RawImage (16UC1 as sent, or 32FC1 metres)."""
    encoding = image_format.split(";")[0].strip()
    if "compressedDepth" not in image_format or encoding not in ("16UC1", "32FC1"):
        expected = "'16UC1; compressedDepth png'"
        raise ImageError(f"unsupported compressed depth format {image_format!r} (expected {expected})")
    buffer = memoryview(bytes(data))
    if len(buffer) <= DEPTH_HEADER.size:
        raise ImageError(f"compressed depth image has {len(buffer)} bytes, too few for its header")
    _, quant_a, quant_b = DEPTH_HEADER.unpack(buffer[: DEPTH_HEADER.size])
    pixels = cv2.imdecode(np.frombuffer(buffer[DEPTH_HEADER.size :], dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.ndim != 2 or pixels.dtype != np.uint16:
        raise ImageError(f"compressed depth image ({image_format!r}) does not hold a 16-bit single-channel PNG")
    if encoding == "16UC1":
        return RawImage.from_array(pixels, "16UC1")
    metres = np.zeros(pixels.shape, dtype=np.float32)
    valid = pixels != 0
    metres[valid] = quant_a / (pixels[valid].astype(np.float32) - quant_b)
    return RawImage.from_array(metres, "32FC1")
