"""The one mapping between the core :class:`Anticipation` and ``r3d_msgs/AnticipatedAction``.

Three places speak the message: the node publishes it with rclpy's classes, the
offline replay writes it into a bag with rosbags' classes, and the online
evaluator reads received messages back into the core form it scores. Both
libraries build messages from keyword arguments and expose fields as attributes,
so the field mapping is written once here against the field names, and each
caller hands in the classes to build with (:class:`MessageTypes`). A field added
to the message is added here, and the round-trip tests fail until it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from r3d_ros.runtime.anticipator import Anticipation, SegmentEstimate
from r3d_ros.runtime.timebase import StampEpoch

NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class MessageTypes:
    """The message classes of one ROS library, and how it takes a ``float32[]`` field."""

    time: Callable[..., Any]  # builtin_interfaces/Time
    duration: Callable[..., Any]  # builtin_interfaces/Duration
    header: Callable[..., Any]  # std_msgs/Header
    segment: Callable[..., Any]  # r3d_msgs/ActionSegment
    action: Callable[..., Any]  # r3d_msgs/AnticipatedAction
    float_array: Callable[[np.ndarray], Any]  # rclpy wants Python floats, rosbags a float32 array


def time_fields(ns: int) -> dict[str, int]:
    """Integer nanoseconds -> the fields of builtin_interfaces/Time."""
    sec, nanosec = divmod(ns, NS_PER_S)
    return {"sec": sec, "nanosec": nanosec}


def duration_fields(seconds: float) -> dict[str, int]:
    """Seconds (may be negative) -> the fields of builtin_interfaces/Duration, nanosec in [0, 1e9)."""
    sec, nanosec = divmod(round(seconds * NS_PER_S), NS_PER_S)
    return {"sec": sec, "nanosec": nanosec}


def stamp_ns(stamp: Any) -> int:
    """A Time message of either library -> integer nanoseconds."""
    return stamp.sec * NS_PER_S + stamp.nanosec


def duration_seconds(duration: Any) -> float:
    """A Duration message of either library -> seconds."""
    return duration.sec + duration.nanosec * 1e-9


def segment_to_message(types: MessageTypes, segment: SegmentEstimate) -> Any:
    """Core segment -> r3d_msgs/ActionSegment."""
    return types.segment(
        class_id=segment.class_id,
        label=segment.label,
        confidence=float(segment.confidence),
        start_offset=types.duration(**duration_fields(segment.start_offset_s)),
        duration=types.duration(**duration_fields(segment.duration_s)),
    )


def to_message(types: MessageTypes, result: Anticipation, epoch: StampEpoch, frame_id: str) -> Any:
    """Core anticipation -> r3d_msgs/AnticipatedAction, stamped with its last frame's stamp."""
    return types.action(
        header=types.header(stamp=types.time(**time_fields(epoch.nanoseconds(result.stamp))), frame_id=frame_id),
        window_start=types.time(**time_fields(epoch.nanoseconds(result.window_start))),
        num_observed_frames=result.num_frames,
        horizon=types.duration(**duration_fields(result.horizon_s)),
        next_class_id=result.next_class_id,
        next_label=result.next_label,
        next_confidence=float(result.next_confidence),
        next_probabilities=types.float_array(np.asarray(result.next_probabilities, dtype=np.float32)),
        future=[segment_to_message(types, segment) for segment in result.future],
        current=segment_to_message(types, result.current),
        rgb_present=result.rgb_present,
        depth_present=result.depth_present,
        rgb_substituted=result.rgb_substituted,
        depth_substituted=result.depth_substituted,
        fused_effective_rank=float(result.fused_effective_rank),
        model_id=result.model_id,
    )


def segment_from_message(message: Any) -> SegmentEstimate:
    """r3d_msgs/ActionSegment of either library -> core segment."""
    return SegmentEstimate(
        message.class_id,
        message.label,
        message.confidence,
        duration_seconds(message.start_offset),
        duration_seconds(message.duration),
    )


def from_message(message: Any, epoch: StampEpoch) -> Anticipation:
    """r3d_msgs/AnticipatedAction of either library -> core anticipation.

    The message says whether depth was present on the newest frame, not over the
    window, so ``depth_missing_fraction`` reads 0 or 1.
    """
    return Anticipation(
        stamp=epoch.seconds(stamp_ns(message.header.stamp)),
        window_start=epoch.seconds(stamp_ns(message.window_start)),
        num_frames=message.num_observed_frames,
        horizon_s=duration_seconds(message.horizon),
        next_class_id=message.next_class_id,
        next_label=message.next_label,
        next_confidence=message.next_confidence,
        next_probabilities=np.asarray(message.next_probabilities, dtype=np.float32),
        future=[segment_from_message(segment) for segment in message.future],
        current=segment_from_message(message.current),
        rgb_present=message.rgb_present,
        depth_present=message.depth_present,
        rgb_substituted=message.rgb_substituted,
        depth_substituted=message.depth_substituted,
        depth_missing_fraction=0.0 if message.depth_present else 1.0,
        fused_effective_rank=message.fused_effective_rank,
        model_id=message.model_id,
    )
