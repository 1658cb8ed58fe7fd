"""EBR substitution statistics, fitted on training data with the final weights.

For each modality t, the projections of the other modality are mapped into t's
projected space: identity for the paper's ``direct`` rule, or a ridge
regression fitted here for ``affine``. Either way the relative error of the
substituted projection on training frames is measured and reported, and the
maps are stored in the model's buffers, so they travel in the model file.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from r3d_ros.data.prepared import PreparedVideo
from r3d_ros.eval.anticipation import encode_video
from r3d_ros.model.ebr import DEPTH, RGB
from r3d_ros.model.r3d import R3DModel

RIDGE = 1e-3


def ridge_map(source: torch.Tensor, target: torch.Tensor, ridge: float = RIDGE) -> tuple[torch.Tensor, torch.Tensor]:
    """(W, b) minimising ||source W + b - target||^2 + ridge * n * ||W||^2."""
    x = torch.cat([source, torch.ones(len(source), 1, dtype=source.dtype)], dim=1).double()
    regulariser = ridge * len(source) * torch.eye(x.shape[1], dtype=torch.float64)
    regulariser[-1, -1] = 0.0
    solution = torch.linalg.solve(x.T @ x + regulariser, x.T @ target.double())
    return solution[:-1].float(), solution[-1].float()


@torch.no_grad()
def fit_substitution(
    model: R3DModel, videos: Sequence[PreparedVideo], device: torch.device, max_frames: int = 20000
) -> dict[str, float]:
    """Fit (affine) or keep (direct) the substitution maps; return the relative error per missing modality."""
    ebr = model.ebr
    model.eval()
    z = {RGB: [], DEPTH: []}
    count = 0
    for video in videos:
        features = encode_video(model, video, device)
        both = torch.from_numpy(video.depth_present)
        z[RGB].append(features.rgb_projection[both])
        z[DEPTH].append(features.depth_projection[both])
        count += int(both.sum())
        if count >= max_frames:
            break
    z = {k: torch.cat(v)[:max_frames] for k, v in z.items()}
    errors = {}
    for target, source in ((DEPTH, RGB), (RGB, DEPTH)):
        if ebr.affine:
            weight, bias = ridge_map(z[source], z[target])
            ebr.substitution_weight[target] = weight.to(ebr.substitution_weight.device)
            ebr.substitution_bias[target] = bias.to(ebr.substitution_bias.device)
        estimate = ebr.substitute(z[source].to(ebr.substitution_weight.device), target).cpu()
        spread = (z[target] - z[target].mean(0)).pow(2).sum()
        name = "depth" if target == DEPTH else "rgb"
        errors[name] = float((estimate - z[target]).pow(2).sum() / spread.clamp_min(1e-12))
    ebr.substitution_fitted.fill_(True)
    return errors
