"""Anticipation losses: cross-entropies of the observed segmentation, the future frames and the next action.

Targets use ``IGNORE`` (-100) wherever there is nothing to learn: padded frames
of the observed window, future frames past the end of the recording (what
happens there is unknown, so it is not guessed), and the next action when the
recording ends before the current action does. Each term is a sum over its
targets divided by their count, so padding can neither dilute nor bias any term.
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
    future: torch.Tensor  # (B, F) long: class at each future frame, IGNORE past the recording's end
    next_action: torch.Tensor  # (B,) long: class of the segment after the current one, or IGNORE
    # (B, T) float: weight of each observed frame in the segmentation term (None: all 1).
    segmentation_weight: torch.Tensor | None = None
    # (B, T) long: frames each observed frame's action goes on after it, capped at the head's last bin,
    # IGNORE where unknown (None: the model has no remaining-frames head).
    remaining: torch.Tensor | None = None

    def to(self, device: torch.device) -> AnticipationTargets:
        """Move every tensor to ``device``."""
        weight = None if self.segmentation_weight is None else self.segmentation_weight.to(device)
        remaining = None if self.remaining is None else self.remaining.to(device)
        return AnticipationTargets(
            self.segmentation.to(device), self.future.to(device), self.next_action.to(device), weight, remaining
        )


@dataclass
class LossWeights:
    """Relative weights of the three anticipation terms."""

    segmentation: float = 1.0
    future: float = 1.0
    next: float = 0.5
    remaining: float = 1.0


TERMS = {"segmentation": "segmentation", "future": "future", "next": "next_action"}


def loss_counts(targets: AnticipationTargets) -> dict[str, torch.Tensor]:
    """How many targets each term averages over (what a distributed run sums across processes).

    The segmentation term counts its frames by their weights, so it stays a weighted mean.
    """
    counts = {term: (getattr(targets, field) != IGNORE).sum() for term, field in TERMS.items()}
    if targets.remaining is not None:
        counts["remaining"] = (targets.remaining != IGNORE).sum()
    if targets.segmentation_weight is not None:
        counts["segmentation"] = (targets.segmentation_weight * (targets.segmentation != IGNORE)).sum()
    return counts


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
    counts = counts or loss_counts(targets)
    logits = {
        "segmentation": output.segmentation_logits,
        "future": output.future_logits,
        "next": output.next_logits,
    }
    terms = {}
    for term, field in TERMS.items():
        flat_logits = logits[term].reshape(-1, logits[term].shape[-1])
        flat_targets = getattr(targets, field).reshape(-1)
        weight = targets.segmentation_weight if term == "segmentation" else None
        if weight is None:  # the unweighted sum exactly as before weights existed (runs reproduce bit for bit)
            summed = F.cross_entropy(flat_logits, flat_targets, ignore_index=IGNORE, reduction="sum")
        else:
            per_target = F.cross_entropy(flat_logits, flat_targets, ignore_index=IGNORE, reduction="none")
            summed = (per_target * weight.reshape(-1)).sum()
        terms[term] = getattr(weights, term) * summed / counts[term].clamp_min(1e-6)
    terms["total"] = terms["segmentation"] + terms["future"] + terms["next"]
    if output.live_logits is not None:  # the causal live stack segments every frame, weighted as segmentation
        flat_logits = output.live_logits.reshape(-1, output.live_logits.shape[-1])
        flat_targets = targets.segmentation.reshape(-1)
        per_target = F.cross_entropy(flat_logits, flat_targets, ignore_index=IGNORE, reduction="none")
        if targets.segmentation_weight is not None:
            per_target = per_target * targets.segmentation_weight.reshape(-1)
        terms["live_segmentation"] = weights.segmentation * per_target.sum() / counts["segmentation"].clamp_min(1e-6)
        terms["total"] = terms["total"] + terms["live_segmentation"]
    if output.remaining_logits is not None and targets.remaining is not None:  # every frame's remaining frames
        flat_logits = output.remaining_logits.reshape(-1, output.remaining_logits.shape[-1])
        flat_targets = targets.remaining.reshape(-1)
        summed = F.cross_entropy(flat_logits, flat_targets, ignore_index=IGNORE, reduction="sum")
        count = (flat_targets != IGNORE).sum() if counts.get("remaining") is None else counts["remaining"]
        terms["remaining"] = weights.remaining * summed / count.clamp_min(1e-6)
        terms["total"] = terms["total"] + terms["remaining"]
    return terms
