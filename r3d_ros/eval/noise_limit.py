"""Where a model trained on the synthetic benchmark does better without a modality than with it noisy.

For each noise level of one modality (the renderer's ``depth_noise``, the std
of a depth reading at 1 m, or its ``rgb_noise``, the std of a pixel on the 0-255
scale) the model segments the test splits of development seeds with that noisy
modality on every frame and the other one clean, and once without the modality.
The limit is the midpoint between the last level at which the modality still
helps (segmentation with it at least that without, less a tolerance of the
seeds' resolution) and the first at which it does not; every level below must
help too, and the noise the model was trained on counts as helping. The node leaves out frames of the
modality noisier than the limit (``model.max_depth_noise``,
``model.max_rgb_noise``), so a stream too noisy to help is treated as missing
instead of misleading the model. The RGB limit is written at the network's
input, where the runtime estimates RGB noise (:mod:`r3d_ros.runtime.rgb_noise`):
the renderer's level times the input's shrink factor. ``r3d-train`` measures
the limits after training (``train.depth_limit``, ``train.rgb_limit``);
``scripts/measure_noise_limit.py`` measures an existing model file.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from r3d_ros.config import SyntheticConfig
from r3d_ros.data.prepared import PreparedVideo
from r3d_ros.eval.anticipation import SegmentationTally
from r3d_ros.eval.model_eval import ALPHAS, iter_test_video_sets, presence, test_videos
from r3d_ros.model.r3d import R3DModel
from r3d_ros.runtime.preprocess import center_crop_box

LOG = logging.getLogger("r3d_ros.noise_limit")
# Segmentation differences smaller than this are within what a few test seeds of 48 videos resolve:
# a modality that adds nothing (RGB beside good depth) is not left out for a difference this small.
TOLERANCE = 0.005


@dataclass(frozen=True)
class Modality:
    """How one modality is made noisy, taken away and limited."""

    knob: str  # the renderer's setting (SyntheticConfig) that sets its noise
    absent: str  # the input condition without it (r3d_ros.eval.model_eval.CONDITIONS)
    setting: str  # the model's limit (ModelConfig)
    at_input: bool  # the limit is the renderer's level shrunk with the image to the network's input


MODALITIES = {
    "depth": Modality("depth_noise", "depth_absent", "max_depth_noise", at_input=False),
    "rgb": Modality("rgb_noise", "rgb_absent", "max_rgb_noise", at_input=True),
}


@dataclass
class NoiseLimitMeasurement:
    """Segmentation with the modality at each noise level and without it, and the limit drawn from them."""

    modality: str
    seeds: list[int]
    levels: list[float]  # the renderer's noise levels
    with_noise: list[float]
    without: float
    limit: float  # in the runtime estimate's units (the model's max_depth_noise / max_rgb_noise)
    every_level_helped: bool  # the modality helped even at the highest level: the limit is at least that


def segmentation(
    model: R3DModel, sensor: SyntheticConfig, seeds: Sequence[int], condition: str, cache: str | Path | None
) -> float:
    """Mean over ``seeds`` of the observed-segmentation accuracy under ``condition``, nothing left out for noise."""
    scores = []
    for seed in seeds:
        videos = test_videos(dataclasses.replace(sensor, seed=seed), model, cache)
        scores.append(segmentation_under(model, videos, seed, condition))
    return _mean(scores)


def segmentation_under(model: R3DModel, videos: list[PreparedVideo], seed: int, condition: str) -> float:
    """``r3d-eval-model``'s observed-segmentation accuracy on ``videos`` under ``condition``.

    Nothing is left out for noise, and the future is not decoded: segmentation is all a limit compares.
    """
    tally = SegmentationTally(model, ALPHAS, torch.device("cpu"))
    for video, (depth, rgb) in zip(videos, per_video_presence(condition, videos, seed), strict=True):
        tally.add(video, depth, rgb)
    return tally.accuracy()


def per_video_presence(
    condition: str, videos: list[PreparedVideo], seed: int
) -> list[tuple[np.ndarray | None, np.ndarray | None]]:
    """Per video, its (depth, RGB) presence mask under ``condition`` (None: every frame), nothing left out for noise."""
    masks = presence(condition, videos, seed)
    depth, rgb = masks["depth_present"], masks["rgb_present"]
    return [(None if depth is None else depth[i], None if rgb is None else rgb[i]) for i in range(len(videos))]


def limit_from(
    levels: Sequence[float], with_noise: Sequence[float], without: float, trained: float, tolerance: float = TOLERANCE
) -> float:
    """Midpoint between the last level at which the modality still helps and the first at which it does not.

    A level helps when segmentation with the noisy modality is at least that
    without it, less ``tolerance``. The noise the model was trained on
    (``trained``, below the levels) counts as helping, so when the first level
    already does not help the limit lies between the two. With every level
    helping, the highest level is returned (the limit is at least that).
    """
    previous = trained
    for level, score in zip(levels, with_noise, strict=True):
        if score < without - tolerance:
            return (previous + level) / 2
        previous = level
    return levels[-1]


def input_scale(sensor: SyntheticConfig, model: R3DModel) -> float:
    """How much area resizing to the model's input shrinks the renderer's independent pixel noise."""
    size = model.config.model.input
    top, bottom, _, _ = center_crop_box(sensor.height, sensor.width, size.height, size.width)
    return min(1.0, size.height / (bottom - top))


def check_levels(model: R3DModel, modality: str, levels: Sequence[float]) -> None:
    """Raise ValueError for an unknown modality, a model not trained on the synthetic benchmark or bad levels."""
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r} (one of {', '.join(MODALITIES)})")
    spec = MODALITIES[modality]
    if model.config.data.source != "synthetic":
        raise ValueError(f"the model was not trained on the synthetic benchmark, whose renderer sets the {spec.knob}")
    trained = getattr(model.config.data.synthetic, spec.knob)
    if not levels or list(levels) != sorted(set(levels)) or levels[0] <= trained:
        raise ValueError(
            f"{spec.knob} levels must be increasing and above the {trained:g} the model was trained on, "
            f"got {list(levels)}"
        )


def measure_noise_limits(
    model: R3DModel,
    levels: Mapping[str, Sequence[float]],
    seeds: Sequence[int],
    num_test: int,
    cache: str | Path | None,
) -> dict[str, NoiseLimitMeasurement]:
    """Measure ``model``'s limit for each modality in ``levels`` (modality -> its noise levels) on ``seeds``.

    The test splits are those of the model's training renderer with the noise
    varied. Per seed, every noisy variant of a video is prepared together with
    the clean one, so each scene is ray-cast once (the variants differ only in
    the sensor effects), and the clean set serves every modality's "without".
    Raises ValueError as :func:`check_levels`.
    """
    for modality, modality_levels in levels.items():
        check_levels(model, modality, modality_levels)
    base = dataclasses.replace(model.config.data.synthetic, num_test=num_test, num_train=0)
    noisy = [(m, level) for m, modality_levels in levels.items() for level in modality_levels]
    sensors = [base] + [dataclasses.replace(base, **{MODALITIES[m].knob: level}) for m, level in noisy]
    absent = tuple(MODALITIES[m].absent for m in levels)
    without: dict[str, list[float]] = {m: [] for m in levels}
    with_noise: dict[tuple[str, float], list[float]] = {key: [] for key in noisy}
    for seed in seeds:
        scored, noisy_scores = _score_seed(model, [dataclasses.replace(s, seed=seed) for s in sensors], absent, cache)
        for modality in levels:
            without[modality].append(scored[MODALITIES[modality].absent])
        for key, score in zip(noisy, noisy_scores, strict=True):
            with_noise[key].append(score)
    measured = {}
    for modality, modality_levels in levels.items():
        spec = MODALITIES[modality]
        without_mean = _mean(without[modality])
        LOG.info("no %s: segmentation %.3f", modality, without_mean)
        scores = [_mean(with_noise[modality, level]) for level in modality_levels]
        for level, score in zip(modality_levels, scores, strict=True):
            LOG.info("%s %g: segmentation %.3f", spec.knob, level, score)
        limit = limit_from(modality_levels, scores, without_mean, getattr(base, spec.knob))
        scale = input_scale(base, model) if spec.at_input else 1.0
        measured[modality] = NoiseLimitMeasurement(
            modality, list(seeds), list(modality_levels), scores, without_mean, limit * scale,
            limit >= modality_levels[-1]
        )  # fmt: skip
    return measured


def _score_seed(
    model: R3DModel, sensors: Sequence[SyntheticConfig], absent: tuple[str, ...], cache: str | Path | None
) -> tuple[dict[str, float], list[float]]:
    """The clean set (first sensor) scored under ``absent``, and each noisy set's segmentation with both.

    Each video is scored as it comes from the workers, while they prepare the next
    ones, and then let go. The conditions draw nothing at random (no depth missing
    at random), so a video's masks alone are those it has in its whole set.
    """
    seed, cpu = sensors[0].seed, torch.device("cpu")
    clean = {condition: SegmentationTally(model, ALPHAS, cpu) for condition in absent}
    noisy = [SegmentationTally(model, ALPHAS, cpu) for _ in sensors[1:]]
    for index, video in iter_test_video_sets(sensors, model, cache):
        for condition, tally in clean.items() if index == 0 else [("both", noisy[index - 1])]:
            [(depth, rgb)] = per_video_presence(condition, [video], seed)
            tally.add(video, depth, rgb)
    return {condition: tally.accuracy() for condition, tally in clean.items()}, [tally.accuracy() for tally in noisy]


def measure_noise_limit(
    model: R3DModel,
    modality: str,
    levels: Sequence[float],
    seeds: Sequence[int],
    num_test: int,
    cache: str | Path | None,
) -> NoiseLimitMeasurement:
    """:func:`measure_noise_limits` of one modality."""
    return measure_noise_limits(model, {modality: levels}, seeds, num_test, cache)[modality]


def _mean(scores: Sequence[float]) -> float:
    return sum(scores) / len(scores)
