"""Training batches: every frame of a few videos, plus many observation windows over them.

Overlapping windows share frames, so a step encodes each frame of its videos
once (the per-frame path, as in deployment) and gathers the windows from the
encoded tokens by index. This makes a step's cost proportional to the frames
it touches, not to windows x window length. Modality dropout removes RGB or
depth per frame with the configured probabilities; colour jitter, blur and zooming
out, when configured, change each video's colour response, focus and distance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from r3d_ros.config import R3DConfig
from r3d_ros.data.prepared import PreparedVideo
from r3d_ros.data.sampling import remaining_after, sample_window_ends, window_targets
from r3d_ros.model.losses import IGNORE, AnticipationTargets
from r3d_ros.train.augment import Augmentation


@dataclass
class Batch:
    """Frames of the step's videos and the windows over them."""

    rgb: torch.Tensor  # (F, 3, H, W)
    depth: torch.Tensor  # (F, 2, H, W)
    rgb_present: torch.Tensor  # (F,) bool
    depth_present: torch.Tensor  # (F,) bool
    frame_labels: torch.Tensor  # (F,) long, IGNORE where unlabeled
    window_index: torch.Tensor  # (S, W) long into the F frames; F means padding
    window_mask: torch.Tensor  # (S, W) bool, True for real frames
    targets: AnticipationTargets

    def to(self, device: torch.device) -> Batch:
        """Move every tensor to ``device``."""
        names = list(self.__dataclass_fields__)[:-1]
        return Batch(*(getattr(self, name).to(device) for name in names), self.targets.to(device))


def make_batch(videos: Sequence[PreparedVideo], config: R3DConfig, rngs: Sequence[np.random.Generator]) -> Batch:
    """Sample ``train.windows_per_video`` windows from each video and collect their frames.

    Each video has its own random stream (``rngs``), so the windows and dropout
    a video gets do not depend on which process or batch it lands in.
    """
    train, timing = config.train, config.anticipation
    window, horizon = timing.window, timing.horizon_frames
    total = sum(len(v) for v in videos)
    indices, masks, segmentation, future, next_action, rgb_present, depth_present = [], [], [], [], [], [], []
    rgb_frames, depth_frames = [], []
    augmentation = Augmentation.of(train, config.model.input)
    offset = 0
    for video, rng in zip(videos, rngs, strict=True):
        for end in sample_window_ends(len(video), train.windows_per_video, train.min_observed, rng):
            start = max(0, int(end) - window)
            length = int(end) - start
            row = np.full(window, total, dtype=np.int64)
            row[:length] = np.arange(offset + start, offset + int(end))
            targets = window_targets(video.labels, int(end), window, horizon)
            seg = np.full(window, IGNORE, dtype=np.int64)
            seg[:length] = targets.segmentation
            indices.append(row)
            masks.append(np.arange(window) < length)
            segmentation.append(seg)
            future.append(targets.future)
            next_action.append(targets.next_action)
        offset += len(video)
        no_depth, no_rgb = rng.random(2) < (train.modality_dropout_depth_video, train.modality_dropout_rgb_video)
        depth = video.depth_present & (rng.random(len(video)) >= train.modality_dropout_depth) & ~no_depth
        rgb = ((rng.random(len(video)) >= train.modality_dropout_rgb) & ~no_rgb) | ~depth  # never drop both
        depth_present.append(depth)
        rgb_present.append(rgb)
        rgb_frame, depth_frame = augmentation.apply(video.rgb, video.depth, rng, per_frame=False)
        rgb_frames.append(rgb_frame)
        depth_frames.append(depth_frame)
    labels = np.concatenate([v.labels for v in videos])
    near_change = None  # (S, W) weights of the windows' frames near a change of action, through their indices
    if train.boundary_frames and train.boundary_weight != 1.0:
        weights = [boundary_weights(v.labels, train.boundary_frames, train.boundary_weight) for v in videos]
        near_change = np.concatenate([*weights, np.ones(1, np.float32)])[np.stack(indices)]  # padding: 1
    remaining = None  # (S, W) frames each window frame's action goes on after it, through their indices
    if config.model.temporal.remaining_frames:
        cap = config.model.temporal.remaining_frames
        after = [remaining_after(v.labels, cap) for v in videos]
        remaining = torch.from_numpy(np.concatenate([*after, np.full(1, IGNORE)])[np.stack(indices)])  # padding
    return Batch(
        rgb=torch.from_numpy(np.concatenate(rgb_frames)).float(),
        depth=torch.from_numpy(np.concatenate(depth_frames)).float(),
        rgb_present=torch.from_numpy(np.concatenate(rgb_present)),
        depth_present=torch.from_numpy(np.concatenate(depth_present)),
        frame_labels=torch.from_numpy(np.where(labels >= 0, labels, IGNORE)),
        window_index=torch.from_numpy(np.stack(indices)),
        window_mask=torch.from_numpy(np.stack(masks)),
        targets=AnticipationTargets(
            torch.from_numpy(np.stack(segmentation)),
            torch.from_numpy(np.stack(future)),
            torch.tensor(next_action, dtype=torch.int64),
            segmentation_weights(
                recent_weights(np.stack(masks), train.recent_frames, train.recent_weight),
                near_change,
            ),
            remaining,
        ),
    )


def boundary_weights(labels: np.ndarray, frames: int, weight: float) -> np.ndarray:
    """(T,) weights of a video's frames: ``weight`` within ``frames`` of a change of label (either side), else 1.

    Computed on the whole video, so a window that starts inside a segment has no boundary at its first frame.
    """
    weights = np.ones(len(labels), np.float32)
    for change in np.flatnonzero(np.diff(labels) != 0) + 1:
        weights[max(0, change - frames) : change + frames] = weight
    return weights


def segmentation_weights(recent: torch.Tensor | None, near_change: np.ndarray | None) -> torch.Tensor | None:
    """The product of the recent-frame and near-change weights (None when neither is on)."""
    if near_change is None:
        return recent
    boundary = torch.from_numpy(near_change.astype(np.float32))
    return boundary if recent is None else recent * boundary


def recent_weights(masks: np.ndarray, frames: int, weight: float) -> torch.Tensor | None:
    """(S, W) segmentation weights: ``weight`` on each window's last ``frames`` real frames, else 1 (None if off)."""
    if frames == 0 or weight == 1.0:
        return None
    age = masks.sum(axis=1, keepdims=True) - 1 - np.arange(masks.shape[1])  # 0 at the last real frame
    return torch.from_numpy(np.where(masks & (age < frames), weight, 1.0).astype(np.float32))
