"""Collapse remedies: EBR sign conventions, distillation direction, RSC-MD gains."""

from __future__ import annotations

import pytest
import torch

from r3d_ros.config import DistillConfig, EBRConfig, EBRTrainConfig, RSCConfig
from r3d_ros.model.ebr import ExplicitBasisReallocation
from r3d_ros.train.remedies import (
    AuxiliaryHeads,
    adversarial_weight,
    distillation_loss,
    ebr_adversarial_loss,
    imbalance_gains,
    modality_labels,
)
from r3d_ros.train.step import relative_error


@torch.no_grad()
def discriminator_ce(ebr: ExplicitBasisReallocation, z_rgb: torch.Tensor, z_depth: torch.Tensor) -> float:
    logits = ebr.discriminate(torch.cat([z_rgb, z_depth]))
    return torch.nn.functional.cross_entropy(logits, modality_labels(z_rgb, z_depth)).item()


@pytest.fixture
def game() -> tuple[ExplicitBasisReallocation, torch.Tensor, torch.Tensor]:
    ebr = ExplicitBasisReallocation(8, EBRConfig(enabled=True, discriminator_hidden=16))
    z_rgb = (torch.randn(64, 8) + 1.0).requires_grad_()
    z_depth = (torch.randn(64, 8) - 1.0).requires_grad_()
    return ebr, z_rgb, z_depth


def step_discriminator(ebr: ExplicitBasisReallocation, lr: float = 0.05) -> None:
    with torch.no_grad():
        for p in ebr.discriminator.parameters():
            p -= lr * p.grad


OBJECTIVES = ["confusion", "reverse"]


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("mode", ["grl", "alternating"])
def test_discriminator_step_lowers_the_modality_loss(mode: str, objective: str, game) -> None:
    ebr, z_rgb, z_depth = game
    before = discriminator_ce(ebr, z_rgb, z_depth)
    config = EBRTrainConfig(mode=mode, objective=objective)
    loss, _ = ebr_adversarial_loss(ebr, z_rgb, z_depth, config, weight=0.5, step=0)
    loss.backward()
    step_discriminator(ebr)
    assert discriminator_ce(ebr, z_rgb, z_depth) < before


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize(("mode", "step"), [("grl", 0), ("alternating", 1)])
def test_encoder_gradient_raises_the_loss_of_a_discriminator_that_tells_modalities_apart(
    mode: str, step: int, objective: str, game
) -> None:
    ebr, z_rgb, z_depth = game
    for _ in range(20):  # psi first learns to tell the modalities apart
        ebr.discriminator.zero_grad()
        ebr_adversarial_loss(ebr, z_rgb.detach(), z_depth.detach(), EBRTrainConfig(mode="alternating"), 0.5, 0)[
            0
        ].backward()
        step_discriminator(ebr, lr=0.2)
    ebr.discriminator.zero_grad()
    before = discriminator_ce(ebr, z_rgb, z_depth)
    assert before < 0.5
    config = EBRTrainConfig(mode=mode, objective=objective)
    loss, _ = ebr_adversarial_loss(ebr, z_rgb, z_depth, config, weight=0.5, step=step)
    loss.backward()
    with torch.no_grad():  # the encoders descend their gradient ...
        moved_rgb, moved_depth = z_rgb - 0.5 * z_rgb.grad, z_depth - 0.5 * z_depth.grad
    assert discriminator_ce(ebr, moved_rgb, moved_depth) > before  # ... which confuses psi


def test_grl_reverses_and_scales_the_encoder_gradient(game) -> None:
    ebr, z_rgb, z_depth = game
    config = EBRTrainConfig(mode="grl", objective="reverse")
    loss, _ = ebr_adversarial_loss(ebr, z_rgb, z_depth, config, weight=0.25, step=0)
    loss.backward()
    reversed_grad = z_rgb.grad.clone()
    z_rgb.grad = None
    plain = torch.nn.functional.cross_entropy(
        ebr.discriminate(torch.cat([z_rgb, z_depth])), modality_labels(z_rgb, z_depth)
    )
    plain.backward()
    torch.testing.assert_close(reversed_grad, -0.25 * z_rgb.grad)


def test_alternating_even_steps_leave_encoders_alone_and_odd_steps_freeze_psi(game) -> None:
    ebr, z_rgb, z_depth = game
    config = EBRTrainConfig(mode="alternating")
    ebr_adversarial_loss(ebr, z_rgb, z_depth, config, 0.5, step=0)[0].backward()
    assert z_rgb.grad is None
    assert all(p.grad is not None for p in ebr.discriminator.parameters())
    ebr.discriminator.zero_grad(set_to_none=True)
    ebr_adversarial_loss(ebr, z_rgb, z_depth, config, 0.5, step=1)[0].backward()
    assert z_rgb.grad is not None
    assert all(p.grad is None for p in ebr.discriminator.parameters())


def test_adversarial_weight_ramps_linearly() -> None:
    config = EBRTrainConfig(weight=0.2, ramp_epochs=4)
    assert adversarial_weight(config, 0.0) == 0.0
    assert adversarial_weight(config, 2.0) == pytest.approx(0.1)
    assert adversarial_weight(config, 9.0) == pytest.approx(0.2)


def test_distillation_moves_only_the_student() -> None:
    heads = AuxiliaryHeads(8, 3)
    rgb, depth = torch.randn(16, 8, requires_grad=True), torch.randn(16, 8, requires_grad=True)
    logits = heads({"rgb": rgb, "depth": depth})
    distillation_loss(logits, DistillConfig(enabled=True, teacher="rgb", student="depth")).backward()
    assert rgb.grad is None
    assert depth.grad is not None and depth.grad.abs().sum() > 0


def test_distillation_is_zero_when_student_matches_teacher() -> None:
    same = torch.randn(16, 3)
    loss = distillation_loss({"rgb": same, "depth": same.clone()}, DistillConfig(enabled=True))
    assert float(loss) == pytest.approx(0.0, abs=1e-6)


def test_rsc_amplifies_the_suppressed_modality_within_bounds() -> None:
    labels = torch.tensor([0, 1, 2, 0])
    confident = torch.nn.functional.one_hot(labels, 3).float() * 6.0
    logits = {"rgb": confident, "depth": torch.zeros(4, 3)}
    gains = imbalance_gains(logits, labels, RSCConfig(enabled=True, max_gain=2.5))
    assert gains["rgb"] == 1.0
    assert gains["depth"] == pytest.approx(2.5)  # ratio ~2.97, clipped
    gains = imbalance_gains(logits, labels, RSCConfig(enabled=True, max_gain=10.0))
    assert 2.5 < gains["depth"] < 3.0


def test_rsc_without_amplification_keeps_unit_gains() -> None:
    labels = torch.tensor([0, 1])
    logits = {"rgb": torch.randn(2, 3), "depth": torch.randn(2, 3)}
    assert imbalance_gains(logits, labels, RSCConfig(enabled=True, amplify=False)) == {"rgb": 1.0, "depth": 1.0}


def test_confusion_leaves_the_encoders_alone_once_psi_cannot_tell_the_modalities_apart(game) -> None:
    ebr, z_rgb, z_depth = game
    with torch.no_grad():
        ebr.discriminator[-1].weight.zero_()  # psi outputs the same logits for every input
        ebr.discriminator[-1].bias.zero_()
    config = EBRTrainConfig(mode="grl", objective="confusion")
    ebr_adversarial_loss(ebr, z_rgb, z_depth, config, weight=1.0, step=0)[0].backward()
    assert z_rgb.grad.abs().max() < 1e-6 and z_depth.grad.abs().max() < 1e-6


def test_normalized_projections_have_unit_scale_whatever_the_encoder_scale() -> None:
    ebr = ExplicitBasisReallocation(8, EBRConfig(enabled=True, projector_hidden=16))
    small, large = ebr.project(torch.randn(32, 8), 1000 * torch.randn(32, 8))
    for z in (small, large):
        torch.testing.assert_close(z.pow(2).mean(1), torch.ones(32), atol=1e-3, rtol=1e-3)


def test_reconstruction_error_does_not_shrink_with_the_features() -> None:
    target, estimate = torch.randn(16, 8), torch.randn(16, 8)
    count = torch.tensor(16.0)
    torch.testing.assert_close(
        relative_error(estimate, target, count), relative_error(estimate / 100, target / 100, count)
    )
