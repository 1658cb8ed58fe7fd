"""Anticipation targets, the alpha/beta protocol window, decoding and MoC."""

from __future__ import annotations

import numpy as np
import pytest

from r3d_ros.data.sampling import protocol_window, remaining_after, run_lengths, window_targets
from r3d_ros.eval.anticipation import ClassAccuracy
from r3d_ros.model.decode import future_probabilities, future_segments, next_action, segments_to_frames, softmax
from r3d_ros.model.grammar import ActionGrammar
from r3d_ros.model.losses import IGNORE

K = 4  # classes


def test_run_lengths_groups_consecutive_labels() -> None:
    assert run_lengths(np.array([2, 2, 0, 0, 0, 3])) == [(2, 2), (0, 3), (3, 1)]


def test_future_targets_are_the_next_horizon_frames() -> None:
    labels = np.array([0] * 10 + [1] * 10)
    targets = window_targets(labels, end=8, window=8, horizon=4)
    assert targets.future.tolist() == [0, 0, 1, 1]


def test_future_past_the_recording_is_ignored_not_guessed() -> None:
    targets = window_targets(np.array([1, 1, 2]), end=2, window=4, horizon=5)
    assert targets.future.tolist() == [2, IGNORE, IGNORE, IGNORE, IGNORE]


def test_unlabeled_future_frames_are_ignored() -> None:
    targets = window_targets(np.array([0, 0, -1, -1, 2, 2]), end=2, window=4, horizon=4)
    assert targets.future.tolist() == [IGNORE, IGNORE, 2, 2]


def test_next_action_target_is_the_first_different_labelled_class() -> None:
    labels = np.array([0, 0, 0, -1, 0, 3, 3, 1])
    assert window_targets(labels, end=2, window=4, horizon=2).next_action == 3
    assert window_targets(labels, end=6, window=4, horizon=2).next_action == 1


def test_next_action_is_unknown_when_the_recording_ends_first() -> None:
    assert window_targets(np.array([2, 2, 2, 2]), end=2, window=4, horizon=2).next_action == IGNORE


def test_window_targets_cover_only_the_last_window_frames() -> None:
    labels = np.array([0] * 10 + [1] * 10)
    targets = window_targets(labels, end=15, window=8, horizon=4)
    assert targets.segmentation.tolist() == [0, 0, 0, 1, 1, 1, 1, 1]


def test_remaining_frames_count_down_to_each_actions_last_frame() -> None:
    labels = np.array([0, 0, 0, 2, 2, 1, 1, 1, 1])
    np.testing.assert_array_equal(remaining_after(labels, cap=10)[:5], [2, 1, 0, 1, 0])


def test_remaining_frames_are_capped_at_the_last_bin() -> None:
    labels = np.array([3] * 12 + [1])
    np.testing.assert_array_equal(remaining_after(labels, cap=5)[:10], [4] * 8 + [3, 2])


def test_remaining_frames_of_the_action_the_recording_cuts_are_known_only_past_the_cap() -> None:
    labels = np.array([0, 0, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(remaining_after(labels, cap=4), [1, 0, 3, 3, IGNORE, IGNORE, IGNORE])


def test_unlabelled_frames_have_no_remaining_target() -> None:
    labels = np.array([0, -1, -1, 2, 2])
    assert list(remaining_after(labels, cap=8)[:3]) == [0, IGNORE, IGNORE]


def test_protocol_window_observes_alpha_and_predicts_beta() -> None:
    assert protocol_window(100, 0.3, 0.5) == (30, 50)
    assert protocol_window(100, 0.3, 0.8) == (30, 70)  # never past the end of the video


def logits_for(classes: list[int], confidence: float = 5.0) -> np.ndarray:
    logits = np.zeros((len(classes), K))
    logits[np.arange(len(classes)), classes] = confidence
    return logits


def test_future_segments_cover_the_whole_horizon_in_order() -> None:
    segments = future_segments(softmax(logits_for([2, 2, 1, 1, 1, 1, 3, 3])))
    assert [(s.class_id, s.start, s.duration) for s in segments] == [(2, 0.0, 0.25), (1, 0.25, 0.5), (3, 0.75, 0.25)]
    assert sum(s.duration for s in segments) == pytest.approx(1.0)


def test_future_segment_confidence_is_its_class_mean_probability() -> None:
    logits = logits_for([2, 2])
    logits[1, 2] = 1.0
    (segment,) = future_segments(softmax(logits))
    expected = np.mean([np.exp(c) / (np.exp(c) + K - 1) for c in (5.0, 1.0)])
    assert segment.confidence == pytest.approx(expected)


def test_segments_to_frames_extends_the_last_segment() -> None:
    segments = future_segments(softmax(logits_for([2, 2, 1, 1])))
    frames = segments_to_frames(segments, num_frames=6, horizon_frames=4)
    assert frames.tolist() == [2, 2, 1, 1, 1, 1]


def test_next_action_never_repeats_the_current_action() -> None:
    class_id, probabilities = next_action(logits_for([2])[0], current_class=2)
    assert class_id != 2
    assert probabilities[2] == 0.0
    assert probabilities.sum() == pytest.approx(1.0)


def test_next_action_is_the_most_likely_other_class() -> None:
    logits = np.array([0.0, 3.0, 4.0, 1.0])
    class_id, probabilities = next_action(logits, current_class=2)
    assert class_id == 1
    assert probabilities[1] > probabilities[3] > probabilities[0]


def test_mean_over_classes_weights_every_class_equally() -> None:
    accuracy = ClassAccuracy(3)
    truth = np.array([0] * 90 + [1] * 10 + [-1] * 5)
    predicted = np.array([0] * 90 + [0] * 10 + [2] * 5)
    accuracy.add(predicted, truth)
    assert accuracy.frame_accuracy() == pytest.approx(0.9)
    assert accuracy.mean_over_classes() == pytest.approx(0.5)
    assert accuracy.mean_over_classes([1]) == pytest.approx(0.0)


def test_grammar_decoder_forecasts_from_the_recognised_action_and_its_elapsed_time() -> None:
    transitions = np.full((K, K), 1.0 / (K - 1)) - np.eye(K) / (K - 1)
    transitions[2] = np.eye(K)[3]  # class 2 is always followed by class 3
    durations = np.zeros((K, 8))
    durations[:, 5] = 1.0  # every action lasts exactly 5 frames
    grammar = ActionGrammar(transitions, durations)
    observed = logits_for([1, 1, 2, 2, 2])  # class 2 has lasted 3 frames
    probabilities = future_probabilities(np.zeros((4, K)), observed, grammar)
    assert probabilities.argmax(1).tolist() == [2, 2, 3, 3]
    assert next_action(np.zeros(K), 2, grammar)[0] == 3
    from_head = future_probabilities(logits_for([0, 0, 0, 0]), observed, None)  # the head when no grammar
    assert from_head.argmax(1).tolist() == [0, 0, 0, 0]
