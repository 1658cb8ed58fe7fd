"""Turning raw temporal outputs into actions: segments, frame labels, the next action.

Shared by evaluation, bag replay and the node, so every consumer reads the
model the same way.

- Future segments: the most likely class at each future frame, run-length
  encoded. The segments cover the whole horizon in time order; each carries
  the mean probability of its class over its frames.
- The next action: the next-action head's distribution without the class
  observed at the last frame, renormalised (a class never follows itself).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PredictedSegment:
    """One anticipated segment; times in fractions of the horizon."""

    class_id: int
    confidence: float
    start: float
    duration: float


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=axis, keepdims=True)


def future_segments(future_logits: np.ndarray) -> list[PredictedSegment]:
    """(F, K) logits of the next F frames -> segments covering the horizon [0, 1], in time order."""
    probabilities = softmax(future_logits)
    labels = probabilities.argmax(axis=1)
    frames = len(labels)
    change = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [frames]])
    return [
        PredictedSegment(
            int(labels[first]),
            float(probabilities[first:last, labels[first]].mean()),
            first / frames,
            (last - first) / frames,
        )
        for first, last in zip(starts, ends, strict=True)
    ]


def segments_to_frames(segments: list[PredictedSegment], num_frames: int, horizon_frames: float) -> np.ndarray:
    """Per-frame class ids for ``num_frames`` frames after the observation (-1 if nothing predicted).

    Frames past the horizon keep the last segment's class.
    """
    labels = np.full(num_frames, -1, dtype=np.int64)
    for segment in segments:
        first = round(segment.start * horizon_frames)
        last = round((segment.start + segment.duration) * horizon_frames)
        labels[first:last] = segment.class_id
    if segments:
        covered = round((segments[-1].start + segments[-1].duration) * horizon_frames)
        labels[covered:] = segments[-1].class_id
    return labels


def next_action(next_logits: np.ndarray, current_class: int) -> tuple[int, np.ndarray]:
    """(class id, probability vector over the K classes) of the action after ``current_class``."""
    probabilities = softmax(next_logits)
    probabilities[current_class] = 0.0
    probabilities /= max(float(probabilities.sum()), 1e-12)
    return int(probabilities.argmax()), probabilities
