"""Streaming anticipation: frames in one at a time, the anticipated actions out on request.

``push`` takes one synchronized (color, depth, stamp) frame. Frames are kept at
the model's rate by timestamp; each kept frame goes through preprocessing and
the per-frame graph exactly once and its fused token is cached in a ring
buffer of ``window`` frames. ``tick`` runs only the temporal graph over the
cached window and decodes the result, so a tick costs the same whatever the
camera rate.

The stream resets (cleanly, with a log line) when time goes backwards (a bag
looping), when the gap since the last frame is longer than the window, and
when the color resolution changes. Missing depth (no depth frame, or one with
no valid pixel) is substituted by EBR when the model has it and reported as
substituted; a model without EBR reports depth missing and lowers its
confidence (probabilities are blended towards uniform by half the fraction of
the window that lacks depth) instead of inventing data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from r3d_ros.model.decode import WindowReading, future_segments, next_action, read_window
from r3d_ros.rank import effective_rank
from r3d_ros.runtime.backends import LoadedModel, check_finite
from r3d_ros.runtime.image import ImageError, RawImage, check_layout
from r3d_ros.runtime.preprocess import preprocess_frame
from r3d_ros.runtime.timebase import FrameRateLimiter

# Confidence blend towards uniform per unit of missing-depth fraction (model without EBR).
MISSING_DEPTH_PENALTY = 0.5


@dataclass
class SegmentEstimate:
    """An action segment relative to the anticipation's stamp (seconds)."""

    class_id: int
    label: str
    confidence: float
    start_offset_s: float
    duration_s: float


@dataclass
class Anticipation:
    """Everything one tick says about the observed window and the future."""

    stamp: float  # stamp of the last observed frame
    window_start: float
    num_frames: int
    horizon_s: float
    next_class_id: int
    next_label: str
    next_confidence: float
    next_probabilities: np.ndarray
    future: list[SegmentEstimate]
    current: SegmentEstimate
    rgb_present: bool
    depth_present: bool
    rgb_substituted: bool
    depth_substituted: bool
    depth_missing_fraction: float
    fused_effective_rank: float
    model_id: str


@dataclass
class StreamStats:
    """Counters of what happened to pushed frames."""

    pushed: int = 0
    used: int = 0
    skipped_rate: int = 0
    invalid: int = 0
    resets: int = 0
    depth_missing: int = 0  # used frames without depth, those dropped as too noisy included
    depth_too_noisy: int = 0  # used frames whose depth was noisier than max_depth_noise
    last_depth_noise: float = float("nan")  # the latest depth frame's estimated std at 1 m (m)
    rgb_too_noisy: int = 0  # used frames whose RGB was noisier than max_rgb_noise (and left out)
    last_rgb_noise: float = float("nan")  # the latest frame's estimated RGB noise at the network's input (0-255)
    last_reset_reason: str = ""
    last_invalid_reason: str = ""


class Pushed(NamedTuple):
    """What became of one offered frame, so a caller acts on it without reading the counters."""

    outcome: Literal["used", "skipped", "invalid"]  # taken in, skipped by the rate limiter, or refused
    reset: bool = False  # the buffered window was dropped first (time went back, a gap, a new resolution)
    invalid_reason: str = ""  # why an ``invalid`` frame was refused


class StreamingAnticipator:
    """Per-frame work once per frame, temporal model per tick."""

    def __init__(self, loaded: LoadedModel, logger: logging.Logger | None = None) -> None:
        config = loaded.model.config
        self.backend = loaded.backend
        self.model_id = loaded.model_id
        self.class_names = list(config.model.class_names)
        self.size = config.model.input
        self.fps = config.anticipation.fps
        self.window = config.anticipation.window
        self.horizon_s = config.anticipation.horizon_s
        self.can_substitute = loaded.model.can_substitute
        # A single-modality model never gets the modality it was not trained on (its encoder is untrained),
        # the same as in evaluation (r3d_ros/eval/anticipation.py).
        self.reads_rgb = "rgb" in config.train.trained_modalities
        self.reads_depth = "depth" in config.train.trained_modalities
        self.grammar = loaded.model.grammar
        self.grammar_filter = loaded.model.grammar_filter  # built once: it precomputes the duration tables
        self.log = logger or logging.getLogger("r3d_ros.runtime")
        self.stats = StreamStats()
        self.tokens = np.zeros((self.window, config.model.token_dim), dtype=np.float32)
        self.stamps = np.zeros(self.window, dtype=np.float64)
        self.depth_flags = np.zeros(self.window, dtype=bool)
        self.rgb_flags = np.zeros(self.window, dtype=bool)
        self.limiter = FrameRateLimiter(self.fps)
        self._clear()

    def warm_up(self) -> None:
        """Run both graphs and the rank computation once, so the first real frame pays no lazy initialisation."""
        shapes = self.backend.shapes
        rgb = np.zeros((3, shapes.height, shapes.width), dtype=np.float32)
        depth = np.zeros((2, shapes.height, shapes.width), dtype=np.float32)
        token = self.backend.encode(rgb, depth, True, False)
        tokens = np.zeros_like(self.tokens)
        tokens[:2] = token
        self.backend.temporal(tokens, np.arange(self.window) < 2)
        effective_rank(tokens[:2], center=True)

    def _clear(self) -> None:
        self.count = 0  # frames in the ring (<= window)
        self.head = 0  # next write position
        self.last_stamp: float | None = None
        self.resolution: tuple[int, int] | None = None
        self.limiter.reset()

    def reset(self, reason: str) -> None:
        """Drop the buffered window (logged with ``reason``)."""
        self.stats.resets += 1
        self.stats.last_reset_reason = reason
        self.log.warning("anticipation buffer reset: %s", reason)
        self._clear()

    def _check_continuity(self, stamp: float, color: RawImage) -> bool:
        """Reset the window where this frame cannot follow the last one; returns whether it did."""
        resets = self.stats.resets
        if self.last_stamp is not None:
            if stamp < self.last_stamp:
                self.reset(f"time went backwards by {self.last_stamp - stamp:.3f} s (bag loop or clock jump)")
            elif stamp - self.last_stamp > self.window / self.fps:
                self.reset(
                    f"gap of {stamp - self.last_stamp:.2f} s is longer than the {self.window / self.fps:.1f} s window"
                )
        resolution = (color.height, color.width)
        if self.resolution is not None and resolution != self.resolution:
            before = f"{self.resolution[1]}x{self.resolution[0]}"
            self.reset(f"color resolution changed from {before} to {color.width}x{color.height}")
        self.resolution = resolution
        self.last_stamp = stamp
        return self.stats.resets != resets

    def check_frame(self, color: RawImage, depth: RawImage | None) -> None:
        """Raise ImageError when a frame cannot be right, before it costs anything or touches the stream.

        Besides each image's own layout: color smaller than the model's input
        would be upsampled into detail that is not there, and an "aligned" depth
        of another size than its color is not aligned (its pixels would be
        registered to the wrong places).
        """
        check_layout(color, "color")
        if color.height < self.size.height or color.width < self.size.width:
            raise ImageError(
                f"color image {color.width}x{color.height} is smaller than the model's input "
                f"{self.size.width}x{self.size.height}"
            )
        if depth is not None:
            check_layout(depth, "depth")
            if (depth.height, depth.width) != (color.height, color.width):
                raise ImageError(
                    f"depth image {depth.width}x{depth.height} is not aligned to the "
                    f"{color.width}x{color.height} color image (sizes differ)"
                )

    def push(
        self,
        stamp: float,
        color: RawImage,
        depth: RawImage | None,
        depth_scale: float = 0.001,
        max_depth_noise: float = 0.0,
        max_rgb_noise: float = 0.0,
    ) -> Pushed:
        """Offer one frame; returns whether it was ``used``, ``skipped`` (rate) or ``invalid`` (counted, dropped).

        Depth noisier than ``max_depth_noise`` (std at 1 m; 0 = keep all) goes in as missing,
        and so does RGB noisier than ``max_rgb_noise`` (at the network's input, 0-255) on a frame with depth.

        Every malformed frame is counted, also one the rate limiter would have
        skipped, and it is refused before it can reset the window or move the
        rate limiter's schedule.
        """
        self.stats.pushed += 1
        try:
            self.check_frame(color, depth)
        except ImageError as error:
            return self.count_invalid(error)
        reset = self._check_continuity(stamp, color)
        if not self.limiter.accept(stamp):
            self.stats.skipped_rate += 1
            return Pushed("skipped", reset)
        try:
            frame = preprocess_frame(color, depth, self.size, depth_scale, max_depth_noise, max_rgb_noise)
            check_finite("preprocessed rgb", frame.rgb)
            check_finite("preprocessed depth", frame.depth)
        except (ImageError, ValueError) as error:
            return self.count_invalid(error)._replace(reset=reset)
        rgb_present = frame.rgb_present and self.reads_rgb
        depth_present = frame.depth_present and self.reads_depth
        token = self.backend.encode(frame.rgb, frame.depth, rgb_present, depth_present)
        self.tokens[self.head] = token
        self.stamps[self.head] = stamp
        self.depth_flags[self.head] = depth_present
        self.rgb_flags[self.head] = rgb_present
        self.head = (self.head + 1) % self.window
        self.count = min(self.count + 1, self.window)
        self.stats.used += 1
        self.stats.depth_missing += int(not frame.depth_present)
        self.stats.depth_too_noisy += int(frame.depth_rejected)
        self.stats.rgb_too_noisy += int(frame.rgb_rejected)
        self.stats.last_rgb_noise = frame.rgb_noise
        if depth is not None:
            self.stats.last_depth_noise = frame.depth_noise
        return Pushed("used", reset)

    def count_invalid(self, error: Exception) -> Pushed:
        """Count a frame refused for ``error`` (also one that could not even be decoded)."""
        self.stats.invalid += 1
        self.stats.last_invalid_reason = str(error)
        return Pushed("invalid", invalid_reason=str(error))

    def _ordered(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        order = (np.arange(self.count) + self.head - self.count) % self.window
        return self.tokens[order], self.stamps[order], self.depth_flags[order], self.rgb_flags[order]

    def tick(self) -> Anticipation | None:
        """Run the temporal model over the cached window (None while it is empty)."""
        if self.count == 0:
            return None
        tokens, stamps, depth_flags, rgb_flags = self._ordered()
        padded = np.zeros_like(self.tokens)
        padded[: self.count] = tokens
        mask = np.arange(self.window) < self.count
        result = self.backend.temporal(padded, mask)
        missing = float(1.0 - depth_flags.mean())
        # Missing depth costs confidence only where the model reads depth and cannot substitute it.
        penalty = MISSING_DEPTH_PENALTY * missing if self.reads_depth and not self.can_substitute else 0.0
        reading = read_window(
            result.segmentation[: self.count],
            result.future,
            self.grammar,
            self.grammar_filter,
            self.backend.shapes.future_frames,
            result.remaining,
        )
        current = self._current_segment(reading, stamps, penalty)
        next_id, probabilities = next_action(result.next, current.class_id, self.grammar)
        probabilities = (1.0 - penalty) * probabilities + penalty / len(probabilities)
        future = [
            SegmentEstimate(
                s.class_id,
                self.class_names[s.class_id],
                (1.0 - penalty) * s.confidence,
                s.start * self.horizon_s,
                s.duration * self.horizon_s,
            )
            for s in future_segments(reading.future)
        ]
        depth_now, rgb_now = bool(depth_flags[-1]), bool(rgb_flags[-1])
        return Anticipation(
            stamp=float(stamps[-1]),
            window_start=float(stamps[0]),
            num_frames=self.count,
            horizon_s=self.horizon_s,
            next_class_id=next_id,
            next_label=self.class_names[next_id],
            next_confidence=float(probabilities[next_id]),
            next_probabilities=probabilities.astype(np.float32),
            future=future,
            current=current,
            rgb_present=rgb_now,
            depth_present=depth_now,
            rgb_substituted=not rgb_now and self.can_substitute,
            depth_substituted=not depth_now and self.can_substitute,
            depth_missing_fraction=missing,
            fused_effective_rank=effective_rank(tokens, center=True) if self.count > 1 else 1.0,
            model_id=self.model_id,
        )

    def _current_segment(self, reading: WindowReading, stamps: np.ndarray, penalty: float) -> SegmentEstimate:
        """The action at the last frame and how long it has been going on within the window."""
        current = reading.current
        start = float(stamps[len(stamps) - reading.elapsed] - stamps[-1])
        confidence = reading.confidence * (1.0 - penalty)
        return SegmentEstimate(current, self.class_names[current], confidence, start, -start + 1.0 / self.fps)
