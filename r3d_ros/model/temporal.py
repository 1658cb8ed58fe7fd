"""Temporal anticipation model over the fused per-frame tokens.

A transformer encoder reads the observed window (padded frames are masked out
of attention) and a linear head segments it frame by frame. A transformer
decoder then answers ``1 + ceil(future_len / future_stride)`` learned queries, each starting from the
encoded last observed frame (the state "now") and cross-attending to the window:

- query 0 predicts the *next action*: the class of the first segment after the
  one going on at the last observed frame;
- query k (k = 1 .. ceil(future_len / future_stride)) predicts the class of
  the k-th block of ``future_stride`` model frames after the last observed
  one: a dense distribution over the future, repeated to every frame of its
  block (the decoder costs ``future_stride`` times less than one query per frame).

Dense per-frame targets replace FUTR's segment queries and regressed durations.
The Bayes decision for per-frame accuracy (and so for MoC) is the most likely
class at each future frame, which is what the cross-entropy of each query
estimates; segment order, the current segment's remaining time and the next
segments' lengths all follow from it, instead of being three separately
trained outputs that must agree.

With ``causal`` the encoder masks every frame's view of later frames, so each
frame is segmented from the past alone, as the last one always is. With
``live_encoder`` a second, causal encoder stack with its own segmentation head
runs beside the bidirectional one: trained on every frame, it is the reading of
the window's newest ``live_frames`` frames in eval mode, while the older frames
keep the bidirectional reading (enough frames after them in view; at the
window's edge the bidirectional stack sees few or none, and reads worse than
the live stack).

Positions count back from the last real frame (0 = now), so "how long ago" means
the same whether the window is full or the recording has just started.

With ``learned_future=False`` the decoder is left out and only the segmentation is
returned: a model whose future is decoded by its action grammar reads nothing
else at run time, and the decoder is about half of the graph's cost.
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
    future_logits: torch.Tensor | None  # (B, F, K): class at each of the next F model frames
    next_logits: torch.Tensor | None  # (B, K): class of the action after the current one
    live_logits: torch.Tensor | None = None  # (B, T, K): the causal live stack's classes (training mode only)
    # The live stack's remaining-frames logits (model.temporal.remaining_frames): (B, T, R) for every frame
    # in training mode, (B, R) for the newest frame in eval mode; None without the head.
    remaining_logits: torch.Tensor | None = None


class TemporalNetwork(nn.Module):
    """Encoder over observed tokens; decoder with a next-action query and one query per block of future frames."""

    def __init__(self, token_dim: int, num_classes: int, max_len: int, future_len: int, config: TemporalConfig) -> None:
        super().__init__()
        dim = config.dim
        self.input_projection = nn.Linear(token_dim, dim)
        self.positions = nn.Parameter(torch.randn(max_len, dim) * 0.02)  # row i = i frames before now
        self.input_dropout = nn.Dropout(config.dropout)
        self.encoder = None
        if config.use_encoder and config.encoder_layers > 0:
            layer = nn.TransformerEncoderLayer(
                dim, config.heads, config.ffn_mult * dim, config.dropout, batch_first=True, norm_first=True
            )
            self.encoder = nn.TransformerEncoder(
                layer, config.encoder_layers, norm=nn.LayerNorm(dim), enable_nested_tensor=False
            )
        self.causal = config.causal
        self.segmentation_head = nn.Linear(dim, num_classes)
        self.future_len, self.future_stride = future_len, config.future_stride
        future_queries = -(-future_len // config.future_stride)
        self.queries = nn.Parameter(torch.randn(1 + future_queries, dim) * 0.02)
        layer = nn.TransformerDecoderLayer(
            dim, config.heads, config.ffn_mult * dim, config.dropout, batch_first=True, norm_first=True
        )
        self.decoder = nn.TransformerDecoder(layer, config.decoder_layers, norm=nn.LayerNorm(dim))
        self.next_head = nn.Linear(dim, num_classes)
        self.future_head = nn.Linear(dim, num_classes)
        self.live_encoder = self.live_head = self.remaining_head = None
        self.live_history, self.live_frames = config.live_history, config.live_frames
        self.trained_history = config.live_history if config.live_history_in_training else 0
        if config.live_encoder:  # created last, so the other modules start as without it
            layer = nn.TransformerEncoderLayer(
                dim, config.heads, config.ffn_mult * dim, config.dropout, batch_first=True, norm_first=True
            )
            self.live_encoder = nn.TransformerEncoder(
                layer, config.encoder_layers, norm=nn.LayerNorm(dim), enable_nested_tensor=False
            )
            self.live_head = nn.Linear(dim, num_classes)
            if config.remaining_frames:
                self.remaining_head = nn.Linear(dim, config.remaining_frames)

    @staticmethod
    def live_mask(length: int, device: torch.device, history: int = 0) -> torch.Tensor:
        """(T, T) True where the live stack's frame (row) may not see another (column).

        Later frames always; with ``history`` (> 0) also those ``history`` or more frames older.
        """
        index = torch.arange(length, device=device)
        hidden = index[None, :] > index[:, None]
        if history:
            hidden = hidden | (index[None, :] <= index[:, None] - history)
        return hidden

    @staticmethod
    def live_padding(padding: torch.Tensor, history: int = 0) -> torch.Tensor | None:
        """The key padding mask of the live stack's layers over every frame: none with a ``history``.

        Padding follows the real frames, so the causal mask alone keeps every real frame from it.
        With a history band, a padded frame far enough past the last real one would see no frame at
        all: its attention would turn to NaN, which its values then carry into the real frames' sums.
        """
        return None if history else padding

    def live_last(
        self, projected: torch.Tensor, hidden: torch.Tensor, padding: torch.Tensor, rows: torch.Tensor
    ) -> torch.Tensor:
        """(B, N, D) the live stack's final states of the window's ``rows`` (B, N, 1), its last layer run for them only.

        Run time reads nothing else from the live stack, so its last layer's query,
        feed-forward and head run for the window's newest ``live_frames`` rows instead
        of all of them; the earlier layers still run for every frame, whose states the
        last layer attends to. Each row's last layer hides what its row of ``hidden``
        hides (later frames, and with ``live_history`` older ones past the band) and
        the padding. Eval mode only: dropout is left out.
        """
        *early, last = self.live_encoder.layers
        x = projected
        for layer in early:
            x = layer(x, src_mask=hidden, src_key_padding_mask=self.live_padding(padding, self.live_history))
        index = rows.expand(-1, -1, x.shape[-1])
        states = last.norm1(x)
        keys_hidden = padding[:, None, :] | hidden[rows[..., 0]]  # (B, N, T): each row's line of the mask
        attended = last.self_attn(
            states.gather(1, index),
            states,
            states,
            attn_mask=keys_hidden.repeat_interleave(last.self_attn.num_heads, dim=0),
            need_weights=False,
        )
        x = x.gather(1, index) + attended[0]
        x = x + last.linear2(last.activation(last.linear1(last.norm2(x))))
        return self.live_encoder.norm(x)

    def frame_logits(self, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, T, K) logits of every frame from the bidirectional stack, and from the live stack (None without one).

        What a trained teacher model tells a student about each window frame
        (``train.teacher``): unlike ``forward`` in eval mode, the live stack reads
        every frame, not only the newest, and the decoder is not run.
        """
        padding = ~mask
        projected = self.input_dropout(self.input_projection(tokens) + self.positions[self.frame_ages(mask)])
        future = torch.ones(tokens.shape[1], tokens.shape[1], dtype=torch.bool, device=tokens.device).triu(1)
        x = projected
        if self.encoder is not None:
            x = self.encoder(x, mask=future if self.causal else None, src_key_padding_mask=padding)
        live = None
        if self.live_encoder is not None:
            hidden = self.live_mask(tokens.shape[1], tokens.device, self.live_history)
            live_padding = self.live_padding(padding, self.live_history)
            live = self.live_head(self.live_encoder(projected, mask=hidden, src_key_padding_mask=live_padding))
        return self.segmentation_head(x), live

    @property
    def max_len(self) -> int:
        """Longest window the positional table covers."""
        return self.positions.shape[0]

    @staticmethod
    def frame_ages(mask: torch.Tensor) -> torch.Tensor:
        """(B, T) frames between each position and the last real frame (0 there and on padding)."""
        count = mask.sum(dim=1, keepdim=True)
        return (count - 1 - torch.arange(mask.shape[1], device=mask.device)).clamp(min=0)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor, learned_future: bool = True) -> TemporalOutput:
        """(B, T, C) tokens and (B, T) bool mask of real frames (a prefix of each row) -> TemporalOutput.

        ``learned_future=False`` skips the decoder: future and next-action logits are None.
        """
        length = tokens.shape[1]
        if length > self.max_len:
            raise ValueError(f"window of {length} frames exceeds the model's maximum of {self.max_len}")
        padding = ~mask
        projected = self.input_dropout(self.input_projection(tokens) + self.positions[self.frame_ages(mask)])
        x = projected
        future = None  # (T, T) True where a frame would see a later one
        if self.causal:
            future = torch.ones(length, length, dtype=torch.bool, device=x.device).triu(1)
        if self.encoder is not None:
            x = self.encoder(x, mask=future if self.causal else None, src_key_padding_mask=padding)
        last_index = (mask.sum(dim=1, keepdim=True) - 1).clamp(min=0)[..., None]  # (B, 1, 1)
        future_logits = next_logits = None
        if learned_future:  # decoded before the live stack runs, so training draws its dropout in that order
            now = x.gather(1, last_index.expand(-1, -1, x.shape[-1]))  # (B, 1, D): the encoded last observed frame
            decoded = self.decoder(self.queries.unsqueeze(0) + now, x, memory_key_padding_mask=padding)
            future_logits = self.future_head(decoded[:, 1:]).repeat_interleave(self.future_stride, dim=1)
            future_logits, next_logits = future_logits[:, : self.future_len], self.next_head(decoded[:, 0])
        segmentation = self.segmentation_head(x)
        live = remaining = None
        if self.live_encoder is not None and self.training:  # every frame, its past in view (or its band)
            hidden = self.live_mask(length, x.device, self.trained_history)
            live_padding = self.live_padding(padding, self.trained_history)
            states = self.live_encoder(projected, mask=hidden, src_key_padding_mask=live_padding)
            live = self.live_head(states)
            if self.remaining_head is not None:
                remaining = self.remaining_head(states)
        elif self.live_encoder is not None:  # the newest frames as the causal stack reads them at run time
            hidden = self.live_mask(length, x.device, self.live_history)
            back = torch.arange(self.live_frames - 1, -1, -1, device=x.device)[None, :, None]
            rows = (last_index - back).clamp(min=0)  # (B, N, 1); a window shorter than N repeats its first frame
            states = self.live_last(projected, hidden, padding, rows)
            read = self.live_head(states)
            segmentation = segmentation.scatter(1, rows.expand(-1, -1, segmentation.shape[-1]), read)
            if self.remaining_head is not None:
                remaining = self.remaining_head(states[:, -1])  # the newest row is the last
        return TemporalOutput(segmentation, future_logits, next_logits, live, remaining)
