"""Overlay benchmark: cost of one debug-image render of a 640x480 frame, with and without the depth frame beside it.

    scripts/with-env python bench/bench_overlay.py                 # median and p99 over 200 renders each
    scripts/with-env python bench/bench_overlay.py --repeats 1000 --height 720 --width 1280

The frame is a smooth gradient with noise, the depth a ramp with a hole, and the
anticipation has the shipped model's shape (its 10 classes, three future
segments); the render cost does not depend on the model.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from r3d_ros.runtime.anticipator import Anticipation, SegmentEstimate
from r3d_ros.runtime.overlay import render_overlay

CLASSES = ["reach", "grasp", "lift", "pour", "place", "wipe", "open", "close", "push", "wave"]


def scene(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """An RGB frame and a depth frame (metres, 0 where there is no reading)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    color = np.stack([x * 255 // width, y * 255 // height, np.full_like(x, 128)], axis=-1)
    color = np.clip(color + rng.integers(-20, 20, color.shape), 0, 255).astype(np.uint8)
    depth = (0.5 + 4.0 * x / width).astype(np.float32)
    depth[: height // 4, : width // 4] = 0.0
    return color, depth


def anticipation() -> Anticipation:
    """A tick as the node produces it: current action, next-action distribution, three future segments."""
    probabilities = np.random.default_rng(1).dirichlet(np.ones(len(CLASSES))).astype(np.float32)
    best = int(probabilities.argmax())
    future = [
        SegmentEstimate(k, CLASSES[k], 0.7, start, 8.0 / 3) for k, start in ((0, 0.0), (1, 8.0 / 3), (2, 16.0 / 3))
    ]
    return Anticipation(
        stamp=10.0, window_start=6.8, num_frames=32, horizon_s=8.0, next_class_id=best, next_label=CLASSES[best],
        next_confidence=float(probabilities[best]), next_probabilities=probabilities, future=future,
        current=SegmentEstimate(0, CLASSES[0], 0.8, -1.5, 1.6), rgb_present=True, depth_present=True,
        rgb_substituted=False, depth_substituted=False, depth_missing_fraction=0.0, fused_effective_rank=4.0,
        model_id="bench",
    )  # fmt: skip


def measure(render, repeats: int, warmup: int = 10) -> tuple[float, float]:
    """(median, p99) wall time of ``render()`` in ms."""
    for _ in range(warmup):
        render()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        render()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples), float(np.percentile(samples, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    args = parser.parse_args()
    color, depth = scene(args.height, args.width)
    result = anticipation()
    cases = {
        "color only": lambda: render_overlay(color, result, "present", class_names=CLASSES),
        "color + depth": lambda: render_overlay(color, result, "present", depth, class_names=CLASSES),
        "waiting (no anticipation)": lambda: render_overlay(color, None, "missing"),
    }
    print(f"overlay render, {args.width}x{args.height}, {args.repeats} renders each")
    for name, render in cases.items():
        median, p99 = measure(render, args.repeats)
        print(f"  {name:<26} median {median:6.2f} ms   p99 {p99:6.2f} ms")


if __name__ == "__main__":
    main()
