"""Conversions between ROS messages and the ROS-free core types.

Images are wrapped without copying their pixel buffer. Stamps go through
:class:`~r3d_ros.runtime.timebase.StampEpoch` so an anticipation's header stamp
is bit-identical to the last observed image's stamp.
"""

from __future__ import annotations

from builtin_interfaces.msg import Duration, Time
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from r3d_msgs.msg import ActionLabels, ActionSegment, AnticipatedAction
from r3d_ros.runtime.action_message import MessageTypes, stamp_ns, time_fields, to_message
from r3d_ros.runtime.anticipator import Anticipation
from r3d_ros.runtime.image import RawImage
from r3d_ros.runtime.timebase import StampEpoch


def time_to_ns(stamp: Time) -> int:
    """builtin_interfaces/Time -> integer nanoseconds."""
    return stamp_ns(stamp)


def ns_to_time(ns: int) -> Time:
    """Integer nanoseconds -> builtin_interfaces/Time."""
    return Time(**time_fields(ns))


def image_to_raw(message: Image) -> RawImage:
    """sensor_msgs/Image -> RawImage sharing the message's buffer."""
    return RawImage(
        message.data, message.height, message.width, message.encoding, message.step, bool(message.is_bigendian)
    )


# The message mapping itself lives in the ROS-free core (shared with the bag writer and the online reader).
RCLPY_TYPES = MessageTypes(
    time=Time,
    duration=Duration,
    header=Header,
    segment=ActionSegment,
    action=AnticipatedAction,
    float_array=lambda values: [float(value) for value in values],
)


def anticipation_message(result: Anticipation, epoch: StampEpoch, frame_id: str) -> AnticipatedAction:
    """Core anticipation -> r3d_msgs/AnticipatedAction stamped with the last frame's stamp."""
    return to_message(RCLPY_TYPES, result, epoch, frame_id)


def labels_message(class_names: list[str], model_id: str, stamp: Time, frame_id: str = "") -> ActionLabels:
    """The class list, published once with transient-local durability."""
    return ActionLabels(header=Header(stamp=stamp, frame_id=frame_id), class_names=list(class_names), model_id=model_id)


def diagnostic_status(
    name: str, level: bytes, message: str, values: dict[str, object], hardware_id: str
) -> DiagnosticStatus:
    """A DiagnosticStatus with string key/values."""
    return DiagnosticStatus(
        level=level,
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=[KeyValue(key=k, value=str(v)) for k, v in values.items()],
    )
