"""Distillation from a frozen teacher model file (train.teacher): what it reads, what it adds, what it refuses."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from train_configs import write_config

from r3d_ros.config import ConfigError, TeacherConfig, load_config
from r3d_ros.model import load_model, save_model
from r3d_ros.model.r3d import R3DModel
from r3d_ros.model.temporal import TemporalOutput
from r3d_ros.train.batches import Batch, make_batch
from r3d_ros.train.state import CheckpointError
from r3d_ros.train.teacher import load_teacher, teacher_frames, teacher_loss
from r3d_ros.train.trainer import Trainer, train

LIVE = {"model.ebr": {"enabled": False}, "model.temporal.live_encoder": True, "train.epochs": 1, "train.ema_decay": 0.0}
DEPTH_ONLY = {"train.modality_dropout_rgb_video": 1.0, "train.modality_dropout_depth": 0.0}


@pytest.fixture(scope="module")
def teacher_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("teacher")
    train(load_config(write_config(folder / "depth_only.yaml", **LIVE, **DEPTH_ONLY)), folder / "run", progress=False)
    return folder / "run" / "model.safetensors"


def student_config(folder: Path, teacher: Path, **overrides: object) -> Path:
    settings = {**LIVE, "train.teacher": {"model": str(teacher), "weight": 1.0}, **overrides}
    return write_config(folder / "student.yaml", **settings)


def student_batch(teacher: Path, folder: Path, **overrides: object) -> tuple[Trainer, R3DModel, Batch]:
    """A student's trainer, its loaded teacher and a batch of the first two of its training videos."""
    trainer = Trainer(load_config(student_config(folder, teacher, **overrides)), folder / "run")
    batch = make_batch(trainer.train_videos[:2], trainer.config, [np.random.default_rng(i) for i in range(2)])
    return trainer, trainer.step_module.teacher[0], batch


def every_frames_logits(teacher: R3DModel, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """The depth-only teacher's segmentation and live logits of every window, from every frame of the batch."""
    with torch.no_grad():
        frames = teacher.encode_frames(batch.rgb, batch.depth, torch.zeros_like(batch.rgb_present), batch.depth_present)
        padded = torch.cat([frames.fused, frames.fused.new_zeros(1, frames.fused.shape[1])])
        return teacher.temporal.frame_logits(padded[batch.window_index], batch.window_mask)


def test_a_student_trains_with_the_teacher_term_and_records_the_teacher_but_not_its_weights(
    teacher_file: Path, tmp_path: Path
) -> None:
    before = teacher_file.read_bytes()
    train(load_config(student_config(tmp_path, teacher_file)), tmp_path / "run", progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    term = [row["train/teacher"] for row in rows if "train/teacher" in row]
    assert term and all(np.isfinite(value) and value > 0 for value in term)
    plain = Trainer(load_config(write_config(tmp_path / "plain.yaml", **LIVE)), tmp_path / "plain")
    assert set(load_file(tmp_path / "run" / "model.safetensors")) == set(plain.model.state_dict())
    assert teacher_file.read_bytes() == before
    assert (
        load_model(tmp_path / "run" / "model.safetensors")[1]["teacher_model_id"]
        == load_model(teacher_file)[1]["model_id"]
    )


def test_the_teacher_term_is_zero_for_the_teachers_own_logits_and_positive_for_others(
    teacher_file: Path, tmp_path: Path
) -> None:
    trainer, teacher, batch = student_batch(teacher_file, tmp_path)
    config = trainer.config
    count = teacher_frames(teacher, batch).sum().float()
    segmentation, live = every_frames_logits(teacher, batch)
    same = TemporalOutput(segmentation, None, None, live)
    assert float(teacher_loss(teacher, batch, same, config.train.teacher, count)) == pytest.approx(0.0, abs=1e-5)
    other = TemporalOutput(torch.zeros_like(segmentation), None, None, torch.zeros_like(live))
    assert float(teacher_loss(teacher, batch, other, config.train.teacher, count)) > 0.01


def test_a_depth_only_teacher_teaches_only_on_the_window_frames_with_depth(teacher_file: Path, tmp_path: Path) -> None:
    _, teacher, batch = student_batch(teacher_file, tmp_path)
    batch = dataclasses.replace(batch, depth_present=torch.arange(len(batch.depth_present)) % 2 == 0)
    depth = torch.cat([batch.depth_present, torch.zeros(1, dtype=torch.bool)])[batch.window_index]
    assert torch.equal(teacher_frames(teacher, batch), depth & batch.window_mask)


def test_a_teacher_for_the_student_alone_teaches_only_where_the_student_lacks_the_teachers_missing_modality(
    teacher_file: Path, tmp_path: Path
) -> None:
    _, teacher, batch = student_batch(teacher_file, tmp_path)  # depth-only: the student is alone without RGB
    frames = torch.arange(len(batch.depth_present))
    batch = dataclasses.replace(batch, depth_present=frames % 2 == 0, rgb_present=frames % 3 == 0)
    alone = torch.cat([batch.depth_present & ~batch.rgb_present, torch.zeros(1, dtype=torch.bool)])
    kept = teacher_frames(teacher, batch, TeacherConfig(student_alone=True))
    assert torch.equal(kept, alone[batch.window_index] & batch.window_mask)
    assert kept.sum() < teacher_frames(teacher, batch).sum()


def test_a_teacher_for_the_student_alone_over_windows_teaches_only_windows_without_the_teachers_missing_modality(
    teacher_file: Path, tmp_path: Path
) -> None:
    trainer, teacher, batch = student_batch(teacher_file, tmp_path)  # depth-only: alone where RGB is missing
    first = len(trainer.train_videos[0])
    frames = torch.arange(len(batch.depth_present))
    batch = dataclasses.replace(batch, depth_present=torch.ones_like(batch.depth_present), rgb_present=frames < first)
    windows = teacher_frames(teacher, batch, TeacherConfig(student_alone=True, alone_over="window"))
    alone_frames = teacher_frames(teacher, batch, TeacherConfig(student_alone=True))
    second_video = (batch.window_index >= first).all(dim=1)  # padding (index F) counts as the second video's
    assert windows[second_video].any()
    assert torch.equal(windows, alone_frames & second_video[:, None])
    assert not windows[~second_video].any()


def test_the_teacher_term_over_kept_windows_equals_the_term_computed_from_every_frame(
    teacher_file: Path, tmp_path: Path
) -> None:
    trainer, teacher, batch = student_batch(teacher_file, tmp_path)
    config = trainer.config
    keep = teacher_frames(teacher, batch)
    segmentation, live = every_frames_logits(teacher, batch)
    student = TemporalOutput(torch.randn_like(segmentation), None, None, torch.randn_like(live))
    t = config.train.teacher.temperature
    expected = sum(
        torch.nn.functional.kl_div(
            torch.log_softmax(mine[keep] / t, dim=-1), torch.softmax(theirs[keep] / t, dim=-1), reduction="sum"
        )
        for mine, theirs in [(student.segmentation_logits, segmentation), (student.live_logits, live)]
    )
    count = keep.sum().float()
    term = teacher_loss(teacher, batch, student, config.train.teacher, count)
    assert float(term) == pytest.approx(float(t * t * expected / count), rel=1e-4)


def test_a_teacher_with_no_window_to_teach_adds_zero(teacher_file: Path, tmp_path: Path) -> None:
    trainer, teacher, batch = student_batch(teacher_file, tmp_path, **{"train.teacher.student_alone": True})
    config = trainer.config
    batch = dataclasses.replace(batch, rgb_present=torch.ones_like(batch.rgb_present))  # never alone
    segmentation = torch.zeros(*batch.window_index.shape, config.model.num_classes, requires_grad=True)
    output = TemporalOutput(segmentation, None, None, None)
    term = teacher_loss(teacher, batch, output, config.train.teacher, torch.tensor(1.0))
    assert float(term.detach()) == 0.0
    term.backward()
    assert segmentation.grad is not None


def test_a_teacher_weight_without_a_teacher_file_is_refused_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="model"):
        load_config(write_config(tmp_path / "bad.yaml", **{"train.teacher": {"weight": 1.0}}))


def test_an_unknown_alone_over_is_refused_naming_the_setting(teacher_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="alone_over"):
        load_config(student_config(tmp_path, teacher_file, **{"train.teacher.alone_over": "video"}))


def test_a_missing_teacher_file_is_refused_naming_the_setting(tmp_path: Path) -> None:
    config = load_config(student_config(tmp_path, tmp_path / "absent.safetensors"))
    with pytest.raises(ConfigError, match=r"train\.teacher\.model: no model file"):
        load_teacher(config.train.teacher, config, torch.device("cpu"))


def test_a_teacher_of_another_window_is_refused_naming_what_differs(teacher_file: Path, tmp_path: Path) -> None:
    config = load_config(student_config(tmp_path, teacher_file, **{"anticipation.window": 6}))
    with pytest.raises(ConfigError, match=r"train\.teacher\.model: the teacher's anticipation\.window"):
        Trainer(config, tmp_path / "run")


def test_a_corrupt_teacher_file_is_refused(teacher_file: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(teacher_file.read_bytes()[:-64])
    config = load_config(student_config(tmp_path, corrupt))
    with pytest.raises(ConfigError, match=r"train\.teacher\.model: .*corrupt\.safetensors"):
        Trainer(config, tmp_path / "run")


def test_the_teacher_is_frozen_in_eval_mode(teacher_file: Path, tmp_path: Path) -> None:
    teacher = Trainer(load_config(student_config(tmp_path, teacher_file)), tmp_path / "run").step_module.teacher[0]
    assert not teacher.training
    assert not any(parameter.requires_grad for parameter in teacher.parameters())
    assert load_model(teacher_file)[0].config.train.trained_modalities == ("depth",)


def test_a_run_resumed_after_its_teacher_file_was_replaced_is_refused(teacher_file: Path, tmp_path: Path) -> None:
    teacher = tmp_path / "teacher.safetensors"
    teacher.write_bytes(teacher_file.read_bytes())
    config = load_config(student_config(tmp_path, teacher))
    train(config, tmp_path / "run", progress=False)
    model, _ = load_model(teacher)
    with torch.no_grad():
        model.temporal.segmentation_head.bias.add_(1.0)  # another teacher at the same path: other weights
    save_model(teacher, model)
    with pytest.raises(CheckpointError, match=r"train\.teacher\.model: .*resume with the same teacher file"):
        Trainer(config, tmp_path / "run", resume=True)
