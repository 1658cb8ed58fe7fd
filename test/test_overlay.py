"""The overlay: what the debug image and ``r3d-eval-bag --video`` draw over each colour frame."""

from __future__ import annotations

import numpy as np
import pytest

from r3d_ros.runtime.anticipator import Anticipation, SegmentEstimate
from r3d_ros.runtime.image import RawImage, decode_color, decode_depth
from r3d_ros.runtime.overlay import class_color, depth_status, future_strip_box, label_band, render_overlay

CLASSES = ["reach", "grasp", "lift", "place", "wave", "pour"]
HORIZON_S = 8.0


def tick(
    next_id: int = 1, future: list[tuple[int, float, float]] | None = None, depth: str = "present"
) -> Anticipation:
    """An anticipation of the six classes; ``future`` as (class id, start s, duration s) over an 8 s horizon."""
    future = [(0, 0.0, 4.0), (next_id, 4.0, 4.0)] if future is None else future
    probabilities = np.full(len(CLASSES), 0.1, dtype=np.float32)
    probabilities[next_id] = 0.5
    return Anticipation(
        stamp=12.0, window_start=8.8, num_frames=32, horizon_s=HORIZON_S, next_class_id=next_id,
        next_label=CLASSES[next_id], next_confidence=0.5, next_probabilities=probabilities,
        future=[SegmentEstimate(k, CLASSES[k], 0.7, start, duration) for k, start, duration in future],
        current=SegmentEstimate(0, CLASSES[0], 0.8, -1.5, 1.6), rgb_present=True,
        depth_present=depth == "present", rgb_substituted=False, depth_substituted=depth == "substituted",
        depth_missing_fraction=0.0 if depth == "present" else 1.0, fused_effective_rank=4.0, model_id="test",
    )  # fmt: skip


@pytest.fixture
def frame() -> np.ndarray:
    """A 640x480 camera frame as the node gets it: bgr8 bytes decoded to RGB."""
    y, x = np.mgrid[0:480, 0:640]
    bgr = np.stack([np.full_like(x, 90), y * 255 // 480, x * 255 // 640], axis=-1).astype(np.uint8)
    return decode_color(RawImage.from_array(bgr, "bgr8"))


@pytest.fixture
def depth() -> np.ndarray:
    """The aligned 16UC1 depth frame: a ramp from 0.5 to 4.5 m, with no reading in the top-left corner."""
    x = np.mgrid[0:480, 0:640][1]
    millimetres = (500 + 4000 * x // 640).astype(np.uint16)
    millimetres[:100, :100] = 0
    return decode_depth(RawImage.from_array(millimetres, "16UC1"))


def test_overlay_is_an_rgb_image_of_the_frame_size(frame: np.ndarray) -> None:
    image = render_overlay(frame, tick(), "present", class_names=CLASSES)
    assert image.shape == frame.shape and image.dtype == np.uint8


def test_showing_depth_doubles_the_width(frame: np.ndarray, depth: np.ndarray) -> None:
    image = render_overlay(frame, tick(), "present", depth, class_names=CLASSES)
    assert image.shape == (480, 1280, 3) and image.dtype == np.uint8


def test_depth_without_a_reading_is_black_and_readings_are_coloured(frame: np.ndarray, depth: np.ndarray) -> None:
    image = render_overlay(frame, tick(), "present", depth, class_names=CLASSES)
    depth_half = image[:, 640:]
    assert (depth_half[:100, :100] == 0).all()
    assert (depth_half[200:, :].max(axis=2) > 0).all()


def test_depth_colours_follow_distance(frame: np.ndarray, depth: np.ndarray) -> None:
    image = render_overlay(frame, tick(), "present", depth, class_names=CLASSES)
    near, far = image[300, 640 + 10].astype(int), image[300, 640 + 630].astype(int)
    assert near[2] > near[0] and far[0] > far[2]  # turbo: blue near, red far


def test_the_colour_frame_is_left_unchanged(frame: np.ndarray) -> None:
    before = frame.copy()
    render_overlay(frame, tick(), "present", class_names=CLASSES)
    assert np.array_equal(frame, before)


def test_another_next_action_gives_other_pixels(frame: np.ndarray) -> None:
    future = [(0, 0.0, 8.0)]
    grasp = render_overlay(frame, tick(1, future), "present", class_names=CLASSES)
    lift = render_overlay(frame, tick(2, future), "present", class_names=CLASSES)
    assert not np.array_equal(grasp, lift)


def test_another_future_gives_other_pixels(frame: np.ndarray) -> None:
    early = render_overlay(frame, tick(1, [(0, 0.0, 2.0), (1, 2.0, 6.0)]), "present", class_names=CLASSES)
    late = render_overlay(frame, tick(1, [(0, 0.0, 6.0), (1, 6.0, 2.0)]), "present", class_names=CLASSES)
    assert not np.array_equal(early, late)


@pytest.mark.parametrize("share", [0.25, 0.5, 0.8])
def test_future_strip_splits_at_the_segments_share_of_the_horizon(frame: np.ndarray, share: float) -> None:
    split_s = share * HORIZON_S
    future = [(0, 0.0, split_s), (1, split_s, HORIZON_S - split_s)]
    image = render_overlay(frame, tick(1, future), "present", class_names=CLASSES)
    box = future_strip_box(*frame.shape[:2])
    row = image[box.y0 + 1, box.x0 : box.x1]
    first = np.flatnonzero((row == class_color(0)).all(axis=1))
    second = np.flatnonzero((row == class_color(1)).all(axis=1))
    expected = share * (box.x1 - box.x0)
    assert first[0] == 0 and second[-1] == box.x1 - box.x0 - 1
    assert abs(first[-1] + 1 - expected) <= 2 and abs(second[0] - expected) <= 2


def test_future_past_the_horizon_ends_at_the_strip_edge(frame: np.ndarray) -> None:
    image = render_overlay(frame, tick(1, [(0, 0.0, 20.0)]), "present", class_names=CLASSES)
    box = future_strip_box(*frame.shape[:2])
    row = image[box.y0 + 1]
    assert (row[box.x0 : box.x1] == class_color(0)).all()
    assert not (row[box.x1 :] == class_color(0)).all(axis=1).any()


def test_no_anticipation_yet_draws_the_frame_with_a_waiting_note(frame: np.ndarray, depth: np.ndarray) -> None:
    image = render_overlay(frame, None, "missing", depth)
    assert image.shape == (480, 1280, 3)
    assert not np.array_equal(image[:60, :640], frame[:60])  # the note
    assert np.array_equal(image[100:, :640], frame[100:])  # nothing else


def test_a_frame_smaller_than_the_reference_still_renders() -> None:
    small = np.zeros((60, 80, 3), dtype=np.uint8)
    assert render_overlay(small, tick(), "present", np.ones((60, 80), np.float32)).shape == (60, 160, 3)


def test_anything_but_an_rgb_uint8_frame_is_refused() -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        render_overlay(np.zeros((48, 64), dtype=np.uint8), tick(), "present")


@pytest.mark.parametrize("status", ["present", "missing", "substituted"])
def test_depth_status_names_the_newest_frames_depth(status: str) -> None:
    assert depth_status(tick(depth=status)) == status


def test_depth_status_before_any_anticipation_is_missing() -> None:
    assert depth_status(None) == "missing"


def test_label_band_has_the_asked_size_and_shows_the_class_colour() -> None:
    band = label_band(640, 40, "truth: grasp", 1, verdict=False)
    assert band.shape == (40, 640, 3) and band.dtype == np.uint8
    assert (band[20, 15] == class_color(1)).all()
