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


def duration_mask(targets: AnticipationTargets, num_classes: int) -> torch.Tensor:
    """Queries whose duration is regressed: a real segment with a known length."""
    real = (targets.future_classes >= 0) & (targets.future_classes < num_classes)
    return real & torch.isfinite(targets.future_durations)


def loss_counts(targets: AnticipationTargets, num_classes: int) -> dict[str, torch.Tensor]:
    """How many targets each term averages over (what a distributed run sums across processes)."""
    return {
        "segmentation": (targets.segmentation != IGNORE).sum(),
        "action": (targets.future_classes != IGNORE).sum(),
        "duration": duration_mask(targets, num_classes).sum(),
    }


def anticipation_losses(
    output: TemporalOutput,
    targets: AnticipationTargets,
    weights: LossWeights | None = None,
    counts: dict[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Return each weighted term and their sum under ``"total"``.

    Each term is a sum over its targets divided by ``counts`` (default: this
    batch's own counts, i.e. a mean). A distributed run passes the global
    counts divided by the number of processes, so the averaged gradient equals
    that of one process seeing the whole global batch.
    """
    weights = weights or LossWeights()
    num_classes = output.segmentation_logits.shape[-1]
    counts = counts or loss_counts(targets, num_classes)
    segmentation = F.cross_entropy(
        output.segmentation_logits.reshape(-1, num_classes),
        targets.segmentation.reshape(-1),
        ignore_index=IGNORE,
        reduction="sum",
    )
    action = F.cross_entropy(
        output.action_logits.reshape(-1, num_classes + 1),
        targets.future_classes.reshape(-1),
        ignore_index=IGNORE,
        reduction="sum",
    )
    regressed = duration_mask(targets, num_classes)
    duration = F.mse_loss(output.durations[regressed], targets.future_durations[regressed], reduction="sum")
    terms = {
        "segmentation": weights.segmentation * segmentation / counts["segmentation"].clamp_min(1e-6),
        "action": weights.action * action / counts["action"].clamp_min(1e-6),
        "duration": weights.duration * duration / counts["duration"].clamp_min(1e-6),
    }
    terms["total"] = terms["segmentation"] + terms["action"] + terms["duration"]
    return terms
