"""``r3d-experiment``: train every collapse remedy with several seeds and report what happened.

    r3d-experiment --config config/experiment/collapse.yaml --out docs/experiment [--jobs 2]

For each method (a set of config overrides on a base training config) and seed
it trains one model into ``OUT/runs/<method>-seed<seed>`` (skipped when that run
already finished, resumed from its last checkpoint when it was killed before, so an
interrupted experiment continues where it stopped),
then evaluates every model on test sets with increasing RGB noise. It writes
``results.json`` (every number), ``table.md`` (mean +- std over seeds) and
``noise.png`` / ``ranks.png``. The benchmark data are generated and
preprocessed once and shared by all runs through the cache folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from r3d_ros.config import ConfigError, R3DConfig, load_config
from r3d_ros.config.loader import from_dict, merge, parse_override, read_yaml, to_dict
from r3d_ros.data.prepared import prepare_dataset
from r3d_ros.data.sources import load_datasets
from r3d_ros.eval.anticipation import evaluate_anticipation, protocol_key
from r3d_ros.model.checkpoint import load_model
from r3d_ros.train.trainer import MAIN_PROTOCOL, pick_device, train

LOG = logging.getLogger("r3d_ros.experiment")
# What the table reports, in order: (metrics key, column title).
COLUMNS = (
    ("moc_main", "MoC a0.3 b0.5"),
    ("reference/oracle/a0.3_b0.5", "grammar oracle MoC"),
    ("reference/model_fraction_of_oracle/a0.3_b0.5", "model / oracle"),
    ("reference/model_fraction_of_oracle_sensed/a0.3_b0.5", "model / oracle told what the sensors show"),
    ("reference/continue_recognised/a0.3_b0.5", "continue recognised MoC"),
    ("moc_subset/a0.3_b0.5", "MoC depth-only classes"),
    ("segmentation_accuracy", "observed seg. acc."),
    ("rank/fused", "fused eff. rank"),
    ("rank/rgb", "RGB eff. rank"),
    ("rank/depth", "depth eff. rank"),
    ("rank/rgb_encoded", "RGB encoder eff. rank"),
    ("rank/depth_encoded", "depth encoder eff. rank"),
    ("contribution/rgb", "RGB-only MoC"),
    ("contribution/depth", "depth-only MoC"),
    ("segmentation_accuracy/rgb_only", "RGB-only seg. acc."),
    ("segmentation_accuracy/depth_only", "depth-only seg. acc."),
    ("moc_depth_missing", "MoC, depth missing on 50% of frames"),
    ("moc_depth_missing_zeroed", "MoC, depth missing on 50%, zeroed not substituted"),
    ("train/discriminator_ce", "discriminator CE (last epoch)"),
    ("train/projection_norm", "projection norm (last epoch)"),
    ("substitution_error/depth", "depth substitution rel. error"),
)


@dataclass
class ExperimentConfig:
    """Methods x seeds on one base config, plus the RGB-noise sweep."""

    base: str
    methods: dict[str, list[str]]
    # Overrides applied to every method before its own.
    common: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    rgb_noise_levels: list[float] = field(default_factory=lambda: [0.0, 10.0, 20.0, 40.0])


def method_config(base: dict[str, Any], overrides: list[str], seed: int, cache: Path) -> R3DConfig:
    """The base config with a method's overrides, the seed and the shared cache folder."""
    data = base
    for override in [*overrides, f"train.seed={seed}", f"data.cache_dir={cache}"]:
        data = merge(data, parse_override(override))
    return from_dict(R3DConfig, data)


def train_run(args: tuple[dict, Path, int]) -> None:
    """One (config as a dict, run folder, torch threads) item: trained, or resumed if it was killed before its end."""
    config_dict, run_dir, threads = args
    torch.set_num_threads(threads)
    interrupted = (run_dir / "checkpoint.safetensors").is_file()  # killed before its final model: go on from there
    train(from_dict(R3DConfig, config_dict), run_dir, resume=interrupted, progress=False)


def finished(run_dir: Path) -> bool:
    """A run that wrote its final model is not trained again."""
    return (run_dir / "model.safetensors").is_file() and (run_dir / "metrics.jsonl").is_file()


def run_trainings(experiment: ExperimentConfig, out: Path, jobs: int) -> dict[str, R3DConfig]:
    """Train every (method, seed) that has no finished run yet."""
    base = read_yaml(experiment.base)
    cache = out / "cache"
    configs = {
        f"{method}-seed{seed}": method_config(base, [*experiment.common, *overrides], seed, cache)
        for method, overrides in experiment.methods.items()
        for seed in experiment.seeds
    }
    first = next(iter(configs.values()))
    train_set, test_set = load_datasets(first.data)
    for dataset in (train_set, test_set):  # fill the shared cache once, before any worker starts
        prepare_dataset(dataset, first.model.input, first.anticipation.fps, cache, workers=first.data.workers)
    todo = [(to_dict(c), out / "runs" / name, max(1, (os.cpu_count() or 1) // jobs)) for name, c in configs.items()]
    todo = [item for item in todo if not finished(item[1])]
    LOG.info("%d runs to train (%d already finished)", len(todo), len(configs) - len(todo))
    if jobs == 1:
        for item in todo:
            train_run(item)
    else:
        run_in_processes(train_run, todo, jobs)
    return configs


class TrainingProcessDied(RuntimeError):
    """A worker process ended without finishing its run (a signal, e.g. the out-of-memory killer)."""


def run_in_processes(function: Callable[[Any], Any], items: Iterable[Any], jobs: int) -> None:
    """``function(item)`` for every item in ``jobs`` spawned processes; a killed process stops the experiment.

    Why not ``multiprocessing.Pool``: when the kernel kills one of its workers, ``Pool.map``
    waits for the lost task forever. Here the experiment ends with an error instead, and
    the runs that finished are kept (rerunning the command trains only the others).
    """
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(function, item) for item in items]
        try:
            for future in futures:
                future.result()
        except BrokenProcessPool as error:
            raise TrainingProcessDied(
                "a training process died before finishing (killed by a signal, e.g. the out-of-memory killer: "
                "each run holds its prepared frames in memory, so try fewer --jobs); finished runs are kept, "
                "rerun the same command to train the others"
            ) from error


def noise_sweep(experiment: ExperimentConfig, configs: dict[str, R3DConfig], out: Path) -> dict[str, dict[str, float]]:
    """MoC (alpha 0.3, beta 0.5) of every model on the test set at each RGB noise level."""
    first = next(iter(configs.values()))
    device = pick_device(first.train.device)
    results: dict[str, dict[str, float]] = {name: {} for name in configs}
    for level in experiment.rgb_noise_levels:
        data = dataclasses.replace(
            first.data,
            synthetic=dataclasses.replace(first.data.synthetic, rgb_noise=level),
            cache_dir=str(out / "cache"),
        )
        _, test_set = load_datasets(data)
        videos = prepare_dataset(
            test_set, first.model.input, first.anticipation.fps, data.cache_dir, progress=False, workers=data.workers
        )
        for name in configs:
            model, _ = load_model(out / "runs" / name / "model.safetensors", device)
            scores = evaluate_anticipation(model, videos, [MAIN_PROTOCOL[0]], [MAIN_PROTOCOL[1]], device)
            results[name][f"{level:g}"] = scores.moc[protocol_key(*MAIN_PROTOCOL)]
    return results


def final_metrics(run_dir: Path) -> dict[str, Any]:
    """The last evaluated epoch of a run."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    substitution = run_dir / "substitution_error.json"
    if substitution.is_file():
        rows[-1] |= {f"substitution_error/{k}": v for k, v in json.loads(substitution.read_text()).items()}
    return rows[-1]


def summarise(experiment: ExperimentConfig, out: Path, noise: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Per method: mean and std over seeds of every reported metric and of the noise sweep."""
    summary: dict[str, Any] = {}
    for method in experiment.methods:
        runs = [f"{method}-seed{seed}" for seed in experiment.seeds]
        rows = [final_metrics(out / "runs" / run) for run in runs]
        entry: dict[str, Any] = {"runs": runs}
        for key, _ in COLUMNS:
            values = np.array([row.get(key, np.nan) for row in rows], dtype=float)
            entry[key] = {"mean": float(np.nanmean(values)), "std": float(np.nanstd(values)), "values": values.tolist()}
        entry["rgb_noise"] = {
            level: {
                "mean": float(np.mean([noise[run][level] for run in runs])),
                "std": float(np.std([noise[run][level] for run in runs])),
            }
            for level in noise[runs[0]]
        }
        summary[method] = entry
    return summary


def write_table(summary: dict[str, Any], path: Path) -> None:
    """Markdown table of mean +- std over seeds."""
    header = "| method | " + " | ".join(title for _, title in COLUMNS) + " |"
    lines = [header, "|" + "---|" * (len(COLUMNS) + 1)]
    for method, entry in summary.items():
        cells = [f"{entry[key]['mean']:.3f} ± {entry[key]['std']:.3f}" for key, _ in COLUMNS]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    path.write_text("\n".join(lines) + "\n")


def plot(summary: dict[str, Any], out: Path) -> None:
    """noise.png (MoC vs RGB noise) and ranks.png (effective ranks per method)."""
    figure, axis = plt.subplots(figsize=(6.5, 4))
    for method, entry in summary.items():
        levels = list(entry["rgb_noise"])
        means = [entry["rgb_noise"][level]["mean"] for level in levels]
        stds = [entry["rgb_noise"][level]["std"] for level in levels]
        axis.errorbar([float(level) for level in levels], means, yerr=stds, marker="o", capsize=3, label=method)
    axis.set(xlabel="RGB noise std (0-255)", ylabel="MoC (alpha 0.3, beta 0.5)", title="Accuracy vs RGB noise")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out / "noise.png", dpi=120)
    plt.close(figure)
    figure, axis = plt.subplots(figsize=(7.5, 4))
    methods = list(summary)
    width = 0.27
    for i, branch in enumerate(("rgb", "depth", "fused")):
        key = f"rank/{branch}"
        axis.bar(
            np.arange(len(methods)) + (i - 1) * width,
            [summary[m][key]["mean"] for m in methods],
            width,
            yerr=[summary[m][key]["std"] for m in methods],
            label=branch,
            capsize=2,
        )
    axis.set_xticks(np.arange(len(methods)), methods)
    axis.set(ylabel="effective rank (final epoch)", title="Effective rank of per-frame tokens")
    axis.legend()
    figure.tight_layout()
    figure.savefig(out / "ranks.png", dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``r3d-experiment``."""
    parser = argparse.ArgumentParser(
        prog="r3d-experiment", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--config", type=Path, required=True, help="experiment YAML")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--jobs", type=int, default=1, help="trainings run in parallel processes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        experiment = from_dict(ExperimentConfig, read_yaml(args.config))
        load_config(experiment.base)  # validate the base config before hours of training
    except ConfigError as error:
        LOG.error("%s", error)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        configs = run_trainings(experiment, args.out, args.jobs)
    except TrainingProcessDied as error:
        LOG.error("%s", error)
        return 1
    noise = noise_sweep(experiment, configs, args.out)
    summary = summarise(experiment, args.out, noise)
    (args.out / "results.json").write_text(json.dumps({"summary": summary, "noise": noise}, indent=2))
    write_table(summary, args.out / "table.md")
    plot(summary, args.out)
    print((args.out / "table.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
