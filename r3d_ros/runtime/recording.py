"""A recording's time line and the anticipations computed along it: what offline and online replay share.

Scores are kept on the recording's own time line (:class:`RecordingClock`):
seconds since its first color frame, from the header stamps while they run
forward, and from the bag's receive times where the camera's clock restarts, so
a looped or restarted camera neither folds the recording over itself nor
merges frames that happen to share a stamp. Offline replay
(:mod:`r3d_ros.eval.replay`) and the replay through a running node
(:mod:`r3d_ros.ros.online`) both fill a :class:`Replay`, so one report scores
either; this module is ROS-free so that the ROS side need not import the
evaluation package.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from r3d_ros.data.errors import DatasetError
from r3d_ros.runtime.anticipator import Anticipation
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
