"""Offline replay of a rosbag2 recording through exactly the node's pipeline, in bag time.

Messages are read in bag order and fed to the same
:class:`~r3d_ros.runtime.pipeline.AnticipationPipeline` (synchronizer,
preprocessing, streaming anticipator, stream-time ticks) the node runs, so the
same bag and model give the same anticipations on every run, and the same as
the live node when it keeps up.

Scores are kept on the recording's own time line (:class:`RecordingClock`):
seconds since its first color frame, from the header stamps while they run
forward, and from the bag's receive times where the camera's clock restarts, so
a looped or restarted camera neither folds the recording over itself nor
merges frames that happen to share a stamp.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from r3d_ros.config import StreamConfig
from r3d_ros.data.errors import DatasetError
from r3d_ros.data.rosbag import header_stamp_ns, open_bag, raw_image, read_messages, select_topics
from r3d_ros.runtime.anticipator import Anticipation
from r3d_ros.runtime.backends import LoadedModel
from r3d_ros.runtime.image import ImageError
from r3d_ros.runtime.pipeline import AnticipationPipeline
from r3d_ros.runtime.timebase import StampEpoch

# Stamps running ahead of the bag's receive times by more than this are a clock jump, not a delay.
FORWARD_JUMP_S = 1.0


class RecordingClock:
    """Where each color frame of a recording lies in time, whatever its camera's clock did.

    Frames are split into *stamp segments* wherever the header stamp goes back
    (or leaps far ahead of the bag's receive time). Within a segment the time of
    a frame is its stamp's distance from the segment's first stamp, exactly as
    label files count; each segment starts where the bag says it was received.
    The node resets its window at such jumps, so every anticipation belongs to
    one segment, and anticipations arrive in segment order: :meth:`locate` maps
    their stamps to frames by walking the segments in order.
    """

    def __init__(self) -> None:
        self.stamps_ns: list[int] = []  # header stamp of each color frame, in bag order
        self.bag_ns: list[int] = []  # bag receive time of each color frame
        self.times_s: list[float] = []  # seconds since the first color frame, on the recording's time line
        self.segments: list[dict[int, int]] = []  # per stamp segment: header stamp -> first frame index with it
        self._origin = (0, 0.0)  # (stamp ns, time s) of the current segment's first frame

    def add_color(self, stamp_ns: int, bag_ns: int) -> int:
        """Record the next color frame of the bag; returns its index."""
        index = len(self.stamps_ns)
        if self._starts_segment(stamp_ns, bag_ns):
            start = max((bag_ns - self.bag_ns[0]) * 1e-9, self.times_s[-1]) if index else 0.0
            self._origin = (stamp_ns, start)
            self.segments.append({})
        origin_ns, origin_s = self._origin
        self.times_s.append(origin_s + (stamp_ns - origin_ns) * 1e-9)
        self.segments[-1].setdefault(stamp_ns, index)
        self.stamps_ns.append(stamp_ns)
        self.bag_ns.append(bag_ns)
        return index

    def _starts_segment(self, stamp_ns: int, bag_ns: int) -> bool:
        if not self.stamps_ns:
            return True
        stamp_step, bag_step = stamp_ns - self.stamps_ns[-1], bag_ns - self.bag_ns[-1]
        return stamp_step < 0 or (stamp_step - bag_step) * 1e-9 > FORWARD_JUMP_S

    @property
    def duration_s(self) -> float:
        """Time of the last color frame (the first is at 0)."""
        return self.times_s[-1] if self.times_s else 0.0

    def locate(self, stamps_ns: Iterable[int]) -> list[int]:
        """Frame index of each anticipation stamp, given in publishing order.

        Stamps rise within a segment; a stamp that does not continue the current
        segment belongs to the next segment that has it.
        """
        indices: list[int] = []
        segment, last = 0, None
        for stamp in stamps_ns:
            segment = self._segment_of(stamp, segment, last)
            indices.append(self.segments[segment][stamp])
            last = stamp
        return indices

    def _segment_of(self, stamp: int, segment: int, last: int | None) -> int:
        if stamp in self.segments[segment] and (last is None or stamp >= last):
            return segment
        for later in range(segment + 1, len(self.segments)):
            if stamp in self.segments[later]:
                return later
        raise DatasetError(f"an anticipation has stamp {stamp} ns, which is no color frame's after the previous one")


@dataclass
class Replay:
    """Anticipations of one recording, with what is needed to score and store them."""

    anticipations: list[Anticipation]
    frames: list[int]  # index of the color frame (RecordingClock) each anticipation was computed at
    tick_ms: list[float]  # wall time of the pipeline call that produced each anticipation
    clock: RecordingClock
    epoch: StampEpoch  # turns the anticipations' float stamps back into the exact header stamps
    frame_id: str
    color_topic: str
    depth_topic: str
    counts: dict[str, int] = field(default_factory=dict)
    latency_kind: str = "pipeline compute per tick (ms)"
    node: dict[str, int] = field(default_factory=dict)  # online: the node's own counts from its /diagnostics

    @property
    def times_s(self) -> list[float]:
        """Each anticipation's time on the recording's time line (seconds since its first color frame)."""
        return [self.clock.times_s[i] for i in self.frames]

    @property
    def bag_ns(self) -> list[int]:
        """Each anticipation's bag receive time (of the frame it was computed at)."""
        return [self.clock.bag_ns[i] for i in self.frames]

    @property
    def duration_s(self) -> float:
        """Length of the recording: time of its last color frame."""
        return self.clock.duration_s


@dataclass
class _Offline:
    """What one pass over the bag collects."""

    anticipations: list[Anticipation] = field(default_factory=list)
    tick_ms: list[float] = field(default_factory=list)
    clock: RecordingClock = field(default_factory=RecordingClock)
    epoch: StampEpoch = field(default_factory=StampEpoch)
    frame_id: str = ""
    invalid: int = 0


def replay_bag(
    bag: Path,
    loaded: LoadedModel,
    stream: StreamConfig,
    color_topic: str | None = None,
    depth_topic: str | None = None,
    progress: bool = True,
) -> Replay:
    """Run ``bag``'s color and depth images through the pipeline; raise DatasetError on an unusable bag."""
    pipeline = AnticipationPipeline(loaded, stream)
    state = _Offline()
    with open_bag(bag) as reader:
        color, depth = select_topics(reader, bag, color_topic, depth_topic)
        total = sum(c.msgcount for c in reader.connections if c.topic in (color, depth))
        messages = tqdm(read_messages(reader, (color, depth)), total=total, desc=bag.name, disable=not progress)
        for connection, bag_ns, message in messages:
            _feed(pipeline, state, connection.topic == color, connection.msgtype, bag_ns, message)
        results = pipeline.flush()
        state.anticipations.extend(results)
        state.tick_ms.extend([0.0] * len(results))
    if not state.clock.stamps_ns:
        raise DatasetError(f"{bag}: the color topic {color} has no messages")
    stats = pipeline.anticipator.stats
    if stats.used == 0:
        raise DatasetError(f"{bag}: no frame could be used ({stats.last_invalid_reason or 'all frames invalid'})")
    frames = state.clock.locate(state.epoch.nanoseconds(r.stamp) for r in state.anticipations)
    return Replay(
        state.anticipations, frames, state.tick_ms, state.clock, state.epoch, state.frame_id, color, depth,
        _counts(pipeline, state),
    )  # fmt: skip


def _feed(
    pipeline: AnticipationPipeline, state: _Offline, is_color: bool, msgtype: str, bag_ns: int, message: Any
) -> None:
    """One message into the pipeline; an unreadable or undecodable one is counted as an invalid frame."""
    if message is None:
        state.invalid += 1
        return
    stamp_ns = header_stamp_ns(message)
    stamp = state.epoch.seconds(stamp_ns)
    if is_color:
        state.clock.add_color(stamp_ns, bag_ns)
        state.frame_id = state.frame_id or message.header.frame_id
    try:
        image = raw_image(message, msgtype)
    except ImageError:
        state.invalid += 1
        return
    started = time.perf_counter()
    results = pipeline.add_color(stamp, image) if is_color else pipeline.add_depth(stamp, image)
    elapsed = (time.perf_counter() - started) * 1e3
    state.anticipations.extend(results)
    state.tick_ms.extend([elapsed] * len(results))


def _counts(pipeline: AnticipationPipeline, state: _Offline) -> dict[str, int]:
    stats = pipeline.anticipator.stats
    return {
        "color_messages": len(state.clock.stamps_ns),
        "frames_used": stats.used,
        "frames_invalid": stats.invalid + state.invalid,
        "frames_without_depth": stats.depth_missing,
        "frames_depth_too_noisy": stats.depth_too_noisy,
        "frames_rgb_too_noisy": stats.rgb_too_noisy,
        "resets": stats.resets,
        "sync_matched": pipeline.sync.stats.matched,
        "sync_color_only": pipeline.sync.stats.color_only,
    }
