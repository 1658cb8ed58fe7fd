r"""What share of each frame does a gated fuser give depth, and does it follow depth's quality? A probe.

    scripts/with-env python scripts/probe_gate.py --model runs/gated/model.safetensors \\
        --seeds 50 51 52 --cache out/cache

A model trained with ``model.fuser.pool: gated`` weighs its two attended tokens
per frame by a learned share. If the gate learned how far to trust each
modality, depth's share should fall when depth is noisy or absent and rise when
RGB is noisy or absent. This prints depth's mean share (and its 10th and 90th
percentiles over frames) on each sensor setting's test videos, every frame read
with both modalities unless the setting leaves one out.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import torch

from r3d_ros.eval.anticipation import encode_video
from r3d_ros.eval.model_eval import test_videos
from r3d_ros.model.checkpoint import load_model

# name: (sensor changes, which modality every frame leaves out)
SETTINGS = {
    "as trained": ({}, None),
    "depth noise 0.03": ({"depth_noise": 0.03}, None),
    "depth noise 0.05": ({"depth_noise": 0.05}, None),
    "RGB noise 20": ({"rgb_noise": 20.0}, None),
    "depth absent": ({}, "depth"),
    "RGB absent": ({}, "rgb"),
}


def main(argv: list[str] | None = None) -> int:
    """Print depth's share under every setting."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--model", required=True, help="a model file trained with model.fuser.pool: gated")
    parser.add_argument("--seeds", type=int, nargs="+", default=[50, 51, 52])
    parser.add_argument("--cache", default=None, help="prepared-video cache folder")
    args = parser.parse_args(argv)
    model, _ = load_model(args.model)
    fuser = model.fuser
    if getattr(fuser, "gate", None) is None:
        parser.error(f"{args.model} has no gated fuser (model.fuser.pool: {model.config.model.fuser.pool})")
    shares: list[torch.Tensor] = []
    fuser_shares = fuser.modality_shares

    def recorded_shares(tokens: torch.Tensor) -> torch.Tensor:
        """The fuser's own shares, depth's column kept for the table."""
        result = fuser_shares(tokens)
        shares.append(result[:, 1])
        return result

    fuser.modality_shares = recorded_shares
    print("| setting | depth's share, mean | 10th percentile | 90th percentile |")
    print("|---|---|---|---|")
    for name, (changes, left_out) in SETTINGS.items():
        shares.clear()
        for seed in args.seeds:
            sensor = dataclasses.replace(model.config.data.synthetic, seed=seed, **changes)
            for video in test_videos(sensor, model, args.cache):
                absent = np.zeros(len(video), dtype=bool)
                with torch.no_grad():
                    encode_video(
                        model,
                        video,
                        torch.device("cpu"),
                        rgb_present=absent if left_out == "rgb" else None,
                        depth_present=absent if left_out == "depth" else None,
                    )
        values = torch.cat(shares).numpy()
        low, high = np.percentile(values, [10, 90])
        print(f"| {name} | {values.mean():.3f} | {low:.3f} | {high:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
