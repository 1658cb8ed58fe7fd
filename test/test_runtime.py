"""Streaming anticipator, ONNX export and the backends (PyTorch and ONNX Runtime run here)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from conftest import small_config
from model_files import camera_frames, write_model

from r3d_ros.config import RuntimeConfig
from r3d_ros.model import R3DModel, save_model
from r3d_ros.model.grammar import ActionGrammar
from r3d_ros.runtime.anticipator import MISSING_DEPTH_PENALTY, Pushed, StreamingAnticipator
from r3d_ros.runtime.backends import BackendError, check_finite, choose_backend, create_backend
from r3d_ros.runtime.backends.onnx_backend import OnnxRuntimeBackend
from r3d_ros.runtime.backends.tensorrt_backend import engine_key
from r3d_ros.runtime.export import export_model, onnx_paths
from r3d_ros.runtime.graphs import GraphShapes
from r3d_ros.runtime.image import RawImage
from r3d_ros.runtime.preprocess import preprocess_frame


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_model(tmp_path_factory.mktemp("model") / "model.safetensors")


@pytest.fixture(scope="module")
def ebr_model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_model(tmp_path_factory.mktemp("ebr") / "model.safetensors", "model.ebr.enabled=true")


def runtime(tmp_path: Path, backend: str) -> RuntimeConfig:
    return RuntimeConfig(backend=backend, cache_dir=str(tmp_path / "cache"), threads=1)


def test_export_writes_checked_graphs_that_match_pytorch(model_file: Path, tmp_path: Path) -> None:
    from r3d_ros.model import load_model

    model, metadata = load_model(model_file)
    result = export_model(model, metadata["model_id"], tmp_path)
    for path, role in ((result.per_frame, "per_frame"), (result.temporal, "temporal")):
        proto = onnx.load(str(path))
        onnx.checker.check_model(proto)
        tags = {p.key: p.value for p in proto.metadata_props}
        assert tags["r3d_graph"] == role and tags["r3d_model_id"] == metadata["model_id"]
    assert set(result.max_abs_error) == {"fused", "segmentation", "future", "next"}
    assert max(result.max_abs_error.values()) < 1e-4


@pytest.mark.parametrize(
    "override",
    [
        "model.temporal.causal=true",
        "model.temporal.live_encoder=true",
        "model.temporal.live_encoder=true,model.temporal.live_history=3",
        "model.temporal.live_encoder=true,model.temporal.live_history=3,model.temporal.live_frames=4",
        "model.fuser.pool=concat",
        "model.fuser.pool=gated",
    ],
)
def test_a_model_of_each_variant_exports_graphs_that_match_pytorch(override: str, tmp_path: Path) -> None:
    from r3d_ros.model import load_model

    model, metadata = load_model(write_model(tmp_path / "variant.safetensors", *override.split(",")))
    result = export_model(model, metadata["model_id"], tmp_path)
    assert max(result.max_abs_error.values()) < 1e-4


@pytest.mark.parametrize(("setting", "frames", "changed_row"), [("live_history", 3, -1), ("live_frames", 4, -2)])
def test_a_live_reading_set_after_export_gets_its_own_graph_not_the_cached_one(
    setting: str, frames: int, changed_row: int, tmp_path: Path
) -> None:
    from r3d_ros.model import load_model
    from r3d_ros.model.checkpoint import set_model_setting

    path = write_model(tmp_path / "live.safetensors", "model.temporal.live_encoder=true")
    tokens = np.random.default_rng(0).standard_normal((12, 32)).astype(np.float32)
    mask = np.ones(12, dtype=bool)
    before = create_backend(path, runtime(tmp_path, "onnxruntime")).backend.temporal(tokens, mask).segmentation
    set_model_setting(path, setting, frames)
    after = create_backend(path, runtime(tmp_path, "onnxruntime")).backend.temporal(tokens, mask).segmentation
    model, _ = load_model(path)
    with torch.no_grad():
        expected = model.forward_temporal(torch.from_numpy(tokens)[None], torch.from_numpy(mask)[None])
    np.testing.assert_allclose(after, expected.segmentation_logits[0].numpy(), atol=1e-4)
    assert not np.allclose(after[changed_row], before[changed_row], atol=1e-3)
    assert len(list((tmp_path / "cache").glob("*.temporal.onnx"))) == 2


def test_onnx_from_another_model_is_refused(model_file: Path, ebr_model_file: Path, tmp_path: Path) -> None:
    create_backend(ebr_model_file, runtime(tmp_path, "onnxruntime"))  # exports the EBR model's graphs
    loaded = create_backend(model_file, runtime(tmp_path, "torch"))
    ebr_id = create_backend(ebr_model_file, runtime(tmp_path, "torch")).model_id
    per_frame, temporal = onnx_paths(tmp_path / "cache", ebr_id)
    with pytest.raises(BackendError, match="exported from model"):
        OnnxRuntimeBackend(per_frame, temporal, GraphShapes.of(loaded.model), loaded.model_id)


def test_truncated_onnx_is_refused(model_file: Path, tmp_path: Path) -> None:
    loaded = create_backend(model_file, runtime(tmp_path, "onnxruntime"))
    per_frame, temporal = onnx_paths(tmp_path / "cache", loaded.model_id)
    per_frame.write_bytes(per_frame.read_bytes()[:1000])
    with pytest.raises(BackendError, match="not a loadable ONNX model"):
        OnnxRuntimeBackend(per_frame, temporal, GraphShapes.of(loaded.model), loaded.model_id)


def test_streaming_tick_equals_the_batch_forward(model_file: Path, tmp_path: Path) -> None:
    loaded = create_backend(model_file, runtime(tmp_path, "torch"))
    stream = StreamingAnticipator(loaded)
    frames = list(camera_frames(30, fps=10.0))  # already at the model rate: every frame is used
    inputs = [preprocess_frame(c, d, loaded.model.config.model.input) for _, c, d in frames]
    for stamp, color, depth in frames:
        assert stream.push(stamp, color, depth).outcome == "used"
    window = loaded.model.config.anticipation.window
    last = inputs[-window:]
    rgb = torch.from_numpy(np.stack([f.rgb for f in last]))[None]
    depth = torch.from_numpy(np.stack([f.depth for f in last]))[None]
    with torch.no_grad():
        batch = loaded.model(rgb, depth, torch.ones(1, window, dtype=torch.bool)).temporal
    result = stream.backend.temporal(*_window(stream))
    np.testing.assert_allclose(result.future, batch.future_logits[0].numpy(), atol=1e-5)
    anticipation = stream.tick()
    assert anticipation.num_frames == window
    assert anticipation.stamp == pytest.approx(frames[-1][0])
    assert anticipation.window_start == pytest.approx(frames[-window][0])


def _window(stream: StreamingAnticipator) -> tuple[np.ndarray, np.ndarray]:
    tokens, *_ = stream._ordered()
    padded = np.zeros_like(stream.tokens)
    padded[: len(tokens)] = tokens
    return padded, np.arange(stream.window) < len(tokens)


def test_onnxruntime_and_torch_backends_anticipate_alike(model_file: Path, tmp_path: Path) -> None:
    results = []
    for backend in ("torch", "onnxruntime"):
        stream = StreamingAnticipator(create_backend(model_file, runtime(tmp_path, backend)))
        for stamp, color, depth in camera_frames(45):
            stream.push(stamp, color, depth)
        results.append(stream.tick())
    torch_result, onnx_result = results
    assert onnx_result.next_class_id == torch_result.next_class_id
    np.testing.assert_allclose(onnx_result.next_probabilities, torch_result.next_probabilities, atol=1e-5)
    assert onnx_result.fused_effective_rank == pytest.approx(torch_result.fused_effective_rank, rel=1e-4)


def test_frames_are_subsampled_to_the_model_rate(model_file: Path, tmp_path: Path) -> None:
    stream = StreamingAnticipator(create_backend(model_file, runtime(tmp_path, "torch")))
    outcomes = [stream.push(stamp, c, d).outcome for stamp, c, d in camera_frames(60, fps=30.0)]
    assert outcomes.count("used") == 20 and outcomes.count("skipped") == 40


def test_probabilities_sum_to_one_and_segments_cover_the_horizon(model_file: Path, tmp_path: Path) -> None:
    stream = StreamingAnticipator(create_backend(model_file, runtime(tmp_path, "torch")))
    assert stream.tick() is None  # nothing observed yet
    for stamp, color, depth in camera_frames(40):
        stream.push(stamp, color, depth)
    result = stream.tick()
    assert result.next_probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert all(0.0 <= s.start_offset_s <= result.horizon_s for s in result.future)
    assert result.current.start_offset_s <= 0.0


def grammar_model_file(path: Path, decoder: str = "grammar_filter", *overrides: str, ends_now: bool = False) -> Path:
    """A seeded untrained model whose future is decoded by a grammar estimated from random label runs.

    ``ends_now``: its remaining-frames head (``model.temporal.remaining_frames`` in ``overrides``)
    says the current action ends after the newest frame, whatever the window.
    """
    torch.manual_seed(0)
    model = R3DModel(small_config(f"model.future_decoder={decoder}", "model.temporal.live_encoder=true", *overrides))
    rng = np.random.default_rng(0)
    labels = [np.repeat(rng.integers(model.config.model.num_classes, size=12), rng.integers(3, 9, size=12))]
    model.set_grammar(ActionGrammar.estimate(labels, model.config.model.num_classes, model.config.anticipation.fps))
    if ends_now:
        with torch.no_grad():
            model.temporal.remaining_head.weight.zero_()
            model.temporal.remaining_head.bias.copy_(
                torch.tensor([30.0] + [0.0] * (model.temporal.remaining_head.out_features - 1))
            )
    save_model(path, model.eval())
    return path


@pytest.mark.parametrize("decoder", ["grammar", "grammar_filter"])
def test_a_grammar_decoded_models_temporal_graph_outputs_the_segmentation_alone(decoder: str, tmp_path: Path) -> None:
    from r3d_ros.model import load_model

    model, metadata = load_model(grammar_model_file(tmp_path / "grammar.safetensors", decoder))
    result = export_model(model, metadata["model_id"], tmp_path)
    assert [output.name for output in onnx.load(str(result.temporal)).graph.output] == ["segmentation"]
    assert set(result.max_abs_error) == {"fused", "segmentation"}
    assert max(result.max_abs_error.values()) < 1e-4


def test_leaving_the_decoder_out_keeps_the_segmentation_bit_for_bit(tmp_path: Path) -> None:
    from r3d_ros.model import load_model

    model, _ = load_model(grammar_model_file(tmp_path / "grammar.safetensors"))
    tokens, mask = GraphShapes.of(model).temporal_example(7)
    with torch.no_grad():
        full = model.forward_temporal(tokens, mask)
        alone = model.forward_temporal(tokens, mask, learned_future=False)
    assert alone.future_logits is None and alone.next_logits is None
    assert torch.equal(alone.segmentation_logits, full.segmentation_logits)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_a_grammar_decoded_models_tick_reads_the_full_models_segmentation(backend: str, tmp_path: Path) -> None:
    loaded = create_backend(grammar_model_file(tmp_path / "grammar.safetensors"), runtime(tmp_path, backend))
    stream = StreamingAnticipator(loaded)
    for stamp, color, depth in camera_frames(40):
        stream.push(stamp, color, depth)
    tokens, mask = _window(stream)
    result = stream.backend.temporal(tokens, mask)
    with torch.no_grad():
        full = loaded.model.forward_temporal(torch.from_numpy(tokens)[None], torch.from_numpy(mask)[None])
    assert result.future is None and result.next is None
    np.testing.assert_allclose(result.segmentation[mask], full.segmentation_logits[0, mask].numpy(), atol=1e-5)
    assert len(stream.tick().future) >= 1


def test_a_grammar_filter_model_streams_with_onnxruntime(tmp_path: Path) -> None:
    path = grammar_model_file(tmp_path / "filter.safetensors")
    stream = StreamingAnticipator(create_backend(path, runtime(tmp_path, "onnxruntime")))
    for stamp, color, depth in camera_frames(40):
        stream.push(stamp, color, depth)
    result = stream.tick()
    window_s = (stream.count - 1) / stream.fps
    assert -window_s - 1e-6 <= result.current.start_offset_s <= 0.0
    assert 0.0 < result.current.confidence <= 1.0
    assert sum(s.duration_s for s in result.future) == pytest.approx(result.horizon_s, abs=1e-6)


REMAINING_HEAD = "model.temporal.remaining_frames=8"


def test_a_remaining_head_is_a_graph_output_that_matches_pytorch(tmp_path: Path) -> None:
    from r3d_ros.model import load_model

    model, metadata = load_model(
        grammar_model_file(tmp_path / "remaining.safetensors", "grammar_filter", REMAINING_HEAD)
    )
    result = export_model(model, metadata["model_id"], tmp_path)
    assert [output.name for output in onnx.load(str(result.temporal)).graph.output] == ["segmentation", "remaining"]
    assert max(result.max_abs_error.values()) < 1e-4


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_a_tick_ends_the_current_action_where_the_remaining_head_says(backend: str, tmp_path: Path) -> None:
    results = {}
    for ends_now in (False, True):
        path = grammar_model_file(
            tmp_path / f"{ends_now}.safetensors", "grammar_filter", REMAINING_HEAD, ends_now=ends_now
        )
        stream = StreamingAnticipator(create_backend(path, runtime(tmp_path / str(ends_now), backend)))
        for stamp, color, depth in camera_frames(40):
            stream.push(stamp, color, depth)
        tokens, mask = _window(stream)
        assert stream.backend.temporal(tokens, mask).remaining.shape == (8,)
        results[ends_now] = stream.tick()
    chain, ends_now = results[False], results[True]
    assert ends_now.current.class_id == chain.current.class_id
    assert ends_now.future[0].class_id != chain.current.class_id  # the next action from the first future frame
    assert chain.future[0].class_id == chain.current.class_id


@pytest.mark.parametrize(
    ("second_stamp", "second_size", "reason"),
    [(-1.0, (60, 80), "time went backwards"), (60.0, (60, 80), "gap of"), (0.1, (120, 160), "resolution changed")],
)
def test_stream_resets_cleanly_with_a_log_line(
    model_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, second_stamp, second_size, reason
) -> None:
    stream = StreamingAnticipator(create_backend(model_file, runtime(tmp_path, "torch")))
    assert not any(stream.push(stamp, color, depth).reset for stamp, color, depth in camera_frames(10, fps=10.0))
    color = RawImage.from_array(np.zeros((*second_size, 3), np.uint8), "rgb8")
    with caplog.at_level(logging.WARNING):
        assert stream.push(0.9 + second_stamp, color, None) == Pushed("used", reset=True)
    assert reason in caplog.text
    assert stream.stats.resets == 1 and stream.count == 1


def test_malformed_image_is_counted_and_dropped(model_file: Path, tmp_path: Path) -> None:
    stream = StreamingAnticipator(create_backend(model_file, runtime(tmp_path, "torch")))
    bad = RawImage(b"\0" * 10, 60, 80, "rgb8", 240)
    pushed = stream.push(0.0, bad, None)
    assert pushed.outcome == "invalid" and "expected step*height" in pushed.invalid_reason
    assert stream.stats.invalid == 1 and stream.stats.last_invalid_reason == pushed.invalid_reason
    _, color, depth = next(camera_frames(1))
    assert stream.push(0.1, color, depth).outcome == "used"


def test_nan_never_reaches_a_network() -> None:
    with pytest.raises(ValueError, match="NaN or inf"):
        check_finite("tokens", np.array([1.0, np.nan]))


def anticipate_with_depth_dropping(model_file: Path, tmp_path: Path, drop: bool):
    stream = StreamingAnticipator(create_backend(model_file, runtime(tmp_path, "torch")))
    for i, (stamp, color, depth) in enumerate(camera_frames(90)):
        stream.push(stamp, color, None if drop and i >= 45 else depth)
    return stream.tick()


def test_missing_depth_without_ebr_is_reported_and_lowers_confidence(model_file: Path, tmp_path: Path) -> None:
    dropped = anticipate_with_depth_dropping(model_file, tmp_path, drop=True)
    assert not dropped.depth_present and not dropped.depth_substituted
    missing = dropped.depth_missing_fraction
    assert missing > 0.5
    classes = len(dropped.next_probabilities)
    # blended towards uniform by half the missing fraction: no class can keep more than this
    ceiling = 1.0 - MISSING_DEPTH_PENALTY * missing * (1.0 - 1.0 / classes)
    assert dropped.next_probabilities.max() <= ceiling + 1e-6
    assert dropped.next_probabilities.min() >= MISSING_DEPTH_PENALTY * missing / classes - 1e-6
    assert dropped.next_probabilities.sum() == pytest.approx(1.0, abs=1e-5)


def test_rgb_noisier_than_the_limit_goes_in_as_missing_and_is_counted(model_file: Path, tmp_path: Path) -> None:
    stream = StreamingAnticipator(create_backend(model_file, runtime(tmp_path, "torch")))
    for stamp, color, depth in camera_frames(30):  # a random texture reads as heavy pixel noise
        stream.push(stamp, color, depth, max_rgb_noise=1.0)
    result = stream.tick()
    assert stream.stats.rgb_too_noisy == stream.stats.used > 0 and stream.stats.last_rgb_noise > 1.0
    assert not result.rgb_present and result.depth_present and not result.rgb_substituted


def test_rgb_is_kept_without_a_limit(model_file: Path, tmp_path: Path) -> None:
    stream = StreamingAnticipator(create_backend(model_file, runtime(tmp_path, "torch")))
    for stamp, color, depth in camera_frames(30):
        stream.push(stamp, color, depth)
    assert stream.tick().rgb_present and stream.stats.rgb_too_noisy == 0


def test_an_rgb_only_model_anticipates_the_same_with_or_without_depth(tmp_path: Path) -> None:
    model_file = write_model(tmp_path / "rgb_only.safetensors", "train.modality_dropout_depth_video=1")
    with_depth = anticipate_with_depth_dropping(model_file, tmp_path, drop=False)
    without = anticipate_with_depth_dropping(model_file, tmp_path, drop=True)
    assert not with_depth.depth_present and with_depth.rgb_present
    np.testing.assert_array_equal(with_depth.next_probabilities, without.next_probabilities)  # and no penalty


def test_a_depth_only_model_never_reads_the_color_image(tmp_path: Path) -> None:
    model_file = write_model(tmp_path / "depth_only.safetensors", "train.modality_dropout_rgb_video=1")
    results = []
    for brightness in (0.2, 1.0):
        stream = StreamingAnticipator(create_backend(model_file, runtime(tmp_path, "torch")))
        for stamp, color, depth in camera_frames(30):
            dimmed = (np.asarray(color.data) * brightness).astype(np.uint8)
            stream.push(stamp, RawImage.from_array(dimmed, "bgr8"), depth)
        results.append(stream.tick())
    assert not results[0].rgb_present and results[0].depth_present
    np.testing.assert_array_equal(results[0].next_probabilities, results[1].next_probabilities)


def test_missing_depth_with_ebr_is_substituted(ebr_model_file: Path, tmp_path: Path) -> None:
    dropped = anticipate_with_depth_dropping(ebr_model_file, tmp_path, drop=True)
    assert not dropped.depth_present and dropped.depth_substituted


def test_auto_backend_picks_onnxruntime_without_a_gpu(model_file: Path, tmp_path: Path, caplog) -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present: auto may pick TensorRT here")
    assert choose_backend("auto") == "onnxruntime"
    with caplog.at_level(logging.INFO):
        loaded = create_backend(model_file, runtime(tmp_path, "auto"))
    assert loaded.backend.name == "onnxruntime" and "backend auto -> onnxruntime" in caplog.text


def test_engine_cache_key_changes_with_every_build_input(tmp_path: Path) -> None:
    onnx_file = tmp_path / "graph.onnx"
    onnx_file.write_bytes(b"graph-1")
    base = engine_key(onnx_file, "fp16", "10.3.0", "Orin", "8.7")
    assert engine_key(onnx_file, "fp16", "10.3.0", "Orin", "8.7") == base
    changed = [
        engine_key(onnx_file, "fp32", "10.3.0", "Orin", "8.7"),
        engine_key(onnx_file, "fp16", "10.7.0", "Orin", "8.7"),
        engine_key(onnx_file, "fp16", "10.3.0", "RTX 4090", "8.9"),
    ]
    onnx_file.write_bytes(b"graph-2")
    changed.append(engine_key(onnx_file, "fp16", "10.3.0", "Orin", "8.7"))
    assert base not in changed and len(set(changed)) == 4


def test_tensorrt_backend_builds_and_matches_onnxruntime(model_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorrt", reason="TensorRT is not installed (needs an NVIDIA GPU and its wheel/JetPack)")
    if not torch.cuda.is_available():
        pytest.skip("TensorRT needs a CUDA GPU; none is available")
    results = []
    for backend in ("onnxruntime", "tensorrt"):
        config = RuntimeConfig(backend=backend, cache_dir=str(tmp_path / "cache"), precision="fp32")
        stream = StreamingAnticipator(create_backend(model_file, config))
        for stamp, color, depth in camera_frames(45):
            stream.push(stamp, color, depth)
        results.append(stream.tick())
    np.testing.assert_allclose(results[1].next_probabilities, results[0].next_probabilities, atol=1e-3)
