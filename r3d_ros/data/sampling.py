"""Anticipation samples: observed windows and the future they must predict.

Time is counted in frames at the model rate (``anticipation.fps``). A sample
observes the frames ``[max(0, end - window), end)`` of a video and is asked for
the action segments of the next ``horizon`` frames ``[end, end + horizon)``:

- the future labels are run-length encoded into segments; query q's target is
  the class of segment q and its length as a fraction of the horizon (the
  first segment is usually the current action going on, as in FUTR);
- after the last segment inside the horizon comes the end token; when the
  recording ends inside the horizon the future is unknown, so the sequence is
  not closed with an end token and the last segment's length is not regressed;
- segments beyond ``num_queries`` are dropped; unlabeled frames (-1) give a
  segment whose class is ignored.

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
    future_classes: np.ndarray  # (Q,) int64
    future_durations: np.ndarray  # (Q,) float32, NaN where not regressed


def run_lengths(labels: np.ndarray) -> list[tuple[int, int]]:
    """[(label, length), ...] of consecutive equal labels."""
    if len(labels) == 0:
        return []
    change = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(labels)]])
    return [(int(labels[s]), int(e - s)) for s, e in zip(starts, ends, strict=True)]


def future_targets(
    future: np.ndarray, horizon: int, num_queries: int, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Query targets for the labels of the frames after the observation (at most ``horizon`` of them)."""
    classes = np.full(num_queries, IGNORE, dtype=np.int64)
    durations = np.full(num_queries, np.nan, dtype=np.float32)
    future = future[:horizon]
    truncated = len(future) < horizon
    runs = run_lengths(future)
    for q, (label, length) in enumerate(runs[:num_queries]):
        classes[q] = label if label >= 0 else IGNORE
        durations[q] = length / horizon
    if truncated and runs and len(runs) <= num_queries:
        durations[len(runs) - 1] = np.nan
    elif not truncated and len(runs) < num_queries:
        classes[len(runs)] = num_classes
    return classes, durations


def window_targets(
    labels: np.ndarray, end: int, window: int, horizon: int, num_queries: int, num_classes: int
) -> WindowTargets:
    """Targets for observing ``labels[max(0, end - window):end]``."""
    observed = labels[max(0, end - window) : end]
    segmentation = np.where(observed >= 0, observed, IGNORE).astype(np.int64)
    classes, durations = future_targets(labels[end:], horizon, num_queries, num_classes)
    return WindowTargets(segmentation, classes, durations)


def sample_window_ends(num_frames: int, count: int, min_observed: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` observation ends, uniform over the frames that leave something to predict."""
    low = min(min_observed, num_frames - 1)
    return rng.integers(max(low, 1), num_frames, size=count)


def protocol_window(num_frames: int, alpha: float, beta: float) -> tuple[int, int]:
    """(observed frames, frames to predict) for the alpha/beta protocol on a video of ``num_frames``."""
    observed = max(1, int(alpha * num_frames))
    predicted = max(1, min(int(beta * num_frames), num_frames - observed))
    return observed, predicted
