"""NTU RGB+D, UTKinect-Action3D and DARai loaders on tiny fixtures written in each published format."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from r3d_ros.data.darai import load_darai
from r3d_ros.data.errors import DatasetError
from r3d_ros.data.ntu import NTU120_CLASSES, load_ntu
from r3d_ros.data.utkinect import UTKINECT_CLASSES, load_utkinect
from r3d_ros.runtime.image import decode_color, decode_depth

COLOR_SIZE = (32, 24)  # width, height
DEPTH_SIZE = (16, 12)
JPEG_TOLERANCE = 20


def frame_rgb(k: int, size: tuple[int, int] = COLOR_SIZE) -> np.ndarray:
    """A flat RGB frame whose red rises and blue falls with k, so both order and index show."""
    frame = np.empty((size[1], size[0], 3), np.uint8)
    frame[:] = (30 + 30 * k, 100, 200 - 30 * k)
    return frame


def assert_frame_color(color, k: int) -> None:
    pixels = decode_color(color).reshape(-1, 3).astype(int)
    assert np.abs(pixels.mean(axis=0) - frame_rgb(k)[0, 0]).max() < JPEG_TOLERANCE


def write_image(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def depth_mm(k: int, size: tuple[int, int] = DEPTH_SIZE) -> np.ndarray:
    return np.full((size[1], size[0]), 1000 * (k + 1), np.uint16)


# ---------------------------------------------------------------- NTU RGB+D


def make_ntu_sample(
    root: Path, name: str, rgb_frames: int = 4, depth_frames: int = 4, depth_size: tuple[int, int] = DEPTH_SIZE
) -> None:
    video = root / "nturgb+d_rgb" / f"{name}_rgb.avi"
    video.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30, COLOR_SIZE)
    for k in range(rgb_frames):
        writer.write(cv2.cvtColor(frame_rgb(k), cv2.COLOR_RGB2BGR))
    writer.release()
    folder = root / "nturgb+d_depth_masked" / name
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(depth_frames):
        assert cv2.imwrite(str(folder / f"MDepth-{k + 1:08d}.png"), depth_mm(k, depth_size))


NTU_NAMES = ["S001C001P001R001A001", "S001C002P003R001A002", "S002C003P002R002A060", "S018C001P045R001A061"]


@pytest.fixture
def ntu_root(tmp_path: Path) -> Path:
    for name in NTU_NAMES:
        make_ntu_sample(tmp_path, name)
    return tmp_path


def test_ntu_lists_samples_by_name_with_fields_in_meta(ntu_root: Path) -> None:
    dataset = load_ntu(ntu_root, protocol_version=120)
    assert [v.name for v in dataset.videos] == NTU_NAMES
    meta = dataset.videos[1].meta
    assert (meta["setup"], meta["camera"], meta["subject"], meta["replication"], meta["action"]) == (
        "1",
        "2",
        "3",
        "1",
        "A002",
    )
    assert dataset.class_names == list(NTU120_CLASSES) and dataset.class_names[0] == "drink water"


def test_ntu60_leaves_out_setups_only_in_ntu120(ntu_root: Path) -> None:
    dataset = load_ntu(ntu_root, protocol_version=60)
    assert [v.name for v in dataset.videos] == NTU_NAMES[:3]
    assert len(dataset.class_names) == 60


def test_ntu_pairs_video_frame_k_with_depth_file_k_plus_1(ntu_root: Path) -> None:
    video = load_ntu(ntu_root).videos[0]
    for k in range(len(video)):
        frame = video.load(k)
        assert_frame_color(frame.color, k)
        assert decode_depth(frame.depth, frame.depth_scale)[0, 0] == pytest.approx(k + 1)


def test_ntu_color_frames_are_rgb_order(ntu_root: Path) -> None:
    rgb = decode_color(load_ntu(ntu_root).videos[0].load(0).color)
    red, _, blue = rgb.reshape(-1, 3).mean(axis=0)
    assert red < 60 and blue > 170  # frame 0 is (30, 100, 200) in RGB


def test_ntu_masked_depth_decodes_to_metres(ntu_root: Path) -> None:
    frame = load_ntu(ntu_root).videos[0].load(2)
    metres = decode_depth(frame.depth, frame.depth_scale)
    assert metres.shape == (DEPTH_SIZE[1], DEPTH_SIZE[0])
    assert np.allclose(metres, 3.0)


def test_ntu_uses_common_length_when_frame_counts_differ(tmp_path: Path) -> None:
    make_ntu_sample(tmp_path, "S001C001P001R001A001", rgb_frames=5, depth_frames=3)
    video = load_ntu(tmp_path).videos[0]
    assert len(video) == 3
    assert (video.meta["rgb_frames"], video.meta["depth_frames"]) == ("5", "3")


def test_ntu_labels_every_frame_with_the_clip_action_at_30_fps(ntu_root: Path) -> None:
    video = load_ntu(ntu_root).videos[2]  # A060
    assert video.labels.dtype == np.int64 and set(video.labels) == {59}
    assert video.stamps.dtype == np.float64
    assert np.allclose(video.stamps, np.arange(4) / 30.0)


def test_ntu_load_many_reads_the_same_frames_as_load(ntu_root: Path) -> None:
    video = load_ntu(ntu_root).videos[0]
    assert video.load_many is not None
    for k, frame in zip([0, 2, 3], video.frames([0, 2, 3]), strict=True):
        assert np.array_equal(decode_color(frame.color), decode_color(video.load(k).color))
        assert np.array_equal(decode_depth(frame.depth), decode_depth(video.load(k).depth))


def test_ntu60_cross_subject_trains_on_the_official_subjects(ntu_root: Path) -> None:
    split = load_ntu(ntu_root, protocol_version=60).splits["cross_subject"]
    assert split == {"train": [NTU_NAMES[0], NTU_NAMES[2]], "test": [NTU_NAMES[1]]}  # P001, P002 train; P003 tests


def test_ntu60_cross_view_tests_on_camera_1(ntu_root: Path) -> None:
    split = load_ntu(ntu_root, protocol_version=60).splits["cross_view"]
    assert split == {"train": NTU_NAMES[1:3], "test": [NTU_NAMES[0]]}


def test_ntu120_cross_setup_trains_on_even_setups(ntu_root: Path) -> None:
    dataset = load_ntu(ntu_root, protocol_version=120)
    assert dataset.splits["cross_setup"] == {"train": [NTU_NAMES[2], NTU_NAMES[3]], "test": NTU_NAMES[:2]}
    assert "P045" in NTU_NAMES[3] and NTU_NAMES[3] in dataset.splits["cross_subject"]["train"]


def test_ntu_action_outside_the_version_raises(tmp_path: Path) -> None:
    make_ntu_sample(tmp_path, "S001C001P001R001A061")
    with pytest.raises(DatasetError, match=r"S001C001P001R001A061.*A061"):
        load_ntu(tmp_path, protocol_version=60)


def test_ntu_corrupt_video_raises_naming_the_file(ntu_root: Path) -> None:
    (ntu_root / "nturgb+d_rgb" / f"{NTU_NAMES[1]}_rgb.avi").write_bytes(b"not an avi" * 50)
    with pytest.raises(DatasetError, match=re.escape(f"{NTU_NAMES[1]}_rgb.avi")):
        load_ntu(ntu_root)


def test_ntu_corrupt_video_is_skipped_and_recorded(ntu_root: Path) -> None:
    (ntu_root / "nturgb+d_rgb" / f"{NTU_NAMES[1]}_rgb.avi").write_bytes(b"not an avi" * 50)
    dataset = load_ntu(ntu_root, on_error="skip")
    assert [v.name for v in dataset.videos] == [NTU_NAMES[0], NTU_NAMES[2]]
    assert len(dataset.skipped) == 1 and f"{NTU_NAMES[1]}_rgb.avi" in dataset.skipped[0]
    assert NTU_NAMES[1] not in dataset.splits["cross_subject"]["test"]


def test_ntu_gap_in_depth_numbering_raises(ntu_root: Path) -> None:
    (ntu_root / "nturgb+d_depth_masked" / NTU_NAMES[0] / "MDepth-00000002.png").unlink()
    with pytest.raises(DatasetError, match="not numbered"):
        load_ntu(ntu_root)


def test_ntu_listing_decodes_no_frame(ntu_root: Path) -> None:
    for path in (ntu_root / "nturgb+d_depth_masked" / NTU_NAMES[0]).iterdir():
        path.write_bytes(b"garbage")
    video = load_ntu(ntu_root).videos[0]  # listing succeeds; the bad file shows on load
    with pytest.raises(DatasetError, match=r"MDepth-00000001\.png"):
        video.load(0)


def test_ntu_corrupt_depth_frame_raises_on_load_naming_it(ntu_root: Path) -> None:
    (ntu_root / "nturgb+d_depth_masked" / NTU_NAMES[0] / "MDepth-00000003.png").write_bytes(b"garbage")
    video = load_ntu(ntu_root).videos[0]
    video.load(0)
    with pytest.raises(DatasetError, match=r"MDepth-00000003\.png"):
        video.load(2)


def test_ntu_wrong_size_depth_frame_raises_on_load_naming_it(ntu_root: Path) -> None:
    path = ntu_root / "nturgb+d_depth_masked" / NTU_NAMES[0] / "MDepth-00000004.png"
    cv2.imwrite(str(path), depth_mm(3, (8, 6)))
    video = load_ntu(ntu_root).videos[0]
    with pytest.raises(DatasetError, match=r"MDepth-00000004\.png.*8x6"):
        video.load(3)
    with pytest.raises(DatasetError, match=r"MDepth-00000004\.png"):
        list(video.frames([0, 3]))


# ---------------------------------------------------------------- UTKinect-Action3D

UTK_RGB = [100, 102, 104, 106, 108, 110]  # frame numbers jump: only skeleton-tracked frames were saved
UTK_DEPTH = [100, 102, 105, 108, 112]
UTK_LABELS = """\
s01_e01
walk: 100 102
sitDown: 106 108
standUp: NaN NaN
s02_e01
walk: 100 104
s03_e02
pickUp: 104 110
"""


def make_utk_sequence(root: Path, name: str, depth_size: tuple[int, int] = DEPTH_SIZE) -> None:
    for k, number in enumerate(UTK_RGB):
        write_image(root / "RGB" / name / f"colorImg{number}.jpg", frame_rgb(k, (64, 48)))
    folder = root / "depth" / name
    folder.mkdir(parents=True, exist_ok=True)
    for k, number in enumerate(UTK_DEPTH):
        raw = (depth_mm(k, depth_size) << 3) | 2  # Kinect SDK v1: millimetres << 3 | player index
        storage = cv2.FileStorage(str(folder / f"depthImg{number}.xml"), cv2.FILE_STORAGE_WRITE)
        storage.write(f"depthImg{number}", raw)
        storage.release()


@pytest.fixture
def utk_root(tmp_path: Path) -> Path:
    for name in ("s01_e01", "s02_e01", "s03_e02"):
        make_utk_sequence(tmp_path, name)
    (tmp_path / "actionLabel.txt").write_text(UTK_LABELS)
    return tmp_path


def test_utkinect_lists_sequences_with_subject_and_episode(utk_root: Path) -> None:
    dataset = load_utkinect(utk_root)
    assert [v.name for v in dataset.videos] == ["s01_e01", "s02_e01", "s03_e02"]
    assert (dataset.videos[2].meta["subject"], dataset.videos[2].meta["episode"]) == ("3", "2")
    assert dataset.class_names == list(UTKINECT_CLASSES)


def test_utkinect_labels_frames_in_inclusive_ranges_and_unlabels_the_rest(utk_root: Path) -> None:
    video = load_utkinect(utk_root).videos[0]
    walk, sit_down = UTKINECT_CLASSES.index("walk"), UTKINECT_CLASSES.index("sitDown")
    assert video.labels.tolist() == [walk, walk, -1, sit_down, sit_down, -1]


def test_utkinect_nan_range_means_unlabelled_action_not_an_error(utk_root: Path) -> None:
    video = load_utkinect(utk_root).videos[0]
    assert video.meta["unlabelled_actions"] == "standUp"
    assert UTKINECT_CLASSES.index("standUp") not in video.labels


def test_utkinect_stamps_keep_the_gaps_of_the_30_fps_frame_numbers(utk_root: Path) -> None:
    video = load_utkinect(utk_root).videos[0]
    assert np.allclose(video.stamps, (np.array(UTK_RGB) - 100) / 30.0)


def test_utkinect_pairs_same_or_nearest_depth_number_and_counts_unpaired(utk_root: Path) -> None:
    video = load_utkinect(utk_root).videos[0]
    frames = [video.load(k) for k in range(6)]
    metres = [None if f.depth is None else round(float(decode_depth(f.depth)[0, 0]), 3) for f in frames]
    # color 100, 102 exact; 104 -> 105 (offset 1); 106 -> 105; 108 exact; 110: nothing within 1
    assert metres == [1.0, 2.0, 3.0, 3.0, 4.0, None]
    assert video.meta["unpaired_color_frames"] == "1" and video.meta["unpaired_depth_frames"] == "1"


def test_utkinect_color_frames_are_rgb_order_at_their_own_resolution(utk_root: Path) -> None:
    frame = load_utkinect(utk_root).videos[0].load(3)
    rgb = decode_color(frame.color)
    assert rgb.shape == (48, 64, 3)
    assert np.abs(rgb.reshape(-1, 3).mean(axis=0) - frame_rgb(3)[0, 0]).max() < JPEG_TOLERANCE


def test_utkinect_depth_drops_player_index_bits_and_decodes_to_metres(utk_root: Path) -> None:
    frame = load_utkinect(utk_root).videos[0].load(1)
    metres = decode_depth(frame.depth, frame.depth_scale)
    assert metres.shape == (DEPTH_SIZE[1], DEPTH_SIZE[0]) and np.allclose(metres, 2.0)


def test_utkinect_cross_subject_trains_on_odd_subjects(utk_root: Path) -> None:
    split = load_utkinect(utk_root).splits["cross_subject"]
    assert split == {"train": ["s01_e01", "s03_e02"], "test": ["s02_e01"]}


def test_utkinect_leave_one_subject_out_has_a_fold_per_subject(utk_root: Path) -> None:
    splits = load_utkinect(utk_root).splits
    assert [f"loso_s{s:02d}" in splits for s in range(1, 11)] == [True] * 10
    assert splits["loso_s02"] == {"train": ["s01_e01", "s03_e02"], "test": ["s02_e01"]}


def test_utkinect_unknown_action_raises_naming_the_line(utk_root: Path) -> None:
    (utk_root / "actionLabel.txt").write_text(UTK_LABELS.replace("walk: 100 104", "jump: 100 104"))
    with pytest.raises(DatasetError, match=re.escape("actionLabel.txt:6: unknown action 'jump'")):
        load_utkinect(utk_root)


def test_utkinect_unknown_action_skips_only_its_sequence(utk_root: Path) -> None:
    (utk_root / "actionLabel.txt").write_text(UTK_LABELS.replace("walk: 100 104", "jump: 100 104"))
    dataset = load_utkinect(utk_root, on_error="skip")
    assert [v.name for v in dataset.videos] == ["s01_e01", "s03_e02"]
    assert len(dataset.skipped) == 1 and dataset.skipped[0].startswith("s02_e01: ") and "jump" in dataset.skipped[0]


def test_utkinect_overlapping_ranges_raise(utk_root: Path) -> None:
    (utk_root / "actionLabel.txt").write_text(UTK_LABELS.replace("sitDown: 106 108", "sitDown: 101 108"))
    with pytest.raises(DatasetError, match="overlaps"):
        load_utkinect(utk_root)


def test_utkinect_missing_depth_folder_is_skipped_and_counted(utk_root: Path) -> None:
    for path in (utk_root / "depth" / "s03_e02").iterdir():
        path.unlink()
    (utk_root / "depth" / "s03_e02").rmdir()
    dataset = load_utkinect(utk_root, on_error="skip")
    assert len(dataset.videos) == 2
    assert len(dataset.skipped) == 1 and "depth/s03_e02" in dataset.skipped[0]


def test_utkinect_corrupt_depth_xml_raises_on_load_naming_it(utk_root: Path) -> None:
    (utk_root / "depth" / "s01_e01" / "depthImg102.xml").write_text("<?xml version='1.0'?><opencv_storage><broken")
    video = load_utkinect(utk_root).videos[0]
    with pytest.raises(DatasetError, match=r"depthImg102\.xml"):
        video.load(1)


def test_utkinect_corrupt_color_jpg_raises_on_load_naming_it(utk_root: Path) -> None:
    (utk_root / "RGB" / "s01_e01" / "colorImg104.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(DatasetError, match=r"colorImg104\.jpg"):
        load_utkinect(utk_root).videos[0].load(2)


def test_utkinect_wrong_size_depth_raises_on_load_naming_it(utk_root: Path) -> None:
    storage = cv2.FileStorage(str(utk_root / "depth" / "s01_e01" / "depthImg108.xml"), cv2.FILE_STORAGE_WRITE)
    storage.write("depthImg108", depth_mm(0, (8, 6)) << 3)
    storage.release()
    with pytest.raises(DatasetError, match=r"depthImg108\.xml.*8x6"):
        load_utkinect(utk_root).videos[0].load(4)


# ---------------------------------------------------------------- DARai

ACTIVITIES = ("Making pancake", "Writing")
DARAI_FRAMES = range(4)
# (subject, session, camera): 10 and 16 are official test subjects, 2 validation, 3 and 5 train.
RECORDINGS = [(3, 1, 1), (10, 2, 1), (2, 1, 2), (5, 1, 2)]
LEVEL_2 = "Activity,start_frame,end_frame\nPrep ingredients,0,1\nMix ingredients,2,2\n,3,3\n"
LEVEL_3 = "Activity,start_frame,end_frame\nStir ,1,3\n"


def make_darai(root: Path, layout: str = "{activity}/{modality}/{camera}", depth_ext: str = ".npy") -> None:
    for activity in ACTIVITIES:
        for subject, session, camera in RECORDINGS:
            folder = {"{activity}": activity, "{camera}": f"camera_{camera}_fps_15"}
            rgb = root.joinpath(*(folder.get(p, "RGB" if p == "{modality}" else p) for p in layout.split("/")))
            depth = root.joinpath(*(folder.get(p, "Depth" if p == "{modality}" else p) for p in layout.split("/")))
            depth.mkdir(parents=True, exist_ok=True)
            for k in DARAI_FRAMES:
                write_image(rgb / f"{subject:02d}_{session}_{k:05d}.png", frame_rgb(k))
                path = depth / f"{subject:02d}_{session}_{k:05d}{depth_ext}"
                if depth_ext == ".npy":
                    np.save(path, depth_mm(k))
                else:
                    assert cv2.imwrite(str(path), depth_mm(k))
            labels = root / "Hierarchy_labels" / activity
            labels.mkdir(parents=True, exist_ok=True)
            stem = f"{activity}_S{subject:02d}_session{session:02d}"
            (labels / f"{stem}_Level_2_Annotations.csv").write_text(LEVEL_2)
            (labels / f"{stem}_Level_3_Annotations.csv").write_text(LEVEL_3)


@pytest.fixture
def darai_root(tmp_path: Path) -> Path:
    make_darai(tmp_path)
    return tmp_path


def test_darai_lists_a_video_per_activity_recording_and_camera(darai_root: Path) -> None:
    dataset = load_darai(darai_root)
    assert len(dataset.videos) == len(ACTIVITIES) * len(RECORDINGS)
    video = next(v for v in dataset.videos if v.name == "Making_pancake_S10_session2_camera_1_fps_15")
    assert {k: video.meta[k] for k in ("activity", "subject", "session", "camera", "level")} == {
        "activity": "Making pancake",
        "subject": "10",
        "session": "2",
        "camera": "1",
        "level": "2",
    }


def test_darai_level_1_labels_every_frame_with_the_activity(darai_root: Path) -> None:
    dataset = load_darai(darai_root, level=1)
    assert dataset.class_names == list(ACTIVITIES)
    assert [set(v.labels) for v in dataset.videos] == [{0}] * 4 + [{1}] * 4


def test_darai_level_2_labels_frames_from_the_annotation_csv(darai_root: Path) -> None:
    dataset = load_darai(darai_root, level=2)
    assert dataset.class_names == ["Mix ingredients", "Prep ingredients"]
    assert dataset.videos[0].labels.tolist() == [1, 1, 0, -1]  # the row without an activity stays unlabeled


def test_darai_level_3_labels_frames_from_the_level_3_csv(darai_root: Path) -> None:
    dataset = load_darai(darai_root, level=3)
    assert dataset.class_names == ["Stir"]
    assert dataset.videos[0].labels.tolist() == [-1, 0, 0, 0]


def test_darai_stamps_use_the_fps_in_the_camera_folder_name(darai_root: Path) -> None:
    video = load_darai(darai_root).videos[0]
    assert video.meta["fps"] == "15.0" and np.allclose(video.stamps, np.arange(4) / 15.0)


def test_darai_pairs_color_and_depth_by_frame_number_in_rgb_order(darai_root: Path) -> None:
    video = load_darai(darai_root).videos[0]
    for k in DARAI_FRAMES:
        frame = video.load(k)
        assert np.abs(decode_color(frame.color).reshape(-1, 3).mean(axis=0) - frame_rgb(k)[0, 0]).max() < 2
        assert decode_depth(frame.depth, frame.depth_scale)[0, 0] == pytest.approx(k + 1)


def test_darai_16_bit_png_depth_decodes_to_metres(tmp_path: Path) -> None:
    make_darai(tmp_path, depth_ext=".png")
    frame = load_darai(tmp_path).videos[0].load(1)
    assert np.allclose(decode_depth(frame.depth, frame.depth_scale), 2.0)


def test_darai_float_npy_depth_is_taken_as_metres(darai_root: Path) -> None:
    path = next((darai_root / "Writing" / "Depth" / "camera_1_fps_15").glob("03_1_00002.npy"))
    np.save(path, np.full((DEPTH_SIZE[1], DEPTH_SIZE[0]), 1.25, np.float32))
    video = next(v for v in load_darai(darai_root).videos if v.name == "Writing_S03_session1_camera_1_fps_15")
    assert np.allclose(decode_depth(video.load(2).depth), 1.25)


def test_darai_8_bit_depth_is_refused_not_guessed(tmp_path: Path) -> None:
    make_darai(tmp_path, depth_ext=".png")
    path = tmp_path / "Writing" / "Depth" / "camera_1_fps_15" / "03_1_00000.png"
    cv2.imwrite(str(path), np.full((DEPTH_SIZE[1], DEPTH_SIZE[0]), 200, np.uint8))
    video = next(v for v in load_darai(tmp_path).videos if v.name == "Writing_S03_session1_camera_1_fps_15")
    with pytest.raises(DatasetError, match=r"03_1_00000\.png.*uint8"):
        video.load(0)


def test_darai_cross_subject_holds_out_the_official_test_and_validation_subjects(darai_root: Path) -> None:
    dataset = load_darai(darai_root)
    subject = {v.name: v.meta["subject"] for v in dataset.videos}
    split = dataset.splits["cross_subject"]
    assert {subject[n] for n in split["train"]} == {"3", "5"}
    assert {subject[n] for n in split["val"]} == {"2"}
    assert {subject[n] for n in split["test"]} == {"10"}


def test_darai_cross_view_trains_on_one_camera_and_tests_on_the_other(darai_root: Path) -> None:
    dataset = load_darai(darai_root)
    camera = {v.name: v.meta["camera"] for v in dataset.videos}
    split = dataset.splits["cross_view_1to2"]
    assert {camera[n] for n in split["train"]} == {"1"} and {camera[n] for n in split["test"]} == {"2"}
    assert dataset.splits["cross_view_2to1"] == {"train": split["test"], "test": split["train"]}


def test_darai_readme_layout_with_modality_first_is_supported(tmp_path: Path) -> None:
    make_darai(tmp_path, layout="{modality}/{activity}/{camera}")
    dataset = load_darai(tmp_path, layout="{modality}/{activity}/{camera}")
    assert len(dataset.videos) == len(ACTIVITIES) * len(RECORDINGS)


def test_darai_action_outside_given_class_names_raises(darai_root: Path) -> None:
    with pytest.raises(DatasetError, match=re.escape("Level_2_Annotations.csv:2: unknown action 'Prep ingredients'")):
        load_darai(darai_root, class_names=["Mix ingredients"])


def test_darai_missing_annotation_is_skipped_and_recorded(darai_root: Path) -> None:
    (darai_root / "Hierarchy_labels" / "Writing" / "Writing_S05_session01_Level_2_Annotations.csv").unlink()
    dataset = load_darai(darai_root, on_error="skip")
    assert len(dataset.videos) == len(ACTIVITIES) * len(RECORDINGS) - 1
    assert len(dataset.skipped) == 1 and "Writing_S05_session01_Level_2_Annotations.csv" in dataset.skipped[0]


def test_darai_corrupt_depth_file_raises_on_load_naming_it(darai_root: Path) -> None:
    (darai_root / "Making pancake" / "Depth" / "camera_2_fps_15" / "02_1_00001.npy").write_bytes(b"garbage")
    video = next(v for v in load_darai(darai_root).videos if v.name == "Making_pancake_S02_session1_camera_2_fps_15")
    with pytest.raises(DatasetError, match=r"02_1_00001\.npy"):
        video.load(1)


def test_darai_wrong_size_depth_frame_raises_on_load_naming_it(darai_root: Path) -> None:
    np.save(darai_root / "Making pancake" / "Depth" / "camera_1_fps_15" / "03_1_00003.npy", depth_mm(3, (8, 6)))
    with pytest.raises(DatasetError, match=r"03_1_00003\.npy.*8x6"):
        load_darai(darai_root).videos[0].load(3)


def test_on_error_must_be_raise_or_skip(darai_root: Path) -> None:
    with pytest.raises(ValueError, match="on_error"):
        load_darai(darai_root, on_error="ignore")  # type: ignore[arg-type]
