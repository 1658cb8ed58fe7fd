"""r3d-eval-bag: deterministic offline replay, the predictions bag, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rosbags.highlevel import AnyReader
from test_runtime import write_model

from r3d_ros.config import SyntheticConfig
from r3d_ros.data.bag_export import write_rgbd_bag, write_video_bag
from r3d_ros.data.synthetic import generate_synthetic
from r3d_ros.eval import cli
from r3d_ros.eval.prediction_bag import r3d_typestore
from r3d_ros.runtime.image import RawImage

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    folder = tmp_path_factory.mktemp("recording")
    config = SyntheticConfig(num_train=0, num_test=1, seconds=8.0, fps=10.0, height=60, width=80, seed=5)
    dataset = generate_synthetic(config)
    bag, labels = write_video_bag(folder / "bag", dataset.videos[0], class_names=dataset.class_names)
    return bag, labels, dataset.class_names


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, recording) -> Path:
    classes = recording[2]
    return write_model(
        tmp_path_factory.mktemp("model") / "model.safetensors", f"model.class_names=[{','.join(classes)}]"
    )


def run(bag: Path, labels: Path | None, model: Path, out: Path, *extra: str) -> int:
    args = ["--bag", str(bag), "--model", str(model), "--out", str(out), "--backend", "onnxruntime", "--no-progress"]
    args += ["--cache-dir", str(out.parent / "cache")]
    return cli.main(args + (["--labels", str(labels)] if labels else []) + list(extra))


def test_replaying_twice_gives_identical_predictions(recording, model, tmp_path: Path) -> None:
    bag, labels, _ = recording
    assert run(bag, labels, model, tmp_path / "a") == 0
    assert run(bag, labels, model, tmp_path / "b") == 0
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
    assert run(bag, labels, model, tmp_path / "out") == 0
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
    assert run(bag, labels, model, tmp_path / "out") == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    for key in ("observed_accuracy", "next_action_accuracy_by_lead_s", "moc", "confusion_matrix", "tick_latency",
                "depth_missing_fraction", "depth_substituted_fraction"):  # fmt: skip
        assert key in metrics
    assert np.array(metrics["confusion_matrix"]).shape == (len(classes), len(classes))
    assert (tmp_path / "out" / "timeline.png").stat().st_size > 10_000


def test_bag_without_matching_topics_fails_clearly(tmp_path: Path, model, caplog) -> None:
    color = RawImage.from_array(np.zeros((8, 8, 3), np.uint8), "rgb8")
    bag = write_rgbd_bag(tmp_path / "colour_only", [(0.1 * i, color, None) for i in range(3)], storage="mcap")
    assert run(bag, None, model, tmp_path / "out") == 2
    assert "no depth image topic" in caplog.text


def test_unsupported_encoding_fails_clearly(tmp_path: Path, model, caplog) -> None:
    color = RawImage.from_array(np.zeros((8, 16), np.uint8), "yuv422")
    depth = RawImage.from_array(np.full((8, 8), 1000, np.uint16), "16UC1")
    bag = write_rgbd_bag(tmp_path / "yuv", [(0.1 * i, color, depth) for i in range(3)], storage="mcap")
    assert run(bag, None, model, tmp_path / "out") == 2
    assert "no color image topic" in caplog.text and "yuv422" in caplog.text


def test_truncated_bag_fails_clearly(recording, model, tmp_path: Path, caplog) -> None:
    bag, labels, _ = recording
    broken = tmp_path / "broken"
    broken.mkdir()
    for file in bag.iterdir():
        data = file.read_bytes()
        (broken / file.name).write_bytes(data[: len(data) // 3] if file.suffix == ".mcap" else data)
    assert run(broken, labels, model, tmp_path / "out") == 2
    assert "broken" in caplog.text
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_labels_outside_the_recording_fail_clearly(recording, model, tmp_path: Path, caplog) -> None:
    bag, _, classes = recording
    labels = tmp_path / "late.csv"
    labels.write_text(f"start,end,action\n0.0,2.0,{classes[0]}\n30.0,40.0,{classes[1]}\n")
    assert run(bag, labels, model, tmp_path / "out") == 2
    assert "ends after the recording" in caplog.text
    assert not (tmp_path / "out" / "metrics.json").exists()


@pytest.mark.ros
def test_live_node_agrees_with_offline_replay(recording, model, tmp_path: Path) -> None:
    pytest.importorskip("rclpy", reason="rclpy not installed: run the tests through `make test`")
    bag, labels, _ = recording
    assert run(bag, labels, model, tmp_path / "out", "--compare", "--rate", "2.0", "--use-sim-time") == 0
    match = json.loads((tmp_path / "out" / "agreement.json").read_text())
    assert match["matched_ticks"] >= 0.95 * match["offline_ticks"]
    assert match["same_next_action"] == 1.0 and match["same_current_action"] == 1.0
    online = json.loads((tmp_path / "out" / "online" / "metrics.json").read_text())
    offline = json.loads((tmp_path / "out" / "offline" / "metrics.json").read_text())
    assert online["observed_accuracy"] == pytest.approx(offline["observed_accuracy"], abs=0.05)
