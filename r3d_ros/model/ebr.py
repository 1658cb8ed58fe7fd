"""Explicit Basis Reallocation (EBR, Chaudhuri et al., ICML 2025) modules.

Each modality i gets a projector h_i and a decoder h_i^-1 (two-layer MLPs)
around its encoder output f_i(x): the fuser consumes h_i^-1(h_i(f_i(x))). A
modality discriminator psi reads the projections h_i(f_i(x)) and is trained to
tell the modalities apart while encoders and projectors are trained to fool it
(the trainer implements the adversarial game). The projected spaces therefore
share a basis, and a missing modality can be substituted at test time by
decoding the present modality's projection through the missing modality's
decoder, optionally after an affine map fitted on training data.

Scale control: with ``normalize_projections`` each projection goes through a
parameter-free LayerNorm. Without it the encoders can escape the adversary by
scale (a discriminator on unbounded inputs is defeated, or made overconfident,
by growing the projections' norm rather than by sharing a basis); measured in
docs/experiment.md.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from r3d_ros.config import EBRConfig

RGB, DEPTH = 0, 1


def mlp(dim_in: int, hidden: int, dim_out: int) -> nn.Sequential:
    """Two-layer perceptron with a GELU in between."""
    return nn.Sequential(nn.Linear(dim_in, hidden), nn.GELU(), nn.Linear(hidden, dim_out))


class ExplicitBasisReallocation(nn.Module):
    """Projectors, decoders, modality discriminator and substitution maps for RGB and depth."""

    def __init__(self, dim: int, config: EBRConfig) -> None:
        super().__init__()
        self.affine = config.substitution == "affine"
        self.normalize = config.normalize_projections
        self.projectors = nn.ModuleList([mlp(dim, config.projector_hidden, dim) for _ in range(2)])
        self.decoders = nn.ModuleList([mlp(dim, config.projector_hidden, dim) for _ in range(2)])
        self.discriminator = mlp(dim, config.discriminator_hidden, 2)
        # substitution_weight[t] maps the other modality's projection into modality t's
        # projected space (identity until fitted on training data).
        self.register_buffer("substitution_weight", torch.eye(dim).repeat(2, 1, 1))
        self.register_buffer("substitution_bias", torch.zeros(2, dim))
        self.register_buffer("substitution_fitted", torch.zeros((), dtype=torch.bool))

    def project(self, rgb: torch.Tensor, depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder tokens -> projections h_i(f_i(x)) (unit scale per token with ``normalize_projections``)."""
        z_rgb, z_depth = self.projectors[RGB](rgb), self.projectors[DEPTH](depth)
        if self.normalize:
            z_rgb, z_depth = F.layer_norm(z_rgb, z_rgb.shape[-1:]), F.layer_norm(z_depth, z_depth.shape[-1:])
        return z_rgb, z_depth

    def substitute(self, projection: torch.Tensor, target: int) -> torch.Tensor:
        """Estimate modality ``target``'s projection from the other modality's projection."""
        if not self.affine:
            return projection
        return projection @ self.substitution_weight[target] + self.substitution_bias[target]

    def forward(
        self,
        rgb: torch.Tensor,
        depth: torch.Tensor,
        rgb_present: torch.Tensor | None = None,
        depth_present: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return (decoded rgb, decoded depth, rgb projection, depth projection).

        A missing modality (``*_present`` False for a frame) is decoded from the
        other modality's projection instead of its own.
        """
        z_rgb, z_depth = self.project(rgb, depth)
        if depth_present is not None:
            z_depth = torch.where(depth_present[:, None], z_depth, self.substitute(z_rgb, DEPTH))
        if rgb_present is not None:
            z_rgb = torch.where(rgb_present[:, None], z_rgb, self.substitute(z_depth, RGB))
        return self.decoders[RGB](z_rgb), self.decoders[DEPTH](z_depth), z_rgb, z_depth

    def discriminate(self, projection: torch.Tensor) -> torch.Tensor:
        """Modality logits (N, 2) for a batch of projections."""
        return self.discriminator(projection)
