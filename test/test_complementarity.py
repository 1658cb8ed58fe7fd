"""What RGB could add to depth: the either-baseline oracle over the single-modality baselines."""

from __future__ import annotations

import numpy as np
import pytest

from r3d_ros.config import R3DConfig
from r3d_ros.data.prepared import PreparedVideo
from r3d_ros.data.sampling import protocol_window
from r3d_ros.eval.complementarity import ROWS, Recognition, complementarity, recognition
from r3d_ros.model.r3d import R3DModel


def recognised(observed: list[list[bool]], near: list[list[bool]], last: list[bool]) -> Recognition:
    return Recognition([np.array(o) for o in observed], [np.array(n) for n in near], last)


def video(config: R3DConfig, frames: int, seed: int) -> PreparedVideo:
    rng = np.random.default_rng(seed)
    size = config.model.input
    labels = np.repeat(np.arange(4), frames // 4 + 1)[:frames].astype(np.int64)
    labels[0] = -1
    return PreparedVideo(
        name=f"v{seed}",
        rgb=rng.random((frames, 3, size.height, size.width)).astype(np.float16),
        depth=rng.random((frames, 2, size.height, size.width)).astype(np.float16),
        depth_present=np.ones(frames, dtype=bool),
        labels=labels,
        stamps=np.arange(frames) / config.anticipation.fps,
        depth_noise=np.full(frames, np.nan, dtype=np.float32),
        rgb_noise=np.full(frames, 1.0, dtype=np.float32),
    )


def test_either_counts_a_frame_one_baseline_recognises_and_neither_the_rest() -> None:
    near = [[False, False, True, True]]
    depth_only = recognised([[True, False, False, True]], near, [False])
    rgb_only = recognised([[False, False, True, True]], near, [True])
    fused = recognised([[True, True, True, True]], near, [True])
    table = complementarity(fused, depth_only, rgb_only)
    assert set(table) == set(ROWS)
    assert table["depth_only"] == {"observed": 0.5, "interior": 0.5, "boundary": 0.5, "last": 0.0}
    assert table["either_baseline"] == {"observed": 0.75, "interior": 0.5, "boundary": 1.0, "last": 1.0}
    assert table["neither_baseline"] == {"observed": 0.25, "interior": 0.5, "boundary": 0.0, "last": 0.0}
    assert table["fused"]["observed"] == 1.0


def test_recognition_scores_each_labelled_observed_frame_and_one_last_frame_per_video(config: R3DConfig) -> None:
    model = R3DModel(config).eval()
    videos = [video(config, 40, seed) for seed in range(3)]
    scored = recognition(model, videos, 0.3)
    observed, _ = protocol_window(40, 0.3, 0.0)
    window = config.anticipation.window
    labelled = [int((v.labels[max(0, observed - window) : observed] >= 0).sum()) for v in videos]
    assert [len(o) for o in scored.observed] == labelled
    assert [len(n) for n in scored.near_change] == labelled
    assert len(scored.last) == len(videos)


def test_identical_baselines_leave_no_room_for_the_other_modality(config: R3DConfig) -> None:
    model = R3DModel(config).eval()
    videos = [video(config, 40, seed) for seed in range(3)]
    absent = [np.zeros(len(v), dtype=bool) for v in videos]
    depth_only = recognition(model, videos, 0.3, rgb_present=absent)
    table = complementarity(depth_only, depth_only, depth_only)
    for column in ("observed", "last"):
        assert table["either_baseline"][column] == table["depth_only"][column]
        assert table["neither_baseline"][column] == pytest.approx(1 - table["depth_only"][column])
