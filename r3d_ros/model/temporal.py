"""FUTR-style temporal anticipation model over the fused per-frame tokens.

A transformer encoder reads the observed window (padded frames are masked out
of attention) and a linear head segments it frame by frame. A transformer
decoder with ``num_queries`` learned queries cross-attends to the encoded
window; query q predicts the class of the q-th future action segment (or an
end token after the last one) and its duration as a fraction of the
anticipation horizon. Queries are parallel, not autoregressive, as in FUTR.

Positions count from the first frame of the window, so a window that starts at
the beginning of a recording and a sliding window both read oldest-first.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from r3d_ros.config import TemporalConfig


@dataclass
class TemporalOutput:
    """Raw outputs of the temporal model for a batch of windows."""

    segmentation_logits: torch.Tensor  # (B, T, K): class of each observed frame
    action_logits: torch.Tensor  # (B, Q, K + 1): class of each future segment; index K = end
    durations: torch.Tensor  # (B, Q): segment length as a fraction of the horizon, in (0, 1)


class TemporalAnticipator(nn.Module):
    """Encoder over observed tokens, decoder with learned action queries."""

    def __init__(self, token_dim: int, num_classes: int, max_len: int, config: TemporalConfig) -> None:
        super().__init__()
        dim = config.dim
        self.input_projection = nn.Linear(token_dim, dim)
        self.positions = nn.Parameter(torch.randn(max_len, dim) * 0.02)
        self.input_dropout = nn.Dropout(config.dropout)
        self.encoder = None
        if config.use_encoder and config.encoder_layers > 0:
            layer = nn.TransformerEncoderLayer(
                dim, config.heads, config.ffn_mult * dim, config.dropout, batch_first=True, norm_first=True
            )
            self.encoder = nn.TransformerEncoder(
                layer, config.encoder_layers, norm=nn.LayerNorm(dim), enable_nested_tensor=False
            )
        self.segmentation_head = nn.Linear(dim, num_classes)
        self.queries = nn.Parameter(torch.randn(config.num_queries, dim) * 0.02)
        layer = nn.TransformerDecoderLayer(
            dim, config.heads, config.ffn_mult * dim, config.dropout, batch_first=True, norm_first=True
        )
        self.decoder = nn.TransformerDecoder(layer, config.decoder_layers, norm=nn.LayerNorm(dim))
        self.action_head = nn.Linear(dim, num_classes + 1)
        self.duration_head = nn.Linear(dim, 1)

    @property
    def max_len(self) -> int:
        """Longest window the positional table covers."""
        return self.positions.shape[0]

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> TemporalOutput:
        """(B, T, C) tokens and (B, T) bool mask of real frames -> TemporalOutput."""
        length = tokens.shape[1]
        if length > self.max_len:
            raise ValueError(f"window of {length} frames exceeds the model's maximum of {self.max_len}")
        padding = ~mask
        x = self.input_dropout(self.input_projection(tokens) + self.positions[:length])
        if self.encoder is not None:
            x = self.encoder(x, src_key_padding_mask=padding)
        queries = self.queries.unsqueeze(0).expand(tokens.shape[0], -1, -1)
        decoded = self.decoder(queries, x, memory_key_padding_mask=padding)
        return TemporalOutput(
            segmentation_logits=self.segmentation_head(x),
            action_logits=self.action_head(decoded),
            durations=torch.sigmoid(self.duration_head(decoded)).squeeze(-1),
        )
