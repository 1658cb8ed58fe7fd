r"""Is the per-frame argmax of a forecast the right decision for MoC? ``r3d-eval-model`` with another one.

    scripts/with-env python scripts/probe_balanced_decision.py --model shipped=models/r3d_default.safetensors \
        --seeds 0 50 51 52 53 54 --cache out/cache --out runs/balanced/dev

MoC averages the per-class accuracy of the predicted frames, so a frame of a
rare class counts for more than a frame of a common one. Taking each class's
number of scored frames as fixed, the expected MoC of a forecast is then highest
for the class whose probability, divided by how often that class occurs, is
largest, not for the most probable class. Both the model's
decoding and every reference predictor (the grammar oracle included) take the
plain most probable class. This runs ``r3d-eval-model`` with its arguments after
replacing that decision, for the model and every reference predictor alike, by
the most probable class after dividing by the class frequencies of the training
videos' frames (the recipe's training split; nothing from the test videos). Its
report reads as ``r3d-eval-model``'s, each ratio of one rule to the same rule.

The replacement is made by rebinding the two functions that take the decision
(:func:`r3d_ros.eval.reference.most_likely` and the name
:func:`~r3d_ros.model.decode.future_segments` in :mod:`r3d_ros.eval.anticipation`),
so the network, the grammar filter and the windows are exactly those of
``r3d-eval-model``.
"""

from __future__ import annotations

import sys

import numpy as np

import r3d_ros.eval.anticipation as anticipation
import r3d_ros.eval.reference as reference
from r3d_ros.config import load_config
from r3d_ros.data.sources import load_datasets
from r3d_ros.eval import model_eval
from r3d_ros.model.decode import PredictedSegment, future_segments
from r3d_ros.runtime.timebase import subsample_indices

RECIPE = "config/train/default.yaml"


def training_class_frequencies(config_path: str = RECIPE) -> np.ndarray:
    """(K,) fraction of the labelled training frames (at the model rate) of each class."""
    config = load_config(config_path, [])
    train, _ = load_datasets(config.data)
    labels = np.concatenate(
        [video.labels[subsample_indices(video.stamps, config.anticipation.fps)] for video in train.videos]
    )
    labels = labels[labels >= 0]
    return np.bincount(labels, minlength=len(train.class_names)) / len(labels)


def main() -> int:
    """Rebind the decision to the class-frequency-weighted one, then run ``r3d-eval-model``."""
    frequencies = training_class_frequencies()
    plain_most_likely = reference.most_likely

    def most_likely(distribution: np.ndarray) -> np.ndarray:
        return plain_most_likely(distribution / frequencies)

    def segments(probabilities: np.ndarray) -> list[PredictedSegment]:
        return future_segments(probabilities / frequencies)

    reference.most_likely = most_likely
    anticipation.future_segments = segments
    print("class frequencies of the training frames:", np.round(frequencies, 3).tolist(), flush=True)
    return model_eval.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
