r"""One table from ``r3d-eval-model`` runs split by test seeds (the same models, disjoint seeds).

    scripts/with-env python scripts/merge_eval.py --models shipped layers3 aux1 \\
        --results docs/experiment/temporal_layers/draw0_seeds_0_50_51/results.json \\
        docs/experiment/temporal_layers/draw0_seeds_52_53_54/results.json

Two evaluations on one core each finish in half the time of one over every seed;
this joins their per-seed values and prints, for each model with both modalities,
MoC over the grammar oracle in every alpha/beta cell as the ratio of the seeds'
means (the report's target check), the observed segmentation, and MoC minus the
``depth_only`` baseline's (scored without RGB, as the report does) at alpha 0.3.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from r3d_ros.eval.model_eval import KEYS


def joined(summaries: list[dict], row: str, metric: str) -> np.ndarray:
    """Per-seed values of ``metric`` in ``row`` of every summary, concatenated."""
    return np.concatenate([np.asarray(summary[row][metric]["values"], dtype=float) for summary in summaries])


def main(argv: list[str] | None = None) -> int:
    """Print the merged table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True, help="model names as given to r3d-eval-model --model")
    parser.add_argument("--results", nargs="+", type=Path, required=True, help="results.json of each run")
    args = parser.parse_args(argv)
    runs = [json.loads(path.read_text()) for path in args.results]
    seeds = [seed for run in runs for seed in run["seeds"]]
    if len(set(seeds)) != len(seeds):
        parser.error(f"the runs share test seeds: {seeds}")
    summaries = [run["summary"] for run in runs]
    depth_row = "depth_only/trained/rgb_absent"
    alpha3 = [key for key in KEYS if key.startswith("a0.3")]
    print(f"Test seeds {sorted(seeds)}; model / oracle is the ratio of the seeds' means.\n")
    print(
        "| model | "
        + " | ".join(KEYS)
        + " | segmentation | "
        + " | ".join(f"minus depth-only {k}" for k in alpha3)
        + " |"
    )
    print("|---|" + "---|" * (len(KEYS) + 1 + len(alpha3)))
    for model in args.models:
        row = f"{model}/trained/both"
        ratios = [
            joined(summaries, row, f"moc/{k}").mean() / joined(summaries, row, f"reference/oracle/{k}").mean()
            for k in KEYS
        ]
        segmentation = joined(summaries, row, "segmentation_accuracy").mean()
        gaps = [
            joined(summaries, row, f"moc/{k}").mean() - joined(summaries, depth_row, f"moc/{k}").mean() for k in alpha3
        ]
        cells = [f"{r:.3f}" for r in ratios] + [f"{segmentation:.3f}"] + [f"{g:+.3f}" for g in gaps]
        print(f"| {model} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
