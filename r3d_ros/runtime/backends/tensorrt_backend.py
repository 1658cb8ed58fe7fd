"""TensorRT engines: building with a cache that cannot go stale, and running them.

Engines are specific to the TensorRT version and the GPU, so each one is
cached under a key made of the ONNX file's hash, the TensorRT version, the GPU
name and compute capability, and the precision. A JetPack upgrade or a new
GPU changes the key and triggers a rebuild instead of loading an engine that
would crash or compute garbage; an engine that fails to deserialize is
rebuilt too. Builds log their progress (minutes on a Jetson). Engines are
build outputs: they live in the cache folder, never in the repository.

The runner uses the TensorRT Python API (``execute_async_v3``) with device
buffers allocated once (PyTorch CUDA tensors, so the same code runs on Jetson
aarch64 and x86 GPUs without pycuda) and one CUDA stream; a call copies the
inputs in, enqueues the engine and copies the outputs back, allocating nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from r3d_ros.model.checkpoint import atomic_write
from r3d_ros.runtime.backends.base import Backend, BackendError, TemporalResult
from r3d_ros.runtime.graphs import PER_FRAME_INPUTS, TEMPORAL_INPUTS, GraphShapes

LOG = logging.getLogger("r3d_ros.tensorrt")


def import_tensorrt() -> Any:
    """The ``tensorrt`` module, or a BackendError that says how to get it."""
    try:
        import tensorrt
    except ImportError:
        raise BackendError(
            "TensorRT is not installed: on a Jetson it comes with JetPack (python3-libnvinfer); "
            "on x86 install the tensorrt wheel matching your CUDA"
        ) from None
    return tensorrt


def gpu_identity() -> tuple[str, str]:
    """(GPU name, compute capability 'major.minor') of the current CUDA device."""
    import torch

    if not torch.cuda.is_available():
        raise BackendError("TensorRT needs a CUDA GPU; none is available")
    major, minor = torch.cuda.get_device_capability()
    return torch.cuda.get_device_name(), f"{major}.{minor}"


def engine_key(onnx_path: Path, precision: str, trt_version: str, gpu_name: str, capability: str) -> str:
    """Cache key of an engine: changes whenever any input of the build changes."""
    digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()[:16]
    identity = json.dumps([digest, precision, trt_version, gpu_name, capability])
    return f"{onnx_path.stem}-{hashlib.sha256(identity.encode()).hexdigest()[:16]}"


def _progress_monitor(trt: Any) -> Any:
    class BuildProgress(trt.IProgressMonitor):
        """Logs each builder phase as it starts and finishes."""

        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            LOG.info("TensorRT build: %s (%d steps)", phase_name, num_steps)

        def step_complete(self, phase_name: str, step: int) -> bool:
            return True

        def phase_finish(self, phase_name: str) -> None:
            LOG.info("TensorRT build: %s done", phase_name)

    return BuildProgress()


def build_engine(
    onnx_path: Path,
    engine_path: Path,
    precision: str = "fp16",
    workspace_mb: int = 1024,
    version_compatible: bool = False,
) -> None:
    """Build a serialized engine from an ONNX file (FP16 or FP32) and write it atomically."""
    trt = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BackendError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    if version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    config.progress_monitor = _progress_monitor(trt)
    LOG.info("building TensorRT engine from %s (%s, workspace %d MiB)", onnx_path.name, precision, workspace_mb)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendError(f"TensorRT failed to build an engine from {onnx_path}")
    atomic_write(engine_path, lambda tmp: Path(tmp).write_bytes(bytes(serialized)))
    LOG.info("TensorRT engine written to %s", engine_path)


def cached_engine(
    onnx_path: Path, cache_dir: Path, precision: str, workspace_mb: int, version_compatible: bool
) -> Path:
    """Path of an engine for ``onnx_path`` on this GPU and TensorRT, building it if the cache has none."""
    trt = import_tensorrt()
    gpu, capability = gpu_identity()
    key = engine_key(onnx_path, precision, trt.__version__, gpu, capability)
    engine_path = cache_dir / f"{key}.engine"
    if not engine_path.is_file():
        build_engine(onnx_path, engine_path, precision, workspace_mb, version_compatible)
        sidecar = {"onnx": str(onnx_path), "precision": precision, "tensorrt": trt.__version__, "gpu": gpu}
        (cache_dir / f"{key}.json").write_text(json.dumps({**sidecar, "compute_capability": capability}, indent=2))
    return engine_path


class EngineRunner:
    """One deserialized engine with preallocated device buffers and its own CUDA stream."""

    def __init__(self, engine_path: Path, rebuild: Any = None) -> None:
        import torch

        trt = import_tensorrt()
        self.torch = torch
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        engine = runtime.deserialize_cuda_engine(engine_path.read_bytes())
        if engine is None and rebuild is not None:
            LOG.warning("engine %s does not deserialize on this TensorRT/GPU; rebuilding", engine_path)
            engine_path.unlink(missing_ok=True)
            rebuild()
            engine = runtime.deserialize_cuda_engine(engine_path.read_bytes())
        if engine is None:
            raise BackendError(f"{engine_path}: TensorRT could not deserialize the engine")
        self.engine = engine
        self.context = engine.create_execution_context()
        self.stream = torch.cuda.Stream()
        self.inputs: dict[str, Any] = {}
        self.outputs: dict[str, Any] = {}
        self.host_outputs: dict[str, Any] = {}
        for index in range(engine.num_io_tensors):
            name = engine.get_tensor_name(index)
            shape = tuple(engine.get_tensor_shape(name))
            dtype = torch.from_numpy(np.zeros(0, dtype=trt.nptype(engine.get_tensor_dtype(name)))).dtype
            device_buffer = torch.empty(shape, dtype=dtype, device="cuda")
            self.context.set_tensor_address(name, device_buffer.data_ptr())
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                self.inputs[name] = device_buffer
            else:
                self.outputs[name] = device_buffer
                self.host_outputs[name] = torch.empty(shape, dtype=dtype, pin_memory=True)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Copy ``feeds`` in, execute, copy every output out (synchronous for the caller)."""
        torch = self.torch
        with torch.cuda.stream(self.stream):
            for name, buffer in self.inputs.items():
                buffer.copy_(torch.from_numpy(np.ascontiguousarray(feeds[name])).view(buffer.shape), non_blocking=True)
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise BackendError("TensorRT execution failed")
            for name, buffer in self.outputs.items():
                self.host_outputs[name].copy_(buffer, non_blocking=True)
        self.stream.synchronize()
        return {name: host.numpy() for name, host in self.host_outputs.items()}


class TensorRTBackend(Backend):
    """Runs both graphs as TensorRT engines built (or loaded) from the exported ONNX files."""

    name = "tensorrt"

    def __init__(
        self,
        per_frame_onnx: Path,
        temporal_onnx: Path,
        shapes: GraphShapes,
        model_id: str,
        cache_dir: Path,
        precision: str = "fp16",
        workspace_mb: int = 1024,
        version_compatible: bool = False,
    ) -> None:
        super().__init__(shapes, model_id)
        self.precision = precision
        runners = []
        for onnx_path in (per_frame_onnx, temporal_onnx):
            options = (cache_dir, precision, workspace_mb, version_compatible)
            engine = cached_engine(onnx_path, *options)
            runners.append(EngineRunner(engine, rebuild=lambda p=onnx_path, o=options: cached_engine(p, *o)))
        self.per_frame, self.temporal_runner = runners
        self._flags = {True: np.ones(1, dtype=bool), False: np.zeros(1, dtype=bool)}

    def encode(self, rgb: np.ndarray, depth: np.ndarray, rgb_present: bool, depth_present: bool) -> np.ndarray:
        """Per-frame engine on one frame."""
        values = (
            rgb.astype(np.float32),
            depth.astype(np.float32),
            self._flags[rgb_present],
            self._flags[depth_present],
        )
        outputs = self.per_frame.run(dict(zip(PER_FRAME_INPUTS, values, strict=True)))
        return outputs["fused"][0].astype(np.float32)

    def temporal(self, tokens: np.ndarray, mask: np.ndarray) -> TemporalResult:
        """Temporal engine on one padded window."""
        outputs = self.temporal_runner.run(dict(zip(TEMPORAL_INPUTS, (tokens.astype(np.float32), mask), strict=True)))
        names = self.shapes.temporal_outputs
        return TemporalResult.named(names, [outputs[name][0].astype(np.float32) for name in names])

    def describe(self) -> str:
        """Backend and precision."""
        return f"tensorrt ({self.precision})"
