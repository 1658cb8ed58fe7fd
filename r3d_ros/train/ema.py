"""An exponential moving average of the model's weights: what training evaluates and saves.

Why: at the end of the cosine schedule the weights still move from batch to batch, and which
batches came last moves a test score by as much as the targets' margins (two training draws of
the same recipe differ by about 0.01 of the oracle at alpha 0.3, beta 0.1). The average over
the last epochs' weights is a smoother pick from the same run, and costs nothing at run time.

Every floating-point tensor of the model's state is averaged, BatchNorm's running statistics
included (they must match the averaged weights); integer counters are copied. State that a
module derives from its weights when it leaves training (the R3D fuser's channel selection, a
0/1 mask of the weakest BatchNorm gains) is derived again from the averaged weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


class WeightAverage:
    """A shadow copy of ``model``'s state that follows it with ``decay`` per update."""

    def __init__(self, model: nn.Module, decay: float, updates: int = 0) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = updates
        self.shadow = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}

    def weight_of_newest(self) -> float:
        """The newest weights' share in the next update.

        It starts near 1 and falls to ``1 - decay``, so the average does not hold on to the
        starting weights (the pretrained encoders beside an untrained temporal model) for the
        many steps a decay near 1 would.
        """
        return 1.0 - min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards ``model``'s current state (after an optimiser step)."""
        self.updates += 1
        weight = self.weight_of_newest()
        for name, tensor in model.state_dict().items():
            shadow = self.shadow[name]
            if shadow.is_floating_point():
                shadow.lerp_(tensor.detach(), weight)  # exact where the tensor does not change
            else:
                shadow.copy_(tensor)

    def load(self, shadow: dict[str, torch.Tensor]) -> None:
        """Take the average saved in a checkpoint (the update count comes from the resumed step)."""
        missing = self.shadow.keys() - shadow.keys()
        if missing:
            raise KeyError(f"the saved weight average lacks {sorted(missing)}")
        for name, tensor in self.shadow.items():
            tensor.copy_(shadow[name])

    def copy_to(self, model: nn.Module) -> None:
        """Give ``model`` the averaged weights; it is left in evaluation mode.

        The switch from training to evaluation mode derives what a module computes from its
        weights on leaving training (the fuser's channel selection) from the averaged weights.
        """
        model.load_state_dict(self.shadow)
        model.train()
        model.eval()

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[nn.Module]:
        """``model`` with the averaged weights, in evaluation mode, inside the block; its own weights after it."""
        own = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
        self.copy_to(model)
        try:
            yield model
        finally:
            model.load_state_dict(own)
