"""The R3D fusion network: per-frame encoders and token fuser, temporal anticipation model, EBR."""

from r3d_ros.model.checkpoint import ModelFileError, load_model, save_model
from r3d_ros.model.losses import IGNORE, AnticipationTargets, LossWeights, anticipation_losses
from r3d_ros.model.r3d import FrameFeatures, R3DModel, R3DOutput
from r3d_ros.model.temporal import TemporalOutput

__all__ = [
    "IGNORE",
    "AnticipationTargets",
    "FrameFeatures",
    "LossWeights",
    "ModelFileError",
    "R3DModel",
    "R3DOutput",
    "TemporalOutput",
    "anticipation_losses",
    "load_model",
    "save_model",
]
