r"""Measure where a model trained on the synthetic benchmark does better without a modality than with it noisy.

    scripts/with-env python scripts/measure_noise_limit.py --model models/r3d_default.safetensors \\
        --seeds 50 51 52 --levels 0.02 0.025 0.03 0.035 0.04 --cache out/cache [--write]
    scripts/with-env python scripts/measure_noise_limit.py --modality rgb --model models/r3d_default.safetensors \\
        --seeds 50 51 52 --levels 10 20 30 40 60 --cache out/cache [--write]

The measurement of :mod:`r3d_ros.eval.noise_limit` (which ``r3d-train`` runs
after training when ``train.depth_limit.levels`` / ``train.rgb_limit.levels``
are set) on an existing model file; the levels are the renderer's
(``depth_noise``, ``rgb_noise``). ``--write`` records the limit in the file
(``model.max_depth_noise`` / ``model.max_rgb_noise``, which the node applies by
default). Use seeds that no reported number is measured on: the limit is tuned
on them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from r3d_ros.config import ConfigError
from r3d_ros.eval.noise_limit import MODALITIES, measure_noise_limit
from r3d_ros.model.checkpoint import ModelFileError, load_model, set_model_setting


def main(argv: list[str] | None = None) -> int:
    """Print the measurement and the limit (and write it with ``--write``); returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="model file trained on the synthetic benchmark")
    parser.add_argument("--modality", choices=sorted(MODALITIES), default="depth", help="whose limit (default depth)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[50, 51, 52], help="development benchmark seeds")
    parser.add_argument("--levels", type=float, nargs="+", required=True, help="the renderer's levels, increasing")
    parser.add_argument("--num-test", type=int, default=48, help="test videos per seed")
    parser.add_argument("--cache", type=Path, default=Path("out/cache"), help="cache of rendered test sets")
    parser.add_argument("--write", action="store_true", help="record the limit in the model file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    try:
        model, _ = load_model(args.model)
    except ModelFileError as error:
        parser.error(str(error))
    try:
        measured = measure_noise_limit(model, args.modality, args.levels, args.seeds, args.num_test, args.cache)
    except (ConfigError, ValueError) as error:
        parser.error(str(error))
    suffix = " (every level helped: at least this)" if measured.every_level_helped else ""
    setting = MODALITIES[args.modality].setting
    print(f"{setting}: {measured.limit:g}{suffix}")
    if args.write:
        set_model_setting(args.model, setting, measured.limit)
        print(f"{args.model}: model.{setting} {measured.limit:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
