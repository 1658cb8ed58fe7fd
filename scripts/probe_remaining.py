r"""When does the current action end? The chain's answer against the network's, decoded on the same windows.

    scripts/with-env python scripts/probe_remaining.py --model runs/remaining_s0/model.safetensors \\
        --seeds 0 50 51 52 53 54 --cache out/cache

The grammar filter takes the current action's remaining time from the chain's
duration distribution given the action's age. The synthetic actions ramp in
and out of the neutral stance over a quarter of their length, so the frames
also show how far into its action the figure is; the grammar oracle, told the
true labels, does not use that. This probe decodes the same windows of one
model file with:

- ``filter``: the grammar filter alone (``filter_remaining_weight`` 0);
- ``head``: the learned future head's softmax (``future_decoder: head``), which
  is trained beside the filter and could have learned the same cue;
- ``filter, remaining^w``: the filter with the remaining-frames head's
  distribution raised to ``w`` multiplied into the chain's, for each
  ``--weights`` value (a model with ``model.temporal.remaining_frames`` only).

It prints MoC over the grammar oracle (the ratio of the seeds' means) in every
alpha/beta cell, training sensor, both modalities, the model's noise limits.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import torch
from probe_scoring import Rows, ratio_rows, score_seed

from r3d_ros.data.prepared import PreparedVideo
from r3d_ros.eval.model_eval import KEYS, test_videos
from r3d_ros.model.checkpoint import load_model
from r3d_ros.model.decode import future_segments, segments_to_frames, softmax
from r3d_ros.model.grammar import GrammarFilter
from r3d_ros.model.r3d import R3DModel


def labels_of(probabilities: np.ndarray, horizon: int) -> np.ndarray:
    """Future labels from (F, K) probabilities, through the segments the node publishes."""
    return segments_to_frames(future_segments(probabilities), horizon, horizon)


def window_rows(model: R3DModel, weights: list[float]) -> Rows:
    """Each decoding's future labels for a window, the filter's first."""
    horizon = model.config.anticipation.horizon_frames
    config = model.config.model
    filters = {
        weight: GrammarFilter(model.grammar, config.filter_evidence_weight, config.filter_newest_weight, weight)
        for weight in [0.0, *weights]
    }
    chain_alone = filters[0.0]

    def rows(
        index: int, video: PreparedVideo, observed: int, window: torch.Tensor
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        mask = torch.ones(1, len(window), dtype=torch.bool)
        out = model.forward_temporal(window[None], mask, learned_future=True)
        logits = out.segmentation_logits[0].numpy()
        posterior = chain_alone.posterior(softmax(logits))
        futures = {
            "filter": labels_of(chain_alone.future(posterior, horizon), horizon),
            "head": labels_of(softmax(out.future_logits[0].numpy())[:horizon], horizon),
        }
        if out.remaining_logits is not None:
            evidence = softmax(out.remaining_logits[0].numpy())
            for weight in weights:
                future = filters[weight].future(posterior, horizon, evidence)
                futures[f"filter, remaining^{weight:g}"] = labels_of(future, horizon)
        return futures, logits

    return rows


def main(argv: list[str] | None = None) -> int:
    """Score every decoding on every seed and print the table of ratios to the oracle."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--model", required=True, help="a model file decoded with grammar_filter")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 50, 51, 52, 53, 54])
    parser.add_argument("--weights", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    parser.add_argument("--cache", default=None, help="prepared-video cache folder")
    args = parser.parse_args(argv)
    model, _ = load_model(args.model)
    if model.grammar_filter is None:
        parser.error("--model does not decode with grammar_filter")
    rows = window_rows(model, args.weights)
    per_seed = []
    for seed in args.seeds:
        sensor = dataclasses.replace(model.config.data.synthetic, seed=seed)
        per_seed.append(score_seed(model, test_videos(sensor, model, args.cache), rows))
    names = [name for name in per_seed[0] if name != "oracle"]
    print("| decoding | " + " | ".join(KEYS) + " |")
    print("|---|" + "---|" * len(KEYS))
    for row in ratio_rows(per_seed, names):
        print(row + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
