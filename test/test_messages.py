"""r3d_msgs round-trip between two processes over real DDS (Fast DDS on loopback)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("rclpy", reason="rclpy not installed: run the tests through `make test`")
from msg_publisher import LABELS_QOS, sample_messages
from ros_util import ros_node, spin_until

from r3d_msgs.msg import ActionLabels, AnticipatedAction

pytestmark = pytest.mark.ros


@pytest.fixture
def publisher_process():
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("msg_publisher.py"))],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout.readline().strip() == "publishing"
    yield process
    process.terminate()
    process.wait(timeout=10)


def test_anticipated_action_round_trips_every_field(publisher_process) -> None:
    received: list[AnticipatedAction] = []
    with ros_node("r3d_msgs_test_subscriber") as (node, executor):
        node.create_subscription(AnticipatedAction, "/anticipated_action", received.append, 10)
        assert spin_until(executor, lambda: len(received) >= 3, timeout=20.0), "no AnticipatedAction arrived"
    expected, _ = sample_messages()
    assert received[0] == expected
    assert list(received[0].next_probabilities) == [0.0625, 0.125, 0.75, 0.03125, 0.03125]
    assert [s.label for s in received[0].future] == ["lift", "place"]
    assert received[0].current.start_offset.sec == -2


def test_labels_reach_a_late_subscriber_through_transient_local(publisher_process) -> None:
    time.sleep(1.0)  # the labels were published once, before this subscriber existed
    received: list[ActionLabels] = []
    with ros_node("r3d_labels_late_subscriber") as (node, executor):
        node.create_subscription(ActionLabels, "/anticipated_action/labels", received.append, LABELS_QOS)
        assert spin_until(executor, lambda: bool(received), timeout=20.0), "late subscriber got no labels"
    _, expected = sample_messages()
    assert received[0] == expected
    assert len(received) == 1
