"""The data source a config names, loaded and split into training and test sets.

Every source ends up as :class:`~r3d_ros.data.video.VideoDataset` objects; the
split follows the dataset's own standard protocol (``data.protocol``), never a
random split of videos that share subjects.
"""

from __future__ import annotations

from r3d_ros.config import ConfigError, DataConfig
from r3d_ros.data.video import VideoDataset


def _split(dataset: VideoDataset, protocol: str) -> tuple[VideoDataset, VideoDataset]:
    if protocol not in dataset.splits:
        raise ConfigError(
            f"data.protocol: {dataset.name} has no split {protocol!r}; available: {sorted(dataset.splits)}"
        )
    split = dataset.splits[protocol]
    return dataset.subset(split["train"]), dataset.subset(split["test"])


def load_datasets(data: DataConfig) -> tuple[VideoDataset, VideoDataset]:
    """(training set, test set) for ``data``."""
    if data.source == "synthetic":
        from r3d_ros.data.synthetic import generate_synthetic

        return _split(generate_synthetic(data.synthetic), "default" if data.protocol == "default" else data.protocol)
    if data.source == "ntu":
        from r3d_ros.data.ntu import load_ntu

        dataset = load_ntu(data.root, protocol_version=data.ntu_version, on_error=data.on_error)
        return _split(dataset, data.protocol)
    if data.source == "utkinect":
        from r3d_ros.data.utkinect import load_utkinect

        return _split(load_utkinect(data.root, on_error=data.on_error), data.protocol)
    if data.source == "darai":
        from r3d_ros.data.darai import load_darai

        return _split(load_darai(data.root, level=data.darai_level, on_error=data.on_error), data.protocol)
    from r3d_ros.data.rosbag import load_recordings

    options = {
        "color_topic": data.color_topic,
        "depth_topic": data.depth_topic,
        "policy": data.sync_policy,
        "slop_s": data.sync_slop_s,
        "depth_timeout_s": data.depth_timeout_s,
        "on_error": data.on_error,
    }
    train = load_recordings([(r.bag, r.labels) for r in data.train_recordings], **options)
    if not data.test_recordings:
        raise ConfigError("data.test_recordings: source=rosbag needs recordings to evaluate on")
    test = load_recordings([(r.bag, r.labels) for r in data.test_recordings], class_names=train.class_names, **options)
    return train, test
