"""The main job of ``make demo``: anticipate actions in a recording through the live node, then score it.

1. Render a synthetic RGB-D recording (a held-out seed of the benchmark the
   shipped model was trained on; 320x240 at 15 frames/s, 20 s) into an MCAP
   rosbag2 with realsense2_camera's topic names, plus its label file.
2. Start the anticipation node with the shipped default model, play the
   recording to it over DDS in real time, and print every anticipation as it
   is published on /anticipated_action.
3. Replay the same recording offline through the node's pipeline, score both
   against the labels, and report how well live and offline agree.

Everything lands in ``out/demo/``; the recording is reused on later runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

from r3d_ros.config import SyntheticConfig, load_config
from r3d_ros.data.bag_export import write_video_bag
from r3d_ros.data.synthetic import generate_synthetic
from r3d_ros.eval import cli as eval_cli

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "out" / "demo"
MODEL = ROOT / "models" / "r3d_default.safetensors"
TRAINING_CONFIG = ROOT / "config" / "train" / "default.yaml"
# A seed the model never saw: training used seed 0.
DEMO_SEED = 2026


def make_recording(folder: Path) -> tuple[Path, Path]:
    """The demo recording and its label file (rendered once)."""
    bag, labels = folder / "recording", folder / "recording.labels.csv"
    if bag.exists() and labels.exists():
        return bag, labels
    trained_on = load_config(TRAINING_CONFIG).data.synthetic
    config = SyntheticConfig(
        num_train=0,
        num_test=1,
        seconds=20.0,
        fps=15.0,
        height=240,
        width=320,
        depth_noise=trained_on.depth_noise,
        depth_dropout=trained_on.depth_dropout,
        seed=DEMO_SEED,
    )
    dataset = generate_synthetic(config)
    print(f"rendering a {config.seconds:.0f} s synthetic RGB-D recording ({config.width}x{config.height}, "
          f"{config.fps:.0f} fps): {dataset.videos[0].meta['actions']}")  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    written, label_file = write_video_bag(bag, dataset.videos[0], class_names=dataset.class_names)
    return written, label_file


def main() -> int:
    """Run the demo; returns the exit status."""
    if not MODEL.is_file():
        print(f"the shipped model {MODEL} is missing", file=sys.stderr)
        return 2
    bag, labels = make_recording(OUT)
    print(f"recording: {bag}\nlabels:    {labels}\n")
    print("starting the anticipation node and playing the recording to it over DDS (real time) ...")
    status = eval_cli.main(
        ["--bag", str(bag), "--labels", str(labels), "--model", str(MODEL), "--out", str(OUT / "eval"),
         "--compare", "--echo", "--backend", "onnxruntime", "--no-progress",
         "--debug-image", str(OUT / "debug_image.png")]
    )  # fmt: skip
    if status == 0:
        print(f"\nreport: {OUT / 'eval'}/online/timeline.png and metrics.json (offline/ alongside)")
        print(f"the node's last ~/debug_image: {OUT / 'debug_image.png'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
