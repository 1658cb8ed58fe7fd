"""The R3D trainer: data, optimisation, remedies, evaluation, rank monitoring, checkpoints.

Runs as one process or under ``torchrun`` (DistributedDataParallel; the
global batch of videos is split across processes and BatchNorm statistics
are all-reduced). Every epoch's randomness is derived from (seed, epoch,
video position), so a run resumed from a checkpoint ends exactly where an
uninterrupted run would, and the windows a video gets do not depend on the
number of processes. A non-finite loss stops training with a message naming
the term and the step, leaving the last good checkpoint in place. A fresh
run into a folder that holds a checkpoint is refused: it would overwrite it.

Run folder contents: ``config.yaml`` (the full config), ``checkpoint.safetensors``
(resumable state after the last completed epoch), ``model.safetensors`` (the
final model for export and the node: the moving average of the weights when
``train.ema_decay`` keeps one), ``metrics.csv`` / ``metrics.jsonl``,
``rank_curves.png``, ``spectra.png``, ``tensorboard/``, ``train.log``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from r3d_ros.config import ConfigError, R3DConfig, config_to_yaml
from r3d_ros.data.prepared import prepare_dataset
from r3d_ros.data.sources import load_datasets
from r3d_ros.data.synthetic import arms_in_depth
from r3d_ros.eval.anticipation import evaluate_anticipation, protocol_key
from r3d_ros.eval.noise_limit import MODALITIES, measure_noise_limits
from r3d_ros.eval.reference import ReferenceScores, dataset_grammar, dataset_twins
from r3d_ros.model.checkpoint import save_model, set_model_setting
from r3d_ros.model.grammar import ActionGrammar
from r3d_ros.model.r3d import R3DModel
from r3d_ros.train.augment import Augmentation
from r3d_ros.train.batches import make_batch
from r3d_ros.train.distributed import (
    DistributedContext,
    all_reduce_mean,
    convert_batchnorm,
    init_distributed,
    shutdown_distributed,
)
from r3d_ros.train.ema import WeightAverage
from r3d_ros.train.monitor import RankMonitor, representation_stats
from r3d_ros.train.pretrain import cosine_with_warmup, pretrain_encoders
from r3d_ros.train.remedies import adversarial_weight, imbalance_gains
from r3d_ros.train.state import CheckpointError, TrainingState, load_training_state, save_training_state
from r3d_ros.train.step import TrainStep, batch_counts
from r3d_ros.train.substitution import fit_substitution
from r3d_ros.train.teacher import load_teacher

LOG = logging.getLogger("r3d_ros.train")
# The headline anticipation setting of the experiment table (alpha 0.3, beta 0.5).
MAIN_PROTOCOL = (0.3, 0.5)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def pick_device(name: str) -> torch.device:
    """``auto`` means CUDA when available, else CPU."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device: cuda requested but no CUDA device is available")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def epoch_rngs(seed: int, epoch: int, count: int) -> list[np.random.Generator]:
    """One generator per position in the epoch's video order."""
    return [np.random.default_rng([seed, epoch, position]) for position in range(count)]


class Trainer:
    """Trains one configuration into one run folder."""

    def __init__(
        self,
        config: R3DConfig,
        run_dir: str | Path,
        resume: bool = False,
        progress: bool = True,
    ) -> None:
        if config.train.threads:
            torch.set_num_threads(config.train.threads)
        self.device = pick_device(config.train.device)
        self.dist: DistributedContext = init_distributed(self.device)
        if self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
        self.run_dir = Path(run_dir)
        self._log_handler: logging.FileHandler | None = None
        if not resume and (self.run_dir / "checkpoint.safetensors").exists():
            raise CheckpointError(
                f"{self.run_dir} holds an earlier run (checkpoint.safetensors) that a fresh run would overwrite: "
                "resume it (r3d-train --run-dir ... --resume) or train into another folder"
            )
        self.progress = progress and self.dist.is_main
        train_set, test_set = load_datasets(config.data)
        config = self._with_classes(config, train_set.class_names)
        self.config = config
        self.subset_classes = [config.model.class_names.index(c) for c in train_set.focus_classes]
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._log_to_file()
            (self.run_dir / "config.yaml").write_text(config_to_yaml(config))
            for skipped in train_set.skipped + test_set.skipped:
                LOG.warning("skipped: %s", skipped)
        size, fps = config.model.input, config.anticipation.fps
        cache = config.data.cache_dir
        workers = config.data.workers
        started = time.perf_counter()
        self.train_videos = prepare_dataset(train_set, size, fps, cache, self.progress, workers)
        self.test_videos = prepare_dataset(test_set, size, fps, cache, self.progress, workers)
        self.data_seconds = time.perf_counter() - started
        self.grammar = dataset_grammar(config.model.class_names, [v.labels for v in self.train_videos], fps)
        self.twins = dataset_twins(config.model.class_names)
        self.test_arms_in_depth = (
            [arms_in_depth(config.data.synthetic, video) for video in test_set.videos]
            if config.data.source == "synthetic"
            else None
        )
        self._build(resume)

    @staticmethod
    def _with_classes(config: R3DConfig, dataset_classes: Sequence[str]) -> R3DConfig:
        names = list(config.model.class_names)
        if names and names != list(dataset_classes):
            raise ConfigError(
                f"model.class_names {names} differ from the dataset's classes {list(dataset_classes)}; "
                "leave model.class_names empty to take the dataset's"
            )
        model = dataclasses.replace(config.model, class_names=list(dataset_classes))
        return dataclasses.replace(config, model=model)

    def _log_to_file(self) -> None:
        """Log to this run's train.log, and to no earlier run's.

        A process that trains several runs one after the other (``r3d-experiment``'s workers)
        would otherwise append every later run's log to each earlier run's file, also after a
        run that stopped with an error before ``close_log``.
        """
        for handler in [h for h in LOG.handlers if getattr(h, "r3d_run_log", False)]:
            LOG.removeHandler(handler)
            handler.close()
        self._log_handler = logging.FileHandler(self.run_dir / "train.log")
        self._log_handler.r3d_run_log = True  # type: ignore[attr-defined]
        self._log_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        LOG.addHandler(self._log_handler)
        LOG.setLevel(logging.INFO)

    def close_log(self) -> None:
        """Stop writing to this run's train.log (``train`` does once the run has ended)."""
        if self._log_handler is not None:
            LOG.removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None

    def _build(self, resume: bool) -> None:
        config = self.config
        torch.manual_seed(config.train.seed)
        self.model = R3DModel(config)
        teacher, self.teacher_id = None, ""
        if config.train.teacher.enabled:
            teacher, self.teacher_id = load_teacher(config.train.teacher, config, self.device)
            LOG.info("distilling from the teacher %s (id %s)", config.train.teacher.model, self.teacher_id)
        self.step_module = TrainStep(self.model, config, teacher).to(self.device)
        # Parameter order must be the same in every process and run (optimizer state is saved by position).
        discriminator = list(self.model.ebr.discriminator.parameters()) if self.model.ebr is not None else []
        discriminator_ids = {id(p) for p in discriminator}
        main = [p for p in self.step_module.parameters() if id(p) not in discriminator_ids]
        self.optimizers = {"main": torch.optim.AdamW(main, lr=config.train.lr, weight_decay=config.train.weight_decay)}
        if discriminator:
            self.optimizers["discriminator"] = torch.optim.AdamW(
                discriminator, lr=config.train.ebr.discriminator_lr, weight_decay=config.train.weight_decay
            )
        self.base_lr = {"main": config.train.lr, "discriminator": config.train.ebr.discriminator_lr}
        self.steps_per_epoch = max(1, len(self.train_videos) // config.train.batch_videos)
        self.start_epoch, self.resumed = 1, resume
        self.train_seconds = 0.0  # wall time of the completed epochs, evaluations included, across resumes
        history: list[dict[str, Any]] = []
        self.average: WeightAverage | None = None  # set when training starts (after pretraining)
        self.saved_average: dict[str, torch.Tensor] | None = None
        if resume:
            state = load_training_state(self.run_dir / "checkpoint.safetensors", config)
            if state.teacher_id != self.teacher_id:
                raise CheckpointError(
                    f"train.teacher.model: {config.train.teacher.model} is model {self.teacher_id or 'none'}, but "
                    f"the checkpoint was trained with {state.teacher_id or 'none'}; resume with the same teacher file"
                )
            self.step_module.load_state_dict(state.modules["step"])
            for name, optimizer in self.optimizers.items():
                optimizer.load_state_dict(state.optimizers[name])
            self.start_epoch = state.epoch + 1
            self.train_seconds = state.train_seconds
            history = state.history
            self.saved_average = state.modules.get("average")
            LOG.info("resuming after epoch %d", state.epoch)
        if config.model.uses_grammar:  # a function of the training labels alone, never of weights
            labels = [video.labels for video in self.train_videos]
            self.model.set_grammar(ActionGrammar.estimate(labels, config.model.num_classes, config.anticipation.fps))
        self.monitor = RankMonitor(self.run_dir, config.train.monitor, history) if self.dist.is_main else None
        self.wrapped: nn.Module = self.step_module
        if self.dist.enabled:
            convert_batchnorm(self.step_module, self.device)
            self.wrapped = DistributedDataParallel(
                self.step_module,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=True,
            )

    def _schedule(self, global_step: int) -> float:
        train = self.config.train
        total = train.epochs * self.steps_per_epoch
        return cosine_with_warmup(global_step, train.warmup_epochs * self.steps_per_epoch, total)

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the training videos; returns mean loss terms."""
        config = self.config.train
        self.wrapped.train()
        torch.manual_seed(config.seed * 1_000_003 + epoch)
        order = np.random.default_rng([config.seed, epoch]).permutation(len(self.train_videos))
        rngs = epoch_rngs(config.seed, epoch, len(order))
        sums: dict[str, float] = {}
        bar = tqdm(range(self.steps_per_epoch), desc=f"epoch {epoch}/{config.epochs}", disable=not self.progress)
        for step in bar:
            global_step = (epoch - 1) * self.steps_per_epoch + step
            positions = list(range(step * config.batch_videos, (step + 1) * config.batch_videos))
            mine = positions[self.dist.rank :: self.dist.world_size]
            batch = make_batch([self.train_videos[order[p]] for p in mine], self.config, [rngs[p] for p in mine])
            losses = self._optimise(batch.to(self.device), epoch, step, global_step)
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + value
            bar.set_postfix(loss=f"{losses['total']:.3f}")
        return {f"train/{k}": v / self.steps_per_epoch for k, v in sums.items()}

    def _optimise(self, batch: Any, epoch: int, step: int, global_step: int) -> dict[str, float]:
        config = self.config.train
        factor = self._schedule(global_step)
        for name, optimizer in self.optimizers.items():
            for group in optimizer.param_groups:
                group["lr"] = self.base_lr[name] * factor
            optimizer.zero_grad(set_to_none=True)
        weight = adversarial_weight(config.ebr, epoch - 1 + step / self.steps_per_epoch)
        counts = batch_counts(batch, *self.step_module.teacher, teacher_config=self.config.train.teacher)
        if self.dist.enabled:
            keys = sorted(counts)
            shares = all_reduce_mean(torch.stack([counts[k] for k in keys]), self.dist)
            counts = dict(zip(keys, shares, strict=True))
        losses = self.wrapped(batch, counts, adversarial_weight=weight, step=global_step)
        aux_logits = losses.pop("aux_logits", None)
        scalars = {k: v.detach() for k, v in losses.items()}
        total_value = all_reduce_mean(scalars["total"].reshape(1), self.dist)
        if not torch.isfinite(total_value).all():
            bad = [k for k, v in scalars.items() if not torch.isfinite(v)]
            raise TrainingDiverged(
                f"loss is {total_value.item()} at epoch {epoch}, step {step} (non-finite terms: {', '.join(bad)}); "
                f"stopping. The last good checkpoint is {self.run_dir / 'checkpoint.safetensors'}"
            )
        losses["total"].backward()
        if config.rsc.enabled and aux_logits is not None:
            self._amplify_weak_branch(aux_logits, batch.frame_labels, scalars)
        if config.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.step_module.parameters(), config.grad_clip)
        for optimizer in self.optimizers.values():
            optimizer.step()
        if self.average is not None:
            self.average.update(self.model)
        return {k: float(all_reduce_mean(v.reshape(1), self.dist)) for k, v in scalars.items()}

    def _amplify_weak_branch(self, logits: dict, labels: torch.Tensor, scalars: dict) -> None:
        gains = imbalance_gains(logits, labels, self.config.train.rsc)
        reduced = all_reduce_mean(torch.tensor([gains["rgb"], gains["depth"]]), self.dist)
        for branch, gain in zip(("rgb", "depth"), reduced.tolist(), strict=True):
            scalars[f"gain_{branch}"] = torch.tensor(gain)
            if gain != 1.0:
                for parameter in getattr(self.model, f"{branch}_encoder").parameters():
                    if parameter.grad is not None:
                        parameter.grad.mul_(gain)

    def evaluate(self, epoch: int) -> tuple[dict[str, Any], dict[str, list[float]]]:
        """Anticipation metrics, contributions, depth-missing accuracy and rank statistics."""
        config = self.config.train
        model, videos, device = self.model, self.test_videos, self.device
        alphas, betas = config.eval.alphas, config.eval.betas
        main = protocol_key(*MAIN_PROTOCOL)
        keys = [protocol_key(a, b) for a in alphas for b in betas]
        reference = ReferenceScores(self.grammar, self.config.model.num_classes, keys, self.twins)
        full = evaluate_anticipation(
            model, videos, alphas, betas, device, self.subset_classes, reference=reference,
            arms_in_depth=self.test_arms_in_depth,
        )  # fmt: skip
        row: dict[str, Any] = {"epoch": epoch, **full.as_dict(), "moc_main": full.moc.get(main, float("nan"))}
        absent = [np.zeros(len(v), dtype=bool) for v in videos]
        for branch, kwargs in (("rgb", {"depth_present": absent}), ("depth", {"rgb_present": absent})):
            only = evaluate_anticipation(model, videos, [MAIN_PROTOCOL[0]], [MAIN_PROTOCOL[1]], device, **kwargs)
            row[f"contribution/{branch}"] = only.moc[main]
            row[f"segmentation_accuracy/{branch}_only"] = only.segmentation_accuracy
        rng = np.random.default_rng([config.seed, 7919])
        missing = [rng.random(len(v)) >= config.eval.depth_missing_fraction for v in videos]
        dropped = evaluate_anticipation(
            model, videos, [MAIN_PROTOCOL[0]], [MAIN_PROTOCOL[1]], device, self.subset_classes, depth_present=missing
        )
        row["moc_depth_missing"] = dropped.moc[main]
        row["segmentation_accuracy/depth_missing"] = dropped.segmentation_accuracy
        if model.ebr is not None:  # what substitution is worth: the same frames with depth zeroed instead
            zeroed = evaluate_anticipation(
                model, videos, [MAIN_PROTOCOL[0]], [MAIN_PROTOCOL[1]], device, depth_present=missing, substitute=False
            )
            row["moc_depth_missing_zeroed"] = zeroed.moc[main]
            row["segmentation_accuracy/depth_missing_zeroed"] = zeroed.segmentation_accuracy
        ranks, spectra = representation_stats(model, videos, device, config.monitor.max_frames)
        row.update(ranks)
        return row, spectra

    def fit(self) -> dict[str, Any]:
        """Train the remaining epochs, evaluate, checkpoint; write the final model."""
        config = self.config.train
        last: dict[str, Any] = {}
        if self.start_epoch == 1 and config.pretrain.epochs > 0:
            self._pretrain()
        self.average = self._weight_average()
        for epoch in range(self.start_epoch, config.epochs + 1):
            started = time.perf_counter()
            train_metrics = self.train_epoch(epoch)
            if self.dist.is_main:
                row: dict[str, Any] = {"epoch": epoch, **train_metrics, "epoch_seconds": time.perf_counter() - started}
                if epoch % config.eval_every == 0 or epoch == config.epochs:
                    with self._averaged():
                        evaluation, spectra = self.evaluate(epoch)
                    row.update(evaluation)
                    row["train_seconds"] = self.train_seconds + time.perf_counter() - started
                    self.monitor.record(row, spectra)
                    LOG.info(
                        "epoch %d: loss %.3f, MoC(a0.3,b0.5) %.3f, ranks rgb %.1f depth %.1f fused %.1f",
                        epoch, row["train/total"], row["moc_main"],
                        row["rank/rgb"], row["rank/depth"], row["rank/fused"],
                    )  # fmt: skip
                last = row
                self.train_seconds += time.perf_counter() - started
                self._save_checkpoint(epoch)
            self._barrier()
        if self.dist.is_main:
            self._finish(last)
        self._barrier()
        if self.monitor is not None:
            self.monitor.close()
        shutdown_distributed(self.dist)
        return last

    def _weight_average(self) -> WeightAverage | None:
        """The moving average of the weights (``train.ema_decay``), from the weights training starts with.

        It starts after pretraining; a resumed run takes the average its checkpoint saved.
        """
        decay = self.config.train.ema_decay
        if decay == 0:
            return None
        average = WeightAverage(self.model, decay, updates=(self.start_epoch - 1) * self.steps_per_epoch)
        if self.saved_average is not None:
            average.load(self.saved_average)
        return average

    def _averaged(self) -> contextlib.AbstractContextManager:
        """Inside the block the model holds the averaged weights, when training keeps an average."""
        return self.average.applied(self.model) if self.average is not None else contextlib.nullcontext()

    def _pretrain(self) -> None:
        """Per-frame encoder pretraining (a fresh run only: a resumed one has its encoders in the checkpoint).

        Its wall time counts in ``train_seconds``; its per-epoch statistics go to ``pretrain.jsonl``.
        """
        started = time.perf_counter()
        config = self.config.train
        rows = pretrain_encoders(
            self.model,
            self.train_videos,
            config.pretrain,
            Augmentation.of(config, self.config.model.input),
            config.seed,
            self.device,
            self.dist,
        )
        self.train_seconds += time.perf_counter() - started
        if self.dist.is_main:
            rows[-1]["pretrain_seconds"] = self.train_seconds
            (self.run_dir / "pretrain.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))

    def _save_checkpoint(self, epoch: int) -> None:
        modules = {"step": self.step_module.state_dict()}
        if self.average is not None:
            modules["average"] = self.average.shadow
        state = TrainingState(
            epoch=epoch,
            modules=modules,
            optimizers={name: optimizer.state_dict() for name, optimizer in self.optimizers.items()},
            history=self.monitor.history,
            train_seconds=self.train_seconds,
            teacher_id=self.teacher_id,
        )
        save_training_state(self.run_dir / "checkpoint.safetensors", self.config, state)

    def _finish(self, last: dict[str, Any]) -> None:
        if self.average is not None:  # the model saved is the average; the checkpoint keeps both
            self.average.copy_to(self.model)
        # A single-modality model never saw a frame with both: there is no substitution to fit.
        if self.model.ebr is not None and len(self.config.train.trained_modalities) == 2:
            error = fit_substitution(self.model, self.train_videos, self.device)
            LOG.info("EBR substitution fitted on training data: relative error %s", error)
            last["substitution_error"] = error
            (self.run_dir / "substitution_error.json").write_text(json.dumps(error))
        provenance = {"teacher_model_id": self.teacher_id} if self.teacher_id else None
        model_id = save_model(self.run_dir / "model.safetensors", self.model.cpu(), provenance)
        LOG.info("model written to %s (id %s)", self.run_dir / "model.safetensors", model_id)
        # Training is over and the limits do not read them: the prepared training videos (4.4 GB for the
        # shipped recipe) are let go first.
        self.train_videos = []
        started = time.perf_counter()
        for modality, limit in self._measure_noise_limits().items():
            last[MODALITIES[modality].setting] = limit
        self.model.to(self.device)
        self._write_timing(time.perf_counter() - started)

    def _write_timing(self, limit_seconds: float) -> None:
        """timing.json: where this invocation's wall time went, so a run's cost can be quoted whole.

        ``train_seconds`` (pretraining and epochs, evaluations included) adds up across resumes;
        the data preparation and the limits are this invocation's.
        """
        timing = {
            "data_seconds": self.data_seconds,
            "train_seconds": self.train_seconds,
            "limit_seconds": limit_seconds,
            "total_seconds": self.data_seconds + self.train_seconds + limit_seconds,
            "resumed": self.resumed,
        }
        (self.run_dir / "timing.json").write_text(json.dumps(timing, indent=1) + "\n")
        LOG.info(
            "wall time: %.1f min in all (data %.1f, training %.1f, limits %.1f)",
            *(timing[key] / 60 for key in ("total_seconds", "data_seconds", "train_seconds", "limit_seconds")),
        )

    def _measure_noise_limits(self) -> dict[str, float]:
        """Measure the model's enabled limits; write them into model.safetensors and <modality>_limit.json.

        Limits measured on the same development sets are measured together, sharing their renders.
        """
        together: dict[tuple[tuple[int, ...], int], dict[str, list[float]]] = {}
        for modality in MODALITIES:
            settings = getattr(self.config.train, f"{modality}_limit")
            if settings.enabled:
                together.setdefault((tuple(settings.seeds), settings.num_test), {})[modality] = settings.levels
        cache = self.config.data.cache_dir  # None: the rendered sets live in memory only, as the training videos do
        limits = {}
        for (seeds, num_test), levels in together.items():
            LOG.info("measuring the %s limit on seeds %s (train.*_limit)", " and ".join(levels), list(seeds))
            for modality, measured in measure_noise_limits(self.model, levels, seeds, num_test, cache).items():
                setting = MODALITIES[modality].setting
                set_model_setting(self.run_dir / "model.safetensors", setting, measured.limit)
                (self.run_dir / f"{modality}_limit.json").write_text(json.dumps(dataclasses.asdict(measured), indent=1))
                LOG.info("model.%s %g written to %s", setting, measured.limit, self.run_dir / "model.safetensors")
                limits[modality] = measured.limit
        return limits

    def _barrier(self) -> None:
        if self.dist.enabled:
            torch.distributed.barrier()


def train(config: R3DConfig, run_dir: str | Path, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train ``config`` into ``run_dir`` and return the last epoch's metrics."""
    trainer = Trainer(config, run_dir, resume=resume, progress=progress)
    try:
        return trainer.fit()
    finally:
        trainer.close_log()
