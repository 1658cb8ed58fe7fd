"""The synthetic RGB-D benchmark: determinism, labels, the action chain, metric depth, depth-only twins, knobs."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest

from r3d_ros.config import ConfigError
from r3d_ros.data import synthetic
from r3d_ros.data.render import CAMERA_HEIGHT_M, WALL_DEPTH_M, Camera
from r3d_ros.data.render_memo import RenderMemo
from r3d_ros.data.synthetic import (
    DEPTH_ONLY_CLASSES,
    R_HEAD,
    RGB_TWINS,
    STEP_SCALE,
    SUCCESSORS,
    SYNTHETIC_CLASSES,
    TRANSITIONS,
    ActionSegment,
    SyntheticConfig,
    VideoPlan,
    arms_in_depth,
    depth_without_arms,
    generate_synthetic,
    plan_video,
    render_scene,
    visible_arms,
)
from r3d_ros.data.video import Frame
from r3d_ros.runtime.image import decode_color, decode_depth

# Every sensor effect off, so one knob at a time can be turned on against it.
QUIET = {
    "rgb_noise": 0.0,
    "depth_noise": 0.0,
    "occlusion": 0.0,
    "depth_dropout": 0.0,
    "depth_missing_frames": 0.0,
    "lighting_gain": 0.0,
    "lighting_flicker": 0.0,
}


def small(**overrides: object) -> SyntheticConfig:
    fields = {"num_train": 2, "num_test": 1, "seconds": 4.0, "fps": 5.0, "height": 60, "width": 80}
    return SyntheticConfig(**(fields | overrides))


def arrays(frame: Frame) -> tuple[np.ndarray, np.ndarray | None]:
    depth = None if frame.depth is None else decode_depth(frame.depth, frame.depth_scale)
    return decode_color(frame.color), depth


def only(plan: VideoPlan, action: str) -> VideoPlan:
    """``plan`` (same person, room and position) doing nothing but ``action`` for 3 s."""
    segment = ActionSegment(0.0, 3.0, SYNTHETIC_CLASSES.index(action), 1.0, 1.0, 0.5)
    return dataclasses.replace(plan, segments=(segment,))


def test_same_config_gives_identical_frames() -> None:
    first, second = generate_synthetic(small()), generate_synthetic(small())
    for a, b in zip(first.videos, second.videos, strict=True):
        assert np.array_equal(a.labels, b.labels)
        for index in (0, len(a) - 1):
            frame_a, frame_b = a.load(index), b.load(index)
            assert np.array_equal(frame_a.color.data, frame_b.color.data)
            assert np.array_equal(frame_a.depth.data, frame_b.depth.data)


def test_frames_requested_out_of_order_equal_frames_in_order() -> None:
    config = small(depth_missing_frames=0.3, occlusion=0.5)
    in_order = [arrays(f) for f in generate_synthetic(config).videos[0].frames(range(8))]
    video = generate_synthetic(config).videos[0]
    for index in (5, 2, 7, 0, 3, 1, 6, 4):
        color, depth = arrays(video.load(index))
        assert np.array_equal(color, in_order[index][0])
        assert (depth is None and in_order[index][1] is None) or np.array_equal(depth, in_order[index][1])


SENSOR_EFFECTS = {
    "rgb_noise": 10.0,
    "depth_noise": 0.05,
    "occlusion": 0.5,
    "depth_dropout": 0.2,
    "depth_missing_frames": 0.3,
    "lighting_flicker": 0.1,
}


def first_frames(config: SyntheticConfig, count: int = 6) -> list[tuple[np.ndarray, np.ndarray | None]]:
    return [arrays(frame) for frame in generate_synthetic(config).videos[0].frames(range(count))]


def assert_same_frames(first: list, second: list) -> None:
    for (color_a, depth_a), (color_b, depth_b) in zip(first, second, strict=True):
        assert np.array_equal(color_a, color_b)
        assert (depth_a is None and depth_b is None) or np.array_equal(depth_a, depth_b)


def test_sensor_variants_rendered_one_after_another_equal_each_rendered_alone(monkeypatch) -> None:
    sleeves = {"ir_absorbing_sleeves": 1.0, "sleeve_holes_filled": True}  # the sleeves' extra renders are shared too
    variants = [small(**sleeves), small(**sleeves, **SENSOR_EFFECTS)]
    monkeypatch.setattr(synthetic, "_RENDERS", RenderMemo())
    together = [first_frames(config) for config in variants]
    assert len(synthetic._RENDERS) == 6  # one clean render per frame served both variants
    for config, frames in zip(variants, together, strict=True):
        monkeypatch.setattr(synthetic, "_RENDERS", RenderMemo())
        assert_same_frames(frames, first_frames(config))


def test_a_variant_that_moves_the_person_renders_its_own_scenes(monkeypatch) -> None:
    monkeypatch.setattr(synthetic, "_RENDERS", RenderMemo())
    near = first_frames(small(min_distance_m=1.8, max_distance_m=1.8))
    far = first_frames(small(min_distance_m=3.6, max_distance_m=3.6))
    assert len(synthetic._RENDERS) == 12
    assert not np.array_equal(near[0][1], far[0][1])


def test_different_seeds_give_different_videos() -> None:
    first, second = generate_synthetic(small(seed=0)), generate_synthetic(small(seed=1))
    color_a, depth_a = arrays(first.videos[0].load(0))
    color_b, depth_b = arrays(second.videos[0].load(0))
    assert not np.array_equal(color_a, color_b)
    assert not np.array_equal(depth_a, depth_b)


def test_dataset_names_splits_stamps_and_meta() -> None:
    config = small(num_train=3, num_test=2, seconds=2.0, fps=10.0)
    dataset = generate_synthetic(config)
    assert dataset.class_names == list(SYNTHETIC_CLASSES)
    assert dataset.splits == {
        "default": {
            "train": ["synthetic_train_0000", "synthetic_train_0001", "synthetic_train_0002"],
            "test": ["synthetic_test_0000", "synthetic_test_0001"],
        }
    }
    for video in dataset.videos:
        assert re.fullmatch(r"synthetic_(train|test)_\d{4}", video.name)
        assert video.stamps.dtype == np.float64 and video.labels.dtype == np.int64
        np.testing.assert_allclose(video.stamps, np.arange(20) / 10.0)
        assert video.meta["split"] == video.name.split("_")[1]
        assert video.meta["seed"] == "0"
        assert video.meta["depth_only"].split(",") == list(DEPTH_ONLY_CLASSES)
    assert set(DEPTH_ONLY_CLASSES) < set(SYNTHETIC_CLASSES)


def test_labels_cover_every_frame_and_follow_segment_boundaries() -> None:
    config = small(seconds=30.0, fps=10.0)
    video = generate_synthetic(config).videos[1]
    plan = plan_video(config, "train", 1)
    assert len(video.labels) == 300 and (video.labels >= 0).all()
    expected = [plan.segment_at(t).action for t in video.stamps]
    assert video.labels.tolist() == expected
    changes = np.flatnonzero(np.diff(video.labels)) + 1
    starts = [s.start for s in plan.segments[1:] if s.start <= video.stamps[-1]]
    assert all(video.stamps[i - 1] < start <= video.stamps[i] for i, start in zip(changes, starts, strict=True))


def test_generated_sequences_follow_the_transition_matrix() -> None:
    config = small(seconds=600.0, fps=1.0)
    counts = np.zeros_like(TRANSITIONS)
    for index in range(20):
        actions = [s.action for s in plan_video(config, "train", index).segments]
        np.add.at(counts, (actions[:-1], actions[1:]), 1)
    empirical = counts / counts.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(empirical, TRANSITIONS, atol=0.08)
    for name, (primary, _) in SUCCESSORS.items():
        row = empirical[SYNTHETIC_CLASSES.index(name)]
        assert row[[SYNTHETIC_CLASSES.index(c) for c in primary]].sum() > 0.6
        assert row[SYNTHETIC_CLASSES.index(name)] == 0  # a segment never repeats its class


def test_twins_share_predecessors_but_not_successors() -> None:
    for name, twin in RGB_TWINS.items():
        i, j = SYNTHETIC_CLASSES.index(name), SYNTHETIC_CLASSES.index(twin)
        np.testing.assert_allclose(TRANSITIONS[:, i], TRANSITIONS[:, j])  # RGB history cannot tell them apart
        assert SUCCESSORS[name][0] != SUCCESSORS[twin][0]  # what comes next depends on which twin it was


def test_depth_is_metric() -> None:
    config = small(height=120, width=160)
    camera = Camera.from_hfov(config.height, config.width)
    plan = plan_video(config, "train", 0)
    _, depth, mask = render_scene(only(plan, "idle"), camera, 0.0)
    size = plan.appearance.size
    head = np.array([plan.x, CAMERA_HEIGHT_M - 1.63 * size, plan.distance])
    u, v = np.rint(camera.project(head)).astype(int)
    assert depth[v, u] == pytest.approx(plan.distance - R_HEAD * size, abs=0.01)
    assert depth[0, 0] == pytest.approx(WALL_DEPTH_M)
    column = 0 if not mask[-1, 0] else -1
    floor = CAMERA_HEIGHT_M * camera.fy / (config.height - 1 - camera.cy)
    assert depth[-1, column] == pytest.approx(floor, rel=1e-6)


def test_frames_encode_the_render_in_millimetres() -> None:
    config = small(**QUIET)
    camera = Camera.from_hfov(config.height, config.width)
    video = generate_synthetic(config).videos[0]
    color, depth = arrays(video.load(3))
    clean_rgb, clean_depth, _ = render_scene(plan_video(config, "train", 0), camera, float(video.stamps[3]))
    assert np.abs(color.astype(float) - clean_rgb).max() <= 0.5
    assert np.abs(depth - clean_depth).max() <= 0.0005 + 1e-6


@pytest.mark.parametrize("pair", [("push", "pull"), ("step_toward", "step_away")])
def test_depth_only_twins_look_the_same_in_rgb_and_differ_in_depth(pair: tuple[str, str]) -> None:
    config = small(height=120, width=160)
    camera = Camera.from_hfov(config.height, config.width)
    for index in range(3):
        plan = plan_video(config, "train", index)
        for t in (0.6, 1.5, 2.4):
            (rgb_a, depth_a, mask_a), (rgb_b, depth_b, mask_b), (rgb_c, _, mask_c) = (
                render_scene(only(plan, name), camera, t) for name in (*pair, "wave")
            )
            twin_gap = np.abs(rgb_a - rgb_b).max(axis=2)[mask_a | mask_b]  # 0-255 scale, figure pixels
            assert twin_gap.mean() < 0.1
            assert (twin_gap > 20).mean() < 0.001
            assert np.abs(rgb_a - rgb_c).max(axis=2)[mask_a | mask_c].mean() > 2.0  # an RGB class is far off
            depth_gap = np.abs(depth_a - depth_b)[mask_a & mask_b]
            assert (depth_gap > 0.2).mean() > 0.015


def test_step_twins_differ_by_the_configured_distance() -> None:
    config = small(height=120, width=160)
    camera = Camera.from_hfov(config.height, config.width)
    plan = plan_video(config, "test", 0)
    toward, away = (render_scene(only(plan, name), camera, 1.5) for name in ("step_toward", "step_away"))
    gap = np.median(away[1][away[2]]) - np.median(toward[1][toward[2]])
    assert gap == pytest.approx(2 * STEP_SCALE * plan.distance, rel=0.08)


def test_rgb_noise_has_the_configured_std() -> None:
    quiet, noisy = generate_synthetic(small(**QUIET)), generate_synthetic(small(**(QUIET | {"rgb_noise": 8.0})))
    clean, color = arrays(quiet.videos[0].load(0))[0], arrays(noisy.videos[0].load(0))[0]
    inside = (clean > 40) & (clean < 215)
    assert np.std(color[inside].astype(float) - clean[inside]) == pytest.approx(8.0, rel=0.1)


def test_depth_noise_grows_with_distance_squared() -> None:
    quiet, noisy = generate_synthetic(small(**QUIET)), generate_synthetic(small(**(QUIET | {"depth_noise": 0.01})))
    clean, depth = arrays(quiet.videos[0].load(0))[1], arrays(noisy.videos[0].load(0))[1]
    relative = (depth - clean) / clean**2
    for band in ((clean < 3.5), (clean > 4.9)):
        assert np.std(relative[band]) == pytest.approx(0.01, rel=0.15)


def test_depth_dropout_zeroes_that_fraction_of_pixels() -> None:
    dataset = generate_synthetic(small(**(QUIET | {"depth_dropout": 0.25})))
    zeros = [np.mean(arrays(f)[1] == 0) for f in dataset.videos[0].frames(range(4))]
    assert np.mean(zeros) == pytest.approx(0.25, abs=0.02)
    assert np.mean(arrays(generate_synthetic(small(**QUIET)).videos[0].load(0))[1] == 0) == 0


def test_depth_missing_frames_gives_frames_without_depth() -> None:
    config = small(**(QUIET | {"depth_missing_frames": 0.5}), seconds=40.0, height=32, width=32)
    video = generate_synthetic(config).videos[0]
    frames = [video.load(i) for i in range(len(video))]
    missing = np.mean([f.depth is None for f in frames])
    assert missing == pytest.approx(0.5, abs=0.15)
    assert all(f.color is not None for f in frames)
    always = generate_synthetic(dataclasses.replace(config, depth_missing_frames=1.0)).videos[0]
    assert all(always.load(i).depth is None for i in range(5))


def test_ir_absorbing_sleeves_leave_the_arms_without_depth_and_the_colour_unchanged() -> None:
    config = small(**QUIET)
    camera = Camera.from_hfov(config.height, config.width)
    plain = generate_synthetic(config).videos[0]
    sleeved = generate_synthetic(dataclasses.replace(config, ir_absorbing_sleeves=1.0)).videos[0]
    plan = plan_video(config, "train", 0)
    for index in range(3):
        t = float(plain.stamps[index])
        arms = visible_arms(plan, camera, t, render_scene(plan, camera, t)[1])
        (color, depth), (sleeved_color, sleeved_depth) = arrays(plain.load(index)), arrays(sleeved.load(index))
        assert arms.sum() > 20
        np.testing.assert_array_equal(sleeved_color, color)
        assert (sleeved_depth[arms] == 0).all() and (depth[arms] > 0).all()
        np.testing.assert_array_equal(sleeved_depth[~arms], depth[~arms])


def test_filled_sleeve_holes_read_the_depth_behind_the_arms() -> None:
    config = small(**QUIET)
    camera = Camera.from_hfov(config.height, config.width)
    plain = generate_synthetic(config).videos[0]
    filled_config = dataclasses.replace(config, ir_absorbing_sleeves=1.0, sleeve_holes_filled=True)
    filled = generate_synthetic(filled_config).videos[0]
    plan = plan_video(config, "train", 0)
    for index in range(3):
        t = float(plain.stamps[index])
        arms = visible_arms(plan, camera, t, render_scene(plan, camera, t)[1])
        (color, depth), (filled_color, filled_depth) = arrays(plain.load(index)), arrays(filled.load(index))
        np.testing.assert_array_equal(filled_color, color)
        behind = np.rint(depth_without_arms(plan, camera, t) * 1000) / 1000
        np.testing.assert_allclose(filled_depth[arms], behind[arms])
        assert (filled_depth[arms] > depth[arms]).all()
        np.testing.assert_array_equal(filled_depth[~arms], depth[~arms])


def test_ir_absorbing_sleeves_are_drawn_per_video() -> None:
    videos = generate_synthetic(small(**QUIET, num_train=40, num_test=0, ir_absorbing_sleeves=0.5)).videos
    without_depth = [np.mean(arrays(video.load(0))[1] == 0) > 0 for video in videos]
    assert 10 <= sum(without_depth) <= 30


def test_arms_in_depth_names_the_videos_rendered_without_arm_depth() -> None:
    config = small(**QUIET, num_train=12, num_test=0, ir_absorbing_sleeves=0.5)
    videos = generate_synthetic(config).videos
    without_depth = [bool(np.mean(arrays(video.load(0))[1] == 0) > 0) for video in videos]
    assert [not arms_in_depth(config, video) for video in videos] == without_depth
    assert 0 < sum(without_depth) < len(videos)


def test_a_knob_added_later_stays_out_of_the_metadata_at_its_default() -> None:
    # Cache keys include the generator metadata: renders made before the knob existed stay valid.
    default, sleeved = small(), small(ir_absorbing_sleeves=0.5)
    generator = json.loads(generate_synthetic(default).videos[0].meta["generator"])
    assert "ir_absorbing_sleeves" not in generator and "sleeve_holes_filled" not in generator
    assert json.loads(generate_synthetic(sleeved).videos[0].meta["generator"])["ir_absorbing_sleeves"] == 0.5


def test_occlusion_covers_part_of_the_figure_in_both_modalities() -> None:
    config = small(**QUIET)
    camera = Camera.from_hfov(config.height, config.width)
    video = generate_synthetic(dataclasses.replace(config, occlusion=1.0)).videos[0]
    for index in range(3):
        clean_rgb, clean_depth, mask = render_scene(plan_video(config, "train", 0), camera, float(video.stamps[index]))
        color, depth = arrays(video.load(index))
        changed = np.abs(color - clean_rgb).max(axis=2) > 0.5
        assert (changed & mask).any()
        assert changed.mean() < 0.5
        assert (depth[changed] < clean_depth[mask].min()).all()  # the occluder stands in front of the figure


def test_lighting_gain_scales_brightness_per_video() -> None:
    flat, lit = generate_synthetic(small(**QUIET)), generate_synthetic(small(**(QUIET | {"lighting_gain": 0.5})))
    ratios = []
    for index in range(2):
        base, bright = arrays(flat.videos[index].load(0))[0], arrays(lit.videos[index].load(0))[0]
        unclipped = (bright < 250) & (base > 20)
        ratio = bright[unclipped].mean() / base[unclipped].mean()
        assert ratio == pytest.approx(plan_video(small(lighting_gain=0.5), "train", index).gain, rel=0.02)
        ratios.append(ratio)
    assert max(abs(r - 1) for r in ratios) > 0.05


def test_lighting_flicker_varies_brightness_per_frame() -> None:
    flat, flicker = generate_synthetic(small(**QUIET)), generate_synthetic(small(**(QUIET | {"lighting_flicker": 0.1})))
    ratios = [arrays(flicker.videos[0].load(i))[0].mean() / arrays(flat.videos[0].load(i))[0].mean() for i in range(20)]
    assert 0.05 < np.std(ratios) < 0.15


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("num_train", -1),
        ("num_test", -1),
        ("seconds", 0.0),
        ("fps", 0.0),
        ("height", 16),
        ("width", 5000),
        ("min_distance_m", 1.0),
        ("max_distance_m", 2.0),
        ("rgb_noise", -1.0),
        ("depth_noise", 0.5),
        ("occlusion", 1.5),
        ("occlusion_size", 0.0),
        ("depth_dropout", 1.0),
        ("depth_missing_frames", -0.1),
        ("ir_absorbing_sleeves", 1.5),
        ("lighting_gain", 1.0),
        ("lighting_flicker", -0.1),
        ("seed", -1),
    ],
)
def test_invalid_knob_raises_config_error_naming_it(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"^{field}:"):
        SyntheticConfig(**{field: value})


def test_renders_at_480x640() -> None:
    video = generate_synthetic(small(height=480, width=640, num_test=0, num_train=1)).videos[0]
    color, depth = arrays(video.load(0))
    assert color.shape == (480, 640, 3) and depth.shape == (480, 640)
    assert 1.5 < np.median(depth[depth > 0]) <= WALL_DEPTH_M + 0.5


def test_load_rejects_frames_outside_the_video() -> None:
    video = generate_synthetic(small()).videos[0]
    with pytest.raises(IndexError):
        video.load(len(video))
