"""Per-frame encoders: one small CNN per modality, trained from scratch.

Pretrained weights cannot be downloaded on the machines this runs on, so the
backbone is pluggable: ``BACKBONES`` maps a name to a constructor, and a
user-provided state dict can be loaded into it (safetensors, or a PyTorch file
read with ``weights_only=True``; never an arbitrary pickle).

Encoders keep a coarse spatial grid before the token projection instead of
pooling globally, because where the person is in the image (height above the
floor) is part of what distinguishes the depth-dependent actions.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from r3d_ros.config import EncoderConfig, InputConfig

# Channel statistics the RGB input is normalised with (fixed, so that training and
# deployment normalise identically without a data pass).
RGB_MEAN = 0.45
RGB_STD = 0.25
# Spatial grid kept before the token projection (rows, columns).
TOKEN_GRID = (3, 4)


def small_cnn(in_channels: int, channels: list[int]) -> nn.Sequential:
    """Stride-2 conv/BN/ReLU stages: cheap enough for 30 frames/s on two CPU cores."""
    layers: list[nn.Module] = []
    previous = in_channels
    for width in channels:
        layers += [
            nn.Conv2d(previous, width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ]
        previous = width
    return nn.Sequential(*layers)


BACKBONES: dict[str, Callable[[int, list[int]], nn.Module]] = {"small_cnn": small_cnn}


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict without executing code: safetensors, or torch.load(weights_only=True)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    return state


class FrameEncoder(nn.Module):
    """Image of one modality -> one token of ``token_dim`` channels."""

    def __init__(self, in_channels: int, config: EncoderConfig, token_dim: int, frame: InputConfig) -> None:
        super().__init__()
        if config.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {config.backbone!r}; available: {sorted(BACKBONES)}")
        self.backbone = BACKBONES[config.backbone](in_channels, list(config.channels))
        with torch.no_grad():
            feature_map = self.backbone.eval()(torch.zeros(1, in_channels, frame.height, frame.width))
        _, feature_channels, rows, cols = feature_map.shape
        if rows % TOKEN_GRID[0] or cols % TOKEN_GRID[1]:
            raise ValueError(
                f"input {frame.height}x{frame.width} gives a {rows}x{cols} feature map, not divisible by the "
                f"{TOKEN_GRID[0]}x{TOKEN_GRID[1]} token grid; choose model.input height/width accordingly"
            )
        self.pool = nn.AvgPool2d((rows // TOKEN_GRID[0], cols // TOKEN_GRID[1]))
        self.project = nn.Linear(feature_channels * TOKEN_GRID[0] * TOKEN_GRID[1], token_dim)
        if config.weights:
            self.backbone.load_state_dict(load_state_dict_file(config.weights))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W) -> (N, token_dim)."""
        return self.project(self.pool(self.backbone(images)).flatten(1))


class RGBEncoder(FrameEncoder):
    """RGB in [0, 1], (N, 3, H, W), normalised with fixed statistics."""

    def __init__(self, config: EncoderConfig, token_dim: int, frame: InputConfig) -> None:
        super().__init__(3, config, token_dim, frame)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] -> (N, token_dim)."""
        return super().forward((rgb - RGB_MEAN) / RGB_STD)


class DepthEncoder(FrameEncoder):
    """Metric depth: channel 0 is depth / max_depth_m (0 where invalid), channel 1 the valid mask."""

    def __init__(self, config: EncoderConfig, token_dim: int, frame: InputConfig) -> None:
        super().__init__(2, config, token_dim, frame)
