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


def teacher_frames(teacher: R3DModel, batch: Batch, config: TeacherConfig | None = None) -> torch.Tensor:
    """(S, W) bool: real window frames on which the teacher reads at least one of its modalities.

    With ``config.student_alone``: only those on which the student has no modality the teacher
    lacks either; with ``alone_over: window`` too, only in windows none of whose frames has one.
    """
    config = config or TeacherConfig()
    student_alone, whole_window = config.student_alone, config.alone_over == "window"
    rgb, depth = teacher_present(teacher, batch)
    beyond = (batch.rgb_present & ~rgb) | (batch.depth_present & ~depth)  # what the student sees and the teacher not
    readable = rgb | depth
    if student_alone:
        readable = readable & ~beyond
    keep = pad(readable)[batch.window_index] & batch.window_mask
    if student_alone and whole_window:
        keep = keep & ~(pad(beyond)[batch.window_index] & batch.window_mask).any(dim=1, keepdim=True)
    return keep


def pad(per_frame: torch.Tensor) -> torch.Tensor:
    """Per-frame values (flags or tokens) with a zero (False) row appended for the windows' padding index."""
    return torch.cat([per_frame, per_frame.new_zeros(1, *per_frame.shape[1:])])


def teacher_logits(teacher: R3DModel, batch: Batch, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The teacher's segmentation and live logits on the windows ``rows``, encoding only the frames they hold."""
    index = batch.window_index[rows]
    needed = torch.unique(index[index < len(batch.rgb)])
    local = torch.full((len(batch.rgb) + 1,), len(needed), dtype=torch.long, device=index.device)
    local[needed] = torch.arange(len(needed), device=index.device)
    rgb, depth = teacher_present(teacher, batch)
    with torch.no_grad():
        frames = teacher.encode_frames(batch.rgb[needed], batch.depth[needed], rgb[needed], depth[needed])
        return teacher.temporal.frame_logits(pad(frames.fused)[local[index]], batch.window_mask[rows])


def teacher_loss(
    teacher: R3DModel, batch: Batch, output: TemporalOutput, config: TeacherConfig, count: torch.Tensor
) -> torch.Tensor:
    """Weighted T^2 KL(teacher || student) of the segmentation (and live) logits, summed over ``count`` frames."""
    keep = teacher_frames(teacher, batch, config)
    rows = keep.any(dim=1)
    total = output.segmentation_logits.sum() * 0.0
    if not bool(rows.any()):
        return total
    segmentation, live = teacher_logits(teacher, batch, rows)
    keep = keep[rows]
    pairs = [(output.segmentation_logits[rows], segmentation)]
    if output.live_logits is not None and live is not None:
        pairs.append((output.live_logits[rows], live))
    t = config.temperature
    for student_logits, logits in pairs:
        target = F.softmax(logits[keep] / t, dim=-1)
        total = total + F.kl_div(F.log_softmax(student_logits[keep] / t, dim=-1), target, reduction="sum")
    return config.weight * t * t * total / count.clamp_min(1e-6)
