"""UTKinect-Action3D, read from its published folders: untrimmed sequences with labelled action ranges.

Layout (``docs/datasets.md`` has the details)::

    root/actionLabel.txt                     per sequence: "walk: 252 390" ... (inclusive frame numbers)
    root/RGB/s01_e01/colorImg252.jpg         640x480
    root/depth/s01_e01/depthImg252.xml       320x240, OpenCV FileStorage matrix

Frames were saved only while the Kinect tracked a skeleton, so frame numbers
(a 30 fps clock) jump; stamps keep those gaps. Each color frame is paired with
the depth frame of the same number, or the nearest within ``max_frame_offset``;
frames outside every labelled range are unlabeled. Depth stays at its own
resolution (preprocessing resizes). The raw depth values are taken to be the
Kinect SDK v1 "depth and player index" format, millimetres shifted left by 3
bits, which is what the 320x240 depth stream of that SDK delivers.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import cv2
import numpy as np

from r3d_ros.data._common import (
    FrameSegment,
    label_frame_numbers,
    numbered_files,
    paired_sequence,
    parse_segment,
    split,
    stamps_from_numbers,
)
from r3d_ros.data.errors import DatasetError, ErrorPolicy, OnError
from r3d_ros.data.video import Video, VideoDataset

# The ten actions in the order actionLabel.txt lists them.
UTKINECT_CLASSES = ("walk", "sitDown", "standUp", "pickUp", "carry", "throw", "push", "pull", "waveHands", "clapHands")
FPS = 30.0  # the clock of the frame numbers
SUBJECTS = range(1, 11)

_SEQUENCE = re.compile(r"s(\d+)_e(\d+)")


def read_utkinect_depth(path: Path, player_index_bits: int = 3) -> np.ndarray:
    """A depthImg*.xml matrix as uint16 millimetres (dropping the low player-index bits)."""
    try:
        storage = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
        raw = storage.getFirstTopLevelNode().mat()
        storage.release()
    except (cv2.error, SystemError) as error:
        raise DatasetError(f"{path}: cannot read OpenCV XML depth matrix ({str(error).strip()[-120:]})") from None
    if raw is None or raw.ndim != 2:
        raise DatasetError(f"{path}: no 2-D depth matrix in file")
    if raw.dtype.kind == "f" and not (np.all(np.isfinite(raw)) and np.all(raw == np.round(raw))):
        raise DatasetError(f"{path}: depth matrix holds non-integer values")
    if raw.min() < 0:
        raise DatasetError(f"{path}: depth matrix holds negative values")
    return (raw.astype(np.int64) >> player_index_bits).astype(np.uint16)


def read_action_labels(path: Path) -> dict[str, list[tuple[int, str]]]:
    """The lines of actionLabel.txt grouped by sequence: {sequence: [(line number, text), ...]}."""
    if not path.is_file():
        raise DatasetError(f"{path}: label file missing")
    sequences: dict[str, list[tuple[int, str]]] = {}
    current = None
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if not text:
            continue
        if _SEQUENCE.fullmatch(text):
            current = sequences.setdefault(text, [])
        elif current is None:
            raise DatasetError(f"{path}:{number}: {text!r} comes before any sequence name (sNN_eNN)")
        else:
            current.append((number, text))
    return sequences


def _segments(path: Path, lines: list[tuple[int, str]]) -> tuple[list[FrameSegment], list[str]]:
    """The labelled ranges of one sequence, and the actions given as NaN (not performed/not labelled)."""
    segments, missing = [], []
    for number, text in lines:
        action, colon, numbers = text.partition(":")
        fields = numbers.split()
        source = f"{path}:{number}"
        if not colon or len(fields) != 2:
            raise DatasetError(f"{source}: expected 'action: start end', got {text!r}")
        if "nan" in (fields[0].lower(), fields[1].lower()):
            missing.append(action.strip())
        else:
            segments.append(parse_segment(action.strip(), fields[0], fields[1], source))
    return segments, missing


def _utkinect_video(
    name: str,
    root: Path,
    labels_path: Path,
    lines: list[tuple[int, str]] | None,
    max_frame_offset: int,
    depth_bits: int,
) -> Video:
    if lines is None:
        raise DatasetError(f"{labels_path}: no entry for sequence {name}")
    rgb_folder, depth_folder = root / "RGB" / name, root / "depth" / name
    for folder in (rgb_folder, depth_folder):
        if not folder.is_dir():
            raise DatasetError(f"{folder}: folder missing")
    color = numbered_files(rgb_folder, r"colorImg(\d+)\.jpg")
    depth = numbered_files(depth_folder, r"depthImg(\d+)\.xml")
    if not color:
        raise DatasetError(f"{rgb_folder}: no colorImg<N>.jpg frames")
    if not depth:
        raise DatasetError(f"{depth_folder}: no depthImg<N>.xml frames")
    segments, missing = _segments(labels_path, lines)
    read_depth = functools.partial(read_utkinect_depth, player_index_bits=depth_bits)
    numbers, frames, unpaired = paired_sequence(color, depth, max_frame_offset, read_depth)
    subject, episode = (int(group) for group in _SEQUENCE.fullmatch(name).groups())
    meta = {
        "subject": str(subject),
        "episode": str(episode),
        "rgb_path": str(rgb_folder),
        "depth_path": str(depth_folder),
        "first_frame_number": str(numbers[0]),
        "unlabelled_actions": ",".join(missing),
        **unpaired,
    }
    return Video(
        name=name,
        stamps=stamps_from_numbers(numbers, FPS),
        labels=label_frame_numbers(numbers, segments, UTKINECT_CLASSES),
        load=frames.load,
        meta=meta,
    )


def utkinect_splits(videos: list[Video]) -> dict[str, dict[str, list[str]]]:
    """cross_subject (odd subjects train, even test) and leave-one-subject-out folds loso_s01..loso_s10."""
    splits = {"cross_subject": split(videos, lambda v: int(v.meta["subject"]) % 2 == 1)}
    for subject in SUBJECTS:
        splits[f"loso_s{subject:02d}"] = split(videos, lambda v, s=subject: int(v.meta["subject"]) != s)
    return splits


def load_utkinect(
    root: str | Path,
    on_error: OnError = "raise",
    max_frame_offset: int = 1,
    player_index_bits: int = 3,
) -> VideoDataset:
    """List UTKinect-Action3D under ``root`` (frames are decoded only when loaded).

    ``max_frame_offset``: how many frame numbers apart a color and a depth frame
    may be and still pair. ``player_index_bits``: low bits of the raw depth that
    are not depth (0 if your copy stores plain millimetres).
    """
    root = Path(root)
    labels_path = root / "actionLabel.txt"
    entries = read_action_labels(labels_path)
    rgb_root = root / "RGB"
    on_disk = {p.name for p in rgb_root.iterdir() if _SEQUENCE.fullmatch(p.name)} if rgb_root.is_dir() else set()
    policy = ErrorPolicy(on_error)
    videos = []
    for name in sorted(set(entries) | on_disk):
        video = policy.attempt(
            name, _utkinect_video, name, root, labels_path, entries.get(name), max_frame_offset, player_index_bits
        )
        if video is not None:
            videos.append(video)
    return VideoDataset(
        name="utkinect",
        class_names=list(UTKINECT_CLASSES),
        videos=videos,
        splits=utkinect_splits(videos),
        skipped=policy.skipped,
    )
