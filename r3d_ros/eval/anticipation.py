"""Anticipation metrics on prepared videos: MoC at alpha/beta, segmentation, missing modalities.

Mean over classes (MoC, FUTR/R3D): observe the first ``alpha`` of each video,
predict the next ``beta`` of it frame by frame, count correct frames per
ground-truth class over the whole test set, and average the per-class
accuracies. Observed-segmentation accuracy scores the per-frame labels of the
observed part; it is also split into frames near a label change (within
``BOUNDARY_MARGIN`` frames, where every action ramps in from or out to the
neutral stance and the two sides look alike) and the interior frames, so a
report tells errors of perception from uncertainty about where a change was.
When a video's observed part is longer than the model's window,
the model sees its last ``window`` frames (as the streaming runtime would).

Each video's frames go through the per-frame path once; modalities can be
removed per frame (``rgb_present`` / ``depth_present`` False), which exercises
exactly the substitution (EBR) or zeroing the runtime uses.

Given a :class:`~r3d_ros.eval.reference.ReferenceScores`, the same windows
also score the reference anticipators (grammar oracle, continuing the current
action, the chain on the model's recognised labels), so a report shows what
was possible beside what the model did.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from r3d_ros.data.prepared import PreparedVideo
from r3d_ros.data.sampling import IGNORE, next_action_after, observed_frames, protocol_window
from r3d_ros.model.decode import future_segments, next_action, read_window, recognised_labels, segments_to_frames
from r3d_ros.model.r3d import FrameFeatures, R3DModel
from r3d_ros.model.temporal import TemporalOutput

if TYPE_CHECKING:
    from r3d_ros.eval.reference import ReferenceScores

# Frames at most this many model frames from a label change count as boundary frames.
BOUNDARY_MARGIN = 2


@dataclass
class ClassAccuracy:
    """Correct and total frame counts per ground-truth class."""

    num_classes: int
    correct: np.ndarray = field(init=False)
    total: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.correct = np.zeros(self.num_classes, dtype=np.int64)
        self.total = np.zeros(self.num_classes, dtype=np.int64)

    def add(self, predicted: np.ndarray, truth: np.ndarray) -> None:
        """Count frames; unlabeled ground truth (-1) is skipped."""
        keep = truth >= 0
        np.add.at(self.total, truth[keep], 1)
        np.add.at(self.correct, truth[keep], (predicted[keep] == truth[keep]).astype(np.int64))

    def mean_over_classes(self, classes: Sequence[int] | None = None) -> float:
        """Average accuracy over the classes that occur (optionally only ``classes``)."""
        chosen = np.arange(self.num_classes) if classes is None else np.asarray(classes, dtype=np.int64)
        present = chosen[self.total[chosen] > 0]
        if len(present) == 0:
            return float("nan")
        return float(np.mean(self.correct[present] / self.total[present]))

    def frame_accuracy(self) -> float:
        """Fraction of all counted frames that are correct."""
        return float(self.correct.sum() / max(1, self.total.sum()))


@torch.no_grad()
def encode_video(
    model: R3DModel,
    video: PreparedVideo,
    device: torch.device,
    rgb_present: np.ndarray | None = None,
    depth_present: np.ndarray | None = None,
    chunk: int = 256,
    substitute: bool = True,
) -> FrameFeatures:
    """Per-frame features of every frame of ``video`` (eval mode, on the CPU).

    A modality the model was never trained on (a single-modality baseline's other one) is absent
    on every frame whatever the masks say: its untrained encoder's tokens are noise, not evidence.
    """
    trained = model.config.train.trained_modalities
    if "rgb" not in trained:
        rgb_present = np.zeros(len(video), dtype=bool)
    depth_flags = video.depth_present if depth_present is None else video.depth_present & depth_present
    if "depth" not in trained:
        depth_flags = np.zeros(len(video), dtype=bool)
    parts = []
    for start in range(0, len(video), chunk):
        stop = start + chunk
        features = model.encode_frames(
            torch.from_numpy(video.rgb[start:stop]).to(device, torch.float32),
            torch.from_numpy(video.depth[start:stop]).to(device, torch.float32),
            None if rgb_present is None else torch.from_numpy(rgb_present[start:stop]).to(device),
            torch.from_numpy(depth_flags[start:stop]).to(device),
            substitute=substitute,
        )
        parts.append(features)

    def join(name: str) -> torch.Tensor | None:
        values = [getattr(p, name) for p in parts]
        return None if values[0] is None else torch.cat(values).cpu()

    names = ("fused", "rgb", "depth", "rgb_projection", "depth_projection", "rgb_encoded", "depth_encoded")
    return FrameFeatures(*(join(n) for n in names))


@dataclass
class AnticipationScores:
    """MoC per (alpha, beta), on all classes and on a subset, observed segmentation, next action, references."""

    moc: dict[str, float]
    moc_subset: dict[str, float]
    segmentation_accuracy: float
    # The same, mean over classes, on observed frames more than BOUNDARY_MARGIN frames from a label change,
    # and the frame accuracy on the others.
    segmentation_interior_accuracy: float = float("nan")
    segmentation_boundary_accuracy: float = float("nan")
    # Fraction of observation ends (one per video and alpha) whose next action is right.
    next_action_accuracy: float = float("nan")
    # Mean absolute error, in seconds, of the current action's remaining time.
    remaining_error_s: float = float("nan")
    reference: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, float]:
        """Flat mapping for logs and JSON."""
        out = {f"moc/{k}": v for k, v in self.moc.items()}
        out.update({f"moc_subset/{k}": v for k, v in self.moc_subset.items()})
        out["segmentation_accuracy"] = self.segmentation_accuracy
        out["segmentation_interior_accuracy"] = self.segmentation_interior_accuracy
        out["segmentation_boundary_accuracy"] = self.segmentation_boundary_accuracy
        out["next_action_accuracy"] = self.next_action_accuracy
        out["remaining_error_s"] = self.remaining_error_s
        out.update(self.reference)
        return out


def protocol_key(alpha: float, beta: float) -> str:
    """Name of an (alpha, beta) setting in reports, e.g. ``a0.3_b0.5``."""
    return f"a{alpha:g}_b{beta:g}"


@torch.no_grad()
def evaluate_anticipation(
    model: R3DModel,
    videos: Sequence[PreparedVideo],
    alphas: Sequence[float],
    betas: Sequence[float],
    device: torch.device,
    subset_classes: Sequence[int] = (),
    depth_present: Sequence[np.ndarray] | None = None,
    rgb_present: Sequence[np.ndarray] | None = None,
    reference: ReferenceScores | None = None,
    substitute: bool = True,
    arms_in_depth: Sequence[bool] | None = None,
) -> AnticipationScores:
    """Score ``model`` on ``videos`` with the alpha/beta protocol (optional per-video presence masks).

    ``reference`` (its keys those of ``alphas`` x ``betas``) accumulates the
    reference predictors on the same windows and is reported in the scores;
    its sensed oracle is told which frames had depth and, per video,
    ``arms_in_depth`` (default every video's arms return depth).
    ``substitute=False`` zeroes missing modalities even in an EBR model.
    """
    config = model.config
    horizon = config.anticipation.horizon_frames
    num_classes = config.model.num_classes
    grammar, grammar_filter = model.grammar, model.grammar_filter
    learned_future = not config.model.uses_grammar  # a grammar-decoded model never reads its future decoder
    accuracy = {protocol_key(a, b): ClassAccuracy(num_classes) for a in alphas for b in betas}
    segmentation = ClassAccuracy(num_classes)
    interior, boundary = ClassAccuracy(num_classes), ClassAccuracy(num_classes)
    next_correct, remaining_errors = [], []
    windows = observed_windows(model, videos, alphas, device, depth_present, rgb_present, substitute, learned_future)
    for index, video, alpha, (start, observed), output, seg in windows:
        depth_flags = video.depth_present if depth_present is None else video.depth_present & depth_present[index]
        arms = True if arms_in_depth is None else bool(arms_in_depth[index])
        seg_logits = output.segmentation_logits[0].cpu().numpy()
        observed_labels = video.labels[start:observed]
        segmentation.add(seg, observed_labels)
        near = near_label_change(observed_labels, BOUNDARY_MARGIN)
        interior.add(seg[~near], observed_labels[~near])
        boundary.add(seg[near], observed_labels[near])
        future_logits = output.future_logits[0].cpu().numpy() if learned_future else None
        remaining_logits = None if output.remaining_logits is None else output.remaining_logits[0].cpu().numpy()
        reading = read_window(seg_logits, future_logits, grammar, grammar_filter, horizon, remaining_logits)
        segments = future_segments(reading.future)
        remaining = round(segments[0].duration * horizon) if segments[0].class_id == reading.current else 0
        truth_next = next_action_after(video.labels, observed)
        if truth_next != IGNORE:
            next_logits = output.next_logits[0].cpu().numpy() if learned_future else None
            predicted_next, _ = next_action(next_logits, reading.current, grammar)
            next_correct.append(predicted_next == truth_next)
        true_remaining = _remaining_frames(video.labels, observed)
        if true_remaining is not None:
            remaining_errors.append(abs(remaining - true_remaining) / config.anticipation.fps)
        for beta in betas:
            _, predicted = protocol_window(len(video), alpha, beta)
            frames = segments_to_frames(segments, predicted, horizon)
            truth = video.labels[observed : observed + predicted]
            accuracy[protocol_key(alpha, beta)].add(frames, truth)
            if reference is not None:
                reference.add(
                    protocol_key(alpha, beta),
                    truth,
                    video.labels[:observed],
                    seg,
                    remaining,
                    frames,
                    depth_flags[:observed],
                    arms,
                )
    return AnticipationScores(
        moc={k: v.mean_over_classes() for k, v in accuracy.items()},
        moc_subset={k: v.mean_over_classes(subset_classes) for k, v in accuracy.items()} if subset_classes else {},
        segmentation_accuracy=segmentation.mean_over_classes(),
        segmentation_interior_accuracy=interior.mean_over_classes(),
        segmentation_boundary_accuracy=boundary.frame_accuracy() if boundary.total.any() else float("nan"),
        next_action_accuracy=float(np.mean(next_correct)) if next_correct else float("nan"),
        remaining_error_s=float(np.mean(remaining_errors)) if remaining_errors else float("nan"),
        reference=reference.as_dict() if reference is not None else {},
    )


class SegmentationTally:
    """:func:`evaluate_anticipation`'s ``segmentation_accuracy`` alone, counted video by video.

    Why: the noise limits compare only segmentation, on dozens of test sets;
    decoding the future and scoring the references there is time thrown away,
    and a set scored as its videos are prepared need never be held whole.
    """

    def __init__(self, model: R3DModel, alphas: Sequence[float], device: torch.device) -> None:
        self.model, self.alphas, self.device = model, alphas, device
        self.counts = ClassAccuracy(model.config.model.num_classes)

    def add(
        self, video: PreparedVideo, depth_present: np.ndarray | None = None, rgb_present: np.ndarray | None = None
    ) -> None:
        """Count the observed windows of ``video`` (optional presence masks, as evaluate_anticipation's per video)."""
        depth = None if depth_present is None else [depth_present]
        rgb = None if rgb_present is None else [rgb_present]
        for _, _, _, (start, observed), _, seg in observed_windows(
            self.model, [video], self.alphas, self.device, depth, rgb
        ):
            self.counts.add(seg, video.labels[start:observed])

    def accuracy(self) -> float:
        """Mean over classes of the frames counted so far."""
        return self.counts.mean_over_classes()


@torch.no_grad()
def observed_windows(
    model: R3DModel,
    videos: Sequence[PreparedVideo],
    alphas: Sequence[float],
    device: torch.device,
    depth_present: Sequence[np.ndarray] | None = None,
    rgb_present: Sequence[np.ndarray] | None = None,
    substitute: bool = True,
    learned_future: bool = False,
) -> Iterator[tuple[int, PreparedVideo, float, tuple[int, int], TemporalOutput, np.ndarray]]:
    """Each video's observed window per alpha, read by the model.

    Yields (video index, video, alpha, (window start, observed frames), the temporal
    model's output on the window, the recognised label of each window frame). Each video goes
    through the per-frame path once; the temporal model reads the last ``window`` observed
    frames, as the streaming runtime would. ``learned_future`` also runs the future decoder.
    """
    model.eval()
    window = model.config.anticipation.window
    for index, video in enumerate(videos):
        features = encode_video(
            model,
            video,
            device,
            None if rgb_present is None else rgb_present[index],
            None if depth_present is None else depth_present[index],
            substitute=substitute,
        )
        for alpha in alphas:
            observed = observed_frames(len(video), alpha)
            start = max(0, observed - window)
            tokens = features.fused[start:observed].to(device)[None]
            mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=device)
            output = model.forward_temporal(tokens, mask, learned_future)
            seg = recognised_labels(output.segmentation_logits[0].cpu().numpy(), model.grammar_filter)
            yield index, video, alpha, (start, observed), output, seg


def near_label_change(labels: np.ndarray, margin: int) -> np.ndarray:
    """(N,) bool: frames at most ``margin`` frames from a change of label (the two frames of a change are at 1)."""
    changes = np.flatnonzero(labels[1:] != labels[:-1])  # a change lies between frames c and c + 1
    if len(changes) == 0:
        return np.zeros(len(labels), dtype=bool)
    frames = np.arange(len(labels))[:, None]
    distance = np.minimum(np.abs(frames - changes[None]) + 1, np.abs(frames - changes[None] - 1) + 1)
    return distance.min(axis=1) <= margin


def _remaining_frames(labels: np.ndarray, observed: int) -> int | None:
    """Frames the action at ``observed - 1`` still lasts after it (None when the recording ends first)."""
    current = labels[observed - 1]
    changed = np.flatnonzero(labels[observed:] != current)
    return int(changed[0]) if len(changed) else None
