r"""How much RGB could add to depth on the synthetic benchmark: the two baselines' recognition frame by frame.

    scripts/with-env python scripts/modality_complementarity.py --fused models/r3d_default.safetensors \\
        --depth-only runs/depth_only-seed0/model.safetensors --rgb-only runs/rgb_only-seed0/model.safetensors \\
        --seeds 100 101 102 --variant depth_noise_30:depth_noise=0.03 --cache out/cache --out out/complementarity

Scores the fused model (both modalities), the depth-only baseline (RGB absent)
and the RGB-only baseline (depth absent) on the same protocol windows
(:mod:`r3d_ros.eval.complementarity`), and prints, per sensor setting, the
fraction of frames each recognises, the fraction at least one baseline
recognises ("either": the most that picking the right modality per frame
could give) and the fraction neither does. Depth and RGB noisier than each
model's limits count as missing, as in ``r3d-eval-model`` and the node.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

import numpy as np

from r3d_ros.config import ConfigError, StreamConfig
from r3d_ros.eval.complementarity import ROWS, complementarity, recognition
from r3d_ros.eval.model_eval import parse_variant, presence, test_videos
from r3d_ros.model.checkpoint import ModelFileError, load_model
from r3d_ros.runtime.depth_noise import limit_in_force

# (column, alpha of its windows, key in the complementarity table)
COLUMNS = (
    ("observed a0.3", 0.3, "observed"),
    ("interior a0.3", 0.3, "interior"),
    ("near a change a0.3", 0.3, "boundary"),
    ("last frame a0.2", 0.2, "last"),
    ("last frame a0.3", 0.3, "last"),
)
CONDITIONS = {"fused": "both", "depth_only": "rgb_absent", "rgb_only": "depth_absent"}


def table(per_seed: list[dict[float, dict[str, dict[str, float]]]]) -> str:
    """Markdown rows: mean +- std over seeds of each row in each column."""
    lines = ["| | " + " | ".join(name for name, _, _ in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for row in ROWS:
        cells = []
        for _, alpha, key in COLUMNS:
            values = np.array([seed[alpha][row][key] for seed in per_seed])
            cells.append(f"{values.mean():.3f} ± {values.std():.3f}")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the complementarity tables (and write them with ``--out``); returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--fused", type=Path, required=True, help="fused model file")
    parser.add_argument("--depth-only", type=Path, required=True, help="depth-only baseline model file")
    parser.add_argument("--rgb-only", type=Path, required=True, help="RGB-only baseline model file")
    parser.add_argument("--seeds", type=int, nargs="+", default=[100, 101, 102], help="benchmark seeds to test on")
    parser.add_argument("--num-test", type=int, default=48, help="test videos per seed")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE[,KEY=VALUE]")
    parser.add_argument(
        "--max-depth-noise", type=float, default=StreamConfig().max_depth_noise, help="as r3d-eval-model's"
    )
    parser.add_argument("--max-rgb-noise", type=float, default=StreamConfig().max_rgb_noise, help="as r3d-eval-model's")
    parser.add_argument("--cache", type=Path, default=Path("out/cache"), help="cache of rendered test sets")
    parser.add_argument("--out", type=Path, help="also write report.md and results.json here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    models = {}
    for name, path in (("fused", args.fused), ("depth_only", args.depth_only), ("rgb_only", args.rgb_only)):
        try:
            models[name], _ = load_model(path)
        except ModelFileError as error:
            parser.error(str(error))
    fused = models["fused"]
    if fused.config.data.source != "synthetic":
        parser.error("--fused: the model was not trained on the synthetic benchmark")
    base = dataclasses.replace(fused.config.data.synthetic, num_test=args.num_test)
    try:
        StreamConfig(max_depth_noise=args.max_depth_noise, max_rgb_noise=args.max_rgb_noise)
        variants = dict([("trained", base), *(parse_variant(v, base) for v in args.variant)])
    except (ConfigError, ValueError) as error:
        parser.error(str(error))
    limits = {
        name: (
            limit_in_force(args.max_depth_noise, model.config.model.max_depth_noise),
            limit_in_force(args.max_rgb_noise, model.config.model.max_rgb_noise),
        )
        for name, model in models.items()
    }
    report, results = [], {}
    for variant, sensor in variants.items():
        per_seed = []
        for seed in args.seeds:
            logging.info("%s sensor, seed %d", variant, seed)
            videos = test_videos(dataclasses.replace(sensor, seed=seed), fused, args.cache)
            by_alpha = {}
            for alpha in sorted({alpha for _, alpha, _ in COLUMNS}):
                scored = {
                    name: recognition(model, videos, alpha, **presence(CONDITIONS[name], videos, seed, *limits[name]))
                    for name, model in models.items()
                }
                by_alpha[alpha] = complementarity(scored["fused"], scored["depth_only"], scored["rgb_only"])
            per_seed.append(by_alpha)
        results[variant] = per_seed
        report.append(f"### {variant} sensor, seeds {' '.join(map(str, args.seeds))}\n\n{table(per_seed)}\n")
    text = "\n".join(report)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.md").write_text(text)
        (args.out / "results.json").write_text(json.dumps({"seeds": args.seeds, "limits": limits, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
