"""Turning raw temporal outputs into actions: segments, frame labels, the next action.

Shared by evaluation, bag replay and the node, so every consumer reads the
model the same way.

- The window's reading (:func:`read_window`): the current action, how many
  frames it has lasted, its confidence and the future probabilities (F, K):
  the future head's softmax, or, with ``future_decoder: grammar``, the action
  grammar's forecast given the last frame's recognised action and the length
  of its run, or, with ``future_decoder: grammar_filter``, all of these from
  the grammar filter's P(class, age | window).
- Future segments: the most likely class at each future frame, run-length
  encoded. The segments cover the whole horizon in time order; each carries
  the mean probability of its class over its frames.
- The next action: the next-action head's distribution (or the grammar's
  successor row) without the class observed at the last frame, renormalised
  (a class never follows itself).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from r3d_ros.model.grammar import ActionGrammar, GrammarFilter, current_action


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


@dataclass
class WindowReading:
    """What one window's outputs say about now and the future."""

    current: int  # class of the action going on at the last frame
    elapsed: int  # frames it has lasted, the last one included (at most the window's length)
    confidence: float  # probability of ``current``
    future: np.ndarray  # (F, K) class probabilities of the next F frames


def read_window(
    segmentation_logits: np.ndarray,
    future_logits: np.ndarray | None,
    grammar: ActionGrammar | None,
    grammar_filter: GrammarFilter | None = None,
    future_frames: int | None = None,
    remaining_logits: np.ndarray | None = None,
) -> WindowReading:
    """The current action and the future from (T, K) observed and (F, K) future logits of one window.

    A model decoded by its grammar has no future logits at run time (None): ``future_frames``
    then gives F, which is otherwise the logits' length. ``remaining_logits`` (R,): the newest
    frame's remaining-frames head, read by the grammar filter (None: the model has none).
    """
    if future_frames is None:
        if future_logits is None:
            raise ValueError("read_window needs future_frames when there are no future logits")
        future_frames = len(future_logits)
    if grammar_filter is not None:
        posterior = grammar_filter.posterior(softmax(segmentation_logits))
        current, age, confidence = grammar_filter.current(posterior)
        evidence = None if remaining_logits is None else softmax(remaining_logits)
        future = grammar_filter.future(posterior, future_frames, evidence)
        return WindowReading(current, min(max(age, 1), len(segmentation_logits)), confidence, future)
    current, elapsed = current_action(segmentation_logits.argmax(-1))
    confidence = float(softmax(segmentation_logits[-1])[current])
    future = future_probabilities(future_logits, segmentation_logits, grammar, future_frames)
    return WindowReading(current, elapsed, confidence, future)


def recognised_labels(segmentation_logits: np.ndarray, grammar_filter: GrammarFilter | None = None) -> np.ndarray:
    """(T,) class of each observed frame: the per-frame argmax, or the grammar filter's smoothed one."""
    if grammar_filter is None:
        return segmentation_logits.argmax(-1)
    return grammar_filter.smoothed(softmax(segmentation_logits)).argmax(-1)


def future_probabilities(
    future_logits: np.ndarray | None,
    segmentation_logits: np.ndarray,
    grammar: ActionGrammar | None,
    future_frames: int | None = None,
) -> np.ndarray:
    """(F, K) class probabilities of the next F frames, from the head or from ``grammar``.

    ``segmentation_logits`` (T, K) are the observed window's; the grammar reads
    the current action and its elapsed frames from their per-frame argmax. F is
    ``future_frames``, or the future logits' length; the grammar needs no logits.
    """
    if grammar is None:
        if future_logits is None:
            raise ValueError("a model without a grammar needs its future logits")
        return softmax(future_logits)
    current, elapsed = current_action(segmentation_logits.argmax(-1))
    return grammar.future_distribution(current, elapsed, len(future_logits) if future_frames is None else future_frames)


def future_segments(probabilities: np.ndarray) -> list[PredictedSegment]:
    """(F, K) class probabilities of the next F frames -> segments covering the horizon [0, 1], in time order."""
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


def next_action(
    next_logits: np.ndarray | None, current_class: int, grammar: ActionGrammar | None = None
) -> tuple[int, np.ndarray]:
    """(class id, probability vector over the K classes) of the action after ``current_class``.

    With a grammar its successor row is used and ``next_logits`` may be None.
    """
    if grammar is None and next_logits is None:
        raise ValueError("a model without a grammar needs its next-action logits")
    probabilities = softmax(next_logits) if grammar is None else grammar.transitions[current_class].copy()
    probabilities[current_class] = 0.0
    probabilities /= max(float(probabilities.sum()), 1e-12)
    return int(probabilities.argmax()), probabilities
