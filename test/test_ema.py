"""The moving average of the weights that training evaluates and saves."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from r3d_ros.train.ema import WeightAverage


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def test_weights_that_do_not_change_stay_exactly_the_same() -> None:
    model = small_model()
    average = WeightAverage(model, decay=0.9)
    for _ in range(50):
        average.update(model)
    for name, tensor in model.state_dict().items():
        assert torch.equal(average.shadow[name], tensor), name


def test_the_average_moves_towards_new_weights_by_its_share() -> None:
    model = small_model()
    average = WeightAverage(model, decay=0.9, updates=100)  # past the ramp: the newest weigh 1 - decay
    before = model[0].weight.detach().clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    average.update(model)
    torch.testing.assert_close(average.shadow["0.weight"], before + 0.1)


def test_early_updates_follow_the_newest_weights_more_than_the_decay_says() -> None:
    model = small_model()
    average = WeightAverage(model, decay=0.999)
    assert average.weight_of_newest() > 0.5
    average.updates = 100_000
    assert average.weight_of_newest() == pytest.approx(0.001)


def test_batchnorm_statistics_are_averaged_and_its_counter_copied() -> None:
    model = small_model()
    average = WeightAverage(model, decay=0.5, updates=100)
    model.train()
    model(torch.randn(16, 3) + 5.0)
    average.update(model)
    bn = model[1]
    torch.testing.assert_close(average.shadow["1.running_mean"], 0.5 * bn.running_mean)
    assert average.shadow["1.num_batches_tracked"] == bn.num_batches_tracked == 1


def test_the_average_is_applied_inside_the_block_and_the_model_restored_after_it() -> None:
    model = small_model()
    average = WeightAverage(model, decay=0.5, updates=100)
    own = model[0].weight.detach().clone()
    average.shadow["0.weight"].zero_()
    with average.applied(model) as averaged:
        assert torch.equal(averaged[0].weight, torch.zeros_like(own))
    assert torch.equal(model[0].weight, own)


def test_a_saved_average_is_loaded_and_one_lacking_weights_refused() -> None:
    model = small_model()
    average = WeightAverage(model, decay=0.5)
    saved = {name: torch.full_like(tensor, 2) for name, tensor in model.state_dict().items()}
    average.load(saved)
    assert torch.equal(average.shadow["0.bias"], torch.full((4,), 2.0))
    del saved["0.bias"]
    with pytest.raises(KeyError, match=r"0\.bias"):
        average.load(saved)


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.1])
def test_a_decay_outside_0_1_is_refused(decay: float) -> None:
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(small_model(), decay)


def test_the_fusers_channel_selection_is_derived_from_the_averaged_weights() -> None:
    from r3d_ros.config import FuserConfig
    from r3d_ros.model.fuser import RankEnhancingTokenFuser

    fuser = RankEnhancingTokenFuser(8, FuserConfig(blend_fraction=0.25))
    average = WeightAverage(fuser, decay=0.5, updates=100)
    with torch.no_grad():
        for norm in fuser.norms:
            norm.weight.copy_(torch.arange(1.0, 9.0))
    fuser.eval()  # its own selection: channels 0 and 1, the smallest gains
    average.update(fuser)  # averaged gains are still increasing, but the averaged mask is half of one
    average.copy_to(fuser)
    assert set(fuser.selection.unique().tolist()) == {0.0, 1.0}
    assert fuser.selection.sum().item() == 2 * 2 and not fuser.training
