"""The rules behind the node's /diagnostics level: stalls, upstream losses, invalid frames, silent output."""

from __future__ import annotations

from r3d_ros.runtime.health import ERROR, OK, WARN, Snapshot, StreamMonitor, assess

PERIOD_NS = 33_333_333


def stream(count: int, start: float = 0.0, keep=lambda i: True) -> StreamMonitor:
    """A monitor that saw ``count`` frames sent at 30 Hz (arriving on time), those ``keep`` selects."""
    monitor = StreamMonitor()
    for i in range(count):
        if keep(i):
            monitor.record(start + i * PERIOD_NS * 1e-9, 1_700_000_000_000_000_000 + i * PERIOD_NS)
    return monitor


def snapshot(now: float, color: StreamMonitor, depth: StreamMonitor | None = None, **fields) -> Snapshot:
    values = dict(
        now=now,
        active_since=0.0,
        color=color,
        depth=depth or StreamMonitor(),
        color_topic="/cam/color",
        depth_topic="/cam/depth",
        last_publish=now,
    )
    return Snapshot(**(values | fields))


def test_a_steady_stream_is_ok_at_its_rate() -> None:
    color, depth = stream(90), stream(90)
    result = assess(snapshot(3.0, color, depth))
    assert result.level == OK, result.problems
    assert abs(color.rate(3.0) - 30.0) < 1.5


def test_a_stall_of_a_few_periods_warns() -> None:
    color = stream(90)
    result = assess(snapshot(3.0 + 0.6, color, stream(90)))
    assert result.level == WARN and "color input late" in result.problems[0]


def test_a_long_stall_is_an_error_and_the_rate_falls_to_zero() -> None:
    color = stream(90)
    result = assess(snapshot(3.0 + 2.5, color, stream(90), last_publish=3.0))
    assert result.level == ERROR and any("color input stalled" in p for p in result.problems)
    assert color.rate(3.0 + 2.5) == 0.0


def test_no_color_since_activation_warns_then_is_an_error() -> None:
    assert assess(snapshot(1.0, StreamMonitor(), last_publish=None)).level == WARN
    assert assess(snapshot(10.0, StreamMonitor(), last_publish=None)).level == ERROR


def test_nothing_published_while_color_arrives_is_an_error() -> None:
    color = stream(150)
    result = assess(snapshot(5.0, color, stream(150), last_publish=None, invalid_new=30, last_invalid_reason="bad"))
    assert result.level == ERROR and any("nothing published" in p and "bad" in p for p in result.problems)


def test_invalid_frames_since_the_last_report_warn() -> None:
    result = assess(snapshot(3.0, stream(90), stream(90), invalid_new=3, last_invalid_reason="too small"))
    assert result.level == WARN and "3 invalid frames dropped: too small" in result.problems[0]


def test_depth_left_out_for_noise_warns_with_the_limit_and_the_estimate() -> None:
    fields = {"depth_too_noisy_new": 12, "depth_noise": 0.041, "max_depth_noise": 0.02}
    result = assess(snapshot(3.0, stream(90), stream(90), **fields))
    assert result.level == WARN
    assert "12 depth frames noisier than max_depth_noise 0.02 m at 1 m (latest 0.041)" in result.problems[0]


def test_rgb_left_out_for_noise_warns_with_the_limit_and_the_estimate() -> None:
    fields = {"rgb_too_noisy_new": 7, "rgb_noise": 9.3, "max_rgb_noise": 4.0}
    result = assess(snapshot(3.0, stream(90), stream(90), **fields))
    assert result.level == WARN
    assert "7 colour frames noisier than max_rgb_noise 4 (latest 9.3)" in result.problems[0]
    assert "lighting" in result.problems[0]


def test_frames_lost_before_the_node_are_detected_from_stamps() -> None:
    color = stream(300, keep=lambda i: i % 8 in (0, 1, 4))  # 5 of every 8 frames lost upstream
    assert abs(color.lost_fraction() - 5 / 8) < 0.02
    result = assess(snapshot(300 / 30, color, stream(300)))
    assert result.level == WARN and any("lost before the node" in p and "fastdds" in p for p in result.problems)


def test_a_paused_sender_is_not_counted_as_loss() -> None:
    color = stream(60)
    for i in range(60):
        color.record(100.0 + i / 30, 1_700_000_100_000_000_000 + i * PERIOD_NS)
    assert color.lost_fraction() == 0.0


def test_depth_that_never_pairs_under_exact_sync_names_the_fix() -> None:
    result = assess(snapshot(3.0, stream(90), stream(90), color_only_new=30, matched_new=0, nearest_depth_ms=3.0))
    assert result.level == WARN
    assert any("never pairs" in p and "3.0 ms" in p and "approximate" in p for p in result.problems)


def test_an_inactive_node_reports_nothing_wrong() -> None:
    assert assess(snapshot(10.0, StreamMonitor(), active_since=None)).level == OK
