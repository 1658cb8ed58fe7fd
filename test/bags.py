"""Small real rosbag2 recordings of labelled synthetic RGB-D video, and replaying them with r3d-eval-bag."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

from rosbags.rosbag2 import StoragePlugin, Writer

from r3d_ros.config import SyntheticConfig
from r3d_ros.data.bag_export import COLOR_TOPIC, DEPTH_TOPIC, IMAGE_TYPE, TYPESTORE, image_message, label_segments
from r3d_ros.data.labels import write_label_file
from r3d_ros.data.synthetic import generate_synthetic
from r3d_ros.data.video import Video
from r3d_ros.eval import cli

# A camera clock counts from its boot; a bag records the wall clock when each message arrived.
CAMERA_CLOCK_NS = 1_000 * 10**9
WALL_CLOCK_NS = 1_764_000_000 * 10**9


def synthetic_video() -> tuple[Video, list[str]]:
    """An 8 s labelled RGB-D video at 10 frames/s."""
    config = SyntheticConfig(num_train=0, num_test=1, seconds=8.0, fps=10.0, height=60, width=80, seed=5)
    dataset = generate_synthetic(config)
    return dataset.videos[0], dataset.class_names


def write_messages(path: Path, rows: Iterable[tuple[str, int, object]]) -> Path:
    """A rosbag2 (MCAP) of ``(topic, bag time ns, sensor_msgs/Image)`` rows, as ``ros2 bag record`` writes it."""
    with Writer(path, version=8, storage_plugin=StoragePlugin.MCAP) as writer:
        connections = {}
        for topic, bag_ns, message in rows:
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, IMAGE_TYPE, typestore=TYPESTORE)
            writer.write(connections[topic], bag_ns, TYPESTORE.serialize_cdr(message, IMAGE_TYPE))
    return path


def write_labels(path: Path, video: Video, class_names: list[str]) -> Path:
    """The video's labels: seconds since its first frame, up to its last."""
    write_label_file(path, label_segments(video.stamps - video.stamps[0], video.labels, class_names))
    return path


def restarting_bag(folder: Path) -> tuple[Path, Path, Video]:
    """A recording whose camera clock restarts half-way (a looped or restarted driver).

    Header stamps go back to the first frame's at the middle, while the bag's
    receive times keep increasing; the labels cover the whole recording.
    """
    video, class_names = synthetic_video()
    half = len(video) // 2

    def rows() -> Iterable[tuple[str, int, object]]:
        for index, frame in enumerate(video.frames(range(len(video)))):
            stamp_ns = CAMERA_CLOCK_NS + round(video.stamps[index % half] * 1e9)
            bag_ns = WALL_CLOCK_NS + round(video.stamps[index] * 1e9)
            yield COLOR_TOPIC, bag_ns, image_message(frame.color, stamp_ns, "camera_color_optical_frame")
            yield DEPTH_TOPIC, bag_ns, image_message(frame.depth, stamp_ns, "camera_color_optical_frame")

    bag = write_messages(folder / "restarting", rows())
    return bag, write_labels(folder / "restarting.labels.csv", video, class_names), video


def malformed_first_frame_bag(folder: Path) -> Path:
    """A recording whose first color message has an unknown encoding and first depth message too few bytes."""
    video, _ = synthetic_video()

    def rows() -> Iterable[tuple[str, int, object]]:
        for index, frame in enumerate(video.frames(range(len(video)))):
            stamp_ns = round(video.stamps[index] * 1e9)
            color = image_message(frame.color, stamp_ns, "camera_color_optical_frame")
            depth = image_message(frame.depth, stamp_ns, "camera_color_optical_frame")
            if index == 0:
                color = dataclasses.replace(color, encoding="bogus")
                depth = dataclasses.replace(depth, data=depth.data[: len(depth.data) // 2])
            yield COLOR_TOPIC, stamp_ns, color
            yield DEPTH_TOPIC, stamp_ns, depth

    return write_messages(folder / "malformed_first", rows())


def replay(bag: Path, labels: Path | None, model: Path, out: Path, *extra: str) -> int:
    """Run r3d-eval-bag on ``bag`` with ONNX Runtime (extra command-line arguments appended); its exit status."""
    args = ["--bag", str(bag), "--model", str(model), "--out", str(out), "--backend", "onnxruntime", "--no-progress"]
    args += ["--cache-dir", str(out.parent / "cache")]
    return cli.main(args + (["--labels", str(labels)] if labels else []) + list(extra))
