r"""Which reading of the window's newest frames should the grammar filter take? A decode-time probe.

    scripts/with-env python scripts/probe_live_frames.py --model models/r3d_default.safetensors \\
        --frames 1 2 3 4 6 8 --seeds 0 50 51 52 53 54 --cache out/cache

A model with a causal live stack reads the window's newest frame from it and
every older frame from the bidirectional stack. The bidirectional reading of a
frame is only as good as the frames after it in view: at the window's edge it
sees few or none, and there it is worse than the live stack, which is trained
to read every frame from its past alone. This probe decodes the same windows
of one trained model with the last N frames read from the live stack
(``model.temporal.live_frames`` N; 1 = the newest frame only, as before) and
prints, per N, MoC over the grammar oracle (the ratio of the seeds' means) in
every alpha/beta cell and the segmentation accuracy of the windows' frames (the
filter's smoothed labels, mean over classes). Two more rows read every frame
from the live stack, and every older frame as the mean of the two stacks'
log-probabilities. Training sensor, both modalities, the model's noise limits,
as r3d-eval-model.

``--by-age`` adds a table that says why: the fraction of frames each stack's argmax gets right,
by how many frames the frame is into its action and by its age in the window
(0 = the newest frame), over full 64-frame windows ending every third frame.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections import defaultdict

import numpy as np
import torch
from probe_scoring import Rows, ratio_rows, score_seed

from r3d_ros.data.prepared import PreparedVideo
from r3d_ros.eval.anticipation import ClassAccuracy, encode_video
from r3d_ros.eval.model_eval import KEYS, test_videos
from r3d_ros.model.checkpoint import load_model
from r3d_ros.model.decode import future_segments, segments_to_frames, softmax
from r3d_ros.model.r3d import R3DModel


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log-probabilities of each row of ``logits``."""
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def readings(bidirectional: np.ndarray, live: np.ndarray, frames: list[int]) -> dict[str, np.ndarray]:
    """(T, K) logits of one window per reading, from both stacks' (T, K) logits of every frame."""
    out = {}
    for count in frames:
        logits = bidirectional.copy()
        logits[-count:] = live[-count:]
        out[f"live_frames {count}"] = logits
    out["every frame from the live stack"] = live
    mean = 0.5 * (log_softmax(bidirectional) + log_softmax(live))
    mean[-1] = live[-1]
    out["older frames: mean of both stacks' log-probabilities"] = mean
    return out


def window_rows(model: R3DModel, frames: list[int], segmentation: dict[str, ClassAccuracy]) -> Rows:
    """Each reading's future labels for a window; its smoothed labels are counted into ``segmentation``."""
    horizon = model.config.anticipation.horizon_frames
    grammar_filter = model.grammar_filter

    def read(
        index: int, video: PreparedVideo, observed: int, window: torch.Tensor
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        mask = torch.ones(1, len(window), dtype=torch.bool)
        bidirectional, live = model.temporal.frame_logits(window[None], mask)
        labels = video.labels[observed - len(window) : observed]
        futures, first = {}, None
        for name, logits in readings(bidirectional[0].double().numpy(), live[0].double().numpy(), frames).items():
            probabilities = softmax(logits)
            smoothed = grammar_filter.smoothed(probabilities).argmax(-1)
            segmentation.setdefault(name, ClassAccuracy(model.config.model.num_classes)).add(smoothed, labels)
            segments = future_segments(grammar_filter.future(grammar_filter.posterior(probabilities), horizon))
            futures[name] = segments_to_frames(segments, horizon, horizon)
            first = logits if first is None else first
        return futures, first

    return read


ACTION_AGES = ((0, 2), (3, 6), (7, None))  # frames into the action, both ends included
WINDOW_AGES = (0, 1, 3, 10, 30)  # frames before the window's newest


def frames_into_action(labels: np.ndarray) -> np.ndarray:
    """(T,) frames between each frame and the first frame of its action (0 there)."""
    into = np.zeros(len(labels), dtype=int)
    for t in range(1, len(labels)):
        into[t] = into[t - 1] + 1 if labels[t] == labels[t - 1] else 0
    return into


@torch.no_grad()
def reading_accuracy(model: R3DModel, videos: list[PreparedVideo], right: dict[tuple[str, int], list[bool]]) -> None:
    """Append to ``right[(reader, action age group)]`` whether each read frame's argmax is its label."""
    window = model.config.anticipation.window
    for video in videos:
        tokens = encode_video(model, video, torch.device("cpu")).fused
        into = frames_into_action(video.labels)
        group = np.searchsorted([high for _, high in ACTION_AGES[:-1]], into, side="left")
        for end in range(window - 1, len(video), 3):
            mask = torch.ones(1, window, dtype=torch.bool)
            bidirectional, live = model.temporal.frame_logits(tokens[end - window + 1 : end + 1][None], mask)
            right["live stack, age 0", group[end]].append(int(live[0, -1].argmax()) == video.labels[end])
            for age in WINDOW_AGES:
                frame = end - age
                correct = int(bidirectional[0, -1 - age].argmax()) == video.labels[frame]
                right[f"bidirectional stack, age {age}", group[frame]].append(correct)


def print_by_age(right: dict[tuple[str, int], list[bool]]) -> None:
    """The table of frames right by reader and by frames into the action."""
    groups = [f"{low}-{high}" if high is not None else f"{low}+" for low, high in ACTION_AGES]
    print("\nFrames right (argmax) by frames into the action: full windows ending every third frame, all frames kept\n")
    print("| reader, age in the window | " + " | ".join(f"{g} frames into the action" for g in groups) + " |")
    print("|---|" + "---|" * len(groups))
    for reader in dict.fromkeys(name for name, _ in right):
        cells = [right[reader, index] for index in range(len(groups))]
        print(f"| {reader} | " + " | ".join(f"{np.mean(c):.3f} (n={len(c)})" for c in cells) + " |")


def main(argv: list[str] | None = None) -> int:
    """Score every reading on every seed and print the table of ratios to the oracle."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--model", required=True, help="a model file with a live stack, decoded with grammar_filter")
    parser.add_argument("--frames", type=int, nargs="+", default=[1, 2, 3, 4, 6, 8])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 50, 51, 52, 53, 54])
    parser.add_argument("--cache", default=None, help="prepared-video cache folder")
    parser.add_argument("--by-age", action="store_true", help="add each stack's frames right by age (slower)")
    args = parser.parse_args(argv)
    model, _ = load_model(args.model)
    if model.grammar_filter is None or model.temporal.live_encoder is None:
        parser.error("--model needs a live stack (model.temporal.live_encoder) and grammar_filter decoding")
    if min(args.frames) < 1:
        parser.error("--frames: each count is at least 1 (the newest frame)")
    segmentation: dict[str, ClassAccuracy] = {}
    per_seed, right = [], defaultdict(list)
    for seed in args.seeds:
        sensor = dataclasses.replace(model.config.data.synthetic, seed=seed)
        videos = test_videos(sensor, model, args.cache)
        per_seed.append(score_seed(model, videos, window_rows(model, args.frames, segmentation)))
        if args.by_age:
            reading_accuracy(model, videos, right)
    names = list(segmentation)
    print(f"MoC / grammar oracle (ratio of the means of seeds {' '.join(map(str, args.seeds))}), {args.model}\n")
    print("| reading | " + " | ".join(KEYS) + " | window frames' segmentation |")
    print("|---|" + "---|" * (len(KEYS) + 1))
    for name, row in zip(names, ratio_rows(per_seed, names), strict=True):
        print(row + f" | {segmentation[name].mean_over_classes():.3f} |")
    if args.by_age:
        print_by_age(right)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
