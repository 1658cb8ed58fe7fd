"""One mapping between Anticipation and r3d_msgs/AnticipatedAction, for rclpy and rosbags alike."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy not installed: run the tests through `make test`")
from rclpy.serialization import deserialize_message, serialize_message

from r3d_msgs.msg import AnticipatedAction
from r3d_ros.eval.prediction_bag import ACTION_TYPE, message_types, r3d_typestore
from r3d_ros.ros.convert import RCLPY_TYPES, anticipation_message
from r3d_ros.runtime.action_message import from_message, to_message
from r3d_ros.runtime.anticipator import Anticipation, SegmentEstimate
from r3d_ros.runtime.timebase import StampEpoch

FRAME_ID = "camera_color_optical_frame"


def sample_anticipation(epoch: StampEpoch) -> Anticipation:
    """Every field set to a distinctive value a float32 holds exactly; a segment that began in the past."""
    return Anticipation(
        stamp=epoch.seconds(1_700_000_000_123_456_789),
        window_start=epoch.seconds(1_699_999_993_500_000_000),
        num_frames=64,
        horizon_s=6.0,
        next_class_id=2,
        next_label="lift",
        next_confidence=0.75,
        next_probabilities=np.array([0.0625, 0.125, 0.75, 0.03125, 0.03125], dtype=np.float32),
        future=[SegmentEstimate(2, "lift", 0.75, 0.4, 1.5), SegmentEstimate(3, "place", 0.5, 1.9, 2.0)],
        current=SegmentEstimate(1, "grasp", 0.875, -2.0, 2.4),
        rgb_present=True,
        depth_present=False,
        rgb_substituted=False,
        depth_substituted=True,
        depth_missing_fraction=1.0,
        fused_effective_rank=37.25,
        model_id="0123456789ab",
    )


def fields(result: Anticipation) -> dict:
    values = dataclasses.asdict(result)
    values["next_probabilities"] = values["next_probabilities"].tolist()
    return values


def test_each_library_reads_the_others_bytes_as_its_own_message() -> None:
    """The node's topic recorded and read with rosbags, or the bag writer's bytes read by rclpy, lose nothing.

    Compared as messages, not bytes: CDR alignment padding is not cleared by rclpy's serializer.
    """
    epoch = StampEpoch()
    result = sample_anticipation(epoch)
    store = r3d_typestore()
    from_bag_writer = bytes(store.serialize_cdr(to_message(message_types(store), result, epoch, FRAME_ID), ACTION_TYPE))
    from_node = anticipation_message(result, epoch, FRAME_ID)
    assert deserialize_message(from_bag_writer, AnticipatedAction) == from_node
    read_by_rosbags = store.deserialize_cdr(serialize_message(from_node), ACTION_TYPE)
    assert fields(from_message(read_by_rosbags, epoch)) == fields(result)


@pytest.mark.parametrize("library", ["rclpy", "rosbags"])
def test_an_anticipation_read_back_from_its_message_is_unchanged(library: str) -> None:
    epoch = StampEpoch()
    result = sample_anticipation(epoch)
    types = RCLPY_TYPES if library == "rclpy" else message_types(r3d_typestore())
    read_back = from_message(to_message(types, result, epoch, FRAME_ID), epoch)
    assert fields(read_back) == fields(result)


def test_the_header_carries_the_last_frames_stamp_to_the_nanosecond() -> None:
    epoch = StampEpoch()
    message = anticipation_message(sample_anticipation(epoch), epoch, FRAME_ID)
    assert (message.header.stamp.sec, message.header.stamp.nanosec) == (1_700_000_000, 123_456_789)
    assert message.header.frame_id == FRAME_ID
