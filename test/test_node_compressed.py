"""Compressed inputs (image_transport's compressed and compressedDepth) give the raw inputs' anticipations."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy not installed: run the tests through `make test`")
from model_files import write_model
from node_harness import COLOR_TOPIC, DEPTH_TOPIC, RELIABLE, START_NS, image, node_process, scene
from ros_util import ros_node, spin_until
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from r3d_msgs.msg import AnticipatedAction
from r3d_ros.runtime.compressed import decode_compressed_color, decode_compressed_depth
from r3d_ros.runtime.image import ImageError, RawImage, decode_color, decode_depth

pytestmark = [pytest.mark.ros, pytest.mark.slow]
FRAMES = 45


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_model(tmp_path_factory.mktemp("compressed_model") / "model.safetensors")


def compressed_color(ns: int, rgb: np.ndarray, codec: str) -> CompressedImage:
    """What compressed_image_transport publishes for an rgb8 image: the BGR image, encoded."""
    ok, data = cv2.imencode(f".{codec}", np.ascontiguousarray(rgb[:, :, ::-1]))
    assert ok
    return CompressedImage(header=_header(ns), format=f"rgb8; {codec} compressed bgr8", data=data.tobytes())


def compressed_depth(ns: int, depth: np.ndarray) -> CompressedImage:
    """What compressed_depth_image_transport publishes for 16UC1: a 12-byte header, then a PNG."""
    ok, png = cv2.imencode(".png", depth)
    assert ok
    data = struct.pack("<iff", 0, 0.0, 0.0) + png.tobytes()
    return CompressedImage(header=_header(ns), format="16UC1; compressedDepth png", data=data)


def _header(ns: int) -> Header:
    return image(ns, np.zeros((1, 1), np.uint8), "mono8").header


def run(model_file: Path, cache: Path, codec: str | None) -> list[AnticipatedAction]:
    """Play the same scene raw (codec None) or compressed to a fresh node; what it published."""
    transports = {} if codec is None else {"color_transport": "compressed", "depth_transport": "compressedDepth"}
    with node_process(model_file, cache, **transports), ros_node("compressed_camera") as (node, executor):
        actions: list[AnticipatedAction] = []
        node.create_subscription(AnticipatedAction, "/anticipated_action", actions.append, RELIABLE)
        kind = Image if codec is None else CompressedImage
        suffix = ("", "") if codec is None else ("/compressed", "/compressedDepth")
        color = node.create_publisher(kind, COLOR_TOPIC + suffix[0], RELIABLE)
        depth = node.create_publisher(kind, DEPTH_TOPIC + suffix[1], RELIABLE)
        ready = lambda: color.get_subscription_count() > 0 and depth.get_subscription_count() > 0  # noqa: E731
        assert spin_until(executor, ready, 20.0)
        for i, (rgb, metres) in enumerate(scene(FRAMES)):
            ns = START_NS + round(i * 1e9 / 30)
            if codec is None:
                color.publish(image(ns, rgb, "rgb8"))
                depth.publish(image(ns, metres, "16UC1"))
            else:
                color.publish(compressed_color(ns, rgb, codec))
                depth.publish(compressed_depth(ns, metres))
            spin_until(executor, lambda: False, 1 / 30)
        spin_until(executor, lambda: False, 1.5)
    return actions


def test_png_and_compressed_depth_give_the_raw_anticipations_exactly(model_file: Path, tmp_path: Path) -> None:
    raw = run(model_file, tmp_path / "cache", None)
    png = run(model_file, tmp_path / "cache", "png")
    assert len(raw) >= 10 and len(png) == len(raw)
    for a, b in zip(raw, png, strict=True):
        assert a.header.stamp == b.header.stamp and a.depth_present and b.depth_present
        assert list(a.next_probabilities) == list(b.next_probabilities)


def test_jpeg_color_gives_the_raw_anticipations_within_decoding_error(model_file: Path, tmp_path: Path) -> None:
    raw = run(model_file, tmp_path / "cache", None)
    jpeg = run(model_file, tmp_path / "cache", "jpg")
    assert len(jpeg) == len(raw)
    difference = max(abs(p - q) for a, b in zip(raw, jpeg, strict=True) for p, q in zip(a.next_probabilities,
                     b.next_probabilities, strict=True))  # fmt: skip
    assert difference < 0.05


def test_decoded_compressed_images_equal_the_raw_ones() -> None:
    rgb, depth = next(scene(1))
    color = decode_compressed_color(compressed_color(0, rgb, "png").data, "rgb8; png compressed bgr8")
    assert np.array_equal(decode_color(color), rgb)
    metres = decode_compressed_depth(compressed_depth(0, depth).data, "16UC1; compressedDepth png")
    assert np.array_equal(decode_depth(metres), decode_depth(RawImage.from_array(depth, "16UC1")))


def test_undecodable_compressed_data_is_an_image_error() -> None:
    with pytest.raises(ImageError, match="cannot be decoded"):
        decode_compressed_color(b"not a jpeg", "bgr8; jpeg compressed bgr8")
    with pytest.raises(ImageError, match="unsupported compressed depth format"):
        decode_compressed_depth(b"\0" * 20, "16UC1; png")
