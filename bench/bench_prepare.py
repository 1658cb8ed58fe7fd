"""Data preparation benchmark: rendering and preprocessing training videos in one process and in several.

    scripts/with-env python bench/bench_prepare.py                      # 24 videos of config/train/default.yaml
    scripts/with-env python bench/bench_prepare.py --videos 48 --workers 1 2 --out prepare.json

Before training on the synthetic benchmark, every video is rendered and run through the one
preprocessing function (``r3d_ros.data.prepared.prepare_dataset``); for the shipped config that
is 768 videos, and again 48 per development seed and noise level when the noise limits are
measured. For each worker count this prints the wall time, the time per video (wall time
divided by the number of videos), the speedup over one process measured in the same run, and
whether the prepared arrays equal those of one process. No cache is used.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from r3d_ros.config import load_config
from r3d_ros.data.prepared import PreparedVideo, default_workers, prepare_dataset
from r3d_ros.data.synthetic import generate_synthetic

ROOT = Path(__file__).resolve().parents[1]


def same(first: list[PreparedVideo], second: list[PreparedVideo]) -> bool:
    """Whether two preparations of the same videos hold the same arrays."""
    return all(
        np.array_equal(a.rgb, b.rgb) and np.array_equal(a.depth, b.depth) and np.array_equal(a.labels, b.labels)
        for a, b in zip(first, second, strict=True)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "train" / "default.yaml")
    parser.add_argument("--videos", type=int, default=24, help="training videos to prepare per worker count")
    parser.add_argument("--workers", type=int, nargs="+", default=sorted({1, default_workers()}))
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    args = parser.parse_args()

    config = load_config(args.config)
    synthetic = dataclasses.replace(config.data.synthetic, num_train=args.videos, num_test=0)
    dataset = generate_synthetic(synthetic)
    size, fps = config.model.input, config.anticipation.fps
    results, reference = [], None
    for workers in args.workers:
        start = time.perf_counter()
        prepared = prepare_dataset(dataset, size, fps, progress=False, workers=workers)
        seconds = time.perf_counter() - start
        reference = reference or (prepared, seconds)
        row = {
            "workers": workers,
            "seconds": round(seconds, 2),
            "ms_per_video": round(seconds / args.videos * 1e3, 1),
            "speedup": round(reference[1] / seconds, 2),
            "equal_to_first": same(prepared, reference[0]),
        }
        results.append(row)
        print(
            f"workers {workers}: {row['seconds']} s for {args.videos} videos ({row['ms_per_video']} ms per video), "
            f"speedup {row['speedup']}x over workers {args.workers[0]}, same arrays: {row['equal_to_first']}"
        )
    if args.out:
        machine = {"cpus": os.cpu_count(), "processor": platform.processor(), "python": platform.python_version()}
        frames = len(prepared[0]) if prepared else 0
        payload = {"videos": args.videos, "frames_per_video": frames, "machine": machine, "results": results}
        args.out.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
