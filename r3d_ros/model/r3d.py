"""The R3D network, split into a per-frame path and a temporal path.

Per-frame path (``encode_frames``): RGB and depth encoders, optional EBR
projection/decoding (with substitution of a missing modality), and the token
fuser. It sees one frame at a time, so a streaming runtime runs it once per
frame and caches the fused token. Temporal path (``forward_temporal``): the
anticipation transformer over a window of cached tokens. ``forward`` chains
both over padded batches for training; only real frames (``mask`` True) are
encoded, so padding never reaches BatchNorm statistics, and in eval mode the
result equals running the two paths separately.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from r3d_ros.config import ConfigError, R3DConfig
from r3d_ros.model.ebr import ExplicitBasisReallocation
from r3d_ros.model.encoders import DepthEncoder, RGBEncoder
from r3d_ros.model.fuser import build_fuser
from r3d_ros.model.grammar import ActionGrammar, GrammarFilter
from r3d_ros.model.temporal import TemporalNetwork, TemporalOutput


@dataclass
class FrameFeatures:
    """Per-frame representations of N frames, each (N, C)."""

    fused: torch.Tensor
    rgb: torch.Tensor  # RGB token entering the fuser (decoded by EBR when enabled)
    depth: torch.Tensor  # depth token entering the fuser
    rgb_projection: torch.Tensor | None = None  # EBR h_rgb(f_rgb(x))
    depth_projection: torch.Tensor | None = None  # EBR h_depth(f_depth(x))
    rgb_encoded: torch.Tensor | None = None  # encoder output f_rgb(x) (equals ``rgb`` without EBR)
    depth_encoded: torch.Tensor | None = None  # encoder output f_depth(x)


@dataclass
class R3DOutput:
    """Outputs of a full forward pass over padded windows."""

    temporal: TemporalOutput
    frames: FrameFeatures  # features of the real frames only, in mask order
    fused_tokens: torch.Tensor  # (B, T, C), zeros at padded positions


class R3DModel(nn.Module):
    """Encoders + (EBR) + token fuser + temporal anticipation model."""

    def __init__(self, config: R3DConfig) -> None:
        super().__init__()
        model = config.model
        if model.num_classes < 2:
            raise ConfigError("model.class_names: a model needs at least two classes (set them or train on a dataset)")
        self.config = config
        self.rgb_encoder = RGBEncoder(model.rgb_encoder, model.token_dim, model.input)
        self.depth_encoder = DepthEncoder(model.depth_encoder, model.token_dim, model.input)
        self.ebr = ExplicitBasisReallocation(model.token_dim, model.ebr) if model.ebr.enabled else None
        self.fuser = build_fuser(model.token_dim, model.fuser)
        timing = config.anticipation
        self.temporal = TemporalNetwork(
            model.token_dim, model.num_classes, timing.window, timing.horizon_frames, model.temporal
        )
        if model.uses_grammar:  # filled from the training labels (set_grammar); travels in the file
            longest = 2 * (timing.window + timing.horizon_frames) + 1
            self.register_buffer("grammar_transitions", torch.zeros(model.num_classes, model.num_classes))
            self.register_buffer("grammar_durations", torch.zeros(model.num_classes, longest))

    @property
    def grammar(self) -> ActionGrammar | None:
        """The action grammar the future is decoded with (None with the learned future head)."""
        if not self.config.model.uses_grammar:
            return None
        if not bool(self.grammar_durations.sum() > 0):
            raise RuntimeError("future_decoder is grammar but no grammar was set (set_grammar)")
        return ActionGrammar(
            self.grammar_transitions.cpu().double().numpy(), self.grammar_durations.cpu().double().numpy()
        )

    @property
    def grammar_filter(self) -> GrammarFilter | None:
        """The grammar as a filter over the window's class probabilities (``future_decoder: grammar_filter``)."""
        if self.config.model.future_decoder != "grammar_filter":
            return None
        model = self.config.model
        return GrammarFilter(
            self.grammar, model.filter_evidence_weight, model.filter_newest_weight, model.filter_remaining_weight
        )

    def set_live_history(self, frames: int) -> None:
        """Read the live stack with ``frames`` of history at run time (``model.temporal.live_history``; 0 = all).

        Training does not depend on it, so a trained network can be read either way; the weights are unchanged.
        """
        self._set_live_reading("live_history", frames)

    def set_live_frames(self, frames: int) -> None:
        """Read the window's newest ``frames`` from the live stack at run time (``model.temporal.live_frames``).

        Like the history, a way to read a trained network: the weights are unchanged.
        """
        self._set_live_reading("live_frames", frames)

    def _set_live_reading(self, setting: str, frames: int) -> None:
        if self.temporal.live_encoder is None:
            raise ConfigError(f"model.temporal.{setting}: the model has no live encoder (temporal.live_encoder)")
        temporal = dataclasses.replace(self.config.model.temporal, **{setting: frames})
        self.config = dataclasses.replace(self.config, model=dataclasses.replace(self.config.model, temporal=temporal))
        setattr(self.temporal, setting, frames)

    def set_grammar(self, grammar: ActionGrammar) -> None:
        """Store ``grammar`` (durations past the buffer's length are folded into its last entry)."""
        longest = self.grammar_durations.shape[1]
        durations = np.zeros((len(grammar.transitions), longest))
        kept = min(longest, grammar.duration_pmf.shape[1])
        durations[:, :kept] = grammar.duration_pmf[:, :kept]
        durations[:, -1] += grammar.duration_pmf[:, kept:].sum(1)
        self.grammar_transitions.copy_(torch.from_numpy(grammar.transitions))
        self.grammar_durations.copy_(torch.from_numpy(durations))

    @property
    def can_substitute(self) -> bool:
        """True when a missing modality is reconstructed (EBR) rather than zeroed."""
        return self.ebr is not None

    def encode_frames(
        self,
        rgb: torch.Tensor,
        depth: torch.Tensor,
        rgb_present: torch.Tensor | None = None,
        depth_present: torch.Tensor | None = None,
        substitute: bool = True,
    ) -> FrameFeatures:
        """Per-frame path. ``rgb`` (N, 3, H, W) in [0, 1]; ``depth`` (N, 2, H, W) (scaled depth, valid mask).

        ``*_present`` are (N,) bool flags; a missing modality is substituted by
        EBR when the model has it, and zeroed otherwise (the token carries no
        information; it is never invented). ``substitute=False`` zeroes it in
        an EBR model too: the control that shows what substitution is worth.
        """
        rgb_encoded = self._encode(self.rgb_encoder, rgb, rgb_present)
        depth_encoded = self._encode(self.depth_encoder, depth, depth_present)
        if self.ebr is not None:
            rgb_token, depth_token, z_rgb, z_depth = self.ebr(rgb_encoded, depth_encoded, rgb_present, depth_present)
            if not substitute:
                rgb_token, depth_token = _zero_absent(rgb_token, rgb_present), _zero_absent(depth_token, depth_present)
            fused = self.fuser(rgb_token, depth_token)
            return FrameFeatures(fused, rgb_token, depth_token, z_rgb, z_depth, rgb_encoded, depth_encoded)
        rgb_token, depth_token = _zero_absent(rgb_encoded, rgb_present), _zero_absent(depth_encoded, depth_present)
        fused = self.fuser(rgb_token, depth_token)
        return FrameFeatures(fused, rgb_token, depth_token, rgb_encoded=rgb_encoded, depth_encoded=depth_encoded)

    def _encode(self, encoder: nn.Module, images: torch.Tensor, present: torch.Tensor | None) -> torch.Tensor:
        """Encoder tokens; while training, frames whose modality was dropped are not encoded (their rows are 0).

        Every consumer of an absent frame's encoding ignores it (zeroed or
        substituted), so skipping it changes no result, only the training cost
        and BatchNorm's batch statistics (now over the frames that are used).
        Evaluation and export always encode every frame (one static graph).
        """
        if not self.training or present is None or bool(present.all()):
            return encoder(images)
        tokens = images.new_zeros(len(images), self.config.model.token_dim)
        if bool(present.any()):
            tokens = tokens.index_put((present,), encoder(images[present]))
        return tokens

    def forward_temporal(self, tokens: torch.Tensor, mask: torch.Tensor, learned_future: bool = True) -> TemporalOutput:
        """Temporal path over (B, T, C) cached fused tokens and a (B, T) bool mask of real frames.

        ``learned_future=False`` leaves the future decoder out (see :class:`TemporalNetwork`).
        """
        return self.temporal(tokens, mask, learned_future)

    def forward(
        self,
        rgb: torch.Tensor,
        depth: torch.Tensor,
        mask: torch.Tensor,
        rgb_present: torch.Tensor | None = None,
        depth_present: torch.Tensor | None = None,
    ) -> R3DOutput:
        """Full pass over padded windows: rgb (B, T, 3, H, W), depth (B, T, 2, H, W), mask (B, T)."""
        frames = self.encode_frames(
            rgb[mask],
            depth[mask],
            None if rgb_present is None else rgb_present[mask],
            None if depth_present is None else depth_present[mask],
        )
        tokens = frames.fused.new_zeros(*mask.shape, frames.fused.shape[-1])
        tokens[mask] = frames.fused
        return R3DOutput(self.forward_temporal(tokens, mask), frames, tokens)


def _zero_absent(token: torch.Tensor, present: torch.Tensor | None) -> torch.Tensor:
    """``token`` with the rows of absent frames set to zero."""
    return token if present is None else token * present[:, None].to(token.dtype)
