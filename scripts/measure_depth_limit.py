r"""Measure where a model trained on the synthetic benchmark does better without depth than with noisy depth.

    scripts/with-env python scripts/measure_depth_limit.py --model models/r3d_default.safetensors \\
        --seeds 50 51 52 --levels 0.02 0.025 0.03 0.035 0.04 --cache out/cache [--write]

For each depth noise level (std of a reading at 1 m, the renderer's
``depth_noise``) the model segments the test splits of the development seeds
with that noisy depth on every frame, and once with no depth at all. The limit
is the midpoint between the last level at which depth still helps (segmentation
with depth at least that without) and the first at which it does not; every
level below must help too. ``--write`` records it in the model file
(``model.max_depth_noise``, which the node applies by default). Use seeds that
no reported number is measured on: the limit is tuned on them.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from r3d_ros.config import ConfigError
from r3d_ros.eval.model_eval import evaluate_model, test_videos
from r3d_ros.model.checkpoint import ModelFileError, load_model, set_depth_limit


def segmentation(model, sensor, seeds: list[int], condition: str, cache: Path) -> float:
    """Mean over ``seeds`` of the observed-segmentation accuracy under ``condition``, nothing left out for noise."""
    scores = []
    for seed in seeds:
        videos = test_videos(dataclasses.replace(sensor, seed=seed), model, cache)
        scores.append(evaluate_model(model, videos, seed, (condition,))[condition]["segmentation_accuracy"])
    return sum(scores) / len(scores)


def limit_from(levels: list[float], with_depth: list[float], without_depth: float) -> float:
    """Midpoint between the last helping level and the first that does not; 0 when the first level does not help.

    With every level helping, the highest level is returned (the limit is at least that).
    """
    for index, score in enumerate(with_depth):
        if score < without_depth:
            return 0.0 if index == 0 else (levels[index - 1] + levels[index]) / 2
    return levels[-1]


def main(argv: list[str] | None = None) -> int:
    """Print the measurement and the limit (and write it with ``--write``); returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="model file trained on the synthetic benchmark")
    parser.add_argument("--seeds", type=int, nargs="+", default=[50, 51, 52], help="development benchmark seeds")
    parser.add_argument("--levels", type=float, nargs="+", required=True, help="depth noise levels, increasing")
    parser.add_argument("--num-test", type=int, default=48, help="test videos per seed")
    parser.add_argument("--cache", type=Path, default=Path("out/cache"), help="cache of rendered test sets")
    parser.add_argument("--write", action="store_true", help="record the limit in the model file")
    args = parser.parse_args(argv)
    if args.levels != sorted(set(args.levels)) or args.levels[0] <= 0:
        parser.error("--levels must be positive and increasing")
    try:
        model, _ = load_model(args.model)
    except ModelFileError as error:
        parser.error(str(error))
    if model.config.data.source != "synthetic":
        parser.error("the model was not trained on the synthetic benchmark, whose renderer sets the depth noise")
    base = dataclasses.replace(model.config.data.synthetic, num_test=args.num_test, num_train=0)
    try:
        sensors = [dataclasses.replace(base, depth_noise=level) for level in args.levels]
    except ConfigError as error:
        parser.error(f"--levels: {error}")
    without = segmentation(model, base, args.seeds, "depth_absent", args.cache)
    print(f"no depth: segmentation {without:.3f}")
    scores = []
    for level, sensor in zip(args.levels, sensors, strict=True):
        scores.append(segmentation(model, sensor, args.seeds, "both", args.cache))
        print(f"depth noise {level:g}: segmentation {scores[-1]:.3f}")
    limit = limit_from(args.levels, scores, without)
    print(f"limit: {limit:g}" + ("" if limit < args.levels[-1] else " (every level helped: at least this)"))
    if args.write:
        set_depth_limit(args.model, limit)
        print(f"{args.model}: model.max_depth_noise {limit:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
