"""ONNX Runtime backend: CPU by default, CUDA or TensorRT execution providers when available."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np

from r3d_ros.runtime.backends.base import Backend, BackendError, TemporalResult
from r3d_ros.runtime.graphs import GraphShapes

LOG = logging.getLogger("r3d_ros.runtime")


def _metadata(path: Path) -> dict[str, str]:
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for bad files
        raise BackendError(f"{path}: not a loadable ONNX model ({error})") from None
    return dict(session.get_modelmeta().custom_metadata_map)


def check_onnx_file(path: Path, role: str, model_id: str, shapes: GraphShapes) -> None:
    """Refuse an ONNX file that is missing, truncated, or exported from another model or config."""
    if not path.is_file():
        raise BackendError(f"ONNX file not found: {path}")
    metadata = _metadata(path)
    if metadata.get("r3d_graph") != role:
        raise BackendError(
            f"{path}: expected the {role} graph of an r3d_ros model, found {metadata.get('r3d_graph')!r}"
        )
    if metadata.get("r3d_model_id") != model_id:
        raise BackendError(
            f"{path}: exported from model {metadata.get('r3d_model_id')!r}, not from the loaded model {model_id!r}; "
            "re-export it with r3d-export"
        )
    if json.loads(metadata.get("r3d_shapes", "{}")) != asdict(shapes):
        raise BackendError(f"{path}: graph shapes {metadata.get('r3d_shapes')} do not match the model's config")


class OnnxRuntimeBackend(Backend):
    """Runs exported ONNX graphs with ONNX Runtime."""

    name = "onnxruntime"

    def __init__(
        self,
        per_frame: Path,
        temporal: Path,
        shapes: GraphShapes,
        model_id: str,
        threads: int = 0,
        providers: list[str] | None = None,
    ) -> None:
        import onnxruntime as ort

        super().__init__(shapes, model_id)
        check_onnx_file(per_frame, "per_frame", model_id, shapes)
        check_onnx_file(temporal, "temporal", model_id, shapes)
        available = ort.get_available_providers()
        wanted = providers or ["CPUExecutionProvider"]
        usable = [p for p in wanted if p in available] or ["CPUExecutionProvider"]
        if usable != wanted:
            LOG.warning(
                "ONNX Runtime execution provider(s) %s not available here (available: %s); trying %s",
                ", ".join(p for p in wanted if p not in usable),
                ", ".join(available),
                ", ".join(usable),
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.per_frame = ort.InferenceSession(str(per_frame), options, providers=usable)
        self.temporal_session = ort.InferenceSession(str(temporal), options, providers=usable)
        # What ONNX Runtime actually assigned (a provider can still fail to initialise, e.g. without its GPU).
        self.providers = self.per_frame.get_providers()
        self._flags = {True: np.ones(1, dtype=bool), False: np.zeros(1, dtype=bool)}

    def encode(self, rgb: np.ndarray, depth: np.ndarray, rgb_present: bool, depth_present: bool) -> np.ndarray:
        """Per-frame graph on one frame."""
        feeds = {
            "rgb": np.ascontiguousarray(rgb, dtype=np.float32)[None],
            "depth": np.ascontiguousarray(depth, dtype=np.float32)[None],
            "rgb_present": self._flags[bool(rgb_present)],
            "depth_present": self._flags[bool(depth_present)],
        }
        return self.per_frame.run(None, feeds)[0][0]

    def temporal(self, tokens: np.ndarray, mask: np.ndarray) -> TemporalResult:
        """Temporal graph on one padded window."""
        feeds = {"tokens": np.ascontiguousarray(tokens, dtype=np.float32)[None], "mask": np.asarray(mask, bool)[None]}
        outputs = self.temporal_session.run(None, feeds)
        return TemporalResult.named(self.shapes.temporal_outputs, [output[0] for output in outputs])

    def describe(self) -> str:
        """Backend and execution providers."""
        return f"onnxruntime ({', '.join(self.providers)})"
