"""From raw color and depth frames to anticipations, identically in the node and in bag replay.

The pipeline chains the project's synchronizer, the streaming anticipator and
a tick schedule in *stream time*: a tick happens when a frame's stamp reaches
the next multiple of ``1 / publish_rate_hz`` after the stream started. Ticks
driven by stamps rather than a wall-clock timer make replay deterministic and
make the live node (when it keeps up) publish exactly what offline replay of
the same recording computes.

Optional output filtering for consumers such as behaviour trees (off by
default): an exponential moving average of the next-action probabilities over
ticks, and hysteresis (the published next action changes only to a class
with at least ``min_confidence``, and not before the current one was held for
``hold_s`` seconds of stream time).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import numpy as np

from r3d_ros.config import StreamConfig
from r3d_ros.runtime.anticipator import Anticipation, StreamingAnticipator
from r3d_ros.runtime.backends import LoadedModel
from r3d_ros.runtime.depth_noise import limit_in_force
from r3d_ros.runtime.image import RawImage
from r3d_ros.runtime.preprocess import model_depth_limit
from r3d_ros.runtime.sync import RGBDSynchronizer, SyncedFrame

# Invalid-frame warnings are logged at most once per this many seconds (each is counted).
INVALID_LOG_PERIOD_S = 5.0


class OutputFilter:
    """EMA smoothing and hysteresis of the next action across ticks."""

    def __init__(self, config: StreamConfig, class_names: list[str]) -> None:
        self.config = config
        self.class_names = class_names
        self.reset()

    def reset(self) -> None:
        """Forget the history (after a stream reset)."""
        self.average: np.ndarray | None = None
        self.held_class: int | None = None
        self.held_since = 0.0

    def __call__(self, result: Anticipation) -> Anticipation:
        """The filtered version of ``result``."""
        alpha = self.config.smoothing_alpha
        new = result.next_probabilities
        self.average = new if self.average is None else alpha * new + (1.0 - alpha) * self.average
        probabilities = (self.average / self.average.sum()).astype(np.float32)
        candidate = int(probabilities.argmax())
        if self.held_class is None:
            self.held_class, self.held_since = candidate, result.stamp
        elif candidate != self.held_class:
            held_long_enough = result.stamp - self.held_since >= self.config.hold_s
            if held_long_enough and probabilities[candidate] >= self.config.min_confidence:
                self.held_class, self.held_since = candidate, result.stamp
        chosen = self.held_class
        return replace(
            result,
            next_class_id=chosen,
            next_label=self.class_names[chosen],
            next_confidence=float(probabilities[chosen]),
            next_probabilities=probabilities,
        )


class ThrottledLog:
    """A warning that repeats at most once per ``period_s`` of wall time, saying how often it happened.

    A camera sending only malformed frames would otherwise write one line per
    frame, drowning the log (and filling the pipe of whoever reads it).
    """

    def __init__(self, log: logging.Logger, period_s: float) -> None:
        self.log, self.period_s = log, period_s
        self.last: float | None = None
        self.suppressed = 0

    def __call__(self, message: str) -> None:
        """Log ``message`` now, or count it until the period has passed."""
        now = time.monotonic()
        if self.last is not None and now - self.last < self.period_s:
            self.suppressed += 1
            return
        repeats = (
            f" (and {self.suppressed} more like it in the last {now - self.last:.0f} s)" if self.suppressed else ""
        )
        self.log.warning("%s%s", message, repeats)
        self.last, self.suppressed = now, 0


class AnticipationPipeline:
    """Synchronizer -> streaming anticipator -> stream-time ticks -> output filter."""

    def __init__(self, loaded: LoadedModel, config: StreamConfig, logger: logging.Logger | None = None) -> None:
        self.config = config
        self.log = logger or logging.getLogger("r3d_ros.runtime")
        self.sync = RGBDSynchronizer(config.sync_policy, config.sync_slop_s, config.depth_timeout_s, config.sync_queue)
        self.anticipator = StreamingAnticipator(loaded, self.log)
        self.filter = OutputFilter(config, self.anticipator.class_names)
        self.period = self._tick_period(config)
        self.model_config = loaded.model.config
        self.stream_shape: tuple[int, int] | None = None  # (height, width) of the last frame offered
        self.model_rgb_limit = loaded.model.config.model.max_rgb_noise
        self.next_tick: float | None = None
        self.ticks = 0
        self.invalid_log = ThrottledLog(self.log, INVALID_LOG_PERIOD_S)
        self.last_frame: tuple[RawImage, RawImage | None, float] | None = None

    def _tick_period(self, config: StreamConfig) -> float:
        """Seconds between ticks: ``publish_rate_hz`` capped at the model's frame rate, with a warning."""
        if config.publish_rate_hz <= self.anticipator.fps:
            return 1.0 / config.publish_rate_hz
        self.log.warning(
            "publish_rate_hz %.3g is above the model's frame rate %.3g: capped at %.3g, since a tick "
            "runs only when a new frame has entered the window",
            config.publish_rate_hz,
            self.anticipator.fps,
            self.anticipator.fps,
        )
        return 1.0 / self.anticipator.fps

    def update(self, config: StreamConfig) -> None:
        """Apply changed output settings (rate, depth scale, filter) from the next frame on.

        Pairing settings are fixed for the synchronizer's lifetime; the node reads
        them on configure.
        """
        self.config = config
        self.filter.config = config
        self.period = self._tick_period(config)

    @property
    def depth_limit(self) -> float:
        """The depth noise limit in force: the ``max_depth_noise`` setting, or with -1 the model's own.

        The model's own is converted to the stream's resolution (that of the last
        frame offered; :mod:`r3d_ros.runtime.depth_noise`): it was measured at the
        renderer's, and a finer stream's nearest reading per network pixel is
        pulled farther by the same noise. A setting is the camera's own noise and
        applies as set.
        """
        own = self.model_config.model.max_depth_noise
        if self.stream_shape is not None:
            own = model_depth_limit(self.model_config, *self.stream_shape)
        return limit_in_force(self.config.max_depth_noise, own)

    @property
    def rgb_limit(self) -> float:
        """The RGB noise limit in force: the ``max_rgb_noise`` setting, or with -1 the model's own."""
        return limit_in_force(self.config.max_rgb_noise, self.model_rgb_limit)

    def _after_sync(self, frames: list[SyncedFrame]) -> list[Anticipation]:
        if self.sync.jumped_back:
            self.anticipator.reset("synchronizer saw time go backwards")
            self._restart()
        results = []
        for frame in frames:
            results.extend(self.add_pair(frame.stamp_s, frame.color, frame.depth))
        return results

    def _restart(self) -> None:
        self.next_tick = None
        self.filter.reset()

    def add_color(self, stamp: float, image: RawImage) -> list[Anticipation]:
        """A color image from a topic; returns the anticipations that became due.

        With ``use_depth`` off it goes on at once, without depth, instead of waiting for a pair.
        """
        if not self.config.use_depth:
            return self.add_pair(stamp, image, None)
        return self._after_sync(self.sync.add_color(stamp, image))

    def add_depth(self, stamp: float, image: RawImage) -> list[Anticipation]:
        """A depth image from a topic; returns the anticipations that became due (none with ``use_depth`` off)."""
        if not self.config.use_depth:
            return []
        return self._after_sync(self.sync.add_depth(stamp, image))

    def flush(self) -> list[Anticipation]:
        """End of stream: process the frames still waiting for depth."""
        return self._after_sync(self.sync.flush())

    def add_pair(
        self, stamp: float, color: RawImage, depth: RawImage | None, depth_scale: float | None = None
    ) -> list[Anticipation]:
        """An already synchronized frame (RealSense source with its device depth scale, or the synchronizer)."""
        if not self.config.use_depth:
            depth = None
        scale = self.config.depth_scale if depth_scale is None else depth_scale
        self.stream_shape = (color.height, color.width)
        pushed = self.anticipator.push(stamp, color, depth, scale, self.depth_limit, self.rgb_limit)
        if pushed.reset:
            self._restart()
        if pushed.outcome == "invalid":
            self.invalid_log(f"dropped an invalid frame at {stamp:.3f} s: {pushed.invalid_reason}")
            return []
        if pushed.outcome != "used":
            return []  # the window did not change: a tick now would repeat the last one
        self.last_frame = (color, depth, scale)  # what the next tick shows (the node's debug image)
        if self.next_tick is None:
            self.next_tick = stamp
        # The tick grid and the frame-rate limiter's grid start at the same frame and share
        # its jitter tolerance, so at equal rates every tick sees the frame just taken in.
        if stamp < self.next_tick - self.anticipator.limiter.tolerance:
            return []
        if stamp - self.next_tick > self.period:
            self.next_tick = stamp  # fell behind (a gap): re-anchor instead of bursting ticks
        self.next_tick += self.period
        result = self.anticipator.tick()
        self.ticks += 1
        return [self.filter(result)]
