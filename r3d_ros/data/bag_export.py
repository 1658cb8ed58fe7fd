"""Write RGB-D frames as a rosbag2 recording, like ``ros2 bag record`` of a RealSense camera.

Tests, the demo and the benchmarks need recordings that look exactly like a
user's: real ``sensor_msgs/msg/Image`` messages on the realsense2_camera topics,
color and aligned depth with identical header stamps, bag timestamps equal to
the stamps, in MCAP or sqlite3 storage. Bags are written with the rosbags
library (no ROS install needed) and carry their message definitions, so ROS 2
tools and :func:`r3d_ros.data.rosbag.load_recordings` read them back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from r3d_ros.data.labels import UNLABELED, Segment, write_label_file
from r3d_ros.data.video import Frame, Video
from r3d_ros.runtime.image import ImageError, RawImage

COLOR_TOPIC = "/camera/camera/color/image_raw"
DEPTH_TOPIC = "/camera/camera/aligned_depth_to_color/image_raw"
FRAME_ID = "camera_color_optical_frame"
IMAGE_TYPE = "sensor_msgs/msg/Image"
STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
# sensor_msgs/Image is the same in every ROS 2 distro, so Humble's definitions suit them all.
TYPESTORE = get_typestore(Stores.ROS2_HUMBLE)
# rosbag2 format version 8 (ROS 2 Jazzy): the oldest one rosbags can write, so the most readers accept it.
BAG_VERSION = 8


def image_message(image: RawImage, stamp_ns: int, frame_id: str) -> Any:
    """A sensor_msgs/msg/Image with ``image``'s bytes, layout and the given stamp."""
    types = TYPESTORE.types
    data = image.data if isinstance(image.data, np.ndarray) else np.frombuffer(image.data, dtype=np.uint8)
    data = np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    size = image.step * image.height
    if data.size < size:
        raise ImageError(f"{image.encoding} image data has {data.size} bytes, expected step*height = {size}")
    time = types["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)
    return types[IMAGE_TYPE](
        header=types["std_msgs/msg/Header"](stamp=time, frame_id=frame_id),
        height=image.height,
        width=image.width,
        encoding=image.encoding,
        is_bigendian=int(image.is_bigendian),
        step=image.step,
        data=data[:size],
    )


def write_rgbd_bag(
    path: str | Path,
    frames: Iterable[tuple[float, RawImage, RawImage | None]],
    storage: str = "mcap",
    color_topic: str = COLOR_TOPIC,
    depth_topic: str = DEPTH_TOPIC,
    frame_id: str = FRAME_ID,
) -> Path:
    """Write ``(stamp_s, color, depth or None)`` frames as a rosbag2 folder at ``path`` (must not exist).

    Both images of a frame get header stamp ``stamp_s`` (as realsense2_camera
    stamps aligned depth) and that bag timestamp; a missing depth frame is simply
    not written, as when the driver drops one.
    """
    if storage not in STORAGES:
        raise ValueError(f"storage must be one of {sorted(STORAGES)}, got {storage!r}")
    path = Path(path)
    with Writer(path, version=BAG_VERSION, storage_plugin=STORAGES[storage]) as writer:
        color = writer.add_connection(color_topic, IMAGE_TYPE, typestore=TYPESTORE)
        depth = writer.add_connection(depth_topic, IMAGE_TYPE, typestore=TYPESTORE)
        for stamp_s, color_image, depth_image in frames:
            stamp_ns = round(stamp_s * 1e9)
            for connection, image in ((color, color_image), (depth, depth_image)):
                if image is not None:
                    message = image_message(image, stamp_ns, frame_id)
                    writer.write(connection, stamp_ns, TYPESTORE.serialize_cdr(message, IMAGE_TYPE))
    return path


def label_segments(times: np.ndarray, labels: np.ndarray, class_names: Sequence[str]) -> list[Segment]:
    """Per-frame class ids -> label segments that :func:`~r3d_ros.data.labels.frame_labels` maps back.

    Boundaries lie halfway between frames, so rounding in the label file cannot
    move a frame across one.
    """
    if len(times) == 0:
        return []
    last_gap = times[-1] - times[-2] if len(times) > 1 else 1.0
    bounds = np.concatenate([[0.0], (times[1:] + times[:-1]) / 2, [times[-1] + last_gap / 2]])
    segments = []
    start = 0
    for index in range(1, len(labels) + 1):
        if index == len(labels) or labels[index] != labels[start]:
            if labels[start] != UNLABELED:
                segments.append(Segment(float(bounds[start]), float(bounds[index]), class_names[labels[start]]))
            start = index
    return segments


def write_video_bag(
    path: str | Path,
    video: Video,
    class_names: Sequence[str] | None = None,
    storage: str = "mcap",
    color_topic: str = COLOR_TOPIC,
    depth_topic: str = DEPTH_TOPIC,
) -> tuple[Path, Path | None]:
    """Write ``video`` as a bag at ``path``; with ``class_names``, also its labels as ``<path>.labels.csv``.

    Returns (bag path, label file path or None). Label times are seconds since
    the first frame, which is the first synchronized color frame of the bag.
    16-bit depth is written as recorded: a bag has no depth scale, so readers
    assume 1 mm per unit (the RealSense default) and other scales are refused.
    """
    path = Path(path)

    def frames() -> Iterable[tuple[float, RawImage, RawImage | None]]:
        for stamp, frame in zip(video.stamps, video.frames(range(len(video))), strict=True):
            _check_depth_scale(video.name, frame)
            yield float(stamp), frame.color, frame.depth

    write_rgbd_bag(path, frames(), storage, color_topic, depth_topic)
    if class_names is None:
        return path, None
    label_path = path.with_name(f"{path.name}.labels.csv")
    write_label_file(label_path, label_segments(video.stamps - video.stamps[0], video.labels, class_names))
    return path, label_path


def _check_depth_scale(name: str, frame: Frame) -> None:
    if frame.depth is not None and frame.depth.encoding != "32FC1" and frame.depth_scale != Frame.depth_scale:
        raise ValueError(
            f"{name}: depth scale {frame.depth_scale} cannot be stored in a bag (readers assume {Frame.depth_scale})"
        )
