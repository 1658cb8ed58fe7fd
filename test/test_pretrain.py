"""Per-frame encoder pretraining: what it draws, what it learns, how a run records and resumes it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from train_configs import write_config

from r3d_ros.config import (
    BlurConfig,
    ColorJitterConfig,
    ConfigError,
    DepthCorruptionConfig,
    FramePretrainConfig,
    InputConfig,
    ZoomOutConfig,
    load_config,
)
from r3d_ros.data.prepared import prepare_dataset
from r3d_ros.data.synthetic import generate_synthetic
from r3d_ros.model.r3d import R3DModel
from r3d_ros.train.augment import Augmentation
from r3d_ros.train.distributed import DistributedContext
from r3d_ros.train.pretrain import frame_batches, gather, pretrain_encoders
from r3d_ros.train.trainer import Trainer, train

pytestmark = pytest.mark.slow


def augmentation(
    jitter: ColorJitterConfig | None = None,
    blur: BlurConfig | None = None,
    zoom: ZoomOutConfig | None = None,
    depth: DepthCorruptionConfig | None = None,
) -> Augmentation:
    return Augmentation(
        jitter or ColorJitterConfig(),
        blur or BlurConfig(),
        zoom or ZoomOutConfig(),
        depth or DepthCorruptionConfig(),
        InputConfig(),
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("pretrain")
    config = load_config(write_config(folder / "tiny.yaml", **{"model.ebr.enabled": False}))
    dataset = generate_synthetic(dataclasses.replace(config.data.synthetic, num_test=0))
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, class_names=dataset.class_names))
    videos = prepare_dataset(dataset, config.model.input, config.anticipation.fps, None, progress=False)
    return config, videos


def test_every_labelled_frame_is_drawn_once_per_epoch(tiny) -> None:
    _, videos = tiny
    labels = videos[0].labels.copy()
    labels[:3] = -1  # unlabelled frames are never drawn
    videos = [dataclasses.replace(videos[0], labels=labels), *videos[1:]]
    batches = frame_batches(videos, 7, np.random.default_rng(0))
    drawn = [(int(v), int(f)) for video, frame in batches for v, f in zip(video, frame, strict=True)]
    labelled = {(i, f) for i, v in enumerate(videos) for f in np.flatnonzero(v.labels >= 0)}
    assert len(drawn) == len(set(drawn))
    assert set(drawn) <= labelled and len(labelled) - len(drawn) < 7 // 2  # only a short last batch is dropped
    assert all(len(video) == 7 for video, _ in batches[:-1]) and 7 // 2 <= len(batches[-1][0]) <= 7


def test_pretraining_frames_get_colour_jitter_and_untouched_depth(tiny) -> None:
    _, videos = tiny
    video, frame = np.array([0, 0, 1]), np.array([0, 1, 2])
    plain = gather(videos, video, frame, augmentation(), np.random.default_rng(0))
    jittered = gather(
        videos, video, frame, augmentation(jitter=ColorJitterConfig(gain=0.3, bias=0.1)), np.random.default_rng(0)
    )
    assert torch.equal(plain["depth"], jittered["depth"]) and torch.equal(plain["labels"], jittered["labels"])
    assert not torch.allclose(plain["rgb"], jittered["rgb"])
    assert torch.equal(plain["rgb"][0], torch.from_numpy(videos[0].rgb[0]).float())


def test_pretraining_frames_get_blur_and_untouched_depth(tiny) -> None:
    _, videos = tiny
    video, frame = np.array([0, 0, 1]), np.array([0, 1, 2])
    plain = gather(videos, video, frame, augmentation(), np.random.default_rng(0))
    blurred = gather(videos, video, frame, augmentation(blur=BlurConfig(probability=1.0)), np.random.default_rng(0))
    assert torch.equal(plain["depth"], blurred["depth"]) and torch.equal(plain["labels"], blurred["labels"])
    assert not torch.allclose(plain["rgb"], blurred["rgb"])


def test_pretraining_frames_zoom_out_both_modalities(tiny) -> None:
    _, videos = tiny
    video, frame = np.array([0, 0, 1]), np.array([0, 1, 2])
    plain = gather(videos, video, frame, augmentation(), np.random.default_rng(0))
    zoomed = gather(videos, video, frame, augmentation(zoom=ZoomOutConfig(probability=1.0)), np.random.default_rng(0))
    assert torch.equal(plain["labels"], zoomed["labels"])
    assert not torch.allclose(plain["rgb"], zoomed["rgb"]) and not torch.allclose(plain["depth"], zoomed["depth"])


def test_pretraining_frames_get_corrupted_depth_and_untouched_rgb(tiny) -> None:
    _, videos = tiny
    video, frame = np.array([0, 0, 1]), np.array([0, 1, 2])
    plain = gather(videos, video, frame, augmentation(), np.random.default_rng(0))
    corrupted = augmentation(depth=DepthCorruptionConfig(probability=1.0))
    noisy = gather(videos, video, frame, corrupted, np.random.default_rng(0))
    assert torch.equal(plain["labels"], noisy["labels"]) and torch.equal(plain["rgb"], noisy["rgb"])
    assert not torch.allclose(plain["depth"], noisy["depth"])


def test_pretraining_teaches_each_encoder_to_classify_single_frames(tiny) -> None:
    config, videos = tiny
    torch.manual_seed(0)
    model = R3DModel(config)
    rows = pretrain_encoders(
        model, videos, FramePretrainConfig(epochs=12, batch_frames=32, lr=3e-3), augmentation(), 0,
        torch.device("cpu"),
        DistributedContext(),
    )  # fmt: skip
    assert len(rows) == 12
    chance = 1.0 / config.model.num_classes
    for modality in ("rgb", "depth"):
        first, last = rows[0][f"pretrain/accuracy/{modality}"], rows[-1][f"pretrain/accuracy/{modality}"]
        assert last > max(2 * chance, first + 0.2), (modality, first, last)


def test_heads_passed_in_are_the_ones_trained(tiny) -> None:
    config, videos = tiny
    torch.manual_seed(0)
    model = R3DModel(config)
    heads = torch.nn.ModuleDict(
        {name: torch.nn.Linear(config.model.token_dim, config.model.num_classes) for name in ("rgb", "depth")}
    )
    before = {name: head.weight.detach().clone() for name, head in heads.items()}
    pretrain_encoders(
        model, videos, FramePretrainConfig(epochs=1, batch_frames=32, lr=3e-3), augmentation(), 0,
        torch.device("cpu"),
        DistributedContext(),
        heads,
    )  # fmt: skip
    for name, head in heads.items():
        assert not torch.equal(head.weight, before[name]), name


def test_a_run_records_pretraining_and_counts_its_time(tmp_path: Path) -> None:
    overrides = {"train.epochs": 1, "train.pretrain": {"epochs": 2}, "model.future_decoder": "grammar_filter"}
    config = load_config(write_config(tmp_path / "tiny.yaml", **overrides))
    train(config, tmp_path / "run", progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "pretrain.jsonl").read_text().splitlines()]
    assert [row["pretrain_epoch"] for row in rows] == [1, 2]
    epoch = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert epoch["train_seconds"] >= rows[-1]["pretrain_seconds"] + epoch["epoch_seconds"] - 1e-6


def test_a_resumed_run_does_not_pretrain_again(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path / "tiny.yaml", **{"train.epochs": 1, "train.pretrain": {"epochs": 1}}))
    train(config, tmp_path / "run", progress=False)
    record = tmp_path / "run" / "pretrain.jsonl"
    record.unlink()
    trainer = Trainer(load_config(tmp_path / "run" / "config.yaml"), tmp_path / "run", resume=True, progress=False)
    trainer.fit()
    assert not record.exists()


def test_a_negative_pretraining_length_is_named() -> None:
    with pytest.raises(ConfigError, match="epochs"):
        load_config(overrides=["train.pretrain.epochs=-1"])
