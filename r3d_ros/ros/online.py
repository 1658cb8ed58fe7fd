"""Online replay: play a recording to the live anticipation node over DDS and collect what it publishes.

The node runs in its own process under a private name and namespace
(``r3d_eval_<pid>_<run>``), so its image inputs and its outputs
(``anticipated_action``, ``anticipated_action/labels``) never meet a camera, a
user's node or a running ``r3d_anticipation`` in the same ROS domain; only its
``/diagnostics`` status is shared, under that private name. Everything the node
prints is read on a thread for the whole run (kept in ``node.log``): a pipe
nobody reads fills after 64 KiB and then blocks the node at its next log line.

Messages are published in bag order at ``rate`` x the recording's pace; with
``use_sim_time`` the evaluator publishes ``/clock`` from the bag's receive
times, as ``ros2 bag play --clock`` does, and keeps it running after the last
message so the node's timers still fire. Every published anticipation is
converted back to the core form and placed on the recording's time line
(:class:`~r3d_ros.runtime.recording.RecordingClock`), so it is scored exactly like
offline replay. After the last message the evaluator waits until the node's
diagnostics counts stop changing and compares the number of anticipations the
node says it published with the number it received: a missing one, or a node
that stopped, is an error, never a score of part of the recording.

The latency recorded per tick is from publishing the color frame an
anticipation was computed at to receiving the anticipation. Both processes use
the package's Fast DDS large-image profile unless ``FASTDDS_DEFAULT_PROFILES_FILE``
names another, as a camera host set up per the README would.
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from r3d_msgs.msg import AnticipatedAction
from r3d_ros.config import RuntimeConfig, StreamConfig
from r3d_ros.data.errors import DatasetError
from r3d_ros.data.rosbag import header_stamp_ns, open_bag, raw_image, read_messages, select_topics
from r3d_ros.ros.convert import ns_to_time, time_to_ns
from r3d_ros.ros.dds_profile import large_image_transport
from r3d_ros.runtime.action_message import from_message
from r3d_ros.runtime.image import ImageError
from r3d_ros.runtime.recording import RecordingClock, Replay
from r3d_ros.runtime.timebase import StampEpoch

LOG = logging.getLogger("r3d_ros.eval")
RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
DIAGNOSTICS_PERIOD_S = 0.5
# Loading a model can mean exporting ONNX graphs or building a TensorRT engine first.
START_TIMEOUT_S = 300.0
# After the last message: how long the node's counts may keep changing, and anticipations stay in flight.
SETTLE_TIMEOUT_S = 60.0
IN_FLIGHT_S = 5.0
TAIL_LINES = 40
# The node's /diagnostics values kept in the online metrics.
NODE_COUNTS = (
    "published", "frames_used", "frames_invalid", "resets", "errors", "queue_dropped",
    "received_color", "received_depth", "processed",
)  # fmt: skip
_RUNS = itertools.count(1)


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


def check_all_received(node: dict[str, int], received: int) -> None:
    """Refuse to score an online run that lost anticipations: every online metric would be quietly wrong."""
    published = node["published"]
    if received < published:
        raise DatasetError(
            f"the node published {published} anticipations, but only {received} arrived at the evaluator; "
            "scoring them would evaluate part of the recording (an overloaded machine? try a lower --rate)"
        )


def private_name() -> str:
    """A node name, also used as its namespace, that no other process and no earlier run here uses."""
    return f"r3d_eval_{os.getpid()}_{next(_RUNS)}"


def node_arguments(name: str, model: Path, runtime: RuntimeConfig, stream: StreamConfig, sim_time: bool) -> list[str]:
    """The command line of the node under ``name`` in namespace ``/name``, reading images from that namespace."""
    parameters = {
        "model_path": str(model),
        "backend": runtime.backend,
        "cache_dir": runtime.cache_dir or "",
        "color_topic": f"/{name}/color",
        "depth_topic": f"/{name}/depth",
        "qos_reliability": "reliable",
        "qos_depth": 100,
        "input_queue_size": 300,
        "sync_policy": stream.sync_policy,
        "sync_slop_s": stream.sync_slop_s,
        "depth_timeout_s": stream.depth_timeout_s,
        "max_depth_noise": stream.max_depth_noise,
        "max_rgb_noise": stream.max_rgb_noise,
        "diagnostics_period_s": DIAGNOSTICS_PERIOD_S,
        "use_sim_time": sim_time,
    }
    args = [sys.executable, "-m", "r3d_ros.ros.node", "--ros-args", "-r", f"__node:={name}", "-r", f"__ns:=/{name}"]
    for key, value in parameters.items():
        if value != "":  # an empty value cannot be written on the command line; the node's default is empty
            args += ["-p", f"{key}:={str(value).lower() if isinstance(value, bool) else value}"]
    return args


class NodeProcess:
    """The anticipation node's process, with everything it prints read on a thread for the whole run.

    Reading only until start-up would leave the pipe to fill: after 64 KiB of
    warnings the node blocks at its next log line and stops publishing, and the
    evaluation would quietly score part of the recording.
    """

    def __init__(self, args: list[str], log_path: Path | None) -> None:
        self.log_path = log_path
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.log = None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self.log = open(log_path, "w")
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        )
        self.reader = threading.Thread(target=self._read, name="r3d_eval_node_output", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.tail.append(line)
            if self.log is not None:
                self.log.write(line)

    def check_running(self, when: str) -> None:
        """Raise DatasetError with the node's last output if it has exited."""
        status = self.process.poll()
        if status is not None:
            raise self.failure(f"the anticipation node exited (status {status}) {when}")

    def failure(self, message: str) -> DatasetError:
        """An error saying ``message``, followed by the node's last output lines."""
        if self.process.poll() is not None:
            self.reader.join(timeout=2.0)  # its last words
        where = f" (all of it in {self.log_path})" if self.log_path else ""
        return DatasetError(f"{message}; the node's last output{where}:\n{''.join(self.tail)}")

    def stop(self) -> None:
        """Terminate the node (kill it if it does not stop) and close its log."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reader.join(timeout=5.0)
        if self.log is not None:
            self.log.close()


@dataclass
class Played:
    """What playing the bag published, frame by frame."""

    color_topic: str
    depth_topic: str
    clock: RecordingClock = field(default_factory=RecordingClock)
    epoch: StampEpoch = field(default_factory=StampEpoch)
    publish_wall: dict[int, float] = field(default_factory=dict)  # color frame index -> when it was published
    published: dict[str, int] = field(default_factory=lambda: {"color": 0, "depth": 0})
    unusable: int = 0  # messages that could not be read or decoded, so were not sent
    frame_id: str = ""
    last_bag_ns: int = 0


class Player:
    """The evaluator's end of the DDS link: plays images to the node, collects its anticipations and diagnostics."""

    def __init__(self, name: str, use_sim_time: bool, echo: bool, debug_image: bool = False) -> None:
        self.status_name = f"{name}: pipeline"
        self.last_debug_image: Image | None = None
        self.echo = echo
        self.received: list[tuple[AnticipatedAction, float]] = []
        self.diagnostics: list[dict[str, str]] = []
        self.sim_clock_end: tuple[int, float, float] | None = None  # (bag ns, wall time, rate) at the bag's end
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = Node(f"{name}_player", namespace=f"/{name}", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.output = f"/{name}/anticipated_action"
        self.node.create_subscription(AnticipatedAction, "anticipated_action", self._on_action, RELIABLE)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, RELIABLE)
        self.publishers = {role: self.node.create_publisher(Image, role, RELIABLE) for role in ("color", "depth")}
        if debug_image:  # the node renders it only while someone subscribes
            self.node.create_subscription(Image, f"/{name}/{name}/debug_image", self._on_debug_image, 1)
        self.clock = self.node.create_publisher(Clock, "/clock", 10) if use_sim_time else None

    def _on_action(self, message: AnticipatedAction) -> None:
        self.received.append((message, time.monotonic()))
        if self.echo:
            future = " -> ".join(f"{s.label} ({s.confidence:.2f})" for s in message.future[:3])
            print(f"  [{len(self.received):4d}] now: {message.current.label:15s} next: {message.next_label:15s} "
                  f"p={message.next_confidence:.2f}   future: {future}", flush=True)  # fmt: skip

    def _on_debug_image(self, message: Image) -> None:
        self.last_debug_image = message

    def save_debug_image(self, path: Path) -> None:
        """Write the last debug image received as a PNG (none received: an error naming the topic)."""
        message = self.last_debug_image
        if message is None:
            raise DatasetError("the node published no ~/debug_image")
        pixels = np.frombuffer(bytes(message.data), np.uint8).reshape(message.height, message.width, 3)
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.ascontiguousarray(pixels[:, :, ::-1]))

    def _on_diagnostics(self, message: DiagnosticArray) -> None:
        for status in message.status:
            if status.name == self.status_name:
                self.diagnostics.append({value.key: value.value for value in status.values})

    def spin(self, timeout_s: float) -> None:
        """Serve callbacks; once the bag has ended, keep simulated time running at the playback rate."""
        if self.clock is not None and self.sim_clock_end is not None:
            end_ns, end_wall, rate = self.sim_clock_end
            now_ns = end_ns + round((time.monotonic() - end_wall) * rate * 1e9)
            self.clock.publish(Clock(clock=ns_to_time(now_ns)))
        self.executor.spin_once(timeout_sec=timeout_s)

    def close(self) -> None:
        """Leave the ROS graph."""
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)

    # ----- start-up ----------------------------------------------------------------
    def wait_for(self, node: NodeProcess) -> None:
        """Until the node is active: subscribed to both image topics and publishing its output."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._connected():
            node.check_running("before it became active")
            if time.monotonic() > deadline:
                raise node.failure(f"the anticipation node did not become active within {START_TIMEOUT_S:.0f} s")
            self.spin(0.05)

    def _connected(self) -> bool:
        subscribed = all(p.get_subscription_count() > 0 for p in self.publishers.values())
        return subscribed and self.node.count_publishers(self.output) > 0

    # ----- playback ----------------------------------------------------------------
    def play(
        self, bag: Path, rate: float, color_topic: str | None, depth_topic: str | None, node: NodeProcess
    ) -> Played:
        """Publish the bag's images in bag order at ``rate`` x its pace; returns what was published."""
        with open_bag(bag) as reader:
            played = Played(*select_topics(reader, bag, color_topic, depth_topic))
            start_wall, start_bag = time.monotonic(), None
            for connection, bag_ns, message in read_messages(reader, (played.color_topic, played.depth_topic)):
                node.check_running("while the bag was played")
                start_bag = bag_ns if start_bag is None else start_bag
                while time.monotonic() - start_wall < (bag_ns - start_bag) * 1e-9 / rate:
                    self.executor.spin_once(timeout_sec=0.001)
                self._publish(played, connection.topic == played.color_topic, connection.msgtype, bag_ns, message)
                played.last_bag_ns = bag_ns
        if not played.clock.stamps_ns:
            raise DatasetError(f"{bag}: the color topic {played.color_topic} has no messages")
        self.sim_clock_end = (played.last_bag_ns, time.monotonic(), rate)
        return played

    def _publish(self, played: Played, is_color: bool, msgtype: str, bag_ns: int, message: Any) -> None:
        if message is None:
            played.unusable += 1
            return
        stamp_ns = header_stamp_ns(message)
        played.epoch.seconds(stamp_ns)
        role = "color" if is_color else "depth"
        if is_color:
            index = played.clock.add_color(stamp_ns, bag_ns)
            played.frame_id = played.frame_id or message.header.frame_id
        try:
            image = raw_image(message, msgtype)  # compressed color arrives decoded (rgb8)
        except ImageError:
            played.unusable += 1
            return
        if self.clock is not None:
            self.clock.publish(Clock(clock=ns_to_time(bag_ns)))
        if is_color:
            played.publish_wall[index] = time.monotonic()
        self.publishers[role].publish(_image_message(image, stamp_ns, message.header.frame_id))
        played.published[role] += 1
        self.executor.spin_once(timeout_sec=0)

    # ----- the end -----------------------------------------------------------------
    def settle(self, node: NodeProcess) -> dict[str, int]:
        """The node's final counts, once every anticipation it published has arrived (DatasetError otherwise)."""
        counts = self._final_counts(node)
        deadline = time.monotonic() + IN_FLIGHT_S
        while len(self.received) < counts["published"] and time.monotonic() < deadline:
            self.spin(0.05)
        check_all_received(counts, len(self.received))
        return counts

    def _final_counts(self, node: NodeProcess) -> dict[str, int]:
        """The node's counts from two consecutive /diagnostics, both after the bag ended, that agree."""
        seen, previous = len(self.diagnostics), None
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while time.monotonic() < deadline:
            node.check_running("before the evaluation finished")
            self.spin(0.05)
            for values in self.diagnostics[seen:]:
                current = {key: int(values[key]) for key in NODE_COUNTS if key in values}
                if "published" in current and current == previous:
                    return current
                previous = current
            seen = len(self.diagnostics)
        raise node.failure(
            f"the anticipation node's /diagnostics ({self.status_name}) did not settle within "
            f"{SETTLE_TIMEOUT_S:.0f} s after the bag ended"
        )

    def replay(self, played: Played, node_counts: dict[str, int]) -> Replay:
        """The received anticipations, placed on the recording's time line, as a Replay."""
        frames = played.clock.locate(time_to_ns(message.header.stamp) for message, _ in self.received)
        anticipations = [from_message(message, played.epoch) for message, _ in self.received]
        latency = [
            (wall - played.publish_wall[frame]) * 1e3
            for (_, wall), frame in zip(self.received, frames, strict=True)
            if frame in played.publish_wall
        ]
        counts = {
            "color_messages": len(played.clock.stamps_ns),
            "published_color_frames": played.published["color"],
            "published_depth_frames": played.published["depth"],
            "unusable_messages": played.unusable,
            "received": len(self.received),
        }
        return Replay(
            anticipations, frames, latency, played.clock, played.epoch, played.frame_id,
            played.color_topic, played.depth_topic, counts,
            latency_kind="frame published -> anticipation received (ms)", node=node_counts,
        )  # fmt: skip


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
    log_path: Path | None = None,
    debug_image: Path | None = None,
) -> Replay:
    """Play ``bag`` to a freshly started, private node and collect its anticipations.

    ``log_path`` receives everything the node prints; ``debug_image`` the node's
    last ``~/debug_image`` as a PNG. Raises DatasetError when the node stops, or
    when anticipations it published did not arrive.
    """
    name = private_name()
    with large_image_transport(LOG):
        node = NodeProcess(node_arguments(name, model_path, runtime, stream, use_sim_time), log_path)
        try:
            player = Player(name, use_sim_time, echo, debug_image is not None)
            try:
                player.wait_for(node)
                played = player.play(bag, rate, color_topic, depth_topic, node)
                counts = player.settle(node)
                if debug_image is not None:
                    player.save_debug_image(debug_image)
            finally:
                player.close()
        finally:
            node.stop()
    _warn_about_lost_frames(played, counts)
    return player.replay(played, counts)


def _warn_about_lost_frames(played: Played, counts: dict[str, int]) -> None:
    """Frames the node never received, or dropped from its queue, change what it computed: say so."""
    for role in ("color", "depth"):
        arrived = counts.get(f"received_{role}", played.published[role])
        if arrived < played.published[role]:
            LOG.warning("the node received %d of %d %s frames sent", arrived, played.published[role], role)
    if counts.get("queue_dropped"):
        LOG.warning("the node dropped %d frames from its input queue (try a lower --rate)", counts["queue_dropped"])
