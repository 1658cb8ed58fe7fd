"""The two inference graphs of a model, with fixed shapes, as exported and as run.

Both graphs take batch size 1, so every backend (PyTorch, ONNX Runtime,
TensorRT) runs the same function with the same shapes:

- per-frame graph: ``rgb`` (1, 3, H, W) float32 in [0, 1], ``depth`` (1, 2, H, W)
  float32 (depth / max_depth_m, valid mask), ``rgb_present`` and
  ``depth_present`` (1,) bool -> ``fused`` (1, C) float32;
- temporal graph: ``tokens`` (1, W, C) float32 (oldest first, zero-padded at the
  end) and ``mask`` (1, W) bool (True = real frame) -> ``segmentation``
  (1, W, K), ``future`` (1, F, K) and ``next`` (1, K), all logits. A model that
  decodes the future with its action grammar reads only the segmentation at run
  time, so its graph has that output alone: the learned future decoder it leaves
  out is about half of the graph's cost. A model with a remaining-frames head
  (``model.temporal.remaining_frames``) adds ``remaining`` (1, R): how many more
  frames the newest frame's action goes on, logits.

H, W (image), C (token_dim), W (window), K (classes) and F (future frames) come
from the model's config.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from r3d_ros.model.r3d import R3DModel

PER_FRAME_INPUTS = ("rgb", "depth", "rgb_present", "depth_present")
PER_FRAME_OUTPUTS = ("fused",)
TEMPORAL_INPUTS = ("tokens", "mask")
TEMPORAL_OUTPUTS = ("segmentation", "future", "next")
REMAINING_OUTPUT = "remaining"
# Part of the exported files' names: graphs exported by an older layout are not found, so they are exported again.
GRAPH_LAYOUT = 3


@dataclass(frozen=True)
class GraphShapes:
    """Fixed tensor shapes of a model's inference graphs."""

    height: int
    width: int
    token_dim: int
    window: int
    num_classes: int
    future_frames: int
    learned_future: bool = True  # the temporal graph outputs the future decoder's logits (no grammar decodes them)
    remaining_frames: int = 0  # bins of the remaining-frames output (0: the model has no such head)

    @classmethod
    def of(cls, model: R3DModel) -> GraphShapes:
        """Shapes from a model's config."""
        config = model.config
        return cls(
            config.model.input.height,
            config.model.input.width,
            config.model.token_dim,
            config.anticipation.window,
            config.model.num_classes,
            config.anticipation.horizon_frames,
            not config.model.uses_grammar,
            config.model.temporal.remaining_frames,
        )

    @property
    def temporal_outputs(self) -> tuple[str, ...]:
        """Names of the temporal graph's outputs, in order."""
        names = TEMPORAL_OUTPUTS if self.learned_future else TEMPORAL_OUTPUTS[:1]
        return names + ((REMAINING_OUTPUT,) if self.remaining_frames else ())

    def per_frame_example(self) -> tuple[torch.Tensor, ...]:
        """Random inputs of the per-frame graph."""
        depth = torch.rand(1, 2, self.height, self.width)
        depth[:, 1] = (depth[:, 1] > 0.2).float()
        present = torch.ones(1, dtype=torch.bool)
        return torch.rand(1, 3, self.height, self.width), depth, present, present.clone()

    def temporal_example(self, length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Random inputs of the temporal graph with ``length`` real frames."""
        length = self.window if length is None else length
        tokens = torch.zeros(1, self.window, self.token_dim)
        tokens[:, :length] = torch.randn(1, length, self.token_dim)
        mask = torch.zeros(1, self.window, dtype=torch.bool)
        mask[:, :length] = True
        return tokens, mask


class PerFrameGraph(nn.Module):
    """Encoders (+ EBR) + fuser for one frame."""

    def __init__(self, model: R3DModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, rgb: torch.Tensor, depth: torch.Tensor, rgb_present: torch.Tensor, depth_present: torch.Tensor
    ) -> torch.Tensor:
        """(1, 3, H, W), (1, 2, H, W), (1,), (1,) -> (1, C) fused token."""
        return self.model.encode_frames(rgb, depth, rgb_present, depth_present).fused


class TemporalGraph(nn.Module):
    """Temporal anticipation model over a padded window."""

    def __init__(self, model: R3DModel) -> None:
        super().__init__()
        self.model = model
        self.learned_future = GraphShapes.of(model).learned_future

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(1, W, C), (1, W) -> the outputs named by ``GraphShapes.temporal_outputs``, in their order.

        Segmentation logits; the future and next-action logits if the model reads them; the
        remaining-frames logits if it has that head.
        """
        output = self.model.forward_temporal(tokens, mask, self.learned_future)
        outputs = (output.segmentation_logits,)
        if self.learned_future:
            outputs += (output.future_logits, output.next_logits)
        if output.remaining_logits is not None:
            outputs += (output.remaining_logits,)
        return outputs
