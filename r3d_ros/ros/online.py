"""Online replay: play a recording to the live anticipation node over DDS and collect what it publishes.

The node runs in its own process with its input and output remapped to private
topics, so a camera or another node in the same ROS domain is not disturbed.
Messages are published in bag order at ``rate`` x the recording's pace (with
``/clock`` when ``use_sim_time`` is set); every published anticipation is
converted back to the core form, so it is scored exactly like offline replay.
The latency recorded per tick is from publishing the frame an anticipation
was computed from to receiving the anticipation. Both processes use the
package's Fast DDS large-image profile unless ``FASTDDS_DEFAULT_PROFILES_FILE``
names another, as a camera host set up per the README would.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from r3d_msgs.msg import ActionSegment, AnticipatedAction
from r3d_ros.config import RuntimeConfig, StreamConfig
from r3d_ros.data.errors import DatasetError
from r3d_ros.data.rosbag import header_stamp_ns, open_bag, raw_image, select_topics
from r3d_ros.eval.replay import Replay
from r3d_ros.ros.convert import ns_to_time, time_to_ns
from r3d_ros.ros.dds_profile import large_image_transport
from r3d_ros.runtime.anticipator import Anticipation, SegmentEstimate
from r3d_ros.runtime.timebase import StampEpoch

PREFIX = "/r3d_eval"
RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
SETTLE_S = 2.0


def _seconds(duration) -> float:
    return duration.sec + duration.nanosec * 1e-9


def _segment(message: ActionSegment) -> SegmentEstimate:
    return SegmentEstimate(
        message.class_id, message.label, message.confidence, _seconds(message.start_offset), _seconds(message.duration)
    )


def to_anticipation(message: AnticipatedAction, epoch: StampEpoch) -> Anticipation:
    """A received message in the core form the scoring code reads."""
    return Anticipation(
        stamp=epoch.seconds(time_to_ns(message.header.stamp)),
        window_start=epoch.seconds(time_to_ns(message.window_start)),
        num_frames=message.num_observed_frames,
        horizon_s=_seconds(message.horizon),
        next_class_id=message.next_class_id,
        next_label=message.next_label,
        next_confidence=message.next_confidence,
        next_probabilities=np.asarray(message.next_probabilities, dtype=np.float32),
        future=[_segment(s) for s in message.future],
        current=_segment(message.current),
        rgb_present=message.rgb_present,
        depth_present=message.depth_present,
        rgb_substituted=message.rgb_substituted,
        depth_substituted=message.depth_substituted,
        depth_missing_fraction=0.0 if message.depth_present else 1.0,
        fused_effective_rank=message.fused_effective_rank,
        model_id=message.model_id,
    )


def _image_message(image, stamp_ns: int, frame_id: str) -> Image:
    return Image(
        header=Header(stamp=ns_to_time(stamp_ns), frame_id=frame_id),
        height=image.height,
        width=image.width,
        encoding=image.encoding,
        is_bigendian=int(image.is_bigendian),
        step=image.step,
        data=np.asarray(image.data).tobytes(),
    )


def start_node(model: Path, runtime: RuntimeConfig, stream: StreamConfig, use_sim_time: bool) -> subprocess.Popen:
    """The anticipation node on private topics; returns once it is active."""
    parameters = {
        "model_path": str(model),
        "backend": runtime.backend,
        "cache_dir": runtime.cache_dir or "",
        "color_topic": f"{PREFIX}/color",
        "depth_topic": f"{PREFIX}/depth",
        "qos_reliability": "reliable",
        "qos_depth": 100,
        "input_queue_size": 300,
        "sync_policy": stream.sync_policy,
        "use_sim_time": use_sim_time,
    }
    args = [
        sys.executable,
        "-m",
        "r3d_ros.ros.node",
        "--ros-args",
        "-r",
        f"anticipated_action:={PREFIX}/anticipated_action",
    ]
    for name, value in parameters.items():
        if value != "":  # an empty value cannot be written on the command line; the node's default is empty
            args += ["-p", f"{name}:={str(value).lower() if isinstance(value, bool) else value}"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    while True:
        line = process.stdout.readline()
        if not line:
            raise DatasetError("the anticipation node stopped before becoming active:\n" + "".join(lines))
        lines.append(line)
        if "active: input" in line:
            return process


def replay_through_node(
    bag: Path,
    model_path: Path,
    runtime: RuntimeConfig,
    stream: StreamConfig,
    color_topic: str | None = None,
    depth_topic: str | None = None,
    rate: float = 1.0,
    use_sim_time: bool = False,
    echo: bool = False,
) -> Replay:
    """Play ``bag`` to a freshly started node and collect its anticipations."""
    with large_image_transport(logging.getLogger("r3d_ros.eval")):
        node_process = start_node(model_path, runtime, stream, use_sim_time)
        return _play(node_process, bag, rate, use_sim_time, color_topic, depth_topic, echo)


def _play(
    node_process: subprocess.Popen,
    bag: Path,
    rate: float,
    use_sim_time: bool,
    color_topic: str | None,
    depth_topic: str | None,
    echo: bool,
) -> Replay:
    context = Context()
    rclpy.init(context=context)
    player = Node("r3d_eval_player", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(player)
    received: list[tuple[AnticipatedAction, float]] = []
    publish_wall: dict[int, float] = {}

    def on_action(message: AnticipatedAction) -> None:
        received.append((message, time.monotonic()))
        if echo:
            future = " -> ".join(f"{s.label} ({s.confidence:.2f})" for s in message.future[:3])
            print(f"  [{len(received):4d}] now: {message.current.label:15s} next: {message.next_label:15s} "
                  f"p={message.next_confidence:.2f}   future: {future}", flush=True)  # fmt: skip

    player.create_subscription(AnticipatedAction, f"{PREFIX}/anticipated_action", on_action, RELIABLE)
    publishers = {
        "color": player.create_publisher(Image, f"{PREFIX}/color", RELIABLE),
        "depth": player.create_publisher(Image, f"{PREFIX}/depth", RELIABLE),
    }
    clock = player.create_publisher(Clock, "/clock", 10) if use_sim_time else None
    try:
        deadline = time.monotonic() + 30
        while any(p.get_subscription_count() == 0 for p in publishers.values()):
            if time.monotonic() > deadline:
                raise DatasetError("the node never subscribed to the replayed topics")
            executor.spin_once(timeout_sec=0.05)
        epoch = StampEpoch()
        first_color = None
        last = 0.0
        frame_id = ""
        with open_bag(bag) as reader:
            color, depth = select_topics(reader, bag, color_topic, depth_topic)
            connections = [c for c in reader.connections if c.topic in (color, depth)]
            start_wall, start_bag = time.monotonic(), None
            for connection, bag_ns, raw in reader.messages(connections):
                message = reader.deserialize(raw, connection.msgtype)
                stamp_ns = header_stamp_ns(message)
                start_bag = bag_ns if start_bag is None else start_bag
                while time.monotonic() - start_wall < (bag_ns - start_bag) * 1e-9 / rate:
                    executor.spin_once(timeout_sec=0.001)
                seconds = epoch.seconds(stamp_ns)
                last = max(last, seconds)
                role = "color" if connection.topic == color else "depth"
                if role == "color":
                    first_color = seconds if first_color is None else first_color
                    frame_id = frame_id or message.header.frame_id
                    publish_wall[stamp_ns] = time.monotonic()
                image = raw_image(message, connection.msgtype)  # compressed color arrives decoded (rgb8)
                if clock is not None:
                    clock.publish(Clock(clock=ns_to_time(stamp_ns)))
                publishers[role].publish(_image_message(image, stamp_ns, message.header.frame_id))
                executor.spin_once(timeout_sec=0)
        settle = time.monotonic() + SETTLE_S
        while time.monotonic() < settle:
            count = len(received)
            executor.spin_once(timeout_sec=0.1)
            if len(received) != count:
                settle = time.monotonic() + SETTLE_S
    finally:
        executor.shutdown()
        player.destroy_node()
        rclpy.shutdown(context=context)
        node_process.terminate()
        try:
            node_process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            node_process.kill()
    if first_color is None:
        raise DatasetError(f"{bag}: the color topic has no messages")
    anticipations = [to_anticipation(m, epoch) for m, _ in received]
    latency = [
        (wall - publish_wall[time_to_ns(m.header.stamp)]) * 1e3
        for m, wall in received
        if time_to_ns(m.header.stamp) in publish_wall
    ]
    counts = {"received": len(received), "published_color_frames": len(publish_wall)}
    kind = "frame published -> anticipation received (ms)"
    return Replay(anticipations, latency, epoch, first_color, last, frame_id, color, depth, counts, kind)
