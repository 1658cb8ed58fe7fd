"""The anticipation node in its own process over Fast DDS: output, faults and start-up errors."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy not installed: run the tests through `make test`")
from diagnostic_msgs.msg import DiagnosticStatus
from model_files import write_model
from node_harness import (
    COLOR_TOPIC,
    DEPTH_TOPIC,
    RELIABLE,
    START_NS,
    Camera,
    Collector,
    image,
    node_exit,
    node_process,
    scene,
)
from ros_util import ros_node, spin_until
from sensor_msgs.msg import Image
from visualization_msgs.msg import Marker, MarkerArray

pytestmark = [pytest.mark.ros, pytest.mark.slow]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The limit the node applies by default (max_depth_noise -1: the model's own); the scenes'
    # depth is noise-free, so only the test that adds noise reaches it.
    return write_model(tmp_path_factory.mktemp("node_model") / "model.safetensors", "model.max_depth_noise=0.03")


@pytest.fixture
def running(model_file: Path, tmp_path: Path):
    with node_process(model_file, tmp_path / "cache") as process, ros_node("r3d_test_camera") as (node, executor):
        collector = Collector()
        collector.attach(node)
        camera = Camera(node, executor, collector)
        camera.wait_for_node()
        yield process, camera, collector


def test_publishes_at_the_tick_rate_with_last_frame_stamps_and_labels(running) -> None:
    _, camera, collector = running
    camera.play(scene(90), fps=30.0)  # 3 s of stream time, in real time
    camera.settle()
    actions = collector.actions
    assert 27 <= len(actions) <= 31, f"{len(actions)} messages for 3 s at 10 Hz; {collector.last_diagnostics()}"
    stamps = [a.header.stamp.sec * 1_000_000_000 + a.header.stamp.nanosec for a in actions]
    assert set(stamps) <= set(camera.sent), "header stamps must be the observed frames' stamps"
    assert stamps == sorted(stamps)
    assert np.diff(stamps).mean() == pytest.approx(1e8, rel=0.05)
    assert all(a.header.frame_id == "test_color_optical_frame" for a in actions)
    assert all(sum(a.next_probabilities) == pytest.approx(1.0, abs=1e-4) for a in actions)
    assert collector.labels and list(collector.labels[0].class_names) == ["reach", "grasp", "lift", "place", "wave"]
    assert all(a.model_id == collector.labels[0].model_id for a in actions)
    assert actions[-1].num_observed_frames == 12 and actions[-1].depth_present


def test_diagnostics_report_how_old_frames_are_when_they_arrive(running) -> None:
    _, camera, collector = running
    camera.play(scene(30), fps=30.0, start_ns=time.time_ns())  # stamped by the wall clock, like a camera
    camera.settle()
    diagnostics = collector.last_diagnostics()
    for stream in ("color", "depth"):
        p50, p99 = (float(diagnostics[f"{stream}_arrival_age_ms_{q}"]) for q in ("p50", "p99"))
        assert 0.0 <= p50 <= p99 < 1000.0, diagnostics
    assert "after their stamps" not in diagnostics["_message"]


def test_diagnostics_name_the_model_and_how_it_decodes(running) -> None:
    _, camera, collector = running
    camera.play(scene(15), fps=30.0)
    camera.settle()
    diagnostics = collector.last_diagnostics()
    assert diagnostics["model_id"] == collector.labels[0].model_id
    assert diagnostics["decoding"] == "head"  # the test model's future_decoder


def test_frames_stamped_far_from_the_node_clock_raise_a_warning(running) -> None:
    _, camera, collector = running
    camera.play(scene(30), fps=30.0)  # stamps from 2023, as a bag replayed without use_sim_time
    camera.settle()
    diagnostics = collector.last_diagnostics()
    assert "after their stamps" in diagnostics["_message"] and "use_sim_time" in diagnostics["_message"]


def test_depth_stream_stopping_and_returning(running) -> None:
    _, camera, collector = running
    camera.play(scene(150), fps=30.0, speed=1.0, drop_depth=range(30, 120))  # 3 s of depth missing
    camera.settle()
    during = [a for a in collector.actions if START_NS + 1.5e9 <= _ns(a) <= START_NS + 3.8e9]
    assert during and all(not a.depth_present and not a.depth_substituted for a in during)
    assert collector.actions[-1].depth_present
    assert "depth missing" in " ".join(d["_message"] for d in _all_diagnostics(collector))


def test_depth_too_noisy_to_trust_goes_in_as_missing_and_is_reported(running) -> None:
    _, camera, collector = running
    rng = np.random.default_rng(5)
    noisy = (
        (
            color,
            np.rint(depth + rng.standard_normal(depth.shape) * 0.06 * (depth / 1000.0) ** 2 * 1000).astype(np.uint16),
        )
        for color, depth in scene(60)
    )  # stereo noise 0.06 m at 1 m, twice the model's limit
    camera.play(noisy, fps=30.0, speed=3.0)
    camera.settle()
    assert collector.actions and not any(a.depth_present for a in collector.actions[-5:])
    diagnostics = collector.last_diagnostics()
    assert int(diagnostics["frames_depth_too_noisy"]) > 0 and float(diagnostics["depth_noise_at_1m"]) > 0.05
    assert float(diagnostics["max_depth_noise"]) == 0.03
    assert "noisier than max_depth_noise" in " ".join(d["_message"] for d in _all_diagnostics(collector))


def test_colour_too_noisy_to_trust_goes_in_as_missing_where_depth_is_kept(model_file: Path, tmp_path: Path) -> None:
    # The scene's texture is random pixels: to the estimate, noise far above 5 at the network's input.
    with (
        node_process(model_file, tmp_path / "cache", max_rgb_noise=5.0),
        ros_node("r3d_test_camera") as (node, executor),
    ):
        collector = Collector()
        collector.attach(node)
        camera = Camera(node, executor, collector)
        camera.wait_for_node()
        camera.play(scene(60), fps=30.0)
        camera.settle()
        # A frame whose depth was lost on the way (a loaded machine can drop one) rightly keeps its
        # colour, noisy or not: it is the only input left. Every frame with depth leaves colour out.
        with_depth = [a for a in collector.actions if a.depth_present]
        assert len(with_depth) >= len(collector.actions) - 2 and len(with_depth) >= 10, collector.last_diagnostics()
        assert not any(a.rgb_present for a in with_depth)
        diagnostics = collector.last_diagnostics()
        assert int(diagnostics["frames_rgb_too_noisy"]) > 0 and float(diagnostics["rgb_noise_at_input"]) > 5.0
        assert float(diagnostics["max_rgb_noise"]) == 5.0
        assert "noisier than max_rgb_noise" in " ".join(d["_message"] for d in _all_diagnostics(collector))


def test_without_use_depth_the_node_reads_colour_alone_and_reports_no_fault(model_file: Path, tmp_path: Path) -> None:
    with (
        node_process(model_file, tmp_path / "cache", use_depth=False),
        ros_node("r3d_test_camera") as (node, executor),
    ):
        collector = Collector()
        collector.attach(node)
        camera = Camera(node, executor, collector)
        assert spin_until(executor, lambda: camera.color.get_subscription_count() > 0, 20.0), "node never subscribed"
        assert camera.depth.get_subscription_count() == 0
        camera.play(scene(60), fps=30.0)
        camera.settle()
        assert collector.actions and not any(a.depth_present for a in collector.actions)
        diagnostics = collector.last_diagnostics()
        assert diagnostics["depth"] == "not read (use_depth is false)"
        assert "depth missing" not in diagnostics["_message"], diagnostics


def test_malformed_images_are_counted_and_dropped(running) -> None:
    process, camera, collector = running
    camera.play(scene(15), fps=30.0, speed=3.0)
    ns = START_NS + 10**9
    color, depth = next(scene(1))
    nan_depth = np.full((120, 160), np.nan, dtype=np.float32)
    bad = [
        (image(ns, color, "yuv422"), image(ns, depth, "16UC1")),
        (image(ns + 10**8, np.zeros((0, 160, 3), np.uint8), "rgb8"), None),
        (image(ns + 2 * 10**8, color, "rgb8", step=100), image(ns + 2 * 10**8, depth, "16UC1")),
        (image(ns + 3 * 10**8, color, "rgb8"), image(ns + 3 * 10**8, nan_depth, "32FC1")),
    ]
    for color_message, depth_message in bad:
        camera.send(0, color_message, depth_message, period=0.05)
    camera.play(scene(30), fps=30.0, speed=3.0, start_ns=ns + 5 * 10**8)
    camera.settle()
    diagnostics = collector.last_diagnostics()
    assert int(diagnostics["frames_invalid"]) == 3  # encoding, zero size, step; NaN depth is just missing depth
    assert process.poll() is None
    assert collector.actions and _ns(collector.actions[-1]) > ns


def test_time_going_backwards_resets_the_buffer(running) -> None:
    _, camera, collector = running
    camera.play(scene(30), fps=30.0, speed=3.0)
    camera.play(scene(30), fps=30.0, speed=3.0, start_ns=START_NS - 10**10)  # the bag looped
    camera.settle()
    assert int(collector.last_diagnostics()["resets"]) >= 1
    assert collector.actions[-1].num_observed_frames <= 10


def test_depth_of_another_size_than_its_color_is_refused_as_not_aligned(running) -> None:
    _, camera, collector = running
    for i, (color, _) in enumerate(scene(45, size=(240, 320))):
        ns = START_NS + round(i * 1e9 / 30)
        depth = np.full((120, 160), 2000, dtype=np.uint16)
        camera.send(ns, image(ns, color, "bgr8"), image(ns, depth, "16UC1"), period=1 / 30)
    # Under load a depth message can arrive after its color has gone on alone (depth_timeout_s of stream
    # time): that color is used without depth, which is right. What must never happen is depth of another
    # size being used.
    spin_until(camera.executor, lambda: _frames_decided(collector) >= 45, 15.0)
    diagnostics = collector.last_diagnostics()
    assert not any(action.depth_present for action in collector.actions)
    assert int(diagnostics["frames_invalid"]) >= 40, diagnostics
    assert "not aligned" in diagnostics["last_invalid_reason"]


def test_one_bad_frame_in_seven_never_repeats_a_published_stamp(running) -> None:
    _, camera, collector = running
    for i, (color, depth) in enumerate(scene(90)):
        ns = START_NS + round(i * 1e9 / 30)
        step = 100 if i % 7 == 3 else None  # a row step shorter than a row: malformed
        camera.send(ns, image(ns, color, "rgb8", step=step), image(ns, depth, "16UC1"), period=1 / 30)
    camera.settle()
    stamps = [_ns(a) for a in collector.actions]
    assert len(stamps) > 20 and len(set(stamps)) == len(stamps)


def test_every_invalid_frame_is_counted_and_a_node_publishing_nothing_is_an_error(running) -> None:
    _, camera, collector = running
    for i, (color, depth) in enumerate(scene(120)):
        ns = START_NS + round(i * 1e9 / 30)
        camera.send(ns, image(ns, color, "rgb8", step=100), image(ns, depth, "16UC1"), period=1 / 30)
    _settle_until_invalid(camera, collector, 120)
    level, diagnostics = _statuses(collector)[-1]
    assert int(diagnostics["frames_invalid"]) == 120 and not collector.actions
    assert level == DiagnosticStatus.ERROR and "nothing published" in diagnostics["_message"]


def test_a_stalled_camera_goes_warn_then_error_and_its_rate_falls(running) -> None:
    _, camera, collector = running
    camera.play(scene(60), fps=30.0)
    before = len(collector.diagnostics)
    camera.settle(4.0)
    levels = [level for level, _ in _statuses(collector)[before:]]
    assert DiagnosticStatus.WARN in levels and DiagnosticStatus.ERROR in levels
    assert levels.index(DiagnosticStatus.WARN) < levels.index(DiagnosticStatus.ERROR)
    last = _statuses(collector)[-1][1]
    assert float(last["color_rate_hz"]) == 0.0 and "color input stalled" in last["_message"]


def test_no_rank_collapse_alarm_after_a_buffer_reset(running) -> None:
    _, camera, collector = running
    camera.play(scene(90), fps=30.0)
    camera.play(scene(9), fps=30.0, start_ns=START_NS + 6 * 10**9)  # a gap longer than the window
    camera.settle(1.0)
    after_reset = [d for _, d in _statuses(collector) if int(d.get("resets", 0)) >= 1]
    assert after_reset, "the gap did not reset the buffer"
    assert not any("collapsed" in d["_message"] for d in after_reset)


def test_burst_is_bounded_and_every_frame_is_accounted_for(model_file: Path, tmp_path: Path) -> None:
    with node_process(model_file, tmp_path / "cache", input_queue_size=4) as process, ros_node("burst") as (node, ex):
        collector = Collector()
        collector.attach(node)
        camera = Camera(node, ex, collector)
        camera.wait_for_node()
        before = _rss_kib(process.pid)
        camera.play(scene(270, size=(480, 640)), fps=30.0, speed=3.0)  # 3x the nominal rate
        camera.play(scene(150, size=(480, 640)), fps=30.0, speed=1000.0, start_ns=START_NS + 10**10)  # unthrottled
        camera.settle(2.0)
        diagnostics = collector.last_diagnostics()
        assert process.poll() is None
        received = int(diagnostics["received_color"]) + int(diagnostics["received_depth"])
        assert int(diagnostics["queue_dropped"]) > 0
        assert received == int(diagnostics["processed"]) + int(diagnostics["queue_dropped"])
        assert _rss_kib(process.pid) - before < 50 * 1024
        assert collector.actions


def test_memory_stays_flat_over_a_long_stream(model_file: Path, tmp_path: Path) -> None:
    with node_process(model_file, tmp_path / "cache") as process, ros_node("soak") as (node, executor):
        collector = Collector()
        collector.attach(node)
        camera = Camera(node, executor, collector)
        camera.wait_for_node()
        camera.play(scene(300), fps=30.0, speed=4.0)
        camera.settle(1.0)
        before = _rss_kib(process.pid)
        camera.play(scene(1200), fps=30.0, speed=4.0, start_ns=START_NS + 10 * 10**9)  # 40 s of stream
        camera.settle(1.0)
        after = _rss_kib(process.pid)
        assert len(collector.actions) > 400
        assert after - before < 20 * 1024, f"resident memory grew by {(after - before) / 1024:.1f} MiB"


def test_invalid_parameter_stops_startup_naming_it(model_file: Path, tmp_path: Path) -> None:
    status, output = node_exit(model_file, tmp_path, sync_policy="sideways")
    assert status == 2 and "parameter 'sync_policy'" in output


def test_out_of_range_parameter_stops_startup_naming_it(model_file: Path, tmp_path: Path) -> None:
    status, output = node_exit(model_file, tmp_path, publish_rate_hz="500.0")
    assert status == 2 and "publish_rate_hz" in output


def test_missing_model_fails_configure(tmp_path: Path) -> None:
    status, output = node_exit(tmp_path / "absent.safetensors", tmp_path)
    assert status == 2 and "model file not found" in output


def _ns(action) -> int:
    return action.header.stamp.sec * 1_000_000_000 + action.header.stamp.nanosec


def _all_diagnostics(collector: Collector) -> list[dict[str, str]]:
    out = []
    for array in collector.diagnostics:
        for status in array.status:
            out.append({kv.key: kv.value for kv in status.values} | {"_message": status.message})
    return out


def _settle_until_invalid(camera: Camera, collector: Collector, count: int, timeout: float = 15.0) -> None:
    """Spin until /diagnostics reports ``count`` invalid frames (the node counts them a diagnostics period late)."""
    spin_until(camera.executor, lambda: collector.last_diagnostics().get("frames_invalid") == str(count), timeout)


def _frames_decided(collector: Collector) -> int:
    """Frames the node has used or refused, by its last /diagnostics."""
    diagnostics = collector.last_diagnostics()
    return int(diagnostics.get("frames_invalid", 0)) + int(diagnostics.get("frames_used", 0))


def _statuses(collector: Collector) -> list[tuple[bytes, dict[str, str]]]:
    return [
        (status.level, {kv.key: kv.value for kv in status.values} | {"_message": status.message})
        for array in collector.diagnostics
        for status in array.status
    ]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def play_realsense_recording(model_file: Path, tmp_path: Path, **extra) -> Collector:
    """What the node publishes while it plays a software-device recording (looped, so it is still
    playing when this subscriber has connected), with ``extra`` node parameters."""
    rs = pytest.importorskip("pyrealsense2", reason="pyrealsense2 is not installed")
    from test_realsense import record

    recording = tmp_path / "session.db3"
    record(str(recording), rs.timestamp_domain.hardware_clock, count=45, missing_depth=-1)
    parameters = {"input_source": "realsense", "realsense_playback_file": str(recording), "realsense_loop": True}
    with node_process(model_file, tmp_path / "cache", **parameters | extra), ros_node("rs") as (node, executor):
        collector = Collector()
        collector.attach(node)
        assert spin_until(executor, lambda: len(collector.actions) >= 10, 30.0), "no anticipations from the playback"
        spin_until(executor, lambda: bool(collector.diagnostics), 5.0)
    return collector


def test_realsense_recording_played_back_by_the_node(model_file: Path, tmp_path: Path) -> None:
    collector = play_realsense_recording(model_file, tmp_path)
    diagnostics = collector.last_diagnostics()
    assert diagnostics["input_source"] == "realsense"
    assert float(diagnostics["realsense_depth_scale"]) > 0
    assert all(a.depth_present for a in collector.actions)
    stamps = [_ns(a) for a in collector.actions]
    assert stamps == sorted(stamps)


def test_realsense_without_use_depth_reads_no_depth_from_the_camera(model_file: Path, tmp_path: Path) -> None:
    collector = play_realsense_recording(model_file, tmp_path, use_depth=False)
    diagnostics = collector.last_diagnostics()
    assert int(diagnostics["received_depth"]) == 0 and int(diagnostics["received_color"]) > 0
    assert not any(a.depth_present for a in collector.actions)


def _change_state(node, executor, transition_id: int) -> bool:
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    client = node.create_client(ChangeState, "/r3d_anticipation/change_state")
    assert spin_until(executor, client.service_is_ready, 20.0), "lifecycle service not available"
    spin_until(executor, lambda: False, 1.0)  # a transition must not be sent twice: let the reply path match first
    future = client.call_async(ChangeState.Request(transition=Transition(id=transition_id)))
    assert spin_until(executor, future.done, 60.0)
    return future.result().success


def test_lifecycle_transitions_start_and_stop_the_output(model_file: Path, tmp_path: Path) -> None:
    from lifecycle_msgs.msg import Transition

    parameters = {
        "model_path": model_file, "cache_dir": tmp_path, "autostart": "false", "color_topic": COLOR_TOPIC,
        "depth_topic": DEPTH_TOPIC, "qos_reliability": "reliable", "backend": "onnxruntime",
    }  # fmt: skip
    args = [sys.executable, "-m", "r3d_ros.ros.node", "--ros-args"]
    for name, value in parameters.items():
        args += ["-p", f"{name}:={value}"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with ros_node("lifecycle_client") as (node, executor):
            collector = Collector()
            collector.attach(node)
            camera = Camera(node, executor, collector)
            assert _change_state(node, executor, Transition.TRANSITION_CONFIGURE)
            assert _change_state(node, executor, Transition.TRANSITION_ACTIVATE)
            camera.wait_for_node()
            camera.play(scene(30), fps=30.0, speed=3.0)
            camera.settle(1.0)
            assert collector.actions and collector.labels
            assert _change_state(node, executor, Transition.TRANSITION_DEACTIVATE)
            published = len(collector.actions)
            camera.play(scene(30), fps=30.0, speed=3.0, start_ns=START_NS + 10**10)
            camera.settle(1.0)
            assert len(collector.actions) == published  # inactive: nothing published
            assert _change_state(node, executor, Transition.TRANSITION_CLEANUP)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_under_load_ends_the_node_with_status_0_and_no_error(model_file: Path, tmp_path: Path, sig) -> None:
    with node_process(model_file, tmp_path / "cache") as process, ros_node("signal") as (node, executor):
        camera = Camera(node, executor, Collector())
        camera.wait_for_node()
        camera.play(scene(30), fps=30.0)
        process.send_signal(sig)
        camera.play(scene(30), fps=30.0, start_ns=START_NS + 10**9)  # frames keep coming while it stops
        assert process.wait(timeout=5) == 0
    assert "ERROR" not in process.output and "Traceback" not in process.output, process.output


def test_realsense_without_a_camera_keeps_the_node_responsive(model_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("pyrealsense2", reason="pyrealsense2 is not installed")
    from lifecycle_msgs.srv import GetState

    with (
        node_process(model_file, tmp_path / "cache", input_source="realsense") as process,
        ros_node("rs_probe") as (
            node,
            executor,
        ),
    ):
        client = node.create_client(GetState, "/r3d_anticipation/get_state")
        assert spin_until(executor, client.service_is_ready, 10.0)
        spin_until(executor, lambda: False, 2.0)  # the reader has tried (and failed) to start the camera
        for _ in range(3):
            asked = time.monotonic()
            future = client.call_async(GetState.Request())
            assert spin_until(executor, future.done, 1.0), "lifecycle service starved"
            assert future.result().current_state.label == "active" and time.monotonic() - asked < 1.0
        process.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        assert process.wait(timeout=5) == 0 and time.monotonic() - stopping < 2.0
    assert "no RealSense camera connected" in process.output


def _watch(model_file: Path, tmp_path: Path, kind: type, topic: str, frames: int) -> tuple[list, Collector]:
    """Play ``frames`` frames to a node while subscribed to one of its viewer topics; (received, collector)."""
    with node_process(model_file, tmp_path / "cache"), ros_node("viewer") as (node, executor):
        received: list = []
        node.create_subscription(kind, topic, received.append, RELIABLE)
        collector = Collector()
        collector.attach(node)
        camera = Camera(node, executor, collector)
        camera.wait_for_node()
        assert spin_until(executor, lambda: node.count_publishers(topic) > 0, 10.0)
        camera.play(scene(frames), fps=30.0)
        camera.settle()
    return received, collector


def test_the_debug_image_shows_each_anticipated_frame_with_its_stamp(model_file: Path, tmp_path: Path) -> None:
    debug, collector = _watch(model_file, tmp_path, Image, "/r3d_anticipation/debug_image", 45)
    stamps = {_ns(a) for a in collector.actions}
    assert debug and {_ns(d) for d in debug} <= stamps
    assert all((d.width, d.height, d.encoding) == (160, 120, "rgb8") for d in debug)
    assert all(d.header.frame_id == "test_color_optical_frame" for d in debug)
    assert 0 < int(collector.last_diagnostics()["debug_images"]) <= len(collector.actions)


def test_no_debug_image_is_rendered_when_nobody_subscribes(running) -> None:
    _, camera, collector = running
    camera.play(scene(45), fps=30.0)
    camera.settle()
    assert collector.actions and int(collector.last_diagnostics()["debug_images"]) == 0


def test_rviz_gets_a_text_marker_naming_the_next_action(model_file: Path, tmp_path: Path) -> None:
    markers, collector = _watch(model_file, tmp_path, MarkerArray, "/r3d_anticipation/markers", 30)
    assert markers and collector.actions
    last = markers[-1].markers[0]
    assert last.type == Marker.TEXT_VIEW_FACING and last.header.frame_id == "test_color_optical_frame"
    assert collector.actions[-1].next_label in last.text
