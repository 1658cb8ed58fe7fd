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
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from r3d_msgs.msg import ActionLabels, AnticipatedAction

COLOR_TOPIC = "/test_camera/color/image_raw"
DEPTH_TOPIC = "/test_camera/aligned_depth_to_color/image_raw"
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
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
