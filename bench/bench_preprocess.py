"""Preprocessing benchmark: one RGB-D frame through ``preprocess_frame``, for each depth downsampling.

    scripts/with-env python bench/bench_preprocess.py                     # 640x480, 300 frames each
    scripts/with-env python bench/bench_preprocess.py --height 720 --width 1280 --repeats 1000
    scripts/with-env python bench/bench_preprocess.py --out docs/bench_preprocess.json   # also save the numbers

The frame is what a RealSense gives the node: uint8 RGB and 16UC1 millimetres
with noise and 5 % holes. Both methods run interleaved in one process, so their
ratio is measured under the same machine load.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np

from r3d_ros.config import InputConfig
from r3d_ros.runtime.image import RawImage
from r3d_ros.runtime.preprocess import preprocess_frame

METHODS = ("area", "closest")


def frame(height: int, width: int) -> tuple[RawImage, RawImage]:
    """A noisy colour frame and a depth ramp (0.5-4.5 m) with holes."""
    rng = np.random.default_rng(0)
    color = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    ramp = np.linspace(500, 4500, width)[None, :] + rng.normal(0, 20, (height, width))
    depth = np.where(rng.random((height, width)) < 0.05, 0, ramp).astype(np.uint16)
    return RawImage.from_array(color, "rgb8"), RawImage.from_array(depth, "16UC1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--out", help="write the medians, p99s and ratio to this JSON file")
    args = parser.parse_args()
    color, depth = frame(args.height, args.width)
    sizes = {method: InputConfig(depth_downsample=method) for method in METHODS}
    times: dict[str, list[float]] = {method: [] for method in METHODS}
    for _ in range(args.repeats):
        for method, size in sizes.items():
            started = time.perf_counter()
            preprocess_frame(color, depth, size)
            times[method].append((time.perf_counter() - started) * 1e3)
    medians = {method: statistics.median(values) for method, values in times.items()}
    print(f"preprocess_frame, {args.width}x{args.height} RGB-D -> 64x48, {args.repeats} frames each")
    for method, values in times.items():
        p99 = float(np.percentile(values, 99))
        print(f"  depth_downsample={method:8s} median {medians[method]:.2f} ms  p99 {p99:.2f} ms")
    ratio = medians["closest"] / medians["area"]
    print(f"  closest / area (medians): {ratio:.2f}x")
    if args.out:
        summary = {
            method: {"median_ms": medians[method], "p99_ms": float(np.percentile(values, 99))}
            for method, values in times.items()
        }
        machine = {"processor": platform.processor() or platform.machine(), "python": platform.python_version()}
        record = {"frame": [args.width, args.height], "repeats": args.repeats, "machine": machine}
        with open(args.out, "w") as handle:
            json.dump({**record, "preprocess_frame": summary, "closest_over_area": ratio}, handle, indent=2)


if __name__ == "__main__":
    main()
