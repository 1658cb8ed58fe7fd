"""The most recent clean renders of the synthetic benchmark, kept to a memory budget.

Ray casting a frame's scene is most of rendering it; the sensor effects
applied afterwards (noise, holes, occluding boxes, flicker) are the rest. Noise
limits and robustness evaluations render the same videos with only the sensor
knobs changed, so when the variants of one video are prepared one after another
in the same process, every variant after the first reuses the first's scenes.
The renders are returned read-only: a variant that changed one in place would
change the next variant's frames.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np

Render = tuple[np.ndarray | None, ...]
# One 160x120 video (200 frames, with the sleeves' extra renders) is about 120 MB: the budget holds one of them
# with room to spare, so variants prepared one after another hit; larger frames simply render again.
BUDGET_BYTES = 256 * 1024 * 1024


class RenderMemo:
    """A least-recently-used map from a frame's render key to its clean render, bounded in bytes."""

    def __init__(self, budget_bytes: int = BUDGET_BYTES) -> None:
        self.budget_bytes = budget_bytes
        self._items: OrderedDict[Hashable, tuple[Render, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, render: Callable[[], Render]) -> Render:
        """The render stored under ``key``, or ``render()``'s result, stored read-only when it fits the budget."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
        value = render()
        size = sum(array.nbytes for array in value if array is not None)
        for array in value:
            if array is not None:
                array.flags.writeable = False
        if size > self.budget_bytes:
            return value
        with self._lock:
            if key not in self._items:
                self._items[key] = (value, size)
                self._bytes += size
            while self._bytes > self.budget_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped
        return value

    def __len__(self) -> int:
        return len(self._items)
