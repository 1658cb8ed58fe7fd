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

import numpy as np
import torch
from probe_scoring import Rows, ratio_rows, score_seed

from r3d_ros.data.prepared import PreparedVideo
from r3d_ros.eval.model_eval import KEYS, test_videos
from r3d_ros.model.checkpoint import load_model
from r3d_ros.model.decode import future_segments, segments_to_frames, softmax
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


def window_rows(model: R3DModel, readings: dict[str, tuple[str, int]], newest_right: dict[str, list[bool]]) -> Rows:
    """Each reading's future labels for a window (the first reading's logits for the reference rows).

    Whether each reading's newest frame argmax is right is appended to ``newest_right``.
    """
    horizon = model.config.anticipation.horizon_frames

    def read(
        index: int, video: PreparedVideo, observed: int, window: torch.Tensor
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        futures, first = {}, None
        for name, reading in readings.items():
            logits = window_logits(model, window, reading)
            newest_right.setdefault(name, []).append(int(logits[-1].argmax()) == int(video.labels[observed - 1]))
            posterior = model.grammar_filter.posterior(softmax(logits))
            segments = future_segments(model.grammar_filter.future(posterior, horizon))
            futures[name] = segments_to_frames(segments, horizon, horizon)
            first = logits if first is None else first
        return futures, first

    return read


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
    per_seed, newest = [], []
    for seed in args.seeds:
        sensor = dataclasses.replace(model.config.data.synthetic, seed=seed)
        newest.append({})
        per_seed.append(
            score_seed(model, test_videos(sensor, model, args.cache), window_rows(model, readings, newest[-1]))
        )
    print(f"MoC / grammar oracle (ratio of the means of seeds {' '.join(map(str, args.seeds))}), {args.model}\n")
    print("| reading | " + " | ".join(KEYS) + " | newest frame right |")
    print("|---|" + "---|" * (len(KEYS) + 1))
    for name, row in zip(readings, ratio_rows(per_seed, list(readings)), strict=True):
        print(row + f" | {np.mean([np.mean(n[name]) for n in newest]):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
