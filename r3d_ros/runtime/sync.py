"""Pairs color and depth frames by stamp, identically for the node, bag replay and the bag loader.

message_filters is not available everywhere, and the pairs a model is trained on
must be the pairs it sees at run time, so this small synchronizer is the only
pairing code in the project. It is pure Python and driven only by message
stamps (never the wall clock), so replaying a bag gives the same pairs every time.

Rules:

- Each color frame is paired with the closest unused depth frame within the
  tolerance (``exact``: equal stamps, up to 1 µs of float rounding;
  ``approximate``: ``slop_s``), greedily in color-stamp order; each depth frame is
  used at most once, a tie goes to the earlier depth.
- A color frame is decided as soon as no better depth can still arrive (depth
  stamps only increase): a depth newer than color + tolerance has arrived, or the
  best candidate is at least as close as the newest depth. Since a decision waits
  for every depth that could match, any interleaving of the two streams gives the
  same pairs, as long as depth lags color by less than ``depth_timeout_s``.
- Depth dropout never stalls the stream: a color frame is forced out (with the
  best depth at hand, or alone) once a color frame more than ``depth_timeout_s``
  newer arrives, and :meth:`RGBDSynchronizer.flush` forces out the rest at the end
  of a stream. Frames come out in color-stamp order, each color frame exactly
  once unless a queue bound, a reset or its late arrival drops it (counted in ``stats``).
- Queues are bounded (``queue_size`` per stream, oldest dropped and counted).
  A frame too old to be used any more is dropped and counted as out of order;
  a stream going back in time by more than ``jump_back_s`` (a bag loop, a
  restarted player) resets the synchronizer and sets ``jumped_back``, so the
  caller can reset its own buffers too.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from r3d_ros.config import StreamConfig

# Tolerance of the exact policy: stamps that are equal but went through float seconds.
EXACT_TOLERANCE_NS = 1_000
POLICIES = ("exact", "approximate")


def _ns(stamp_s: float) -> int:
    return round(stamp_s * 1e9)


def pair_tolerance_ns(policy: str, slop_s: float) -> int:
    """Largest stamp difference (ns) of a color/depth pair under ``policy``."""
    return EXACT_TOLERANCE_NS if policy == "exact" else _ns(slop_s)


def _stamp(entry: tuple) -> int:
    return entry[0]


@dataclass(frozen=True)
class SyncedFrame:
    """A color frame and its depth frame (None when depth is missing), at the color stamp."""

    stamp_s: float
    color: Any
    depth: Any | None


@dataclass
class SyncStats:
    """Counters since construction (a reset keeps them)."""

    matched: int = 0  # color frames emitted with a depth frame
    color_only: int = 0  # color frames emitted without one
    dropped_color: int = 0  # color frames discarded by the queue bound or a reset
    dropped_depth: int = 0  # depth frames that matched no color frame
    out_of_order: int = 0  # frames that arrived too late to be used, or duplicate stamps
    time_jumps: int = 0  # resets because a stream went back in time
    # For the last color frame emitted alone while depth frames were waiting: the nearest one's distance.
    unpaired_nearest_depth_ms: float | None = None


class RGBDSynchronizer:
    """Online color/depth pairing; feed frames with :meth:`add_color` and :meth:`add_depth`."""

    def __init__(
        self,
        policy: str = StreamConfig.sync_policy,
        slop_s: float = StreamConfig.sync_slop_s,
        depth_timeout_s: float = StreamConfig.depth_timeout_s,
        queue_size: int = StreamConfig.sync_queue,  # at least fps * depth_timeout_s, or a depth dropout drops color
        jump_back_s: float = 1.0,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"sync policy must be one of {POLICIES}, got {policy!r}")
        if policy == "approximate" and not slop_s > 0:
            raise ValueError(f"approximate sync needs slop_s > 0, got {slop_s}")
        if not depth_timeout_s > 0 or not jump_back_s > 0 or queue_size < 1:
            raise ValueError(
                f"need depth_timeout_s > 0, jump_back_s > 0 and queue_size >= 1, "
                f"got {depth_timeout_s}, {jump_back_s}, {queue_size}"
            )
        self.tolerance_ns = pair_tolerance_ns(policy, slop_s)
        self.timeout_ns = _ns(depth_timeout_s)
        self.jump_back_ns = _ns(jump_back_s)
        self.queue_size = queue_size
        self.stats = SyncStats()
        # True when the last add_* call found time going backwards and reset the synchronizer.
        self.jumped_back = False
        self._colors: list[tuple[int, float, Any]] = []  # waiting color frames by stamp: (ns, stamp_s, item)
        self._depths: list[tuple[int, Any]] = []  # unused depth frames by stamp: (ns, item)
        self._clear()

    def _clear(self) -> None:
        self._colors.clear()
        self._depths.clear()
        self._decided_ns: int | None = None  # newest color stamp already emitted or dropped
        self._newest_color_ns: int | None = None
        self._newest_depth_ns: int | None = None

    def reset(self) -> None:
        """Forget every queued frame (counted as dropped) and the stream times; stats are kept."""
        self.stats.dropped_color += len(self._colors)
        self.stats.dropped_depth += len(self._depths)
        self._clear()

    def _check_jump(self, ns: int, newest_ns: int | None) -> None:
        self.jumped_back = newest_ns is not None and ns < newest_ns - self.jump_back_ns
        if self.jumped_back:
            self.stats.time_jumps += 1
            self.reset()

    def add_color(self, stamp_s: float, item: Any) -> list[SyncedFrame]:
        """Queue a color frame; returns the frames that became ready, in color-stamp order."""
        ns = _ns(stamp_s)
        self._check_jump(ns, self._newest_color_ns)
        queued = bisect.bisect_left(self._colors, ns, key=_stamp)
        duplicate = queued < len(self._colors) and self._colors[queued][0] == ns
        if duplicate or (self._decided_ns is not None and ns <= self._decided_ns):
            self.stats.out_of_order += 1
            return []
        ready = []
        while self._colors and ns - self._colors[0][0] > self.timeout_ns:
            ready.append(self._emit_head_with_best())  # its depth is overdue: stop waiting for it
        self._newest_color_ns = ns if self._newest_color_ns is None else max(ns, self._newest_color_ns)
        bisect.insort(self._colors, (ns, stamp_s, item), key=_stamp)
        ready += self._emit_decided()
        while len(self._colors) > self.queue_size:
            self._decided_ns = self._colors.pop(0)[0]
            self.stats.dropped_color += 1
            self._prune_depths()
        return ready

    def add_depth(self, stamp_s: float, item: Any) -> list[SyncedFrame]:
        """Queue a depth frame; returns the frames that became ready, in color-stamp order."""
        ns = _ns(stamp_s)
        self._check_jump(ns, self._newest_depth_ns)
        queued = bisect.bisect_left(self._depths, ns, key=_stamp)
        duplicate = queued < len(self._depths) and self._depths[queued][0] == ns
        if duplicate or (self._decided_ns is not None and ns < self._decided_ns - self.tolerance_ns):
            self.stats.out_of_order += 1
            return []
        self._newest_depth_ns = ns if self._newest_depth_ns is None else max(ns, self._newest_depth_ns)
        self._depths.insert(queued, (ns, item))
        ready = self._emit_decided()
        while len(self._depths) > self.queue_size:
            self._depths.pop(0)
            self.stats.dropped_depth += 1
        return ready

    def flush(self) -> list[SyncedFrame]:
        """End of a stream: emit every waiting color frame with the best depth at hand, drop the rest."""
        ready = [self._emit_head_with_best() for _ in range(len(self._colors))]
        self.stats.dropped_depth += len(self._depths)
        self._depths.clear()
        return ready

    def _best_depth(self, ns: int) -> int | None:
        """Index of the unused depth closest to ``ns`` within the tolerance (earlier on a tie)."""
        right = bisect.bisect_left(self._depths, ns, key=_stamp)
        candidates = [i for i in (right - 1, right) if 0 <= i < len(self._depths)]
        best = min(candidates, key=lambda i: abs(self._depths[i][0] - ns), default=None)
        return best if best is not None and abs(self._depths[best][0] - ns) <= self.tolerance_ns else None

    def _emit_decided(self) -> list[SyncedFrame]:
        """Emit waiting color frames from the oldest while no better depth can arrive for them."""
        ready = []
        while self._colors and self._newest_depth_ns is not None:
            ns = self._colors[0][0]
            lead = self._newest_depth_ns - ns  # later depth frames are farther than this from ns
            best = self._best_depth(ns)
            if lead <= self.tolerance_ns and (best is None or abs(self._depths[best][0] - ns) > lead):
                break
            ready.append(self._emit_head(best))
        return ready

    def _emit_head_with_best(self) -> SyncedFrame:
        return self._emit_head(self._best_depth(self._colors[0][0]))

    def _emit_head(self, best: int | None) -> SyncedFrame:
        """Emit the oldest color frame with the depth at index ``best`` (None: alone)."""
        ns, stamp_s, item = self._colors.pop(0)
        depth = None if best is None else self._depths.pop(best)[1]
        if depth is None:
            self.stats.color_only += 1
            if self._depths:
                self.stats.unpaired_nearest_depth_ms = min(abs(d - ns) for d, _ in self._depths) * 1e-6
        else:
            self.stats.matched += 1
        self._decided_ns = ns
        self._prune_depths()
        return SyncedFrame(stamp_s, item, depth)

    def _prune_depths(self) -> None:
        """Drop depth frames older than any color frame still to come could use."""
        if self._decided_ns is None:
            return
        keep = bisect.bisect_left(self._depths, self._decided_ns - self.tolerance_ns, key=_stamp)
        self.stats.dropped_depth += keep
        del self._depths[:keep]


def synchronize(
    colors: Sequence[tuple[float, Any]],
    depths: Sequence[tuple[float, Any]],
    synchronizer: RGBDSynchronizer | None = None,
) -> list[SyncedFrame]:
    """Pair two recorded streams of ``(stamp_s, item)`` offline, through the online synchronizer.

    Each stream is sorted by stamp (stably) and the two are merged by stamp, depth
    first on a tie, then fed to ``synchronizer`` (one with the default settings if None;
    pass your own to choose the policy or read its ``stats``) and flushed.
    """
    sync = synchronizer or RGBDSynchronizer()
    events = sorted(
        [(_ns(stamp), 0, i) for i, (stamp, _) in enumerate(depths)]
        + [(_ns(stamp), 1, i) for i, (stamp, _) in enumerate(colors)]
    )
    ready = []
    for _, stream, index in events:
        stamp_s, item = (depths, colors)[stream][index]
        ready += (sync.add_depth, sync.add_color)[stream](stamp_s, item)
    return ready + sync.flush()
