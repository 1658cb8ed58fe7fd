"""Run the anticipation node in its own process and talk to it over real DDS."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from ros_util import spin_until
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from r3d_msgs.msg import ActionLabels, AnticipatedAction

COLOR_TOPIC = "/test_camera/color/image_raw"
DEPTH_TOPIC = "/test_camera/aligned_depth_to_color/image_raw"
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
START_NS = 1_700_000_000_123_456_789  # a stamp in 2023, far from any test clock
LABELS_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


@contextmanager
def node_process(
    model: Path, cache: Path, ros_args: tuple[str, ...] = (), **parameters: object
) -> Iterator[subprocess.Popen]:
    """Start ``anticipation_node`` with ``parameters`` (and extra ``ros_args``) and wait until it is active."""
    values = {
        "model_path": str(model),
        "backend": "onnxruntime",
        "cache_dir": str(cache),
        "threads": 1,
        "color_topic": COLOR_TOPIC,
        "depth_topic": DEPTH_TOPIC,
        "qos_reliability": "reliable",
        "diagnostics_period_s": 0.5,
        **parameters,
    }
    args = [sys.executable, "-m", "r3d_ros.ros.node", "--ros-args", *ros_args]
    for name, value in values.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        args += ["-p", f"{name}:={text}"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy())
    lines = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "active: input" in line:
                process.log_lines = lines  # type: ignore[attr-defined]
                yield process
                return
        raise RuntimeError("node did not become active:\n" + "".join(lines))
    finally:
        process.terminate()
        try:
            rest, _ = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            rest, _ = process.communicate()
        process.output = "".join(lines) + (rest or "")  # type: ignore[attr-defined]


def node_exit(model: Path, cache: Path, **parameters: object) -> tuple[int, str]:
    """Run the node expecting it to stop at start-up; (exit status, output)."""
    args = [sys.executable, "-m", "r3d_ros.ros.node", "--ros-args"]
    for name, value in {"model_path": str(model), "cache_dir": str(cache), **parameters}.items():
        args += ["-p", f"{name}:={value}"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    return result.returncode, result.stdout + result.stderr


def stamp(ns: int) -> Time:
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def image(ns: int, array: np.ndarray, encoding: str, frame_id: str = "test_color_optical_frame", step=None) -> Image:
    """A sensor_msgs/Image of ``array``; ``step`` other than the tight row size pads or truncates rows."""
    height, width = array.shape[:2]
    channels = array.shape[2] if array.ndim == 3 else 1
    row_bytes = width * channels * array.itemsize
    rows = np.ascontiguousarray(array).view(np.uint8).reshape(height, row_bytes)
    step = row_bytes if step is None else step
    buffer = np.zeros((height, step), dtype=np.uint8)
    buffer[:, : min(step, row_bytes)] = rows[:, : min(step, row_bytes)]
    return Image(
        header=Header(stamp=stamp(ns), frame_id=frame_id),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=step,
        data=buffer.tobytes(),
    )


@dataclass
class Collector:
    """Everything the node published, as received."""

    actions: list[AnticipatedAction] = field(default_factory=list)
    receive_ns: list[int] = field(default_factory=list)
    labels: list[ActionLabels] = field(default_factory=list)
    diagnostics: list[DiagnosticArray] = field(default_factory=list)

    def attach(self, node: Node) -> None:
        def on_action(message: AnticipatedAction) -> None:
            self.actions.append(message)
            self.receive_ns.append(time.time_ns())

        node.create_subscription(AnticipatedAction, "/anticipated_action", on_action, RELIABLE)
        node.create_subscription(ActionLabels, "/anticipated_action/labels", self.labels.append, LABELS_QOS)
        node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)

    def last_diagnostics(self) -> dict[str, str]:
        for array in reversed(self.diagnostics):
            for status in array.status:
                if status.name.startswith("r3d_anticipation"):
                    return {kv.key: kv.value for kv in status.values} | {"_message": status.message}
        return {}


def scene(count: int, size: tuple[int, int] = (120, 160), seed: int = 0):
    """A moving textured scene with metric depth."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
    for i in range(count):
        depth = np.full(size, 1500 + 10 * i, dtype=np.uint16)
        yield np.roll(base, 2 * i, axis=1), depth


class Camera:
    """Publishes color and aligned depth like realsense2_camera (identical stamps)."""

    def __init__(self, node, executor, collector: Collector) -> None:
        self.node, self.executor, self.collector = node, executor, collector
        self.color = node.create_publisher(Image, COLOR_TOPIC, RELIABLE)
        self.depth = node.create_publisher(Image, DEPTH_TOPIC, RELIABLE)
        self.sent: list[int] = []

    def wait_for_node(self) -> None:
        ready = lambda: self.color.get_subscription_count() > 0 and self.depth.get_subscription_count() > 0  # noqa: E731
        assert spin_until(self.executor, ready, 20.0), "node never subscribed"

    def send(self, ns: int, color: Image | None, depth: Image | None, period: float = 0.0) -> None:
        started = time.monotonic()
        if color is not None:
            self.color.publish(color)
            self.sent.append(ns)
        if depth is not None:
            self.depth.publish(depth)
        while True:
            self.executor.spin_once(timeout_sec=0.001)
            if time.monotonic() - started >= period:
                break

    def play(self, frames, fps: float = 30.0, speed: float = 1.0, start_ns: int = START_NS, drop_depth=()) -> int:
        ns = start_ns
        for i, (color, depth) in enumerate(frames):
            ns = start_ns + round(i * 1e9 / fps)
            depth_message = None if i in drop_depth else image(ns, depth, "16UC1")
            self.send(ns, image(ns, color, "rgb8"), depth_message, period=1.0 / fps / speed)
        return ns

    def settle(self, seconds: float = 1.5) -> None:
        spin_until(self.executor, lambda: False, seconds)
