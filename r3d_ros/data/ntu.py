"""NTU RGB+D (60 classes) and NTU RGB+D 120, read from the folders of the official archives.

Layout (``docs/datasets.md`` has the details)::

    root/nturgb+d_rgb/S001C002P003R002A013_rgb.avi                      1920x1080 color, 30 fps
    root/nturgb+d_depth_masked/S001C002P003R002A013/MDepth-00000001.png  512x424 uint16 mm, numbered from 1

A sample name ``SsssCcccPpppRrrrAaaa`` gives setup, camera, performer,
replication and action. Each sample is one trimmed clip of one action, so every
frame carries the clip's class. Color and depth come from different sensors of
one Kinect v2 and are not registered; both run at 30 fps, so video frame k is
paired with depth file k+1, over the frames both have (the counts are kept in
``meta``). The splits are the official cross-subject / cross-view (NTU-60) and
cross-subject / cross-setup (NTU-120) protocols, never a random split.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from r3d_ros.data._common import DepthShapeGuard, depth_image, numbered_files, read_depth_file, split
from r3d_ros.data.errors import DatasetError, ErrorPolicy, OnError
from r3d_ros.data.video import Frame, Video, VideoDataset
from r3d_ros.runtime.image import RawImage

FPS = 30.0  # the default Kinect v2 rate, used for every NTU modality (official FAQ)

# Official action titles A001..A120 (github.com/shahroudy/NTURGB-D README), apostrophes as ASCII.
NTU120_CLASSES: tuple[str, ...] = (
    "drink water",
    "eat meal/snack",
    "brushing teeth",
    "brushing hair",
    "drop",
    "pickup",
    "throw",
    "sitting down",
    "standing up (from sitting position)",
    "clapping",
    "reading",
    "writing",
    "tear up paper",
    "wear jacket",
    "take off jacket",
    "wear a shoe",
    "take off a shoe",
    "wear on glasses",
    "take off glasses",
    "put on a hat/cap",
    "take off a hat/cap",
    "cheer up",
    "hand waving",
    "kicking something",
    "put something inside pocket / take out something from pocket",
    "hopping (one foot jumping)",
    "jump up",
    "make a phone call/answer phone",
    "playing with phone/tablet",
    "typing on a keyboard",
    "pointing to something with finger",
    "taking a selfie",
    "check time (from watch)",
    "rub two hands together",
    "nod head/bow",
    "shake head",
    "wipe face",
    "salute",
    "put the palms together",
    "cross hands in front (say stop)",
    "sneeze/cough",
    "staggering",
    "falling",
    "touch head (headache)",
    "touch chest (stomachache/heart pain)",
    "touch back (backache)",
    "touch neck (neckache)",
    "nausea or vomiting condition",
    "use a fan (with hand or paper)/feeling warm",
    "punching/slapping other person",
    "kicking other person",
    "pushing other person",
    "pat on back of other person",
    "point finger at the other person",
    "hugging other person",
    "giving something to other person",
    "touch other person's pocket",
    "handshaking",
    "walking towards each other",
    "walking apart from each other",
    "put on headphone",
    "take off headphone",
    "shoot at the basket",
    "bounce ball",
    "tennis bat swing",
    "juggling table tennis balls",
    "hush (quite)",
    "flick hair",
    "thumb up",
    "thumb down",
    "make ok sign",
    "make victory sign",
    "staple book",
    "counting money",
    "cutting nails",
    "cutting paper (using scissors)",
    "snapping fingers",
    "open bottle",
    "sniff (smell)",
    "squat down",
    "toss a coin",
    "fold paper",
    "ball up paper",
    "play magic cube",
    "apply cream on face",
    "apply cream on hand back",
    "put on bag",
    "take off bag",
    "put something into a bag",
    "take something out of a bag",
    "open a box",
    "move heavy objects",
    "shake fist",
    "throw up cap/hat",
    "hands up (both hands)",
    "cross arms",
    "arm circles",
    "arm swings",
    "running on the spot",
    "butt kicks (kick backward)",
    "cross toe touch",
    "side kick",
    "yawn",
    "stretch oneself",
    "blow nose",
    "hit other person with something",
    "wield knife towards other person",
    "knock over other person (hit with body)",
    "grab other person's stuff",
    "shoot at other person with a gun",
    "step on foot",
    "high-five",
    "cheers and drink",
    "carry something with other person",
    "take a photo of other person",
    "follow other person",
    "whisper in other person's ear",
    "exchange things with other person",
    "support somebody with one's hand (someone is sick, help him to walk)",
    "finger-guessing game (playing rock-paper-scissors)",
)


def _ids(text: str) -> frozenset[int]:
    return frozenset(int(field) for field in text.split())


# Official training performers of the cross-subject protocols (NTU-60: CVPR 2016; NTU-120: TPAMI 2019).
NTU60_TRAIN_SUBJECTS = _ids("1 2 4 5 8 9 13 14 15 16 17 18 19 25 27 28 31 34 35 38")
NTU120_TRAIN_SUBJECTS = NTU60_TRAIN_SUBJECTS | _ids(
    "45 46 47 49 50 52 53 54 55 56 57 58 59 70 74 78 80 81 82 83 84 85 86 89 91 92 93 94 95 97 98 100 103"
)
NTU60_TRAIN_CAMERAS = frozenset((2, 3))  # cross-view: cameras 2 and 3 train, camera 1 tests
# NTU-60 is setups S001-S017 of NTU-120; cross-setup trains on the even setups.
LAST_SETUP = {60: 17, 120: 32}

_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")


@dataclass(frozen=True)
class NtuSample:
    """The fields of a sample name ``SsssCcccPpppRrrrAaaa``."""

    setup: int
    camera: int
    subject: int
    replication: int
    action: int  # 1-based, as in the name

    @classmethod
    def parse(cls, name: str) -> NtuSample:
        """Fields of ``name``; a name not in the official form is an error."""
        match = _NAME.fullmatch(name)
        if match is None:
            raise DatasetError(f"{name!r} is not an NTU sample name SsssCcccPpppRrrrAaaa")
        return cls(*(int(group) for group in match.groups()))


def _open_video(path: Path) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise DatasetError(f"{path}: cannot open video (truncated, corrupt or unsupported codec)")
    return capture


def _frame_count(path: Path) -> int:
    """Frames of an AVI from its header (no frame is decoded)."""
    capture = _open_video(path)
    try:
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
    if count <= 0:
        raise DatasetError(f"{path}: video reports no frames (truncated or corrupt)")
    return count


class NtuClip:
    """Lazy frames of one sample: the RGB video and its numbered depth files."""

    def __init__(self, video: Path, depth: list[Path]) -> None:
        self.video = video
        self.depth = depth
        self.guard = DepthShapeGuard(depth[0], read_depth_file)

    def __len__(self) -> int:
        return len(self.depth)

    def _frame(self, bgr: np.ndarray, index: int) -> Frame:
        color = RawImage.from_array(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), "rgb8")
        path = self.depth[index]
        depth = self.guard.load(path)
        if depth.dtype != np.uint16:
            raise DatasetError(f"{path}: NTU depth must be 16-bit millimetres, got {depth.dtype}")
        return Frame(color, depth_image(depth, path))

    def _check(self, index: int) -> None:
        if not 0 <= index < len(self):
            raise IndexError(f"{self.video.name}: frame {index} out of range (0..{len(self) - 1})")

    def load(self, index: int) -> Frame:
        """Frame ``index``: seek the video, decode one frame, read its depth file."""
        self._check(index)
        capture = _open_video(self.video)
        try:
            capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, bgr = capture.read()
        finally:
            capture.release()
        if not ok:
            raise DatasetError(f"{self.video}: cannot decode frame {index}")
        return self._frame(bgr, index)

    def load_many(self, indices: list[int]) -> Iterator[Frame]:
        """Frames at increasing ``indices`` in one pass over the video (skipped frames are only grabbed)."""
        capture = _open_video(self.video)
        try:
            position, bgr = 0, None
            for index in indices:
                self._check(index)
                if index < position - 1:
                    raise ValueError(f"{self.video.name}: indices must be increasing, got {index} after {position - 1}")
                while position <= index:
                    if position < index:
                        ok = capture.grab()
                    else:
                        ok, bgr = capture.read()
                    if not ok:
                        raise DatasetError(f"{self.video}: cannot decode frame {position}")
                    position += 1
                yield self._frame(bgr, index)
        finally:
            capture.release()


def _depth_files(folder: Path, prefix: str) -> list[Path]:
    """The depth files of a sample in frame order; numbering must run 1..N without a gap."""
    if not folder.is_dir():
        raise DatasetError(f"{folder}: depth folder missing")
    files = numbered_files(folder, re.escape(prefix) + r"(\d{8})\.png")
    if not files:
        raise DatasetError(f"{folder}: no {prefix}########.png depth frames")
    gaps = sorted(set(range(1, max(files) + 1)) - set(files))
    if gaps or min(files) != 1:
        raise DatasetError(f"{folder}: depth frames are not numbered 1..{max(files)} (missing {gaps[:5]})")
    return [files[number] for number in sorted(files)]


def _ntu_video(name: str, rgb_root: Path, depth_root: Path, depth_prefix: str, num_classes: int) -> Video:
    sample = NtuSample.parse(name)
    if not 1 <= sample.action <= num_classes:
        raise DatasetError(f"{name}: action A{sample.action:03d} is not one of the {num_classes} NTU classes")
    avi = rgb_root / f"{name}_rgb.avi"
    if not avi.is_file():
        raise DatasetError(f"{avi}: RGB video missing")
    depth = _depth_files(depth_root / name, depth_prefix)
    rgb_frames = _frame_count(avi)
    clip = NtuClip(avi, depth[: min(rgb_frames, len(depth))])
    meta = {
        "setup": str(sample.setup),
        "camera": str(sample.camera),
        "subject": str(sample.subject),
        "replication": str(sample.replication),
        "action": f"A{sample.action:03d}",
        "rgb_path": str(avi),
        "depth_path": str(depth_root / name),
        "rgb_frames": str(rgb_frames),
        "depth_frames": str(len(depth)),
    }
    return Video(
        name=name,
        stamps=np.arange(len(clip), dtype=np.float64) / FPS,
        labels=np.full(len(clip), sample.action - 1, dtype=np.int64),
        load=clip.load,
        meta=meta,
        load_many=clip.load_many,
    )


def _sample_names(rgb_root: Path, depth_root: Path, last_setup: int) -> list[str]:
    """Samples present in either modality (a sample missing one is reported when it is built)."""
    names = {path.name[: -len("_rgb.avi")] for path in rgb_root.glob("*_rgb.avi")} if rgb_root.is_dir() else set()
    names |= {path.name for path in depth_root.iterdir() if path.is_dir()} if depth_root.is_dir() else set()
    # Setups past the version's last one belong to the larger release only.
    keep = [name for name in names if not (_NAME.fullmatch(name) and int(name[1:4]) > last_setup)]
    return sorted(keep)


def ntu_splits(videos: list[Video], protocol_version: int) -> dict[str, dict[str, list[str]]]:
    """The official protocols: cross_subject and cross_view (60) or cross_setup (120)."""
    subjects = NTU60_TRAIN_SUBJECTS if protocol_version == 60 else NTU120_TRAIN_SUBJECTS
    splits = {"cross_subject": split(videos, lambda v: int(v.meta["subject"]) in subjects)}
    if protocol_version == 60:
        splits["cross_view"] = split(videos, lambda v: int(v.meta["camera"]) in NTU60_TRAIN_CAMERAS)
    else:
        splits["cross_setup"] = split(videos, lambda v: int(v.meta["setup"]) % 2 == 0)
    return splits


def load_ntu(
    root: str | Path,
    protocol_version: int = 60,
    on_error: OnError = "raise",
    rgb_dir: str = "nturgb+d_rgb",
    depth_dir: str = "nturgb+d_depth_masked",
    depth_prefix: str = "MDepth-",
) -> VideoDataset:
    """List NTU RGB+D 60 or 120 under ``root`` (frames are decoded only when loaded).

    For the full, unmasked depth maps pass ``depth_dir="nturgb+d_depth", depth_prefix="Depth-"``.
    """
    if protocol_version not in LAST_SETUP:
        raise ValueError(f"protocol_version must be 60 or 120, got {protocol_version!r}")
    root = Path(root)
    rgb_root, depth_root = root / rgb_dir, root / depth_dir
    if not rgb_root.is_dir() and not depth_root.is_dir():
        raise DatasetError(f"{root}: neither {rgb_dir}/ nor {depth_dir}/ found; is this an NTU RGB+D root?")
    policy = ErrorPolicy(on_error)
    videos = []
    for name in _sample_names(rgb_root, depth_root, LAST_SETUP[protocol_version]):
        video = policy.attempt(name, _ntu_video, name, rgb_root, depth_root, depth_prefix, protocol_version)
        if video is not None:
            videos.append(video)
    return VideoDataset(
        name=f"ntu{protocol_version}",
        class_names=list(NTU120_CLASSES[:protocol_version]),
        videos=videos,
        splits=ntu_splits(videos, protocol_version),
        skipped=policy.skipped,
    )
