"""Anticipation samples: observed windows and the future they must predict.

Time is counted in frames at the model rate (``anticipation.fps``). A sample
observes the frames ``[max(0, end - window), end)`` of a video and is asked for

- the class of each of the next ``horizon`` frames ``[end, end + horizon)``
  (IGNORE past the end of the recording, and where the labels say -1), and
- the next action: the first labelled class after ``end - 1`` that differs from
  the class at ``end - 1`` (IGNORE when the recording ends first).

The FUTR/R3D evaluation protocol observes the first ``alpha`` of a video and
scores the next ``beta`` of it: :func:`protocol_window` gives that window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from r3d_ros.model.losses import IGNORE


@dataclass
class WindowTargets:
    """Targets of one observation window."""

    segmentation: np.ndarray  # (T,) int64 class per observed frame, IGNORE if unlabeled
    future: np.ndarray  # (horizon,) int64 class per future frame, IGNORE if unknown
    next_action: int  # class of the segment after the current one, IGNORE if unknown


def run_lengths(labels: np.ndarray) -> list[tuple[int, int]]:
    """[(label, length), ...] of consecutive equal labels."""
    if len(labels) == 0:
        return []
    change = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(labels)]])
    return [(int(labels[s]), int(e - s)) for s, e in zip(starts, ends, strict=True)]


def next_action_after(labels: np.ndarray, end: int) -> int:
    """The first labelled class after frame ``end - 1`` that differs from its class (IGNORE if none)."""
    current = int(labels[end - 1])
    if current < 0:
        return IGNORE
    later = labels[end:]
    changed = np.flatnonzero((later != current) & (later >= 0))
    return int(later[changed[0]]) if len(changed) else IGNORE


def window_targets(labels: np.ndarray, end: int, window: int, horizon: int) -> WindowTargets:
    """Targets for observing ``labels[max(0, end - window):end]``."""
    observed = labels[max(0, end - window) : end]
    future = np.full(horizon, IGNORE, dtype=np.int64)
    known = labels[end : end + horizon]
    future[: len(known)] = np.where(known >= 0, known, IGNORE)
    segmentation = np.where(observed >= 0, observed, IGNORE).astype(np.int64)
    return WindowTargets(segmentation, future, next_action_after(labels, end))


def remaining_after(labels: np.ndarray, cap: int) -> np.ndarray:
    """(T,) frames each frame's action goes on after it, at most ``cap - 1`` (the last bin: that many or more).

    IGNORE on unlabelled frames, and where the recording ends before the action does
    and before ``cap - 1`` more frames: how long it would have gone on is unknown.
    """
    remaining = np.full(len(labels), IGNORE, dtype=np.int64)
    start = 0
    for label, length in run_lengths(labels):
        after = np.arange(length - 1, -1, -1)
        if start + length == len(labels):  # the recording ends inside this action: at least this many
            after = np.where(after >= cap - 1, cap - 1, IGNORE)
        if label >= 0:
            remaining[start : start + length] = np.minimum(after, cap - 1)
        start += length
    return remaining


def sample_window_ends(num_frames: int, count: int, min_observed: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` observation ends, uniform over the frames that leave something to predict."""
    low = min(min_observed, num_frames - 1)
    return rng.integers(max(low, 1), num_frames, size=count)


def observed_frames(num_frames: int, alpha: float) -> int:
    """Frames observed under the alpha/beta protocol on a video of ``num_frames`` (at least one)."""
    return max(1, int(alpha * num_frames))


def protocol_window(num_frames: int, alpha: float, beta: float) -> tuple[int, int]:
    """(observed frames, frames to predict) for the alpha/beta protocol on a video of ``num_frames``."""
    observed = observed_frames(num_frames, alpha)
    predicted = max(1, min(int(beta * num_frames), num_frames - observed))
    return observed, predicted
