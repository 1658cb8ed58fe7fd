"""Rank monitoring: shows whether feature or modality collapse happens while the model trains.

Each evaluation records, on frames of the evaluation set:

- effective rank (and numerical rank) of the RGB, depth and fused per-frame
  tokens (the tokens entering the fuser and the fuser's output; centred), and
  of the encoder outputs (``rgb_encoded``, ``depth_encoded``: differ from the
  fuser's inputs only when EBR projects and decodes them),
- their normalised singular-value spectra,
- linear CKA between the RGB and depth tokens,
- each modality's contribution: the anticipation accuracy when the model has
  only that modality (the other removed on every frame, i.e. substituted by
  EBR or zeroed),

and logs them to ``metrics.csv`` / ``metrics.jsonl`` in the run folder, to
TensorBoard, and as PNG plots (``rank_curves.png``, ``spectra.png``). A
modality whose rank or contribution falls below ``collapse_fraction`` of its
value at ``reference_epoch`` triggers a collapse warning.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from r3d_ros.config import MonitorConfig
from r3d_ros.data.prepared import PreparedVideo
from r3d_ros.eval.anticipation import encode_video
from r3d_ros.model.r3d import R3DModel
from r3d_ros.rank import effective_rank, linear_cka, numerical_rank, spectrum

LOG = logging.getLogger("r3d_ros.train")
BRANCHES = ("rgb", "depth", "fused")
# Encoder outputs f_i(x): the same as the fuser's inputs unless EBR re-encodes them.
ENCODER_BRANCHES = ("rgb_encoded", "depth_encoded")


@torch.no_grad()
def representation_stats(
    model: R3DModel, videos: Sequence[PreparedVideo], device: torch.device, max_frames: int
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """(scalar rank metrics, spectra per branch) on up to ``max_frames`` evaluation frames."""
    model.eval()
    features = {branch: [] for branch in BRANCHES + ENCODER_BRANCHES}
    per_video = max(1, max_frames // max(1, len(videos)))
    for video in videos:
        encoded = encode_video(model, video, device)
        keep = np.linspace(0, len(video) - 1, min(per_video, len(video))).astype(int)
        for branch in BRANCHES + ENCODER_BRANCHES:
            features[branch].append(getattr(encoded, branch)[keep])
    matrices = {branch: torch.cat(parts)[:max_frames] for branch, parts in features.items()}
    scalars = {}
    for branch, matrix in matrices.items():
        scalars[f"rank/{branch}"] = effective_rank(matrix, center=True)
        scalars[f"numerical_rank/{branch}"] = float(numerical_rank(matrix, rtol=1e-3, center=True))
    scalars["cka/rgb_depth"] = linear_cka(matrices["rgb"], matrices["depth"])
    spectra = {branch: spectrum(matrices[branch], center=True).tolist() for branch in BRANCHES}
    return scalars, spectra


class RankMonitor:
    """Accumulates per-epoch metrics, writes logs and plots, and raises collapse warnings."""

    def __init__(self, run_dir: Path, config: MonitorConfig, history: list[dict[str, Any]] | None = None) -> None:
        self.run_dir = run_dir
        self.config = config
        self.history: list[dict[str, Any]] = list(history or [])
        self.writer = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run_dir / "tensorboard"))
        except ImportError:  # pragma: no cover - tensorboard is a declared dependency
            LOG.warning("tensorboard is not installed: metrics go to metrics.csv and metrics.jsonl only")

    def collapse_warnings(self, row: dict[str, Any]) -> list[str]:
        """Messages for each modality whose rank or contribution fell below the configured fraction."""
        reference = next((r for r in self.history if r["epoch"] == self.config.reference_epoch), None)
        if reference is None or row["epoch"] <= self.config.reference_epoch:
            return []
        warnings = []
        for key in ("rank/rgb", "rank/depth", "contribution/rgb", "contribution/depth"):
            early, now = reference.get(key), row.get(key)
            if early is None or now is None or not (math.isfinite(early) and math.isfinite(now)) or early <= 0:
                continue
            if now < self.config.collapse_fraction * early:
                warnings.append(
                    f"collapse warning: {key} = {now:.3g} at epoch {row['epoch']} fell below "
                    f"{self.config.collapse_fraction:g} x its epoch-{self.config.reference_epoch} value {early:.3g}"
                )
        return warnings

    def record(self, row: dict[str, Any], spectra: dict[str, list[float]]) -> list[str]:
        """Add one evaluation's metrics; returns the collapse warnings it raised."""
        warnings = self.collapse_warnings(row)
        for message in warnings:
            LOG.warning(message)
        row = {**row, "collapse_warnings": warnings, "spectra": spectra}
        self.history = [r for r in self.history if r["epoch"] != row["epoch"]] + [row]
        self._write(row)
        return warnings

    def _write(self, row: dict[str, Any]) -> None:
        with open(self.run_dir / "metrics.jsonl", "w") as handle:
            handle.writelines(json.dumps(r) + "\n" for r in self.history)
        scalar_keys = sorted({k for r in self.history for k, v in r.items() if isinstance(v, (int, float))})
        with open(self.run_dir / "metrics.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=scalar_keys, extrasaction="ignore")
            writer.writeheader()
            for r in self.history:
                writer.writerow({k: r.get(k, "") for k in scalar_keys})
        if self.writer is not None:
            for key, value in row.items():
                if isinstance(value, (int, float)) and key != "epoch":
                    self.writer.add_scalar(key, value, row["epoch"])
            self.writer.flush()
        self.plot()

    def plot(self) -> None:
        """Write rank_curves.png and spectra.png from the history so far."""
        epochs = [r["epoch"] for r in self.history]
        figure, (ranks, contributions) = plt.subplots(1, 2, figsize=(11, 4))
        for branch in BRANCHES:
            ranks.plot(epochs, [r.get(f"rank/{branch}", np.nan) for r in self.history], marker="o", label=branch)
        ranks.set(xlabel="epoch", ylabel="effective rank", title="Effective rank of per-frame tokens")
        ranks.legend()
        for branch in ("rgb", "depth"):
            values = [r.get(f"contribution/{branch}", np.nan) for r in self.history]
            contributions.plot(epochs, values, marker="o", label=f"{branch} only")
        contributions.plot(epochs, [r.get("moc_main", np.nan) for r in self.history], marker="o", label="both")
        contributions.set(xlabel="epoch", ylabel="MoC", title="Accuracy with one modality removed")
        contributions.legend()
        figure.tight_layout()
        figure.savefig(self.run_dir / "rank_curves.png", dpi=110)
        plt.close(figure)

        figure, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True)
        for axis, branch in zip(axes, BRANCHES, strict=True):
            for r, style in ((self.history[0], "--"), (self.history[-1], "-")):
                values = r["spectra"].get(branch, [])
                index = np.arange(1, len(values) + 1)
                axis.semilogy(index, np.maximum(values, 1e-12), style, label=f"epoch {r['epoch']}")
            axis.set(title=f"{branch} spectrum", xlabel="singular value index")
            axis.legend()
        axes[0].set_ylabel("normalised singular value")
        figure.tight_layout()
        figure.savefig(self.run_dir / "spectra.png", dpi=110)
        plt.close(figure)

    def close(self) -> None:
        """Flush and close TensorBoard."""
        if self.writer is not None:
            self.writer.close()
