"""The node's parameters: one table drives declaration, descriptors, validation and the docs.

Every parameter is declared with a description, a type, a range or a set of
allowed values, and a read-only flag where changing it at run time would not
take effect. Values are validated at start-up; an invalid one stops the node
with a message that names the parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

from r3d_ros.config import ConfigError, RuntimeConfig, StreamConfig


@dataclass(frozen=True)
class Parameter:
    """One node parameter and its constraints."""

    name: str
    default: Any
    description: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    read_only: bool = False

    def descriptor(self) -> ParameterDescriptor:
        """The rclpy descriptor (description, range, read-only, allowed values)."""
        descriptor = ParameterDescriptor(description=self.description, read_only=self.read_only)
        if self.choices:
            descriptor.additional_constraints = f"one of: {', '.join(self.choices)}"
        if self.low is not None and isinstance(self.default, float):
            descriptor.floating_point_range = [FloatingPointRange(from_value=self.low, to_value=self.high, step=0.0)]
        elif self.low is not None and isinstance(self.default, int) and not isinstance(self.default, bool):
            descriptor.integer_range = [IntegerRange(from_value=int(self.low), to_value=int(self.high), step=1)]
        return descriptor


P = Parameter
PARAMETERS: tuple[Parameter, ...] = (
    P("model_path", "", "model file (.safetensors); empty = the shipped default model", read_only=True),
    P("backend", "auto", "inference backend", ("auto", "tensorrt", "onnxruntime", "torch"), read_only=True),
    P("cache_dir", "", "folder for exported ONNX and TensorRT engines; empty = ~/.cache/r3d_ros", read_only=True),
    P("threads", 1, "ONNX Runtime intra-op threads (0 = library default)", low=0, high=64, read_only=True),
    P("precision", "fp16", "TensorRT engine precision", ("fp16", "fp32"), read_only=True),
    P("input_source", "topics", "where frames come from", ("topics", "realsense"), read_only=True),
    P("color_topic", "/camera/camera/color/image_raw", "color image topic (input_source=topics)", read_only=True),
    P(
        "depth_topic",
        "/camera/camera/aligned_depth_to_color/image_raw",
        "depth image topic aligned to color (input_source=topics)",
        read_only=True,
    ),
    P("sync_policy", "exact", "color/depth pairing", ("exact", "approximate"), read_only=True),
    P("sync_slop_s", 0.02, "approximate sync: largest stamp difference of a pair (s)", low=0.0, high=0.5),
    P("depth_timeout_s", 0.3, "a color frame waits this long (stamp time) for depth, then goes on", low=0.01, high=5.0),
    P(
        "qos_reliability",
        "best_effort",
        "image subscription reliability (best_effort also matches reliable publishers)",
        ("best_effort", "reliable"),
        read_only=True,
    ),
    P("qos_depth", 10, "image subscription history depth", low=1, high=100, read_only=True),
    P("input_queue_size", 30, "frames waiting for the worker; the oldest is dropped when full", low=2, high=1000),
    P("publish_rate_hz", 10.0, "anticipations per second of stream time", low=0.1, high=100.0),
    P("depth_scale", 0.001, "metres per 16-bit depth unit for topic input", low=1e-6, high=1.0),
    P("frame_id", "", "header.frame_id of the output; empty = the color image's frame_id"),
    P("smoothing_alpha", 1.0, "EMA weight of the newest tick's probabilities (1 = no smoothing)", low=0.01, high=1.0),
    P("hold_s", 0.0, "hysteresis: minimum time the published next action is held (0 = off)", low=0.0, high=60.0),
    P("min_confidence", 0.0, "hysteresis: a new next action needs at least this confidence", low=0.0, high=1.0),
    P("diagnostics_period_s", 1.0, "period of /diagnostics messages (s)", low=0.1, high=60.0),
    P(
        "rank_collapse_fraction",
        0.5,
        "warn when the fused effective rank falls below this fraction of its calibrated median",
        low=0.0,
        high=1.0,
    ),
    P(
        "late_frame_warn_ms",
        100.0,
        "warn when frame stamps differ from the node's clock by more than this at arrival (median; 0 = off)",
        low=0.0,
        high=60000.0,
    ),
    P("rank_calibration_ticks", 50, "ticks whose fused effective rank define the calibrated range", low=1, high=100000),
    P("autostart", True, "configure and activate on start (false = wait for lifecycle transitions)", read_only=True),
    P("realsense_serial", "", "camera serial number; empty = the first camera", read_only=True),
    P("realsense_width", 640, "color and depth width", low=160, high=1920, read_only=True),
    P("realsense_height", 480, "color and depth height", low=120, high=1080, read_only=True),
    P("realsense_fps", 30, "camera frame rate", low=5, high=90, read_only=True),
    P("realsense_playback_file", "", "play this RealSense .bag instead of a camera", read_only=True),
    P("realsense_loop", False, "loop the playback file", read_only=True),
)
BY_NAME = {p.name: p for p in PARAMETERS}


def check_value(name: str, value: Any) -> None:
    """Raise ConfigError naming ``name`` when ``value`` breaks the parameter's constraints."""
    spec = BY_NAME[name]
    if spec.choices and value not in spec.choices:
        raise ConfigError(f"parameter '{name}': must be one of {list(spec.choices)}, got {value!r}")
    if spec.low is not None and not (spec.low <= value <= spec.high):
        raise ConfigError(f"parameter '{name}': must be in [{spec.low}, {spec.high}], got {value!r}")


def stream_config(values: dict[str, Any]) -> StreamConfig:
    """The StreamConfig the parameters describe (errors name the parameter)."""
    try:
        return StreamConfig(
            sync_policy=values["sync_policy"],
            sync_slop_s=values["sync_slop_s"],
            depth_timeout_s=values["depth_timeout_s"],
            publish_rate_hz=values["publish_rate_hz"],
            depth_scale=values["depth_scale"],
            smoothing_alpha=values["smoothing_alpha"],
            hold_s=values["hold_s"],
            min_confidence=values["min_confidence"],
        )
    except ConfigError as error:
        field, _, problem = str(error).partition(":")
        raise ConfigError(f"parameter '{field}':{problem}") from None


def runtime_config(values: dict[str, Any]) -> RuntimeConfig:
    """The RuntimeConfig the parameters describe."""
    return RuntimeConfig(
        backend=values["backend"],
        cache_dir=values["cache_dir"] or None,
        threads=values["threads"],
        precision=values["precision"],
    )
