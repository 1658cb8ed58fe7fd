r"""How much of the gap to the grammar oracle would a right reading of the newest frame close? A decode-time bound.

    scripts/with-env python scripts/probe_newest_class.py --model models/r3d_default.safetensors \\
        --seeds 0 50 51 52 53 54 --cache out/cache

The model anticipates from the grammar filter's P(class, age) at the window's
newest frame. Each row below decodes the same windows of one model after
telling that posterior one true thing, and prints MoC over the grammar oracle
(the ratio of the seeds' means) in every alpha/beta cell, on the model's
training sensor with both modalities and the model's noise limits:

- ``filter``: the model as it is;
- ``told the onset``: whether the newest frame is within the first
  ``ONSET_FRAMES`` frames of its action (a perfect onset detector: what an
  auxiliary onset target for the live encoder could give at best);
- ``told the age``: the true age of the current action, the filter's classes;
- ``told the class, age a-b``: the true class (with the filter's ages for it),
  only in windows whose newest frame is that many frames into its action; the
  last two rows split ages past ``LATE_AGE`` by whether the person's arms return
  depth (on sleeved videos push and pull cannot be told apart by any camera).

A row is an upper bound on what fixing that one thing can give; the rows by
age add up to where the newest-frame misreadings cost MoC.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import torch
from probe_scoring import Rows, ratio_rows, score_seed

from r3d_ros.data.prepared import PreparedVideo
from r3d_ros.eval.model_eval import KEYS, test_arms_in_depth, test_videos
from r3d_ros.model.checkpoint import load_model
from r3d_ros.model.decode import future_segments, segments_to_frames, softmax
from r3d_ros.model.r3d import R3DModel

ONSET_FRAMES = 2  # "onset": the newest frame is one of its action's first two frames
LATE_AGE = 5  # past this age the ramp-in is over for every action of 2 s or less


@dataclasses.dataclass(frozen=True)
class Truth:
    """What is true at a window's newest frame."""

    current: int
    age: int  # frames the current action has lasted, the newest one included
    arms_in_depth: bool


Told = Callable[[np.ndarray, Truth], np.ndarray]  # (K, A) posterior, truth -> the posterior told one thing


def _keep(posterior: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """The posterior restricted to ``kept`` (bool, its shape), renormalised; unchanged if that has no mass."""
    restricted = np.where(kept, posterior, 0.0)
    return restricted / restricted.sum() if restricted.sum() > 0 else posterior


def told_onset(posterior: np.ndarray, truth: Truth) -> np.ndarray:
    """Only the ages on the right side of ONSET_FRAMES."""
    ages = np.arange(posterior.shape[1])
    onset = (ages >= 1) & (ages <= ONSET_FRAMES)
    return _keep(posterior, np.broadcast_to(onset if truth.age <= ONSET_FRAMES else ~onset, posterior.shape))


def told_age(posterior: np.ndarray, truth: Truth) -> np.ndarray:
    """Only the true age (the last one the filter has, for an older action)."""
    kept = np.zeros_like(posterior, dtype=bool)
    kept[:, min(truth.age, posterior.shape[1] - 1)] = True
    return _keep(posterior, kept)


def told_class(first: int, last: int, arms: bool | None = None) -> Told:
    """Only the true class, in windows whose newest frame is ``first``..``last`` frames into it (and ``arms``)."""

    def tell(posterior: np.ndarray, truth: Truth) -> np.ndarray:
        if not first <= truth.age <= last or (arms is not None and truth.arms_in_depth != arms):
            return posterior
        kept = np.zeros_like(posterior, dtype=bool)
        kept[truth.current] = True
        if posterior[truth.current].sum() > 0:
            return _keep(posterior, kept)
        alone = np.zeros_like(posterior)
        alone[truth.current, min(truth.age, posterior.shape[1] - 1)] = 1.0
        return alone

    return tell


def told() -> dict[str, Told | None]:
    """The rows, by name."""
    late = LATE_AGE + 1
    return {
        "filter": None,
        f"told the onset (age <= {ONSET_FRAMES})": told_onset,
        "told the age": told_age,
        f"told the class, age 1-{ONSET_FRAMES}": told_class(1, ONSET_FRAMES),
        f"told the class, age {ONSET_FRAMES + 1}-{LATE_AGE}": told_class(ONSET_FRAMES + 1, LATE_AGE),
        f"told the class, age {late}+, arms in depth": told_class(late, 10**9, arms=True),
        f"told the class, age {late}+, sleeved": told_class(late, 10**9, arms=False),
        "told the class, every age": told_class(1, 10**9),
    }


def _age(labels: np.ndarray, observed: int) -> int:
    """Frames the action at frame ``observed - 1`` has lasted there, that frame included."""
    current, age = labels[observed - 1], 1
    while observed - 1 - age >= 0 and labels[observed - 1 - age] == current:
        age += 1
    return age


def window_rows(model: R3DModel, arms: Sequence[bool], rows: dict[str, Told | None]) -> Rows:
    """Each row's future labels for a window: the filter's posterior at the newest frame told one true thing."""
    horizon, grammar_filter = model.config.anticipation.horizon_frames, model.grammar_filter

    def read(
        index: int, video: PreparedVideo, observed: int, window: torch.Tensor
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        mask = torch.ones(1, len(window), dtype=torch.bool)
        logits = model.forward_temporal(window[None], mask).segmentation_logits[0].numpy()
        posterior = grammar_filter.posterior(softmax(logits))
        truth = Truth(int(video.labels[observed - 1]), _age(video.labels, observed), bool(arms[index]))
        futures = {}
        for name, tell in rows.items():
            told_posterior = posterior if tell is None else tell(posterior, truth)
            segments = future_segments(grammar_filter.future(told_posterior, horizon))
            futures[name] = segments_to_frames(segments, horizon, horizon)
        return futures, logits

    return read


def main(argv: list[str] | None = None) -> int:
    """Score every row on every seed and print the table of ratios to the oracle."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--model", required=True, help="a model file decoded with grammar_filter")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 50, 51, 52, 53, 54])
    parser.add_argument("--cache", default=None, help="prepared-video cache folder")
    args = parser.parse_args(argv)
    model, _ = load_model(args.model)
    if model.grammar_filter is None:
        parser.error("--model does not decode with grammar_filter")
    rows = told()
    per_seed = []
    for seed in args.seeds:
        sensor = dataclasses.replace(model.config.data.synthetic, seed=seed)
        read = window_rows(model, test_arms_in_depth(sensor), rows)
        per_seed.append(score_seed(model, test_videos(sensor, model, args.cache), read))
    print(f"MoC / grammar oracle (ratio of the means of seeds {' '.join(map(str, args.seeds))}), {args.model}\n")
    print("| decoding | " + " | ".join(KEYS) + " |")
    print("|---|" + "---|" * len(KEYS))
    for row in ratio_rows(per_seed, list(rows)):
        print(row + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
