"""Photometric augmentation of training RGB.

Why: the synthetic rooms, clothes and skin come in a few hundred colour draws,
and a real camera's white balance, exposure, focus and sensor noise drift. An
RGB encoder that keys on exact colours or fine texture learns evidence that
does not transfer to new videos or a noisier camera, and the fusion then
trusts that evidence over depth. Colour jitter (random per-channel gains and
offsets) takes colour constancy away; Gaussian blur takes fine texture away.
Both keep shapes and motion, what identifies an action. Depth is left alone:
its values are metric.
"""

from __future__ import annotations

import cv2
import numpy as np

from r3d_ros.config import BlurConfig, ColorJitterConfig

# The smallest blur drawn, in network-input pixels: below it a Gaussian changes almost nothing.
MIN_SIGMA = 0.5


def jitter_rgb(rgb: np.ndarray, config: ColorJitterConfig, rng: np.random.Generator, per_frame: bool) -> np.ndarray:
    """``rgb`` (F, 3, H, W) in [0, 1] with random channel gains and offsets, clipped to [0, 1].

    ``per_frame`` draws one gain/offset pair per frame and channel; otherwise one per
    channel for all F frames (one camera's colour response over a video).
    """
    draws = len(rgb) if per_frame else 1
    gain = rng.uniform(1 - config.gain, 1 + config.gain, size=(draws, 3, 1, 1)).astype(np.float32)
    bias = rng.uniform(-config.bias, config.bias, size=(draws, 3, 1, 1)).astype(np.float32)
    return np.clip(rgb * gain + bias, 0.0, 1.0)


def blur_rgb(rgb: np.ndarray, config: BlurConfig, rng: np.random.Generator, per_frame: bool) -> np.ndarray:
    """``rgb`` (F, 3, H, W) as float32, each frame blurred with probability ``config.probability``.

    ``per_frame`` decides and draws the blur's sigma per frame; otherwise once for all
    F frames (one camera out of focus for a whole video). Edges are reflected.
    """
    draws = len(rgb) if per_frame else 1
    blurred = rng.random(draws) < config.probability
    sigmas = rng.uniform(MIN_SIGMA, config.max_sigma, size=draws)
    out = rgb.astype(np.float32)  # a copy: the cached video is never changed
    for frame in range(len(out)):
        draw = frame if per_frame else 0
        if blurred[draw]:
            image = cv2.GaussianBlur(out[frame].transpose(1, 2, 0), (0, 0), float(sigmas[draw]))
            out[frame] = image.reshape(out.shape[2], out.shape[3], 3).transpose(2, 0, 1)
    return out


def augment_rgb(
    rgb: np.ndarray, jitter: ColorJitterConfig, blur: BlurConfig, rng: np.random.Generator, per_frame: bool
) -> np.ndarray:
    """``rgb`` with the configured augmentations (jitter, then blur); unchanged and no draws when both are off.

    Drawing nothing when off keeps the random stream, and so the trained model, of a
    recipe without augmentation exactly as it was.
    """
    if jitter.enabled:
        rgb = jitter_rgb(rgb, jitter, rng, per_frame)
    if blur.enabled:
        rgb = blur_rgb(rgb, blur, rng, per_frame)
    return rgb
