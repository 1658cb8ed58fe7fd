"""Offline replay of a rosbag2 recording through exactly the node's pipeline, in bag time.

Messages are read in bag order and fed to the same
:class:`~r3d_ros.runtime.pipeline.AnticipationPipeline` (synchronizer,
preprocessing, streaming anticipator, stream-time ticks) the node runs, so the
same bag and model give the same anticipations on every run, and the same as
the live node when it keeps up.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from r3d_ros.config import StreamConfig
from r3d_ros.data.errors import DatasetError
from r3d_ros.data.rosbag import header_stamp_ns, open_bag, raw_image, select_topics
from r3d_ros.runtime.anticipator import Anticipation
from r3d_ros.runtime.backends import LoadedModel
from r3d_ros.runtime.image import ImageError
from r3d_ros.runtime.pipeline import AnticipationPipeline
from r3d_ros.runtime.timebase import StampEpoch


@dataclass
class Replay:
    """Anticipations of one recording, with what is needed to score and store them."""

    anticipations: list[Anticipation]
    tick_ms: list[float]  # wall time of the pipeline call that produced each anticipation
    epoch: StampEpoch  # stamps are seconds since the recording's first stamp
    first_color_s: float  # the label files' time zero
    last_s: float
    frame_id: str
    color_topic: str
    depth_topic: str
    counts: dict[str, int] = field(default_factory=dict)
    latency_kind: str = "pipeline compute per tick (ms)"


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
    epoch = StampEpoch()
    anticipations: list[Anticipation] = []
    tick_ms: list[float] = []
    first_color: float | None = None
    last = 0.0
    frame_id = ""
    invalid = 0
    with open_bag(bag) as reader:
        color, depth = select_topics(reader, bag, color_topic, depth_topic)
        connections = [c for c in reader.connections if c.topic in (color, depth)]
        total = sum(c.msgcount for c in connections)
        for connection, _, raw in tqdm(reader.messages(connections), total=total, desc=bag.name, disable=not progress):
            message = reader.deserialize(raw, connection.msgtype)
            stamp = epoch.seconds(header_stamp_ns(message))
            last = max(last, stamp)
            try:
                image = raw_image(message, connection.msgtype)
            except ImageError:
                invalid += 1
                continue
            started = time.perf_counter()
            if connection.topic == color:
                first_color = stamp if first_color is None else first_color
                frame_id = frame_id or message.header.frame_id
                results = pipeline.add_color(stamp, image)
            else:
                results = pipeline.add_depth(stamp, image)
            elapsed = (time.perf_counter() - started) * 1e3
            anticipations.extend(results)
            tick_ms.extend([elapsed] * len(results))
        results = pipeline.flush()
        anticipations.extend(results)
        tick_ms.extend([0.0] * len(results))
    if first_color is None:
        raise DatasetError(f"{bag}: the color topic {color} has no messages")
    stats = pipeline.anticipator.stats
    if stats.used == 0:
        raise DatasetError(f"{bag}: no frame could be used ({stats.last_invalid_reason or 'all frames invalid'})")
    counts = {
        "frames_used": stats.used,
        "frames_invalid": stats.invalid + invalid,
        "frames_without_depth": stats.depth_missing,
        "resets": stats.resets,
        "sync_matched": pipeline.sync.stats.matched,
        "sync_color_only": pipeline.sync.stats.color_only,
    }
    return Replay(anticipations, tick_ms, epoch, first_color, last, frame_id, color, depth, counts)
