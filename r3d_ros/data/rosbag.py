"""The user's own rosbag2 recordings as labelled RGB-D videos for training and evaluation.

A robotics user records their robot's camera with ``ros2 bag record`` (a rosbag2
folder with ``metadata.yaml`` and sqlite3 ``.db3`` or MCAP files, or a single
``.mcap``/``.db3`` file) and writes a label file per recording
(:mod:`r3d_ros.data.labels`). **Label times are seconds since the header stamp of
the recording's first synchronized color frame**, i.e. the first frame of the
video; a label ending well after the last frame is an error, since it almost
always means another time base (bag time, wall clock).

Color and depth are paired by header stamp with the same
:class:`~r3d_ros.runtime.sync.RGBDSynchronizer` the node uses on live topics,
so the model is trained on the pairs it will see. Loading is lazy: indexing
reads every message once for its stamp, and frames are deserialized only when
loaded (``load_many`` in a single pass over the bag), so recordings far larger
than memory can be used.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import apsw
import cv2
import numpy as np
from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.interfaces import Connection
from rosbags.rosbag2 import ReaderError
from rosbags.serde import SerdeError
from rosbags.typesys import Stores, get_typestore

from r3d_ros.config import StreamConfig
from r3d_ros.data.errors import DatasetError, ErrorPolicy, OnError
from r3d_ros.data.labels import LabelFileError, Segment, frame_labels, read_label_file
from r3d_ros.data.video import Frame, Video, VideoDataset
from r3d_ros.runtime.image import COLOR_ENCODINGS, DEPTH_ENCODINGS, ImageError, RawImage
from r3d_ros.runtime.sync import RGBDSynchronizer, SyncedFrame, synchronize

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
# A label may end this long after the last frame (an annotator marking the end of the action).
LABEL_SLACK_S = 1.0
# Humble's sqlite3 bags carry no message definitions; the image types are the same in every distro.
DEFAULT_TYPESTORE = get_typestore(Stores.ROS2_HUMBLE)
# What reading a damaged bag raises: rosbags' own errors, sqlite's, I/O, and bad field values.
BAG_ERRORS = (AnyReaderError, ReaderError, apsw.Error, OSError, ValueError)


class _Ref(NamedTuple):
    """Where one message is: its topic, bag timestamp and header stamp (unique within a bag)."""

    topic: str
    bag_ns: int
    stamp_ns: int


Stream = list[tuple[float, _Ref]]  # (header stamp in seconds, message) of one topic


def header_stamp_ns(message: Any) -> int:
    """Header stamp of a deserialized message in integer nanoseconds."""
    return message.header.stamp.sec * 10**9 + message.header.stamp.nanosec


@contextmanager
def open_bag(bag: Path) -> Iterator[AnyReader]:
    """An open reader on ``bag``; any failure to read it is a DatasetError naming the bag."""
    if not bag.exists():
        raise DatasetError(f"bag not found: {bag}")
    try:
        with AnyReader([bag], default_typestore=DEFAULT_TYPESTORE) as reader:
            yield reader
    except DatasetError:
        raise
    except BAG_ERRORS as error:
        raise DatasetError(f"{bag}: cannot read the bag ({type(error).__name__}: {error})") from error


def deserialize(reader: AnyReader, raw: bytes, msgtype: str) -> Any | None:
    """The message in ``raw``, or None when its bytes do not deserialize (a truncated or corrupt record).

    One damaged message must cost one frame, not the whole recording.
    """
    try:
        return reader.deserialize(raw, msgtype)
    except SerdeError:
        return None


def read_messages(reader: AnyReader, topics: Sequence[str]) -> Iterator[tuple[Connection, int, Any | None]]:
    """(connection, bag time ns, message or None when unreadable) of ``topics``, in bag order."""
    connections = [c for c in reader.connections if c.topic in topics]
    for connection, bag_ns, raw in reader.messages(connections):
        yield connection, bag_ns, deserialize(reader, raw, connection.msgtype)


def _role(msgtype: str, message: Any) -> tuple[str | None, str]:
    """("color", "depth" or None, description) of an image topic, judged by its first message."""
    if message is None:
        return None, "first message unreadable"
    if msgtype == COMPRESSED:
        return (None if "compressedDepth" in message.format else "color"), f"compressed {message.format}"
    encoding = message.encoding
    role = "depth" if encoding in DEPTH_ENCODINGS else "color" if encoding in COLOR_ENCODINGS else None
    return role, encoding


def select_topics(reader: AnyReader, bag: Path, color_topic: str | None, depth_topic: str | None) -> tuple[str, str]:
    """The color and depth topics: the given names, checked, or the only candidate of each role.

    Raw images are preferred to compressed ones; anything ambiguous is an error
    listing the image topics, so the caller can name the right ones. Roles are
    judged by each topic's first message, so a named topic is refused only when
    that message clearly has the other role: a malformed first message (an
    unknown encoding, unreadable bytes) must not make a recording unusable when
    the user says which topic is which; the frame itself is counted and dropped later.
    """
    described = {}  # topic -> (msgtype, role, description)
    for name, info in reader.topics.items():
        if info.msgtype not in (IMAGE, COMPRESSED):
            continue
        first = next(reader.messages(info.connections), None)
        if first is None:
            described[name] = (info.msgtype, None, "no messages")
        else:
            described[name] = (info.msgtype, *_role(info.msgtype, deserialize(reader, first[2], info.msgtype)))
    listing = ", ".join(f"{name} ({text})" for name, (_, _, text) in sorted(described.items())) or "none"

    def pick(role: str, given: str | None, msgtypes: tuple[str, ...]) -> str:
        if given is not None:
            if given not in described or described[given][0] not in msgtypes or described[given][1] not in (role, None):
                raise DatasetError(f"{bag}: {given!r} is not a {role} image topic; image topics: {listing}")
            return given
        for msgtype in msgtypes:
            candidates = sorted(n for n, (t, r, _) in described.items() if t == msgtype and r == role)
            if len(candidates) == 1:
                return candidates[0]
            if candidates:
                raise DatasetError(f"{bag}: several {role} topics ({', '.join(candidates)}); pass {role}_topic")
        raise DatasetError(f"{bag}: no {role} image topic; image topics: {listing}")

    return pick("color", color_topic, (IMAGE, COMPRESSED)), pick("depth", depth_topic, (IMAGE,))


def raw_image(message: Any, msgtype: str) -> RawImage:
    """A deserialized image message as a RawImage; compressed color is decoded here."""
    if msgtype == COMPRESSED:
        bgr = cv2.imdecode(message.data, cv2.IMREAD_COLOR)
        if bgr is None:
            stamp = header_stamp_ns(message)
            raise ImageError(f"compressed image ({message.format}) at stamp {stamp} ns cannot be decoded")
        return RawImage.from_array(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), "rgb8")
    return RawImage(
        message.data, message.height, message.width, message.encoding, message.step, bool(message.is_bigendian)
    )


class _BagFrames:
    """Loads synchronized frames of one bag on demand; holds only paths and message refs, so it pickles."""

    def __init__(self, bag: Path, pairs: list[tuple[_Ref, _Ref | None]]) -> None:
        self.bag = bag
        self.pairs = pairs
        self.topics = {ref.topic for pair in pairs for ref in pair if ref is not None}

    def load(self, index: int) -> Frame:
        """Frame ``index``."""
        with closing(self.load_many([index])) as frames:  # closes the bag now, not at garbage collection
            return next(frames)

    def load_many(self, indices: list[int]) -> Iterator[Frame]:
        """Frames at ``indices`` (increasing), in one pass over the part of the bag that holds them."""
        wanted = [self.pairs[i] for i in indices]
        uses = Counter(ref for pair in wanted for ref in pair if ref is not None)
        if not uses:
            return
        keys = {(ref.topic, ref.bag_ns) for ref in uses}  # to skip other messages undeserialized
        images: dict[_Ref, RawImage] = {}
        done = 0
        with open_bag(self.bag) as reader:
            connections = [c for c in reader.connections if c.topic in self.topics]
            start, stop = min(r.bag_ns for r in uses), max(r.bag_ns for r in uses) + 1
            for connection, bag_ns, raw in reader.messages(connections, start, stop):
                if (connection.topic, bag_ns) not in keys:
                    continue
                message = reader.deserialize(raw, connection.msgtype)
                ref = _Ref(connection.topic, bag_ns, header_stamp_ns(message))
                if not uses[ref] or ref in images:
                    continue
                images[ref] = raw_image(message, connection.msgtype)
                while done < len(wanted) and all(r is None or r in images for r in wanted[done]):
                    color, depth = wanted[done]
                    yield Frame(images[color], None if depth is None else images[depth])
                    for used in (ref for ref in (color, depth) if ref is not None):
                        uses[used] -= 1
                        if not uses[used]:
                            del images[used]
                    done += 1
        if done < len(wanted):
            raise DatasetError(f"{self.bag}: messages of frame {indices[done]} are missing; was the bag changed?")


def _read_streams(reader: AnyReader, topics: tuple[str, str]) -> tuple[Stream, Stream]:
    """(color, depth) lists of (header stamp seconds, message ref), in bag order."""
    streams: dict[str, Stream] = {topic: [] for topic in topics}
    connections = [c for c in reader.connections if c.topic in streams]
    for connection, bag_ns, raw in reader.messages(connections):
        stamp_ns = header_stamp_ns(reader.deserialize(raw, connection.msgtype))
        streams[connection.topic].append((stamp_ns / 1e9, _Ref(connection.topic, bag_ns, stamp_ns)))
    return streams[topics[0]], streams[topics[1]]


@dataclasses.dataclass
class _Recording:
    """One bag indexed and checked against its labels; becomes a Video once the classes are known."""

    bag: Path
    label_path: Path
    topics: tuple[str, str]
    frames: list[SyncedFrame]
    segments: list[Segment]
    sync_stats: str

    def video(self, name: str, class_names: Sequence[str]) -> Video:
        stamps = np.array([frame.stamp_s for frame in self.frames], dtype=np.float64)
        loader = _BagFrames(self.bag, [(frame.color, frame.depth) for frame in self.frames])
        meta = {
            "source": str(self.bag),
            "labels": str(self.label_path),
            "color_topic": self.topics[0],
            "depth_topic": self.topics[1],
            "sync": self.sync_stats,
        }
        labels = frame_labels(stamps - stamps[0], self.segments, class_names)
        return Video(name, stamps, labels, loader.load, meta, loader.load_many)


def _index_recording(
    bag: Path,
    label_path: Path,
    class_names: Sequence[str] | None,
    topics: tuple[str | None, str | None],
    sync: RGBDSynchronizer,
) -> _Recording:
    try:
        segments = read_label_file(label_path, class_names)
    except LabelFileError as error:
        raise DatasetError(str(error)) from None
    with open_bag(bag) as reader:
        chosen = select_topics(reader, bag, *topics)
        colors, depths = _read_streams(reader, chosen)
    frames = synchronize(colors, depths, sync)
    if not frames:
        raise DatasetError(f"{bag}: no color frames on {chosen[0]}")
    duration = frames[-1].stamp_s - frames[0].stamp_s
    for segment in segments:
        if segment.end > duration + LABEL_SLACK_S:
            raise DatasetError(
                f"{label_path}: segment {segment.start:g}-{segment.end:g} {segment.action!r} is outside the recording: "
                f"{bag} has {duration:.3f} s of synchronized frames "
                "(label times are seconds since the first synchronized color frame)"
            )
    stats = ", ".join(f"{key}={value}" for key, value in dataclasses.asdict(sync.stats).items())
    return _Recording(bag, label_path, chosen, frames, segments, stats)


def load_recordings(
    recordings: Sequence[tuple[str | Path, str | Path]],
    class_names: Sequence[str] | None = None,
    color_topic: str | None = None,
    depth_topic: str | None = None,
    policy: str = StreamConfig.sync_policy,
    slop_s: float = StreamConfig.sync_slop_s,
    depth_timeout_s: float = StreamConfig.depth_timeout_s,
    on_error: OnError = "raise",
) -> VideoDataset:
    """``(bag, label file)`` pairs -> a VideoDataset of lazily loaded, synchronized RGB-D videos.

    Topics are taken by name, or found by type and first message's encoding when
    there is one color and one depth image topic. ``class_names`` defaults to the
    sorted actions of all label files. A bad recording raises DatasetError, or
    with ``on_error="skip"`` is left out and listed in ``dataset.skipped``.
    """
    errors = ErrorPolicy(on_error)
    indexed = []
    for bag, label_path in recordings:
        sync = RGBDSynchronizer(policy, slop_s, depth_timeout_s)
        topics = (color_topic, depth_topic)
        recording = errors.attempt(str(bag), _index_recording, Path(bag), Path(label_path), class_names, topics, sync)
        if recording is not None:
            indexed.append(recording)
    names = list(class_names) if class_names is not None else sorted({s.action for r in indexed for s in r.segments})
    stems = [r.bag.stem if r.bag.is_file() else r.bag.name for r in indexed]
    video_names = stems if len(set(stems)) == len(stems) else [str(r.bag) for r in indexed]
    videos = [r.video(name, names) for r, name in zip(indexed, video_names, strict=True)]
    return VideoDataset("rosbag", names, videos, skipped=errors.skipped)
