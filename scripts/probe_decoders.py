r"""Where does the grammar-filter decoder lose to "the chain on the recognised labels"? A decode-time probe.

    scripts/with-env python scripts/probe_decoders.py --model models/r3d_default.safetensors \\
        --seeds 100 101 102 103 104 --cache out/cache

On the benchmark's reference rows, applying the benchmark's grammar to the
model's recognised labels (one class, one age) beats the model's own decoding
(the filter's mixture over P(class, age)) at beta 0.1 and loses at beta 0.3
and 0.5 (docs/experiment.md). The two differ in three ways: the grammar (the
chain row uses the benchmark's own; the model the one it estimated from its
training labels), committing to one class, and committing to one age. This
probe decodes the same windows of one trained model each way:

- ``filter``: the model as shipped;
- ``filter_true_grammar``: the filter run with the benchmark's grammar instead
  of the estimated one (the estimate's cost);
- ``filter_one_class``: the filter's P(class, age) kept only for its most likely
  class (mixture over ages, not classes);
- ``chain_recognised``: the benchmark's grammar applied to the smoothed labels'
  last class and run (the reference row).

It prints MoC over the grammar oracle (the ratio of the seeds' means) in every
alpha/beta cell on the model's training sensor, both modalities present, with
the node's depth and RGB limits applied as in ``r3d-eval-model``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
from collections.abc import Callable

import numpy as np
import torch
from probe_scoring import Rows, ratio_rows, score_seed

from r3d_ros.data.prepared import PreparedVideo
from r3d_ros.eval.model_eval import KEYS, test_videos
from r3d_ros.eval.reference import dataset_grammar, grammar_prediction
from r3d_ros.model.checkpoint import load_model
from r3d_ros.model.decode import future_segments, recognised_labels, segments_to_frames, softmax
from r3d_ros.model.grammar import GrammarFilter
from r3d_ros.model.r3d import R3DModel

Decoder = Callable[[np.ndarray, int], np.ndarray]  # (T, K) segmentation logits, horizon -> (F,) future labels


def filter_decoder(grammar_filter: GrammarFilter, one_class: bool = False) -> Decoder:
    """Future labels from the filter's forecast, mixed over P(class, age) or over the best class's ages only."""

    def decode(logits: np.ndarray, horizon: int) -> np.ndarray:
        posterior = grammar_filter.posterior(softmax(logits))
        if one_class:
            best = int(posterior.sum(axis=1).argmax())
            kept = np.zeros_like(posterior)
            kept[best] = posterior[best]
            posterior = kept / kept.sum()
        segments = future_segments(grammar_filter.future(posterior, horizon))
        return segments_to_frames(segments, horizon, horizon)

    return decode


def chain_decoder(model: R3DModel) -> Decoder:
    """The benchmark's grammar applied to the smoothed labels' last class and the length of its run."""
    grammar = dataset_grammar(model.config.model.class_names, [], model.config.anticipation.fps)

    def decode(logits: np.ndarray, horizon: int) -> np.ndarray:
        return grammar_prediction(grammar, recognised_labels(logits, model.grammar_filter), horizon)

    return decode


def decoders(model: R3DModel) -> dict[str, Decoder]:
    """The decoders compared, by name."""
    true_grammar = copy.deepcopy(model)
    true_grammar.set_grammar(dataset_grammar(model.config.model.class_names, [], model.config.anticipation.fps))
    return {
        "filter": filter_decoder(model.grammar_filter),
        "filter_true_grammar": filter_decoder(true_grammar.grammar_filter),
        "filter_one_class": filter_decoder(model.grammar_filter, one_class=True),
        "chain_recognised": chain_decoder(model),
    }


def window_rows(model: R3DModel, named: dict[str, Decoder]) -> Rows:
    """Each decoder's future labels for a window, the filter's first."""
    horizon = model.config.anticipation.horizon_frames

    def rows(
        index: int, video: PreparedVideo, observed: int, window: torch.Tensor
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        mask = torch.ones(1, len(window), dtype=torch.bool)
        logits = model.forward_temporal(window[None], mask).segmentation_logits[0].numpy()
        return {name: decode(logits, horizon) for name, decode in named.items()}, logits

    return rows


def main(argv: list[str] | None = None) -> int:
    """Score every decoder on every seed and print the table of ratios to the oracle."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--model", required=True, help="a model file decoded with grammar_filter")
    parser.add_argument("--seeds", type=int, nargs="+", default=[100, 101, 102, 103, 104])
    parser.add_argument("--cache", default=None, help="prepared-video cache folder")
    args = parser.parse_args(argv)
    model, _ = load_model(args.model)
    if model.grammar_filter is None:
        parser.error("--model does not decode with grammar_filter")
    named = decoders(model)
    per_seed = []
    for seed in args.seeds:
        sensor = dataclasses.replace(model.config.data.synthetic, seed=seed)
        per_seed.append(score_seed(model, test_videos(sensor, model, args.cache), window_rows(model, named)))
    print("| decoder | " + " | ".join(KEYS) + " |")
    print("|---|" + "---|" * len(KEYS))
    for row in ratio_rows(per_seed, list(named)):
        print(row + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
