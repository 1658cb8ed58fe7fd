"""Publisher process for the message round-trip test: sends fully populated r3d_msgs.

Run as ``python msg_publisher.py``; publishes ActionLabels once (transient local)
and AnticipatedAction repeatedly until killed, each built by ``sample_messages``. It
exits when its parent (the test) dies: left running after a killed pytest, it would
publish into the next run's node tests on the same DDS domain.
"""

from __future__ import annotations

import os
import sys

import rclpy
from builtin_interfaces.msg import Duration, Time
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Header

from r3d_msgs.msg import ActionLabels, ActionSegment, AnticipatedAction

LABELS_QOS = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)


def sample_messages() -> tuple[AnticipatedAction, ActionLabels]:
    """Messages with every field set to a distinctive, float32-exact value."""
    header = Header(stamp=Time(sec=1700000000, nanosec=123456789), frame_id="camera_color_optical_frame")
    future = [
        ActionSegment(
            class_id=2,
            label="lift",
            confidence=0.75,
            start_offset=Duration(sec=0, nanosec=400000000),
            duration=Duration(sec=1, nanosec=500000000),
        ),
        ActionSegment(
            class_id=3,
            label="place",
            confidence=0.5,
            start_offset=Duration(sec=1, nanosec=900000000),
            duration=Duration(sec=2, nanosec=0),
        ),
    ]
    action = AnticipatedAction(
        header=header,
        window_start=Time(sec=1699999993, nanosec=500000000),
        num_observed_frames=64,
        horizon=Duration(sec=6, nanosec=0),
        next_class_id=2,
        next_label="lift",
        next_confidence=0.75,
        next_probabilities=[0.0625, 0.125, 0.75, 0.03125, 0.03125],
        future=future,
        current=ActionSegment(
            class_id=1,
            label="grasp",
            confidence=0.875,
            start_offset=Duration(sec=-2, nanosec=0),
            duration=Duration(sec=2, nanosec=400000000),
        ),
        rgb_present=True,
        depth_present=False,
        rgb_substituted=False,
        depth_substituted=True,
        fused_effective_rank=37.25,
        model_id="0123456789ab",
    )
    names = ["reach", "grasp", "lift", "place", "wave"]
    labels = ActionLabels(header=header, class_names=names, model_id="0123456789ab")
    return action, labels


def main() -> None:
    rclpy.init()
    node = Node("r3d_msgs_test_publisher")
    action, labels = sample_messages()
    node.create_publisher(ActionLabels, "/anticipated_action/labels", LABELS_QOS).publish(labels)
    publisher = node.create_publisher(AnticipatedAction, "/anticipated_action", 10)
    parent = os.getppid()

    def publish() -> None:
        if os.getppid() != parent:  # orphaned: the test that started this process is gone
            raise SystemExit(0)
        publisher.publish(action)

    node.create_timer(0.05, publish)
    print("publishing", flush=True)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
