"""Rank metrics against matrices with known spectra, and the fuser's effect on rank."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from r3d_ros.config import FuserConfig
from r3d_ros.model.fuser import RankEnhancingTokenFuser, leave_one_out_rank_drop
from r3d_ros.rank import effective_rank, linear_cka, numerical_rank, singular_values, spectrum


def with_singular_values(values: list[float], rows: int = 40, seed: int = 0) -> np.ndarray:
    """A (rows, len(values)) matrix U diag(values) V^T with random orthonormal U, V."""
    rng = np.random.default_rng(seed)
    cols = len(values)
    u, _ = np.linalg.qr(rng.standard_normal((rows, cols)))
    v, _ = np.linalg.qr(rng.standard_normal((cols, cols)))
    return u @ np.diag(values) @ v.T


def test_identity_has_full_effective_rank() -> None:
    assert effective_rank(np.eye(16)) == pytest.approx(16.0, abs=1e-5)


def test_rank_k_with_equal_singular_values_has_effective_rank_k() -> None:
    matrix = with_singular_values([3.0] * 5 + [0.0] * 11)
    assert effective_rank(matrix) == pytest.approx(5.0, abs=1e-5)
    assert numerical_rank(matrix) == 5


def test_geometric_decay_matches_closed_form() -> None:
    ratio, n = 0.7, 12
    values = [ratio**i for i in range(n)]
    p = np.array(values) / sum(values)
    expected = math.exp(-(p * np.log(p)).sum())
    assert effective_rank(with_singular_values(values)) == pytest.approx(expected, abs=1e-5)


def test_spectrum_is_normalised_and_sorted() -> None:
    s = spectrum(with_singular_values([4.0, 2.0, 1.0, 1.0]))
    assert float(s.sum()) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(s.numpy(), [0.5, 0.25, 0.125, 0.125], atol=1e-10)


def test_numerical_rank_uses_the_explicit_tolerance() -> None:
    matrix = with_singular_values([1.0, 1e-2, 1e-4, 1e-6])
    assert numerical_rank(matrix) == 4
    assert numerical_rank(matrix, rtol=1e-3) == 2
    assert numerical_rank(matrix, atol=1e-5) == 3


def test_padding_rows_are_excluded() -> None:
    real = torch.as_tensor(with_singular_values([1.0] * 6, rows=10))
    batch = torch.zeros(2, 8, 6, dtype=torch.float64)
    batch[0, :5], batch[1, :5] = real[:5], real[5:]
    batch[:, 5:] = 1e3  # padding with huge values would dominate the spectrum if it counted
    mask = torch.zeros(2, 8, dtype=torch.bool)
    mask[:, :5] = True
    assert effective_rank(batch, mask) == pytest.approx(effective_rank(real), abs=1e-9)
    np.testing.assert_allclose(singular_values(batch, mask), singular_values(real), atol=1e-9)


def test_centering_removes_a_constant_offset() -> None:
    features = np.ones((50, 8)) * 5.0 + with_singular_values([1e-3] * 8, rows=50)
    assert effective_rank(features) < 1.1
    assert effective_rank(features, center=True) > 7.0


def test_cka_of_a_rotated_copy_is_one() -> None:
    a = with_singular_values([5.0, 3.0, 2.0, 1.0], rows=64)
    rotation, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((4, 4)))
    assert linear_cka(a, 2.5 * a @ rotation) == pytest.approx(1.0, abs=1e-9)


def test_cka_of_independent_features_is_near_zero() -> None:
    rng = np.random.default_rng(2)
    assert linear_cka(rng.standard_normal((4000, 8)), rng.standard_normal((4000, 8))) < 0.01


def test_cka_rejects_different_frame_counts() -> None:
    with pytest.raises(ValueError, match="same frames"):
        linear_cka(np.ones((4, 2)), np.ones((5, 2)))


def test_leave_one_out_drop_matches_direct_computation() -> None:
    features = torch.randn(64, 10)
    drops = leave_one_out_rank_drop(features)
    full = effective_rank(features)
    for channel in (0, 4, 9):
        without = effective_rank(torch.cat([features[:, :channel], features[:, channel + 1 :]], dim=1))
        assert float(drops[channel]) == pytest.approx(full - without, abs=1e-4)


def collapsed_rgb_and_full_depth(rows: int = 512, channels: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB tokens that span 3 directions with large magnitude and have dead (constant)
    channels; depth tokens that span every direction with small magnitude."""
    rgb = torch.randn(rows, 3) @ torch.randn(3, channels) * 10.0
    rgb[:, : channels // 8] = 3.0
    depth = torch.randn(rows, channels)
    return rgb, depth


@pytest.mark.parametrize("rule", ["bn_gain", "rank"])
def test_token_fuser_raises_fused_rank_over_plain_averaging(rule: str) -> None:
    rgb, depth = collapsed_rgb_and_full_depth()
    fuser = RankEnhancingTokenFuser(64, FuserConfig(score=rule, blend_fraction=0.125, score_momentum=1.0))
    with torch.no_grad():
        fuser.norms[0].weight[:8] = 0.05  # what training leaves on dead channels
        fuser.train()(rgb, depth)  # batch statistics and channel scores
        fused = fuser.eval()(rgb, depth)
    averaged = 0.5 * (rgb + depth)
    assert effective_rank(fused, center=True) > 2.0 * effective_rank(averaged, center=True)


@pytest.mark.parametrize("rule", ["bn_gain", "rank"])
def test_blending_adds_the_other_modality_to_the_collapsed_token(rule: str) -> None:
    rgb, depth = collapsed_rgb_and_full_depth()
    blending = RankEnhancingTokenFuser(64, FuserConfig(score=rule, blend_fraction=0.125, score_momentum=1.0))
    plain = RankEnhancingTokenFuser(64, FuserConfig(score=rule, blend_fraction=0.0, score_momentum=1.0))
    ranks = []
    for fuser in (plain, blending):
        with torch.no_grad():
            fuser.norms[0].weight[:8] = 0.05
            fuser.train()(rgb, depth)
            rgb_after, _ = fuser.eval().blend(rgb, depth)
        ranks.append(effective_rank(rgb_after, center=True))
    assert ranks[1] > ranks[0] + 1.0


def test_bn_gain_rule_hands_over_the_lowest_gain_channels() -> None:
    fuser = RankEnhancingTokenFuser(16, FuserConfig(score="bn_gain", blend_fraction=0.25))
    with torch.no_grad():
        fuser.norms[1].weight.copy_(torch.arange(16, 0, -1, dtype=torch.float32))
    mask = fuser.eval().blend_mask(torch.zeros(2, 16), torch.zeros(2, 16))
    assert mask[1].nonzero().flatten().tolist() == [12, 13, 14, 15]
    assert int(mask[0].sum()) == 4


def test_blend_weights_stay_bounded() -> None:
    fuser = RankEnhancingTokenFuser(8, FuserConfig(blend_fraction=0.5))
    with torch.no_grad():
        fuser.mix_logits.fill_(1e4)
    rgb, depth = torch.randn(32, 8), torch.randn(32, 8)
    rgb_after, _ = fuser.train().blend(rgb, depth)
    depth_normed = fuser.norms[1](depth)
    # weight saturates at 1: the blended channel becomes the other modality's, never beyond it
    mask = fuser.blend_mask(rgb, depth)[0].bool()
    torch.testing.assert_close(rgb_after[:, mask], depth_normed[:, mask])


@pytest.mark.parametrize("center", [False, True])
def test_effective_rank_of_a_numpy_matrix_equals_that_of_the_same_tensor(center: bool) -> None:
    features = np.random.default_rng(3).standard_normal((64, 32)).astype(np.float32) * np.geomspace(1, 1e-3, 32)
    assert effective_rank(features, center=center) == pytest.approx(
        effective_rank(torch.from_numpy(features), center=center), rel=1e-12
    )


def test_gated_pool_starts_as_the_mean_of_the_two_tokens() -> None:
    torch.manual_seed(0)
    mean = RankEnhancingTokenFuser(16, FuserConfig(pool="mean")).eval()
    gated = RankEnhancingTokenFuser(16, FuserConfig(pool="gated")).eval()
    gated.load_state_dict(mean.state_dict(), strict=False)
    rgb, depth = torch.randn(8, 16), torch.randn(8, 16)
    torch.testing.assert_close(gated(rgb, depth), mean(rgb, depth))


def test_gated_pool_shares_follow_each_frames_tokens() -> None:
    fuser = RankEnhancingTokenFuser(4, FuserConfig(pool="gated", attention_heads=1))
    with torch.no_grad():
        fuser.gate.weight.zero_()
        fuser.gate.weight[1, 4] = 10.0  # depth's share grows with the first channel of the depth token
    tokens = torch.zeros(2, 2, 4)
    tokens[0, 1, 0], tokens[1, 1, 0] = 1.0, -1.0
    shares = fuser.modality_shares(tokens)
    torch.testing.assert_close(shares.sum(dim=1), torch.ones(2))
    assert shares[0, 1] > 0.99 and shares[1, 1] < 0.01
