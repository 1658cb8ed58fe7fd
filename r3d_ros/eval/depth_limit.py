"""Where a model trained on the synthetic benchmark does better without depth than with noisy depth.

For each depth noise level (std of a reading at 1 m, the renderer's
``depth_noise``) the model segments the test splits of development seeds with
that noisy depth on every frame, and once with no depth at all. The limit is the
midpoint between the last level at which depth still helps (segmentation with
depth at least that without) and the first at which it does not; every level
below must help too. The node leaves out depth frames noisier than the limit
(``model.max_depth_noise``), so a stream too noisy to help is treated as
missing instead of misleading the model. ``r3d-train`` measures it after
training (``train.depth_limit``); ``scripts/measure_depth_limit.py`` measures
an existing model file.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from r3d_ros.config import SyntheticConfig
from r3d_ros.eval.model_eval import evaluate_model, test_videos
from r3d_ros.model.r3d import R3DModel

LOG = logging.getLogger("r3d_ros.depth_limit")


@dataclass
class DepthLimitMeasurement:
    """Segmentation with depth of each noise level and without depth, and the limit drawn from them."""

    seeds: list[int]
    levels: list[float]
    with_depth: list[float]
    without_depth: float
    limit: float

    @property
    def every_level_helped(self) -> bool:
        """True when depth helped even at the highest level (the limit is then at least that level)."""
        return self.limit >= self.levels[-1]


def segmentation(model: R3DModel, sensor: SyntheticConfig, seeds: Sequence[int], condition: str, cache: Path) -> float:
    """Mean over ``seeds`` of the observed-segmentation accuracy under ``condition``, nothing left out for noise."""
    scores = []
    for seed in seeds:
        videos = test_videos(dataclasses.replace(sensor, seed=seed), model, cache)
        scores.append(evaluate_model(model, videos, seed, (condition,))[condition]["segmentation_accuracy"])
    return sum(scores) / len(scores)


def limit_from(levels: Sequence[float], with_depth: Sequence[float], without_depth: float) -> float:
    """Midpoint between the last helping level and the first that does not; 0 when the first level does not help.

    With every level helping, the highest level is returned (the limit is at least that).
    """
    for index, score in enumerate(with_depth):
        if score < without_depth:
            return 0.0 if index == 0 else (levels[index - 1] + levels[index]) / 2
    return levels[-1]


def measure_depth_limit(
    model: R3DModel, levels: Sequence[float], seeds: Sequence[int], num_test: int, cache: Path
) -> DepthLimitMeasurement:
    """Measure ``model``'s depth limit on the test splits of ``seeds`` (its training renderer, depth noise varied).

    Raises ValueError for a model not trained on the synthetic benchmark or
    levels that are not positive and increasing.
    """
    if model.config.data.source != "synthetic":
        raise ValueError("the model was not trained on the synthetic benchmark, whose renderer sets the depth noise")
    if not levels or list(levels) != sorted(set(levels)) or levels[0] <= 0:
        raise ValueError(f"depth noise levels must be positive and increasing, got {list(levels)}")
    base = dataclasses.replace(model.config.data.synthetic, num_test=num_test, num_train=0)
    sensors = [dataclasses.replace(base, depth_noise=level) for level in levels]
    without = segmentation(model, base, seeds, "depth_absent", cache)
    LOG.info("no depth: segmentation %.3f", without)
    scores = []
    for level, sensor in zip(levels, sensors, strict=True):
        scores.append(segmentation(model, sensor, seeds, "both", cache))
        LOG.info("depth noise %g: segmentation %.3f", level, scores[-1])
    limit = limit_from(levels, scores, without)
    return DepthLimitMeasurement(list(seeds), list(levels), scores, without, limit)
