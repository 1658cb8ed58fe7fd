"""Deployment commands: ``r3d-export`` (model file -> checked ONNX) and ``r3d-build-engine`` (ONNX -> TensorRT).

Examples::

    r3d-export --model models/r3d_default.safetensors --out-dir build/onnx
    r3d-build-engine --model models/r3d_default.safetensors --precision fp16 --workspace-mb 2048

``r3d-build-engine`` exports the ONNX graphs first if the cache has none, and
caches engines under a key of ONNX hash, TensorRT version, GPU and precision.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from r3d_ros.config import ConfigError, R3DConfig, RuntimeConfig
from r3d_ros.model.checkpoint import ModelFileError, load_model
from r3d_ros.runtime.backends import BackendError, default_cache_dir, exported_graphs
from r3d_ros.runtime.export import ExportError, export_model

LOG = logging.getLogger("r3d_ros.runtime")


def _real_frames(model_config: R3DConfig, count: int = 8) -> list[tuple]:
    """Per-frame inputs from the synthetic benchmark, through the one preprocessing function."""
    import torch

    from r3d_ros.data.synthetic import SyntheticConfig, generate_synthetic
    from r3d_ros.runtime.preprocess import preprocess_frame

    video = generate_synthetic(SyntheticConfig(num_train=1, num_test=0, seconds=4.0, seed=123)).videos[0]
    frames = []
    for frame in video.frames(range(0, len(video), max(1, len(video) // count))):
        prepared = preprocess_frame(frame.color, frame.depth, model_config.model.input, frame.depth_scale)
        present = torch.tensor([prepared.depth_present])
        frames.append(
            (
                torch.from_numpy(prepared.rgb)[None],
                torch.from_numpy(prepared.depth)[None],
                torch.ones(1, dtype=torch.bool),
                present,
            )
        )
    return frames


def export_main(argv: list[str] | None = None) -> int:
    """Entry point of ``r3d-export``."""
    parser = argparse.ArgumentParser(prog="r3d-export", description="Export a model's graphs to ONNX and verify them.")
    parser.add_argument("--model", type=Path, required=True, help="model file (.safetensors)")
    parser.add_argument("--out-dir", type=Path, default=None, help=f"output folder (default {default_cache_dir()})")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="max |ONNX Runtime - PyTorch| allowed")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        model, metadata = load_model(args.model)
        result = export_model(
            model, metadata["model_id"], args.out_dir or default_cache_dir(), _real_frames(model.config), args.tolerance
        )
    except (ModelFileError, ExportError) as error:
        LOG.error("%s", error)
        return 2
    print(f"per-frame graph: {result.per_frame}")
    print(f"temporal graph:  {result.temporal}")
    for name, error in sorted(result.max_abs_error.items()):
        print(f"max |ONNX Runtime - PyTorch| {name:13s} {error:.2e}  (random and real inputs)")
    return 0


def build_engine_main(argv: list[str] | None = None) -> int:
    """Entry point of ``r3d-build-engine``."""
    parser = argparse.ArgumentParser(prog="r3d-build-engine", description="Build (or find cached) TensorRT engines.")
    parser.add_argument("--model", type=Path, required=True, help="model file (.safetensors)")
    parser.add_argument("--cache-dir", type=Path, default=None, help=f"cache folder (default {default_cache_dir()})")
    parser.add_argument("--precision", choices=["fp16", "fp32"], default="fp16")
    parser.add_argument("--workspace-mb", type=int, default=1024)
    parser.add_argument("--version-compatible", action="store_true", help="engine runs on later TensorRT versions")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        runtime = RuntimeConfig(
            backend="tensorrt", precision=args.precision, workspace_mb=args.workspace_mb,
            version_compatible=args.version_compatible,
        )  # fmt: skip
        from r3d_ros.runtime.backends.tensorrt_backend import cached_engine

        model, metadata = load_model(args.model)
        cache = args.cache_dir or default_cache_dir()
        for onnx_path in exported_graphs(model, metadata["model_id"], cache):
            engine = cached_engine(
                onnx_path, cache, runtime.precision, runtime.workspace_mb, runtime.version_compatible
            )
            print(f"engine: {engine}")
    except (ConfigError, ModelFileError, ExportError, BackendError) as error:
        LOG.error("%s", error)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(export_main())
