"""DARai (Daily Activity Recordings for AI, OLIVES lab, Georgia Tech): RGB-D views with hierarchical labels.

Layout, as the official code (github.com/olivesgatech/DARai) reads the extracted
archives; paths and names are arguments because the release is not documented
file by file (``docs/datasets.md`` lists what is assumed)::

    root/<L1 activity>/RGB/camera_1_fps_15/<subject>_<session>_<frame>.png        (or .jpg)
    root/<L1 activity>/Depth/camera_1_fps_15/<subject>_<session>_<frame>.png      (16-bit, or .npy)
    root/Hierarchy_labels/<L1 activity>/<L1 activity>_S<subject>_session<NN>_Level_2_Annotations.csv
                                                                    ..._Level_3_Annotations.csv

A video is one recording (subject, session) of one L1 activity seen by one
camera. Level 1 labels every frame with the activity; levels 2 (actions) and 3
(procedures) come from the annotation CSVs (``Activity,start_frame,end_frame``,
inclusive frame numbers). Color and depth of the same camera folder are paired
by frame number. The splits are the official cross-subject split (test
subjects 10, 16, 19; validation 2, 20) and the two cross-view directions.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from r3d_ros.data._common import (
    FrameSegment,
    label_frame_numbers,
    paired_sequence,
    parse_segment,
    read_depth_file,
    stamps_from_numbers,
)
from r3d_ros.data.errors import DatasetError, ErrorPolicy, OnError
from r3d_ros.data.video import Video, VideoDataset

FPS = 15.0  # used when the camera folder name carries no "fps_N"
DARAI_TEST_SUBJECTS = frozenset((10, 16, 19))
DARAI_VALIDATION_SUBJECTS = frozenset((2, 20))
LEVELS = (1, 2, 3)

_COLOR = re.compile(r"(\d+)_(\d+)_(\d+)\.(?:png|jpg|jpeg)")
_DEPTH = re.compile(r"(\d+)_(\d+)_(\d+)\.(?:png|npy)")
_ANNOTATION = re.compile(r"(.+)_S(\d+)_session(\d+)_Level_(\d)_Annotations\.csv")
_PLACEHOLDERS = ("{activity}", "{modality}", "{camera}")

Frames = dict[tuple[int, int], dict[int, Path]]  # (subject, session) -> frame number -> file


@dataclass(frozen=True)
class Recording:
    """One subject session of one activity from one camera, with its color files."""

    activity: str
    camera: str  # camera folder name, e.g. camera_1_fps_15
    subject: int
    session: int
    folder: Path
    color: dict[int, Path]

    @property
    def name(self) -> str:
        """A file-name-safe video name."""
        activity = re.sub(r"[^0-9A-Za-z]+", "_", self.activity).strip("_")
        return f"{activity}_S{self.subject:02d}_session{self.session}_{self.camera}"


def _activity_key(name: str) -> str:
    """Activity names compared loosely: folders and files may use '_' for spaces."""
    return " ".join(name.replace("_", " ").split()).casefold()


def _check_layout(layout: str) -> list[str]:
    parts = layout.split("/")
    if sorted(p for p in parts if "{" in p) != sorted(_PLACEHOLDERS):
        raise ValueError(f"layout {layout!r} must use each of {', '.join(_PLACEHOLDERS)} once, as whole path parts")
    return parts


def _group_frames(folder: Path, pattern: re.Pattern[str]) -> Frames:
    groups: Frames = {}
    for path in folder.iterdir():
        match = pattern.fullmatch(path.name)
        if match:
            subject, session, frame = (int(group) for group in match.groups())
            groups.setdefault((subject, session), {})[frame] = path
    return groups


def _recordings(root: Path, parts: list[str], modality: str) -> list[Recording]:
    pattern = "/".join("*" if p in ("{activity}", "{camera}") else p.replace("{modality}", modality) for p in parts)
    recordings = []
    for folder in sorted(path for path in root.glob(pattern) if path.is_dir()):
        fields = dict(zip(parts, folder.relative_to(root).parts, strict=True))
        for (subject, session), color in sorted(_group_frames(folder, _COLOR).items()):
            recordings.append(Recording(fields["{activity}"], fields["{camera}"], subject, session, folder, color))
    return recordings


def read_annotation(path: Path) -> list[FrameSegment]:
    """Segments of a Level_N_Annotations.csv; rows without an activity are unlabeled time, as in the official tools."""
    try:
        with path.open(newline="") as file:
            reader = csv.DictReader(file)
            header = {name.strip() for name in reader.fieldnames or ()}
            if not {"Activity", "start_frame", "end_frame"} <= header:
                raise DatasetError(f"{path}: needs columns Activity,start_frame,end_frame, has {sorted(header)}")
            segments = []
            for row in reader:
                cells = {key.strip(): (value or "").strip() for key, value in row.items() if isinstance(key, str)}
                if cells["Activity"]:
                    source = f"{path}:{reader.line_num}"
                    segments.append(parse_segment(cells["Activity"], cells["start_frame"], cells["end_frame"], source))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DatasetError(f"{path}: cannot read annotation file ({error})") from None
    return segments


class _Annotations:
    """The annotation files under the labels folder, found by activity, subject, session and level."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: dict[tuple[str, int, int, int], list[Path]] = {}
        for path in sorted(folder.rglob("*_Annotations.csv")) if folder.is_dir() else ():
            match = _ANNOTATION.fullmatch(path.name)
            if match:
                activity, subject, session, level = match.groups()
                key = (_activity_key(activity), int(subject), int(session), int(level))
                self.files.setdefault(key, []).append(path)

    def segments(self, recording: Recording, level: int) -> list[FrameSegment]:
        """The recording's labelled ranges at ``level``."""
        if level == 1:
            source = f"{recording.folder} (level 1: the activity folder)"
            return [FrameSegment(min(recording.color), max(recording.color), recording.activity, source)]
        key = (_activity_key(recording.activity), recording.subject, recording.session, level)
        paths = self.files.get(key, [])
        wanted = f"{recording.activity}_S{recording.subject:02d}_session{recording.session:02d}_Level_{level}"
        if not paths:
            raise DatasetError(f"{self.folder}: no {wanted}_Annotations.csv for {recording.name}")
        if len(paths) > 1:
            raise DatasetError(f"{wanted}: several annotation files: {', '.join(map(str, paths))}")
        return read_annotation(paths[0])


@dataclass(frozen=True)
class _Options:
    level: int
    fps: float  # when the camera folder name has none
    depth_scale: float
    max_frame_offset: int


def _darai_video(
    recording: Recording,
    segments: list[FrameSegment],
    class_names: list[str],
    depth_frames: Frames | None,
    depth_folder: Path,
    options: _Options,
) -> Video:
    if depth_frames is None:
        raise DatasetError(f"{depth_folder}: depth folder missing")
    depth = depth_frames.get((recording.subject, recording.session), {})
    if not depth:
        raise DatasetError(f"{depth_folder}: no depth frames {recording.subject:02d}_{recording.session}_<n>")
    numbers, frames, unpaired = paired_sequence(
        recording.color, depth, options.max_frame_offset, read_depth_file, options.depth_scale
    )
    fps_match = re.search(r"fps_(\d+(?:\.\d+)?)", recording.camera)
    fps = float(fps_match.group(1)) if fps_match else options.fps
    camera_match = re.search(r"camera_(\d+)", recording.camera)
    meta = {
        "activity": recording.activity,
        "subject": str(recording.subject),
        "session": str(recording.session),
        "camera": camera_match.group(1) if camera_match else recording.camera,
        "level": str(options.level),
        "fps": str(fps),
        "rgb_path": str(recording.folder),
        "depth_path": str(depth_folder),
        **unpaired,
    }
    return Video(
        name=recording.name,
        stamps=stamps_from_numbers(numbers, fps),
        labels=label_frame_numbers(numbers, segments, class_names),
        load=frames.load,
        meta=meta,
    )


def _names(videos: list[Video], key: str, values: set[str]) -> list[str]:
    return [video.name for video in videos if video.meta[key] in values]


def darai_splits(videos: list[Video]) -> dict[str, dict[str, list[str]]]:
    """cross_subject (with the official validation subjects) and cross_view_1to2 / cross_view_2to1."""
    test, val = {str(s) for s in DARAI_TEST_SUBJECTS}, {str(s) for s in DARAI_VALIDATION_SUBJECTS}
    train = {video.meta["subject"] for video in videos} - test - val
    return {
        "cross_subject": {
            "train": _names(videos, "subject", train),
            "val": _names(videos, "subject", val),
            "test": _names(videos, "subject", test),
        },
        "cross_view_1to2": {"train": _names(videos, "camera", {"1"}), "test": _names(videos, "camera", {"2"})},
        "cross_view_2to1": {"train": _names(videos, "camera", {"2"}), "test": _names(videos, "camera", {"1"})},
    }


def load_darai(
    root: str | Path,
    level: int = 2,
    on_error: OnError = "raise",
    class_names: Sequence[str] | None = None,
    layout: str = "{activity}/{modality}/{camera}",
    rgb_modality: str = "RGB",
    depth_modality: str = "Depth",
    labels_dir: str | Path = "Hierarchy_labels",
    fps: float = FPS,
    depth_scale: float = 0.001,
    max_frame_offset: int = 0,
) -> VideoDataset:
    """List DARai under ``root`` with labels of hierarchy ``level`` (1, 2 or 3); frames are decoded only when loaded.

    ``class_names`` fixes the class list (an annotation naming another action is
    then an error); by default it is every action found at that level, sorted.
    ``layout`` places the frame folders under ``root`` (the README's order is
    ``"{modality}/{activity}/{camera}"``); ``labels_dir`` is relative to ``root``
    unless absolute; ``depth_scale`` is metres per unit of 16-bit depth.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    root = Path(root)
    parts = _check_layout(layout)
    recordings = _recordings(root, parts, rgb_modality)
    if not recordings:
        raise DatasetError(f"{root}: no color frames at {layout.replace('{modality}', rgb_modality)}/<subj>_<sess>_<n>")
    annotations = _Annotations(root / labels_dir)
    policy = ErrorPolicy(on_error)
    labelled = []
    for recording in recordings:
        segments = policy.attempt(recording.name, annotations.segments, recording, level)
        if segments is not None:
            labelled.append((recording, segments))
    classes = list(class_names) if class_names is not None else sorted({s.action for _, ss in labelled for s in ss})
    options = _Options(level, fps, depth_scale, max_frame_offset)
    depth_cache: dict[Path, Frames | None] = {}
    videos = []
    for recording, segments in labelled:
        fields = dict(zip(parts, recording.folder.relative_to(root).parts, strict=True))
        depth_folder = root.joinpath(*(fields[p] if p != "{modality}" else depth_modality for p in parts))
        if depth_folder not in depth_cache:
            depth_cache[depth_folder] = _group_frames(depth_folder, _DEPTH) if depth_folder.is_dir() else None
        video = policy.attempt(
            recording.name, _darai_video, recording, segments, classes, depth_cache[depth_folder], depth_folder, options
        )
        if video is not None:
            videos.append(video)
    return VideoDataset(
        name=f"darai_l{level}",
        class_names=classes,
        videos=videos,
        splits=darai_splits(videos),
        skipped=policy.skipped,
    )
