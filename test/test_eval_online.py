"""r3d-eval-bag --online / --compare: the evaluator's node is isolated, nothing it publishes is lost quietly,
and recordings whose stamps restart or start with a malformed frame are evaluated like any other."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy not installed: run the tests through scripts/with-env")

from bags import (  # noqa: E402
    malformed_first_frame_bag,
    replay,
    restarting_bag,
    synthetic_video,
    write_labels,
)
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from model_files import write_model  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402

from r3d_msgs.msg import ActionLabels, AnticipatedAction  # noqa: E402
from r3d_ros.data.bag_export import COLOR_TOPIC, DEPTH_TOPIC, write_rgbd_bag, write_video_bag  # noqa: E402
from r3d_ros.data.errors import DatasetError  # noqa: E402
from r3d_ros.runtime.image import RawImage  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.ros]

# What a Linux pipe holds before its writer blocks.
PIPE_CAPACITY = 64 * 1024
SWITCHING_FRAMES = 900
LABELS_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _, classes = synthetic_video()
    return write_model(
        tmp_path_factory.mktemp("model") / "model.safetensors", f"model.class_names=[{','.join(classes)}]"
    )


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("recording")
    video, classes = synthetic_video()
    bag, _ = write_video_bag(folder / "bag", video)
    return bag, write_labels(folder / "bag.labels.csv", video, classes)


def metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


# ----- the node's output is read for the whole run ------------------------------------------------
def switching_camera_bag(folder: Path) -> Path:
    """30 s of a camera switching resolution on every frame, with now and then a frame of an unknown encoding.

    Each switch resets the node's window and logs a warning line, so the node
    writes far more than a pipe holds while the evaluator plays the bag.
    """
    rng = np.random.default_rng(0)
    frames = []
    for index in range(SWITCHING_FRAMES):
        height, width = (48, 64) if index % 2 else (60, 80)
        pixels = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        color = RawImage.from_array(pixels, "bogus" if index % 100 == 50 else "rgb8")
        depth = RawImage.from_array(np.full((height, width), 1000 + index, np.uint16), "16UC1")
        frames.append((index / 30.0, color, depth))
    return write_rgbd_bag(folder / "switching", frames)


@pytest.fixture(scope="module")
def switching(tmp_path_factory: pytest.TempPathFactory, model: Path) -> tuple[int, Path]:
    """--compare on the switching camera: (exit status, output folder)."""
    folder = tmp_path_factory.mktemp("switching")
    out = folder / "out"
    return replay(switching_camera_bag(folder), None, model, out, "--compare", "--rate", "3"), out


def test_a_node_that_logs_more_than_a_pipe_holds_is_fully_evaluated(switching) -> None:
    status, out = switching
    assert status == 0
    match = json.loads((out / "agreement.json").read_text())
    assert match["online_ticks"] == match["offline_ticks"] == match["matched_ticks"]
    assert (out / "online" / "node.log").stat().st_size > PIPE_CAPACITY  # the node really logged that much


def test_online_metrics_carry_the_nodes_counts(switching) -> None:
    status, out = switching
    assert status == 0
    node, offline = metrics(out / "online")["online_node"], metrics(out / "offline")["bag_counts"]
    assert node["frames_invalid"] == offline["frames_invalid"] == SWITCHING_FRAMES // 100
    assert node["resets"] == offline["resets"] > 0
    assert node["published"] == metrics(out / "online")["bag_counts"]["received"]
    assert node["errors"] == 0 and node["queue_dropped"] == 0


def test_anticipations_the_node_published_but_the_evaluator_missed_are_an_error() -> None:
    from r3d_ros.ros.online import check_all_received

    with pytest.raises(DatasetError, match="published 10 anticipations, but only 8 arrived"):
        check_all_received({"published": 10}, received=8)


# ----- a bystander: the user's own node in the same ROS domain --------------------------------------
@dataclass
class Watch:
    """What a user's node saw while an evaluation ran."""

    actions: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    nodes: set = field(default_factory=set)  # (namespace, name) of every node seen
    pipelines: dict = field(default_factory=dict)  # diagnostics status name -> last key/values


@contextmanager
def bystander() -> Iterator[Watch]:
    """A node in its own context listening on the default output topics and /diagnostics, spun on a thread."""
    watch, context = Watch(), Context()
    rclpy.init(context=context)
    node = Node("bystander", context=context)
    node.create_subscription(AnticipatedAction, "/anticipated_action", watch.actions.append, 10)
    node.create_subscription(ActionLabels, "/anticipated_action/labels", watch.labels.append, LABELS_QOS)

    def on_diagnostics(message: DiagnosticArray) -> None:
        for status in message.status:
            watch.pipelines[status.name] = {value.key: value.value for value in status.values}

    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.05)
            watch.nodes.update((ns, name) for name, ns in node.get_node_names_and_namespaces())

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        yield watch
    finally:
        stop.set()
        thread.join(timeout=5)
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory, recording, model: Path) -> tuple[int, Watch]:
    """--online on the plain recording while a bystander watches: (exit status, what it saw)."""
    bag, labels = recording
    with bystander() as watch:
        status = replay(bag, labels, model, tmp_path_factory.mktemp("watched") / "out", "--online", "--rate", "2")
        time.sleep(1.0)  # anything still in flight arrives
    return status, watch


def test_online_evaluation_publishes_nothing_on_the_users_topics(watched) -> None:
    status, watch = watched
    assert status == 0
    assert watch.actions == [] and watch.labels == []


def test_online_evaluation_runs_its_node_under_a_private_name_and_namespace(watched) -> None:
    status, watch = watched
    assert status == 0
    names = {name for _, name in watch.nodes}
    assert "r3d_anticipation" not in names
    private = [(ns, name) for ns, name in watch.nodes if name.startswith("r3d_eval_") and ns == f"/{name}"]
    assert private, watch.nodes


# ----- a node that dies ----------------------------------------------------------------------------
def child_node_pids() -> list[int]:
    """Processes this test process started that run the anticipation node."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and b"r3d_ros.ros.node" in command:
            pids.append(int(entry.name))
    return pids


def kill_node_once_publishing(watch: Watch, done: threading.Event) -> None:
    """SIGKILL the evaluator's node as soon as its diagnostics say it published a few anticipations."""
    while not done.is_set():
        if any(int(values.get("published", 0)) >= 5 for values in watch.pipelines.values()):
            for pid in child_node_pids():
                os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.1)


def test_a_node_that_dies_during_playback_fails_the_evaluation(recording, model, tmp_path: Path, caplog) -> None:
    bag, labels = recording
    done = threading.Event()
    with bystander() as watch:
        killer = threading.Thread(target=kill_node_once_publishing, args=(watch, done), daemon=True)
        killer.start()
        status = replay(bag, labels, model, tmp_path / "out", "--online")
        done.set()
        killer.join(timeout=5)
    assert status == 2
    assert "the anticipation node exited" in caplog.text
    assert not (tmp_path / "out" / "metrics.json").exists()


# ----- recordings whose stamps restart --------------------------------------------------------------
@pytest.fixture(scope="module")
def restarting(tmp_path_factory: pytest.TempPathFactory, model: Path) -> tuple[int, Path, object]:
    """--compare with sim time on a recording whose stamps restart half-way: (exit status, output, video)."""
    folder = tmp_path_factory.mktemp("restarting")
    bag, labels, video = restarting_bag(folder)
    out = folder / "out"
    return replay(bag, labels, model, out, "--compare", "--rate", "2", "--use-sim-time"), out, video


def test_restarting_stamps_are_evaluated_online_over_the_whole_recording(restarting) -> None:
    status, out, video = restarting
    assert status == 0
    assert metrics(out / "online")["duration_s"] == pytest.approx(video.stamps[-1] - video.stamps[0], abs=1e-6)


def test_restarting_stamps_online_count_every_published_color_frame(restarting) -> None:
    status, out, video = restarting
    assert status == 0
    assert metrics(out / "online")["bag_counts"]["published_color_frames"] == len(video)


def test_restarting_stamps_online_agree_with_offline_tick_by_tick(restarting) -> None:
    status, out, _ = restarting
    assert status == 0
    match = json.loads((out / "agreement.json").read_text())
    assert match["matched_ticks"] == match["offline_ticks"] == match["online_ticks"]
    assert match["same_next_action"] == 1.0 and match["same_current_action"] == 1.0


def test_restarting_stamps_online_latency_is_measured_for_every_tick(restarting) -> None:
    status, out, _ = restarting
    assert status == 0
    online = metrics(out / "online")
    assert online["tick_latency"]["samples"] == online["ticks"]
    assert online["tick_latency"]["min_ms"] >= 0.0


# ----- a malformed first frame ----------------------------------------------------------------------
def test_node_drops_a_malformed_first_frame_when_topics_are_named(model, tmp_path: Path) -> None:
    bag = malformed_first_frame_bag(tmp_path)
    topics = ("--color-topic", COLOR_TOPIC, "--depth-topic", DEPTH_TOPIC)
    assert replay(bag, None, model, tmp_path / "out", "--online", "--rate", "2", *topics) == 0
    assert metrics(tmp_path / "out")["online_node"]["frames_invalid"] == 1
