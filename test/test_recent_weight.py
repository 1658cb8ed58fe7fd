"""Recent-frame weighting of the segmentation loss: which frames it weighs, and the weighted mean it takes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from r3d_ros.config import ConfigError, TrainConfig
from r3d_ros.model import IGNORE, AnticipationTargets, anticipation_losses
from r3d_ros.model.losses import loss_counts
from r3d_ros.model.temporal import TemporalOutput
from r3d_ros.train.batches import recent_weights

K = 4


def test_the_last_real_frames_of_each_window_get_the_weight() -> None:
    masks = np.array([[True] * 6, [True] * 4 + [False] * 2])
    weights = recent_weights(masks, frames=2, weight=3.0)
    assert weights.tolist() == [[1, 1, 1, 1, 3, 3], [1, 1, 3, 3, 1, 1]]


@pytest.mark.parametrize(("frames", "weight"), [(0, 3.0), (4, 1.0)])
def test_no_weights_when_switched_off(frames: int, weight: float) -> None:
    assert recent_weights(np.ones((2, 5), dtype=bool), frames, weight) is None


def outputs(batch: int, length: int) -> TemporalOutput:
    generator = torch.Generator().manual_seed(0)
    return TemporalOutput(
        torch.randn(batch, length, K, generator=generator),
        torch.randn(batch, 3, K, generator=generator),
        torch.randn(batch, K, generator=generator),
    )


def test_segmentation_term_is_the_weighted_mean_of_the_frame_cross_entropies() -> None:
    output = outputs(2, 5)
    labels = torch.tensor([[0, 1, 2, 3, 0], [1, 1, 2, IGNORE, IGNORE]])
    weights = torch.tensor([[1.0, 1, 1, 4, 4], [1, 4, 4, 1, 1]])
    targets = AnticipationTargets(labels, torch.zeros(2, 3, dtype=torch.long), torch.tensor([0, 1]), weights)
    per_frame = F.cross_entropy(output.segmentation_logits.reshape(-1, K), labels.reshape(-1), reduction="none")
    known = labels.reshape(-1) != IGNORE
    expected = (per_frame * weights.reshape(-1))[known].sum() / weights.reshape(-1)[known].sum()
    torch.testing.assert_close(anticipation_losses(output, targets)["segmentation"], expected)
    assert loss_counts(targets)["segmentation"].item() == pytest.approx(11.0 + 9.0)


def test_unit_weights_equal_no_weights() -> None:
    output = outputs(2, 5)
    labels = torch.randint(0, K, (2, 5), generator=torch.Generator().manual_seed(1))
    plain = AnticipationTargets(labels, torch.zeros(2, 3, dtype=torch.long), torch.tensor([0, 1]))
    unit = AnticipationTargets(labels, plain.future, plain.next_action, torch.ones(2, 5))
    torch.testing.assert_close(anticipation_losses(output, unit)["total"], anticipation_losses(output, plain)["total"])


def test_bad_recent_settings_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="recent_frames"):
        TrainConfig(recent_frames=-1)
    with pytest.raises(ConfigError, match="recent_weight"):
        TrainConfig(recent_weight=0.0)
