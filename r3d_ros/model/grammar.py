"""An action grammar: which action follows which, and for how many frames (a semi-Markov chain).

Given the action going on and how long it has lasted, the per-frame
distribution of the future follows exactly (:meth:`ActionGrammar.future_distribution`).
The evaluation's grammar oracle feeds it the true observed labels; a model
with ``future_decoder: grammar`` feeds it its own recognised labels, with the
grammar estimated from its training labels (:meth:`ActionGrammar.estimate`).
All durations are in frames; future frame 0 is the first frame after the observation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

UNLABELED = -1
# Classes with less posterior mass than this are left out of the filtered forecast (they cannot move an argmax).
NEGLIGIBLE = 1e-3
# Frames between renormalisations of the filter's belief (each frame scales it by at least 1e-12).
RENORMALISE_EVERY = 8


def _runs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(label, length) of each run of equal consecutive labels."""
    labels = np.asarray(labels)
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]]) if len(labels) else np.zeros(0, np.int64)
    return labels[starts], np.diff(np.r_[starts, len(labels)])


@dataclass(frozen=True)
class ActionGrammar:
    """A semi-Markov action chain in frames: who follows whom, and for how many frames."""

    transitions: np.ndarray  # (K, K) row-stochastic, zero diagonal: P(next class | class)
    duration_pmf: np.ndarray  # (K, L): P(a segment of class k covers exactly d frames), d = 0..L-1, d=0 has 0
    # Forecasts for "the current action ends now", by (current, num_frames), computed once.
    _forecasts: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    @property
    def num_classes(self) -> int:
        """K."""
        return len(self.transitions)

    @classmethod
    def estimate(
        cls, label_sequences: Sequence[np.ndarray], num_classes: int, fps: float, bandwidth_s: float = 0.1
    ) -> ActionGrammar:
        """Estimate from training frame labels (for datasets whose grammar is unknown).

        Each sequence is run-length encoded. A transition is counted where one
        labelled run directly follows another (an unlabelled gap hides what
        happened), with one pseudo-count per non-self successor (Laplace).
        The last run of a sequence is right-censored (the recording stopped,
        not the action) and is left out of the duration counts; every other
        labelled run counts. Duration histograms are smoothed with a Gaussian
        of ``bandwidth_s`` seconds, plus one pseudo-segment drawn from the
        pooled histogram of all classes, so a rare class borrows its shape.
        """
        counts = 1.0 - np.eye(num_classes)
        durations: list[list[int]] = [[] for _ in range(num_classes)]
        for labels in label_sequences:
            values, lengths = _runs(labels)
            for i in range(len(values) - 1):
                if values[i] != UNLABELED:
                    durations[values[i]].append(lengths[i])
                    if values[i + 1] != UNLABELED:
                        counts[values[i], values[i + 1]] += 1
        pooled = [d for per_class in durations for d in per_class]
        if not pooled:
            raise ValueError("no complete labelled segment to estimate durations from")
        length = 2 * max(pooled) + 1
        d = np.arange(length)
        kernel = np.exp(-0.5 * ((d[:, None] - d[None, :]) / max(bandwidth_s * fps, 1e-3)) ** 2)
        kernel[0] = kernel[:, 0] = 0.0  # no segment covers 0 frames
        kernel[:, 1:] /= kernel[:, 1:].sum(0)  # each segment keeps unit mass
        histograms = np.stack([np.bincount(np.asarray(x, np.int64), minlength=length) for x in durations])
        smoothed = histograms @ kernel.T
        prior = smoothed.sum(0) / smoothed.sum()
        pmf = (smoothed + prior) / (histograms.sum(1, keepdims=True) + 1)
        return cls(counts / counts.sum(1, keepdims=True), pmf)

    def future_distribution(self, current: int, elapsed: int, num_frames: int) -> np.ndarray:
        """(num_frames, K) class marginals of the next frames, the ``current`` class having lasted ``elapsed``.

        The current segment's length D is conditioned on D >= elapsed; the
        remaining D - elapsed may be 0 (the next segment starts at future
        frame 0). An ``elapsed`` beyond the class's support ends it now.
        """
        tail = self.duration_pmf[current, elapsed:]
        total = tail.sum()
        return self._forecast(current, tail / total if total > 0 else np.ones(1), num_frames)

    def future_after(self, current: int, remaining: int, num_frames: int) -> np.ndarray:
        """(num_frames, K) class marginals when ``current`` lasts exactly ``remaining`` more frames, then the chain."""
        return self._forecast(current, np.eye(1, remaining + 1, remaining)[0], num_frames)

    def _forecast(self, current: int, remaining_pmf: np.ndarray, num_frames: int) -> np.ndarray:
        """Class marginals given P(current ends after exactly r more frames) = remaining_pmf[r].

        The forecast is linear in ``remaining_pmf`` and ending after r frames is
        ending now shifted by r, so it is the current class while it lasts plus
        the convolution of ``remaining_pmf`` with the forecast for "ends now"
        (one recursion per class and horizon, cached): a tick costs K short
        convolutions, not the recursion.
        """
        ends_now = self._ends_now(current, num_frames)
        weights = np.zeros(num_frames)
        weights[: min(num_frames, len(remaining_pmf))] = remaining_pmf[:num_frames]
        forecast = np.stack([np.convolve(weights, ends_now[:, k])[:num_frames] for k in range(self.num_classes)], 1)
        forecast[:, current] += np.clip(1.0 - np.cumsum(weights), 0.0, None)
        return forecast

    def _ends_now(self, current: int, num_frames: int) -> np.ndarray:
        key = (current, num_frames)
        if key not in self._forecasts:
            forecast = self._forward(current, num_frames)
            forecast.flags.writeable = False  # shared by every caller
            self._forecasts[key] = forecast
        return self._forecasts[key]

    def _forward(self, current: int, num_frames: int) -> np.ndarray:
        """Exact forward recursion over segment start frames when ``current`` ends just before future frame 0.

        starts[t, k] = P(a class-k segment starts at future frame t): the
        successor row of ``current`` at t = 0, plus every earlier start
        (t' < t) whose duration is t - t', times the successor row; a frame
        shows class k if a class-k segment started at t' <= t and lasts more
        than t - t'.
        """
        length = max(self.duration_pmf.shape[1], num_frames + 1)
        pmf = np.zeros((self.num_classes, length))
        pmf[:, : self.duration_pmf.shape[1]] = self.duration_pmf
        survival = np.clip(1.0 - np.cumsum(pmf, axis=1), 0.0, None)  # P(D > m)
        starts = np.zeros((num_frames, self.num_classes))
        occupancy = np.zeros((num_frames, self.num_classes))
        for t in range(num_frames):
            ended = (starts[:t] * pmf[:, t - np.arange(t)].T).sum(0)
            starts[t] = (self.transitions[current] if t == 0 else 0.0) + ended @ self.transitions
            occupancy[t] = (starts[: t + 1] * survival[:, t - np.arange(t + 1)].T).sum(0)
        return occupancy


class GrammarFilter:
    """Filtering of per-frame class probabilities through the grammar (an explicit-duration HMM).

    Hidden state at each frame: (class k, age a), a = frames the class-k
    segment has lasted including this one. A segment of class k continues
    with probability P(D > a | D >= a) or ends, and the next one starts at age
    1 with class j drawn from ``transitions[k]``. Each frame's evidence is the
    network's class probabilities raised to ``evidence_weight``: the
    per-frame outputs of a temporal encoder share context, so they are not
    independent observations and counting each fully would overrule the
    grammar. The newest frame's are raised to ``newest_weight`` (by default
    the same): it alone shows an action that has just started. The window's
    first frame starts from the renewal prior (class by the chain's
    stationary visits, age by P(D >= a)), because a sliding window starts in
    the middle of a segment.

    The result at the last frame, P(class, age | window), gives the current
    action and its age, and the future as the age-weighted mixture of the
    grammar's forecasts, instead of committing to the argmax label and the
    length of its run (one wrong frame at the end of the window used to
    restart the run and the forecast with it).
    """

    def __init__(
        self,
        grammar: ActionGrammar,
        evidence_weight: float,
        newest_weight: float | None = None,
        remaining_weight: float = 1.0,
    ) -> None:
        self.grammar, self.evidence_weight, self.remaining_weight = grammar, evidence_weight, remaining_weight
        self.newest_weight = evidence_weight if newest_weight is None else newest_weight
        pmf = grammar.duration_pmf
        at_least = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]  # P(D >= a), a = 0..L-1; exactly 0 past the support
        support = int(np.flatnonzero((at_least > 0).any(0)).max()) + 1
        at_least, pmf = at_least[:, :support], pmf[:, :support]
        hazard = np.where(at_least > 0, pmf / np.maximum(at_least, 1e-300), 1.0)  # P(D = a | D >= a)
        hazard[:, -1] = 1.0  # no segment outlives the support
        values, vectors = np.linalg.eig(grammar.transitions.T)
        visits = np.abs(np.real(vectors[:, np.argmin(np.abs(values - 1.0))]))
        prior = visits[:, None] * at_least
        prior[:, 0] = 0.0  # age 0 does not exist
        # remaining[k, a, r] = P(D = a + r | D >= a): the current segment's remaining frames given its age.
        ages, rest = np.arange(support)[:, None], np.arange(support)[None, :]
        padded = np.concatenate([pmf, np.zeros_like(pmf)], axis=1)
        self._remaining = padded[:, ages + rest] / np.maximum(at_least, 1e-300)[:, :, None]
        self._hazard, self._survive, self._prior = hazard, 1.0 - hazard, prior / prior.sum()
        # restart[(a - 1) * K + k, j] = P(class k ends at age a) P(j follows k), ages 1..A-1 (age-major, as the
        # forward pass stores its belief): a segment ending and its successor starting.
        ending = hazard.T[1:, :, None] * grammar.transitions[None, :, :]
        self._restart = ending.reshape(-1, grammar.num_classes)
        self._spectra: dict[int, np.ndarray] = {}

    def posterior(self, probabilities: np.ndarray) -> np.ndarray:
        """(T, K) per-frame class probabilities of a window -> (K, A) P(class, age) at its last frame."""
        belief = self._forward(self._evidence(probabilities))
        return belief / belief.sum()

    def smoothed(self, probabilities: np.ndarray) -> np.ndarray:
        """(T, K) per-frame class probabilities -> (T, K) P(class at frame t | whole window).

        Forward-backward: every frame of the window is read in the light of the
        frames after it too, so a segment is labelled as one action with a
        plausible length instead of frame by frame. (The last frame's row
        equals :meth:`posterior` summed over ages.)
        """
        evidence = self._evidence(probabilities)
        forward = self._forward(evidence, every_frame=True)
        transitions = self.grammar.transitions
        backward = np.ones_like(forward[-1])
        marginals = np.empty((len(evidence), self.grammar.num_classes))
        marginals[-1] = forward[-1].sum(axis=1)
        for frame in range(len(evidence) - 2, -1, -1):
            following = evidence[frame + 1]
            older = np.zeros_like(backward)
            older[:, :-1] = backward[:, 1:]
            restart = transitions @ (following * backward[:, 1])
            backward = (1.0 - self._hazard) * following[:, None] * older + self._hazard * restart[:, None]
            backward /= backward.max()
            marginals[frame] = (forward[frame] * backward).sum(axis=1)
        return marginals / marginals.sum(axis=1, keepdims=True)

    def _evidence(self, probabilities: np.ndarray) -> np.ndarray:
        evidence = np.power(np.clip(probabilities, 1e-12, None), self.evidence_weight)
        if self.newest_weight != self.evidence_weight and len(evidence):
            evidence[-1] = np.power(np.clip(probabilities[-1], 1e-12, None), self.newest_weight)
        return evidence

    def _forward(self, evidence: np.ndarray, every_frame: bool = False) -> np.ndarray:
        """Unnormalised forward beliefs P(class, age, evidence so far): (K, A) at the last frame, or (T, K, A).

        One frame of the recursion: each segment either survives to the next age
        or ends and restarts at age 1 as the chain's next class, and every age of
        a class is weighted by that class's evidence. The node runs this loop over
        its whole window on every tick, so a frame costs two NumPy calls. The
        belief is stored age-major in a strip of rows, one row per age, read
        through a window of A rows that moves up one row per frame: a segment's
        row becomes the next age's without being copied. Each frame then takes
        the restarts (one product of the previous belief with ``hazard x
        transitions``) into the new age-1 row, and multiplies ages 1..A-1 at once
        by the evidence, times the survival of the age they come from for ages
        2..A-1. Each frame is rescaled now and then; a frame's scale cancels in every ratio taken of it.
        """
        frames, ages = len(evidence), self._prior.shape[1]
        strip = np.zeros((ages + frames, self.grammar.num_classes))  # rows: ages, window at rows top..top+A-1
        top = frames - 1
        np.multiply(self._prior.T, evidence[0], out=strip[top : top + ages])
        strip[top : top + ages] /= strip[top : top + ages].sum()
        # factor[t, 0] = evidence at t (age 1, a restart); factor[t, a] = survive(age a) x evidence at t (age a + 1).
        factor = np.empty((frames, ages - 1, self.grammar.num_classes))
        factor[:, 0] = evidence
        np.multiply(self._survive.T[None, 1:-1], evidence[:, None, :], out=factor[:, 1:])
        beliefs = np.empty((frames, *self._prior.shape)) if every_frame else None
        if beliefs is not None:
            beliefs[0] = strip[top : top + ages].T
        for frame in range(1, frames):
            ended = strip[top + 1 : top + ages].reshape(-1)  # ages 1..A-1 of the previous frame
            top -= 1
            np.dot(ended, self._restart, out=strip[top + 1])  # segments ending now, times their successor
            now = strip[top + 1 : top + ages]
            np.multiply(now, factor[frame], out=now)
            if frame % RENORMALISE_EVERY == 0:  # often enough that float64 cannot underflow
                now /= now.sum()
            if beliefs is not None:
                beliefs[frame] = strip[top : top + ages].T
        return strip[top : top + ages].T if beliefs is None else beliefs

    def current(self, posterior: np.ndarray) -> tuple[int, int, float]:
        """(class, most likely age in frames, probability of the class) at the last frame."""
        marginal = posterior.sum(axis=1)
        current = int(marginal.argmax())
        return current, int(posterior[current].argmax()), float(marginal[current])

    def future(
        self, posterior: np.ndarray, num_frames: int, remaining_evidence: np.ndarray | None = None
    ) -> np.ndarray:
        """(num_frames, K) class marginals of the next frames: the grammar's forecast mixed over P(class, age).

        The mixture of :meth:`ActionGrammar.future_after` over P(class, remaining
        frames): each likely class while it lasts, plus its remaining-time weights
        convolved with the forecast for "ends now". The convolutions of all
        classes are one product of spectra (the forecasts' spectra are computed
        once per horizon), not one ``np.convolve`` per class pair in every tick.

        ``remaining_evidence`` (R,): the network's distribution of how many more frames the
        newest frame's action goes on (its last bin: that many or more). The chain knows the
        current action's age only; the frames also show how far into it the person is.
        """
        remaining = np.matmul(posterior[:, None, :], self._remaining)[:, 0]  # (K, R): P(class, r more frames)
        if remaining_evidence is not None and self.remaining_weight > 0:
            remaining = self._with_evidence(remaining, remaining_evidence)
        weights = np.zeros((len(remaining), num_frames))
        kept = min(num_frames, remaining.shape[1])
        weights[:, :kept] = remaining[:, :kept]
        mass = remaining.sum(axis=1)
        likely = np.flatnonzero(mass > NEGLIGIBLE)
        forecast = np.zeros((num_frames, len(remaining)))
        if len(likely):
            lasting = mass[likely] - np.cumsum(weights[likely], axis=1).T  # the current class while it lasts
            forecast[:, likely] = np.clip(lasting, 0.0, None)
            spectra = self._ends_now_spectra(num_frames)[likely]  # (C, K, bins)
            mixed = np.einsum("cb,ckb->kb", np.fft.rfft(weights[likely], n=2 * num_frames), spectra)
            forecast += np.fft.irfft(mixed, n=2 * num_frames)[:, :num_frames].T
        return forecast / max(forecast.sum(axis=1, keepdims=True).mean(), 1e-12)

    def _with_evidence(self, remaining: np.ndarray, evidence: np.ndarray) -> np.ndarray:
        """P(class, r) times the evidence on r raised to ``remaining_weight``, each class keeping its probability.

        The evidence says when the action now going on ends, whichever it is, not which one it is.
        """
        bins = np.minimum(np.arange(remaining.shape[1]), len(evidence) - 1)
        weighted = remaining * np.asarray(evidence, dtype=np.float64)[bins] ** self.remaining_weight
        kept, mass = weighted.sum(axis=1, keepdims=True), remaining.sum(axis=1, keepdims=True)
        return np.where(kept > 1e-300, weighted * (mass / np.maximum(kept, 1e-300)), remaining)

    def _ends_now_spectra(self, num_frames: int) -> np.ndarray:
        """(K, K, bins) spectra of every class's "ends now" forecast, zero-padded to twice the horizon."""
        if num_frames not in self._spectra:
            forecasts = np.stack([self.grammar._ends_now(k, num_frames) for k in range(self.grammar.num_classes)])
            self._spectra[num_frames] = np.fft.rfft(forecasts.transpose(0, 2, 1), n=2 * num_frames)
        return self._spectra[num_frames]


def current_action(observed_labels: np.ndarray) -> tuple[int, int]:
    """(class of the last observed frame, length of its run at the end of the observation)."""
    values, lengths = _runs(observed_labels)
    return int(values[-1]), int(lengths[-1])
