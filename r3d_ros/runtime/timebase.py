"""Frame-rate subsampling by timestamp, shared by offline datasets and the streaming runtime.

Cameras run at 15, 30 or 60 frames/s and drop frames; the model was trained at
one rate (``anticipation.fps``). Keeping the first frame whose stamp reaches the
next due time on a fixed grid (scheduling the next one a period later, and
re-anchoring the grid after a gap) gives the same model input whatever the
camera rate, and jitter delays a pick by at most one camera frame instead of
making the grid drift. The offline
:func:`subsample_indices` is literally the streaming :class:`FrameRateLimiter`
run over a list, so training and deployment select frames identically.
"""

from __future__ import annotations

from collections.abc import Sequence

# A frame this early still counts as on time (timestamp jitter): a tenth of the model
# period, at most 5 ms, so the frame nearest the due time wins at any camera rate.
JITTER_FRACTION = 0.1
JITTER_MAX_S = 0.005


class FrameRateLimiter:
    """Decides, frame by frame, which stamps to keep for a target rate."""

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps
        self.tolerance = min(JITTER_FRACTION * self.period, JITTER_MAX_S)
        self.next_due: float | None = None

    def reset(self) -> None:
        """Forget the schedule (after a reset of the stream)."""
        self.next_due = None

    def accept(self, stamp: float) -> bool:
        """True when the frame at ``stamp`` (seconds) is the next one the model should see."""
        if self.next_due is not None and stamp < self.next_due - self.tolerance:
            return False
        if self.next_due is None or stamp > self.next_due + self.period:
            self.next_due = stamp + self.period  # first frame, or re-anchor after a gap
        else:
            self.next_due += self.period
        return True


def subsample_indices(stamps: Sequence[float], fps: float) -> list[int]:
    """Indices of the frames a :class:`FrameRateLimiter` at ``fps`` keeps from ``stamps``."""
    limiter = FrameRateLimiter(fps)
    return [i for i, stamp in enumerate(stamps) if limiter.accept(float(stamp))]


class StampEpoch:
    """Exact conversion between integer-nanosecond stamps and small float seconds.

    A float64 holding seconds since 1970 resolves only ~0.2 µs, so a stamp
    converted to float and back would not equal the image's stamp. Seconds are
    therefore counted from the first stamp seen, and the stamps converted most
    recently are remembered, so a published stamp is a bit-exact copy of the
    input stamp it came from even where float seconds cannot hold it exactly
    (a camera whose clock restarts near zero after stamps near 1970 + 56 years).
    A stamp that was never seen is rebuilt from the epoch, never below zero.
    """

    def __init__(self, remembered: int = 4096) -> None:
        self.epoch_ns: int | None = None
        self.remembered = remembered
        self.recent: dict[float, int] = {}

    def seconds(self, stamp_ns: int) -> float:
        """Seconds since the first stamp (which defines the epoch)."""
        if self.epoch_ns is None:
            self.epoch_ns = stamp_ns
        seconds = (stamp_ns - self.epoch_ns) * 1e-9
        self.recent.pop(seconds, None)
        self.recent[seconds] = stamp_ns
        if len(self.recent) > self.remembered:
            del self.recent[next(iter(self.recent))]
        return seconds

    def nanoseconds(self, seconds: float) -> int:
        """The integer-nanosecond stamp that ``seconds`` came from (clamped at 0)."""
        if seconds in self.recent:
            return self.recent[seconds]
        return max(0, (self.epoch_ns or 0) + round(seconds * 1e9))
