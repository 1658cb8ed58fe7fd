"""Process-group set-up for ``torchrun`` and BatchNorm that normalises over all processes.

The trainer runs unchanged as one process or under ``torchrun`` (multi-GPU,
multi-node): torchrun's environment variables (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR/PORT) select the process group, NCCL on GPUs and gloo on CPUs.

BatchNorm statistics must come from the whole global batch, otherwise the
fuser's channel scores and the normalisation differ from single-process
training. On CUDA PyTorch's SyncBatchNorm does this; it does not run on CPU, so
:class:`AllReduceBatchNorm` all-reduces the per-channel sums with a
differentiable collective there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.nn.functional import all_reduce


@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True for the process that logs, evaluates and writes checkpoints."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """True when more than one process trains."""
        return self.world_size > 1


def init_distributed(device: torch.device) -> DistributedContext:
    """Join the process group described by torchrun's environment (single process when absent)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistributedContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def shutdown_distributed(context: DistributedContext) -> None:
    """Leave the process group."""
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()


class AllReduceBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm (any input rank) whose training statistics are summed over all processes."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input, got {input.dim()}D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise with the global batch's mean and variance while training."""
        if not self.training or not (dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        channels = x.shape[1]
        dims = [0, *range(2, x.dim())]
        count = torch.full((1,), x.numel() / channels, dtype=x.dtype, device=x.device)
        totals = all_reduce(torch.cat([x.sum(dims), (x * x).sum(dims), count]))
        n = totals[-1]
        mean = totals[:channels] / n
        var = (totals[channels : 2 * channels] / n - mean * mean).clamp_min(0)
        with torch.no_grad():
            self.num_batches_tracked += 1
            unbiased = var * (n / (n - 1).clamp_min(1))
            self.running_mean.lerp_(mean.detach(), self.momentum)
            self.running_var.lerp_(unbiased.detach(), self.momentum)
        shape = [1, channels] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def convert_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Replace every BatchNorm by a cross-process one (SyncBatchNorm on CUDA), keeping names and parameters."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            replacement = AllReduceBatchNorm(child.num_features, child.eps, child.momentum, child.affine)
            replacement.load_state_dict(child.state_dict())
            if child.affine:  # keep the parameter objects an optimizer may already hold
                replacement.weight, replacement.bias = child.weight, child.bias
            setattr(module, name, replacement)
        else:
            convert_batchnorm(child, device)
    return module


def all_reduce_mean(values: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """Average a tensor over processes (identity for a single process)."""
    if not context.enabled:
        return values
    values = values.clone()
    dist.all_reduce(values)
    return values / context.world_size
