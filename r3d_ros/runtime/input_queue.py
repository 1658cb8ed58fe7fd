"""The bounded queue between the node's image callbacks and its worker thread.

Callbacks must never wait for inference, so frames wait here and the oldest is
dropped when the worker falls behind. Color and depth images arrive as separate
items; dropping one image of a pair but keeping the other would turn one lost
frame into a frame reported as "depth missing" (or a depth image nobody can
use), so a dropped image takes its partner with it: the partner queued now, or
the one still to come (remembered for a short while).
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any, NamedTuple

# Dropped stamps remembered so a partner arriving later is dropped too.
REMEMBERED_DROPS = 64
PARTNER = {"color": "depth", "depth": "color"}


class Compressed(NamedTuple):
    """A compressed image as it arrived: the worker decodes it, so the callback never waits on a codec."""

    format: str
    data: bytes | bytearray | memoryview


class QueuedImage(NamedTuple):
    """One input waiting for the worker.

    ``stream`` is ``color`` or ``depth`` for a subscribed image (``payload`` a RawImage or
    :class:`Compressed`), or ``pair`` for a RealSense frame that carries both (``payload``
    ``(color, depth or None, depth_scale)``).
    """

    stream: str
    stamp_ns: int
    payload: Any


class InputQueue:
    """Drop-oldest queue of :class:`QueuedImage` items, pairs dropped together."""

    def __init__(self, size: int, pair_tolerance_ns: int) -> None:
        self.size = size
        self.pair_tolerance_ns = pair_tolerance_ns
        self.dropped = 0  # images dropped (each image of a pair counts)
        self._items: collections.deque[tuple[float, QueuedImage]] = collections.deque()
        self._dropped_stamps: collections.deque[tuple[str, int]] = collections.deque(maxlen=REMEMBERED_DROPS)
        self._ready = threading.Condition()

    def __len__(self) -> int:
        return len(self._items)

    def _is_partner(self, item: QueuedImage, stream: str, stamp_ns: int) -> bool:
        return item.stream == PARTNER.get(stream) and abs(item.stamp_ns - stamp_ns) <= self.pair_tolerance_ns

    def put(self, item: QueuedImage) -> None:
        """Queue ``item``, dropping the oldest frame (and its partner) when full."""
        with self._ready:
            if self._partner_was_dropped(item):
                self.dropped += 1
                return
            if len(self._items) >= self.size:
                self._drop_oldest()
                if self._partner_was_dropped(item):
                    self.dropped += 1
                    return
            self._items.append((time.monotonic(), item))
            self._ready.notify()

    def _partner_was_dropped(self, item: QueuedImage) -> bool:
        return any(self._is_partner(item, stream, ns) for stream, ns in self._dropped_stamps)

    def _drop_oldest(self) -> None:
        _, (stream, stamp_ns, _) = self._items.popleft()
        kept = collections.deque(entry for entry in self._items if not self._is_partner(entry[1], stream, stamp_ns))
        self.dropped += 1 + len(self._items) - len(kept)
        if len(kept) == len(self._items) and stream in PARTNER:
            self._dropped_stamps.append((stream, stamp_ns))  # the partner has not arrived yet
        self._items = kept

    def get(self, timeout_s: float) -> tuple[float, QueuedImage] | None:
        """The oldest ``(monotonic time queued, item)``, or None after ``timeout_s`` or :meth:`wake`."""
        with self._ready:
            if not self._items:
                self._ready.wait(timeout=timeout_s)
            return self._items.popleft() if self._items else None

    def wake(self) -> None:
        """Return every waiting :meth:`get` now (used when stopping)."""
        with self._ready:
            self._ready.notify_all()

    def clear(self) -> None:
        """Forget every queued item and remembered drop."""
        with self._ready:
            self._items.clear()
            self._dropped_stamps.clear()
