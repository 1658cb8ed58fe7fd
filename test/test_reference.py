"""Reference anticipators: the exact grammar forecast, its estimation, the predictors and the gap split."""

import itertools

import numpy as np
import pytest

from r3d_ros.config import SyntheticConfig
from r3d_ros.data.labels import Segment, frame_labels
from r3d_ros.data.sampling import protocol_window
from r3d_ros.data.synthetic import SYNTHETIC_CLASSES, TRANSITIONS, dark_sleeves, plan_video
from r3d_ros.eval.anticipation import near_label_change
from r3d_ros.eval.reference import (
    ReferenceScores,
    Twins,
    continue_prediction,
    dataset_twins,
    grammar_prediction,
    hybrid_prediction,
    late_grammar_prediction,
    most_likely,
    reference_table,
    sensed_prediction,
    synthetic_grammar,
    timed_prediction,
)
from r3d_ros.model.grammar import ActionGrammar, current_action

GRAMMAR = synthetic_grammar(10.0)
WAVE, KICK = SYNTHETIC_CLASSES.index("wave"), SYNTHETIC_CLASSES.index("kick")
PUSH, PULL = SYNTHETIC_CLASSES.index("push"), SYNTHETIC_CLASSES.index("pull")
TOWARD, AWAY = SYNTHETIC_CLASSES.index("step_toward"), SYNTHETIC_CLASSES.index("step_away")
TWINS = dataset_twins(SYNTHETIC_CLASSES)


def planned_labels(config: SyntheticConfig, split: str, count: int) -> list[np.ndarray]:
    """Frame labels of planned (not rendered) synthetic videos, exactly as the dataset labels them."""
    stamps = np.arange(config.num_frames) / config.fps
    out = []
    for index in range(count):
        plan = plan_video(config, split, index)
        segments = [Segment(s.start, s.end, SYNTHETIC_CLASSES[s.action]) for s in plan.segments]
        out.append(frame_labels(stamps, segments, SYNTHETIC_CLASSES))
    return out


def interior_run_lengths(sequences: list[np.ndarray]) -> list[list[int]]:
    """Frame count of every run but the first (starts at a stamp) and last (censored), per class."""
    lengths: list[list[int]] = [[] for _ in SYNTHETIC_CLASSES]
    for labels in sequences:
        starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
        for begin, end in itertools.pairwise(starts[1:]):
            lengths[labels[begin]].append(end - begin)
    return lengths


def simulate(grammar: ActionGrammar, current: int, elapsed: int, num_frames: int, samples: int) -> np.ndarray:
    """Monte Carlo (num_frames, K) class frequencies of the same semi-Markov chain."""
    rng = np.random.default_rng(0)
    tail = grammar.duration_pmf[current, elapsed:]
    end = rng.choice(len(tail), size=samples, p=tail / tail.sum())  # remaining frames of the current segment
    labels = np.full((samples, num_frames), current)
    frames = np.arange(num_frames)
    action = np.full(samples, current)
    transitions, durations = np.cumsum(grammar.transitions, 1), np.cumsum(grammar.duration_pmf, 1)
    while (end < num_frames).any():
        action = np.minimum((transitions[action] < rng.random(samples)[:, None]).sum(1), grammar.num_classes - 1)
        length = (durations[action] < rng.random(samples)[:, None]).sum(1)
        inside = (frames >= end[:, None]) & (frames < (end + length)[:, None])
        labels[inside] = np.broadcast_to(action[:, None], inside.shape)[inside]
        end = end + length
    return np.stack([np.bincount(labels[:, t], minlength=grammar.num_classes) / samples for t in frames])


def test_future_rows_are_distributions_and_a_maxed_out_segment_ends():
    longest = int(np.flatnonzero(GRAMMAR.duration_pmf[WAVE])[-1])
    for elapsed in (1, 12, longest, longest + 5):
        future = GRAMMAR.future_distribution(WAVE, elapsed, 80)
        assert future.shape == (80, len(SYNTHETIC_CLASSES))
        assert (future >= 0).all()
        np.testing.assert_allclose(future.sum(1), 1.0, atol=1e-9)
    assert GRAMMAR.future_distribution(WAVE, longest, 10)[0, WAVE] == 0.0


def test_future_distribution_matches_monte_carlo():
    exact = GRAMMAR.future_distribution(WAVE, 18, 60)
    sampled = simulate(GRAMMAR, WAVE, 18, 60, samples=20000)
    assert np.abs(exact - sampled).max() < 0.02


def test_synthetic_durations_match_planned_segment_frame_counts():
    # Long videos, so few segments are the censored last one (which would bias interior runs short).
    lengths = interior_run_lengths(planned_labels(SyntheticConfig(seconds=300.0, num_train=80), "train", 80))
    frames = np.arange(GRAMMAR.duration_pmf.shape[1])
    for k, counts in enumerate(lengths):
        assert len(counts) > 400
        assert abs(np.mean(counts) - GRAMMAR.duration_pmf[k] @ frames) < 0.5
        assert GRAMMAR.duration_pmf[k, min(counts)] > 0 and GRAMMAR.duration_pmf[k, max(counts)] > 0


def test_estimate_recovers_the_synthetic_transitions():
    sequences = planned_labels(SyntheticConfig(num_train=600), "train", 600)
    estimated = ActionGrammar.estimate(sequences, len(SYNTHETIC_CLASSES), fps=10.0)
    primary = TRANSITIONS >= 0.35
    assert np.abs(estimated.transitions - TRANSITIONS)[primary].max() < 0.07
    assert np.diag(estimated.transitions).max() == 0.0
    np.testing.assert_allclose(estimated.duration_pmf.sum(1), 1.0)


def test_current_action_and_continue_repeat_the_last_run():
    observed = np.array([3, 3, 1, 1, 1, 4, 4])
    assert current_action(observed) == (4, 2)
    np.testing.assert_array_equal(continue_prediction(observed, 5), [4] * 5)


def test_hybrid_keeps_the_current_class_for_exactly_the_given_frames():
    observed = np.full(10, KICK)
    predicted = hybrid_prediction(GRAMMAR, observed, 7, 30)
    assert predicted.dtype == np.int64 and len(predicted) == 30
    assert (predicted[:7] == KICK).all() and predicted[7] != KICK


def test_late_oracle_predicts_from_the_label_known_delay_frames_before_the_end():
    observed = np.r_[np.full(20, WAVE), np.full(2, KICK)]  # kick began 2 frames ago
    one_late = late_grammar_prediction(GRAMMAR, observed, 15, delay=1)
    np.testing.assert_array_equal(one_late, grammar_prediction(GRAMMAR, observed[:-1], 16)[1:])
    assert one_late[0] == KICK  # a kick known to have begun a frame earlier still goes on
    three_late = late_grammar_prediction(GRAMMAR, observed, 15, delay=3)
    np.testing.assert_array_equal(three_late, grammar_prediction(GRAMMAR, observed[:-3], 18)[3:])
    np.testing.assert_array_equal(
        late_grammar_prediction(GRAMMAR, observed, 15, 0), grammar_prediction(GRAMMAR, observed, 15)
    )


def test_timed_oracle_keeps_the_current_action_exactly_until_it_ends():
    observed = np.r_[np.full(20, WAVE), np.full(6, KICK)]
    truth = np.r_[np.full(9, KICK), np.full(21, WAVE)]
    predicted = timed_prediction(GRAMMAR, observed, truth, 30)
    np.testing.assert_array_equal(predicted, most_likely(GRAMMAR.future_after(KICK, 9, 30)))
    assert (predicted[:9] == KICK).all() and predicted[9] != KICK


def references_on_a_test_split() -> dict[str, float]:
    """Every reference predictor's MoC at a0.3 b0.1 on 48 planned test videos (the true labels as "recognised")."""
    keys = ["a0.3_b0.1"]
    scores = ReferenceScores(GRAMMAR, len(SYNTHETIC_CLASSES), keys)
    for labels in planned_labels(SyntheticConfig(num_test=48), "test", 48):
        observed, predicted = protocol_window(len(labels), 0.3, 0.1)
        true, truth = labels[:observed], labels[observed : observed + predicted]
        scores.add(keys[0], truth, true, true, 5, truth)
    return scores.as_dict()


def test_knowing_when_the_action_ends_never_hurts_on_average():
    out = references_on_a_test_split()
    assert out["reference/oracle_timed/a0.3_b0.1"] > out["reference/oracle/a0.3_b0.1"]


def test_late_oracle_with_nothing_known_predicts_nothing():
    assert (late_grammar_prediction(GRAMMAR, np.array([WAVE, WAVE]), 5, delay=2) == -1).all()


def test_knowing_labels_later_never_helps_on_average():
    out = references_on_a_test_split()
    late = [out[f"reference/oracle_late_{d}/a0.3_b0.1"] for d in (1, 2, 3)]
    assert out["reference/oracle/a0.3_b0.1"] >= late[0] - 0.01 and late[0] >= late[2] - 0.01


def test_oracle_beats_continue_and_gaps_telescope():
    keys = ["a0.3_b0.1", "a0.3_b0.5"]
    scores = ReferenceScores(GRAMMAR, len(SYNTHETIC_CLASSES), keys)
    rng = np.random.default_rng(0)
    for labels in planned_labels(SyntheticConfig(num_test=48), "test", 48):
        for key, beta in zip(keys, (0.1, 0.5), strict=True):
            observed, predicted = protocol_window(len(labels), 0.3, beta)
            true = labels[:observed]
            recognised = np.where(rng.random(observed) < 0.2, rng.integers(0, len(SYNTHETIC_CLASSES), observed), true)
            truth = labels[observed : observed + predicted]
            model = grammar_prediction(GRAMMAR, true, predicted)[::-1].copy()  # any fake model
            scores.add(key, truth, true, recognised, 5, model)
    out = scores.as_dict()
    assert out["reference/oracle/a0.3_b0.1"] > 0.6
    assert out["reference/oracle/a0.3_b0.5"] > out["reference/continue_true/a0.3_b0.5"] + 0.1
    for key in keys:
        gaps = sum(out[f"reference/gap_{part}/{key}"] for part in ("recognition", "duration", "order"))
        assert out[f"reference/oracle/{key}"] - out[f"reference/model/{key}"] == pytest.approx(gaps, abs=1e-12)
        ratio = out[f"reference/model/{key}"] / out[f"reference/oracle/{key}"]
        assert out[f"reference/model_fraction_of_oracle/{key}"] == pytest.approx(ratio)
    table = reference_table(out, keys)
    assert len(table.splitlines()) == 2 + 17
    assert f"| {out['reference/oracle/a0.3_b0.5']:.3f} |" in table


def ends_with(current: int, elapsed: int) -> np.ndarray:
    """Observed labels: a clap (push and pull both follow one), then ``current`` for ``elapsed`` frames."""
    return np.r_[np.full(20, SYNTHETIC_CLASSES.index("clap")), np.full(elapsed, current)]


def test_sensed_oracle_is_the_oracle_when_the_frames_showed_the_current_action():
    for current in (WAVE, KICK, PUSH, PULL, TOWARD, AWAY):
        observed = ends_with(current, 12)
        seen = np.zeros(len(observed), dtype=bool)
        seen[-3] = True  # one frame of the current run had depth
        np.testing.assert_array_equal(
            sensed_prediction(GRAMMAR, TWINS, observed, seen, True, 40), grammar_prediction(GRAMMAR, observed, 40)
        )


def test_classes_equally_likely_up_to_rounding_go_to_the_first_whichever_way_the_rounding_fell():
    tied = np.array([[0.1, 0.45, 0.45], [0.5, 0.2, 0.3]])
    for error in (1e-15, -1e-15, 1e-12):
        rounded = tied.copy()
        rounded[0, 2] += error
        np.testing.assert_array_equal(most_likely(rounded), [1, 0])
    clear = tied.copy()
    clear[0, 2] += 1e-6
    np.testing.assert_array_equal(most_likely(clear), [2, 0])


def test_sensed_oracle_cannot_tell_push_from_pull_when_sleeves_hide_the_arms():
    push, pull = ends_with(PUSH, 12), ends_with(PULL, 12)
    seen = np.ones(len(push), dtype=bool)
    guessed = sensed_prediction(GRAMMAR, TWINS, push, seen, False, 60)
    np.testing.assert_array_equal(guessed, sensed_prediction(GRAMMAR, TWINS, pull, seen, False, 60))
    mean = (GRAMMAR.future_distribution(PUSH, 12, 60) + GRAMMAR.future_distribution(PULL, 12, 60)) / 2
    np.testing.assert_array_equal(guessed, most_likely(mean))
    assert guessed[0] == min(PUSH, PULL)  # the two tie while the action lasts: the first wins
    assert not np.array_equal(grammar_prediction(GRAMMAR, push, 60), grammar_prediction(GRAMMAR, pull, 60))


def test_sleeves_leave_the_steps_to_the_body_depth():
    observed = ends_with(TOWARD, 12)
    seen = np.ones(len(observed), dtype=bool)
    np.testing.assert_array_equal(
        sensed_prediction(GRAMMAR, TWINS, observed, seen, False, 40), grammar_prediction(GRAMMAR, observed, 40)
    )


def test_a_step_run_without_depth_is_either_step():
    toward, away = ends_with(TOWARD, 12), ends_with(AWAY, 12)
    seen = np.ones(len(toward), dtype=bool)
    seen[-12:] = False  # depth only before the step began
    np.testing.assert_array_equal(
        sensed_prediction(GRAMMAR, TWINS, toward, seen, True, 40),
        sensed_prediction(GRAMMAR, TWINS, away, seen, True, 40),
    )


def test_classes_not_known_to_need_depth_are_never_merged():
    assert dataset_twins(["a", "b"]) == Twins()
    observed = ends_with(PUSH, 12)
    unseen = np.zeros(len(observed), dtype=bool)
    np.testing.assert_array_equal(
        sensed_prediction(GRAMMAR, Twins(), observed, unseen, False, 40), grammar_prediction(GRAMMAR, observed, 40)
    )


def test_sensed_oracle_scores_below_the_oracle_on_sleeved_videos():
    config = SyntheticConfig(num_test=48, ir_absorbing_sleeves=1.0)
    keys = ["a0.3_b0.1"]
    scores = ReferenceScores(GRAMMAR, len(SYNTHETIC_CLASSES), keys, TWINS)
    for index, labels in enumerate(planned_labels(config, "test", 48)):
        observed, predicted = protocol_window(len(labels), 0.3, 0.1)
        true, truth = labels[:observed], labels[observed : observed + predicted]
        arms = not dark_sleeves(config, "test", index)
        scores.add(keys[0], truth, true, true, 5, truth, np.ones(observed, dtype=bool), arms)
    out = scores.as_dict()
    assert out["reference/oracle_sensed/a0.3_b0.1"] < out["reference/oracle/a0.3_b0.1"] - 0.02
    ratio = out["reference/model/a0.3_b0.1"] / out["reference/oracle_sensed/a0.3_b0.1"]
    assert out["reference/model_fraction_of_oracle_sensed/a0.3_b0.1"] == pytest.approx(ratio)


def test_boundary_frames_are_those_within_the_margin_of_a_label_change() -> None:
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1])
    near = near_label_change(labels, margin=2)
    assert near.tolist() == [False, False, False, True, True, True, True, False, False, False, False, False]


def test_a_window_without_a_label_change_has_no_boundary_frame() -> None:
    assert not near_label_change(np.full(9, 3), margin=2).any()
