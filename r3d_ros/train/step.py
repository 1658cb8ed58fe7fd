"""One training forward pass as a module, so DistributedDataParallel can wrap all of it.

The step encodes every frame of the batch once (per-frame path), gathers the
observation windows from the fused tokens, runs the temporal model, and adds
the configured remedies: EBR's adversarial and reconstruction terms,
auxiliary per-modality heads (RSC-MD-style), cross-modal distillation and
distillation from a teacher model file.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from r3d_ros.config import R3DConfig, TeacherConfig
from r3d_ros.model.ebr import DEPTH, RGB
from r3d_ros.model.losses import IGNORE, LossWeights, anticipation_losses, loss_counts
from r3d_ros.model.r3d import R3DModel
from r3d_ros.train.batches import Batch
from r3d_ros.train.remedies import AuxiliaryHeads, distillation_loss, ebr_adversarial_loss
from r3d_ros.train.teacher import teacher_frames, teacher_loss


class TrainStep(nn.Module):
    """Model + training-only heads; ``forward(batch)`` returns every loss term."""

    def __init__(self, model: R3DModel, config: R3DConfig, teacher: R3DModel | None = None) -> None:
        super().__init__()
        self.model = model
        # A frozen teacher (train.teacher), kept in a tuple so it is no submodule: never optimised or saved.
        self.teacher = (teacher,) if teacher is not None else ()
        self.config = config.train
        train = config.train
        self.weights = LossWeights(train.loss_segmentation, train.loss_future, train.loss_next, train.loss_remaining)
        needs_heads = config.train.rsc.enabled or config.train.distill.enabled
        self.aux = AuxiliaryHeads(config.model.token_dim, config.model.num_classes) if needs_heads else None

    def forward(
        self,
        batch: Batch,
        counts: dict[str, torch.Tensor] | None = None,
        adversarial_weight: float = 0.0,
        step: int = 0,
    ) -> dict[str, torch.Tensor]:
        """Loss terms (``total`` is what is optimised) and logging-only statistics.

        ``counts`` are the denominators of every averaged term (see
        :func:`batch_counts`); a distributed run passes global counts so that
        averaging gradients over processes equals single-process training.
        """
        model = self.model
        counts = counts or batch_counts(batch, *self.teacher, teacher_config=self.config.teacher)
        frames = model.encode_frames(batch.rgb, batch.depth, batch.rgb_present, batch.depth_present)
        padded = torch.cat([frames.fused, frames.fused.new_zeros(1, frames.fused.shape[1])])
        output = model.forward_temporal(padded[batch.window_index], batch.window_mask)
        losses = anticipation_losses(output, batch.targets, self.weights, counts)
        total = losses["total"]
        both = batch.rgb_present & batch.depth_present
        if model.ebr is not None:
            adversarial, discriminator_ce = ebr_adversarial_loss(
                model.ebr,
                frames.rgb_projection[both],
                frames.depth_projection[both],
                self.config.ebr,
                adversarial_weight,
                step,
                2 * counts["both"],
            )
            total = total + adversarial
            losses["discriminator_ce"] = discriminator_ce
            losses["projection_norm"] = torch.cat([frames.rgb_projection, frames.depth_projection]).norm(dim=1).mean()
            ebr_config = self.config.ebr
            if ebr_config.reconstruction_weight > 0:
                error = relative_error(frames.rgb[both], frames.rgb_encoded[both], counts["both"])
                error = error + relative_error(frames.depth[both], frames.depth_encoded[both], counts["both"])
                losses["reconstruction"] = ebr_config.reconstruction_weight * error
                total = total + losses["reconstruction"]
            if ebr_config.cross_reconstruction_weight > 0:
                ebr = model.ebr
                as_depth = ebr.decoders[DEPTH](ebr.substitute(frames.rgb_projection[both], DEPTH))
                as_rgb = ebr.decoders[RGB](ebr.substitute(frames.depth_projection[both], RGB))
                error = relative_error(as_depth, frames.depth_encoded[both], counts["both"])
                error = error + relative_error(as_rgb, frames.rgb_encoded[both], counts["both"])
                losses["cross_reconstruction"] = ebr_config.cross_reconstruction_weight * error
                total = total + losses["cross_reconstruction"]
        if self.aux is not None:
            tokens = {"rgb": frames.rgb, "depth": frames.depth, "fused": frames.fused}
            logits = self.aux(tokens)
            losses["aux_logits"] = {k: v.detach() for k, v in logits.items()}

            present = {"rgb": batch.rgb_present, "depth": batch.depth_present}
            present["fused"] = present["rgb"] | present["depth"]

            def labelled_ce(branch: str) -> torch.Tensor:
                """Per-frame CE of ``branch``'s head over the labelled frames where that modality was seen."""
                labels = batch.frame_labels.masked_fill(~present[branch], IGNORE)
                ce = F.cross_entropy(logits[branch], labels, ignore_index=IGNORE, reduction="sum")
                return ce / counts[f"labelled_{branch}"].clamp_min(1e-6)

            if self.config.rsc.enabled:
                losses["auxiliary"] = self.config.rsc.aux_weight * (labelled_ce("rgb") + labelled_ce("depth"))
                total = total + losses["auxiliary"]
            if self.config.distill.enabled:
                # The teacher head learns from labels on detached tokens, so distillation
                # never changes the teacher branch's encoder.
                teacher = self.config.distill.teacher
                logits[teacher] = self.aux.heads[teacher](tokens[teacher].detach())
                kd = distillation_loss(logits, self.config.distill, counts["frames"])
                losses["distillation"] = kd + labelled_ce(teacher)
                total = total + losses["distillation"]
        if self.teacher:
            losses["teacher"] = teacher_loss(self.teacher[0], batch, output, self.config.teacher, counts["teacher"])
            total = total + losses["teacher"]
        losses["total"] = total
        return losses


def relative_error(estimate: torch.Tensor, target: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Squared error per frame relative to the target's mean squared norm, averaged over ``count`` frames.

    Dividing by the target's own (detached) scale makes the term scale-invariant:
    the encoders cannot shrink it by shrinking their features. No frames (a
    batch without both modalities, e.g. a single-modality baseline's) is 0, not NaN.
    """
    if len(target) == 0:
        return estimate.sum() * 0.0
    scale = target.detach().pow(2).sum(1).mean().clamp_min(1e-6)
    return (estimate - target).pow(2).sum() / scale / count.clamp_min(1e-6)


def batch_counts(
    batch: Batch, teacher: R3DModel | None = None, teacher_config: TeacherConfig | None = None
) -> dict[str, torch.Tensor]:
    """Denominators of every averaged loss term for this batch alone (``teacher``: the frames it teaches on)."""
    counts = loss_counts(batch.targets)
    counts["both"] = (batch.rgb_present & batch.depth_present).sum()
    labelled = batch.frame_labels != IGNORE
    counts["labelled_rgb"] = (labelled & batch.rgb_present).sum()
    counts["labelled_depth"] = (labelled & batch.depth_present).sum()
    counts["labelled_fused"] = (labelled & (batch.rgb_present | batch.depth_present)).sum()
    counts["frames"] = torch.tensor(len(batch.frame_labels), device=batch.frame_labels.device)
    if teacher is not None:
        counts["teacher"] = teacher_frames(teacher, batch, teacher_config).sum()
    return {key: value.float() for key, value in counts.items()}
