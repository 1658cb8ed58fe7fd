"""``r3d-eval-bag``: score a model on a labelled rosbag2 recording, offline or through the live node.

    r3d-eval-bag --bag recording/ --labels recording.labels.csv --out eval/
    r3d-eval-bag --bag recording.mcap --labels labels.csv --online --rate 1.0      # via the node over DDS
    r3d-eval-bag --bag recording/ --labels recording.labels.csv --video eval/replay.mp4   # and a video to scrub

Offline (default, no ROS needed) the bag runs through the node's pipeline in
bag time; ``--online`` starts the node, plays the bag to it over DDS at
``--rate`` x real time and scores what it published (``--compare`` does both
and reports how well they agree). Outputs in ``--out``: the predictions as
``r3d_msgs/AnticipatedAction`` in an MCAP bag (``predictions/``),
``metrics.json``, ``ticks.csv`` and ``timeline.png``; online also ``node.log``
(everything the node printed) and, in ``metrics.json``, the node's own counts
(``online_node``: published, invalid frames, resets, errors, queue drops). An
online run whose node published anticipations the evaluator did not receive,
or whose node stopped, fails (exit status 2) instead of scoring part of the bag.
``--video PATH.mp4`` (or ``.avi``, MJPG) also writes the recording with the
debug-image overlay of the latest anticipation on every color frame and, below
it, the time, the ground truth and ok/WRONG for the current action (with
``--compare`` one video per mode, ``PATH-offline.mp4`` and ``PATH-online.mp4``).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

from r3d_ros.config import ConfigError, RuntimeConfig, StreamConfig
from r3d_ros.data.errors import DatasetError
from r3d_ros.data.labels import LabelFileError, read_label_file
from r3d_ros.eval.prediction_bag import write_prediction_bag
from r3d_ros.eval.replay import replay_bag
from r3d_ros.eval.report import (
    VIDEO_CODECS,
    Timeline,
    VideoError,
    check_labels_in_range,
    latency_summary,
    score,
    write_report,
    write_video,
)
from r3d_ros.model.checkpoint import ModelFileError
from r3d_ros.runtime.backends import BackendError, LoadedModel, create_backend
from r3d_ros.runtime.recording import Replay
from r3d_ros.shipped import DEFAULT_MODEL, shipped_file

LOG = logging.getLogger("r3d_ros.eval")


def evaluate(
    replay: Replay,
    loaded: LoadedModel,
    labels: Path | None,
    out: Path,
    mode: str,
    video: tuple[Path, Path] | None = None,
) -> dict[str, Any]:
    """Score ``replay`` against ``labels`` (when given) and write every output to ``out``.

    ``video`` is (bag, video file): the replayed bag drawn with its anticipations and labels.
    """
    config = loaded.model.config
    class_names = list(config.model.class_names)
    duration, times = replay.duration_s, replay.times_s
    segments = []
    if labels is not None:
        segments = read_label_file(labels, class_names)
        check_labels_in_range(segments, duration, labels)
    timeline = Timeline(segments, class_names)
    metrics: dict[str, Any] = {
        "mode": mode,
        "model_id": loaded.model_id,
        "ticks": len(replay.anticipations),
        "duration_s": duration,
        "bag_counts": replay.counts,
    }
    if replay.node:
        metrics["online_node"] = replay.node
    if labels is not None:
        fps, horizon_s = config.anticipation.fps, config.anticipation.horizon_s
        metrics.update(score(replay.anticipations, times, timeline, duration, fps, horizon_s))
    metrics["tick_latency"] = {"kind": replay.latency_kind, **latency_summary(replay.tick_ms)}
    predictions = out / "predictions"
    if predictions.exists():
        shutil.rmtree(predictions)
    out.mkdir(parents=True, exist_ok=True)
    write_prediction_bag(
        predictions, replay.anticipations, replay.epoch, class_names, loaded.model_id, replay.frame_id,
        bag_ns=replay.bag_ns,
    )  # fmt: skip
    write_report(out, metrics, replay.anticipations, times, timeline, f"{mode} evaluation, model {loaded.model_id}")
    if video is not None:
        write_video(video[1], video[0], replay, timeline, labelled=labels is not None)
    return metrics


def video_path(video: Path, mode: str, modes: int) -> Path:
    """Where a mode's video goes: ``video`` itself, or with the mode in its name when several modes run."""
    return video if modes == 1 else video.with_name(f"{video.stem}-{mode}{video.suffix}")


def agreement(offline: Replay, online: Replay) -> dict[str, float]:
    """How often the live node published what offline replay computed, tick by tick.

    Ticks are matched by the color frame they were computed at (its place in
    the bag), not by stamp, which a restarted camera repeats.
    """
    by_frame = dict(zip(offline.frames, offline.anticipations, strict=True))
    matched = [
        (by_frame[frame], r) for frame, r in zip(online.frames, online.anticipations, strict=True) if frame in by_frame
    ]
    same_next = sum(a.next_class_id == b.next_class_id for a, b in matched)
    same_current = sum(a.current.class_id == b.current.class_id for a, b in matched)
    return {
        "offline_ticks": len(offline.anticipations),
        "online_ticks": len(online.anticipations),
        "matched_ticks": len(matched),
        "same_next_action": same_next / max(1, len(matched)),
        "same_current_action": same_current / max(1, len(matched)),
    }


def summary_lines(metrics: dict[str, Any]) -> list[str]:
    """A few human-readable lines of a metrics dictionary."""
    lines = [f"ticks: {metrics.get('ticks', 'n/a')}, tick latency: {metrics.get('tick_latency')}"]
    if "online_node" in metrics:
        lines.append("node: " + ", ".join(f"{key} {value}" for key, value in metrics["online_node"].items()))
    if "observed_accuracy" in metrics:
        lines.append(f"observed-action accuracy (mean over classes): {metrics['observed_accuracy']:.3f}")
        lines.append(f"next-action accuracy (all lead times): {metrics['next_action_accuracy']:.3f}")
        leads = ", ".join(
            f"{k} s: {v:.2f}" for k, v in metrics["next_action_accuracy_by_lead_s"].items() if v is not None
        )
        lines.append(f"next-action accuracy by lead time: {leads}")
        lines.append("MoC: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics["moc"].items()))
        missing, substituted = metrics["depth_missing_fraction"], metrics["depth_substituted_fraction"]
        lines.append(f"depth missing on {missing:.0%} of ticks, substituted on {substituted:.0%}")
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        prog="r3d-eval-bag", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--bag", type=Path, required=True, help="rosbag2 folder, .mcap or .db3")
    parser.add_argument(
        "--labels", type=Path, help="label file (start,end,action; seconds since the first color frame)"
    )
    parser.add_argument(
        "--model", type=Path, default=shipped_file(DEFAULT_MODEL), help="model file (default: the shipped model)"
    )
    parser.add_argument("--out", type=Path, default=Path("eval"), help="output folder")
    parser.add_argument("--color-topic", help="color image topic (default: the only color Image topic)")
    parser.add_argument("--depth-topic", help="depth image topic (default: the only depth Image topic)")
    parser.add_argument("--backend", default="auto", choices=["auto", "tensorrt", "onnxruntime", "torch"])
    parser.add_argument("--cache-dir", help="exported ONNX / engine cache")
    parser.add_argument(
        "--sync-policy", default=StreamConfig.sync_policy, choices=["exact", "approximate"], help="color/depth pairing"
    )
    parser.add_argument(
        "--sync-slop-s", type=float, default=StreamConfig.sync_slop_s, help="approximate pairing tolerance (s)"
    )
    parser.add_argument(
        "--depth-timeout-s",
        type=float,
        default=StreamConfig.depth_timeout_s,
        help="a color frame waits this long (stamp time) for its depth, then goes on without it, as in the node;\n"
        "online at a high --rate on a busy machine, raise it so a late depth frame is not counted as missing",
    )
    parser.add_argument(
        "--max-depth-noise",
        type=float,
        default=StreamConfig.max_depth_noise,
        help="depth frames whose estimated std at 1 m is above this count as missing, as in the node; 0 keeps all",
    )
    parser.add_argument(
        "--max-rgb-noise",
        type=float,
        default=StreamConfig.max_rgb_noise,
        help="RGB frames whose estimated noise at the network's input (0-255) is above this count as missing where\n"
        "they have depth, as in the node (default -1: the model's own limit); 0 keeps all",
    )
    parser.add_argument("--online", action="store_true", help="play the bag to the live node over DDS and score it")
    parser.add_argument("--compare", action="store_true", help="offline and online, and their agreement")
    parser.add_argument("--rate", type=float, default=1.0, help="online playback speed (x real time)")
    parser.add_argument("--use-sim-time", action="store_true", help="online: publish /clock, node uses sim time")
    parser.add_argument("--echo", action="store_true", help="online: print each anticipation as it is published")
    parser.add_argument(
        "--debug-image", type=Path, default=None, help="online: save the node's last ~/debug_image to this PNG"
    )
    parser.add_argument(
        "--video",
        type=Path,
        help="also write the replay as a video: the overlay on every color frame, the ground truth below;\n"
        ".mp4 (mp4v) or .avi (MJPG, for an OpenCV build without an MP4 encoder)",
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.video is not None and args.video.suffix.lower() not in VIDEO_CODECS:
        parser.error(f"--video {args.video}: the file must end in {' or '.join(VIDEO_CODECS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``r3d-eval-bag``; returns the exit status."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        stream = StreamConfig(
            sync_policy=args.sync_policy,
            sync_slop_s=args.sync_slop_s,
            depth_timeout_s=args.depth_timeout_s,
            max_depth_noise=args.max_depth_noise,
            max_rgb_noise=args.max_rgb_noise,
        )
        runtime = RuntimeConfig(backend=args.backend, cache_dir=args.cache_dir)
        loaded = create_backend(args.model, runtime)
        results: dict[str, Any] = {}
        replays: dict[str, Replay] = {}
        modes = ["offline", "online"] if args.compare else ["online"] if args.online else ["offline"]
        folders = {mode: args.out / mode if len(modes) > 1 else args.out for mode in modes}
        if "offline" in modes:
            replays["offline"] = replay_bag(
                args.bag, loaded, stream, args.color_topic, args.depth_topic, not args.no_progress
            )
        if "online" in modes:
            from r3d_ros.ros.online import replay_through_node

            replays["online"] = replay_through_node(
                args.bag, args.model, runtime, stream, args.color_topic, args.depth_topic,
                rate=args.rate, use_sim_time=args.use_sim_time, echo=args.echo,
                log_path=folders["online"] / "node.log", debug_image=args.debug_image,
            )  # fmt: skip
        for mode, replay in replays.items():
            folder = folders[mode]
            video = None if args.video is None else (args.bag, video_path(args.video, mode, len(modes)))
            results[mode] = evaluate(replay, loaded, args.labels, folder, mode, video)
            print(f"\n{mode} evaluation of {args.bag} with model {loaded.model_id}:")
            for line in summary_lines(results[mode]):
                print(f"  {line}")
            node_log = ", node.log" if mode == "online" else ""
            print(f"  files: {folder}/metrics.json, ticks.csv, timeline.png, predictions/ (MCAP){node_log}")
            if video is not None:
                print(f"  video: {video[1]}")
        if len(replays) == 2:
            match = agreement(replays["offline"], replays["online"])
            print(f"\nonline vs offline: {match}")
            (args.out / "agreement.json").write_text(json.dumps(match, indent=2))
    except (ConfigError, DatasetError, LabelFileError, ModelFileError, BackendError, VideoError) as error:
        LOG.error("%s", error)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
