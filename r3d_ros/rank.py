"""Representation rank metrics: effective rank, numerical rank, spectra and linear CKA.

Feature collapse shows up as a representation that spans few directions;
modality collapse as one modality's features losing rank or becoming redundant
with the other's. All functions take a feature matrix of shape (N, C) or a
padded batch (B, T, C) with a boolean ``mask`` (B, T) that marks real frames, so
padding never counts as data. Computation is done in float64 on the CPU/GPU
tensor's device; inputs may be torch tensors or NumPy arrays.
"""

from __future__ import annotations

import numpy as np
import torch

ArrayLike = torch.Tensor | np.ndarray


def feature_rows(features: ArrayLike, mask: ArrayLike | None = None, center: bool = False) -> torch.Tensor:
    """Return the valid rows of ``features`` as a float64 (N, C) matrix.

    ``mask`` selects rows of a (B, T, C) batch (True = real frame). ``center``
    subtracts the mean row, which measures the spread of the representation
    rather than its offset from the origin.
    """
    x = torch.as_tensor(features).detach().to(torch.float64)
    if mask is not None:
        m = torch.as_tensor(mask, device=x.device).bool()
        if m.shape != x.shape[:-1]:
            raise ValueError(f"mask shape {tuple(m.shape)} does not match features {tuple(x.shape)}")
        x = x[m]
    x = x.reshape(-1, x.shape[-1])
    if center and x.shape[0] > 0:
        x = x - x.mean(dim=0, keepdim=True)
    return x


def singular_values(features: ArrayLike, mask: ArrayLike | None = None, center: bool = False) -> torch.Tensor:
    """Singular values of the valid feature rows, largest first (float64)."""
    x = feature_rows(features, mask, center)
    if x.numel() == 0:
        return torch.zeros(0, dtype=torch.float64)
    return torch.linalg.svdvals(x)


def spectrum(features: ArrayLike, mask: ArrayLike | None = None, center: bool = False) -> torch.Tensor:
    """Singular values normalised to sum to one (the distribution effective rank is built on)."""
    s = singular_values(features, mask, center)
    total = s.sum()
    return s / total if total > 0 else s


def effective_rank_from_singular_values(s: torch.Tensor) -> float:
    """exp(Shannon entropy) of the normalised singular values (Roy & Vetterli, 2007)."""
    total = s.sum()
    if total <= 0:
        return 0.0
    p = s / total
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def effective_rank(features: ArrayLike, mask: ArrayLike | None = None, center: bool = False) -> float:
    """Effective rank of a feature matrix: between 1 (one direction) and min(N, C) (isotropic).

    An unmasked NumPy matrix (the node's window of tokens, on every tick) is
    computed in NumPy: the same float64 LAPACK decomposition, without the
    round trip through torch tensors, which cost as much as the decomposition.
    """
    if isinstance(features, np.ndarray) and mask is None and features.ndim == 2 and features.size:
        x = features.astype(np.float64)
        if center:
            x -= x.mean(axis=0)
        s = np.linalg.svd(x, compute_uv=False)
        total = s.sum()
        if total <= 0:
            return 0.0
        p = s[s > 0] / total
        return float(np.exp(-(p * np.log(p)).sum()))
    return effective_rank_from_singular_values(singular_values(features, mask, center))


def numerical_rank(
    features: ArrayLike,
    mask: ArrayLike | None = None,
    rtol: float | None = None,
    atol: float = 0.0,
    center: bool = False,
) -> int:
    """Number of singular values above ``max(atol, rtol * s_max)``.

    ``rtol`` defaults to ``max(N, C) * eps(float64)``, the tolerance NumPy's
    ``matrix_rank`` uses; pass it explicitly to ask "how many directions carry
    more than rtol of the largest one".
    """
    x = feature_rows(features, mask, center)
    if x.numel() == 0:
        return 0
    s = torch.linalg.svdvals(x)
    if rtol is None:
        rtol = max(x.shape) * float(torch.finfo(torch.float64).eps)
    threshold = max(atol, rtol * float(s[0]))
    return int((s > threshold).sum())


def linear_cka(
    features_a: ArrayLike,
    features_b: ArrayLike,
    mask: ArrayLike | None = None,
) -> float:
    """Linear centred kernel alignment between two representations of the same frames.

    1 means the two modalities encode the same information up to rotation and
    scale (redundant); values near 0 mean they are unrelated.
    """
    a = feature_rows(features_a, mask, center=True)
    b = feature_rows(features_b, mask, center=True)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"CKA needs the same frames in both inputs, got {a.shape[0]} and {b.shape[0]} rows")
    cross = torch.linalg.matrix_norm(b.T @ a) ** 2
    norm_a = torch.linalg.matrix_norm(a.T @ a)
    norm_b = torch.linalg.matrix_norm(b.T @ b)
    if norm_a == 0 or norm_b == 0:
        return 0.0
    return float(cross / (norm_a * norm_b))
