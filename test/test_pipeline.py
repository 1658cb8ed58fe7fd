"""The stream pipeline shared by node and replay: stream-time ticks and the output filter."""

from __future__ import annotations

import numpy as np
import pytest
from model_files import camera_frames, write_model

from r3d_ros.config import RuntimeConfig, StreamConfig
from r3d_ros.runtime.anticipator import Anticipation, SegmentEstimate
from r3d_ros.runtime.backends import create_backend
from r3d_ros.runtime.image import RawImage, decode_depth
from r3d_ros.runtime.pipeline import AnticipationPipeline, OutputFilter

CLASSES = ["reach", "grasp", "lift", "place", "wave"]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory):
    return create_backend(write_model(tmp_path_factory.mktemp("m") / "m.safetensors"), RuntimeConfig(backend="torch"))


def test_ticks_follow_stream_time_whatever_the_camera_rate(loaded) -> None:
    counts = {}
    for fps in (15.0, 30.0, 60.0):
        pipeline = AnticipationPipeline(loaded, StreamConfig(publish_rate_hz=10.0))
        results = []
        for stamp, color, depth in camera_frames(int(3 * fps), fps=fps):
            results += pipeline.add_color(stamp, color) + pipeline.add_depth(stamp, depth)
        counts[fps] = len(results)
    assert counts[15.0] == counts[30.0] == counts[60.0] == 30


def test_every_tick_contains_the_frame_it_is_stamped_with(loaded) -> None:
    pipeline = AnticipationPipeline(loaded, StreamConfig(publish_rate_hz=10.0))
    for stamp, color, depth in camera_frames(60, fps=30.0):
        for result in pipeline.add_color(stamp, color) + pipeline.add_depth(stamp, depth):
            assert result.stamp == pytest.approx(stamp)


def test_without_use_depth_colour_alone_drives_the_ticks_and_depth_is_ignored(loaded) -> None:
    pipeline = AnticipationPipeline(loaded, StreamConfig(publish_rate_hz=10.0, use_depth=False))
    results = []
    for stamp, color, depth in camera_frames(30, fps=30.0):
        assert pipeline.add_depth(stamp, depth) == []
        results += pipeline.add_color(stamp, color)  # no pair to wait for: due ticks come with the colour frame
    assert len(results) == 10
    assert all(not r.depth_present and r.depth_missing_fraction == 1.0 for r in results)
    assert pipeline.anticipator.stats.depth_missing == pipeline.anticipator.stats.used


def test_without_use_depth_a_synchronized_pair_loses_its_depth(loaded) -> None:
    pipeline = AnticipationPipeline(loaded, StreamConfig(publish_rate_hz=10.0, use_depth=False))
    results = [r for stamp, color, depth in camera_frames(9, fps=30.0) for r in pipeline.add_pair(stamp, color, depth)]
    assert results and not any(r.depth_present for r in results)


def noisy_depth(depth: RawImage, noise: float, seed: int) -> RawImage:
    """``depth`` with stereo noise of std ``noise`` m at 1 m added (the camera gone bad)."""
    metres = decode_depth(depth)
    metres = metres + np.random.default_rng(seed).standard_normal(metres.shape) * noise * metres**2
    return RawImage.from_array(np.rint(metres * 1000).astype(np.uint16), "16UC1")


def test_depth_noisier_than_max_depth_noise_is_counted_and_goes_in_as_missing(loaded) -> None:
    pipeline = AnticipationPipeline(loaded, StreamConfig(publish_rate_hz=10.0, max_depth_noise=0.02))
    results = []
    for i, (stamp, color, depth) in enumerate(camera_frames(30, fps=30.0)):
        results += pipeline.add_pair(stamp, color, noisy_depth(depth, 0.06, i))
    stats = pipeline.anticipator.stats
    assert results and not any(r.depth_present for r in results)
    assert stats.depth_too_noisy == stats.depth_missing == stats.used
    assert stats.last_depth_noise > 0.02


def test_by_default_the_pipeline_applies_the_limit_the_model_file_records(tmp_path) -> None:
    limited = create_backend(
        write_model(tmp_path / "limited.safetensors", "model.max_depth_noise=0.02"), RuntimeConfig(backend="torch")
    )
    unlimited = create_backend(write_model(tmp_path / "unlimited.safetensors"), RuntimeConfig(backend="torch"))
    frames = [(s, c, noisy_depth(d, 0.06, i)) for i, (s, c, d) in enumerate(camera_frames(30, fps=30.0))]
    present = {}
    for name, model in (("limited", limited), ("unlimited", unlimited)):
        pipeline = AnticipationPipeline(model, StreamConfig(publish_rate_hz=10.0))
        results = [r for s, c, d in frames for r in pipeline.add_pair(s, c, d)]
        present[name] = [r.depth_present for r in results]
    assert present["limited"] and not any(present["limited"]) and all(present["unlimited"])


def noisy_wall(shape: tuple[int, int], noise: float, count: int) -> list[tuple[float, RawImage, RawImage]]:
    """``count`` frames at 30 fps of a textured colour image and a wall at 1.2 m, stereo noise ``noise`` at 1 m."""
    rng = np.random.default_rng(3)
    frames = []
    for i in range(count):
        color = rng.integers(0, 255, (*shape, 3), dtype=np.uint8)
        metres = 1.2 + rng.standard_normal(shape) * noise * 1.2**2
        frames.append(
            (
                i / 30.0,
                RawImage.from_array(color, "bgr8"),
                RawImage.from_array(np.rint(metres * 1000).astype(np.uint16), "16UC1"),
            )
        )
    return frames


def test_the_models_own_limit_holds_at_its_renderers_resolution_and_is_lower_on_a_finer_stream(tmp_path) -> None:
    # The small model's renderer is 120x160 (25 readings per 24x32 pixel); 240x320 has 100, whose nearest is
    # pulled farther by the same noise, so the file's 0.03 becomes 0.0235 there.
    path = write_model(tmp_path / "m.safetensors", "model.max_depth_noise=0.03", "model.input.depth_downsample=closest")
    limited = create_backend(path, RuntimeConfig(backend="torch"))
    present, limits = {}, {}
    for shape in ((120, 160), (240, 320)):
        pipeline = AnticipationPipeline(limited, StreamConfig(publish_rate_hz=10.0))
        results = [r for s, c, d in noisy_wall(shape, 0.027, 9) for r in pipeline.add_pair(s, c, d)]
        present[shape], limits[shape] = [r.depth_present for r in results], pipeline.depth_limit
    assert limits[(120, 160)] == pytest.approx(0.03) and limits[(240, 320)] == pytest.approx(0.0235, abs=0.0005)
    assert present[(120, 160)] and all(present[(120, 160)])
    assert present[(240, 320)] and not any(present[(240, 320)])


def test_a_max_depth_noise_setting_is_the_cameras_noise_and_applies_as_set_at_any_resolution(loaded) -> None:
    pipeline = AnticipationPipeline(loaded, StreamConfig(publish_rate_hz=10.0, max_depth_noise=0.03))
    results = [r for s, c, d in noisy_wall((240, 320), 0.027, 9) for r in pipeline.add_pair(s, c, d)]
    assert pipeline.depth_limit == 0.03 and results and all(r.depth_present for r in results)


def test_max_depth_noise_applies_from_the_next_frame_when_changed(loaded) -> None:
    pipeline = AnticipationPipeline(loaded, StreamConfig(publish_rate_hz=10.0, max_depth_noise=0.02))
    frames = [(s, c, noisy_depth(d, 0.06, i)) for i, (s, c, d) in enumerate(camera_frames(60, fps=30.0))]
    before = [r for s, c, d in frames[:30] for r in pipeline.add_pair(s, c, d)]
    pipeline.update(StreamConfig(publish_rate_hz=10.0, max_depth_noise=0.0))
    after = [r for s, c, d in frames[30:] for r in pipeline.add_pair(s, c, d)]
    assert not any(r.depth_present for r in before) and all(r.depth_present for r in after)


def anticipation(stamp: float, probabilities: list[float]) -> Anticipation:
    p = np.asarray(probabilities, dtype=np.float32)
    segment = SegmentEstimate(0, CLASSES[0], 1.0, 0.0, 1.0)
    return Anticipation(stamp, 0.0, 1, 10.0, int(p.argmax()), CLASSES[int(p.argmax())], float(p.max()), p,
                        [], segment, True, True, False, False, 0.0, 1.0, "m")  # fmt: skip


def test_filter_is_the_identity_by_default() -> None:
    output = OutputFilter(StreamConfig(), CLASSES)
    for i, p in enumerate([[0.7, 0.1, 0.1, 0.05, 0.05], [0.1, 0.7, 0.1, 0.05, 0.05]]):
        result = anticipation(0.1 * i, p)
        filtered = output(result)
        assert filtered.next_class_id == result.next_class_id
        np.testing.assert_allclose(filtered.next_probabilities, result.next_probabilities, atol=1e-6)


def test_ema_smoothing_damps_a_single_outlier_tick() -> None:
    output = OutputFilter(StreamConfig(smoothing_alpha=0.3), CLASSES)
    steady, outlier = [0.6, 0.1, 0.1, 0.1, 0.1], [0.1, 0.6, 0.1, 0.1, 0.1]
    ids = [output(anticipation(0.1 * i, p)).next_class_id for i, p in enumerate([steady] * 5 + [outlier] + [steady])]
    assert ids == [0] * 7


def test_hysteresis_holds_the_published_action_and_needs_confidence() -> None:
    output = OutputFilter(StreamConfig(hold_s=1.0, min_confidence=0.5), CLASSES)
    first, weak, strong = [0.6, 0.1, 0.1, 0.1, 0.1], [0.1, 0.45, 0.15, 0.15, 0.15], [0.05, 0.8, 0.05, 0.05, 0.05]
    assert output(anticipation(0.0, first)).next_class_id == 0
    assert output(anticipation(0.5, strong)).next_class_id == 0  # held for only 0.5 s
    assert output(anticipation(1.2, weak)).next_class_id == 0  # held long enough, but not confident enough
    changed = output(anticipation(1.3, strong))
    assert changed.next_class_id == 1 and changed.next_confidence == pytest.approx(0.8)


def test_time_jump_in_the_synchronizer_resets_the_stream(loaded) -> None:
    pipeline = AnticipationPipeline(loaded, StreamConfig())
    frames = list(camera_frames(90, fps=30.0))
    for stamp, color, depth in frames:
        pipeline.add_color(stamp, color)
        pipeline.add_depth(stamp, depth)
    for stamp, color, depth in frames[:10]:  # the 3 s bag looped
        pipeline.add_color(stamp, color)
        pipeline.add_depth(stamp, depth)
    assert pipeline.anticipator.stats.resets == 1
    assert pipeline.anticipator.count <= 4
