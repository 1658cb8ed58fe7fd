"""Reference anticipators: what is possible on this data, reported beside the learned model.

A model's MoC means little alone: the benchmark's future is random, so even a
perfect model is far from 1. The action sequence is a semi-Markov chain (a
class transition matrix and a duration distribution per class), and given the
current action and how long it has lasted, the per-frame distribution of the
future follows exactly. Its per-frame argmax is the *grammar oracle* when fed
the true observed labels (the Bayes predictor of each future frame's class);
fed the model's recognised labels it shows what recognition alone allows.

The model's gap to the oracle splits into three parts that telescope exactly
(differences of MoCs, each from its own counts over the whole test set):

- recognition = oracle - chain on recognised labels,
- duration    = chain on recognised - hybrid (recognised action for the model's
  own predicted remaining time, then the chain),
- order       = hybrid - model (order of future actions and later durations).

The oracle knows each observed frame's label at once, even the frame where a
new action began. No camera-based recogniser can: the first frames of an
action look like the end of the one before. The *late* oracles know the true
labels only up to ``d`` frames before the end of the observation (d = 1, 2, 3)
and predict the last ``d`` observed frames and the future from there, so the
table shows how much of the oracle's lead at short horizons is that instant
recognition alone.

The oracle knows every class, even one no sensor of the test set could show:
on the synthetic benchmark the twins (push / pull, step toward / away) differ
only in depth, and push / pull only in the depth of the arms, which
IR-absorbing sleeves take away. The *sensed* oracle knows the current action
only as far as the frames of its run so far could show it: a twin whose run had
no frame with depth (or, for push / pull, whose person wears the sleeves) is
one of the two, each equally likely, and it forecasts the mean of the two
futures. Wherever RGB is present that is the limit of a model given those
frames (RGB shows every other class); the oracle stays the issue's yardstick.
It knows nothing else a missing modality hides: without RGB, sleeves take every
arm motion out of both modalities, not only push / pull's, so there it is an
oracle that knows more than the frames show, above the limit.

The oracle is not the best any model can do, either: it knows the current
action's age, not when it will end, and forecasts the end from the duration
distribution. The frames can show more. On the synthetic benchmark every
action ramps in and out of the neutral stance over a quarter of its length, so
the figure's motion shows how far into its action it is. The *timed* oracle is
also told how many more frames the current action goes on (the truth's first
run), and forecasts the chain from there: the ceiling of what knowing when an
action ends is worth, above what any camera-based model can reach.

All durations are in frames; future frame 0 is the first frame after the observation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from r3d_ros.data.synthetic import ARM_DEPTH_CLASSES, DURATION_RANGE_S, RGB_TWINS, SYNTHETIC_CLASSES, TRANSITIONS
from r3d_ros.eval.anticipation import ClassAccuracy
from r3d_ros.model.grammar import UNLABELED, ActionGrammar, current_action

LATE_DELAYS = (1, 2, 3)  # frames, for the oracle_late_<d> predictors
TIE_TOLERANCE = 1e-9  # probabilities closer than this are equal: far above float64 rounding, below any real gap
# Predictors scored by ReferenceScores, and their row titles in reference_table.
PREDICTORS = {
    "model": "model",
    "oracle": "grammar oracle (true observed labels)",
    "oracle_sensed": "grammar oracle told only what the sensors show (twins merged where unseen)",
    "oracle_timed": "grammar oracle also told when the current action ends",
    **{
        f"oracle_late_{d}": f"grammar oracle, true labels known {d} frame{'s' if d > 1 else ''} late"
        for d in LATE_DELAYS
    },
    "chain_recognised": "chain on recognised labels",
    "continue_true": "continue true action",
    "continue_recognised": "continue recognised action",
    "hybrid": "recognised action for model's remaining time, then chain",
}
DERIVED = {
    "model_fraction_of_oracle": "model / oracle",
    "model_fraction_of_oracle_late_1": "model / oracle with labels 1 frame late",
    "model_fraction_of_oracle_sensed": "model / oracle told only what the sensors show",
    "gap_recognition": "gap: recognition (oracle - chain on recognised)",
    "gap_duration": "gap: current duration (chain on recognised - hybrid)",
    "gap_order": "gap: order and later durations (hybrid - model)",
}


@dataclass(frozen=True)
class Twins:
    """Classes that only depth tells from their twin (class -> twin), and those of them only the arms' depth tells."""

    pairs: dict[int, int] = field(default_factory=dict)
    by_arms: frozenset[int] = frozenset()


def dataset_twins(class_names: Sequence[str]) -> Twins:
    """The synthetic benchmark's twins for its classes, else none (no class is known to need depth)."""
    if list(class_names) != list(SYNTHETIC_CLASSES):
        return Twins()
    index = {name: i for i, name in enumerate(SYNTHETIC_CLASSES)}
    pairs = {index[name]: index[twin] for name, twin in RGB_TWINS.items()}
    return Twins(pairs, frozenset(index[name] for name in ARM_DEPTH_CLASSES))


def _covered_frames_pmf(lo: float, hi: float, length: int) -> np.ndarray:
    """P(exactly d frame stamps fall in a segment lasting U(lo, hi) frame periods that starts at a random phase).

    With x ~ U(lo, hi) and the start a fraction u ~ U(0, 1) of a frame period
    before the next stamp, the count is ceil(x - u); given x it is d with
    probability hat(x - d) (the unit triangle), so P(d) averages hat over x.
    For integer lo, hi this is uniform on lo..hi with half weight at both ends.
    """

    def integral(t: np.ndarray) -> np.ndarray:  # integral of hat from -1 to t
        t = np.clip(t, -1.0, 1.0)
        return np.where(t < 0, (t + 1) ** 2 / 2, 1 - (1 - t) ** 2 / 2)

    d = np.arange(length)
    return (integral(hi - d) - integral(lo - d)) / (hi - lo)


def synthetic_grammar(fps: float) -> ActionGrammar:
    """The synthetic benchmark's own grammar at ``fps``.

    Segment start times are sums of continuous durations, so after the first
    segment their phase within a frame period is close to uniform and the
    covered frame count follows :func:`_covered_frames_pmf` exactly. (The
    first segment starts at t=0, a stamp, and covers ceil(x) frames; it cannot
    be the current one once more frames are observed than the longest duration.)
    """
    ranges = np.array([DURATION_RANGE_S[name] for name in SYNTHETIC_CLASSES]) * fps
    length = int(np.ceil(ranges.max())) + 2
    pmf = np.stack([_covered_frames_pmf(lo, hi, length) for lo, hi in ranges])
    return ActionGrammar(TRANSITIONS.copy(), pmf)


def dataset_grammar(class_names: Sequence[str], train_labels: Sequence[np.ndarray], fps: float) -> ActionGrammar:
    """The synthetic benchmark's known grammar for its classes, else one estimated from the training labels."""
    if list(class_names) == list(SYNTHETIC_CLASSES):
        return synthetic_grammar(fps)
    return ActionGrammar.estimate(train_labels, len(class_names), fps)


def most_likely(distribution: np.ndarray) -> np.ndarray:
    """(T,) per-frame most likely class of a (T, K) distribution; classes within ``TIE_TOLERANCE`` of it tie.

    Why: twins (push / pull, step toward / away) are exactly equally likely far ahead, and
    a merged twin's forecast ties them at every frame. A plain argmax lets the last bits of
    the machine's BLAS and FFT rounding pick between them, so one test seed's oracle MoC at
    beta 0.5 moved by up to 0.0024 from one machine to another. Ties go to the lower index.
    """
    best = distribution.max(1, keepdims=True)
    return (distribution >= best - TIE_TOLERANCE).argmax(1).astype(np.int64)


def grammar_prediction(grammar: ActionGrammar, observed_labels: np.ndarray, num_frames: int) -> np.ndarray:
    """Per-frame most likely class given the current action and its elapsed time in ``observed_labels``.

    An unlabelled last frame gives no prediction (UNLABELED, never correct).
    """
    current, elapsed = current_action(observed_labels)
    if current == UNLABELED:
        return np.full(num_frames, UNLABELED, dtype=np.int64)
    return most_likely(grammar.future_distribution(current, elapsed, num_frames))


def late_grammar_prediction(
    grammar: ActionGrammar, observed_labels: np.ndarray, num_frames: int, delay: int
) -> np.ndarray:
    """The grammar oracle when the true labels of the last ``delay`` observed frames are not yet known.

    It predicts from the label and elapsed time ``delay`` frames before the end of the
    observation, ``delay + num_frames`` frames ahead, and keeps the last ``num_frames``.
    """
    if delay == 0:
        return grammar_prediction(grammar, observed_labels, num_frames)
    if len(observed_labels) <= delay:
        return np.full(num_frames, UNLABELED, dtype=np.int64)
    return grammar_prediction(grammar, observed_labels[:-delay], delay + num_frames)[delay:]


def sensed_prediction(
    grammar: ActionGrammar,
    twins: Twins,
    observed_labels: np.ndarray,
    depth_seen: np.ndarray,
    arms_in_depth: bool,
    num_frames: int,
) -> np.ndarray:
    """The grammar oracle told the current action only as far as the frames of its run could show it.

    ``depth_seen`` (per observed frame): the frame had depth; ``arms_in_depth``: the person's
    arms return depth (no IR-absorbing sleeves). A twin class none of whose frames so far
    showed what separates it from its twin is either, equally likely: every class enters a
    twin pair's two with equal probability and twins share their durations, so the frames
    and the history say nothing more. Its forecast is the mean of the two.
    """
    current, elapsed = current_action(observed_labels)
    if current == UNLABELED:
        return np.full(num_frames, UNLABELED, dtype=np.int64)
    future = grammar.future_distribution(current, elapsed, num_frames)
    twin = twins.pairs.get(current)
    shown = bool(np.asarray(depth_seen)[-elapsed:].any()) and (arms_in_depth or current not in twins.by_arms)
    if twin is not None and not shown:
        future = (future + grammar.future_distribution(twin, elapsed, num_frames)) / 2
    return most_likely(future)


def timed_prediction(
    grammar: ActionGrammar, observed_labels: np.ndarray, truth_future: np.ndarray, num_frames: int
) -> np.ndarray:
    """The grammar oracle also told how many more frames the current action goes on (read from the truth).

    The current action lasts exactly its run at the start of ``truth_future`` (all of it when
    the run fills the horizon: what comes after is not scored), then the chain's argmax.
    """
    current, _ = current_action(observed_labels)
    if current == UNLABELED:
        return np.full(num_frames, UNLABELED, dtype=np.int64)
    future = np.asarray(truth_future)[:num_frames]
    other = np.flatnonzero(future != current)
    remaining = int(other[0]) if len(other) else num_frames
    return most_likely(grammar.future_after(current, remaining, num_frames))


def continue_prediction(observed_labels: np.ndarray, num_frames: int) -> np.ndarray:
    """The current action forever: the baseline that knows nothing of the future."""
    return np.full(num_frames, current_action(observed_labels)[0], dtype=np.int64)


def hybrid_prediction(
    grammar: ActionGrammar, observed_labels: np.ndarray, remaining: int, num_frames: int
) -> np.ndarray:
    """The current action for exactly ``remaining`` frames (the model's estimate), then the chain's argmax."""
    current, _ = current_action(observed_labels)
    if current == UNLABELED:
        return np.full(num_frames, UNLABELED, dtype=np.int64)
    return most_likely(grammar.future_after(current, max(0, int(remaining)), num_frames))


@dataclass
class ReferenceScores:
    """Per-class accuracy of the model and every reference predictor, per protocol key (e.g. ``a0.3_b0.5``)."""

    grammar: ActionGrammar
    num_classes: int
    keys: Sequence[str]
    twins: Twins = field(default_factory=Twins)
    accuracy: dict[tuple[str, str], ClassAccuracy] = field(init=False)

    def __post_init__(self) -> None:
        self.accuracy = {(name, key): ClassAccuracy(self.num_classes) for name in PREDICTORS for key in self.keys}

    def add(
        self,
        key: str,
        truth_future: np.ndarray,
        true_observed: np.ndarray,
        recognised_observed: np.ndarray,
        model_remaining: int,
        model_prediction: np.ndarray,
        depth_seen: np.ndarray | None = None,
        arms_in_depth: bool = True,
    ) -> None:
        """Score one video's window: the model's prediction and each reference predictor's.

        ``depth_seen`` (per observed frame, default all) and ``arms_in_depth`` are what the
        sensed oracle is told (:func:`sensed_prediction`).
        """
        n = len(truth_future)
        seen = np.ones(len(true_observed), dtype=bool) if depth_seen is None else depth_seen
        predictions = {
            "model": np.asarray(model_prediction)[:n],
            "oracle": grammar_prediction(self.grammar, true_observed, n),
            "oracle_sensed": sensed_prediction(self.grammar, self.twins, true_observed, seen, arms_in_depth, n),
            "oracle_timed": timed_prediction(self.grammar, true_observed, truth_future, n),
            **{
                f"oracle_late_{delay}": late_grammar_prediction(self.grammar, true_observed, n, delay)
                for delay in LATE_DELAYS
            },
            "chain_recognised": grammar_prediction(self.grammar, recognised_observed, n),
            "continue_true": continue_prediction(true_observed, n),
            "continue_recognised": continue_prediction(recognised_observed, n),
            "hybrid": hybrid_prediction(self.grammar, recognised_observed, model_remaining, n),
        }
        for name, predicted in predictions.items():
            self.accuracy[name, key].add(predicted, np.asarray(truth_future))

    def as_dict(self) -> dict[str, float]:
        """Flat ``reference/<name>/<key>`` MoCs, the model's fraction of the oracle and the three gaps."""
        out = {}
        for key in self.keys:
            moc = {name: self.accuracy[name, key].mean_over_classes() for name in PREDICTORS}
            out.update({f"reference/{name}/{key}": value for name, value in moc.items()})
            fraction = moc["model"] / moc["oracle"] if moc["oracle"] > 0 else float("nan")
            out[f"reference/model_fraction_of_oracle/{key}"] = fraction
            late = moc["oracle_late_1"]
            out[f"reference/model_fraction_of_oracle_late_1/{key}"] = moc["model"] / late if late > 0 else float("nan")
            sensed = moc["oracle_sensed"]
            fraction_sensed = moc["model"] / sensed if sensed > 0 else float("nan")
            out[f"reference/model_fraction_of_oracle_sensed/{key}"] = fraction_sensed
            out[f"reference/gap_recognition/{key}"] = moc["oracle"] - moc["chain_recognised"]
            out[f"reference/gap_duration/{key}"] = moc["chain_recognised"] - moc["hybrid"]
            out[f"reference/gap_order/{key}"] = moc["hybrid"] - moc["model"]
        return out


def reference_table(scores: dict[str, float], keys: Sequence[str]) -> str:
    """Markdown table of ``ReferenceScores.as_dict()`` output: one row per predictor or gap, one column per key."""
    lines = ["| reference | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    for name, title in (PREDICTORS | DERIVED).items():
        cells = [f"{scores.get(f'reference/{name}/{key}', float('nan')):.3f}" for key in keys]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
