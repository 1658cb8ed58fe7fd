"""Augmentation of training frames: colour jitter and blur of RGB, zooming out of both modalities.

Why: the synthetic rooms, clothes and skin come in a few hundred colour draws,
and a real camera's white balance, exposure, focus and sensor noise drift. An
RGB encoder that keys on exact colours or fine texture learns evidence that
does not transfer to new videos or a noisier camera, and the fusion then
trusts that evidence over depth. Colour jitter (random per-channel gains and
offsets) takes colour constancy away; Gaussian blur takes fine texture away.
Both keep shapes and motion, what identifies an action, and leave depth alone:
its values are metric. Zooming out is geometric, so it changes both modalities
together: the picture shrinks about its centre and the depth grows by the
same factor, the scene farther from the camera than any training video put it.
Depth corruption (a depth scale off by a few percent and per-reading noise,
labels unchanged) is the one augmentation aimed at fusion rather than at one
encoder: a model that has only seen depth that is right learns to trust it
over RGB, and then follows it when a depth camera goes wrong. Its stereo noise
is added where the camera adds it, to each reading before a network pixel keeps
the nearest of those it covers: that pulls the pixel towards the camera by a
noise-dependent amount, which noise added to the network pixel itself never
shows, and a model trained on the latter alone follows noisier real depth into
nonsense (docs/experiment.md, "The camera's stereo noise in training").
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from r3d_ros.config import (
    BlurConfig,
    ColorJitterConfig,
    DepthCorruptionConfig,
    InputConfig,
    TrainConfig,
    ZoomOutConfig,
)

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


def _shrink(image: np.ndarray, scale: float, interpolation: int) -> np.ndarray:
    """(C, H, W) ``image`` shrunk about its centre by ``scale``, the border filled by replicating edges."""
    channels, height, width = image.shape
    small_h, small_w = max(1, round(height * scale)), max(1, round(width * scale))
    small = cv2.resize(image.transpose(1, 2, 0), (small_w, small_h), interpolation=interpolation)
    top, left = (height - small_h) // 2, (width - small_w) // 2
    border = (top, height - small_h - top, left, width - small_w - left)
    padded = cv2.copyMakeBorder(small, *border, cv2.BORDER_REPLICATE)
    return padded.reshape(height, width, channels).transpose(2, 0, 1)


def zoom_out(
    rgb: np.ndarray, depth: np.ndarray, config: ZoomOutConfig, rng: np.random.Generator, per_frame: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``rgb`` (F, 3, H, W) and ``depth`` (F, 2, H, W: depth / max depth, valid mask) with the scene farther away.

    A zoomed frame is shrunk by ``s`` drawn from [min_scale, 1] and its valid depth divided by
    ``s`` (clipped at the maximum depth); depth and its mask are resampled by nearest neighbour,
    so no reading is blended with a hole. ``per_frame`` decides and draws per frame, otherwise
    once for all F frames (a person standing farther away for a whole video). When no frame is
    zoomed the inputs come back as they are, uncopied.
    """
    draws = len(rgb) if per_frame else 1
    zoomed = rng.random(draws) < config.probability
    scales = rng.uniform(config.min_scale, 1.0, size=draws)
    if not zoomed.any():
        return rgb, depth
    rgb_out, depth_out = rgb.astype(np.float32), depth.astype(np.float32)  # copies: the cache is never changed
    for frame in range(len(rgb_out)):
        draw = frame if per_frame else 0
        if zoomed[draw]:
            scale = float(scales[draw])
            rgb_out[frame] = _shrink(rgb_out[frame], scale, cv2.INTER_AREA)
            shrunk = _shrink(depth_out[frame], scale, cv2.INTER_NEAREST)
            valid = shrunk[1] > 0
            depth_out[frame, 0] = np.where(valid, np.minimum(shrunk[0] / np.float32(scale), 1.0), 0.0)
            depth_out[frame, 1] = valid
    return rgb_out, depth_out


def corrupt_depth(
    depth: np.ndarray,
    config: DepthCorruptionConfig,
    rng: np.random.Generator,
    per_frame: bool,
    size: InputConfig,
) -> np.ndarray:
    """``depth`` (F, 2, H, W: depth / max depth, valid mask) off in scale and noisy, each frame with ``probability``.

    A corrupted frame's readings are multiplied by a gain from [1 - max_gain_change,
    1 + max_gain_change] and by 1 + N(0, r) per reading, r from [0, max_relative_noise].
    With ``max_noise_at_1m`` they then get the camera's stereo noise: a coefficient c
    from [0, max_noise_at_1m], and each network pixel at d metres becomes the nearest
    (or with ``depth_downsample: area`` the mean) of ``readings_per_pixel`` readings
    d + c d^2 N(0, 1), as :func:`~r3d_ros.runtime.preprocess.prepare_depth` summarises
    a noisy camera image for the network input ``size`` (its depth range and downsampling). The
    result is clipped to [0, 1]; holes stay holes. ``per_frame`` decides and draws per frame,
    otherwise once for all F frames (one faulty camera for a whole video). When no frame is
    corrupted the input comes back as it is, uncopied.
    """
    draws = len(depth) if per_frame else 1
    corrupted = rng.random(draws) < config.probability
    gains = rng.uniform(1 - config.max_gain_change, 1 + config.max_gain_change, size=draws)
    noise = rng.uniform(0.0, config.max_relative_noise, size=draws)
    stereo = rng.uniform(0.0, config.max_noise_at_1m, size=draws) if config.max_noise_at_1m > 0 else None
    if not corrupted.any():
        return depth
    out = depth.astype(np.float32)  # a copy: the cache is never changed
    frames = np.flatnonzero(corrupted if per_frame else np.ones(len(depth), dtype=bool))
    draw = frames if per_frame else np.zeros(len(frames), dtype=int)
    factor = gains[draw, None, None] * (
        1 + noise[draw, None, None] * rng.standard_normal((len(frames), *out.shape[2:]))
    )
    values = out[frames, 0] * factor
    if stereo is not None:
        readings = rng.standard_normal((len(frames), *out.shape[2:], config.readings_per_pixel))
        kept = readings.min(axis=-1) if size.depth_downsample == "closest" else readings.mean(axis=-1)
        values = values + stereo[draw, None, None] * size.max_depth_m * values * values * kept
    valid = out[frames, 1] > 0
    out[frames, 0] = np.where(valid, np.clip(values, 0.0, 1.0), 0.0).astype(np.float32)
    return out


@dataclass(frozen=True)
class Augmentation:
    """Every augmentation of a training recipe, applied in one place for windowed steps and pretraining."""

    jitter: ColorJitterConfig
    blur: BlurConfig
    zoom: ZoomOutConfig
    depth_corruption: DepthCorruptionConfig
    size: InputConfig  # the network input, for the stereo noise

    @classmethod
    def of(cls, train: TrainConfig, size: InputConfig) -> Augmentation:
        """The augmentations ``train`` configures, for the network input ``size``."""
        return cls(train.rgb_jitter, train.rgb_blur, train.zoom_out, train.depth_corruption, size)

    def apply(
        self, rgb: np.ndarray, depth: np.ndarray, rng: np.random.Generator, per_frame: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Photometric augmentation of ``rgb``, zooming out of both, then corruption of depth.

        The inputs come back unchanged, and nothing is drawn, for the augmentations that are off.
        """
        rgb = augment_rgb(rgb, self.jitter, self.blur, rng, per_frame)
        if self.zoom.enabled:
            rgb, depth = zoom_out(rgb, depth, self.zoom, rng, per_frame)
        if self.depth_corruption.enabled:
            depth = corrupt_depth(depth, self.depth_corruption, rng, per_frame, self.size)
        return rgb, depth
