"""The shipped Fast DDS profile for large images loads and carries a 640x480 image intact."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy not installed: run the tests through `make test`")
from node_harness import RELIABLE
from ros_util import ros_node, spin_until
from sensor_msgs.msg import Image

from r3d_ros.ros.dds_profile import LARGE_IMAGE_PROFILE, PROFILE_VARIABLE
from r3d_ros.shipped import shipped_file

pytestmark = pytest.mark.ros

PROFILE = shipped_file(LARGE_IMAGE_PROFILE)
SEGMENT_BYTES = 8 * 1024 * 1024
SHM = Path("/dev/shm")

PUBLISHER = """
import sys, time
import numpy as np, rclpy
from node_harness import RELIABLE, image
rclpy.init()
node = rclpy.create_node("profile_image_publisher")
publisher = node.create_publisher(__import__("sensor_msgs.msg").msg.Image, "/profile_test/color", RELIABLE)
color = np.arange(480 * 640 * 3, dtype=np.uint32).astype(np.uint8).reshape(480, 640, 3)
print("publishing", flush=True)
for i in range(600):
    publisher.publish(image(time.time_ns(), color, "bgr8"))
    rclpy.spin_once(node, timeout_sec=0.05)
"""


def fastdds_segments() -> dict[Path, int]:
    """Fast DDS shared-memory segments now present, with their sizes."""
    return {path: path.stat().st_size for path in SHM.glob("fastdds_*") if "port" not in path.name}


@pytest.fixture
def profiled_publisher():
    python_path = os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, PROFILE_VARIABLE: str(PROFILE), "PYTHONPATH": python_path}
    before = set(fastdds_segments())
    process = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert process.stdout.readline().strip() == "publishing", process.stderr.read()
    yield process, before
    process.terminate()
    process.wait(timeout=10)


def test_profile_is_accepted_by_fast_dds_and_carries_a_vga_image(profiled_publisher) -> None:
    process, before = profiled_publisher
    received: list[Image] = []
    with ros_node("profile_image_subscriber") as (node, executor):
        node.create_subscription(Image, "/profile_test/color", received.append, RELIABLE)
        assert spin_until(executor, lambda: len(received) >= 3, timeout=20.0), "no image arrived"
        new_segments = {path: size for path, size in fastdds_segments().items() if path not in before}
    expected = np.arange(480 * 640 * 3, dtype=np.uint32).astype(np.uint8)
    assert np.array_equal(np.frombuffer(received[-1].data, dtype=np.uint8), expected)
    process.terminate()
    _, stderr = process.communicate(timeout=10)
    assert "XMLPARSER" not in stderr, stderr
    # The profile's larger segment exists: Fast DDS applied it rather than falling back.
    assert any(size >= SEGMENT_BYTES for size in new_segments.values()), new_segments
