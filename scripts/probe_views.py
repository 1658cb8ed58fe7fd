r"""Would the fused model beat depth alone by averaging its two readings of a window? A decode-time probe.

    scripts/with-env python scripts/probe_views.py --model models/r3d_default.safetensors \\
        --depth-only docs/experiment/model/runs/depth_only-seed0/model.safetensors \\
        --seeds 0 50 51 52 53 54 --cache out/cache

The fused model trails its depth-only baseline by about 0.01-0.02 MoC with both
modalities present (docs/limitations.md). Trained with RGB dropped from some
videos, it has a second reading of every window, with RGB left out, which is
almost as good as depth alone. This probe asks whether the two readings
together beat either: per test video and alpha it runs the temporal model on the
window's tokens with both modalities and with RGB left out, and decodes with
the model's grammar filter the first, the second, their mean probability and
their mean logits; the depth-only baseline is decoded the same way. It prints
MoC over the grammar oracle (ratio of the seeds' means) in every alpha/beta cell
and the observed segmentation, then the MoC itself. Averaging would cost a
second per-frame pass and a second temporal pass at run time.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence

import numpy as np
import torch
from probe_hybrid import new_scores, score_window, variant_scores  # scripts/ is on the path of a script run from it

from r3d_ros.data.sampling import protocol_window
from r3d_ros.eval.anticipation import encode_video
from r3d_ros.eval.model_eval import ALPHAS, BETAS, KEYS, test_videos
from r3d_ros.model.checkpoint import load_model
from r3d_ros.model.decode import softmax
from r3d_ros.model.r3d import R3DModel

VARIANTS = ("both", "rgb_absent", "mean_probability", "mean_logits", "depth_only")


def window_logits(model: R3DModel, tokens: torch.Tensor) -> np.ndarray:
    """(T, K) segmentation logits of one window of fused tokens, all frames real."""
    mask = torch.ones(1, len(tokens), dtype=torch.bool)
    return model.forward_temporal(tokens[None], mask, learned_future=False).segmentation_logits[0].numpy()


@torch.no_grad()
def score_seed(model: R3DModel, depth_only: R3DModel, videos: Sequence) -> dict[str, dict[str, float]]:
    """Per variant: MoC and oracle MoC per cell, and the observed segmentation, on one seed's videos."""
    window = model.config.anticipation.window
    references, segmentation = new_scores(model, VARIANTS)
    device = torch.device("cpu")
    for video in videos:
        without_rgb = np.zeros(len(video), dtype=bool)
        both = encode_video(model, video, device).fused
        rgb_absent = encode_video(model, video, device, rgb_present=without_rgb).fused
        depth = encode_video(depth_only, video, device, rgb_present=without_rgb).fused
        for alpha in ALPHAS:
            observed, _ = protocol_window(len(video), alpha, max(BETAS))
            start = max(0, observed - window)
            first, second = window_logits(model, both[start:observed]), window_logits(model, rgb_absent[start:observed])
            readings = {
                "both": (first, model),
                "rgb_absent": (second, model),
                "mean_probability": (np.log((softmax(first) + softmax(second)) / 2), model),
                "mean_logits": ((first + second) / 2, model),
                "depth_only": (window_logits(depth_only, depth[start:observed]), depth_only),
            }
            for variant, (logits, decoder) in readings.items():
                score_window(references[variant], segmentation[variant], logits, decoder, video, start, observed, alpha)
    return variant_scores(references, segmentation)


def main(argv: list[str] | None = None) -> int:
    """Score every variant on every seed and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--model", required=True, help="the fused model file (grammar-filter decoded)")
    parser.add_argument("--depth-only", required=True, help="its depth-only baseline's model file")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 50, 51, 52, 53, 54])
    parser.add_argument("--cache", default=None, help="prepared-video cache folder")
    args = parser.parse_args(argv)
    model, depth_only = load_model(args.model)[0], load_model(args.depth_only)[0]
    if model.grammar_filter is None or depth_only.grammar_filter is None:
        parser.error("both models must decode with the grammar filter (future_decoder: grammar_filter)")
    per_seed = []
    for seed in args.seeds:
        sensor = dataclasses.replace(model.config.data.synthetic, seed=seed)
        per_seed.append(score_seed(model, depth_only, test_videos(sensor, model, args.cache)))
    means = {v: {key: np.mean([s[v][key] for s in per_seed]) for key in per_seed[0][v]} for v in VARIANTS}
    print("| model / oracle | " + " | ".join(KEYS) + " | seg. |")
    print("|---|" + "---|" * (len(KEYS) + 1))
    for variant, mean in means.items():
        ratios = [mean[f"model/{k}"] / mean[f"oracle/{k}"] for k in KEYS]
        print(f"| {variant} | " + " | ".join(f"{r:.3f}" for r in ratios) + f" | {mean['segmentation']:.3f} |")
    print("\n| MoC | " + " | ".join(KEYS) + " |")
    print("|---|" + "---|" * len(KEYS))
    for variant, mean in means.items():
        print(f"| {variant} | " + " | ".join(f"{mean[f'model/{k}']:.3f}" for k in KEYS) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
