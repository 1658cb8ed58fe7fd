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
from r3d_ros.runtime.anticipator import Anticipation, SegmentEstimate
from r3d_ros.runtime.image import RawImage
from r3d_ros.runtime.timebase import StampEpoch

NS_PER_S = 1_000_000_000


def time_to_ns(stamp: Time) -> int:
    """builtin_interfaces/Time -> integer nanoseconds."""
    return stamp.sec * NS_PER_S + stamp.nanosec


def ns_to_time(ns: int) -> Time:
    """Integer nanoseconds -> builtin_interfaces/Time."""
    sec, nanosec = divmod(ns, NS_PER_S)
    return Time(sec=sec, nanosec=nanosec)


def seconds_to_duration(seconds: float) -> Duration:
    """Seconds (may be negative) -> builtin_interfaces/Duration with nanosec in [0, 1e9)."""
    sec, nanosec = divmod(round(seconds * NS_PER_S), NS_PER_S)
    return Duration(sec=sec, nanosec=nanosec)


def image_to_raw(message: Image) -> RawImage:
    """sensor_msgs/Image -> RawImage sharing the message's buffer."""
    return RawImage(
        message.data, message.height, message.width, message.encoding, message.step, bool(message.is_bigendian)
    )


def segment_message(segment: SegmentEstimate) -> ActionSegment:
    """Core segment -> r3d_msgs/ActionSegment."""
    return ActionSegment(
        class_id=segment.class_id,
        label=segment.label,
        confidence=float(segment.confidence),
        start_offset=seconds_to_duration(segment.start_offset_s),
        duration=seconds_to_duration(segment.duration_s),
    )


def anticipation_message(result: Anticipation, epoch: StampEpoch, frame_id: str) -> AnticipatedAction:
    """Core anticipation -> r3d_msgs/AnticipatedAction stamped with the last frame's stamp."""
    return AnticipatedAction(
        header=Header(stamp=ns_to_time(epoch.nanoseconds(result.stamp)), frame_id=frame_id),
        window_start=ns_to_time(epoch.nanoseconds(result.window_start)),
        num_observed_frames=result.num_frames,
        horizon=seconds_to_duration(result.horizon_s),
        next_class_id=result.next_class_id,
        next_label=result.next_label,
        next_confidence=float(result.next_confidence),
        next_probabilities=[float(p) for p in result.next_probabilities],
        future=[segment_message(s) for s in result.future],
        current=segment_message(result.current),
        rgb_present=result.rgb_present,
        depth_present=result.depth_present,
        rgb_substituted=result.rgb_substituted,
        depth_substituted=result.depth_substituted,
        fused_effective_rank=float(result.fused_effective_rank),
        model_id=result.model_id,
    )


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
