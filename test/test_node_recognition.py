"""End to end with the shipped model: a synthetic recording over Fast DDS, the node recognises the actions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy not installed: run the tests through `make test`")
from node_harness import START_NS, Camera, Collector, image, node_process
from ros_util import ros_node

from r3d_ros.config import SyntheticConfig, load_config
from r3d_ros.data.synthetic import generate_synthetic
from r3d_ros.runtime.image import decode_color, decode_depth

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "r3d_default.safetensors"
pytestmark = [pytest.mark.ros, pytest.mark.slow]


@pytest.fixture(scope="module")
def recording() -> tuple[list, np.ndarray, list[str], float]:
    """A held-out synthetic video at 15 fps with the shipped model's training sensor settings."""
    trained_on = load_config(ROOT / "config" / "train" / "default.yaml").data.synthetic
    fps = 15.0
    sensor = {"depth_noise": trained_on.depth_noise, "depth_dropout": trained_on.depth_dropout}
    config = SyntheticConfig(num_train=0, num_test=1, seconds=16.0, fps=fps, height=120, width=160, seed=4242, **sensor)
    dataset = generate_synthetic(config)
    video = dataset.videos[0]
    frames = [
        (decode_color(f.color), decode_depth(f.depth) if f.depth is not None else None)
        for f in video.frames(range(len(video)))
    ]
    return frames, video.labels, dataset.class_names, fps


def test_shipped_model_recognises_the_actions_of_a_recording(recording, tmp_path: Path) -> None:
    frames, labels, classes, fps = recording
    with node_process(MODEL, tmp_path / "cache") as process, ros_node("recognition") as (node, executor):
        collector = Collector()
        collector.attach(node)
        camera = Camera(node, executor, collector)
        camera.wait_for_node()
        for i, (rgb, depth) in enumerate(frames):
            ns = START_NS + round(i * 1e9 / fps)
            depth_message = image(ns, (depth * 1000).astype(np.uint16), "16UC1") if depth is not None else None
            camera.send(ns, image(ns, rgb, "rgb8"), depth_message, period=1.0 / fps)
        camera.settle()
        assert process.poll() is None
    actions = collector.actions
    assert len(actions) >= 0.9 * len(frames) / fps * 10  # 10 Hz of stream time
    assert list(collector.labels[0].class_names) == classes
    frame_of = {START_NS + round(i * 1e9 / fps): i for i in range(len(frames))}
    truth = np.array([labels[frame_of[a.header.stamp.sec * 10**9 + a.header.stamp.nanosec]] for a in actions])
    predicted = np.array([a.current.class_id for a in actions])
    settled = np.arange(len(actions)) >= 10  # the first second has too little history
    accuracy = float((predicted[settled] == truth[settled]).mean())
    assert accuracy > 0.5, f"observed-action accuracy {accuracy:.2f} (chance 1/{len(classes)})"
