"""Pieces the public-dataset loaders share: reading frame files, pairing, timelines, splits.

The datasets store frames as numbered files (UTKinect, DARai, NTU depth) and
label actions as inclusive ranges of those numbers. Reading a file checks what
it holds and raises :class:`~r3d_ros.data.errors.DatasetError` naming it, so a
corrupt frame found lazily inside ``Video.load`` is reported like one found at
listing time.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from r3d_ros.data.errors import DatasetError
from r3d_ros.data.labels import UNLABELED
from r3d_ros.data.video import Frame, Video
from r3d_ros.runtime.image import RawImage

DepthReader = Callable[[Path], np.ndarray]


def numbered_files(folder: Path, pattern: str) -> dict[int, Path]:
    """Files in ``folder`` whose whole name matches ``pattern`` (one group: the frame number), by number."""
    regex = re.compile(pattern)
    files = {}
    for path in folder.iterdir():
        match = regex.fullmatch(path.name)
        if match:
            files[int(match.group(1))] = path
    return files


def read_color(path: Path) -> RawImage:
    """An 8-bit color image file as an rgb8 RawImage (OpenCV decodes BGR; this converts)."""
    pixels = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if pixels is None:
        raise DatasetError(f"{path}: cannot decode color image (missing, truncated or corrupt)")
    return RawImage.from_array(cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB), "rgb8")


def read_depth_file(path: Path) -> np.ndarray:
    """A depth frame stored as a 16-bit PNG or a .npy array, as a (H, W) array of the stored type."""
    if path.suffix == ".npy":
        try:
            depth = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise DatasetError(f"{path}: cannot read depth array ({error})") from None
    else:
        depth = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if depth is None:
            raise DatasetError(f"{path}: cannot decode depth image (missing, truncated or corrupt)")
    if depth.ndim == 3 and depth.shape[2] == 1:
        depth = depth[:, :, 0]
    if depth.ndim != 2:
        raise DatasetError(f"{path}: depth must be a single-channel image, got shape {depth.shape}")
    return depth


def depth_image(depth: np.ndarray, path: Path) -> RawImage:
    """Wrap a depth array: uint16 as 16UC1 (units of the frame's depth_scale), float as 32FC1 metres.

    Anything else (8-bit PNGs are usually colorised previews) carries no metric
    depth and is refused rather than guessed at.
    """
    if depth.dtype == np.uint16:
        return RawImage.from_array(depth, "16UC1")
    if depth.dtype.kind == "f":
        return RawImage.from_array(depth.astype(np.float32), "32FC1")
    raise DatasetError(f"{path}: depth must be uint16 (millimetres) or float (metres), got {depth.dtype}")


class DepthShapeGuard:
    """Checks every depth frame of a video against the size of its first one.

    Depth frames are read lazily, so the reference size is read on the first
    check, from the video's first depth file, and a frame of another size is
    reported by name instead of reaching the network mis-cropped.
    """

    def __init__(self, reference: Path, read: DepthReader) -> None:
        self.reference = reference
        self.read = read
        self.shape: tuple[int, ...] | None = None

    def load(self, path: Path) -> np.ndarray:
        """Read the depth frame at ``path`` and check its size."""
        depth = self.read(path)
        if self.shape is None:
            self.shape = depth.shape if path == self.reference else self.read(self.reference).shape
        if depth.shape != self.shape:
            raise DatasetError(
                f"{path}: depth frame is {depth.shape[1]}x{depth.shape[0]}, but the video's first depth frame "
                f"{self.reference.name} is {self.shape[1]}x{self.shape[0]}"
            )
        return depth


class ImageSequence:
    """A video stored one file per frame: a color file and the paired depth file (or None) per frame."""

    def __init__(
        self,
        color: Sequence[Path],
        depth: Sequence[Path | None],
        read_depth: DepthReader,
        depth_scale: float = 0.001,
    ) -> None:
        self.color = list(color)
        self.depth = list(depth)
        self.depth_scale = depth_scale
        reference = next((path for path in self.depth if path is not None), None)
        self.guard = DepthShapeGuard(reference, read_depth) if reference is not None else None

    def load(self, index: int) -> Frame:
        """Frame ``index``, decoded now (depth None where the frame has no depth partner)."""
        if not 0 <= index < len(self.color):
            raise IndexError(f"{self.color[0].parent}: frame {index} out of range (0..{len(self.color) - 1})")
        color = read_color(self.color[index])
        path = self.depth[index]
        if path is None or self.guard is None:
            return Frame(color, None, self.depth_scale)
        return Frame(color, depth_image(self.guard.load(path), path), self.depth_scale)


def pair_frame_numbers(color: np.ndarray, depth: np.ndarray, max_offset: int) -> np.ndarray:
    """Index into sorted ``depth`` of the depth frame paired with each color frame number, -1 where none.

    A color frame takes the depth frame of the same number, else the nearest
    one at most ``max_offset`` numbers away (the earlier on a tie).
    """
    if len(depth) == 0:
        return np.full(len(color), -1, dtype=np.int64)
    after = np.clip(np.searchsorted(depth, color), 0, len(depth) - 1)
    before = np.clip(after - 1, 0, len(depth) - 1)
    nearest = np.where(np.abs(depth[before] - color) <= np.abs(depth[after] - color), before, after)
    return np.where(np.abs(depth[nearest] - color) <= max_offset, nearest, -1).astype(np.int64)


def paired_sequence(
    color: dict[int, Path],
    depth: dict[int, Path],
    max_offset: int,
    read_depth: DepthReader,
    depth_scale: float = 0.001,
) -> tuple[np.ndarray, ImageSequence, dict[str, str]]:
    """Numbered color and depth files as one video: color frame numbers, the frames, and the unpaired counts."""
    numbers = np.array(sorted(color), dtype=np.int64)
    depth_numbers = np.array(sorted(depth), dtype=np.int64)
    paired = pair_frame_numbers(numbers, depth_numbers, max_offset)
    frames = ImageSequence(
        [color[n] for n in numbers],
        [depth[depth_numbers[i]] if i >= 0 else None for i in paired],
        read_depth,
        depth_scale,
    )
    counts = {
        "unpaired_color_frames": str(int(np.sum(paired < 0))),
        "unpaired_depth_frames": str(len(depth_numbers) - len(np.unique(paired[paired >= 0]))),
    }
    return numbers, frames, counts


@dataclass(frozen=True)
class FrameSegment:
    """An action over the inclusive frame-number range [start, end]; ``source`` is 'file:line'."""

    start: int
    end: int
    action: str
    source: str


def _frame_number(text: str, source: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise DatasetError(f"{source}: frame number must be a number, got {text!r}") from None
    if not value.is_integer() or value < 0:
        raise DatasetError(f"{source}: frame number must be a whole number >= 0, got {text!r}")
    return int(value)


def parse_segment(action: str, start: str, end: str, source: str) -> FrameSegment:
    """Validate one labelled range read from a label file."""
    segment = FrameSegment(_frame_number(start, source), _frame_number(end, source), action, source)
    if segment.end < segment.start:
        raise DatasetError(f"{source}: {action} ends (frame {segment.end}) before it starts (frame {segment.start})")
    return segment


def label_frame_numbers(
    numbers: np.ndarray, segments: Iterable[FrameSegment], class_names: Sequence[str]
) -> np.ndarray:
    """Class id of each frame number; UNLABELED outside every segment.

    An unknown action or two segments sharing more than a boundary frame is an
    error naming the label line; a shared boundary frame goes to the later one.
    """
    index = {name: i for i, name in enumerate(class_names)}
    ordered = sorted(segments, key=lambda s: (s.start, s.end))
    for segment in ordered:
        if segment.action not in index:
            raise DatasetError(f"{segment.source}: unknown action {segment.action!r}; known: {', '.join(class_names)}")
    for before, after in itertools.pairwise(ordered):
        if after.start < before.end:
            raise DatasetError(
                f"{after.source}: {after.action} [{after.start}, {after.end}] overlaps "
                f"{before.action} [{before.start}, {before.end}] ({before.source})"
            )
    labels = np.full(len(numbers), UNLABELED, dtype=np.int64)
    for segment in ordered:
        labels[(numbers >= segment.start) & (numbers <= segment.end)] = index[segment.action]
    return labels


def stamps_from_numbers(numbers: np.ndarray, fps: float) -> np.ndarray:
    """Seconds since the first frame, from frame numbers of a clock running at ``fps``."""
    return (numbers - numbers[0]).astype(np.float64) / fps


def split(videos: Iterable[Video], is_train: Callable[[Video], bool]) -> dict[str, list[str]]:
    """{"train": names where ``is_train``, "test": the other names}, in listing order."""
    videos = list(videos)
    return {
        "train": [video.name for video in videos if is_train(video)],
        "test": [video.name for video in videos if not is_train(video)],
    }
