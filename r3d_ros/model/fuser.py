"""Per-frame fusion of the RGB and depth tokens.

The Rank-enhancing Token Fuser (R3D) works in three steps on each frame:

1. normalise each modality's token with its own BatchNorm and score its channels
   by how informative they are;
2. blend the weakest ``blend_fraction`` of each modality's channels with the
   other modality's same channels through a bounded learned mix
   ``a = sigmoid(w)`` per channel: ``x_c <- (1 - a_c) x_c + a_c y_c``. Channels a
   modality barely uses are handed to the other modality, which raises the
   effective rank of the fused representation instead of leaving dead directions;
3. let the two tokens attend to each other (2-token attention), then average
   (or, with ``pool: concat``, concatenate; with ``pool: gated``, weigh them by a
   per-frame gate read from both) and project them into the fused token.

Two scoring rules are available: ``bn_gain`` ranks channels by the absolute
BatchNorm gain (the reference rule), ``rank`` by how much the batch's effective
rank drops when the channel is removed (a running average is kept for eval).
All modules work on flat (N, C) tokens of real frames only, so padded frames
never enter BatchNorm statistics.

``MeanFuser`` and ``ConcatFuser`` are the vanilla fusion baselines.
"""

from __future__ import annotations

import torch
from torch import nn

from r3d_ros.config import FuserConfig

RGB, DEPTH = 0, 1


def leave_one_out_rank_drop(features: torch.Tensor) -> torch.Tensor:
    """Per channel: effective rank of ``features`` minus effective rank without that channel.

    Uses the eigenvalues of the (C, C) Gram matrix and its C leave-one-out
    principal submatrices (singular values are their square roots), which is
    far cheaper than C SVDs of the (N, C) batch.
    """
    x = features.detach().to(torch.float64)
    gram = x.T @ x
    channels = gram.shape[0]
    keep = torch.arange(channels, device=x.device).expand(channels, channels)
    keep = keep[~torch.eye(channels, dtype=torch.bool, device=x.device)].view(channels, channels - 1)
    sub = gram[keep[:, :, None], keep[:, None, :]]

    def erank(g: torch.Tensor) -> torch.Tensor:
        s = torch.linalg.eigvalsh(g).clamp_min(0).sqrt()
        p = s / s.sum(dim=-1, keepdim=True).clamp_min(1e-12)
        return torch.exp(-(p * p.clamp_min(1e-30).log()).sum(dim=-1))

    return (erank(gram) - erank(sub)).to(features.dtype)


def weakest_channel_mask(scores: torch.Tensor, count: int) -> torch.Tensor:
    """(M, C) scores -> (M, C) float mask with ones on the ``count`` lowest-scoring channels per row.

    Ties go to the lower channel index (stable sort), so every runtime picks the same channels.
    """
    mask = torch.zeros_like(scores)
    if count > 0:
        mask.scatter_(1, torch.argsort(scores, dim=1, stable=True)[:, :count], 1.0)
    return mask


class RankEnhancingTokenFuser(nn.Module):
    """R3D token fuser: channel scoring, bounded cross-modal blending, 2-token attention."""

    def __init__(self, dim: int, config: FuserConfig) -> None:
        super().__init__()
        self.rule = config.score
        self.momentum = config.score_momentum
        self.num_blend = round(config.blend_fraction * dim)
        self.norms = nn.ModuleList([nn.BatchNorm1d(dim), nn.BatchNorm1d(dim)])
        # Mix logits per modality and channel; sigmoid keeps each blend weight in (0, 1).
        self.mix_logits = nn.Parameter(torch.zeros(2, dim))
        self.register_buffer("running_scores", torch.zeros(2, dim))
        # The channels handed over at inference: fixed when the module leaves training mode,
        # saved with the weights, and exported as a constant.
        self.register_buffer("selection", torch.zeros(2, dim))
        self.modality_embedding = nn.Parameter(torch.randn(2, dim) * 0.02)
        self.attention_norm = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, config.attention_heads, batch_first=True)
        self.mlp_norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.concat = config.pool == "concat"
        self.project = nn.Linear(2 * dim if self.concat else dim, dim)
        # pool: gated. Zero weights give equal shares at first, so training starts from the mean.
        self.gate = nn.Linear(2 * dim, 2) if config.pool == "gated" else None
        if self.gate is not None:
            nn.init.zeros_(self.gate.weight)
            nn.init.zeros_(self.gate.bias)

    def channel_scores(self, rgb: torch.Tensor | None, depth: torch.Tensor | None) -> torch.Tensor:
        """(2, C) informativeness of each channel of the normalised RGB and depth tokens."""
        if self.rule == "bn_gain":
            return torch.stack([norm.weight.abs() for norm in self.norms]).detach()
        if self.training and rgb is not None and rgb.shape[0] > 1:
            batch_scores = torch.stack([leave_one_out_rank_drop(rgb), leave_one_out_rank_drop(depth)])
            with torch.no_grad():
                self.running_scores.lerp_(batch_scores, self.momentum)
        return self.running_scores

    def blend_mask(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """(2, C) mask of the channels each modality hands over to the other."""
        if not self.training:
            return self.selection
        return weakest_channel_mask(self.channel_scores(rgb, depth), self.num_blend)

    def train(self, mode: bool = True) -> RankEnhancingTokenFuser:
        """Switch mode; leaving training freezes the current channel selection."""
        if self.training and not mode:
            with torch.no_grad():
                self.selection.copy_(weakest_channel_mask(self.channel_scores(None, None), self.num_blend))
        return super().train(mode)

    def blend(self, rgb: torch.Tensor, depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalise both tokens and blend each one's weakest channels with the other's."""
        rgb = self.norms[RGB](rgb)
        depth = self.norms[DEPTH](depth)
        weights = self.blend_mask(rgb, depth) * torch.sigmoid(self.mix_logits)
        return rgb + weights[RGB] * (depth - rgb), depth + weights[DEPTH] * (rgb - depth)

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """(N, C) RGB and depth tokens -> (N, C) fused token."""
        rgb, depth = self.blend(rgb, depth)
        tokens = torch.stack([rgb, depth], dim=1) + self.modality_embedding
        attended = self.attention_norm(tokens)
        tokens = tokens + self.attention(attended, attended, attended, need_weights=False)[0]
        tokens = tokens + self.mlp(self.mlp_norm(tokens))
        if self.concat:
            return self.project(tokens.flatten(1))
        if self.gate is not None:
            return self.project((self.modality_shares(tokens)[..., None] * tokens).sum(dim=1))
        return self.project(tokens.mean(dim=1))

    def modality_shares(self, tokens: torch.Tensor) -> torch.Tensor:
        """(N, 2) shares of RGB and depth in the fused token from the (N, 2, C) attended tokens (pool: gated)."""
        return torch.softmax(self.gate(tokens.flatten(1)), dim=-1)


class MeanFuser(nn.Module):
    """Vanilla baseline: normalise each modality, average, project."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norms = nn.ModuleList([nn.BatchNorm1d(dim), nn.BatchNorm1d(dim)])
        self.project = nn.Linear(dim, dim)

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """(N, C) RGB and depth tokens -> (N, C) fused token."""
        return self.project(0.5 * (self.norms[RGB](rgb) + self.norms[DEPTH](depth)))


class ConcatFuser(nn.Module):
    """Vanilla baseline: normalise each modality, concatenate, project."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norms = nn.ModuleList([nn.BatchNorm1d(dim), nn.BatchNorm1d(dim)])
        self.project = nn.Linear(2 * dim, dim)

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """(N, C) RGB and depth tokens -> (N, C) fused token."""
        return self.project(torch.cat([self.norms[RGB](rgb), self.norms[DEPTH](depth)], dim=1))


def build_fuser(dim: int, config: FuserConfig) -> nn.Module:
    """The fuser named by ``config.kind``."""
    if config.kind == "r3d":
        return RankEnhancingTokenFuser(dim, config)
    if config.kind == "mean":
        return MeanFuser(dim)
    return ConcatFuser(dim)
