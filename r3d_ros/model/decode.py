"""Turning raw temporal outputs into actions: segments, frame labels, the next action.

Shared by evaluation, bag replay and the node, so every consumer reads the
model the same way.

- Future segments: queries in order until the first one whose most likely
  class is the end token; each gets its class, that class's probability and
  its length (fraction of the horizon). Frame labels unroll them; frames past
  the last predicted segment keep its class (FUTR's convention).
- The next action is the first predicted segment whose class differs from the
  action observed at the last frame. Its probability vector is that query's
  class distribution without the end token and without the current class,
  renormalised. When every segment continues the current action, the next
  action is the current one with query 0's distribution.
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


def future_segments(action_logits: np.ndarray, durations: np.ndarray) -> list[PredictedSegment]:
    """(Q, K + 1) logits and (Q,) durations of one window -> predicted segments in time order."""
    probabilities = softmax(action_logits)
    end_token = action_logits.shape[-1] - 1
    segments: list[PredictedSegment] = []
    start = 0.0
    for query, p in enumerate(probabilities):
        class_id = int(p.argmax())
        if class_id == end_token or start >= 1.0:
            break
        length = float(min(durations[query], 1.0 - start))
        segments.append(PredictedSegment(class_id, float(p[class_id]), start, length))
        start += length
    return segments


def segments_to_frames(segments: list[PredictedSegment], num_frames: int, horizon_frames: float) -> np.ndarray:
    """Per-frame class ids for ``num_frames`` frames after the observation (-1 if nothing predicted)."""
    labels = np.full(num_frames, -1, dtype=np.int64)
    for segment in segments:
        first = round(segment.start * horizon_frames)
        last = round((segment.start + segment.duration) * horizon_frames)
        labels[first:last] = segment.class_id
    if segments:
        covered = round((segments[-1].start + segments[-1].duration) * horizon_frames)
        labels[covered:] = segments[-1].class_id
    return labels


def next_action(action_logits: np.ndarray, current_class: int) -> tuple[int, np.ndarray]:
    """(class id, probability vector over the K classes) of the next action after ``current_class``."""
    probabilities = softmax(action_logits)[:, :-1]
    end_probability = softmax(action_logits)[:, -1]
    for query in range(len(probabilities)):
        if end_probability[query] >= probabilities[query].max():
            break
        if int(probabilities[query].argmax()) != current_class:
            p = probabilities[query].copy()
            p[current_class] = 0.0
            p /= p.sum()
            return int(p.argmax()), p
    p = probabilities[0] / probabilities[0].sum()
    return int(p.argmax()), p
