"""Backend selection: one interface for TensorRT, ONNX Runtime and PyTorch.

``create_backend`` loads a model file (weights + config), and for the ONNX
Runtime and TensorRT backends finds its exported graphs in the cache folder
(exporting them on first use), so a deployment only ever needs the model file.
``auto`` picks TensorRT when a CUDA GPU and TensorRT are present, else ONNX
Runtime, else PyTorch, and logs the choice.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

from r3d_ros.config import RuntimeConfig
from r3d_ros.model.checkpoint import load_model
from r3d_ros.model.r3d import R3DModel
from r3d_ros.runtime.backends.base import Backend, BackendError, TemporalResult, check_finite
from r3d_ros.runtime.graphs import GraphShapes

__all__ = [
    "Backend",
    "BackendError",
    "LoadedModel",
    "TemporalResult",
    "check_finite",
    "choose_backend",
    "create_backend",
    "default_cache_dir",
]

LOG = logging.getLogger("r3d_ros.runtime")


@dataclass
class LoadedModel:
    """A backend ready to run, with the model (config, class names) it runs."""

    backend: Backend
    model: R3DModel
    model_id: str


def default_cache_dir() -> Path:
    """Where exported ONNX files and TensorRT engines are kept by default."""
    return Path.home() / ".cache" / "r3d_ros"


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def choose_backend(requested: str) -> str:
    """Resolve ``auto`` to the best backend present on this machine."""
    if requested != "auto":
        return requested
    if _cuda_available() and importlib.util.find_spec("tensorrt") is not None:
        return "tensorrt"
    if importlib.util.find_spec("onnxruntime") is not None:
        return "onnxruntime"
    return "torch"


def exported_graphs(model: R3DModel, model_id: str, cache_dir: Path) -> tuple[Path, Path]:
    """The model's ONNX graphs in ``cache_dir``, exported now if absent."""
    from r3d_ros.runtime.export import export_model, onnx_paths

    per_frame, temporal = onnx_paths(cache_dir, model_id, model.config.model.temporal)
    if not (per_frame.is_file() and temporal.is_file()):
        LOG.info("exporting ONNX graphs of model %s to %s", model_id, cache_dir)
        export_model(model, model_id, cache_dir)
    return per_frame, temporal


def create_backend(model_path: str | Path, runtime: RuntimeConfig) -> LoadedModel:
    """Load ``model_path`` and create the backend ``runtime.backend`` names (or the best one)."""
    model, metadata = load_model(model_path)
    model_id = metadata["model_id"]
    kind = choose_backend(runtime.backend)
    if runtime.backend == "auto":
        LOG.info("backend auto -> %s", kind)
    cache_dir = Path(runtime.cache_dir) if runtime.cache_dir else default_cache_dir()
    shapes = GraphShapes.of(model)
    if kind == "torch":
        from r3d_ros.runtime.backends.torch_backend import TorchBackend

        backend: Backend = TorchBackend(model, model_id, runtime.device, runtime.torch_compile)
    elif kind == "onnxruntime":
        from r3d_ros.runtime.backends.onnx_backend import OnnxRuntimeBackend

        per_frame, temporal = exported_graphs(model, model_id, cache_dir)
        backend = OnnxRuntimeBackend(per_frame, temporal, shapes, model_id, runtime.threads, runtime.onnx_providers)
    else:
        from r3d_ros.runtime.backends.tensorrt_backend import TensorRTBackend

        per_frame, temporal = exported_graphs(model, model_id, cache_dir)
        backend = TensorRTBackend(
            per_frame, temporal, shapes, model_id, cache_dir,
            runtime.precision, runtime.workspace_mb, runtime.version_compatible,
        )  # fmt: skip
    LOG.info("model %s runs on %s", model_id, backend.describe())
    return LoadedModel(backend, model, model_id)
