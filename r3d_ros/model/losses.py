"""Anticipation losses: observed segmentation CE, future action CE, duration regression.

Targets use ``IGNORE`` (-100) wherever there is nothing to learn: padded frames
of the observed window, and the queries after the end token of the future
sequence. Cross-entropy skips them, and durations are regressed only for
queries that stand for a real future segment, so padding can neither dilute
nor bias any term. A duration is unknown (NaN) when the recording ends inside
the horizon: the last segment may go on, so its length is not regressed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from r3d_ros.model.temporal import TemporalOutput

IGNORE = -100


@dataclass
class AnticipationTargets:
    """Training targets for a batch of windows."""

    segmentation: torch.Tensor  # (B, T) long: class per observed frame, IGNORE on padding
    future_classes: torch.Tensor  # (B, Q) long: class per future segment, K = end, IGNORE after it
    future_durations: torch.Tensor  # (B, Q) float: fraction of the horizon; NaN where unknown or unused


@dataclass
class LossWeights:
    """Relative weights of the three anticipation terms."""

    segmentation: float = 1.0
    action: float = 1.0
    duration: float = 1.0


def anticipation_losses(
    output: TemporalOutput, targets: AnticipationTargets, weights: LossWeights | None = None
) -> dict[str, torch.Tensor]:
    """Return each weighted term and their sum under ``"total"``."""
    weights = weights or LossWeights()
    num_classes = output.segmentation_logits.shape[-1]
    segmentation = F.cross_entropy(
        output.segmentation_logits.reshape(-1, num_classes),
        targets.segmentation.reshape(-1),
        ignore_index=IGNORE,
    )
    action = F.cross_entropy(
        output.action_logits.reshape(-1, num_classes + 1),
        targets.future_classes.reshape(-1),
        ignore_index=IGNORE,
    )
    real_segment = (targets.future_classes >= 0) & (targets.future_classes < num_classes)
    real_segment &= torch.isfinite(targets.future_durations)
    if real_segment.any():
        duration = F.mse_loss(output.durations[real_segment], targets.future_durations[real_segment])
    else:
        duration = output.durations.sum() * 0.0
    terms = {
        "segmentation": weights.segmentation * segmentation,
        "action": weights.action * action,
        "duration": weights.duration * duration,
    }
    terms["total"] = terms["segmentation"] + terms["action"] + terms["duration"]
    return terms
