"""The interface every inference backend implements, and its errors.

A backend runs the two fixed-shape graphs of :mod:`r3d_ros.runtime.graphs` for
one frame or one window at a time. Inputs are NumPy arrays without the batch
dimension; the streaming anticipator never calls a backend with NaN or inf
(preprocessing removes them and :func:`check_finite` guards the boundary).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from r3d_ros.runtime.graphs import GraphShapes


class BackendError(RuntimeError):
    """A backend cannot be created or run (missing library, wrong or stale model file)."""


@dataclass
class TemporalResult:
    """Outputs of the temporal graph for one window (batch dimension removed)."""

    segmentation: np.ndarray  # (W, K) logits
    # The learned heads' logits; None for a model whose action grammar decodes the future (its graph leaves them out).
    future: np.ndarray | None = None  # (F, K) logits of the class at each of the next F frames
    next: np.ndarray | None = None  # (K,) logits of the action after the current one
    # (R,) logits of how many more frames the newest frame's action goes on; None without that head.
    remaining: np.ndarray | None = None

    @classmethod
    def named(cls, names: tuple[str, ...], outputs: list[np.ndarray]) -> TemporalResult:
        """The result from the graph's outputs in the order of ``names`` (``GraphShapes.temporal_outputs``)."""
        return cls(**dict(zip(names, outputs, strict=True)))


def check_finite(name: str, array: np.ndarray) -> None:
    """Refuse NaN or inf before it reaches a network."""
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or inf; refusing to run the network on it")


class Backend(ABC):
    """Runs a model's per-frame and temporal graphs."""

    name: str = "backend"

    def __init__(self, shapes: GraphShapes, model_id: str) -> None:
        self.shapes = shapes
        self.model_id = model_id

    @abstractmethod
    def encode(self, rgb: np.ndarray, depth: np.ndarray, rgb_present: bool, depth_present: bool) -> np.ndarray:
        """(3, H, W) and (2, H, W) float32 inputs of one frame -> (C,) fused token."""

    @abstractmethod
    def temporal(self, tokens: np.ndarray, mask: np.ndarray) -> TemporalResult:
        """(W, C) tokens, zero-padded at the end, and (W,) bool mask -> outputs for the window."""

    def close(self) -> None:  # noqa: B027 - optional hook; most backends hold nothing to release
        """Release resources (device memory, sessions)."""

    def describe(self) -> str:
        """One line naming the backend and where it runs (for logs and diagnostics)."""
        return self.name
