"""The grammar filter: the current action, its age and the future from a window's class probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from r3d_ros.config import ConfigError, load_config
from r3d_ros.eval.reference import synthetic_grammar
from r3d_ros.model.checkpoint import load_model, save_model
from r3d_ros.model.decode import read_window
from r3d_ros.model.grammar import GrammarFilter
from r3d_ros.model.r3d import R3DModel

GRAMMAR = synthetic_grammar(10.0)
K = GRAMMAR.num_classes


def probabilities_of(labels: list[int], confidence: float = 0.999) -> np.ndarray:
    """(T, K) per-frame probabilities that put ``confidence`` on each frame's label."""
    probabilities = np.full((len(labels), K), (1.0 - confidence) / (K - 1))
    probabilities[np.arange(len(labels)), labels] = confidence
    return probabilities


def test_certain_evidence_gives_the_label_its_run_and_the_grammar_forecast() -> None:
    grammar_filter = GrammarFilter(GRAMMAR, evidence_weight=1.0)
    posterior = grammar_filter.posterior(probabilities_of([2] * 25 + [7] * 9))
    assert grammar_filter.current(posterior)[:2] == (7, 9)
    expected = GRAMMAR.future_distribution(7, 9, 60)
    np.testing.assert_allclose(grammar_filter.future(posterior, 60), expected, atol=2e-3)


def dense_forward_posterior(probabilities: np.ndarray, evidence_weight: float) -> np.ndarray:
    """P(class, age | window) at the last frame, by the textbook HMM forward over every (class, age) state.

    An independent statement of the filter's model: a segment of class k at age
    a goes on with P(D > a | D >= a) or ends, and then class j starts at age 1
    with P(j | k); the window opens on the renewal prior.
    """
    pmf = GRAMMAR.duration_pmf
    ages = pmf.shape[1]
    at_least = pmf[:, ::-1].cumsum(axis=1)[:, ::-1]
    hazard = np.divide(pmf, at_least, out=np.ones_like(pmf), where=at_least > 0)
    hazard[:, -1] = 1.0
    step = np.zeros((K, ages, K, ages))
    for k in range(K):
        for a in range(1, ages):
            if a + 1 < ages:
                step[k, a, k, a + 1] = 1.0 - hazard[k, a]
            step[k, a, :, 1] += hazard[k, a] * GRAMMAR.transitions[k]
    step = step.reshape(K * ages, K * ages)
    values, vectors = np.linalg.eig(GRAMMAR.transitions.T)
    visits = np.abs(np.real(vectors[:, np.argmin(np.abs(values - 1.0))]))
    prior = visits[:, None] * at_least
    prior[:, 0] = 0.0
    evidence = np.power(np.clip(probabilities, 1e-12, None), evidence_weight)
    belief = (prior * evidence[0][:, None]).reshape(-1)
    for frame_evidence in evidence[1:]:
        belief = (belief @ step) * np.repeat(frame_evidence, ages)
        belief /= belief.sum()
    return belief.reshape(K, ages) / belief.sum()


@pytest.mark.parametrize("evidence_weight", [0.3, 1.0])
def test_the_filtered_posterior_is_the_hmm_forward_over_class_and_age(evidence_weight: float) -> None:
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((64, K)) * 3.0
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    posterior = GrammarFilter(GRAMMAR, evidence_weight).posterior(probabilities)
    expected = dense_forward_posterior(probabilities, evidence_weight)
    np.testing.assert_allclose(posterior, expected[:, : posterior.shape[1]], atol=1e-12)
    assert expected[:, posterior.shape[1] :].sum() < 1e-12  # ages past the filter's support carry nothing


def test_the_newest_frame_counts_with_its_own_weight() -> None:
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((40, K)) * 3.0
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    newest_squared = probabilities.copy()  # (p^2)^0.5 = p: weight 0.5 on the squared row is weight 1 on the row
    newest_squared[-1] = probabilities[-1] ** 2 / (probabilities[-1] ** 2).sum()
    posterior = GrammarFilter(GRAMMAR, 0.5, newest_weight=1.0).posterior(probabilities)
    np.testing.assert_allclose(posterior, GrammarFilter(GRAMMAR, 0.5).posterior(newest_squared), atol=1e-12)


def test_a_newest_frame_weight_above_one_sharpens_that_frame() -> None:
    rng = np.random.default_rng(6)
    logits = rng.standard_normal((40, K)) * 3.0
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    newest_squared = probabilities.copy()  # weight 1 on the squared row is weight 2 on the row
    newest_squared[-1] = probabilities[-1] ** 2 / (probabilities[-1] ** 2).sum()
    posterior = GrammarFilter(GRAMMAR, 0.5, newest_weight=2.0).posterior(probabilities)
    np.testing.assert_allclose(
        posterior, GrammarFilter(GRAMMAR, 0.5, newest_weight=1.0).posterior(newest_squared), atol=1e-12
    )


def test_full_weight_on_the_newest_frame_makes_a_just_started_action_more_likely() -> None:
    onset = probabilities_of([2] * 20 + [7], confidence=0.95)
    onset[-1] = 0.4 / (K - 1)
    onset[-1, 7] = 0.6  # the first frame of push after a clap, seen with some doubt

    def push_probability(grammar_filter: GrammarFilter) -> float:
        return float(grammar_filter.posterior(onset).sum(axis=1)[7])

    trusted, tempered = GrammarFilter(GRAMMAR, 0.5, newest_weight=1.0), GrammarFilter(GRAMMAR, 0.5)
    assert push_probability(trusted) > push_probability(tempered)


def test_future_rows_are_distributions() -> None:
    rng = np.random.default_rng(0)
    grammar_filter = GrammarFilter(GRAMMAR, evidence_weight=0.5)
    future = grammar_filter.future(grammar_filter.posterior(rng.dirichlet(np.ones(K), size=40)), 80)
    assert future.shape == (80, K) and (future >= 0).all()
    np.testing.assert_allclose(future.sum(axis=1), 1.0, atol=1e-6)


def test_an_uncertain_future_is_the_grammar_forecast_mixed_over_class_and_age() -> None:
    grammar_filter = GrammarFilter(GRAMMAR, evidence_weight=0.5)
    posterior = grammar_filter.posterior(probabilities_of([2] * 20 + [7] * 6 + [8] * 4, confidence=0.6))
    mixture = sum(
        posterior[k, a] * GRAMMAR.future_distribution(k, a, 70)
        for k, a in zip(*np.nonzero(posterior > 1e-9), strict=True)
    )
    assert (posterior.sum(axis=1) > 0.05).sum() >= 2  # more than one class is still in play
    np.testing.assert_allclose(grammar_filter.future(posterior, 70), mixture / posterior.sum(), atol=2e-3)


def test_one_doubtful_last_frame_does_not_restart_a_long_action() -> None:
    probabilities = probabilities_of([4] * 20, confidence=0.9)
    probabilities[-1] = probabilities_of([0], confidence=0.6)[0]  # the argmax flips on the last frame only
    grammar_filter = GrammarFilter(GRAMMAR, evidence_weight=0.5)
    current, age, _ = grammar_filter.current(grammar_filter.posterior(probabilities))
    assert (current, age) == (4, 20)
    argmax_reading = read_window(np.log(probabilities), np.zeros((10, K)), GRAMMAR)
    assert (argmax_reading.current, argmax_reading.elapsed) == (0, 1)  # what hard labels made of it


def test_smoothing_relabels_a_flipped_frame_inside_a_segment() -> None:
    labels = [2] * 15 + [7] * 15
    probabilities = probabilities_of(labels, confidence=0.8)
    probabilities[6] = probabilities_of([9], confidence=0.8)[0]
    grammar_filter = GrammarFilter(GRAMMAR, evidence_weight=0.5)
    smoothed = grammar_filter.smoothed(probabilities)
    assert smoothed.argmax(axis=1).tolist() == labels
    np.testing.assert_allclose(smoothed[-1], grammar_filter.posterior(probabilities).sum(axis=1), atol=1e-9)


def test_a_window_that_starts_mid_action_counts_its_age_from_the_renewal_prior() -> None:
    grammar_filter = GrammarFilter(GRAMMAR, evidence_weight=1.0)
    current, age, _ = grammar_filter.current(grammar_filter.posterior(probabilities_of([5] * 8)))
    assert current == 5 and age >= 8  # the action may have begun before the window


def test_the_filter_decoder_travels_in_the_model_file(tmp_path: Path) -> None:
    config = load_config(
        overrides=[f"model.class_names=[{','.join(f'c{k}' for k in range(K))}]", "model.future_decoder=grammar_filter",
                   "model.filter_evidence_weight=0.4", "model.filter_newest_weight=0.9", "anticipation.fps=10",
                   "anticipation.window=16"]
    )  # fmt: skip
    model = R3DModel(config)
    model.set_grammar(GRAMMAR)
    save_model(tmp_path / "model.safetensors", model)
    loaded, _ = load_model(tmp_path / "model.safetensors")
    assert loaded.grammar_filter is not None and loaded.grammar_filter.evidence_weight == 0.4
    assert loaded.grammar_filter.newest_weight == 0.9
    reading = read_window(np.zeros((16, K)), np.zeros((100, K)), loaded.grammar, loaded.grammar_filter)
    assert 1 <= reading.elapsed <= 16 and reading.future.shape == (100, K)


@pytest.mark.parametrize("weight", ["0", "1.5", "-0.2"])
def test_an_evidence_weight_outside_zero_to_one_is_named(weight: str) -> None:
    with pytest.raises(ConfigError, match="filter_evidence_weight"):
        load_config(overrides=[f"model.filter_evidence_weight={weight}"])


@pytest.mark.parametrize("weight", ["0", "4.5", "-1"])
def test_a_newest_frame_weight_outside_zero_to_four_is_named(weight: str) -> None:
    with pytest.raises(ConfigError, match="filter_newest_weight"):
        load_config(overrides=[f"model.filter_newest_weight={weight}"])


@pytest.mark.parametrize(
    ("overrides", "described"),
    [(["model.future_decoder=head"], "head"),
     (["model.future_decoder=grammar_filter"], "grammar_filter (evidence weight 0.5, newest frame 0.5)"),
     (["model.future_decoder=grammar_filter", "model.filter_newest_weight=1.0"],
      "grammar_filter (evidence weight 0.5, newest frame 1)"),
     (["model.future_decoder=grammar_filter", "model.temporal.live_encoder=true", "model.temporal.remaining_frames=8"],
      "grammar_filter (evidence weight 0.5, newest frame 0.5, remaining 1)")],
)  # fmt: skip
def test_the_decoding_is_described_with_the_weights_the_model_id_leaves_out(overrides, described) -> None:
    assert load_config(overrides=overrides).model.decoding == described


def test_remaining_evidence_at_one_frame_ends_the_current_action_there() -> None:
    grammar_filter = GrammarFilter(GRAMMAR, evidence_weight=1.0)
    posterior = grammar_filter.posterior(probabilities_of([2] * 25 + [7] * 9))
    evidence = np.full(48, 1e-9)
    evidence[10] = 1.0  # ten more frames of the current action (19 in all, in its range), then the next
    future = grammar_filter.future(posterior, 30, evidence)
    np.testing.assert_allclose(future, GRAMMAR.future_after(7, 10, 30), atol=2e-3)


def test_uniform_remaining_evidence_leaves_the_chains_forecast() -> None:
    grammar_filter = GrammarFilter(GRAMMAR, evidence_weight=0.5)
    posterior = grammar_filter.posterior(probabilities_of([2] * 25 + [7] * 9, confidence=0.7))
    np.testing.assert_allclose(
        grammar_filter.future(posterior, 40, np.full(16, 1 / 16)), grammar_filter.future(posterior, 40), atol=1e-12
    )


def test_remaining_evidence_moves_when_the_action_ends_not_which_action_it_is() -> None:
    grammar_filter = GrammarFilter(GRAMMAR, evidence_weight=0.5)
    posterior = grammar_filter.posterior(probabilities_of([2] * 25 + [7] * 9, confidence=0.7))
    evidence = np.linspace(1.0, 0.01, 48)  # soon rather than late
    without, shifted = grammar_filter.future(posterior, 40), grammar_filter.future(posterior, 40, evidence)
    assert shifted[:, 7].sum() < without[:, 7].sum()  # the current action ends sooner
    np.testing.assert_allclose(shifted[0], without[0], atol=1e-4)  # each class keeps P(it is going on now)


def test_a_remaining_weight_of_zero_reads_no_remaining_evidence() -> None:
    grammar_filter = GrammarFilter(GRAMMAR, evidence_weight=0.5, remaining_weight=0.0)
    posterior = grammar_filter.posterior(probabilities_of([2] * 25 + [7] * 9, confidence=0.7))
    evidence = np.linspace(1.0, 0.01, 48)
    np.testing.assert_array_equal(grammar_filter.future(posterior, 40, evidence), grammar_filter.future(posterior, 40))


def test_a_negative_remaining_weight_is_named() -> None:
    with pytest.raises(ConfigError, match="filter_remaining_weight"):
        load_config(overrides=["model.filter_remaining_weight=-1"])
