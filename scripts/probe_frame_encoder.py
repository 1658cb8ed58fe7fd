r"""What does the per-frame encoder read from single frames? Per-frame accuracy on unseen videos.

    scripts/with-env python scripts/probe_frame_encoder.py --channels 8 16 32 \
        --set data.cache_dir=out/train_cache --out runs/width/8-16-32.json
    scripts/with-env python scripts/probe_frame_encoder.py --channels 8 16 32 --pair-gap 1 \
        --set data.cache_dir=out/train_cache --out runs/pairs/gap1.json

At alpha 0.3 the model's gap to the grammar oracle is recognition of the newest
frames, mostly in the first frames of an action (scripts/probe_live_frame.py,
scripts/probe_onset_motion.py). Before spending three training draws on a
change of the per-frame path, this pretrains the RGB and depth encoders of the
given width exactly as ``r3d-train`` does (``train.pretrain``, the recipe's
augmentations) on the first ``--videos`` training videos, then scores the
per-frame heads on the recipe's test videos (no augmentation): over all
labelled frames, over the frames 1-3 of an action, and at each of an action's
first five frames. An encoder that is not better here, where it has nothing but
its input to go on, has little to offer the full model; one that is better
still has to be judged in the full model (the temporal stacks may already
recover what a sharper frame adds).

``--pair-gap G`` (G >= 1) gives each encoder the frame and the frame G steps
before it (at the model rate), stacked on the channels, the way the per-frame
path could see motion before its tokens are pooled: every synthetic action
ramps in from the neutral stance, so on its first frames the pose is near that
stance and only the direction of movement names the action. The two frames of
a pair get one augmentation draw (one camera); the first frames of a video are
paired with its first frame, as a stream's first frame would be.
The wall time of the pretraining is printed beside it (one thread, as the
recipe), to weigh against the 60-minute training budget.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from r3d_ros.config import load_config
from r3d_ros.data.prepared import PreparedVideo, prepare_dataset
from r3d_ros.data.sampling import run_lengths
from r3d_ros.data.sources import load_datasets
from r3d_ros.eval.anticipation import encode_video
from r3d_ros.model.encoders import RGB_MEAN, RGB_STD, FrameEncoder
from r3d_ros.model.r3d import R3DModel
from r3d_ros.train.augment import Augmentation
from r3d_ros.train.distributed import DistributedContext
from r3d_ros.train.pretrain import pretrain_encoders

ONSET_FRAMES = 3  # frames 1..3 of an action
AGES = (1, 2, 3, 4, 5)  # an action's first frames, scored one by one
RGB_CHANNELS, DEPTH_CHANNELS = 3, 2  # depth: value and valid mask


def frames_into_action(labels: np.ndarray) -> np.ndarray:
    """For every frame, how many frames its action has lasted there (1 on the first frame)."""
    return np.concatenate([np.arange(1, length + 1) for _, length in run_lengths(labels)])


def with_earlier_frame(video: PreparedVideo, gap: int) -> PreparedVideo:
    """``video`` with every frame's images followed, on the channels, by those ``gap`` frames before it."""
    earlier = np.maximum(np.arange(len(video)) - gap, 0)
    return dataclasses.replace(
        video,
        rgb=np.concatenate([video.rgb, video.rgb[earlier]], axis=1),
        depth=np.concatenate([video.depth, video.depth[earlier]], axis=1),
    )


class PairAugmentation:
    """The recipe's augmentation of stacked (frame, earlier frame) pairs: one draw for both frames of a pair."""

    def __init__(self, augmentation: Augmentation) -> None:
        self.augmentation = augmentation

    def apply(
        self, rgb: np.ndarray, depth: np.ndarray, rng: np.random.Generator, per_frame: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """``rgb`` (N, 6, H, W) and ``depth`` (N, 4, H, W), each pair augmented as one two-frame video."""
        height, width = rgb.shape[2:]
        rgb_out, depth_out = np.empty(rgb.shape, np.float32), np.empty(depth.shape, np.float32)
        for i in range(len(rgb)):
            pair_rgb, pair_depth = self.augmentation.apply(
                rgb[i].reshape(2, RGB_CHANNELS, height, width),
                depth[i].reshape(2, DEPTH_CHANNELS, height, width),
                rng,
                per_frame=False,
            )
            rgb_out[i], depth_out[i] = pair_rgb.reshape(-1, height, width), pair_depth.reshape(-1, height, width)
        return rgb_out, depth_out


class PairRGBEncoder(FrameEncoder):
    """The RGB encoder on a frame and an earlier one, stacked on the channels; the same normalisation."""

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        """(N, 6, H, W) in [0, 1] -> (N, token_dim)."""
        return super().forward((rgb - RGB_MEAN) / RGB_STD)


@torch.no_grad()
def score(model: R3DModel, heads: nn.ModuleDict, videos: list) -> dict[str, float]:
    """Per-frame accuracy of each modality's head: all labelled frames, and an action's first frames."""
    model.eval()
    parts = ("all", "onset", *(f"age{age}" for age in AGES))
    right = {f"{name}/{part}": 0 for name in heads for part in parts}
    count = dict.fromkeys(right, 0)
    for video in videos:
        labels = torch.from_numpy(video.labels)
        age = torch.from_numpy(frames_into_action(video.labels))
        features = encode_video(model, video, torch.device("cpu"))
        tokens = {"rgb": features.rgb_encoded, "depth": features.depth_encoded}
        for name, head in heads.items():
            keep = labels >= 0
            if name == "depth":
                keep &= torch.from_numpy(video.depth_present)
            hit = head(tokens[name]).argmax(1) == labels
            masks = {"all": keep, "onset": keep & (age <= ONSET_FRAMES)}
            masks.update({f"age{a}": keep & (age == a) for a in AGES})
            for part, mask in masks.items():
                right[f"{name}/{part}"] += int(hit[mask].sum())
                count[f"{name}/{part}"] += int(mask.sum())
    return {k: right[k] / max(count[k], 1) for k in right}


def main() -> None:
    """Pretrain one width (and input) on the first training videos and score it on the test videos."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="config/train/default.yaml")
    parser.add_argument("--set", action="append", default=[], help="config override, as r3d-train's --set")
    parser.add_argument("--channels", type=int, nargs="+", required=True, help="both encoders' stage widths")
    parser.add_argument("--videos", type=int, default=240, help="training videos to pretrain on")
    parser.add_argument("--epochs", type=int, default=2, help="pretraining passes")
    parser.add_argument(
        "--pair-gap", type=int, default=0, help="also give each encoder the frame this many steps before (0: none)"
    )
    parser.add_argument("--out", required=True, help="JSON file for the result")
    args = parser.parse_args()
    if args.pair_gap < 0:
        parser.error(f"--pair-gap must be >= 0, got {args.pair_gap}")
    widths = "[" + ", ".join(str(c) for c in args.channels) + "]"
    config = load_config(
        args.config,
        [
            *args.set,
            f"data.synthetic.num_train={args.videos}",
            f"train.pretrain.epochs={args.epochs}",
            f"model.rgb_encoder.channels={widths}",
            f"model.depth_encoder.channels={widths}",
        ],
    )
    torch.set_num_threads(config.train.threads or 1)
    train_set, test_set = load_datasets(config.data)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, class_names=train_set.class_names))
    size, fps, cache = config.model.input, config.anticipation.fps, config.data.cache_dir
    train_videos = prepare_dataset(train_set, size, fps, cache, False, 1)
    test_videos = prepare_dataset(test_set, size, fps, cache, False, 1)
    augmentation = Augmentation.of(config.train, size)
    torch.manual_seed(config.train.seed)
    model = R3DModel(config)
    if args.pair_gap:
        train_videos = [with_earlier_frame(v, args.pair_gap) for v in train_videos]
        test_videos = [with_earlier_frame(v, args.pair_gap) for v in test_videos]
        augmentation = PairAugmentation(augmentation)
        token_dim = config.model.token_dim
        model.rgb_encoder = PairRGBEncoder(2 * RGB_CHANNELS, config.model.rgb_encoder, token_dim, size)
        model.depth_encoder = FrameEncoder(2 * DEPTH_CHANNELS, config.model.depth_encoder, token_dim, size)
    heads = nn.ModuleDict(
        {name: nn.Linear(config.model.token_dim, config.model.num_classes) for name in ("rgb", "depth")}
    )
    started = time.perf_counter()
    rows = pretrain_encoders(
        model,
        train_videos,
        config.train.pretrain,
        augmentation,
        config.train.seed,
        torch.device("cpu"),
        DistributedContext(),
        heads,
    )
    seconds = time.perf_counter() - started
    result = {
        "channels": args.channels,
        "videos": args.videos,
        "epochs": args.epochs,
        "pair_gap": args.pair_gap,
        "seed": config.train.seed,
        "rgb_encoder_parameters": sum(p.numel() for p in model.rgb_encoder.parameters()),
        "pretrain_seconds": round(seconds, 1),
        "training_frames_accuracy": {k: round(v, 4) for k, v in rows[-1].items() if "accuracy" in k},
        "test_accuracy": {k: round(v, 4) for k, v in score(model, heads, test_videos).items()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
