"""RGB-D frames straight from a RealSense camera or a RealSense recording, without ROS.

The node's ``input_source: realsense`` mode reads the camera through
librealsense instead of the realsense2_camera topics, so one process owns the
device and every frame reaches the anticipator with its device timestamp.
:class:`RealSenseSource` turns librealsense framesets into :class:`RGBDFrame`:

- Depth is aligned to color by librealsense (``rs.align``), so it has the color
  resolution; the depth scale is read from the device's depth sensor (also in a
  recording), never assumed to be millimetres.
- A pipeline re-sends the last frame of a stream that had none in a frameset.
  A repeated color frame is skipped. A depth frame already returned, or more
  than one depth frame period away from the color frame, is reported as
  missing (``depth=None``): depth of another instant is worse than none.
- Stamps are host epoch seconds (see :class:`StampMapper`).
- A live camera that stops delivering frames (unplugged, USB reset) is
  restarted with exponential backoff; a recording's errors are raised instead.
  A looping recording is restarted by this class at its end (librealsense's
  own repeat mode crashes now and then when not played in real time).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pyrealsense2 as rs

from r3d_ros.config.schema import check
from r3d_ros.runtime.image import RawImage

# librealsense color formats the anticipator decodes, by their ROS encoding.
COLOR_ENCODINGS = {rs.format.rgb8: "rgb8", rs.format.bgr8: "bgr8", rs.format.rgba8: "rgba8", rs.format.bgra8: "bgra8"}
# Extensions librealsense plays back: ROS1 bags (viewer and recorder before 2.59), ROS2 sqlite (2.59 on).
PLAYBACK_SUFFIXES = (".bag", ".db3")
# Longest single wait on the pipeline, so the end of a recording is noticed quickly.
WAIT_SLICE_S = 0.1


@dataclass
class RealSenseConfig:
    """Which device or recording to read, and how to recover when a camera goes away."""

    serial: str | None = None  # pick a camera by serial number; None: the first one found
    color_width: int = 640
    color_height: int = 480
    color_fps: int = 30
    depth_width: int = 640
    depth_height: int = 480
    depth_fps: int = 30
    # A recording (.bag or .db3) to play instead of a camera; it dictates the streams and profiles.
    playback_file: str | None = None
    realtime: bool = True  # play at the recorded pace (False: as fast as frames are read, none dropped)
    loop: bool = False
    align_depth: bool = True
    # False: no depth stream is requested from a camera (saving USB bandwidth when depth is not
    # read, the node's use_depth false), and a recording's depth frames are ignored.
    enable_depth: bool = True
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 10.0
    # No frameset for this long means the camera is gone (librealsense's own default is 5 s).
    frame_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        check(self.serial is None or bool(self.serial.strip()), "serial", "must be a non-empty string or None")
        for stream in ("color", "depth"):
            for name, high in (("width", 4096), ("height", 4096), ("fps", 300)):
                field = f"{stream}_{name}"
                value = getattr(self, field)
                check(isinstance(value, int) and 0 < value <= high, field, f"must be in [1, {high}], got {value!r}")
        if self.playback_file is not None:
            suffix = Path(self.playback_file).suffix
            check(
                suffix in PLAYBACK_SUFFIXES,
                "playback_file",
                f"must end in {' or '.join(PLAYBACK_SUFFIXES)}, got {self.playback_file!r}",
            )
            check(self.serial is None, "serial", "cannot be combined with playback_file")
        check(self.reconnect_initial_s > 0, "reconnect_initial_s", f"must be > 0, got {self.reconnect_initial_s}")
        check(
            self.reconnect_max_s >= self.reconnect_initial_s,
            "reconnect_max_s",
            f"must be >= reconnect_initial_s={self.reconnect_initial_s}, got {self.reconnect_max_s}",
        )
        check(self.frame_timeout_s > 0, "frame_timeout_s", f"must be > 0, got {self.frame_timeout_s}")


@dataclass(frozen=True)
class RGBDFrame:
    """One color frame, its depth (None when missing) and the metres per depth unit."""

    stamp_s: float
    color: RawImage
    depth: RawImage | None
    depth_scale: float  # NaN when the device has no depth sensor (depth is then always None)


@dataclass
class RealSenseStats:
    """What happened to the stream since :meth:`RealSenseSource.start`."""

    frames: int = 0  # frames returned
    timeouts: int = 0  # waits that ended without a frameset
    reconnects: int = 0  # successful restarts after the stream was lost
    failed_starts: int = 0
    skipped: int = 0  # framesets without a new color frame
    stale_depth: int = 0  # depth frames of another instant, returned as None
    last_error: str = ""


class StampMapper:
    """librealsense frame timestamps (milliseconds in a clock domain) -> host epoch seconds.

    ``global_time`` (the device clock mapped to the host clock by librealsense)
    and ``system_time`` (host time at arrival) are host epoch milliseconds
    already and pass through. ``hardware_clock`` counts from the device's power
    up: the offset host - device is estimated on the first frame and kept, so
    stamps advance exactly as the device clock does (no arrival jitter) and
    sit near wall-clock time, late by the first frame's transfer latency and
    drifting with the device crystal (tens of ppm). It is estimated again after
    :meth:`reset` (a reconnect) and when the device clock goes backwards (a
    device reset, a looping recording), never below the last stamp, so
    hardware-clock stamps never decrease.
    """

    def __init__(self, wall_clock: Callable[[], float] = time.time) -> None:
        self.wall_clock = wall_clock
        self.domain = "none"
        self.offset_s: float | None = None
        self._last_device_s = -math.inf
        self._last_stamp = -math.inf

    def reset(self) -> None:
        """Estimate the hardware clock offset again on the next frame."""
        self.offset_s = None

    def stamp(self, timestamp_ms: float, domain: str) -> float:
        """Host epoch seconds of a frame stamped ``timestamp_ms`` in ``domain``."""
        device_s = timestamp_ms / 1000.0
        if domain != "hardware_clock":
            stamp = device_s
        else:
            if self.offset_s is None or self.domain != domain or device_s < self._last_device_s:
                self.offset_s = max(self.wall_clock(), self._last_stamp) - device_s
            stamp = device_s + self.offset_s
        self.domain = domain
        self._last_device_s = device_s
        self._last_stamp = stamp
        return stamp


class FrameStream(Protocol):
    """Where framesets come from: the librealsense pipeline, or a test's software device."""

    def start(self) -> rs.device:
        """Start streaming and return the device (raises RuntimeError when it cannot)."""

    def wait(self, timeout_s: float) -> rs.composite_frame | None:
        """The next frameset; None after ``timeout_s``; EOFError at the end of a recording."""

    def stop(self) -> None:
        """Stop streaming (safe to call when stopped or when the device is gone)."""


class PipelineStream:
    """A librealsense pipeline on a camera (chosen by serial) or on a recording."""

    def __init__(self, config: RealSenseConfig) -> None:
        self.config = config
        self.pipeline: rs.pipeline | None = None
        self.playback: rs.playback | None = None
        self._lock = threading.Lock()

    def _request(self) -> rs.config:
        request = rs.config()
        config = self.config
        if config.playback_file is not None:
            request.enable_device_from_file(config.playback_file, repeat_playback=False)
            return request
        if config.serial is not None:
            request.enable_device(config.serial)
        if config.enable_depth:
            request.enable_stream(
                rs.stream.depth, config.depth_width, config.depth_height, rs.format.z16, config.depth_fps
            )
        request.enable_stream(
            rs.stream.color, config.color_width, config.color_height, rs.format.rgb8, config.color_fps
        )
        return request

    def start(self) -> rs.device:
        """Start the pipeline; a recording is held until the pipeline listens to all its streams.

        start() reuses the playback device resolved here, so its pace is set before
        any frame is played. Without the pause, a non-real-time playback raced the
        pipeline's start: the first frames were dropped, or a whole stream reached
        the syncer before the other and every color frame came with the last depth
        frame (11 of 300 starts here; none of 800 with the pause, librealsense 2.59.1).
        """
        if self.config.playback_file is None:
            self._check_connected()
        pipeline, request = rs.pipeline(), self._request()
        playback = None
        if self.config.playback_file is not None:
            playback = request.resolve(rs.pipeline_wrapper(pipeline)).get_device().as_playback()
            playback.set_real_time(self.config.realtime)
            playback.pause()
        device = pipeline.start(request).get_device()
        if playback is not None:
            playback.resume()
        with self._lock:
            self.pipeline, self.playback = pipeline, playback
        return device

    def _check_connected(self) -> None:
        """Raise RuntimeError unless the camera is enumerated, before ``pipeline.start`` is tried.

        With no camera, ``pipeline.start`` waits about 15 s for one while holding
        the GIL, so a node's executor (services, lifecycle calls, signals) would
        starve; enumeration answers in milliseconds.
        """
        serials = [device.get_info(rs.camera_info.serial_number) for device in rs.context().query_devices()]
        if not serials:
            raise RuntimeError("no RealSense camera connected")
        if self.config.serial is not None and self.config.serial not in serials:
            raise RuntimeError(f"RealSense {self.config.serial} is not connected (connected: {', '.join(serials)})")

    def wait(self, timeout_s: float) -> rs.composite_frame | None:
        """Wait in short slices, so a finished recording raises EOFError without waiting out the timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            pipeline, playback = self.pipeline, self.playback
            if pipeline is None:
                raise RuntimeError("the pipeline is stopped")
            remaining = deadline - time.monotonic()
            ok, frames = pipeline.try_wait_for_frames(max(1, round(1000 * min(remaining, WAIT_SLICE_S))))
            if ok:
                return frames
            if playback is not None and playback.current_status() == rs.playback_status.stopped:
                raise EOFError(f"end of {self.config.playback_file}")
            if remaining <= WAIT_SLICE_S:
                return None

    def stop(self) -> None:
        """Stop the pipeline; errors of a device that is already gone are ignored."""
        with self._lock:
            pipeline, self.pipeline, self.playback = self.pipeline, None, None
        if pipeline is not None:
            try:
                pipeline.stop()
            except RuntimeError:
                pass


def read_depth_scale(device: rs.device) -> float:
    """Metres per depth unit from the device's depth sensor (NaN without one)."""
    try:
        return float(device.first_depth_sensor().get_depth_scale())
    except RuntimeError:
        return math.nan


def describe(device: rs.device) -> str:
    """Device name and serial number, as far as the device reports them."""
    parts = [
        device.get_info(info) for info in (rs.camera_info.name, rs.camera_info.serial_number) if device.supports(info)
    ]
    return " ".join(parts) or "unnamed device"


def _identity(frame: rs.frame) -> tuple[int, float]:
    return frame.get_frame_number(), frame.get_timestamp()


def color_image(frame: rs.video_frame) -> RawImage:
    """A copy of a color frame (the frame goes back to librealsense's pool at once)."""
    encoding = COLOR_ENCODINGS.get(frame.get_profile().format())
    if encoding is None:
        supported = ", ".join(COLOR_ENCODINGS.values())
        raise ValueError(f"color format {frame.get_profile().format()} is not supported; use one of {supported}")
    return RawImage.from_array(np.array(np.asanyarray(frame.get_data())), encoding)


def depth_image(frame: rs.depth_frame) -> RawImage:
    """A copy of a z16 depth frame as 16UC1."""
    if frame.get_profile().format() != rs.format.z16:
        raise ValueError(f"depth format {frame.get_profile().format()} is not supported; use z16")
    return RawImage.from_array(np.array(np.asanyarray(frame.get_data())), "16UC1")


class RealSenseSource:
    """Frames from a RealSense camera or recording, restarted with backoff when a camera is lost.

    ``clock`` and ``sleep`` drive the backoff (tests pass fakes); the default
    sleep returns early when :meth:`stop` is called from another thread.
    ``wall_clock`` anchors hardware-clock stamps.
    """

    def __init__(
        self,
        config: RealSenseConfig,
        stream: FrameStream | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
        wall_clock: Callable[[], float] = time.time,
        logger: logging.Logger | None = None,
    ) -> None:
        self.config = config
        self.stream = stream if stream is not None else PipelineStream(config)
        self.clock = clock
        self._stopping = threading.Event()
        self.sleep = sleep if sleep is not None else self._stopping.wait
        self.mapper = StampMapper(wall_clock)
        self.align = rs.align(rs.stream.color) if config.align_depth else None
        self.log = logger or logging.getLogger("r3d_ros.realsense")
        self.stats = RealSenseStats()
        self.device = ""
        self.depth_scale = math.nan
        self.connected = False
        self.running = False
        self.finished = False  # a recording without loop has ended
        self._delay = config.reconnect_initial_s
        self._retry_at = -math.inf
        self._was_connected = False
        self._last_color: tuple[int, float] | None = None
        self._last_depth: tuple[int, float] | None = None

    @property
    def is_playback(self) -> bool:
        """True when reading a recording (whose errors are raised, not retried)."""
        return self.config.playback_file is not None

    def start(self) -> None:
        """Start streaming; a camera that cannot start yet is retried by :meth:`read`."""
        self._stopping.clear()
        self.running, self.finished = True, False
        self._connect()

    def stop(self) -> None:
        """Stop streaming (callable from another thread; :meth:`frames` then ends)."""
        self.running = False
        self._stopping.set()
        self.connected = False
        self.stream.stop()

    def frames(self) -> Iterator[RGBDFrame]:
        """Frames until :meth:`stop` or the end of a recording played without loop."""
        while self.running:
            frame = self.read()
            if frame is not None:
                yield frame

    def read(self) -> RGBDFrame | None:
        """The next frame, or None (a timeout, a lost camera, a retry, a skipped frameset, or stopped)."""
        if not self.running:
            return None
        if not self.connected:
            wait = self._retry_at - self.clock()
            if wait > 0:
                self.sleep(wait)
            if not self.running or not self._connect():
                return None
        try:
            frameset = self.stream.wait(self.config.frame_timeout_s)
        except EOFError:
            if self.config.loop:
                self.stream.stop()
                self._connect(rewind=True)
            else:
                self.finished = True
                self.stop()
            return None
        except RuntimeError as error:
            if not self.running:
                return None
            if self.is_playback:
                raise
            self._lost(f"device error: {error}")
            return None
        if frameset is None:
            self.stats.timeouts += 1
            if not self.is_playback:
                self._lost(f"no frames for {self.config.frame_timeout_s:g} s")
            return None
        frame = self._convert(frameset)
        if frame is not None:
            self.stats.frames += 1
            self._delay = self.config.reconnect_initial_s
        return frame

    def status(self) -> dict[str, object]:
        """Key/values for diagnostics: device, connection, clock domain, depth scale and counters."""
        return {
            "device": self.device,
            "connected": self.connected,
            "clock_domain": self.mapper.domain,
            "depth_scale": self.depth_scale,
            **asdict(self.stats),
        }

    def _connect(self, rewind: bool = False) -> bool:
        """Start the stream (``rewind``: a looping recording from its beginning, not a reconnect)."""
        try:
            device = self.stream.start()
        except RuntimeError as error:
            if self.is_playback:
                raise
            self.stats.failed_starts += 1
            self._retry_later(f"cannot start the camera: {error}")
            return False
        if not self.running:  # stop() was called meanwhile
            self.stream.stop()
            return False
        self.device = describe(device)
        self.depth_scale = read_depth_scale(device)
        self.mapper.reset()
        self._last_color = self._last_depth = None
        self.connected = True
        if self._was_connected and not rewind:
            self.stats.reconnects += 1
            self.log.info("RealSense %s reconnected", self.device)
        self._was_connected = True
        return True

    def _lost(self, reason: str) -> None:
        self.connected = False
        self.stream.stop()
        self._retry_later(f"stream lost ({reason})")

    def _retry_later(self, reason: str) -> None:
        self.stats.last_error = reason
        self.log.warning("RealSense: %s; retrying in %.1f s", reason, self._delay)
        self._retry_at = self.clock() + self._delay
        self._delay = min(2 * self._delay, self.config.reconnect_max_s)

    def _convert(self, frameset: rs.composite_frame) -> RGBDFrame | None:
        color = frameset.get_color_frame()
        if not color or _identity(color) == self._last_color:
            self.stats.skipped += 1
            return None
        self._last_color = _identity(color)
        depth = frameset.get_depth_frame() if self.config.enable_depth else None
        if depth and not self._same_instant(color, depth):
            self.stats.stale_depth += 1
            depth = None
        if depth and self.align is not None:
            depth = self.align.process(frameset).get_depth_frame()
        stamp = self.mapper.stamp(color.get_timestamp(), color.get_frame_timestamp_domain().name)
        return RGBDFrame(stamp, color_image(color), depth_image(depth) if depth else None, self.depth_scale)

    def _same_instant(self, color: rs.video_frame, depth: rs.depth_frame) -> bool:
        """True for a depth frame not returned before and within one depth frame period of ``color``."""
        if _identity(depth) == self._last_depth:
            return False
        self._last_depth = _identity(depth)
        if depth.get_frame_timestamp_domain() != color.get_frame_timestamp_domain():
            return True  # no common clock to compare on
        return abs(depth.get_timestamp() - color.get_timestamp()) <= 1000.0 / depth.get_profile().fps()
