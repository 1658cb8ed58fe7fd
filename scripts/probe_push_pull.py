"""Can one depth frame tell push from pull? A per-frame probe for each depth downsampling.

    scripts/with-env python scripts/probe_push_pull.py                  # 400 training videos, 25 epochs
    scripts/with-env python scripts/probe_push_pull.py --videos 160 --epochs 8

push and pull differ only in whether the hands are in front of or behind the
body plane. This trains the shipped depth encoder's architecture plus a linear
layer on the middle half of every push/pull segment of the benchmark's
training split (seed 0, the shipped recipe's depth noise and holes), once with
area-averaged and once with closest-reading depth, and prints the accuracy on
seed 100's test split after each epoch (docs/experiment.md).
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import torch

from r3d_ros.config import EncoderConfig, InputConfig, SyntheticConfig
from r3d_ros.data.synthetic import SYNTHETIC_CLASSES, generate_synthetic
from r3d_ros.model.encoders import DepthEncoder
from r3d_ros.runtime.image import decode_depth
from r3d_ros.runtime.preprocess import prepare_depth

METHODS = ("area", "closest")
PUSH, PULL = SYNTHETIC_CLASSES.index("push"), SYNTHETIC_CLASSES.index("pull")


def push_pull_frames(split: str, videos: int, seed: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Network depth inputs (per method) of the middle half of every push/pull segment, and 1 for pull."""
    config = SyntheticConfig(
        num_train=videos if split == "train" else 0,
        num_test=videos if split == "test" else 0,
        seed=seed,
        depth_noise=0.01,
        depth_dropout=0.25,
    )
    inputs: dict[str, list[np.ndarray]] = {method: [] for method in METHODS}
    labels = []
    for video in generate_synthetic(config).videos:
        edges = [0, *(np.flatnonzero(np.diff(video.labels) != 0) + 1), len(video.labels)]
        for start, stop in itertools.pairwise(edges):
            if video.labels[start] not in (PUSH, PULL) or stop - start < 8:
                continue
            for index in range(start + (stop - start) // 4, stop - (stop - start) // 4):
                metres = decode_depth(video.load(index).depth, 0.001)
                for method in METHODS:
                    inputs[method].append(prepare_depth(metres, InputConfig(depth_downsample=method))[0])
                labels.append(int(video.labels[start] == PULL))
    return {m: torch.from_numpy(np.stack(x)) for m, x in inputs.items()}, torch.tensor(labels)


def main() -> None:
    """Train and score the probe for each depth downsampling."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--videos", type=int, default=400, help="training videos (seed 0)")
    parser.add_argument("--epochs", type=int, default=25)
    args = parser.parse_args()
    train_x, train_y = push_pull_frames("train", args.videos, 0)
    test_x, test_y = push_pull_frames("test", 48, 100)
    print(f"{len(train_y)} training frames, {len(test_y)} test frames")
    for method in METHODS:
        torch.manual_seed(0)
        encoder = DepthEncoder(EncoderConfig(channels=[8, 16, 32]), 64, InputConfig())
        head = torch.nn.Linear(64, 2)
        optimizer = torch.optim.AdamW([*encoder.parameters(), *head.parameters()], 2e-3)
        for epoch in range(1, args.epochs + 1):
            encoder.train()
            order = torch.randperm(len(train_y))
            for start in range(0, len(order), 64):
                batch = order[start : start + 64]
                logits = head(torch.relu(encoder(train_x[method][batch])))
                loss = torch.nn.functional.cross_entropy(logits, train_y[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            encoder.eval()
            with torch.no_grad():
                accuracy = (head(torch.relu(encoder(test_x[method]))).argmax(-1) == test_y).float().mean()
            print(f"{method:8s} epoch {epoch:2d}: test accuracy {accuracy:.3f}", flush=True)


if __name__ == "__main__":
    main()
