"""Is the node working? Input rates, stalls, frames lost upstream and silent outputs, judged from counters.

The node's /diagnostics must say what is true: a stalled camera is not "OK" at
its last known rate, a node that drops every frame is not "OK" because it has
not crashed. Everything here is plain Python over numbers the node collects
(arrival times on the monotonic clock, header stamps, counters), so the rules
are tested without ROS and read the same in the node and in the docs.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

import numpy as np

OK, WARN, ERROR = 0, 1, 2
# Arrivals kept per stream for rates and stamp statistics.
HISTORY = 300
# Rates count the arrivals of the last RATE_WINDOW_S seconds, so they fall to zero in a stall.
RATE_WINDOW_S = 2.0
# No frame for this many expected periods: WARN, then ERROR (with floors for slow streams).
STALL_WARN_PERIODS, STALL_WARN_MIN_S = 5, 0.5
STALL_ERROR_PERIODS, STALL_ERROR_MIN_S = 30, 2.0
# Active this long without any color frame: ERROR (before that, WARN while waiting).
STARTUP_GRACE_S = 5.0
# Nothing published for this long although color arrives: ERROR.
SILENT_OUTPUT_S = 3.0
# Fraction of frames missing from the stamp sequence above which the loss is reported.
LOSS_WARN_FRACTION = 0.05
# Stamp gaps longer than this many periods are pauses or stalls, not lost frames.
LOSS_MAX_GAP_PERIODS = 30
# Under exact sync, this many color frames without any pair while depth arrives: say why.
UNPAIRED_WARN_FRAMES = 10


class StreamMonitor:
    """Arrival times and header stamps of one input stream."""

    def __init__(self) -> None:
        self.arrivals: collections.deque[float] = collections.deque(maxlen=HISTORY)
        self.stamps_ns: collections.deque[int] = collections.deque(maxlen=HISTORY)
        self.first_arrival: float | None = None

    def record(self, arrival_s: float, stamp_ns: int) -> None:
        """A frame arrived at ``arrival_s`` (monotonic seconds) with header stamp ``stamp_ns``."""
        self.first_arrival = arrival_s if self.first_arrival is None else self.first_arrival
        self.arrivals.append(arrival_s)
        self.stamps_ns.append(stamp_ns)

    def rate(self, now: float) -> float:
        """Frames per second that actually arrived recently (0 in a stall)."""
        if self.first_arrival is None:
            return 0.0
        recent = sum(1 for t in self.arrivals if t > now - RATE_WINDOW_S)
        span = min(RATE_WINDOW_S, now - self.first_arrival)
        return recent / span if span > 0 and recent > 1 else 0.0

    def silence(self, now: float) -> float | None:
        """Seconds since the last frame (None before the first)."""
        return now - self.arrivals[-1] if self.arrivals else None

    def _stamp_gaps(self) -> np.ndarray:
        gaps = np.diff(np.asarray(self.stamps_ns, dtype=np.int64)) * 1e-9
        return gaps[gaps > 0]

    def period(self) -> float | None:
        """The sender's frame period from the stamps: the 5th percentile of the gaps.

        Lost frames only make gaps longer, so a low percentile is the period as
        long as a few consecutive frames get through.
        """
        gaps = self._stamp_gaps()
        return float(np.percentile(gaps, 5)) if len(gaps) >= 5 else None

    def lost_fraction(self) -> float:
        """Fraction of the sender's recent frames missing from the stamp sequence."""
        period = self.period()
        if period is None:
            return 0.0
        gaps = self._stamp_gaps()
        frames = np.round(gaps[gaps <= LOSS_MAX_GAP_PERIODS * period] / period)
        sent = float(frames.sum())
        return float((sent - len(frames)) / sent) if sent else 0.0


@dataclass
class Snapshot:
    """What the node knows at one diagnostics tick."""

    now: float  # monotonic seconds
    active_since: float | None  # monotonic time of activation (None = not active)
    color: StreamMonitor
    depth: StreamMonitor
    color_topic: str
    depth_topic: str
    last_publish: float | None  # monotonic time of the last published anticipation
    invalid_new: int = 0  # frames refused since the previous snapshot
    last_invalid_reason: str = ""
    color_only_new: int = 0  # color frames emitted without depth since the previous snapshot
    matched_new: int = 0  # color frames paired with depth since the previous snapshot
    sync_policy: str = "exact"
    nearest_depth_ms: float | None = None  # distance to the nearest depth of the last unpaired color frame
    depth_too_noisy_new: int = 0  # depth frames left out as noisier than max_depth_noise since the previous snapshot
    depth_noise: float = float("nan")  # the latest depth frame's estimated std at 1 m (m)
    max_depth_noise: float = 0.0
    rgb_too_noisy_new: int = 0  # RGB frames left out as noisier than max_rgb_noise since the previous snapshot
    rgb_noise: float = float("nan")  # the latest frame's estimated RGB noise at the network's input (0-255)
    max_rgb_noise: float = 0.0


@dataclass
class Assessment:
    """Level and reasons, worst first in importance of the reader's next step."""

    level: int = OK
    problems: list[str] = field(default_factory=list)

    def add(self, level: int, problem: str) -> None:
        """Raise the level to ``level`` (never lower it) and record why."""
        self.level = max(self.level, level)
        self.problems.append(problem)


def _stall(assessment: Assessment, name: str, topic: str, monitor: StreamMonitor, now: float, error: bool) -> None:
    silence = monitor.silence(now)
    if silence is None:
        return
    period = monitor.period() or RATE_WINDOW_S / 10
    if silence > max(STALL_ERROR_PERIODS * period, STALL_ERROR_MIN_S):
        assessment.add(ERROR if error else WARN, f"{name} input stalled: nothing on {topic} for {silence:.1f} s")
    elif silence > max(STALL_WARN_PERIODS * period, STALL_WARN_MIN_S):
        assessment.add(WARN, f"{name} input late: nothing on {topic} for {silence:.1f} s")


def assess(snapshot: Snapshot) -> Assessment:
    """The level and reasons the pipeline status reports (inputs, pairing, invalid frames, output)."""
    result = Assessment()
    if snapshot.active_since is None:
        return result
    now = snapshot.now
    if snapshot.color.first_arrival is None:
        waited = now - snapshot.active_since
        level = ERROR if waited > STARTUP_GRACE_S else WARN
        result.add(level, f"no color input on {snapshot.color_topic} since activation {waited:.1f} s ago")
    _stall(result, "color", snapshot.color_topic, snapshot.color, now, error=True)
    _stall(result, "depth", snapshot.depth_topic, snapshot.depth, now, error=False)
    for name, monitor in (("color", snapshot.color), ("depth", snapshot.depth)):
        lost = monitor.lost_fraction()
        if lost > LOSS_WARN_FRACTION:
            result.add(
                WARN,
                f"{lost:.0%} of {name} frames lost before the node (gaps in their stamps): likely large "
                "images over Fast DDS without config/fastdds_large_images.xml, a best-effort subscription "
                "on a busy link, or the camera dropping frames (USB bandwidth)",
            )
    if snapshot.invalid_new:
        result.add(WARN, f"{snapshot.invalid_new} invalid frames dropped: {snapshot.last_invalid_reason}")
    if snapshot.depth_too_noisy_new:
        result.add(
            WARN,
            f"{snapshot.depth_too_noisy_new} depth frames noisier than max_depth_noise {snapshot.max_depth_noise:g} m "
            f"at 1 m (latest {snapshot.depth_noise:.3f}) went in as missing, so the model read RGB alone for them: "
            "check the camera (interference from another projector, sunlight, range), or raise max_depth_noise",
        )
    if snapshot.rgb_too_noisy_new:
        result.add(
            WARN,
            f"{snapshot.rgb_too_noisy_new} colour frames noisier than max_rgb_noise {snapshot.max_rgb_noise:g} "
            f"(latest {snapshot.rgb_noise:.1f}) went in without RGB, so the model read depth alone for them: "
            "check the lighting and the camera's exposure and gain, or raise max_rgb_noise",
        )
    unpaired = snapshot.matched_new == 0 and snapshot.color_only_new >= UNPAIRED_WARN_FRAMES
    if unpaired and snapshot.depth.rate(now) > 0:
        offset = f" (nearest depth {snapshot.nearest_depth_ms:.1f} ms away)" if snapshot.nearest_depth_ms else ""
        fix = (
            "set sync_policy: approximate with sync_slop_s above that offset"
            if snapshot.sync_policy == "exact"
            else "raise sync_slop_s above that offset, or check that depth is aligned to this color stream"
        )
        result.add(WARN, f"depth arrives but never pairs with color under sync_policy {snapshot.sync_policy}"
                   f"{offset}: {fix}")  # fmt: skip
    first_color = snapshot.color.first_arrival
    last_output = snapshot.last_publish if snapshot.last_publish is not None else first_color
    since_output = now - last_output if last_output is not None else 0.0
    if since_output > SILENT_OUTPUT_S:
        cause = f" (last invalid frame: {snapshot.last_invalid_reason})" if snapshot.last_invalid_reason else ""
        result.add(ERROR, f"nothing published for {since_output:.1f} s{cause}")
    return result
