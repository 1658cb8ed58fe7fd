"""RGBDSynchronizer: pairing rules, depth dropout, bounded queues, time jumps, offline = online."""

from __future__ import annotations

import itertools
import random

import pytest

from r3d_ros.runtime.sync import RGBDSynchronizer, SyncedFrame, synchronize

PERIOD = 1 / 30


def pairs(frames: list[SyncedFrame]) -> list[tuple[float, str, str | None]]:
    return [(round(f.stamp_s, 6), f.color, f.depth) for f in frames]


def feed(sync: RGBDSynchronizer, events: list[tuple[str, float, str]]) -> list[SyncedFrame]:
    """Feed ("c"|"d", stamp, item) events in order, then flush."""
    out = []
    for stream, stamp, item in events:
        out += sync.add_color(stamp, item) if stream == "c" else sync.add_depth(stamp, item)
    return out + sync.flush()


def test_exact_policy_pairs_equal_stamps() -> None:
    sync = RGBDSynchronizer("exact")
    stamps = [100.0 + i * PERIOD for i in range(5)]
    events = [e for i, s in enumerate(stamps) for e in (("c", s, f"c{i}"), ("d", s, f"d{i}"))]
    assert [(f.color, f.depth) for f in feed(sync, events)] == [(f"c{i}", f"d{i}") for i in range(5)]
    assert (sync.stats.matched, sync.stats.color_only, sync.stats.dropped_depth) == (5, 0, 0)


def test_exact_pair_is_emitted_as_soon_as_both_arrived() -> None:
    sync = RGBDSynchronizer("exact")
    assert sync.add_color(5.0, "c") == []
    assert pairs(sync.add_depth(5.0, "d")) == [(5.0, "c", "d")]


def test_approximate_policy_picks_closest_depth_within_slop() -> None:
    sync = RGBDSynchronizer("approximate", slop_s=0.02)
    events = [("d", 0.985, "far"), ("c", 1.0, "c"), ("d", 0.997, "close"), ("d", 1.012, "later"), ("d", 1.1, "next")]
    assert pairs(feed(sync, events)) == [(1.0, "c", "close")]


def test_depth_outside_slop_gives_color_only() -> None:
    sync = RGBDSynchronizer("approximate", slop_s=0.01)
    out = feed(sync, [("c", 1.0, "c"), ("d", 1.03, "d")])
    assert pairs(out) == [(1.0, "c", None)]
    assert (sync.stats.color_only, sync.stats.dropped_depth) == (1, 1)


def test_depth_dropout_does_not_stall_and_recovers() -> None:
    sync = RGBDSynchronizer("exact", depth_timeout_s=0.5)
    stamps = [i * PERIOD for i in range(180)]  # 6 s at 30 fps, depth lost from 1 s to 4 s
    emitted = []
    for i, stamp in enumerate(stamps):
        for frame in sync.add_color(stamp, i):
            emitted.append((frame, stamp))
        if not 1.0 <= stamp < 4.0:
            for frame in sync.add_depth(stamp, i):
                emitted.append((frame, stamp))
    emitted += [(frame, stamps[-1]) for frame in sync.flush()]
    assert [frame.color for frame, _ in emitted] == list(range(180))
    assert all(now - frame.stamp_s <= 0.5 + PERIOD + 1e-9 for frame, now in emitted)  # waits at most the timeout
    assert [frame.depth is None for frame, _ in emitted] == [1.0 <= s < 4.0 for s in stamps]


def interleave(colors: list, depths: list, seed: int) -> list[tuple[str, float, str]]:
    """Both streams in per-stream order, interleaved by random delays of up to 0.2 s (either may lead)."""
    rng = random.Random(seed)
    events = []
    for stream, items in (("c", colors), ("d", depths)):
        arrival = 0.0
        for stamp, item in items:
            arrival = max(arrival, stamp + rng.uniform(0, 0.2))
            events.append((arrival, stream, stamp, item))
    return [(stream, stamp, item) for _, stream, stamp, item in sorted(events)]


def free_running(rng: random.Random, name: str) -> list[tuple[float, str]]:
    """A camera stream with its own clock: irregular gaps of 10-50 ms."""
    stamps = itertools.accumulate(rng.uniform(0.01, 0.05) for _ in range(90))
    return [(stamp, f"{name}{i}") for i, stamp in enumerate(stamps)]


@pytest.mark.parametrize("policy", ["exact", "approximate"])
def test_any_interleaving_gives_the_same_pairs(policy: str) -> None:
    rng = random.Random(1)
    if policy == "exact":  # one clock for both, frames lost on either stream
        colors = [(i * PERIOD, f"c{i}") for i in range(90) if rng.random() > 0.1]
        depths = [(i * PERIOD, f"d{i}") for i in range(90) if rng.random() > 0.2]
    else:  # two clocks: most colors have several candidates and the greedy choice matters
        colors, depths = free_running(rng, "c"), free_running(rng, "d")
    expected = pairs(synchronize(colors, depths, RGBDSynchronizer(policy, slop_s=0.02)))
    assert sum(depth is not None for _, _, depth in expected) > len(colors) / 2
    for seed in range(20):
        assert pairs(feed(RGBDSynchronizer(policy, slop_s=0.02), interleave(colors, depths, seed))) == expected


def test_color_queue_bound_drops_oldest_under_burst() -> None:
    sync = RGBDSynchronizer("exact", queue_size=5)
    for i in range(12):  # a burst with no depth, well inside the depth timeout
        assert sync.add_color(1.0 + i * 0.001, i) == []
    assert sync.stats.dropped_color == 7
    assert [frame.color for frame in sync.flush()] == [7, 8, 9, 10, 11]


def test_depth_queue_bound_drops_oldest_under_burst() -> None:
    sync = RGBDSynchronizer("exact", queue_size=5)
    for i in range(12):
        sync.add_depth(1.0 + i * 0.001, i)
    assert sync.stats.dropped_depth == 7
    assert pairs(sync.add_color(1.0 + 7 * 0.001, "c")) == [(1.007, "c", 7)]


def test_frame_older_than_emitted_color_is_counted_out_of_order() -> None:
    sync = RGBDSynchronizer("exact")
    feed(sync, [("c", 2.0, "c"), ("d", 2.0, "d")])
    assert sync.add_color(1.9, "late") == []
    assert sync.add_depth(1.8, "late") == []
    assert (sync.stats.out_of_order, sync.stats.time_jumps, sync.jumped_back) == (2, 0, False)


def test_time_jumping_back_resets_and_is_signalled() -> None:
    sync = RGBDSynchronizer("exact", jump_back_s=1.0)
    for i in range(60):  # 2 s of a bag, then it loops back to its start
        sync.add_color(100 + i * PERIOD, i)
        sync.add_depth(100 + i * PERIOD, i)
    sync.add_color(102.0, "pending")
    assert sync.add_color(100.0, "loop") == []
    assert sync.jumped_back
    assert (sync.stats.time_jumps, sync.stats.dropped_color) == (1, 1)
    assert pairs(sync.add_depth(100.0, "loop-depth")) == [(100.0, "loop", "loop-depth")]
    assert not sync.jumped_back


def test_offline_synchronize_equals_feeding_the_online_object() -> None:
    rng = random.Random(2)
    colors = [(i * PERIOD, i) for i in range(60)]
    depths = [(i * PERIOD + rng.uniform(-0.01, 0.01), -i) for i in range(60) if i % 7]
    merged = sorted([(s, 0, "d", item) for s, item in depths] + [(s, 1, "c", item) for s, item in colors])
    online = feed(RGBDSynchronizer("approximate", slop_s=0.02), [(kind, s, item) for s, _, kind, item in merged])
    assert synchronize(colors, depths, RGBDSynchronizer("approximate", slop_s=0.02)) == online


def test_invalid_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="policy"):
        RGBDSynchronizer("nearest")
    with pytest.raises(ValueError, match="slop_s"):
        RGBDSynchronizer("approximate", slop_s=0.0)
