r"""One table from ``r3d-eval-model`` runs split by test seeds or by models.

    scripts/with-env python scripts/merge_eval.py --models shipped layers3 aux1 \\
        --results docs/experiment/temporal_layers/draw0_seeds_0_50_51/results.json \\
        docs/experiment/temporal_layers/draw0_seeds_52_53_54/results.json

Two evaluations on one core each finish in half the time of one over every seed,
and a new model need not be scored again beside the ones it is compared with:
each row's per-seed values are joined over every run that has it (a model scored
twice on a seed must give the same values, or the runs are refused). This prints, for each model with both
modalities, MoC over the grammar oracle in every alpha/beta cell as the ratio
of the seeds' means (the report's target check), the observed segmentation,
and, where a run scored the ``depth_only`` baseline, MoC minus its MoC (scored
without RGB, as the report does) at alpha 0.3. ``--against NAME`` adds each
model's MoC minus NAME's, paired by seed, and on how many seeds it is ahead, in
every cell. ``depth_only`` is read without RGB wherever it is named, in
``--models`` as in ``--against``. ``--setting`` reads a sensor variant's rows
instead of the trained setting's, ``--condition`` another input condition
(``depth_absent``, ``depth_missing_30``) instead of both; ``--oracle oracle_sensed`` divides by the
oracle told only what the sensors show (:mod:`r3d_ros.eval.reference`), and
adds a last row: that oracle's MoC over the oracle's (on the first model's test
windows), how much the sensors leave possible. ``--mean`` adds a row with each
column's mean over the models named (a recipe's training draws as one). ``--relative`` adds each model's
MoC and segmentation over its own with both modalities in the trained setting,
the issue's robustness targets (depth missing on 30 % of frames: at least 0.9;
a sensor setting training did not see: at least 0.85). A run written ``PREFIX=PATH`` has
its models renamed PREFIX + name, so two evaluations that gave the same name to
different files (``seed2`` of two recipes) can be compared.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from r3d_ros.eval.model_eval import KEYS

# row -> metric -> seed -> value
Joined = dict[str, dict[str, dict[int, float]]]


def join_runs(runs: list[dict]) -> Joined:
    """Every row's per-seed values over all ``runs``; a seed scored twice for one row must agree."""
    joined: Joined = defaultdict(lambda: defaultdict(dict))
    for run in runs:
        for row, metrics in run["summary"].items():
            for metric, summary in metrics.items():
                for seed, value in zip(run["seeds"], summary["values"], strict=True):
                    earlier = joined[row][metric].get(seed)
                    if earlier is not None and earlier != float(value) and not (np.isnan(earlier) and np.isnan(value)):
                        raise ValueError(f"{row}: two runs disagree on {metric} at test seed {seed}")
                    joined[row][metric][seed] = float(value)
    return joined


def read_run(item: str) -> dict:
    """A results.json, named ``PATH`` or ``PREFIX=PATH`` (every row's model renamed PREFIX + name)."""
    prefix, _, path = item.rpartition("=")
    run = json.loads(Path(path).read_text())
    run["summary"] = {prefix + name: metrics for name, metrics in run["summary"].items()}
    return run


def both_row(model: str, setting: str = "trained", condition: str = "both") -> str:
    """The row a model is compared on: ``condition`` (both modalities), or without RGB for the depth-only baseline."""
    return f"{model}/{setting}/rgb_absent" if model == "depth_only" else f"{model}/{setting}/{condition}"


def values(joined: Joined, row: str, metric: str, seeds: list[int]) -> np.ndarray:
    """``metric`` of ``row`` on ``seeds``, in that order."""
    if row not in joined:
        raise ValueError(f"no run has the row {row}")
    missing = sorted(set(seeds) - set(joined[row][metric]))
    if missing:
        raise ValueError(f"{row} was not scored on test seeds {missing}")
    return np.array([joined[row][metric][seed] for seed in seeds])


def print_relative(joined: Joined, models: list[str], setting: str, condition: str, seeds: list[int]) -> None:
    """Each model's MoC per cell and segmentation over its own in the trained setting with both modalities."""
    print(
        f"\n{setting} setting, {condition}, over the same model's trained setting, both (ratio of the seeds' means).\n"
    )
    print("| model | " + " | ".join([*KEYS, "segmentation"]) + " |")
    print("|---|" + "---|" * (len(KEYS) + 1))
    for model in models:
        row, reference = both_row(model, setting, condition), both_row(model)
        metrics = [f"moc/{k}" for k in KEYS] + ["segmentation_accuracy"]
        ratios = [values(joined, row, m, seeds).mean() / values(joined, reference, m, seeds).mean() for m in metrics]
        print(f"| {model} | " + " | ".join(f"{r:.3f}" for r in ratios) + " |")


def main(argv: list[str] | None = None) -> int:
    """Print the merged table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True, help="model names as given to r3d-eval-model --model")
    parser.add_argument("--results", nargs="+", required=True, help="results.json of each run (PREFIX=PATH: renamed)")
    parser.add_argument("--against", default=None, help="a model name to pair every model with, seed by seed")
    parser.add_argument("--setting", default="trained", help="the sensor setting (an --variant name) to read")
    parser.add_argument("--condition", default="both", help="input condition of every model but depth_only")
    parser.add_argument("--oracle", choices=("oracle", "oracle_sensed"), default="oracle", help="the reference")
    parser.add_argument("--mean", action="store_true", help="add a row: each column's mean over the models")
    parser.add_argument(
        "--relative", action="store_true", help="add MoC over the same model's with both, trained setting"
    )
    args = parser.parse_args(argv)
    try:
        joined = join_runs([read_run(item) for item in args.results])
        first = both_row(args.models[0], args.setting, args.condition)
        if first not in joined:
            raise ValueError(f"no run has the row {first}")
        seeds = sorted(joined[first]["moc/a0.3_b0.1"])
        depth_row = both_row("depth_only", args.setting)
        alpha3 = [key for key in KEYS if key.startswith("a0.3")] if depth_row in joined else []
        print(
            f"Test seeds {seeds}, {args.setting} setting, {args.condition}; "
            f"model / {args.oracle} is the ratio of the seeds' means.\n"
        )
        print("| " + " | ".join(["model", *KEYS, "segmentation", *(f"minus depth-only {k}" for k in alpha3)]) + " |")
        print("|---|" + "---|" * (len(KEYS) + 1 + len(alpha3)))
        columns = []
        for model in args.models:
            row = both_row(model, args.setting, args.condition)
            ratios = [
                values(joined, row, f"moc/{k}", seeds).mean()
                / values(joined, row, f"reference/{args.oracle}/{k}", seeds).mean()
                for k in KEYS
            ]
            segmentation = values(joined, row, "segmentation_accuracy", seeds).mean()
            gaps = [
                values(joined, row, f"moc/{k}", seeds).mean() - values(joined, depth_row, f"moc/{k}", seeds).mean()
                for k in alpha3
            ]
            cells = [f"{r:.3f}" for r in ratios] + [f"{segmentation:.3f}"] + [f"{g:+.3f}" for g in gaps]
            print(f"| {model} | " + " | ".join(cells) + " |")
            columns.append([*ratios, segmentation])
        if args.mean:  # a recipe's draws as one: each column's mean over the models named
            means = [f"{m:.3f}" for m in np.mean(columns, 0)] + [""] * len(alpha3)
            print("| (mean of the models) | " + " | ".join(means) + " |")
        if args.oracle != "oracle":  # what the sensors hide: the references read true labels, the same for every model
            bounds = [
                values(joined, first, f"reference/{args.oracle}/{k}", seeds).mean()
                / values(joined, first, f"reference/oracle/{k}", seeds).mean()
                for k in KEYS
            ]
            print(
                f"| ({args.oracle} / oracle) | " + " | ".join(f"{b:.3f}" for b in bounds) + " | |" + " |" * len(alpha3)
            )
        if args.relative:
            print_relative(joined, args.models, args.setting, args.condition, seeds)
        if args.against:
            print(f"\nMoC minus {args.against}'s, mean over the seeds paired by seed (seeds ahead of {len(seeds)}).\n")
            print("| model | " + " | ".join(KEYS) + " |")
            print("|---|" + "---|" * len(KEYS))
            for model in args.models:
                if model == args.against:
                    continue
                differences = [
                    values(joined, both_row(model, args.setting, args.condition), f"moc/{k}", seeds)
                    - values(joined, both_row(args.against, args.setting, args.condition), f"moc/{k}", seeds)
                    for k in KEYS
                ]
                cells = [f"{d.mean():+.3f} ({int((d > 0).sum())})" for d in differences]
                print(f"| {model} | " + " | ".join(cells) + " |")
    except ValueError as error:
        parser.error(str(error))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
