"""ONNX export of a model's two inference graphs, checked and compared with PyTorch.

Each ONNX file carries metadata that ties it to the model it came from
(``r3d_model_id``, ``r3d_graph``, ``r3d_shapes``), so a runtime handed an ONNX
file from another model or config refuses it instead of computing garbage.
After export, the ONNX checker validates both files and ONNX Runtime (CPU) is
compared with PyTorch on random inputs (full and partial windows, missing
depth) and on caller-supplied real inputs; the maximum absolute error of
every output is reported and must stay under the tolerance.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

from r3d_ros.config import TemporalConfig
from r3d_ros.model.checkpoint import atomic_write
from r3d_ros.model.r3d import R3DModel
from r3d_ros.runtime.graphs import (
    GRAPH_LAYOUT,
    PER_FRAME_INPUTS,
    PER_FRAME_OUTPUTS,
    TEMPORAL_INPUTS,
    GraphShapes,
    PerFrameGraph,
    TemporalGraph,
)

OPSET = 17
FP32_TOLERANCE = 1e-4


class ExportError(RuntimeError):
    """Export failed, or the exported graph disagrees with PyTorch."""


@dataclass
class ExportResult:
    """Where the graphs were written and how closely ONNX Runtime matches PyTorch."""

    per_frame: Path
    temporal: Path
    max_abs_error: dict[str, float]


def onnx_paths(out_dir: str | Path, model_id: str, temporal: TemporalConfig | None = None) -> tuple[Path, Path]:
    """File names of a model's exported graphs (the model id and the graphs' layout are part of the name).

    So are the ``temporal`` settings read after training: a ``live_history`` other than 0 and a
    ``live_frames`` other than 1 change the temporal graph but not the weights, so the model id alone
    would hand a model file whose setting was changed (``scripts/set_model_setting.py``) the graph
    cached before the change.
    """
    reading = ""
    if temporal is not None:
        reading += f".h{temporal.live_history}" if temporal.live_history else ""
        reading += f".f{temporal.live_frames}" if temporal.live_frames != 1 else ""
    stem = Path(out_dir) / f"r3d-{model_id}.g{GRAPH_LAYOUT}{reading}"
    return stem.with_name(f"{stem.name}.per_frame.onnx"), stem.with_name(f"{stem.name}.temporal.onnx")


def _export(graph: torch.nn.Module, example: tuple, path: Path, inputs: Sequence[str], outputs: Sequence[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atomic_write(
            path,
            lambda tmp: torch.onnx.export(
                graph.eval(),
                example,
                tmp,
                input_names=list(inputs),
                output_names=list(outputs),
                opset_version=OPSET,
                dynamo=False,
            ),
        )


def _tag(path: Path, model_id: str, role: str, shapes: GraphShapes) -> None:
    proto = onnx.load(str(path))
    for key, value in (("r3d_model_id", model_id), ("r3d_graph", role), ("r3d_shapes", json.dumps(asdict(shapes)))):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    atomic_write(path, lambda tmp: onnx.save(proto, tmp))


def _max_errors(session_outputs: list[np.ndarray], reference: Sequence[torch.Tensor], names: Sequence[str]) -> dict:
    return {
        n: float(np.abs(o - r.detach().numpy()).max())
        for n, o, r in zip(names, session_outputs, reference, strict=True)
    }


def compare_with_pytorch(
    model: R3DModel,
    per_frame: Path,
    temporal: Path,
    real_frames: Sequence[tuple[torch.Tensor, ...]] = (),
    trials: int = 4,
) -> dict[str, float]:
    """Maximum absolute ONNX Runtime vs PyTorch error per output, over random and real inputs."""
    import onnxruntime as ort

    shapes = GraphShapes.of(model)
    frame_session = ort.InferenceSession(str(per_frame), providers=["CPUExecutionProvider"])
    temporal_session = ort.InferenceSession(str(temporal), providers=["CPUExecutionProvider"])
    frame_graph, temporal_graph = PerFrameGraph(model).eval(), TemporalGraph(model).eval()
    examples = [shapes.per_frame_example() for _ in range(trials)]
    rgb, depth, _, _ = examples[0]
    examples.append((rgb, depth, torch.ones(1, dtype=torch.bool), torch.zeros(1, dtype=torch.bool)))
    examples.extend(real_frames)
    errors: dict[str, float] = {}

    def keep(new: dict[str, float]) -> None:
        for key, value in new.items():
            errors[key] = max(errors.get(key, 0.0), value)

    tokens = []
    with torch.no_grad():
        for example in examples:
            reference = frame_graph(*example)
            feeds = {n: t.numpy() for n, t in zip(PER_FRAME_INPUTS, example, strict=True)}
            keep(_max_errors(frame_session.run(None, feeds), [reference], PER_FRAME_OUTPUTS))
            tokens.append(reference)
        windows = [shapes.temporal_example(n) for n in (shapes.window, max(1, shapes.window // 3), 1)]
        real = torch.cat(tokens)[-shapes.window :]
        padded, mask = shapes.temporal_example(len(real))
        padded[0, : len(real)] = real
        windows.append((padded, mask))
        for window in windows:
            reference = temporal_graph(*window)
            feeds = {n: t.numpy() for n, t in zip(TEMPORAL_INPUTS, window, strict=True)}
            outputs = temporal_session.run(None, feeds)
            real_frames_mask = window[1][0].numpy()
            outputs[0] = outputs[0][:, real_frames_mask]  # padded frames' segmentation is meaningless
            keep(_max_errors(outputs, [reference[0][:, window[1][0]], *reference[1:]], shapes.temporal_outputs))
    return errors


def export_model(
    model: R3DModel,
    model_id: str,
    out_dir: str | Path,
    real_frames: Sequence[tuple[torch.Tensor, ...]] = (),
    tolerance: float = FP32_TOLERANCE,
) -> ExportResult:
    """Write, check, tag and verify both graphs of ``model``."""
    model = model.cpu().eval()
    shapes = GraphShapes.of(model)
    per_frame, temporal = onnx_paths(out_dir, model_id, model.config.model.temporal)
    try:
        _export(PerFrameGraph(model), shapes.per_frame_example(), per_frame, PER_FRAME_INPUTS, PER_FRAME_OUTPUTS)
        _export(TemporalGraph(model), shapes.temporal_example(), temporal, TEMPORAL_INPUTS, shapes.temporal_outputs)
        _tag(per_frame, model_id, "per_frame", shapes)
        _tag(temporal, model_id, "temporal", shapes)
    except (RuntimeError, onnx.checker.ValidationError) as error:
        raise ExportError(f"ONNX export of model {model_id} failed: {error}") from error
    errors = compare_with_pytorch(model, per_frame, temporal, real_frames)
    worst = max(errors.values())
    if worst > tolerance:
        raise ExportError(f"ONNX Runtime differs from PyTorch by {worst:.2e} > {tolerance:.0e}: {errors}")
    return ExportResult(per_frame, temporal, errors)
