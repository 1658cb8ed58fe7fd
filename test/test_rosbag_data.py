"""rosbag2 recordings as training data: writing, topic detection, pairing, labels and bad files."""

from __future__ import annotations

import pickle
import re
import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer

from r3d_ros.data import rosbag
from r3d_ros.data.bag_export import TYPESTORE, image_message, write_rgbd_bag, write_video_bag
from r3d_ros.data.errors import DatasetError
from r3d_ros.data.rosbag import load_recordings
from r3d_ros.runtime.image import RawImage, decode_color, decode_depth

START = 1_700_000_000.0  # header stamps like a real camera's (seconds since the epoch)
PERIOD = 0.1
HEIGHT, WIDTH = 6, 8
STORAGES = ["mcap", "sqlite3"]


def padded(pixels: np.ndarray, encoding: str, pad: int) -> RawImage:
    """An image whose rows carry ``pad`` bytes of padding (step > width * bytes per pixel)."""
    rows = np.ascontiguousarray(pixels).reshape(pixels.shape[0], -1).view(np.uint8)
    buffer = np.full((rows.shape[0], rows.shape[1] + pad), 0xAB, dtype=np.uint8)
    buffer[:, : rows.shape[1]] = rows
    return RawImage(buffer.tobytes(), pixels.shape[0], pixels.shape[1], encoding, buffer.shape[1])


def make_frames(count: int, missing_depth: tuple[int, ...] = ()) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """(stamp, RGB pixels, depth millimetres) per frame; depth None at ``missing_depth``."""
    rng = np.random.default_rng(count)
    frames = []
    for i in range(count):
        rgb = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
        depth = None if i in missing_depth else rng.integers(1, 5000, (HEIGHT, WIDTH), dtype=np.uint16)
        frames.append((START + i * PERIOD, rgb, depth))
    return frames


def write_frames(path: Path, frames: list, storage: str = "mcap", **topics: str) -> Path:
    """Write frames as bgr8 color and 16UC1 depth, both with padded rows."""
    images = [
        (stamp, padded(rgb[:, :, ::-1], "bgr8", 4), None if depth is None else padded(depth, "16UC1", 6))
        for stamp, rgb, depth in frames
    ]
    return write_rgbd_bag(path, images, storage=storage, **topics)


def write_labels(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(["start,end,action", *lines]) + "\n")
    return path


def write_image_bag(path: Path, topics: dict[str, list[tuple[int, object]]], storage: str = "mcap") -> Path:
    """A bag with any messages: topic -> [(stamp ns, message)]."""
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=8, storage_plugin=plugin) as writer:
        for topic, messages in topics.items():
            connection = writer.add_connection(topic, messages[0][1].__msgtype__, typestore=TYPESTORE)
            for stamp_ns, message in messages:
                writer.write(connection, stamp_ns, TYPESTORE.serialize_cdr(message, message.__msgtype__))
    return path


@pytest.fixture(params=STORAGES)
def recording(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path, list]:
    """A 6-frame recording (depth dropped at frame 4) with its label file, in each storage format."""
    frames = make_frames(6, missing_depth=(4,))
    bag = write_frames(tmp_path / "rec", frames, request.param)
    return bag, write_labels(tmp_path / "rec.csv", "0.15,0.35,grasp", "0.35,0.6,lift"), frames


def test_loaded_frames_decode_to_the_recorded_pixels(recording: tuple) -> None:
    bag, labels, frames = recording
    video = load_recordings([(bag, labels)]).videos[0]
    assert len(video) == len(frames)
    for frame, (_, rgb, depth) in zip(video.frames(range(len(video))), frames, strict=True):
        np.testing.assert_array_equal(decode_color(frame.color), rgb)
        if depth is not None:
            np.testing.assert_allclose(decode_depth(frame.depth), depth * np.float32(0.001))


def test_load_returns_the_same_frame_as_load_many(recording: tuple) -> None:
    bag, labels, _ = recording
    video = load_recordings([(bag, labels)]).videos[0]
    many = list(video.frames([1, 3, 5]))
    for index, frame in zip([1, 3, 5], many, strict=True):
        single = video.load(index)
        np.testing.assert_array_equal(decode_color(single.color), decode_color(frame.color))
        np.testing.assert_array_equal(decode_depth(single.depth), decode_depth(frame.depth))


def test_dropped_depth_frame_loads_as_none(recording: tuple) -> None:
    bag, labels, _ = recording
    video = load_recordings([(bag, labels)]).videos[0]
    assert [frame.depth is None for frame in video.frames(range(len(video)))] == [i == 4 for i in range(6)]


def test_labels_are_seconds_since_the_first_synchronized_frame(recording: tuple) -> None:
    bag, labels, frames = recording
    dataset = load_recordings([(bag, labels)])
    video = dataset.videos[0]
    assert dataset.class_names == ["grasp", "lift"]  # sorted union of the label files' actions
    np.testing.assert_allclose(video.stamps, [stamp for stamp, _, _ in frames])
    assert video.labels.tolist() == [-1, -1, 0, 0, 1, 1]


def test_load_many_reads_the_bag_in_one_pass(recording: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    bag, labels, _ = recording
    video = load_recordings([(bag, labels)]).videos[0]
    passes = []
    original = rosbag.AnyReader.messages

    def counting(self, *args, **kwargs):
        passes.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(rosbag.AnyReader, "messages", counting)
    assert len(list(video.frames(range(len(video))))) == 6
    assert len(passes) == 1


def test_video_loader_pickles_for_worker_processes(recording: tuple) -> None:
    bag, labels, frames = recording
    video = load_recordings([(bag, labels)]).videos[0]
    load = pickle.loads(pickle.dumps(video.load))
    np.testing.assert_array_equal(decode_color(load(2).color), frames[2][1])


@pytest.mark.parametrize("storage", STORAGES)
def test_single_storage_file_loads_like_the_folder(tmp_path: Path, storage: str) -> None:
    bag = write_frames(tmp_path / "rec", make_frames(3), storage)
    (storage_file,) = [p for p in bag.iterdir() if p.name != "metadata.yaml"]
    labels = write_labels(tmp_path / "rec.csv", "0.0,0.2,reach")
    assert len(load_recordings([(storage_file, labels)]).videos[0]) == 3


def test_topics_are_detected_by_type_and_encoding(tmp_path: Path) -> None:
    bag = write_frames(tmp_path / "rec", make_frames(3), color_topic="/robot/rgb", depth_topic="/robot/range")
    video = load_recordings([(bag, write_labels(tmp_path / "rec.csv", "0.0,0.2,reach"))]).videos[0]
    assert (video.meta["color_topic"], video.meta["depth_topic"]) == ("/robot/rgb", "/robot/range")


def test_two_depth_topics_are_an_error_listing_the_candidates(tmp_path: Path) -> None:
    (_, rgb, depth), stamp_ns = make_frames(1)[0], round(START * 1e9)
    color = image_message(RawImage.from_array(rgb, "rgb8"), stamp_ns, "cam")
    depth_message = image_message(RawImage.from_array(depth, "16UC1"), stamp_ns, "cam")
    topics = {
        "/color": [(stamp_ns, color)],
        "/depth": [(stamp_ns, depth_message)],
        "/aligned": [(stamp_ns, depth_message)],
    }
    bag = write_image_bag(tmp_path / "rec", topics)
    labels = write_labels(tmp_path / "rec.csv", "0.0,0.1,reach")
    with pytest.raises(DatasetError, match=r"several depth topics \(/aligned, /depth\); pass depth_topic"):
        load_recordings([(bag, labels)])
    assert load_recordings([(bag, labels)], depth_topic="/aligned").videos[0].meta["depth_topic"] == "/aligned"


def test_bag_without_a_color_topic_is_an_error(tmp_path: Path) -> None:
    (_, _, depth), stamp_ns = make_frames(1)[0], round(START * 1e9)
    depth_message = image_message(RawImage.from_array(depth, "16UC1"), stamp_ns, "cam")
    bag = write_image_bag(tmp_path / "rec", {"/depth": [(stamp_ns, depth_message)]})
    with pytest.raises(DatasetError, match=r"no color image topic; image topics: /depth \(16UC1\)"):
        load_recordings([(bag, write_labels(tmp_path / "rec.csv", "0.0,0.1,reach"))])


def test_named_topic_that_is_not_an_image_topic_is_an_error(tmp_path: Path) -> None:
    bag = write_frames(tmp_path / "rec", make_frames(2))
    labels = write_labels(tmp_path / "rec.csv", "0.0,0.1,reach")
    with pytest.raises(DatasetError, match=r"'/camera/color' is not a color image topic; image topics: .*16UC1"):
        load_recordings([(bag, labels)], color_topic="/camera/color")


def test_compressed_color_topic_is_decoded(tmp_path: Path) -> None:
    stamp_ns, (_, rgb, depth) = round(START * 1e9), make_frames(1)[0]
    depth_message = image_message(RawImage.from_array(depth, "16UC1"), stamp_ns, "cam")
    png = np.frombuffer(cv2.imencode(".png", rgb[:, :, ::-1])[1].tobytes(), dtype=np.uint8)
    compressed = TYPESTORE.types["sensor_msgs/msg/CompressedImage"]
    color = compressed(header=depth_message.header, format="bgr8; png compressed bgr8", data=png)
    bag = write_image_bag(
        tmp_path / "rec", {"/color/compressed": [(stamp_ns, color)], "/depth": [(stamp_ns, depth_message)]}
    )
    video = load_recordings([(bag, write_labels(tmp_path / "rec.csv", "0.0,0.1,reach"))]).videos[0]
    frame = video.load(0)
    np.testing.assert_array_equal(decode_color(frame.color), rgb)
    assert frame.depth is not None


def test_humble_sqlite_bag_without_message_definitions_loads(tmp_path: Path) -> None:
    bag = write_frames(tmp_path / "rec", make_frames(3), "sqlite3")
    with sqlite3.connect(bag / "rec.db3") as database:  # Humble's sqlite3 storage stores no definitions
        database.execute("DELETE FROM message_definitions")
    assert len(load_recordings([(bag, write_labels(tmp_path / "rec.csv", "0.0,0.2,reach"))]).videos[0]) == 3


def test_approximate_policy_pairs_depth_with_offset_stamps(tmp_path: Path) -> None:
    frames = make_frames(4)
    stamp_ns = [round(stamp * 1e9) for stamp, _, _ in frames]
    topics = {
        "/color": [
            (ns, image_message(RawImage.from_array(rgb, "rgb8"), ns, "cam"))
            for ns, (_, rgb, _) in zip(stamp_ns, frames, strict=True)
        ],
        "/depth": [
            (ns + 5_000_000, image_message(RawImage.from_array(d, "16UC1"), ns + 5_000_000, "cam"))
            for ns, (_, _, d) in zip(stamp_ns, frames, strict=True)
        ],
    }
    bag = write_image_bag(tmp_path / "rec", topics)
    labels = write_labels(tmp_path / "rec.csv", "0.0,0.2,reach")
    exact = load_recordings([(bag, labels)], policy="exact").videos[0]
    approximate = load_recordings([(bag, labels)], policy="approximate", slop_s=0.02).videos[0]
    assert [f.depth is None for f in exact.frames(range(4))] == [True] * 4
    assert [f.depth is None for f in approximate.frames(range(4))] == [False] * 4


def test_write_video_bag_round_trips_per_frame_labels(tmp_path: Path) -> None:
    recorded = write_frames(tmp_path / "src", make_frames(6))
    source = load_recordings([(recorded, write_labels(tmp_path / "src.csv", "0.05,0.25,grasp", "0.35,0.6,lift"))])
    bag, labels = write_video_bag(tmp_path / "copy", source.videos[0], source.class_names, storage="sqlite3")
    copy = load_recordings([(bag, labels)], class_names=source.class_names).videos[0]
    assert copy.labels.tolist() == source.videos[0].labels.tolist() == [-1, 0, 0, -1, 1, 1]
    np.testing.assert_array_equal(decode_depth(copy.load(5).depth), decode_depth(source.videos[0].load(5).depth))


def test_unknown_action_names_the_label_file_and_line(recording: tuple, tmp_path: Path) -> None:
    bag, _, _ = recording
    labels = write_labels(tmp_path / "bad.csv", "0.0,0.1,grasp", "0.1,0.2,juggle")
    with pytest.raises(DatasetError, match=rf"{re.escape(str(labels))}:3: unknown action 'juggle'"):
        load_recordings([(bag, labels)], class_names=["grasp", "lift"])


def test_labels_outside_the_recording_are_an_error_naming_the_file(recording: tuple, tmp_path: Path) -> None:
    bag, _, _ = recording
    labels = write_labels(tmp_path / "late.csv", "0.0,0.2,grasp", "1700000000.0,1700000001.0,lift")
    with pytest.raises(DatasetError, match=rf"{re.escape(str(labels))}: segment .* is outside the recording"):
        load_recordings([(bag, labels)])


@pytest.mark.parametrize("storage", STORAGES)
def test_truncated_bag_is_an_error_naming_the_bag(tmp_path: Path, storage: str) -> None:
    bag = write_frames(tmp_path / "rec", make_frames(3), storage)
    (storage_file,) = [p for p in bag.iterdir() if p.name != "metadata.yaml"]
    storage_file.write_bytes(storage_file.read_bytes()[:300])
    with pytest.raises(DatasetError, match=rf"{re.escape(str(bag))}: cannot read the bag"):
        load_recordings([(bag, write_labels(tmp_path / "rec.csv", "0.0,0.1,reach"))])


def test_missing_bag_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="bag not found"):
        load_recordings([(tmp_path / "nowhere", write_labels(tmp_path / "rec.csv", "0.0,0.1,reach"))])


def test_skip_leaves_out_bad_recordings_and_lists_them(recording: tuple, tmp_path: Path) -> None:
    bag, labels, _ = recording
    broken = tmp_path / "broken"
    broken.mkdir()
    dataset = load_recordings([(bag, labels), (broken, labels)], on_error="skip")
    assert [video.name for video in dataset.videos] == ["rec"]
    assert len(dataset.skipped) == 1 and str(broken) in dataset.skipped[0]
