"""Per-frame pretraining of the encoders, before the windowed training.

Why: a windowed step encodes every frame of a few videos (see
:mod:`r3d_ros.train.batches`), so an epoch is only ``videos / batch_videos``
optimiser steps, each on frames of a few figures in a few rooms. Evidence that
lives in a few pixels of one modality (the synthetic benchmark's push and
pull differ only in the hands' depth) was still confused when that training
had plateaued. Here each encoder classifies single frames drawn from all
training videos at once, through a linear head that is dropped afterwards:
many more, decorrelated steps for the same encoder cost. The windowed
training then starts from these encoders.

Frames without a label, and for depth frames whose depth is missing, are
left out of that modality's loss. Under ``torchrun`` each process takes its
share of every batch and the gradients are averaged over processes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from r3d_ros.config import FramePretrainConfig
from r3d_ros.data.prepared import PreparedVideo
from r3d_ros.model.r3d import R3DModel
from r3d_ros.train.augment import Augmentation
from r3d_ros.train.distributed import DistributedContext, all_reduce_mean

LOG = logging.getLogger("r3d_ros.train")
WARMUP_FRACTION = 0.05  # of the pretraining steps, linear learning-rate warm-up


def cosine_with_warmup(step: int, warmup: int, total: int) -> float:
    """Learning-rate factor: linear warm-up, then cosine decay to zero."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def frame_batches(
    videos: Sequence[PreparedVideo], batch_frames: int, rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray]]:
    """One epoch of labelled frames in random order: (video index, frame index) per batch.

    A last batch shorter than half ``batch_frames`` is dropped (BatchNorm on a
    handful of frames is noise).
    """
    video = np.concatenate([np.full(len(v), i) for i, v in enumerate(videos)])
    frame = np.concatenate([np.arange(len(v)) for v in videos])
    labelled = np.concatenate([v.labels >= 0 for v in videos])
    order = rng.permutation(np.flatnonzero(labelled))
    batches = [order[i : i + batch_frames] for i in range(0, len(order), batch_frames)]
    if batches and len(batches[-1]) < max(2, batch_frames // 2):
        batches.pop()
    return [(video[b], frame[b]) for b in batches]


def gather(
    videos: Sequence[PreparedVideo],
    video: np.ndarray,
    frame: np.ndarray,
    augmentation: Augmentation,
    rng: np.random.Generator,
) -> dict[str, torch.Tensor]:
    """The frames' images (augmented per frame as configured), depth presence and labels as tensors."""
    pairs = list(zip(video, frame, strict=True))
    rgb = np.stack([videos[v].rgb[f] for v, f in pairs])
    depth = np.stack([videos[v].depth[f] for v, f in pairs])
    rgb, depth = augmentation.apply(rgb, depth, rng, per_frame=True)
    return {
        "rgb": torch.from_numpy(rgb).float(),
        "depth": torch.from_numpy(depth).float(),
        "depth_present": torch.from_numpy(np.array([videos[v].depth_present[f] for v, f in pairs])),
        "labels": torch.from_numpy(np.array([videos[v].labels[f] for v, f in pairs])),
    }


def pretrain_encoders(
    model: R3DModel,
    videos: Sequence[PreparedVideo],
    config: FramePretrainConfig,
    augmentation: Augmentation,
    seed: int,
    device: torch.device,
    dist: DistributedContext,
    heads: nn.ModuleDict | None = None,
) -> list[dict[str, float]]:
    """Train ``model``'s RGB and depth encoders as per-frame classifiers; one row of statistics per epoch.

    ``heads`` ("rgb" and "depth": linear token -> class) are made here when not
    given; a caller that passes its own keeps them trained (a probe scoring
    the encoders on frames they never saw).
    """
    num_classes = model.config.model.num_classes
    token_dim = model.config.model.token_dim
    torch.manual_seed(seed * 1_000_003 + 104_729)
    encoders = {"rgb": model.rgb_encoder, "depth": model.depth_encoder}
    if heads is None:
        heads = nn.ModuleDict({name: nn.Linear(token_dim, num_classes) for name in encoders})
    heads = heads.to(device)
    parameters = [p for module in (*encoders.values(), heads) for p in module.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=config.lr, weight_decay=model.config.train.weight_decay)
    epochs = [
        frame_batches(videos, config.batch_frames, np.random.default_rng([seed, 104_729, epoch]))
        for epoch in range(config.epochs)
    ]
    total = sum(len(batches) for batches in epochs)
    warmup = max(1, round(WARMUP_FRACTION * total))
    rows, step = [], 0
    for encoder in encoders.values():
        encoder.train()
    for epoch, batches in enumerate(epochs, start=1):
        augment_rng = np.random.default_rng([seed, 104_729, epoch, 1])
        sums = {"loss/rgb": 0.0, "loss/depth": 0.0, "accuracy/rgb": 0.0, "accuracy/depth": 0.0}
        counts = {"rgb": 0.0, "depth": 0.0}
        for video, frame in batches:
            for group in optimizer.param_groups:
                group["lr"] = config.lr * cosine_with_warmup(step, warmup, total)
            mine = slice(dist.rank, None, dist.world_size)
            batch = {
                k: v.to(device) for k, v in gather(videos, video[mine], frame[mine], augmentation, augment_rng).items()
            }
            present = {"rgb": torch.ones_like(batch["depth_present"]), "depth": batch["depth_present"]}
            optimizer.zero_grad(set_to_none=True)
            loss = torch.zeros((), device=device)
            for name, encoder in encoders.items():
                keep = present[name]
                if not keep.any():
                    continue
                logits = heads[name](encoder(batch[name][keep]))
                labels = batch["labels"][keep]
                ce = F.cross_entropy(logits, labels)
                loss = loss + ce
                sums[f"loss/{name}"] += float(ce.detach()) * len(labels)
                sums[f"accuracy/{name}"] += float((logits.argmax(1) == labels).sum())
                counts[name] += len(labels)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"per-frame pretraining loss is {float(loss)} at epoch {epoch}, step {step}")
            loss.backward()
            if dist.enabled:
                for parameter in parameters:  # every process reduces every parameter, used here or not
                    grad = parameter.grad if parameter.grad is not None else torch.zeros_like(parameter)
                    parameter.grad = all_reduce_mean(grad, dist)
            optimizer.step()
            step += 1
        row = {k: v / max(counts[k.split("/")[1]], 1.0) for k, v in sums.items()}
        LOG.info(
            "pretraining epoch %d/%d: per-frame accuracy rgb %.3f depth %.3f (training frames)",
            epoch, config.epochs, row["accuracy/rgb"], row["accuracy/depth"],
        )  # fmt: skip
        rows.append({"pretrain_epoch": epoch, **{f"pretrain/{k}": v for k, v in row.items()}})
    return rows
