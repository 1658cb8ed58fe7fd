"""A tiny training config (a few small synthetic videos) that training tests write with overrides."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

TINY = {
    "model": {
        "token_dim": 16,
        "input": {"height": 24, "width": 32},
        "rgb_encoder": {"channels": [8, 8]},
        "depth_encoder": {"channels": [8, 8]},
        "fuser": {"attention_heads": 2, "blend_fraction": 0.25},
        "ebr": {"enabled": True, "projector_hidden": 16, "discriminator_hidden": 8},
        "temporal": {"dim": 16, "heads": 2, "encoder_layers": 1, "decoder_layers": 1, "dropout": 0.0},
    },
    "anticipation": {"fps": 5.0, "window": 8, "horizon_s": 3.0},
    "data": {"source": "synthetic", "synthetic": {"num_train": 4, "num_test": 2, "seconds": 6.0, "fps": 5.0,
                                                  "height": 48, "width": 64}},
    "train": {"epochs": 3, "batch_videos": 2, "windows_per_video": 4, "warmup_epochs": 1, "ema_decay": 0.5,
              "modality_dropout_depth": 0.2, "monitor": {"max_frames": 64}, "eval": {"alphas": [0.3], "betas": [0.5]}},
}  # fmt: skip


def write_config(path: Path, **overrides: object) -> Path:
    config = json.loads(json.dumps(TINY))
    for dotted, value in overrides.items():
        node = config
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    path.write_text(yaml.safe_dump(config))
    return path
