"""Photometric augmentation of training RGB.

Why: the synthetic rooms, clothes and skin come in a few hundred colour draws,
and a real camera's white balance and exposure drift. An RGB encoder that can
key on exact colours learns evidence that does not transfer to new videos, and
the fusion then trusts that evidence over depth. Random per-channel gains and
offsets keep shapes and motion (what identifies an action) and take colour
constancy away. Depth is left alone: its values are metric.
"""

from __future__ import annotations

import numpy as np

from r3d_ros.config import ColorJitterConfig


def jitter_rgb(rgb: np.ndarray, config: ColorJitterConfig, rng: np.random.Generator, per_frame: bool) -> np.ndarray:
    """``rgb`` (F, 3, H, W) in [0, 1] with random channel gains and offsets, clipped to [0, 1].

    ``per_frame`` draws one gain/offset pair per frame and channel; otherwise one per
    channel for all F frames (one camera's colour response over a video).
    """
    draws = len(rgb) if per_frame else 1
    gain = rng.uniform(1 - config.gain, 1 + config.gain, size=(draws, 3, 1, 1)).astype(np.float32)
    bias = rng.uniform(-config.bias, config.bias, size=(draws, 3, 1, 1)).astype(np.float32)
    return np.clip(rgb * gain + bias, 0.0, 1.0)
