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
from collections.abc import Callable, Sequence

import numpy as np
import torch

from r3d_ros.data.sampling import protocol_window
from r3d_ros.eval.anticipation import ClassAccuracy, encode_video, protocol_key
from r3d_ros.eval.model_eval import ALPHAS, BETAS, KEYS, depth_kept, rgb_kept, test_videos
from r3d_ros.eval.reference import ReferenceScores, dataset_grammar, grammar_prediction
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


@torch.no_grad()
def score_seed(model: R3DModel, videos: Sequence, named: dict[str, Decoder]) -> dict[str, dict[str, float]]:
    """Per decoder: MoC per cell; and the oracle's, on one seed's videos."""
    config = model.config
    window, horizon = config.anticipation.window, config.anticipation.horizon_frames
    accuracy = {(name, key): ClassAccuracy(config.model.num_classes) for name in named for key in KEYS}
    grammar = dataset_grammar(config.model.class_names, [], config.anticipation.fps)
    oracle = ReferenceScores(grammar, config.model.num_classes, KEYS)
    depth = depth_kept(videos, config.model.max_depth_noise)
    rgb = rgb_kept(videos, depth, config.model.max_rgb_noise)
    for index, video in enumerate(videos):
        rgb_present = None if rgb is None else rgb[index]
        tokens = encode_video(model, video, torch.device("cpu"), rgb_present, depth[index]).fused
        for alpha in ALPHAS:
            observed, _ = protocol_window(len(video), alpha, max(BETAS))
            start = max(0, observed - window)
            mask = torch.ones(1, observed - start, dtype=torch.bool)
            logits = model.forward_temporal(tokens[start:observed][None], mask).segmentation_logits[0].numpy()
            futures = {name: decode(logits, horizon) for name, decode in named.items()}
            seg = recognised_labels(logits, model.grammar_filter)
            for beta in BETAS:
                _, predicted = protocol_window(len(video), alpha, beta)
                truth = video.labels[observed : observed + predicted]
                key = protocol_key(alpha, beta)
                for name, future in futures.items():
                    accuracy[name, key].add(future[:predicted], truth)
                oracle.add(key, truth, video.labels[:observed], seg, 0, futures["filter"][:predicted])
    out = {name: {key: accuracy[name, key].mean_over_classes() for key in KEYS} for name in named}
    scores = oracle.as_dict()
    out["oracle"] = {key: scores[f"reference/oracle/{key}"] for key in KEYS}
    return out


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
        per_seed.append(score_seed(model, test_videos(sensor, model, args.cache), named))
    oracle = {key: np.mean([s["oracle"][key] for s in per_seed]) for key in KEYS}
    print("| decoder | " + " | ".join(KEYS) + " |")
    print("|---|" + "---|" * len(KEYS))
    for name in named:
        ratios = [np.mean([s[name][key] for s in per_seed]) / oracle[key] for key in KEYS]
        print(f"| {name} | " + " | ".join(f"{r:.3f}" for r in ratios) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
