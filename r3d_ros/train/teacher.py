"""Distillation from a trained teacher model file: its per-frame class probabilities on every window frame.

Why: the fused model trained from scratch reads its frames worse than the
single-modality model of its own recipe reads that modality (docs/experiment.md).
A frozen teacher (e.g. that depth-only model) encodes the same batch with only
the modalities it was trained on; wherever it could read a window frame, the
student's bidirectional and live segmentation logits are pulled towards the
teacher's (Hinton et al.'s T^2 KL(teacher || student)), on top of the labels.
The teacher is never trained, saved with the student, or seen by the optimiser.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.nn import functional as F

from r3d_ros.config import ConfigError, R3DConfig, TeacherConfig
from r3d_ros.model.checkpoint import ModelFileError, load_model
from r3d_ros.model.r3d import R3DModel
from r3d_ros.model.temporal import TemporalOutput
from r3d_ros.train.batches import Batch

# What must match for the teacher's outputs to mean the same as the student's, frame for frame.
MATCHING = {
    "model.class_names": lambda c: list(c.model.class_names),
    "model.input": lambda c: c.model.input,
    "anticipation.fps": lambda c: c.anticipation.fps,
    "anticipation.window": lambda c: c.anticipation.window,
}


def load_teacher(config: TeacherConfig, student: R3DConfig, device: torch.device) -> tuple[R3DModel, str]:
    """The teacher model of ``config``, frozen in eval mode, and its model id; a file that does not fit is refused."""
    path = Path(config.model)
    if not path.is_file():
        raise ConfigError(f"train.teacher.model: no model file at {path}")
    try:
        teacher, metadata = load_model(path, device)
    except ModelFileError as error:
        raise ConfigError(f"train.teacher.model: {error}") from None
    for name, value in MATCHING.items():
        if value(teacher.config) != value(student):
            raise ConfigError(
                f"train.teacher.model: the teacher's {name} ({value(teacher.config)}) differs from the "
                f"student's ({value(student)})"
            )
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    return teacher.eval(), metadata["model_id"]


def teacher_present(teacher: R3DModel, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """(F,) RGB and depth presence flags as the teacher sees the batch: only its trained modalities."""
    modalities = teacher.config.train.trained_modalities
    rgb = batch.rgb_present if "rgb" in modalities else torch.zeros_like(batch.rgb_present)
    depth = batch.depth_present if "depth" in modalities else torch.zeros_like(batch.depth_present)
    return rgb, depth


def teacher_frames(teacher: R3DModel, batch: Batch, student_alone: bool = False) -> torch.Tensor:
    """(S, W) bool: real window frames on which the teacher reads at least one of its modalities.

    ``student_alone``: only those on which the student has no modality the teacher lacks either.
    """
    rgb, depth = teacher_present(teacher, batch)
    readable = rgb | depth
    if student_alone:
        readable = readable & ~(batch.rgb_present & ~rgb) & ~(batch.depth_present & ~depth)
    padded = torch.cat([readable, readable.new_zeros(1)])
    return padded[batch.window_index] & batch.window_mask


def teacher_loss(
    teacher: R3DModel, batch: Batch, output: TemporalOutput, config: TeacherConfig, count: torch.Tensor
) -> torch.Tensor:
    """Weighted T^2 KL(teacher || student) of the segmentation (and live) logits, summed over ``count`` frames."""
    with torch.no_grad():
        rgb, depth = teacher_present(teacher, batch)
        frames = teacher.encode_frames(batch.rgb, batch.depth, rgb, depth)
        padded = torch.cat([frames.fused, frames.fused.new_zeros(1, frames.fused.shape[1])])
        segmentation, live = teacher.temporal.frame_logits(padded[batch.window_index], batch.window_mask)
    keep = teacher_frames(teacher, batch, config.student_alone)
    pairs = [(output.segmentation_logits, segmentation)]
    if output.live_logits is not None and live is not None:
        pairs.append((output.live_logits, live))
    t = config.temperature
    total = output.segmentation_logits.new_zeros(())
    for student_logits, teacher_logits in pairs:
        target = F.softmax(teacher_logits[keep] / t, dim=-1)
        total = total + F.kl_div(F.log_softmax(student_logits[keep] / t, dim=-1), target, reduction="sum")
    return config.weight * t * t * total / count.clamp_min(1e-6)
