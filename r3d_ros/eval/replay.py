"""Offline replay of a rosbag2 recording through exactly the node's pipeline, in bag time.

Messages are read in bag order and fed to the same
:class:`~r3d_ros.runtime.pipeline.AnticipationPipeline` (synchronizer,
preprocessing, streaming anticipator, stream-time ticks) the node runs, so the
same bag and model give the same anticipations on every run, and the same as
the live node when it keeps up.

Scores are kept on the recording's own time line
(:class:`~r3d_ros.runtime.recording.RecordingClock`), as the replay through a
running node keeps them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from r3d_ros.config import StreamConfig
from r3d_ros.data.errors import DatasetError
from r3d_ros.data.rosbag import header_stamp_ns, open_bag, raw_image, read_messages, select_topics
from r3d_ros.runtime.anticipator import Anticipation
from r3d_ros.runtime.backends import LoadedModel
from r3d_ros.runtime.image import ImageError
from r3d_ros.runtime.pipeline import AnticipationPipeline
from r3d_ros.runtime.recording import RecordingClock, Replay
from r3d_ros.runtime.timebase import StampEpoch


@dataclass
class _Offline:
    """What one pass over the bag collects."""

    anticipations: list[Anticipation] = field(default_factory=list)
    tick_ms: list[float] = field(default_factory=list)
    clock: RecordingClock = field(default_factory=RecordingClock)
    epoch: StampEpoch = field(default_factory=StampEpoch)
    frame_id: str = ""
    invalid: int = 0


def replay_bag(
    bag: Path,
    loaded: LoadedModel,
    stream: StreamConfig,
    color_topic: str | None = None,
    depth_topic: str | None = None,
    progress: bool = True,
) -> Replay:
    """Run ``bag``'s color and depth images through the pipeline; raise DatasetError on an unusable bag."""
    pipeline = AnticipationPipeline(loaded, stream)
    state = _Offline()
    with open_bag(bag) as reader:
        color, depth = select_topics(reader, bag, color_topic, depth_topic)
        total = sum(c.msgcount for c in reader.connections if c.topic in (color, depth))
        messages = tqdm(read_messages(reader, (color, depth)), total=total, desc=bag.name, disable=not progress)
        for connection, bag_ns, message in messages:
            _feed(pipeline, state, connection.topic == color, connection.msgtype, bag_ns, message)
        results = pipeline.flush()
        state.anticipations.extend(results)
        state.tick_ms.extend([0.0] * len(results))
    if not state.clock.stamps_ns:
        raise DatasetError(f"{bag}: the color topic {color} has no messages")
    stats = pipeline.anticipator.stats
    if stats.used == 0:
        raise DatasetError(f"{bag}: no frame could be used ({stats.last_invalid_reason or 'all frames invalid'})")
    frames = state.clock.locate(state.epoch.nanoseconds(r.stamp) for r in state.anticipations)
    return Replay(
        state.anticipations, frames, state.tick_ms, state.clock, state.epoch, state.frame_id, color, depth,
        _counts(pipeline, state),
    )  # fmt: skip


def _feed(
    pipeline: AnticipationPipeline, state: _Offline, is_color: bool, msgtype: str, bag_ns: int, message: Any
) -> None:
    """One message into the pipeline; an unreadable or undecodable one is counted as an invalid frame."""
    if message is None:
        state.invalid += 1
        return
    stamp_ns = header_stamp_ns(message)
    stamp = state.epoch.seconds(stamp_ns)
    if is_color:
        state.clock.add_color(stamp_ns, bag_ns)
        state.frame_id = state.frame_id or message.header.frame_id
    try:
        image = raw_image(message, msgtype)
    except ImageError:
        state.invalid += 1
        return
    started = time.perf_counter()
    results = pipeline.add_color(stamp, image) if is_color else pipeline.add_depth(stamp, image)
    elapsed = (time.perf_counter() - started) * 1e3
    state.anticipations.extend(results)
    state.tick_ms.extend([elapsed] * len(results))


def _counts(pipeline: AnticipationPipeline, state: _Offline) -> dict[str, int]:
    stats = pipeline.anticipator.stats
    return {
        "color_messages": len(state.clock.stamps_ns),
        "frames_used": stats.used,
        "frames_invalid": stats.invalid + state.invalid,
        "frames_without_depth": stats.depth_missing,
        "frames_depth_too_noisy": stats.depth_too_noisy,
        "frames_rgb_too_noisy": stats.rgb_too_noisy,
        "resets": stats.resets,
        "sync_matched": pipeline.sync.stats.matched,
        "sync_color_only": pipeline.sync.stats.color_only,
    }
