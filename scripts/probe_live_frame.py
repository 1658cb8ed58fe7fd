r"""Where does the model misread the frame it anticipates from? Newest-frame errors by the true action's age.

    scripts/with-env python scripts/probe_live_frame.py --model models/r3d_default.safetensors \\
        --seeds 0 50 51 52 53 54 --cache out/cache

At alpha 0.3 almost all of the model's gap to the grammar oracle is recognition
(docs/experiment.md), and the oracle knows the true label of the newest frame
even when its action began on that frame. Every synthetic action ramps in from
the neutral stance, so its first frames look like the end of the one before: no
camera-based recogniser reads them at once. This probe takes, for every test
video and alpha, the action the model's grammar filter says is going on at the
newest observed frame (what its anticipation starts from) and sorts it by how
many frames the true action had lasted there (1 = it began on the newest
frame). Each row gives how many windows end at that age, the fraction read
right, and the wrong readings split into "the action before" (the new action
not yet seen), "its RGB twin" (push/pull, step toward/away: a depth failure) and
anything else. If the errors sit at the first few frames, the gap is the
ramp's; if they are spread over older ages, recognition itself can improve. A
last table gives, per seed, how many windows end in an action's first frames
and how many are misread: a seed's share of such windows is how hard its
a0.3 cells are for any camera-based recogniser.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from r3d_ros.data.sampling import protocol_window
from r3d_ros.data.synthetic import RGB_TWINS
from r3d_ros.eval.anticipation import encode_video
from r3d_ros.eval.model_eval import ALPHAS, BETAS, test_videos
from r3d_ros.model.checkpoint import load_model
from r3d_ros.model.decode import read_window
from r3d_ros.model.grammar import current_action

AGE_BINS = ((1, 1), (2, 2), (3, 3), (4, 5), (6, 9), (10, 10_000))
RAMP_AGE = 5  # windows ending at most this many frames into an action, per seed
KINDS = ("right", "previous", "twin", "other")


def age_bin(age: int) -> str:
    """The label of the bin holding ``age`` frames."""
    for lo, hi in AGE_BINS:
        if lo <= age <= hi:
            return str(lo) if lo == hi else (f"{lo}-{hi}" if hi < 10_000 else f"{lo}+")
    raise ValueError(age)


def rank_correlation(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (ties take their mean rank)."""

    def ranks(values: list[float]) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        order = values.argsort(kind="stable")
        out = np.empty(len(values))
        out[order] = np.arange(len(values), dtype=float)
        for value in np.unique(values):
            out[values == value] = out[values == value].mean()
        return out

    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def seed_ratios(path: str, entry: str, seeds: list[int], key: str) -> dict[int, float]:
    """Per seed, model MoC over the grammar oracle's in cell ``key``, from an r3d-eval-model results.json."""
    results = json.loads(Path(path).read_text())
    if sorted(results["seeds"]) != sorted(seeds):
        raise SystemExit(f"--results covers seeds {results['seeds']}, not {seeds}")
    row = results["summary"][entry]
    model, oracle = (row[f"reference/{name}/{key}"]["values"] for name in ("model", "oracle"))
    return {seed: m / o for seed, m, o in zip(results["seeds"], model, oracle, strict=True)}


@torch.no_grad()
def main(argv: list[str] | None = None) -> int:
    """Count newest-frame readings by age bin and kind of error over every seed, alpha and video."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--model", required=True, help="the model file")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 50, 51, 52, 53, 54])
    parser.add_argument("--alphas", type=float, nargs="+", default=list(ALPHAS))
    parser.add_argument("--cache", default=None, help="prepared-video cache folder")
    parser.add_argument(
        "--results",
        default=None,
        help="an r3d-eval-model results.json of the same seeds: its per-seed model / oracle at beta 0.1 joins "
        "the last table",
    )
    parser.add_argument("--entry", default="fused/trained/both", help="the results.json row to read with --results")
    args = parser.parse_args(argv)
    model, _ = load_model(args.model)
    names = model.config.model.class_names
    window = model.config.anticipation.window
    horizon = model.config.anticipation.horizon_frames
    counts: dict[tuple[float, str], Counter] = {}
    per_seed: dict[tuple[float, int], Counter] = {}
    for seed in args.seeds:
        sensor = dataclasses.replace(model.config.data.synthetic, seed=seed)
        for video in test_videos(sensor, model, args.cache):
            tokens = encode_video(model, video, torch.device("cpu")).fused
            for alpha in args.alphas:
                observed, _ = protocol_window(len(video), alpha, max(BETAS))
                start = max(0, observed - window)
                mask = torch.ones(1, observed - start, dtype=torch.bool)
                logits = model.forward_temporal(tokens[start:observed][None], mask).segmentation_logits[0].numpy()
                reading = read_window(logits, None, model.grammar, model.grammar_filter, horizon)
                truth, age = current_action(video.labels[:observed])
                before = video.labels[observed - age - 1] if observed - age - 1 >= 0 else -1
                if reading.current == truth:
                    kind = "right"
                elif reading.current == before:
                    kind = "previous"
                elif RGB_TWINS.get(names[truth]) == names[reading.current]:
                    kind = "twin"
                else:
                    kind = "other"
                counts.setdefault((alpha, age_bin(age)), Counter())[kind] += 1
                seed_counts = per_seed.setdefault((alpha, seed), Counter())
                seed_counts.update({"windows": 1, "wrong": kind != "right"})
                seed_counts.update({"early": age <= RAMP_AGE, "early_wrong": age <= RAMP_AGE and kind != "right"})
    for alpha in args.alphas:
        print(f"\nalpha {alpha}: the newest observed frame, by the true action's age there (frames)\n")
        print("| age | windows | right | wrong: action before | wrong: RGB twin | wrong: other |")
        print("|---|---:|---:|---:|---:|---:|")
        total = Counter()
        for lo, _ in AGE_BINS:
            label = age_bin(lo)
            row = counts.get((alpha, label), Counter())
            total.update(row)
            n = sum(row.values())
            shares = " | ".join(f"{row[k] / n:.3f}" if n else "-" for k in KINDS)
            print(f"| {label} | {n} | {shares} |")
        n = sum(total.values())
        print(f"| all | {n} | " + " | ".join(f"{total[k] / n:.3f}" for k in KINDS) + " |")
    for alpha in args.alphas:
        print(f"\nalpha {alpha}, per seed: windows ending at most {RAMP_AGE} frames into an action\n")
        ratios = seed_ratios(args.results, args.entry, args.seeds, f"a{alpha:g}_b0.1") if args.results else {}
        ratio_head = f" model / oracle a{alpha:g}_b0.1 |" if ratios else ""
        print(f"| seed | windows | ending at age <= {RAMP_AGE} | misread | misread at age <= {RAMP_AGE} |{ratio_head}")
        print("|---|---:|---:|---:|---:|" + ("---:|" if ratios else ""))
        for seed in args.seeds:
            c = per_seed[alpha, seed]
            ratio = f" {ratios[seed]:.3f} |" if ratios else ""
            print(f"| {seed} | {c['windows']} | {c['early']} | {c['wrong']} | {c['early_wrong']} |{ratio}")
        if len(ratios) > 2:
            early = [per_seed[alpha, seed]["early"] for seed in args.seeds]
            rho = rank_correlation(early, [ratios[seed] for seed in args.seeds])
            print(f"\nrank correlation, windows ending at age <= {RAMP_AGE} vs model / oracle: {rho:+.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
