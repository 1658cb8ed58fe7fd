"""PyTorch backend: eager (optionally ``torch.compile``), CPU or CUDA."""

from __future__ import annotations

import numpy as np
import torch

from r3d_ros.model.r3d import R3DModel
from r3d_ros.runtime.backends.base import Backend, TemporalResult
from r3d_ros.runtime.graphs import GraphShapes, PerFrameGraph, TemporalGraph


class TorchBackend(Backend):
    """Runs the graphs with PyTorch."""

    name = "torch"

    def __init__(self, model: R3DModel, model_id: str, device: str = "auto", compile: bool = False) -> None:
        super().__init__(GraphShapes.of(model), model_id)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.per_frame = PerFrameGraph(model).to(self.device).eval()
        self.temporal_graph = TemporalGraph(model).to(self.device).eval()
        self.compiled = compile
        if compile:
            self.per_frame = torch.compile(self.per_frame)
            self.temporal_graph = torch.compile(self.temporal_graph)
        self._true = torch.ones(1, dtype=torch.bool, device=self.device)
        self._false = torch.zeros(1, dtype=torch.bool, device=self.device)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None].to(self.device)

    @torch.inference_mode()
    def encode(self, rgb: np.ndarray, depth: np.ndarray, rgb_present: bool, depth_present: bool) -> np.ndarray:
        """Per-frame graph on one frame."""
        fused = self.per_frame(
            self._tensor(rgb),
            self._tensor(depth),
            self._true if rgb_present else self._false,
            self._true if depth_present else self._false,
        )
        return fused[0].float().cpu().numpy()

    @torch.inference_mode()
    def temporal(self, tokens: np.ndarray, mask: np.ndarray) -> TemporalResult:
        """Temporal graph on one padded window."""
        outputs = self.temporal_graph(
            self._tensor(tokens), torch.from_numpy(np.asarray(mask, dtype=bool))[None].to(self.device)
        )
        return TemporalResult.named(self.shapes.temporal_outputs, [output[0].cpu().numpy() for output in outputs])

    def describe(self) -> str:
        """Backend and device."""
        return f"torch ({self.device.type}{', compiled' if self.compiled else ''})"
