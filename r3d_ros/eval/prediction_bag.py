"""Write anticipations as ``r3d_msgs/AnticipatedAction`` into an MCAP rosbag2, without ROS.

The message definitions are read from the ``r3d_msgs`` interface package (its
installed share folder, or the source tree) and registered in a ``rosbags``
typestore, so the bag embeds the same definitions a ROS install has and opens
next to the input bag in the usual tools (Foxglove, ``ros2 bag``, the ``mcap``
reader).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from r3d_ros.runtime.action_message import MessageTypes, time_fields, to_message
from r3d_ros.runtime.anticipator import Anticipation
from r3d_ros.runtime.timebase import StampEpoch

ACTION_TYPE = "r3d_msgs/msg/AnticipatedAction"
LABELS_TYPE = "r3d_msgs/msg/ActionLabels"
MESSAGES = ("ActionSegment", "AnticipatedAction", "ActionLabels")


def message_folder() -> Path:
    """Where r3d_msgs' .msg files are: an installed share folder, else the repository."""
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        folder = Path(prefix) / "share" / "r3d_msgs" / "msg"
        if (folder / "AnticipatedAction.msg").is_file():
            return folder
    folder = Path(__file__).resolve().parents[2] / "r3d_msgs" / "msg"
    if (folder / "AnticipatedAction.msg").is_file():
        return folder
    raise FileNotFoundError("r3d_msgs message definitions not found (build r3d_msgs or run from the repository)")


def r3d_typestore() -> Any:
    """A ROS 2 typestore with the r3d_msgs types registered."""
    store = get_typestore(Stores.ROS2_HUMBLE)
    folder = message_folder()
    types = {}
    for name in MESSAGES:
        types.update(get_types_from_msg((folder / f"{name}.msg").read_text(), f"r3d_msgs/msg/{name}"))
    store.register(types)
    return store


def message_types(store: Any) -> MessageTypes:
    """The rosbags classes of ``store`` for the shared Anticipation <-> message mapping."""
    return MessageTypes(
        time=store.types["builtin_interfaces/msg/Time"],
        duration=store.types["builtin_interfaces/msg/Duration"],
        header=store.types["std_msgs/msg/Header"],
        segment=store.types["r3d_msgs/msg/ActionSegment"],
        action=store.types[ACTION_TYPE],
        float_array=lambda values: values,
    )


def write_prediction_bag(
    path: Path,
    results: Iterable[Anticipation],
    epoch: StampEpoch,
    class_names: list[str],
    model_id: str,
    frame_id: str,
    topic: str = "/anticipated_action",
    bag_ns: Sequence[int] | None = None,
) -> Path:
    """Write ``results`` (and the labels once) as an MCAP rosbag2 folder at ``path``.

    Messages carry the header stamps the node publishes; they are logged at
    ``bag_ns`` (the input bag's receive time of each result's frame) when given,
    so they line up with the input bag in a viewer even where the camera's
    stamps restart, and at their header stamps otherwise.
    """
    store = r3d_typestore()
    results = list(results)
    stamps = [epoch.nanoseconds(result.stamp) for result in results]
    log_times = list(bag_ns) if bag_ns is not None else stamps
    with Writer(path, version=8, storage_plugin=StoragePlugin.MCAP) as writer:
        actions = writer.add_connection(topic, ACTION_TYPE, typestore=store)
        labels = writer.add_connection(f"{topic}/labels", LABELS_TYPE, typestore=store)
        first_stamp, first_log = (stamps[0], log_times[0]) if results else (0, 0)
        types = message_types(store)
        header = types.header(stamp=types.time(**time_fields(first_stamp)), frame_id=frame_id)
        message = store.types[LABELS_TYPE](header=header, class_names=list(class_names), model_id=model_id)
        writer.write(labels, first_log, store.serialize_cdr(message, LABELS_TYPE))
        for result, log_ns in zip(results, log_times, strict=True):
            writer.write(actions, log_ns, store.serialize_cdr(to_message(types, result, epoch, frame_id), ACTION_TYPE))
    return path
