"""Scoring a recording's anticipations against its label file, and the report files.

Metrics (all computed from the anticipations, wherever they came from: offline
replay or the live node), on the recording's time line: each anticipation's
time is that of the color frame it was computed at, in seconds since the
recording's first color frame (see :class:`~r3d_ros.runtime.recording.RecordingClock`),
the clock the label files use:

- observed-action accuracy: the ``current`` action of each tick against the
  ground truth at the tick's time (mean over classes, and a confusion matrix);
- next-action accuracy against anticipation lead time: for each tick, the true
  next action is the next labelled segment with another class, and the lead
  time is how far ahead it starts; accuracy is reported per lead-time bin;
- MoC at the alpha/beta settings (FUTR/R3D) where the recording is long enough
  to apply them: the tick at alpha of the recording predicts the next beta of
  it, frame by frame at the model rate;
- per-tick latency, and how often depth was missing or substituted.

Outputs: ``metrics.json``, ``ticks.csv`` (one row per tick), ``timeline.png``
(true vs predicted actions with confidence, and the effective-rank trace), and
on request a video (:func:`write_video`): every color frame of the recording
with the debug-image overlay of the latest anticipation at or before it, and
below it the time, the ground truth and whether the model's current action
matched it, so a user can scrub to where the model was wrong.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from r3d_ros.data.errors import DatasetError
from r3d_ros.data.labels import LabelFileError, Segment
from r3d_ros.data.rosbag import open_bag, raw_image, read_messages
from r3d_ros.data.sampling import protocol_window
from r3d_ros.eval.anticipation import ClassAccuracy, protocol_key
from r3d_ros.model.decode import PredictedSegment, segments_to_frames
from r3d_ros.runtime.anticipator import Anticipation
from r3d_ros.runtime.image import ImageError, decode_color
from r3d_ros.runtime.overlay import depth_status, label_band, render_overlay
from r3d_ros.runtime.recording import Replay

# A label may end this long after the last frame (the last frame's duration, rounding).
LABEL_SLACK_S = 1.0
# Video container -> OpenCV fourcc; both encoders are built into OpenCV's FFmpeg backend.
VIDEO_CODECS = {".mp4": "mp4v", ".avi": "MJPG"}


class VideoError(OSError):
    """The video file cannot be written (an unknown container, or no encoder for it in this OpenCV build)."""


@dataclass
class Timeline:
    """Ground truth of a recording; times are seconds since its first color frame."""

    segments: list[Segment]
    class_names: list[str]

    def label_at(self, t: float) -> int:
        """Class id at time ``t``, -1 when unlabelled."""
        for segment in self.segments:
            if segment.start <= t < segment.end:
                return self.class_names.index(segment.action)
        return -1

    def next_after(self, t: float) -> tuple[int, float] | None:
        """(class id, seconds until it starts) of the next segment whose class differs from the one at ``t``."""
        current = self.label_at(t)
        for segment in self.segments:
            if segment.start > t and self.class_names.index(segment.action) != current:
                return self.class_names.index(segment.action), segment.start - t
        return None


def check_labels_in_range(segments: Sequence[Segment], duration_s: float, label_file: Path) -> None:
    """Labels beyond the recording are a different time base or a different recording: refuse them."""
    for segment in segments:
        if segment.end > duration_s + LABEL_SLACK_S:
            raise LabelFileError(
                f"{label_file}: segment {segment.action} [{segment.start:.2f}, {segment.end:.2f}] s ends after the "
                f"recording ({duration_s:.2f} s); label times are seconds since the first color frame"
            )


def score(
    anticipations: Sequence[Anticipation],
    times: Sequence[float],
    timeline: Timeline,
    duration_s: float,
    fps: float,
    horizon_s: float,
    alphas: Sequence[float] = (0.2, 0.3),
    betas: Sequence[float] = (0.1, 0.2, 0.3, 0.5),
    lead_bin_s: float = 1.0,
) -> dict[str, Any]:
    """Every metric of the module docstring; ``times`` are the anticipations' times on the recording."""
    classes = len(timeline.class_names)
    observed = ClassAccuracy(classes)
    confusion = np.zeros((classes, classes), dtype=np.int64)
    bins = int(np.ceil(horizon_s / lead_bin_s))
    lead_correct, lead_total = np.zeros(bins, dtype=np.int64), np.zeros(bins, dtype=np.int64)
    for result, t in zip(anticipations, times, strict=True):
        truth = timeline.label_at(t)
        observed.add(np.array([result.current.class_id]), np.array([truth]))
        if truth >= 0:
            confusion[truth, result.current.class_id] += 1
        upcoming = timeline.next_after(t)
        if upcoming is not None and upcoming[1] < horizon_s:
            index = min(int(upcoming[1] // lead_bin_s), bins - 1)
            lead_total[index] += 1
            lead_correct[index] += int(result.next_class_id == upcoming[0])
    frames = max(1, round(duration_s * fps))
    truth_frames = np.array([timeline.label_at(i / fps) for i in range(frames)])
    moc = {}
    for alpha in alphas:
        observed_frames, _ = protocol_window(frames, alpha, max(betas))
        at = observed_frames / fps
        before = [r for r, t in zip(anticipations, times, strict=True) if t <= at + 1e-6]
        if not before:
            continue
        tick = before[-1]
        predicted = [
            PredictedSegment(s.class_id, s.confidence, s.start_offset_s / horizon_s, s.duration_s / horizon_s)
            for s in tick.future
        ]
        for beta in betas:
            _, count = protocol_window(frames, alpha, beta)
            accuracy = ClassAccuracy(classes)
            accuracy.add(
                segments_to_frames(predicted, count, horizon_s * fps),
                truth_frames[observed_frames : observed_frames + count],
            )
            moc[protocol_key(alpha, beta)] = accuracy.mean_over_classes()
    ticks = len(anticipations)
    return {
        "ticks": ticks,
        "duration_s": duration_s,
        "observed_accuracy": observed.mean_over_classes(),
        "observed_frame_accuracy": observed.frame_accuracy(),
        "next_action_accuracy_by_lead_s": {
            f"{i * lead_bin_s:g}-{(i + 1) * lead_bin_s:g}": (
                float(lead_correct[i] / lead_total[i]) if lead_total[i] else None
            )
            for i in range(bins)
        },
        "next_action_accuracy": float(lead_correct.sum() / max(1, lead_total.sum())),
        "moc": moc,
        "confusion_matrix": confusion.tolist(),
        "depth_missing_fraction": float(np.mean([not r.depth_present for r in anticipations])) if ticks else 0.0,
        "depth_substituted_fraction": float(np.mean([r.depth_substituted for r in anticipations])) if ticks else 0.0,
    }


def latency_summary(tick_ms: Sequence[float]) -> dict[str, float]:
    """How many ticks have a latency, and its minimum, median and p99."""
    values = np.asarray(tick_ms, dtype=float)
    if len(values) == 0:
        return {"samples": 0}
    return {
        "samples": len(values),
        "min_ms": float(values.min()),
        "median_ms": float(np.median(values)),
        "p99_ms": float(np.percentile(values, 99)),
    }


def write_ticks_csv(
    path: Path, anticipations: Sequence[Anticipation], times: Sequence[float], timeline: Timeline
) -> None:
    """One row per tick: time, truth, prediction, confidence, modality status, rank."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["t_s", "true_action", "current", "current_confidence", "next", "next_confidence",
                         "depth_present", "depth_substituted", "fused_effective_rank"])  # fmt: skip
        for r, t in zip(anticipations, times, strict=True):
            truth = timeline.label_at(t)
            writer.writerow([
                f"{t:.3f}", timeline.class_names[truth] if truth >= 0 else "",
                r.current.label, f"{r.current.confidence:.3f}", r.next_label, f"{r.next_confidence:.3f}",
                int(r.depth_present), int(r.depth_substituted), f"{r.fused_effective_rank:.3f}",
            ])  # fmt: skip


def plot_timeline(
    path: Path, anticipations: Sequence[Anticipation], times: Sequence[float], timeline: Timeline, title: str
) -> None:
    """True vs predicted actions over the recording's time, with confidence, and the fused effective-rank trace."""
    names = timeline.class_names
    colors = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(names), 2)))
    times = np.asarray(times, dtype=float)
    figure, (actions, confidence, rank) = plt.subplots(
        3, 1, figsize=(12, 6.5), sharex=True, gridspec_kw={"height_ratios": [2, 1, 1]}
    )
    for segment in timeline.segments:
        k = names.index(segment.action)
        actions.barh(2, segment.end - segment.start, left=segment.start, color=colors[k], edgecolor="white")
        actions.text((segment.start + segment.end) / 2, 2, segment.action, ha="center", va="center", fontsize=7)
    for row, key in ((1, "current"), (0, "next")):
        ids = [r.current.class_id if key == "current" else r.next_class_id for r in anticipations]
        actions.scatter(times, np.full(len(times), row), c=[colors[i] for i in ids], marker="s", s=18)
    actions.set_yticks([0, 1, 2], ["predicted next", "predicted current", "ground truth"])
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[i]) for i in range(len(names))]
    actions.legend(handles, names, ncol=min(6, len(names)), fontsize=7, loc="upper center", bbox_to_anchor=(0.5, 1.35))
    confidence.plot(times, [r.next_confidence for r in anticipations], label="next action")
    confidence.plot(times, [r.current.confidence for r in anticipations], label="current action")
    missing = [t for t, r in zip(times, anticipations, strict=True) if not r.depth_present]
    if missing:
        confidence.scatter(missing, np.zeros(len(missing)), marker="|", color="red", label="depth missing")
    confidence.set(ylabel="confidence", ylim=(0, 1.05))
    confidence.legend(fontsize=7, loc="upper right")
    rank.plot(times, [r.fused_effective_rank for r in anticipations], color="black")
    rank.set(ylabel="fused eff. rank", xlabel="time since the first color frame (s)")
    figure.suptitle(title, y=0.995)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_report(
    out: Path,
    metrics: dict[str, Any],
    anticipations: Sequence[Anticipation],
    times: Sequence[float],
    timeline: Timeline,
    title: str,
) -> None:
    """metrics.json, ticks.csv and timeline.png in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    write_ticks_csv(out / "ticks.csv", anticipations, times, timeline)
    plot_timeline(out / "timeline.png", anticipations, times, timeline, title)


def latest_ticks(frames: Sequence[int], count: int) -> np.ndarray:
    """For each of ``count`` color frames, the index of the latest anticipation computed at or before it (-1: none).

    ``frames`` is :attr:`Replay.frames` (the color frame each anticipation was
    computed at), which rises, as :meth:`RecordingClock.locate` returns it.
    """
    return np.searchsorted(np.asarray(frames, dtype=np.int64), np.arange(count), side="right") - 1


def color_frames(bag: Path, topic: str) -> Iterator[np.ndarray | None]:
    """The color frames of ``bag`` as RGB, one per frame of the replay's RecordingClock (None: undecodable).

    Unreadable messages are skipped, as replay skips them before it counts
    frames, so the n-th item is the clock's n-th frame.
    """
    with open_bag(bag) as reader:
        for connection, _, message in read_messages(reader, (topic,)):
            if message is None:
                continue
            try:
                yield decode_color(raw_image(message, connection.msgtype))
            except ImageError:
                yield None


def frame_rate(times_s: Sequence[float], default: float = 30.0) -> float:
    """The recording's color frame rate: one over the median step between frames."""
    steps = np.diff(np.asarray(times_s, dtype=float))
    steps = steps[steps > 0]
    return float(1.0 / np.median(steps)) if len(steps) else default


class _VideoOut:
    """Composes and writes one video frame per color frame; opens the file at the first frame's size."""

    def __init__(self, path: Path, replay: Replay, timeline: Timeline, labelled: bool) -> None:
        self.path, self.replay, self.timeline, self.labelled = path, replay, timeline, labelled
        self.ticks = latest_ticks(replay.frames, len(replay.clock.times_s))
        self.writer: cv2.VideoWriter | None = None
        self.size: tuple[int, int] | None = None  # (height, width) of the color frames
        self.written = 0

    def open(self, height: int, width: int) -> None:
        band = max(16, round(height / 12))
        band += (height + band) % 2  # MPEG-4 wants even sizes
        self.size, self.band = (height, width), band
        fourcc = cv2.VideoWriter_fourcc(*VIDEO_CODECS[self.path.suffix.lower()])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fps = frame_rate(self.replay.clock.times_s)
        self.writer = cv2.VideoWriter(str(self.path), fourcc, fps, (width, height + band))
        if not self.writer.isOpened():
            raise VideoError(f"{self.path}: this OpenCV build cannot write {self.path.suffix} video; try .avi (MJPG)")

    def write(self, index: int, rgb: np.ndarray | None) -> None:
        """Frame ``index`` of the recording (``rgb`` None: undecodable, drawn black)."""
        assert self.writer is not None and self.size is not None
        height, width = self.size
        if rgb is None:
            rgb = np.zeros((height, width, 3), dtype=np.uint8)
        elif rgb.shape[:2] != self.size:
            rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
        tick = int(self.ticks[index])
        result = self.replay.anticipations[tick] if tick >= 0 else None
        names = self.timeline.class_names
        image = render_overlay(rgb, result, depth_status(result), class_names=names)
        t = self.replay.clock.times_s[index]
        text, truth, verdict = f"t {t:.2f} s", None, None
        if self.labelled:
            truth = self.timeline.label_at(t)
            text += f"   truth: {names[truth] if truth >= 0 else 'unlabelled'}"
            if result is not None and truth >= 0:
                verdict = result.current.class_id == truth
        if result is not None:
            text += f"   model: {result.current.label}"
        band = label_band(width, self.band, text, truth if truth is not None and truth >= 0 else None, verdict)
        self.writer.write(cv2.cvtColor(np.vstack([image, band]), cv2.COLOR_RGB2BGR))
        self.written += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()


def write_video(path: Path, bag: Path, replay: Replay, timeline: Timeline, labelled: bool) -> int:
    """The replayed recording as a video at ``path`` (.mp4 or .avi); returns the number of frames written.

    Each color frame of ``bag`` is drawn with the overlay of the latest
    anticipation at or before it (``latest_ticks``, on the frames of the
    replay's RecordingClock), above a band with the frame's time on the
    recording and, when ``labelled``, the ground truth at that time
    (``Timeline.label_at``, as the timeline picture and the scores use it) with
    ok/WRONG for the model's current action. Frames are read from the bag a
    second time, one at a time, so a long recording costs no memory.
    """
    if path.suffix.lower() not in VIDEO_CODECS:
        raise VideoError(f"{path}: the video must be {' or '.join(VIDEO_CODECS)}")
    out = _VideoOut(path, replay, timeline, labelled)
    pending = 0  # undecodable frames before the first decodable one, which gives the size
    try:
        with closing(color_frames(bag, replay.color_topic)) as frames:
            for index, rgb in enumerate(frames):
                if index >= len(out.ticks):
                    raise DatasetError(f"{bag}: more color frames than when it was replayed; was the bag changed?")
                if out.writer is None:
                    if rgb is None:
                        pending += 1
                        continue
                    out.open(*rgb.shape[:2])
                    for earlier in range(pending):
                        out.write(earlier, None)
                out.write(index, rgb)
    finally:
        out.close()
    if out.written != len(out.ticks):
        raise DatasetError(f"{bag}: {out.written} of {len(out.ticks)} color frames could be written to {path}")
    return out.written
