"""Anticipation targets, the alpha/beta protocol window, decoding and MoC."""

from __future__ import annotations

import numpy as np
import pytest

from r3d_ros.data.sampling import future_targets, protocol_window, run_lengths, window_targets
from r3d_ros.eval.anticipation import ClassAccuracy
from r3d_ros.model.decode import future_segments, next_action, segments_to_frames
from r3d_ros.model.losses import IGNORE

K = 4  # classes; the end token is K


def test_run_lengths_groups_consecutive_labels() -> None:
    assert run_lengths(np.array([2, 2, 0, 0, 0, 3])) == [(2, 2), (0, 3), (3, 1)]


def test_future_inside_the_horizon_ends_with_the_end_token() -> None:
    classes, durations = future_targets(np.array([1, 1, 2, 2, 2, 2, 3, 3, 3, 3]), 8, 5, K)
    assert classes.tolist() == [1, 2, 3, K, IGNORE]
    np.testing.assert_allclose(durations[:3], [2 / 8, 4 / 8, 2 / 8])
    assert np.isnan(durations[3:]).all()


def test_recording_ending_inside_the_horizon_leaves_the_future_open() -> None:
    classes, durations = future_targets(np.array([1, 1, 2]), 8, 5, K)
    assert classes.tolist() == [1, 2, IGNORE, IGNORE, IGNORE]
    assert durations[0] == pytest.approx(2 / 8)
    assert np.isnan(durations[1])  # the last segment may go on: its length is unknown


def test_more_segments_than_queries_are_cut_without_end_token() -> None:
    classes, _ = future_targets(np.array([0, 1, 2, 3, 0, 1]), 6, 3, K)
    assert classes.tolist() == [0, 1, 2]


def test_unlabeled_future_frames_are_ignored_classes() -> None:
    classes, durations = future_targets(np.array([-1, -1, 2, 2]), 4, 4, K)
    assert classes.tolist() == [IGNORE, 2, K, IGNORE]
    assert durations[1] == pytest.approx(0.5)


def test_window_targets_cover_only_the_last_window_frames() -> None:
    labels = np.array([0] * 10 + [1] * 10)
    targets = window_targets(labels, end=15, window=8, horizon=4, num_queries=3, num_classes=K)
    assert targets.segmentation.tolist() == [0, 0, 0, 1, 1, 1, 1, 1]
    assert targets.future_classes.tolist() == [1, K, IGNORE]


def test_protocol_window_observes_alpha_and_predicts_beta() -> None:
    assert protocol_window(100, 0.3, 0.5) == (30, 50)
    assert protocol_window(100, 0.3, 0.8) == (30, 70)  # never past the end of the video


def logits_for(classes: list[int], confidence: float = 5.0) -> np.ndarray:
    logits = np.zeros((len(classes), K + 1))
    logits[np.arange(len(classes)), classes] = confidence
    return logits


def test_future_segments_stop_at_the_end_token() -> None:
    segments = future_segments(logits_for([2, 1, K, 3]), np.array([0.25, 0.5, 0.1, 0.1]))
    assert [(s.class_id, s.start, s.duration) for s in segments] == [(2, 0.0, 0.25), (1, 0.25, 0.5)]


def test_segments_to_frames_extends_the_last_segment() -> None:
    segments = future_segments(logits_for([2, 1, K]), np.array([0.25, 0.25, 0.1]))
    frames = segments_to_frames(segments, num_frames=12, horizon_frames=8)
    assert frames.tolist() == [2, 2, 1, 1] + [1] * 8


def test_next_action_skips_the_continuing_current_action() -> None:
    class_id, probabilities = next_action(logits_for([2, 3, K]), current_class=2)
    assert class_id == 3
    assert probabilities.sum() == pytest.approx(1.0)
    assert probabilities[2] == 0.0


def test_next_action_is_the_current_one_when_nothing_else_is_predicted() -> None:
    class_id, probabilities = next_action(logits_for([2, K]), current_class=2)
    assert class_id == 2
    assert probabilities.sum() == pytest.approx(1.0)


def test_mean_over_classes_weights_every_class_equally() -> None:
    accuracy = ClassAccuracy(3)
    truth = np.array([0] * 90 + [1] * 10 + [-1] * 5)
    predicted = np.array([0] * 90 + [0] * 10 + [2] * 5)
    accuracy.add(predicted, truth)
    assert accuracy.frame_accuracy() == pytest.approx(0.9)
    assert accuracy.mean_over_classes() == pytest.approx(0.5)
    assert accuracy.mean_over_classes([1]) == pytest.approx(0.0)
