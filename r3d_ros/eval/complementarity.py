"""How much RGB could add to depth: where each single-modality baseline recognises the action.

"Both present: above both baselines" asks a fused model to be right where the
depth-only baseline is wrong. It can only do so on frames where RGB carries the
evidence depth lacks. Scoring the two baselines on the same frames bounds that
room: a frame counts for "either" when at least one baseline recognises it (an
oracle that always picks the right modality), so "either minus depth-only" is
what choosing the right modality frame by frame would add. It is measured on
the observed frames of each protocol window (segmentation; split into interior
frames and frames near a label change, where every action ramps in from the
same neutral stance) and on the last observed frame (the action going on when
anticipation starts, which decides the short horizons). Accuracies here are
fractions of frames, not means over classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from r3d_ros.data.prepared import PreparedVideo
from r3d_ros.data.sampling import protocol_window
from r3d_ros.eval.anticipation import BOUNDARY_MARGIN, encode_video, near_label_change
from r3d_ros.model.decode import read_window, recognised_labels
from r3d_ros.model.r3d import R3DModel

# The rows of a complementarity table: the three models, the either-modality oracle, and both baselines wrong.
ROWS = ("fused", "depth_only", "rgb_only", "either_baseline", "neither_baseline")
COLUMNS = ("observed", "interior", "boundary", "last")


@dataclass
class Recognition:
    """Whether a model recognised each scored frame: observed frames, and the last observed frame of each window."""

    observed: list[np.ndarray] = field(default_factory=list)  # per window, bool per observed labelled frame
    near_change: list[np.ndarray] = field(default_factory=list)  # per window, bool: within BOUNDARY_MARGIN of a change
    last: list[bool] = field(default_factory=list)  # per window: the current action at the last frame is right


@torch.no_grad()
def recognition(
    model: R3DModel,
    videos: Sequence[PreparedVideo],
    alpha: float,
    rgb_present: Sequence[np.ndarray] | None = None,
    depth_present: Sequence[np.ndarray] | None = None,
) -> Recognition:
    """Per-frame correctness of ``model``'s recognised labels on the alpha protocol windows of ``videos``.

    The windows, labels and decoding are those of
    :func:`~r3d_ros.eval.anticipation.evaluate_anticipation`; unlabelled frames are left out.
    """
    model.eval()
    window = model.config.anticipation.window
    out = Recognition()
    for index, video in enumerate(videos):
        features = encode_video(
            model,
            video,
            torch.device("cpu"),
            None if rgb_present is None else rgb_present[index],
            None if depth_present is None else depth_present[index],
        )
        observed, _ = protocol_window(len(video), alpha, 0.0)
        start = max(0, observed - window)
        tokens = features.fused[start:observed][None]
        output = model.forward_temporal(tokens, torch.ones(tokens.shape[:2], dtype=torch.bool))
        segmentation = output.segmentation_logits[0].numpy()
        labels = video.labels[start:observed]
        labelled = labels >= 0
        predicted = recognised_labels(segmentation, model.grammar_filter)
        out.observed.append((predicted == labels)[labelled])
        out.near_change.append(near_label_change(labels, BOUNDARY_MARGIN)[labelled])
        reading = read_window(segmentation, output.future_logits[0].numpy(), model.grammar, model.grammar_filter)
        out.last.append(bool(reading.current == labels[-1]))
    return out


def complementarity(fused: Recognition, depth_only: Recognition, rgb_only: Recognition) -> dict[str, dict[str, float]]:
    """Accuracy of each row of :data:`ROWS` in each column of :data:`COLUMNS`, on the same windows."""
    near = np.concatenate(depth_only.near_change)
    observed = {
        "fused": np.concatenate(fused.observed),
        "depth_only": np.concatenate(depth_only.observed),
        "rgb_only": np.concatenate(rgb_only.observed),
    }
    last = {"fused": np.array(fused.last), "depth_only": np.array(depth_only.last), "rgb_only": np.array(rgb_only.last)}
    for values in (observed, last):
        values["either_baseline"] = values["depth_only"] | values["rgb_only"]
        values["neither_baseline"] = ~values["either_baseline"]
    return {
        row: {
            "observed": float(observed[row].mean()),
            "interior": float(observed[row][~near].mean()) if (~near).any() else float("nan"),
            "boundary": float(observed[row][near].mean()) if near.any() else float("nan"),
            "last": float(last[row].mean()),
        }
        for row in ROWS
    }
