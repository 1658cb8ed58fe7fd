"""RealSense source without a camera: librealsense's software device, its recorder and playback."""

from __future__ import annotations

import gc
import itertools
import math
import threading
import time

import numpy as np
import pytest

pytest.importorskip("pyrealsense2", reason="pyrealsense2 is not installed")
import pyrealsense2 as rs

from r3d_ros.config import ConfigError
from r3d_ros.runtime.image import decode_color, decode_depth
from r3d_ros.runtime.realsense import RealSenseConfig, RealSenseSource, StampMapper

DEPTH_SIZE = (64, 48)  # width, height: smaller than color, so alignment must resample
COLOR_SIZE = (80, 60)
DEPTH_UNITS = 0.00025  # not the 1 mm default: the scale must be read from the device
NEAR, FAR = 4000, 12000  # left and right half of the depth image, in depth units (1 m, 3 m), plus the frame number
WALL_S = 1_700_000_000.0
FRAME_MS = 1000.0 / 30


def intrinsics(width: int, height: int) -> rs.intrinsics:
    """Pinhole intrinsics with the same field of view at any resolution."""
    result = rs.intrinsics()
    result.width, result.height = width, height
    result.ppx, result.ppy = width / 2, height / 2
    result.fx = result.fy = float(width)
    result.model = rs.distortion.none
    result.coeffs = [0.0] * 5
    return result


def video_stream(kind: rs.stream, fmt: rs.format, size: tuple[int, int], bpp: int, uid: int) -> rs.video_stream:
    stream = rs.video_stream()
    stream.type, stream.index, stream.uid, stream.fmt, stream.bpp, stream.fps = kind, 0, uid, fmt, bpp, 30
    stream.width, stream.height = size
    stream.intrinsics = intrinsics(*size)
    return stream


class SoftwareCamera:
    """A software device with a z16 depth sensor and an rgb8 color sensor, frames pushed by the test."""

    def __init__(self) -> None:
        self.device = rs.software_device()
        self.depth_sensor = self.device.add_sensor("Stereo Module")
        self.color_sensor = self.device.add_sensor("RGB Camera")
        self.depth_profile = rs.video_stream_profile(
            self.depth_sensor.add_video_stream(video_stream(rs.stream.depth, rs.format.z16, DEPTH_SIZE, 2, 0))
        )
        self.color_profile = rs.video_stream_profile(
            self.color_sensor.add_video_stream(video_stream(rs.stream.color, rs.format.rgb8, COLOR_SIZE, 3, 1))
        )
        self.depth_sensor.add_read_only_option(rs.option.depth_units, DEPTH_UNITS)
        identity = rs.extrinsics()
        identity.rotation, identity.translation = [1, 0, 0, 0, 1, 0, 0, 0, 1], [0, 0, 0]
        self.depth_profile.register_extrinsics_to(self.color_profile, identity)
        self.with_depth: set[int] = set()

    def deliver(self, number: int, stamp_ms: float, domain: rs.timestamp_domain, depth: bool = True) -> None:
        """Push frame ``number`` (color value 10 * number) and, unless ``depth`` is False, its depth."""
        if depth:
            self.with_depth.add(number)
            width, height = DEPTH_SIZE
            pixels = np.full((height, width), NEAR + number, np.uint16)
            pixels[:, width // 2 :] = FAR + number
            self._push(self.depth_sensor, self.depth_profile, pixels, number, stamp_ms, domain)
        color = np.full((COLOR_SIZE[1], COLOR_SIZE[0], 3), 10 * number % 256, np.uint8)
        self._push(self.color_sensor, self.color_profile, color, number, stamp_ms, domain)

    @staticmethod
    def _push(sensor, profile, pixels: np.ndarray, number: int, stamp_ms: float, domain) -> None:
        frame = rs.software_video_frame()
        frame.pixels, frame.stride, frame.bpp = pixels, pixels.strides[0], pixels.strides[1]
        frame.timestamp, frame.domain, frame.frame_number, frame.profile = stamp_ms, domain, number, profile
        sensor.on_video_frame(frame)


class SoftwareStream:
    """FrameStream over a SoftwareCamera: each color frame with the depth frame of its number, if delivered.

    ``pairs`` pairs a color frame with another depth frame instead, as a
    pipeline does. Framesets are built by a librealsense processing block, so
    they are real composite frames (what the pipeline returns) and pairing is
    deterministic.
    """

    def __init__(self, camera: SoftwareCamera, pairs: dict[int, int] | None = None) -> None:
        self.camera = camera
        self.pairs = pairs or {}
        self.parts: list[rs.frame] = []
        self.output = rs.frame_queue(4, keep_frames=True)
        self.block = rs.processing_block(
            lambda _, source: source.frame_ready(source.allocate_composite_frame(self.parts))
        )
        self.block.start(self.output)
        self.started = False

    def start(self) -> rs.device:
        self.depth_queue, self.color_queue = rs.frame_queue(64, keep_frames=True), rs.frame_queue(64, keep_frames=True)
        self.depths: dict[int, rs.frame] = {}
        for sensor, profile, queue in (
            (self.camera.depth_sensor, self.camera.depth_profile, self.depth_queue),
            (self.camera.color_sensor, self.camera.color_profile, self.color_queue),
        ):
            sensor.open(profile)
            sensor.start(queue)
        self.started = True
        return self.camera.device

    def wait(self, timeout_s: float):
        ok, color = self.color_queue.try_wait_for_frame(max(1, round(timeout_s * 1000)))
        if not ok:
            return None
        self.parts = [color]
        partner = self.pairs.get(color.get_frame_number(), color.get_frame_number())
        if partner in self.camera.with_depth:
            while partner not in self.depths:
                depth = self.depth_queue.wait_for_frame(1000)
                self.depths[depth.get_frame_number()] = depth
            self.parts.append(self.depths[partner])
        self.block.invoke(color)
        return self.output.wait_for_frame(1000).as_frameset()

    def stop(self) -> None:
        if self.started:
            for sensor in (self.camera.depth_sensor, self.camera.color_sensor):
                sensor.stop()
                sensor.close()
        self.started = False


class FlakyStream:
    """Wraps a stream: the next ``failing_starts`` starts fail, ``lose_next`` makes the next wait raise."""

    def __init__(self, inner: SoftwareStream, failing_starts: int, after_start) -> None:
        self.inner, self.failing_starts, self.after_start = inner, failing_starts, after_start
        self.lose_next: Exception | None = None

    def start(self) -> rs.device:
        if self.failing_starts > 0:
            self.failing_starts -= 1
            raise RuntimeError("No device connected")
        device = self.inner.start()
        self.after_start()
        return device

    def wait(self, timeout_s: float):
        if self.lose_next is not None:
            error, self.lose_next = self.lose_next, None
            raise error
        return self.inner.wait(timeout_s)

    def stop(self) -> None:
        self.inner.stop()


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 100.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.now_s

    def wall(self) -> float:
        return WALL_S + self.now_s

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now_s += seconds


def color_number(frame) -> int:
    """The frame number a frame's color encodes, after checking its layout and depth scale."""
    width, height = COLOR_SIZE
    assert (frame.color.width, frame.color.height, frame.color.encoding) == (width, height, "rgb8")
    assert frame.color.step == width * 3
    assert frame.depth_scale == pytest.approx(DEPTH_UNITS, rel=1e-6)
    pixels = decode_color(frame.color)
    assert np.all(pixels == pixels[0, 0, 0])
    return int(pixels[0, 0, 0]) // 10


def depth_number(frame) -> int | None:
    """The frame number a frame's depth encodes (None without depth), after checking its alignment."""
    if frame.depth is None:
        return None
    width, height = COLOR_SIZE
    assert (frame.depth.width, frame.depth.height, frame.depth.encoding) == (width, height, "16UC1")
    units = decode_depth(frame.depth, frame.depth_scale) / frame.depth_scale
    # Aligned: the near half of the depth image lands on the left half of color, the far half on the right.
    number = round(float(np.median(units[:, : width // 2 - 2]))) - NEAR
    assert round(float(np.median(units[:, width // 2 + 2 :]))) - FAR == number
    assert np.mean(units > 0) > 0.9
    return number


def test_software_device_frames_are_aligned_scaled_and_stamped() -> None:
    camera, clock = SoftwareCamera(), FakeClock()
    # Color 3 gets depth 1 again (a pipeline repeating the last depth), color 5 gets depth 3 (two frames early).
    stream = SoftwareStream(camera, pairs={3: 1, 5: 3})
    source = RealSenseSource(RealSenseConfig(frame_timeout_s=1.0), stream, wall_clock=clock.wall)
    source.start()
    stamps_ms = [5_000.0 + FRAME_MS * i for i in range(7)]
    for i, stamp_ms in enumerate(stamps_ms):
        camera.deliver(i, stamp_ms, rs.timestamp_domain.hardware_clock, depth=i != 2)
    frames = [source.read() for _ in stamps_ms]
    assert [color_number(f) for f in frames] == list(range(7))
    # 2: no depth frame; 3, 5: depth of another instant (repeated; two frames early).
    assert [depth_number(f) for f in frames] == [0, 1, None, None, 4, None, 6]
    assert source.stats.stale_depth == 2
    # Hardware clock: anchored to the host clock on the first frame, then the device clock's steps.
    assert frames[0].stamp_s == pytest.approx(clock.wall())
    assert [f.stamp_s - frames[0].stamp_s for f in frames] == pytest.approx(
        [(t - stamps_ms[0]) / 1000 for t in stamps_ms]
    )
    status = source.status()
    assert status["clock_domain"] == "hardware_clock"
    assert status["depth_scale"] == pytest.approx(DEPTH_UNITS, rel=1e-6)
    assert (status["frames"], status["connected"]) == (7, True)
    source.stop()
    assert source.read() is None and list(source.frames()) == []


def record(path: str, domain: rs.timestamp_domain, count: int, missing_depth: int) -> list[float]:
    """Record ``count`` frames of a software camera at 30 frames/s with rs.recorder; return their timestamps (ms).

    Paced like a camera: the recording also stores arrival times, and playback follows them.
    """
    camera = SoftwareCamera()
    recorder = rs.recorder(path, camera.device)
    stream = SoftwareStream(camera)
    stream.start()
    base = 1.7e12 if domain == rs.timestamp_domain.system_time else 0.0
    stamps_ms = [base + FRAME_MS * i for i in range(count)]
    for i, stamp_ms in enumerate(stamps_ms):
        camera.deliver(i, stamp_ms, domain, depth=i != missing_depth)
        assert stream.wait(1.0) is not None
        time.sleep(FRAME_MS / 1000)
    stream.stop()
    recorder.pause()
    del recorder, stream, camera
    gc.collect()  # the recording is closed when the recorder is destroyed
    return stamps_ms


@pytest.mark.parametrize("domain", [rs.timestamp_domain.system_time, rs.timestamp_domain.hardware_clock])
def test_recording_plays_back_through_the_source(tmp_path, domain) -> None:
    path = str(tmp_path / "session.db3")  # librealsense 2.59 records ROS2 .db3 (it plays ROS1 .bag too)
    stamps_ms = record(path, domain, count=8, missing_depth=5)
    clock = FakeClock()
    config = RealSenseConfig(playback_file=path, realtime=False, frame_timeout_s=2.0)
    source = RealSenseSource(config, wall_clock=clock.wall)
    source.start()
    frames = list(source.frames())  # ends by itself at the end of the recording
    assert source.finished and not source.running
    assert [color_number(f) for f in frames] == list(range(8))
    # Frame 5 was recorded without depth: the pipeline repeats depth 4, which the source drops.
    assert [depth_number(f) for f in frames] == [0, 1, 2, 3, 4, None, 6, 7]
    stamps = [f.stamp_s for f in frames]
    if domain == rs.timestamp_domain.system_time:
        assert stamps == pytest.approx([t / 1000 for t in stamps_ms], abs=1e-6)
    else:
        assert stamps[0] == pytest.approx(clock.wall())
        assert [s - stamps[0] for s in stamps] == pytest.approx([(t - stamps_ms[0]) / 1000 for t in stamps_ms])
    status = source.status()
    assert (status["clock_domain"], status["stale_depth"], status["frames"]) == (domain.name, 1, 8)


def test_without_depth_enabled_a_recording_plays_colour_alone(tmp_path) -> None:
    path = str(tmp_path / "session.db3")
    record(path, rs.timestamp_domain.system_time, count=6, missing_depth=-1)
    config = RealSenseConfig(playback_file=path, realtime=False, frame_timeout_s=2.0, enable_depth=False)
    source = RealSenseSource(config)
    source.start()
    frames = list(source.frames())
    assert [color_number(f) for f in frames] == list(range(6))
    assert all(f.depth is None for f in frames)


def test_realtime_playback_keeps_the_recorded_pace(tmp_path) -> None:
    path = str(tmp_path / "session.db3")
    stamps_ms = record(path, rs.timestamp_domain.system_time, count=8, missing_depth=-1)
    source = RealSenseSource(RealSenseConfig(playback_file=path, frame_timeout_s=2.0))
    start = time.monotonic()
    source.start()
    frames = list(source.frames())
    elapsed = time.monotonic() - start
    # Real time may drop a frame the consumer was late for; the pace is the recorded one.
    assert elapsed >= 0.8 * (stamps_ms[-1] - stamps_ms[0]) / 1000
    numbers = [color_number(f) for f in frames]
    assert len(numbers) >= 4 and numbers == sorted(set(numbers)) and numbers[-1] == 7


def test_looping_playback_restarts_with_increasing_hardware_stamps(tmp_path) -> None:
    path = str(tmp_path / "loop.db3")
    count = 4
    record(path, rs.timestamp_domain.hardware_clock, count=count, missing_depth=-1)
    config = RealSenseConfig(playback_file=path, realtime=False, loop=True, frame_timeout_s=2.0)
    source = RealSenseSource(config)
    source.start()
    frames = list(itertools.islice(source.frames(), 3 * count))
    source.stop()
    assert [color_number(f) for f in frames] == list(range(count)) * 3
    assert [depth_number(f) for f in frames] == list(range(count)) * 3
    stamps = [f.stamp_s for f in frames]
    assert all(b >= a for a, b in itertools.pairwise(stamps)), stamps
    assert not source.finished and source.stats.reconnects == 0


def test_missing_recording_is_raised_not_retried(tmp_path) -> None:
    source = RealSenseSource(RealSenseConfig(playback_file=str(tmp_path / "missing.db3")))
    with pytest.raises(RuntimeError, match=r"missing\.db3"):
        source.start()
    assert source.stats.failed_starts == 0


def test_stamp_mapper_domains() -> None:
    wall = [WALL_S]
    mapper = StampMapper(lambda: wall[0])
    # Host-epoch domains pass through.
    assert mapper.stamp(1.7e12 + 5.0, "global_time") == pytest.approx(1.7e9 + 0.005)
    assert mapper.stamp(1.7e12 + 40.0, "system_time") == pytest.approx(1.7e9 + 0.040)
    # Hardware clock: offset from the first frame, then the device clock's steps whatever the host does.
    assert mapper.stamp(2_000.0, "hardware_clock") == pytest.approx(WALL_S)
    wall[0] += 5.0  # late delivery does not move the stamps
    assert mapper.stamp(2_033.0, "hardware_clock") == pytest.approx(WALL_S + 0.033)
    assert mapper.domain == "hardware_clock"
    # Device clock went back (device reset): anchored again, never below the last stamp.
    wall[0] = WALL_S - 1.0
    assert mapper.stamp(10.0, "hardware_clock") == pytest.approx(WALL_S + 0.033)
    assert mapper.stamp(43.0, "hardware_clock") == pytest.approx(WALL_S + 0.066)
    # After a reconnect the offset is estimated again.
    mapper.reset()
    wall[0] = WALL_S + 60.0
    assert mapper.stamp(43.0 + 10.0, "hardware_clock") == pytest.approx(WALL_S + 60.0)


def test_reconnect_with_exponential_backoff() -> None:
    camera, clock = SoftwareCamera(), FakeClock()
    delivered = iter(range(100))

    def deliver_two() -> None:  # the device clock restarts with every start
        for k in range(2):
            camera.deliver(next(delivered), 10.0 + FRAME_MS * k, rs.timestamp_domain.hardware_clock)

    flaky = FlakyStream(SoftwareStream(camera), failing_starts=4, after_start=deliver_two)
    config = RealSenseConfig(reconnect_initial_s=0.5, reconnect_max_s=1.5, frame_timeout_s=0.05)
    source = RealSenseSource(config, flaky, clock=clock.now, sleep=clock.sleep, wall_clock=clock.wall)
    source.start()
    assert not source.connected and source.stats.failed_starts == 1
    results = [source.read() for _ in range(4)]
    assert results[:3] == [None, None, None]
    assert clock.sleeps == [0.5, 1.0, 1.5, 1.5]  # doubling, capped at reconnect_max_s
    assert source.connected and source.stats.failed_starts == 4 and source.stats.reconnects == 0
    first = results[3]
    assert (color_number(first), depth_number(first)) == (0, 0)
    assert first.stamp_s == pytest.approx(clock.wall())
    assert source.read().stamp_s == pytest.approx(first.stamp_s + FRAME_MS / 1000)

    # Unplugged mid-stream: stop, back off from the initial delay again (frames arrived), reconnect.
    flaky.lose_next = RuntimeError("device disconnected")
    flaky.failing_starts = 1
    assert source.read() is None
    assert not source.connected and "device disconnected" in source.stats.last_error
    assert source.read() is None  # the first retry fails
    frame = source.read()
    assert clock.sleeps[4:] == [0.5, 1.0]
    assert source.stats.reconnects == 1 and source.stats.failed_starts == 5
    assert (color_number(frame), depth_number(frame)) == (2, 2)
    assert frame.stamp_s == pytest.approx(clock.wall())  # hardware offset estimated again
    assert frame.stamp_s > first.stamp_s
    assert source.read() is not None

    # No frames within frame_timeout_s: counted, the stream is restarted.
    assert source.read() is None
    assert source.stats.timeouts == 1 and not source.connected
    assert "no frames" in source.stats.last_error
    source.stop()
    assert list(source.frames()) == []
    assert math.isclose(source.status()["depth_scale"], DEPTH_UNITS, rel_tol=1e-6)


def test_stop_from_another_thread_interrupts_the_backoff() -> None:
    flaky = FlakyStream(SoftwareStream(SoftwareCamera()), failing_starts=1000, after_start=lambda: None)
    source = RealSenseSource(RealSenseConfig(reconnect_initial_s=30.0, reconnect_max_s=60.0), flaky)
    source.start()
    reader = threading.Thread(target=lambda: list(source.frames()))
    reader.start()
    time.sleep(0.1)
    source.stop()
    reader.join(timeout=2.0)
    assert not reader.is_alive() and source.stats.failed_starts == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"serial": " "}, "serial"),
        ({"color_width": 0}, "color_width"),
        ({"depth_height": 5000}, "depth_height"),
        ({"color_fps": 0}, "color_fps"),
        ({"playback_file": "session.mp4"}, "playback_file"),
        ({"playback_file": "session.bag", "serial": "123"}, "serial"),
        ({"reconnect_initial_s": 0.0}, "reconnect_initial_s"),
        ({"reconnect_initial_s": 2.0, "reconnect_max_s": 1.0}, "reconnect_max_s"),
        ({"frame_timeout_s": -1.0}, "frame_timeout_s"),
    ],
)
def test_config_errors_name_the_field(overrides, field) -> None:
    with pytest.raises(ConfigError, match=rf"^{field}:"):
        RealSenseConfig(**overrides)


def test_config_defaults() -> None:
    config = RealSenseConfig(playback_file="viewer.bag")
    assert (config.color_width, config.color_height, config.color_fps) == (640, 480, 30)
    assert (config.depth_width, config.depth_height, config.depth_fps) == (640, 480, 30)
    assert config.align_depth and config.realtime and not config.loop
