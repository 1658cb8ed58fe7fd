"""What the decode-time probes share: every test window of a seed scored per row, and the table of ratios to the oracle.

A probe (``probe_decoders.py``, ``probe_newest_class.py``, ``probe_live_history.py``)
says only how each of its rows turns one observed window into future labels;
the windows, the model's noise limits, the alpha/beta cells and the grammar
oracle are the same for all of them, as ``r3d-eval-model`` scores them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from r3d_ros.data.prepared import PreparedVideo
from r3d_ros.data.sampling import protocol_window
from r3d_ros.eval.anticipation import ClassAccuracy, encode_video, protocol_key
from r3d_ros.eval.model_eval import ALPHAS, BETAS, KEYS, depth_kept, rgb_kept
from r3d_ros.eval.reference import ReferenceScores, dataset_grammar
from r3d_ros.model.decode import recognised_labels
from r3d_ros.model.r3d import R3DModel

# (video index, video, observed frames, the window's fused tokens) -> (future labels by row, in the rows'
# order, over the horizon; the window's segmentation logits as the model reads them, for the reference rows)
Rows = Callable[[int, PreparedVideo, int, torch.Tensor], tuple[dict[str, np.ndarray], np.ndarray]]


@torch.no_grad()
def score_seed(model: R3DModel, videos: Sequence[PreparedVideo], rows: Rows) -> dict[str, dict[str, float]]:
    """Per row: MoC per cell; and the grammar oracle's under ``"oracle"``, on one seed's videos.

    Both modalities, with the model's own depth and RGB noise limits applied.
    """
    config = model.config
    window = config.anticipation.window
    grammar = dataset_grammar(config.model.class_names, [], config.anticipation.fps)
    oracle = ReferenceScores(grammar, config.model.num_classes, KEYS)
    accuracy: dict[tuple[str, str], ClassAccuracy] = {}
    depth = depth_kept(videos, config.model.max_depth_noise)
    rgb = rgb_kept(videos, depth, config.model.max_rgb_noise)
    for index, video in enumerate(videos):
        rgb_present = None if rgb is None else rgb[index]
        tokens = encode_video(model, video, torch.device("cpu"), rgb_present, depth[index]).fused
        for alpha in ALPHAS:
            observed, _ = protocol_window(len(video), alpha, max(BETAS))
            futures, logits = rows(index, video, observed, tokens[max(0, observed - window) : observed])
            seg = recognised_labels(logits, model.grammar_filter)
            for beta in BETAS:
                _, predicted = protocol_window(len(video), alpha, beta)
                truth = video.labels[observed : observed + predicted]
                key = protocol_key(alpha, beta)
                for name, future in futures.items():
                    accuracy.setdefault((name, key), ClassAccuracy(config.model.num_classes))
                    accuracy[name, key].add(future[:predicted], truth)
                oracle.add(key, truth, video.labels[:observed], seg, 0, next(iter(futures.values()))[:predicted])
    out: dict[str, dict[str, float]] = {}
    for (name, key), counts in accuracy.items():
        out.setdefault(name, {})[key] = counts.mean_over_classes()
    scores = oracle.as_dict()
    out["oracle"] = {key: scores[f"reference/oracle/{key}"] for key in KEYS}
    return out


def ratio_rows(per_seed: Sequence[dict[str, dict[str, float]]], names: Sequence[str]) -> list[str]:
    """Markdown rows: each name's MoC over the oracle's in every cell, the ratio of the seeds' means."""
    oracle = {key: np.mean([s["oracle"][key] for s in per_seed]) for key in KEYS}
    return [
        f"| {name} | " + " | ".join(f"{np.mean([s[name][key] for s in per_seed]) / oracle[key]:.3f}" for key in KEYS)
        for name in names
    ]
