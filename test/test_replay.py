"""r3d-eval-bag: deterministic offline replay, the predictions bag, bad input."""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np
import pytest
from bags import malformed_first_frame_bag, replay, restarting_bag, synthetic_video, write_messages
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from model_files import write_model
from rosbags.highlevel import AnyReader

from r3d_ros.data.bag_export import (
    COLOR_TOPIC,
    DEPTH_TOPIC,
    image_message,
    write_rgbd_bag,
    write_video_bag,
)
from r3d_ros.data.video import Frame, Video
from r3d_ros.eval import cli
from r3d_ros.eval.prediction_bag import r3d_typestore
from r3d_ros.runtime.image import RawImage, decode_color, decode_depth

pytestmark = pytest.mark.slow


def ticks_times(out: Path) -> list[float]:
    """The t_s column of ticks.csv."""
    with open(out / "ticks.csv") as handle:
        return [float(row["t_s"]) for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    folder = tmp_path_factory.mktemp("recording")
    video, class_names = synthetic_video()
    bag, labels = write_video_bag(folder / "bag", video, class_names=class_names)
    return bag, labels, class_names


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, recording) -> Path:
    classes = recording[2]
    return write_model(
        tmp_path_factory.mktemp("model") / "model.safetensors", f"model.class_names=[{','.join(classes)}]"
    )


def test_replaying_twice_gives_identical_predictions(recording, model, tmp_path: Path) -> None:
    bag, labels, _ = recording
    assert replay(bag, labels, model, tmp_path / "a") == 0
    assert replay(bag, labels, model, tmp_path / "b") == 0
    first, second = (tmp_path / "a" / "ticks.csv").read_text(), (tmp_path / "b" / "ticks.csv").read_text()
    assert first == second and len(first.splitlines()) > 50
    a, b = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("a", "b"))
    a.pop("tick_latency"), b.pop("tick_latency")
    assert a == b
    assert _read_predictions(tmp_path / "a" / "predictions") == _read_predictions(tmp_path / "b" / "predictions")


def _read_predictions(bag: Path) -> list[tuple]:
    with AnyReader([bag], default_typestore=r3d_typestore()) as reader:
        rows = []
        for connection, timestamp, raw in reader.messages():
            message = reader.deserialize(raw, connection.msgtype)
            if connection.msgtype == "r3d_msgs/msg/AnticipatedAction":
                rows.append((timestamp, message.next_class_id, tuple(np.round(message.next_probabilities, 7))))
        return rows


def test_predictions_bag_reads_back_with_rosbags_and_the_mcap_reader(recording, model, tmp_path: Path) -> None:
    bag, labels, classes = recording
    assert replay(bag, labels, model, tmp_path / "out") == 0
    predictions = tmp_path / "out" / "predictions"
    with AnyReader([predictions], default_typestore=r3d_typestore()) as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
        assert types == {"/anticipated_action": "r3d_msgs/msg/AnticipatedAction",
                         "/anticipated_action/labels": "r3d_msgs/msg/ActionLabels"}  # fmt: skip
        actions = [
            reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages() if c.topic == "/anticipated_action"
        ]
    assert actions and all(abs(sum(a.next_probabilities) - 1.0) < 1e-4 for a in actions)
    mcap_file = next(predictions.glob("*.mcap"))
    with open(mcap_file, "rb") as handle:
        decoded = list(make_reader(handle, decoder_factories=[DecoderFactory()]).iter_decoded_messages())
    schemas = {schema.name for schema, _, _, _ in decoded}
    assert schemas == {"r3d_msgs/msg/AnticipatedAction", "r3d_msgs/msg/ActionLabels"}
    labels_message = next(m for s, _, _, m in decoded if s.name == "r3d_msgs/msg/ActionLabels")
    assert list(labels_message.class_names) == classes
    first = next(m for s, _, _, m in decoded if s.name == "r3d_msgs/msg/AnticipatedAction")
    assert first.next_label in classes and first.header.frame_id == "camera_color_optical_frame"


def test_report_has_metrics_timeline_and_confusion_matrix(recording, model, tmp_path: Path) -> None:
    bag, labels, classes = recording
    assert replay(bag, labels, model, tmp_path / "out") == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    for key in ("observed_accuracy", "next_action_accuracy_by_lead_s", "moc", "confusion_matrix", "tick_latency",
                "depth_missing_fraction", "depth_substituted_fraction"):  # fmt: skip
        assert key in metrics
    assert np.array(metrics["confusion_matrix"]).shape == (len(classes), len(classes))
    assert (tmp_path / "out" / "timeline.png").stat().st_size > 10_000


def test_bag_without_matching_topics_fails_clearly(tmp_path: Path, model, caplog) -> None:
    color = RawImage.from_array(np.zeros((8, 8, 3), np.uint8), "rgb8")
    bag = write_rgbd_bag(tmp_path / "colour_only", [(0.1 * i, color, None) for i in range(3)], storage="mcap")
    assert replay(bag, None, model, tmp_path / "out") == 2
    assert "no depth image topic" in caplog.text


def test_a_depth_timeout_out_of_range_is_refused_naming_it(recording, model, tmp_path: Path, caplog) -> None:
    bag, labels, _ = recording
    assert replay(bag, labels, model, tmp_path / "out", "--depth-timeout-s", "0") == 2
    assert "depth_timeout_s" in caplog.text


def test_unsupported_encoding_fails_clearly(tmp_path: Path, model, caplog) -> None:
    color = RawImage.from_array(np.zeros((8, 16), np.uint8), "yuv422")
    depth = RawImage.from_array(np.full((8, 8), 1000, np.uint16), "16UC1")
    bag = write_rgbd_bag(tmp_path / "yuv", [(0.1 * i, color, depth) for i in range(3)], storage="mcap")
    assert replay(bag, None, model, tmp_path / "out") == 2
    assert "no color image topic" in caplog.text and "yuv422" in caplog.text


def test_truncated_bag_fails_clearly(recording, model, tmp_path: Path, caplog) -> None:
    bag, labels, _ = recording
    broken = tmp_path / "broken"
    broken.mkdir()
    for file in bag.iterdir():
        data = file.read_bytes()
        (broken / file.name).write_bytes(data[: len(data) // 3] if file.suffix == ".mcap" else data)
    assert replay(broken, labels, model, tmp_path / "out") == 2
    assert "broken" in caplog.text
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_labels_outside_the_recording_fail_clearly(recording, model, tmp_path: Path, caplog) -> None:
    bag, _, classes = recording
    labels = tmp_path / "late.csv"
    labels.write_text(f"start,end,action\n0.0,2.0,{classes[0]}\n30.0,40.0,{classes[1]}\n")
    assert replay(bag, labels, model, tmp_path / "out") == 2
    assert "ends after the recording" in caplog.text
    assert not (tmp_path / "out" / "metrics.json").exists()


@pytest.fixture(scope="module")
def restarting(tmp_path_factory: pytest.TempPathFactory, model: Path) -> tuple[int, Path, Video]:
    """Offline evaluation of a recording whose stamps restart half-way: (exit status, output folder, video)."""
    folder = tmp_path_factory.mktemp("restarting")
    bag, labels, video = restarting_bag(folder)
    return replay(bag, labels, model, folder / "out"), folder / "out", video


def test_restarting_stamps_are_evaluated_over_the_whole_recording(restarting) -> None:
    status, out, video = restarting
    assert status == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["duration_s"] == pytest.approx(video.stamps[-1] - video.stamps[0], abs=1e-6)


def test_restarting_stamps_keep_ticks_in_recording_order(restarting) -> None:
    status, out, video = restarting
    assert status == 0
    times = ticks_times(out)
    assert all(later > earlier for earlier, later in itertools.pairwise(times))
    assert times[-1] == pytest.approx(video.stamps[-1] - video.stamps[0], abs=0.2)


def test_restarting_stamps_count_every_color_frame(restarting) -> None:
    status, out, video = restarting
    assert status == 0
    assert json.loads((out / "metrics.json").read_text())["bag_counts"]["color_messages"] == len(video)


def test_malformed_first_frame_is_dropped_when_topics_are_named(model, tmp_path: Path) -> None:
    bag = malformed_first_frame_bag(tmp_path)
    topics = ("--color-topic", COLOR_TOPIC, "--depth-topic", DEPTH_TOPIC)
    assert replay(bag, None, model, tmp_path / "out", *topics) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["bag_counts"]["frames_invalid"] == 1
    assert metrics["bag_counts"]["frames_used"] == 79


def edited_bag(folder: Path, name: str, edit: Callable[[Frame], tuple[RawImage, RawImage]]) -> Path:
    """The synthetic recording with each frame's (color, depth) images replaced by ``edit(frame)``."""
    video, _ = synthetic_video()

    def rows() -> Iterable[tuple[str, int, object]]:
        for index, frame in enumerate(video.frames(range(len(video)))):
            stamp_ns = round(video.stamps[index] * 1e9)
            color, depth = edit(frame)
            yield COLOR_TOPIC, stamp_ns, image_message(color, stamp_ns, "camera_color_optical_frame")
            yield DEPTH_TOPIC, stamp_ns, image_message(depth, stamp_ns, "camera_color_optical_frame")

    return write_messages(folder / name, rows())


def noisy_depth_bag(folder: Path, noise: float) -> Path:
    """The synthetic recording with stereo noise of std ``noise`` m at 1 m added to every depth image."""
    rng = np.random.default_rng(11)

    def edit(frame: Frame) -> tuple[RawImage, RawImage]:
        metres = decode_depth(frame.depth, frame.depth_scale)
        metres = metres + rng.standard_normal(metres.shape) * noise * metres**2
        return frame.color, RawImage.from_array(np.clip(np.rint(metres * 1000), 0, 65535).astype(np.uint16), "16UC1")

    return edited_bag(folder, "noisy_depth", edit)


def test_replay_leaves_out_depth_noisier_than_max_depth_noise_and_counts_it(model, tmp_path: Path) -> None:
    bag = noisy_depth_bag(tmp_path, noise=0.1)
    assert replay(bag, None, model, tmp_path / "limited", "--max-depth-noise", "0.05") == 0
    assert replay(bag, None, model, tmp_path / "kept") == 0  # the model records no limit of its own
    limited, kept = (json.loads((tmp_path / d / "metrics.json").read_text())["bag_counts"] for d in ("limited", "kept"))
    assert limited["frames_depth_too_noisy"] == limited["frames_without_depth"] == limited["frames_used"] == 80
    assert kept["frames_depth_too_noisy"] == kept["frames_without_depth"] == 0


def noisy_color_bag(folder: Path, noise: float) -> Path:
    """The synthetic recording with independent pixel noise of std ``noise`` (0-255) added to every color image."""
    rng = np.random.default_rng(12)

    def edit(frame: Frame) -> tuple[RawImage, RawImage]:
        pixels = decode_color(frame.color).astype(np.float32)
        noisy = np.clip(np.rint(pixels + rng.standard_normal(pixels.shape) * noise), 0, 255).astype(np.uint8)
        return RawImage.from_array(noisy, "rgb8"), frame.depth

    return edited_bag(folder, "noisy_color", edit)


def test_replay_leaves_out_rgb_noisier_than_max_rgb_noise_where_depth_is_kept(model, tmp_path: Path) -> None:
    bag = noisy_color_bag(tmp_path, noise=40.0)
    assert replay(bag, None, model, tmp_path / "limited", "--max-rgb-noise", "3") == 0
    assert replay(bag, None, model, tmp_path / "kept") == 0  # the model records no limit of its own
    limited, kept = (json.loads((tmp_path / d / "metrics.json").read_text())["bag_counts"] for d in ("limited", "kept"))
    assert limited["frames_rgb_too_noisy"] == limited["frames_used"] == 80
    assert limited["frames_without_depth"] == kept["frames_rgb_too_noisy"] == 0


@pytest.mark.ros
def test_live_node_agrees_with_offline_replay(recording, model, tmp_path: Path) -> None:
    pytest.importorskip("rclpy", reason="rclpy not installed: run the tests through `make test`")
    bag, labels, _ = recording
    # The node must compute what replay computes; a depth frame that a busy machine delivers late is a matter of
    # scheduling, not of computation, so depth may lag color by up to 2 s of stamp time (1 s at this rate).
    arguments = ("--compare", "--rate", "2.0", "--use-sim-time", "--depth-timeout-s", "2.0")
    assert replay(bag, labels, model, tmp_path / "out", *arguments) == 0
    match = json.loads((tmp_path / "out" / "agreement.json").read_text())
    assert match["matched_ticks"] >= 0.95 * match["offline_ticks"]
    assert match["same_next_action"] == 1.0 and match["same_current_action"] == 1.0
    online = json.loads((tmp_path / "out" / "online" / "metrics.json").read_text())
    offline = json.loads((tmp_path / "out" / "offline" / "metrics.json").read_text())
    assert online["observed_accuracy"] == pytest.approx(offline["observed_accuracy"], abs=0.05)


def test_video_has_one_frame_per_color_frame_with_the_truth_band_below(recording, model, tmp_path: Path) -> None:
    bag, labels, _ = recording
    video = tmp_path / "replay.mp4"
    assert replay(bag, labels, model, tmp_path / "out", "--video", str(video)) == 0
    capture = cv2.VideoCapture(str(video))
    frames = []
    while (frame := capture.read()[1]) is not None:
        frames.append(frame)
    capture.release()
    assert len(frames) == 80  # the recording's color frames: 8 s at 10 frames/s
    assert frames[0].shape == (60 + 16, 80, 3)  # the 80x60 color frame over a 16-row ground-truth band


def test_video_in_a_container_without_an_encoder_is_refused(capsys) -> None:
    with pytest.raises(SystemExit):
        cli.parse_args(["--bag", "recording", "--video", "replay.mkv"])
    assert ".mp4 or .avi" in capsys.readouterr().err
