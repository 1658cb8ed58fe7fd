"""The memo of clean renders: what it keeps, for how long, and that what it hands out cannot be changed."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from r3d_ros.data.render_memo import RenderMemo


def render_of(value: float, count: list[int], nbytes: int = 800) -> Callable[[], tuple[np.ndarray, None]]:
    def render() -> tuple[np.ndarray, None]:
        count.append(1)
        return np.full(nbytes // 8, value), None

    return render


def test_a_key_seen_before_is_not_rendered_again() -> None:
    memo, count = RenderMemo(), []
    first = memo.get("a", render_of(1.0, count))
    again = memo.get("a", render_of(2.0, count))
    assert len(count) == 1 and again[0] is first[0]


def test_the_least_recently_used_render_goes_when_the_budget_is_full() -> None:
    memo, count = RenderMemo(budget_bytes=2000), []
    memo.get("a", render_of(1.0, count))
    memo.get("b", render_of(2.0, count))
    memo.get("a", render_of(1.0, count))  # "a" used last: "b" is the one to go
    memo.get("c", render_of(3.0, count))
    assert len(memo) == 2 and len(count) == 3
    memo.get("a", render_of(1.0, count))
    assert len(count) == 3
    memo.get("b", render_of(2.0, count))
    assert len(count) == 4


def test_a_render_larger_than_the_budget_is_returned_but_not_kept() -> None:
    memo, count = RenderMemo(budget_bytes=100), []
    value = memo.get("a", render_of(1.0, count, nbytes=800))
    assert value[0].shape == (100,) and len(memo) == 0


def test_renders_are_handed_out_read_only() -> None:
    rgb, _ = RenderMemo().get("a", render_of(1.0, []))
    with pytest.raises(ValueError, match="read-only"):
        rgb[0] = 5.0
