"""Training-time remedies for modality collapse: EBR's adversarial game, KD, RSC-MD balancing.

Sign conventions (the tests check them):

- EBR: the discriminator psi minimises the modality-identification
  cross-entropy on the projections h_i(f_i(x)); encoders and projectors
  *maximise* it. In ``grl`` mode a gradient-reversal layer sits between the
  projections and psi, so one backward pass gives psi the descent direction
  and the encoders the ascent direction scaled by the adversarial weight. In
  ``alternating`` mode even steps update psi on detached projections and odd
  steps push the encoders against a frozen copy of psi.
- KD: a student branch's per-frame class distribution is pulled towards the
  teacher branch's (detached) distribution: ``T^2 KL(teacher || student)``.
- RSC-MD-style: each modality has an auxiliary per-frame classifier, so each
  branch receives its own gradient; the measured imbalance (ratio of the mean
  true-class probabilities of the strong and weak branch) amplifies the weak
  branch's encoder gradient (after backward, as OGM-GE modulates gradients)
  by ``clip(ratio ** power, 1, max_gain)``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from r3d_ros.config import DistillConfig, EBRTrainConfig, RSCConfig
from r3d_ros.model.ebr import DEPTH, RGB, ExplicitBasisReallocation


class GradientReversal(torch.autograd.Function):
    """Identity forward; gradient multiplied by ``-scale`` backward."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor, scale: float) -> torch.Tensor:
        """Pass ``x`` through unchanged."""
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        """Reverse and scale the incoming gradient."""
        return -ctx.scale * grad, None


def modality_labels(z_rgb: torch.Tensor, z_depth: torch.Tensor) -> torch.Tensor:
    """Targets of the modality discriminator: 0 for RGB projections, 1 for depth."""
    return torch.cat([torch.full((len(z_rgb),), RGB), torch.full((len(z_depth),), DEPTH)]).to(z_rgb.device)


def ebr_adversarial_loss(
    ebr: ExplicitBasisReallocation,
    z_rgb: torch.Tensor,
    z_depth: torch.Tensor,
    config: EBRTrainConfig,
    weight: float,
    step: int,
    count: torch.Tensor | float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss to add to the total, discriminator cross-entropy for logging) for one step.

    The discriminator always minimises its modality-ID cross-entropy. The
    encoders and projectors, with ``weight``, either maximise it (``reverse``)
    or pull the discriminator's output towards uniform (``confusion``). In
    ``grl`` mode both happen in every step; in ``alternating`` mode even steps
    train the discriminator on detached projections and odd steps the encoders
    against the frozen discriminator. Sums are divided by ``count`` projections
    (default: this batch's, i.e. a mean; a distributed run passes its global share).
    """
    targets = modality_labels(z_rgb, z_depth)
    projections = torch.cat([z_rgb, z_depth])
    count = max(float(len(projections) if count is None else count), 1e-6)

    def cross_entropy(logits: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, targets, reduction="sum") / count

    def encoder_term() -> torch.Tensor:
        frozen = {name: p.detach() for name, p in ebr.discriminator.named_parameters()}
        logits = functional_call(ebr.discriminator, frozen, (projections,))
        if config.objective == "reverse":
            return -weight * cross_entropy(logits)
        return weight * -F.log_softmax(logits, dim=-1).mean(-1).sum() / count

    if config.mode == "grl" and config.objective == "reverse":
        loss = cross_entropy(ebr.discriminate(GradientReversal.apply(projections, weight)))
        return loss, loss.detach()
    discriminator_ce = cross_entropy(ebr.discriminate(projections.detach()))
    if config.mode == "grl":
        return discriminator_ce + encoder_term(), discriminator_ce.detach()
    if step % 2 == 0:
        return discriminator_ce, discriminator_ce.detach()
    return encoder_term(), discriminator_ce.detach()


def adversarial_weight(config: EBRTrainConfig, epoch_progress: float) -> float:
    """Adversarial weight after ``epoch_progress`` epochs (linear ramp over ``ramp_epochs``)."""
    if config.ramp_epochs == 0:
        return config.weight
    return config.weight * min(1.0, epoch_progress / config.ramp_epochs)


class AuxiliaryHeads(nn.Module):
    """Per-frame action classifiers on the RGB, depth and fused tokens (training only)."""

    BRANCHES = ("rgb", "depth", "fused")

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__()
        self.heads = nn.ModuleDict({branch: nn.Linear(dim, num_classes) for branch in self.BRANCHES})

    def forward(self, tokens: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Logits per branch for the tokens given."""
        return {branch: self.heads[branch](x) for branch, x in tokens.items()}


def distillation_loss(
    logits: dict[str, torch.Tensor], config: DistillConfig, count: torch.Tensor | float | None = None
) -> torch.Tensor:
    """T^2 KL(teacher || student) on per-frame class distributions, teacher detached, averaged over ``count`` frames."""
    t = config.temperature
    teacher = F.softmax(logits[config.teacher].detach() / t, dim=-1)
    student = F.log_softmax(logits[config.student] / t, dim=-1)
    count = len(teacher) if count is None else count
    return config.weight * t * t * F.kl_div(student, teacher, reduction="sum") / max(float(count), 1e-6)


def imbalance_gains(logits: dict[str, torch.Tensor], labels: torch.Tensor, config: RSCConfig) -> dict[str, float]:
    """Gradient gains for the RGB and depth encoders from their auxiliary heads' confidence."""
    labelled = labels >= 0
    if not config.amplify or not labelled.any():
        return {"rgb": 1.0, "depth": 1.0}
    score = {
        branch: float(F.softmax(logits[branch][labelled].detach(), -1).gather(1, labels[labelled, None]).mean())
        for branch in ("rgb", "depth")
    }
    strong, weak = sorted(score, key=score.get, reverse=True)
    ratio = score[strong] / max(score[weak], 1e-6)
    return {strong: 1.0, weak: float(min(max(ratio**config.power, 1.0), config.max_gain))}
