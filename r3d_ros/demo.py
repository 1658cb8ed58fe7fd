"""The main job of `make demo`: build the default R3D model and check its two paths agree.

Until the trainer and node land, the demo builds the default architecture,
reports its size per part, runs it as the streaming runtime will (one frame at
a time through the per-frame path, then the temporal model over the cached
window) and checks that this equals the batch forward pass.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from r3d_ros.config import load_config
from r3d_ros.model import R3DModel
from r3d_ros.rank import effective_rank

CONFIG = Path(__file__).resolve().parents[1] / "config" / "train" / "default.yaml"


def main() -> None:
    """Build, run and check the default model."""
    torch.manual_seed(0)
    config = load_config(CONFIG, overrides=["model.class_names=[reach,grasp,lift,place,wave]"])
    model = R3DModel(config).eval()
    print(f"R3D model from {CONFIG.name}:")
    for name, part in model.named_children():
        print(f"  {name:14s} {sum(p.numel() for p in part.parameters()):>9,d} parameters")
    h, w, window = config.model.input.height, config.model.input.width, config.anticipation.window
    rgb, depth = torch.rand(1, window, 3, h, w), torch.rand(1, window, 2, h, w)
    mask = torch.ones(1, window, dtype=torch.bool)
    with torch.no_grad():
        batch = model(rgb, depth, mask).temporal
        start = time.perf_counter()
        cache = [model.encode_frames(rgb[0, t : t + 1], depth[0, t : t + 1]).fused for t in range(window)]
        per_frame_ms = (time.perf_counter() - start) / window * 1e3
        start = time.perf_counter()
        streamed = model.forward_temporal(torch.cat(cache)[None], mask)
        tick_ms = (time.perf_counter() - start) * 1e3
    error = (streamed.action_logits - batch.action_logits).abs().max().item()
    print(f"streaming vs batch over {window} frames: max |difference| = {error:.2e}")
    print(f"per-frame path {per_frame_ms:.2f} ms/frame, temporal tick {tick_ms:.2f} ms (PyTorch eager, untrained)")
    print(f"fused effective rank of random frames: {effective_rank(torch.cat(cache), center=True):.1f}")


if __name__ == "__main__":
    main()
