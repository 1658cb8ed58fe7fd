"""What the shared stream pipeline does with faulty input: it never publishes what is not new."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from model_files import camera_frames, write_model

from r3d_ros.config import RuntimeConfig, StreamConfig
from r3d_ros.runtime.backends import create_backend
from r3d_ros.runtime.image import RawImage
from r3d_ros.runtime.input_queue import InputQueue, QueuedImage
from r3d_ros.runtime.pipeline import AnticipationPipeline, ThrottledLog
from r3d_ros.runtime.timebase import StampEpoch


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory):
    return create_backend(write_model(tmp_path_factory.mktemp("m") / "m.safetensors"), RuntimeConfig(backend="torch"))


def truncated(image: RawImage) -> RawImage:
    """The same header with the last row missing from the buffer."""
    data = np.asarray(image.data).reshape(-1).view(np.uint8)[: -image.step]
    return RawImage(data, image.height, image.width, image.encoding, image.step)


def play(pipeline: AnticipationPipeline, frames) -> list:
    results = []
    for stamp, color, depth in frames:
        results += pipeline.add_pair(stamp, color, depth)
    return results


def test_one_bad_frame_in_seven_never_repeats_a_stamp(loaded) -> None:
    pipeline = AnticipationPipeline(loaded, StreamConfig(publish_rate_hz=10.0))
    frames = [(s, truncated(c) if i % 7 == 3 else c, d) for i, (s, c, d) in enumerate(camera_frames(90, fps=30.0))]
    stamps = [r.stamp for r in play(pipeline, frames)]
    assert len(stamps) > 20 and len(set(stamps)) == len(stamps)


def test_every_tick_follows_a_frame_that_entered_the_window(loaded) -> None:
    pipeline = AnticipationPipeline(loaded, StreamConfig(publish_rate_hz=10.0))
    ticks = 0
    for stamp, color, depth in camera_frames(90, fps=30.0):
        used = pipeline.anticipator.stats.used
        new = pipeline.add_pair(stamp, color, depth)
        ticks += len(new)
        assert not new or pipeline.anticipator.stats.used == used + 1
    assert ticks > 20


def test_publish_rate_above_the_model_rate_is_capped_with_a_warning(loaded, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="r3d_ros.runtime"):
        pipeline = AnticipationPipeline(loaded, StreamConfig(publish_rate_hz=30.0))
    assert "above the model's frame rate" in caplog.text
    results = play(pipeline, camera_frames(90, fps=30.0))
    stamps = [r.stamp for r in results]
    assert len(set(stamps)) == len(stamps)
    assert len(results) <= 3 * pipeline.anticipator.fps + 1


def test_every_invalid_frame_is_counted_also_between_kept_frames(loaded) -> None:
    pipeline = AnticipationPipeline(loaded, StreamConfig(publish_rate_hz=10.0))
    frames = [(s, truncated(c), d) for s, c, d in camera_frames(30, fps=30.0)]
    assert play(pipeline, frames) == []
    assert pipeline.anticipator.stats.invalid == 30


def test_a_color_image_smaller_than_the_model_input_is_refused(loaded) -> None:
    pipeline = AnticipationPipeline(loaded, StreamConfig())
    tiny = RawImage.from_array(np.zeros((8, 8, 3), np.uint8), "rgb8")
    assert pipeline.add_pair(0.0, tiny, None) == []
    assert "smaller than the model's input" in pipeline.anticipator.stats.last_invalid_reason


def test_depth_of_another_size_than_color_is_refused(loaded) -> None:
    pipeline = AnticipationPipeline(loaded, StreamConfig())
    color = RawImage.from_array(np.zeros((60, 80, 3), np.uint8), "rgb8")
    depth = RawImage.from_array(np.full((48, 80), 1000, np.uint16), "16UC1")
    assert pipeline.add_pair(0.0, color, depth) == []
    assert "not aligned" in pipeline.anticipator.stats.last_invalid_reason


def test_extra_trailing_bytes_are_refused(loaded) -> None:
    pipeline = AnticipationPipeline(loaded, StreamConfig())
    pixels = np.zeros((60, 80, 3), np.uint8)
    color = RawImage(pixels.tobytes() + b"\0" * 7, 60, 80, "rgb8", 240)
    assert pipeline.add_pair(0.0, color, None) == []
    assert "expected step*height" in pipeline.anticipator.stats.last_invalid_reason


def test_a_frame_of_the_wrong_size_does_not_reset_the_window(loaded) -> None:
    pipeline = AnticipationPipeline(loaded, StreamConfig())
    frames = list(camera_frames(30, fps=30.0))
    play(pipeline, frames[:15])
    odd = RawImage.from_array(np.zeros((60, 80, 3), np.uint8), "rgb8")
    pipeline.add_pair(frames[15][0], odd, RawImage.from_array(np.zeros((30, 40), np.uint16), "16UC1"))
    play(pipeline, frames[16:])
    assert pipeline.anticipator.stats.resets == 0 and pipeline.anticipator.stats.invalid == 1


def test_invalid_frame_warnings_are_throttled(loaded, caplog) -> None:
    pipeline = AnticipationPipeline(loaded, StreamConfig())
    frames = [(s, truncated(c), d) for s, c, d in camera_frames(50, fps=30.0)]
    with caplog.at_level(logging.WARNING, logger="r3d_ros.runtime"):
        play(pipeline, frames)
    assert len([r for r in caplog.records if "invalid frame" in r.getMessage()]) == 1


def test_a_throttled_warning_says_how_many_were_suppressed(caplog) -> None:
    log = ThrottledLog(logging.getLogger("r3d_ros.test"), period_s=0.0)
    log.last, log.suppressed = 0.0, 4
    with caplog.at_level(logging.WARNING, logger="r3d_ros.test"):
        log("bad frame")
    assert "and 4 more like it" in caplog.text


def test_future_segments_cover_the_whole_horizon(loaded) -> None:
    pipeline = AnticipationPipeline(loaded, StreamConfig())
    for result in play(pipeline, camera_frames(60, fps=30.0)):
        assert result.future[0].start_offset_s == 0.0
        ends = [s.start_offset_s + s.duration_s for s in result.future]
        assert ends[-1] == pytest.approx(result.horizon_s)
        assert all(s.start_offset_s == pytest.approx(end) for s, end in zip(result.future[1:], ends, strict=False))


def test_stamps_round_trip_exactly_after_a_clock_restart_near_zero() -> None:
    epoch = StampEpoch()
    epoch.seconds(1_700_000_000_123_456_789)
    for ns in (0, 1, 999, 33_333_333):
        assert epoch.nanoseconds(epoch.seconds(ns)) == ns


def test_a_stamp_never_seen_is_never_rebuilt_below_zero() -> None:
    epoch = StampEpoch()
    epoch.seconds(5)
    assert epoch.nanoseconds(-1.0) == 0


def queued(*items: tuple[str, int, str]) -> list[QueuedImage]:
    return [QueuedImage(*item) for item in items]


def test_dropping_a_color_image_drops_its_queued_depth() -> None:
    queue = InputQueue(size=3, pair_tolerance_ns=0)
    for item in queued(("color", 1, "c1"), ("depth", 1, "d1"), ("color", 2, "c2"), ("depth", 2, "d2")):
        queue.put(item)
    remaining = [queue.get(0.0)[1] for _ in range(len(queue))]
    assert remaining == queued(("color", 2, "c2"), ("depth", 2, "d2")) and queue.dropped == 2


def test_dropping_a_color_image_drops_its_depth_arriving_later() -> None:
    queue = InputQueue(size=2, pair_tolerance_ns=0)
    for item in queued(
        ("color", 1, "c1"), ("color", 2, "c2"), ("color", 3, "c3"), ("depth", 1, "d1"), ("depth", 2, "d2")
    ):
        queue.put(item)
    remaining = [queue.get(0.0)[1] for _ in range(len(queue))]
    assert remaining == queued(("color", 3, "c3")) and queue.dropped == 4


def test_approximate_pairs_are_dropped_within_the_slop() -> None:
    queue = InputQueue(size=2, pair_tolerance_ns=5)
    for item in queued(("depth", 100, "d"), ("color", 103, "c"), ("color", 200, "c2"), ("color", 300, "c3")):
        queue.put(item)
    assert [queue.get(0.0)[1].stamp_ns for _ in range(len(queue))] == [200, 300] and queue.dropped == 2
