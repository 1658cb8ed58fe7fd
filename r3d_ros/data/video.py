"""The common form every data source is read into: labelled videos of RGB-D frames.

Loaders (synthetic benchmark, NTU RGB+D, UTKinect-Action3D, DARai, rosbag2
recordings) all return a :class:`VideoDataset`; the trainer and the evaluation
only ever see this form. Frames are loaded lazily through ``Video.load`` and
arrive as :class:`~r3d_ros.runtime.image.RawImage` pairs, so they go through the
same preprocessing function as live camera images.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from r3d_ros.runtime.image import RawImage


@dataclass
class Frame:
    """One RGB-D frame as recorded; ``depth`` None means the depth frame is missing."""

    color: RawImage
    depth: RawImage | None
    depth_scale: float = 0.001  # metres per unit of a 16-bit depth image


@dataclass
class Video:
    """A labelled recording: frame stamps, a class id per frame, and a lazy frame loader."""

    name: str
    stamps: np.ndarray  # (N,) float64 seconds, increasing
    labels: np.ndarray  # (N,) int64 class id per frame; -1 = unlabeled
    load: Callable[[int], Frame]
    meta: dict[str, str] = field(default_factory=dict)  # subject, camera, setup, source path...
    # Optional fast path for reading many frames in increasing index order (one pass
    # over a video file or a bag instead of a seek per frame).
    load_many: Callable[[list[int]], Iterator[Frame]] | None = None

    def __len__(self) -> int:
        return len(self.stamps)

    def frames(self, indices: Iterable[int]) -> Iterator[Frame]:
        """Frames at ``indices`` (increasing), through ``load_many`` when the source has it."""
        indices = list(indices)
        if self.load_many is not None:
            yield from self.load_many(indices)
        else:
            for index in indices:
                yield self.load(index)


@dataclass
class VideoDataset:
    """Videos with a shared class list and the dataset's standard splits."""

    name: str
    class_names: list[str]
    videos: list[Video]
    # protocol name -> {"train": [video names], "test": [video names]}
    splits: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    # One line per file that was skipped (on_error="skip"), naming the file and why.
    skipped: list[str] = field(default_factory=list)
    # Classes whose accuracy is reported separately (the synthetic benchmark's depth-only classes).
    focus_classes: list[str] = field(default_factory=list)

    def subset(self, names: list[str]) -> VideoDataset:
        """The videos named in ``names`` (a split), in that order."""
        by_name = {video.name: video for video in self.videos}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise KeyError(f"{self.name}: split names unknown videos: {missing[:5]}")
        return VideoDataset(
            self.name, self.class_names, [by_name[n] for n in names], {}, self.skipped, self.focus_classes
        )
