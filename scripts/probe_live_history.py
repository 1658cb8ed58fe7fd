r"""How much history should the live stack read the newest frame from? A decode-time sweep of ``live_history``.

    scripts/with-env python scripts/probe_live_history.py --model models/r3d_default.safetensors \\
        --histories 0 8 12 16 24 32 --seeds 0 50 51 52 53 54 --cache out/cache

The causal live stack is trained to segment every frame of a 64-frame window
from the frames before it, so it has learnt every history length from 0 to 63.
At run time it reads the newest frame with the whole window behind it. This
probe reads the same windows of one trained model with
``model.temporal.live_history`` L (each live-stack frame attends to its last L
frames; 0 = all) and prints, per L, MoC over the grammar oracle (the ratio of
the seeds' means) in every alpha/beta cell and the fraction of windows whose
newest frame's live argmax is right. ``--truncated`` adds rows that instead cut
the window to its last L frames before the live stack reads it (the older
frames' bidirectional reading unchanged), which tells a band from a short window.
Training sensor, both modalities, the model's noise limits, as r3d-eval-model.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence

import numpy as np
import torch

from r3d_ros.data.sampling import protocol_window
from r3d_ros.eval.anticipation import ClassAccuracy, encode_video, protocol_key
from r3d_ros.eval.model_eval import ALPHAS, BETAS, KEYS, depth_kept, rgb_kept, test_videos
from r3d_ros.eval.reference import ReferenceScores, dataset_grammar
from r3d_ros.model.checkpoint import load_model
from r3d_ros.model.decode import future_segments, recognised_labels, segments_to_frames, softmax
from r3d_ros.model.r3d import R3DModel


def window_logits(model: R3DModel, window: torch.Tensor, reading: tuple[str, int]) -> np.ndarray:
    """(T, K) segmentation logits of one window, its newest frame read by the live stack as ``reading`` says.

    ``("band", L)``: the model's own reading with live_history L. ``("cut", L)``: the newest frame read
    with live_history 0 from the window's last L frames alone.
    """
    kind, frames = reading
    mask = torch.ones(1, len(window), dtype=torch.bool)
    model.set_live_history(frames if kind == "band" else 0)
    logits = model.forward_temporal(window[None], mask).segmentation_logits[0].numpy()
    if kind == "cut" and frames < len(window):
        short = window[-frames:][None]
        logits[-1] = model.forward_temporal(short, mask[:, :frames]).segmentation_logits[0, -1].numpy()
    return logits


@torch.no_grad()
def score_seed(model: R3DModel, videos: Sequence, readings: dict[str, tuple[str, int]]) -> dict[str, dict[str, float]]:
    """Per reading: MoC per cell and the newest frame's accuracy; and the oracle's MoC, on one seed's videos."""
    config = model.config
    window, horizon = config.anticipation.window, config.anticipation.horizon_frames
    accuracy = {(name, key): ClassAccuracy(config.model.num_classes) for name in readings for key in KEYS}
    newest_right: dict[str, list[bool]] = {name: [] for name in readings}
    grammar = dataset_grammar(config.model.class_names, [], config.anticipation.fps)
    oracle = ReferenceScores(grammar, config.model.num_classes, KEYS)
    depth = depth_kept(videos, config.model.max_depth_noise)
    rgb = rgb_kept(videos, depth, config.model.max_rgb_noise)
    for index, video in enumerate(videos):
        rgb_present = None if rgb is None else rgb[index]
        tokens = encode_video(model, video, torch.device("cpu"), rgb_present, depth[index]).fused
        for alpha in ALPHAS:
            observed, _ = protocol_window(len(video), alpha, max(BETAS))
            frames = tokens[max(0, observed - window) : observed]
            futures, first = {}, None
            for name, reading in readings.items():
                logits = window_logits(model, frames, reading)
                newest_right[name].append(int(logits[-1].argmax()) == int(video.labels[observed - 1]))
                posterior = model.grammar_filter.posterior(softmax(logits))
                segments = future_segments(model.grammar_filter.future(posterior, horizon))
                futures[name] = segments_to_frames(segments, horizon, horizon)
                first = logits if first is None else first
            seg = recognised_labels(first, model.grammar_filter)
            for beta in BETAS:
                _, predicted = protocol_window(len(video), alpha, beta)
                truth = video.labels[observed : observed + predicted]
                key = protocol_key(alpha, beta)
                for name, future in futures.items():
                    accuracy[name, key].add(future[:predicted], truth)
                oracle.add(key, truth, video.labels[:observed], seg, 0, next(iter(futures.values()))[:predicted])
    out = {name: {key: accuracy[name, key].mean_over_classes() for key in KEYS} for name in readings}
    for name in readings:
        out[name]["newest"] = float(np.mean(newest_right[name]))
    scores = oracle.as_dict()
    out["oracle"] = {key: scores[f"reference/oracle/{key}"] for key in KEYS}
    return out


def main(argv: list[str] | None = None) -> int:
    """Score every reading on every seed and print the table of ratios to the oracle."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--model", required=True, help="a model file with a live stack, decoded with grammar_filter")
    parser.add_argument("--histories", type=int, nargs="+", default=[0, 8, 12, 16, 24, 32])
    parser.add_argument("--truncated", action="store_true", help="also read from the window cut to L frames")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 50, 51, 52, 53, 54])
    parser.add_argument("--cache", default=None, help="prepared-video cache folder")
    args = parser.parse_args(argv)
    model, _ = load_model(args.model)
    if model.grammar_filter is None or model.temporal.live_encoder is None:
        parser.error("--model needs a live stack (model.temporal.live_encoder) and grammar_filter decoding")
    readings = {f"live_history {h}": ("band", h) for h in args.histories}
    if args.truncated:
        readings |= {f"window cut to {h}": ("cut", h) for h in args.histories if h}
    per_seed = []
    for seed in args.seeds:
        sensor = dataclasses.replace(model.config.data.synthetic, seed=seed)
        per_seed.append(score_seed(model, test_videos(sensor, model, args.cache), readings))
    oracle = {key: np.mean([s["oracle"][key] for s in per_seed]) for key in KEYS}
    print(f"MoC / grammar oracle (ratio of the means of seeds {' '.join(map(str, args.seeds))}), {args.model}\n")
    print("| reading | " + " | ".join(KEYS) + " | newest frame right |")
    print("|---|" + "---|" * (len(KEYS) + 1))
    for name in readings:
        ratios = [np.mean([s[name][key] for s in per_seed]) / oracle[key] for key in KEYS]
        newest = np.mean([s[name]["newest"] for s in per_seed])
        print(f"| {name} | " + " | ".join(f"{r:.3f}" for r in ratios) + f" | {newest:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
