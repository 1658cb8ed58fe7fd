"""One training forward pass as a module, so DistributedDataParallel can wrap all of it.

The step encodes every frame of the batch once (per-frame path), gathers the
observation windows from the fused tokens, runs the temporal model, and adds
the configured remedies: EBR's adversarial and reconstruction terms,
auxiliary per-modality heads (RSC-MD-style) and cross-modal distillation.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from r3d_ros.config import R3DConfig
from r3d_ros.model.losses import IGNORE, LossWeights, anticipation_losses
from r3d_ros.model.r3d import R3DModel
from r3d_ros.train.batches import Batch
from r3d_ros.train.remedies import AuxiliaryHeads, distillation_loss, ebr_adversarial_loss


class TrainStep(nn.Module):
    """Model + training-only heads; ``forward(batch)`` returns every loss term."""

    def __init__(self, model: R3DModel, config: R3DConfig) -> None:
        super().__init__()
        self.model = model
        self.config = config.train
        self.weights = LossWeights(config.train.loss_segmentation, config.train.loss_action, config.train.loss_duration)
        needs_heads = config.train.rsc.enabled or config.train.distill.enabled
        self.aux = AuxiliaryHeads(config.model.token_dim, config.model.num_classes) if needs_heads else None
        self.encoder_tokens: dict[str, torch.Tensor] = {}
        if model.ebr is not None and config.train.ebr.reconstruction_weight > 0:
            model.rgb_encoder.register_forward_hook(self._keep("rgb"))
            model.depth_encoder.register_forward_hook(self._keep("depth"))

    def _keep(self, name: str):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            self.encoder_tokens[name] = output

        return hook

    def forward(self, batch: Batch, adversarial_weight: float = 0.0, step: int = 0) -> dict[str, torch.Tensor]:
        """Loss terms (``total`` is what is optimised) and logging-only statistics."""
        model = self.model
        frames = model.encode_frames(batch.rgb, batch.depth, batch.rgb_present, batch.depth_present)
        padded = torch.cat([frames.fused, frames.fused.new_zeros(1, frames.fused.shape[1])])
        output = model.forward_temporal(padded[batch.window_index], batch.window_mask)
        losses = anticipation_losses(output, batch.targets, self.weights)
        total = losses["total"]
        if model.ebr is not None:
            both = batch.rgb_present & batch.depth_present
            adversarial, discriminator_ce = ebr_adversarial_loss(
                model.ebr,
                frames.rgb_projection[both],
                frames.depth_projection[both],
                self.config.ebr,
                adversarial_weight,
                step,
            )
            total = total + adversarial
            losses["discriminator_ce"] = discriminator_ce
            if self.config.ebr.reconstruction_weight > 0:
                reconstruction = F.mse_loss(frames.rgb[both], self.encoder_tokens["rgb"][both]) + F.mse_loss(
                    frames.depth[both], self.encoder_tokens["depth"][both]
                )
                losses["reconstruction"] = self.config.ebr.reconstruction_weight * reconstruction
                total = total + losses["reconstruction"]
        if self.aux is not None:
            tokens = {"rgb": frames.rgb, "depth": frames.depth, "fused": frames.fused}
            logits = self.aux(tokens)
            losses["aux_logits"] = {k: v.detach() for k, v in logits.items()}
            if self.config.rsc.enabled:
                aux = sum(F.cross_entropy(logits[b], batch.frame_labels, ignore_index=IGNORE) for b in ("rgb", "depth"))
                losses["auxiliary"] = self.config.rsc.aux_weight * aux
                total = total + losses["auxiliary"]
            if self.config.distill.enabled:
                # The teacher head learns from labels on detached tokens, so distillation
                # never changes the teacher branch's encoder.
                teacher = self.config.distill.teacher
                teacher_logits = self.aux.heads[teacher](tokens[teacher].detach())
                teacher_fit = F.cross_entropy(teacher_logits, batch.frame_labels, ignore_index=IGNORE)
                logits[teacher] = teacher_logits
                losses["distillation"] = distillation_loss(logits, self.config.distill) + teacher_fit
                total = total + losses["distillation"]
        losses["total"] = total
        return losses
