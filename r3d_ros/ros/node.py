"""The anticipation node: RGB-D in, ``r3d_msgs/AnticipatedAction`` out on ``/anticipated_action``.

A lifecycle node. *configure* validates the parameters and loads the model
(building or loading the TensorRT engine when that backend runs); *activate*
starts the input and the worker; *deactivate* stops them; *cleanup* releases
the model. With ``autostart`` (default) a plain launch goes straight to active.

Data flow: image callbacks (topics) or the RealSense reader thread only wrap
frames and put them in a bounded queue (drop-oldest, counted), so a slow tick
never blocks reception. One worker thread takes frames from the queue and runs
the same :class:`~r3d_ros.runtime.pipeline.AnticipationPipeline` that bag
replay runs (synchronizer, per-frame path once per frame, temporal model at
``publish_rate_hz`` of stream time), and publishes; a renderer thread draws
``~/debug_image`` while someone subscribes. A timer publishes ``/diagnostics``.
Nothing raised while processing a frame escapes a callback: it is logged,
counted and shown in the diagnostics.
"""

from __future__ import annotations

import collections
import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import SetParametersResult
from rclpy._rclpy_pybind11 import RCLError
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from visualization_msgs.msg import Marker, MarkerArray

from r3d_msgs.msg import ActionLabels, AnticipatedAction
from r3d_ros.config import ConfigError
from r3d_ros.model.checkpoint import ModelFileError
from r3d_ros.ros.convert import (
    anticipation_message,
    diagnostic_status,
    image_to_raw,
    labels_message,
    time_to_ns,
)
from r3d_ros.ros.parameters import BY_NAME, PARAMETERS, check_value, runtime_config, stream_config
from r3d_ros.runtime.anticipator import Anticipation
from r3d_ros.runtime.backends import BackendError, LoadedModel, create_backend
from r3d_ros.runtime.compressed import decode_compressed_color, decode_compressed_depth
from r3d_ros.runtime.health import WARN, Snapshot, StreamMonitor, assess
from r3d_ros.runtime.image import ImageError, decode_color, decode_depth
from r3d_ros.runtime.input_queue import Compressed, InputQueue, QueuedImage
from r3d_ros.runtime.overlay import depth_status, render_overlay
from r3d_ros.runtime.pipeline import AnticipationPipeline
from r3d_ros.runtime.sync import pair_tolerance_ns
from r3d_ros.runtime.timebase import StampEpoch
from r3d_ros.shipped import DEFAULT_MODEL, shipped_file

ACTION_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
LABELS_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
# The debug image is for eyes: only the newest frame is kept (reliable, so viewers asking either way match).
DEBUG_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
DECODERS = {"color": decode_compressed_color, "depth": decode_compressed_depth}
# Samples kept for the latency and rate statistics in /diagnostics.
STATS_WINDOW = 300


@dataclass
class NodeStats:
    """Counters and recent samples behind /diagnostics (written by the worker and callbacks)."""

    received: dict[str, int] = field(default_factory=lambda: {"color": 0, "depth": 0})
    inputs: dict[str, StreamMonitor] = field(
        default_factory=lambda: {"color": StreamMonitor(), "depth": StreamMonitor()}
    )
    processed: int = 0
    errors: int = 0
    last_error: str = ""
    published: int = 0
    debug_images: int = 0
    last_publish: float | None = None  # monotonic time
    active_since: float | None = None  # monotonic time of the last activation
    tick_ms: collections.deque = field(default_factory=lambda: collections.deque(maxlen=STATS_WINDOW))
    # Node clock at arrival minus the frame's stamp: the camera-to-node transport delay.
    arrival_age_ms: dict[str, collections.deque] = field(
        default_factory=lambda: {k: collections.deque(maxlen=STATS_WINDOW) for k in ("color", "depth")}
    )
    queue_wait_ms: collections.deque = field(default_factory=lambda: collections.deque(maxlen=STATS_WINDOW))
    stamp_to_publish_ms: collections.deque = field(default_factory=lambda: collections.deque(maxlen=STATS_WINDOW))
    ranks: list[float] = field(default_factory=list)
    last: Anticipation | None = None

    def arrived(self, stream: str, stamp_ns: int) -> None:
        """Count a frame of ``stream`` arriving now."""
        self.received[stream] += 1
        self.inputs[stream].record(time.monotonic(), stamp_ns)


def percentile(values: collections.deque, q: float) -> float:
    """q-th percentile of recent samples (NaN when there are none)."""
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


class RosLogHandler(logging.Handler):
    """Forwards the core's standard-library log records to the node's rclpy logger."""

    def __init__(self, node: LifecycleNode) -> None:
        super().__init__()
        self.logger = node.get_logger()

    def emit(self, record: logging.LogRecord) -> None:
        """Log ``record`` at the matching rclpy severity."""
        message = self.format(record)
        if record.levelno >= logging.ERROR:
            self.logger.error(message)
        elif record.levelno >= logging.WARNING:
            self.logger.warning(message)
        else:
            self.logger.info(message)


class AnticipationNode(LifecycleNode):
    """Lifecycle node running the streaming anticipator on RealSense or image topics."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("r3d_anticipation", **kwargs)
        for spec in PARAMETERS:
            # Dynamic typing lets a wrongly typed value reach check_value, which names the parameter
            # and the type to write instead of rclpy's exception from inside declare_parameter.
            descriptor = spec.descriptor()
            descriptor.dynamic_typing = True
            self.declare_parameter(spec.name, spec.default, descriptor)
        self._read_parameters()
        self.loaded: LoadedModel | None = None
        self.pipeline: AnticipationPipeline | None = None
        self.stats = NodeStats()
        self.queue = self._new_queue()
        self.pending: dict[str, Any] = {}  # live parameter changes, applied by the worker between frames
        self.pending_lock = threading.Lock()
        self.running = False
        self.worker: threading.Thread | None = None
        self.reader: threading.Thread | None = None
        self.renderer: threading.Thread | None = None
        self.debug_slot: tuple | None = None  # (result, header, frame) waiting for the renderer
        self.debug_ready = threading.Condition()
        self.realsense = None  # the RealSenseSource while input_source=realsense runs
        self.epoch = StampEpoch()
        self.input_group = MutuallyExclusiveCallbackGroup()
        self.timer_group = MutuallyExclusiveCallbackGroup()
        self.subscriptions_: list = []
        self.previous_counts: dict[str, int] = {}
        self.action_publisher = None
        self.labels_publisher = None
        self.debug_publisher = None
        self.marker_publisher = None
        core_logger = logging.getLogger("r3d_ros")
        core_logger.addHandler(RosLogHandler(self))
        core_logger.setLevel(logging.INFO)
        core_logger.propagate = False
        self.diagnostics_publisher = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.diagnostics_timer = self.create_timer(
            self.values["diagnostics_period_s"], self.publish_diagnostics, self.timer_group
        )
        self.add_on_set_parameters_callback(self._on_set_parameters)

    def _read_parameters(self) -> None:
        """Read and validate every parameter (at start-up and on each configure); ConfigError names one."""
        values = {spec.name: self.get_parameter(spec.name).value for spec in PARAMETERS}
        for name, value in values.items():
            check_value(name, value)
        self.stream, self.runtime = stream_config(values), runtime_config(values)
        for name in ("color_topic", "depth_topic"):
            try:
                self.resolve_topic_name(values[name])
            except Exception as error:  # rclpy raises its own name-validation exceptions
                raise ConfigError(f"parameter '{name}': invalid topic name {values[name]!r} ({error})") from None
        self.values = values
        self.frame_id = values["frame_id"]
        self.input_names = {"color": values["color_topic"], "depth": values["depth_topic"]}

    def _new_queue(self) -> InputQueue:
        tolerance = pair_tolerance_ns(self.stream.sync_policy, self.stream.sync_slop_s)
        return InputQueue(self.values["input_queue_size"], tolerance)

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        """Validate a run-time change with the same schema as start-up; live ones apply at the next frame."""
        changes = {p.name: p.value for p in parameters if p.name in BY_NAME}
        try:
            for name, value in changes.items():
                check_value(name, value)
                if not BY_NAME[name].live and self.loaded is not None:
                    raise ConfigError(
                        f"parameter '{name}' is read on configure: deactivate and clean up the node, set it, "
                        "then configure again"
                    )
            stream_config({**self.values, **changes})
        except ConfigError as error:
            return SetParametersResult(successful=False, reason=str(error))
        with self.pending_lock:
            self.pending.update(changes)
        if not self.running:
            self._apply_pending()
        return SetParametersResult(successful=True)

    def _apply_pending(self) -> None:
        """Apply accepted live changes (called by the worker between frames, so never mid-tick)."""
        with self.pending_lock:
            changes, self.pending = self.pending, {}
        if not changes:
            return
        self.values.update(changes)
        self.stream = stream_config(self.values)
        if "frame_id" in changes:
            self.frame_id = changes["frame_id"]
        if self.pipeline is not None:
            self.pipeline.update(self.stream)
        self.get_logger().info("parameters applied: " + ", ".join(f"{k}={v!r}" for k, v in changes.items()))

    # ----- lifecycle ---------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Read the parameters, load the model and create the publishers."""
        try:
            self._read_parameters()
        except ConfigError as error:
            self.get_logger().error(f"invalid configuration: {error}")
            return TransitionCallbackReturn.FAILURE
        self.queue = self._new_queue()
        self.diagnostics_timer.timer_period_ns = round(self.values["diagnostics_period_s"] * 1e9)
        model_path = Path(self.values["model_path"]) if self.values["model_path"] else shipped_file(DEFAULT_MODEL)
        try:
            self.loaded = create_backend(model_path, self.runtime)
        except (ConfigError, ModelFileError, BackendError) as error:
            self.get_logger().error(f"cannot load the model: {error}")
            return TransitionCallbackReturn.FAILURE
        self.pipeline = AnticipationPipeline(self.loaded, self.stream)
        self.pipeline.anticipator.warm_up()
        self.action_publisher = self.create_lifecycle_publisher(AnticipatedAction, "anticipated_action", ACTION_QOS)
        self.labels_publisher = self.create_lifecycle_publisher(ActionLabels, "anticipated_action/labels", LABELS_QOS)
        self.debug_publisher = self.create_lifecycle_publisher(Image, "~/debug_image", DEBUG_QOS)
        self.marker_publisher = self.create_lifecycle_publisher(MarkerArray, "~/markers", DEBUG_QOS)
        self.get_logger().info(
            f"model {self.loaded.model_id} ({len(self.loaded.model.config.model.class_names)} classes, "
            f"decoded by {self.loaded.model.config.model.decoding}) on {self.loaded.backend.describe()}"
        )
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start the worker and the input; publish the labels once."""
        result = super().on_activate(state)
        self.stats.inputs = {"color": StreamMonitor(), "depth": StreamMonitor()}
        self.stats.active_since, self.stats.last_publish = time.monotonic(), None
        self.running = True
        self.worker = threading.Thread(target=self._work, name="r3d_worker", daemon=True)
        self.worker.start()
        self.renderer = threading.Thread(target=self._render_debug_images, name="r3d_debug_image", daemon=True)
        self.renderer.start()
        self._start_input()
        config = self.loaded.model.config
        self.labels_publisher.publish(
            labels_message(config.model.class_names, self.loaded.model_id, self.get_clock().now().to_msg())
        )
        self.get_logger().info(
            f"active: input {self.values['input_source']} (color {self.input_names['color']}, "
            f"depth {self.input_names['depth']}), output {self.action_publisher.topic_name}"
        )
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop input and worker."""
        self._stop()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release the model and publishers."""
        self._release()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop everything."""
        self._stop()
        self._release()
        return super().on_shutdown(state)

    def _release(self) -> None:
        if self.loaded is not None:
            self.loaded.backend.close()
        for publisher in (self.action_publisher, self.labels_publisher, self.debug_publisher, self.marker_publisher):
            if publisher is not None:
                self.destroy_lifecycle_publisher(publisher)
        self.action_publisher = self.labels_publisher = self.debug_publisher = self.marker_publisher = None
        self.loaded = self.pipeline = None

    # ----- input -------------------------------------------------------------------
    def _start_input(self) -> None:
        if self.values["input_source"] == "realsense":
            camera = (
                f"RealSense {self.values['realsense_serial'] or self.values['realsense_playback_file'] or 'camera'}"
            )
            self.input_names = {"color": camera, "depth": camera}
            self.reader = threading.Thread(target=self._read_realsense, name="r3d_realsense", daemon=True)
            self.reader.start()
            return
        reliability = (
            ReliabilityPolicy.RELIABLE
            if self.values["qos_reliability"] == "reliable"
            else ReliabilityPolicy.BEST_EFFORT
        )
        if not self.stream.use_depth:
            self.input_names["depth"] = "(not read: use_depth is false)"
        for stream in ("color", "depth") if self.stream.use_depth else ("color",):
            topic, transport = self.values[f"{stream}_topic"], self.values[f"{stream}_transport"]
            compressed = transport != "raw"
            # One profile per subscription: rclpy applies QoS overrides to the profile object in place.
            qos = QoSProfile(depth=self.values["qos_depth"], reliability=reliability, history=HistoryPolicy.KEEP_LAST)
            self.subscriptions_.append(
                self.create_subscription(
                    CompressedImage if compressed else Image,
                    f"{topic}/{transport}" if compressed else topic,
                    lambda msg, s=stream: self._on_image(s, msg),
                    qos,
                    callback_group=self.input_group,
                    # Standard overrides (qos_overrides./<topic>.subscription.reliability, .depth, ...)
                    # win over the qos_reliability / qos_depth shorthands.
                    qos_overriding_options=QoSOverridingOptions.with_default_policies(),
                )
            )
            self.input_names[stream] = self.subscriptions_[-1].topic_name

    def _on_image(self, stream: str, message: Image | CompressedImage) -> None:
        """Subscription callback: wrap and queue, nothing else (compressed images are decoded by the worker)."""
        stamp_ns = time_to_ns(message.header.stamp)
        self.stats.arrived(stream, stamp_ns)
        self.stats.arrival_age_ms[stream].append((self.get_clock().now().nanoseconds - stamp_ns) * 1e-6)
        if stream == "color" and not self.frame_id:
            self.frame_id = message.header.frame_id
        payload = (
            Compressed(message.format, message.data) if isinstance(message, CompressedImage) else image_to_raw(message)
        )
        self.queue.put(QueuedImage(stream, stamp_ns, payload))

    def _read_realsense(self) -> None:
        from r3d_ros.runtime.realsense import RealSenseConfig, RealSenseSource

        config = RealSenseConfig(
            serial=self.values["realsense_serial"] or None,
            color_width=self.values["realsense_width"],
            color_height=self.values["realsense_height"],
            color_fps=self.values["realsense_fps"],
            depth_width=self.values["realsense_width"],
            depth_height=self.values["realsense_height"],
            depth_fps=self.values["realsense_fps"],
            playback_file=self.values["realsense_playback_file"] or None,
            loop=self.values["realsense_loop"],
            enable_depth=self.stream.use_depth,
        )
        source = RealSenseSource(config, logger=logging.getLogger("r3d_ros.realsense"))
        self.realsense = source
        if not self.frame_id:
            self.frame_id = "camera_color_optical_frame"
        try:
            source.start()
            while self.running and not source.finished:
                frame = source.read()
                if frame is None:
                    continue
                stamp_ns = round(frame.stamp_s * 1e9)
                for stream in ("color", "depth") if frame.depth is not None else ("color",):
                    self.stats.arrived(stream, stamp_ns)
                self.queue.put(QueuedImage("pair", stamp_ns, (frame.color, frame.depth, frame.depth_scale)))
        except Exception as error:  # the reader must never die silently
            self._record_error(f"RealSense input stopped: {error}")
        finally:
            source.stop()

    # ----- worker ------------------------------------------------------------------
    def _work(self) -> None:
        while self.running:
            entry = self.queue.get(timeout_s=0.2)
            self._apply_pending()
            if entry is None or not self.running:
                continue
            queued_at, item = entry
            self.stats.queue_wait_ms.append((time.monotonic() - queued_at) * 1e3)
            try:
                self._process(*item)
            except Exception as error:  # one bad frame must not stop the node
                if self.running and self.context.ok():  # not an error: publishing while shutting down
                    self._record_error(f"frame processing failed: {error!r}")
            self.stats.processed += 1

    def _process(self, stream: str, stamp_ns: int, payload: Any) -> None:
        stamp = self.epoch.seconds(stamp_ns)
        started = time.perf_counter()
        if isinstance(payload, Compressed):
            try:
                payload = DECODERS[stream](payload.data, payload.format)
            except ImageError as error:
                self.pipeline.anticipator.count_invalid(error)
                self.pipeline.invalid_log(f"dropped an undecodable {stream} image at {stamp:.3f} s: {error}")
                return
        if stream == "color":
            results = self.pipeline.add_color(stamp, payload)
        elif stream == "depth":
            results = self.pipeline.add_depth(stamp, payload)
        else:
            results = self.pipeline.add_pair(stamp, *payload)
        for result in results:
            self._publish(result, started)

    def _publish(self, result: Anticipation, started: float) -> None:
        message = anticipation_message(result, self.epoch, self.frame_id)
        self.action_publisher.publish(message)
        now_ns = self.get_clock().now().nanoseconds
        self.stats.published += 1
        self.stats.tick_ms.append((time.perf_counter() - started) * 1e3)
        self.stats.stamp_to_publish_ms.append((now_ns - self.epoch.nanoseconds(result.stamp)) * 1e-6)
        self.stats.last = result
        self.stats.last_publish = time.monotonic()
        full_window = result.num_frames == self.pipeline.anticipator.window
        if full_window and len(self.stats.ranks) < self.values["rank_calibration_ticks"]:
            self.stats.ranks.append(result.fused_effective_rank)
        if self.marker_publisher.get_subscription_count() > 0:
            self.marker_publisher.publish(MarkerArray(markers=[label_marker(result, message.header)]))
        if self.debug_publisher.get_subscription_count() > 0:  # costs nothing when nobody looks
            with self.debug_ready:  # the renderer thread draws the newest one; older ones are skipped
                self.debug_slot = (result, message.header, self.pipeline.last_frame)
                self.debug_ready.notify()

    def _render_debug_images(self) -> None:
        """Renderer thread: draw and publish ``~/debug_image`` off the worker, so it never delays a tick."""
        while self.running:
            with self.debug_ready:
                while self.running and self.debug_slot is None:
                    self.debug_ready.wait(timeout=0.2)
                slot, self.debug_slot = self.debug_slot, None
            if slot is None:
                continue
            try:
                self._publish_debug_image(*slot)
            except Exception as error:  # a drawing problem must not stop the node
                if self.running and self.context.ok():
                    self._record_error(f"debug image failed: {error!r}")

    def _publish_debug_image(self, result: Anticipation, header: Header, frame: tuple) -> None:
        """``~/debug_image``: the frame the anticipation was computed at, with what the model says drawn on it."""
        color, depth, scale = frame
        metres = decode_depth(depth, scale) if depth is not None and self.values["debug_image_depth"] else None
        pixels = render_overlay(
            decode_color(color),
            result,
            depth_status(result),
            metres,
            class_names=self.pipeline.anticipator.class_names,
            max_depth_m=self.loaded.model.config.model.input.max_depth_m,
        )
        height, width = pixels.shape[:2]
        self.debug_publisher.publish(
            Image(header=header, height=height, width=width, encoding="rgb8", step=width * 3, data=pixels.tobytes())
        )
        self.stats.debug_images += 1

    def _record_error(self, message: str) -> None:
        self.stats.errors += 1
        self.stats.last_error = message
        self.get_logger().error(message)

    def _stop(self) -> None:
        self.running = False
        if self.realsense is not None:
            self.realsense.stop()
        self.queue.wake()
        with self.debug_ready:
            self.debug_ready.notify_all()
        for thread in (self.worker, self.reader, self.renderer):
            if thread is not None:
                thread.join(timeout=5.0)
        self.worker = self.reader = self.renderer = None
        for subscription in self.subscriptions_:
            self.destroy_subscription(subscription)
        self.subscriptions_ = []
        self.queue.clear()

    # ----- diagnostics -------------------------------------------------------------
    def publish_diagnostics(self) -> None:
        """Publish /diagnostics: rates, sync, drops, latency, backend, modalities, rank."""
        try:
            status = self._diagnostic_status()
        except Exception as error:  # diagnostics must never take the node down
            status = diagnostic_status(
                f"{self.get_name()}: pipeline", DiagnosticStatus.ERROR, f"diagnostics failed: {error}", {}, ""
            )
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_publisher.publish(array)

    def _diagnostic_status(self) -> DiagnosticStatus:
        stats, pipeline, now = self.stats, self.pipeline, time.monotonic()
        values: dict[str, object] = {
            "state": "active" if self.running else "inactive",
            "input_source": self.values["input_source"],
            "color_rate_hz": f"{stats.inputs['color'].rate(now):.1f}",
            "depth_rate_hz": f"{stats.inputs['depth'].rate(now):.1f}",
            "color_lost_upstream": f"{stats.inputs['color'].lost_fraction():.3f}",
            "depth_lost_upstream": f"{stats.inputs['depth'].lost_fraction():.3f}",
            "received_color": stats.received["color"],
            "received_depth": stats.received["depth"],
            "processed": stats.processed,
            "queue_dropped": self.queue.dropped,
            "errors": stats.errors,
            "published": stats.published,
            "debug_images": stats.debug_images,
            "color_arrival_age_ms_p50": f"{percentile(stats.arrival_age_ms['color'], 50):.1f}",
            "color_arrival_age_ms_p99": f"{percentile(stats.arrival_age_ms['color'], 99):.1f}",
            "depth_arrival_age_ms_p50": f"{percentile(stats.arrival_age_ms['depth'], 50):.1f}",
            "depth_arrival_age_ms_p99": f"{percentile(stats.arrival_age_ms['depth'], 99):.1f}",
            "queue_wait_ms_p50": f"{percentile(stats.queue_wait_ms, 50):.2f}",
            "queue_wait_ms_p99": f"{percentile(stats.queue_wait_ms, 99):.2f}",
            "tick_ms_p50": f"{percentile(stats.tick_ms, 50):.2f}",
            "tick_ms_p99": f"{percentile(stats.tick_ms, 99):.2f}",
            "stamp_to_publish_ms_p50": f"{percentile(stats.stamp_to_publish_ms, 50):.1f}",
            "stamp_to_publish_ms_p99": f"{percentile(stats.stamp_to_publish_ms, 99):.1f}",
        }
        snapshot = Snapshot(
            now=now,
            active_since=stats.active_since if self.running else None,
            color=stats.inputs["color"],
            depth=stats.inputs["depth"],
            color_topic=self.input_names["color"],
            depth_topic=self.input_names["depth"],
            last_publish=stats.last_publish,
            sync_policy=self.stream.sync_policy,
        )
        if pipeline is not None:
            sync, anticipator = pipeline.sync.stats, pipeline.anticipator.stats
            paired = sync.matched + sync.color_only
            values.update(
                {
                    "backend": self.loaded.backend.describe(),
                    "model_id": self.loaded.model_id,
                    "decoding": self.loaded.model.config.model.decoding,
                    "sync_matched": sync.matched,
                    "sync_color_only": sync.color_only,
                    "sync_success_rate": f"{sync.matched / paired:.3f}" if paired else "nan",
                    "sync_dropped_color": sync.dropped_color,
                    "sync_dropped_depth": sync.dropped_depth,
                    "frames_used": anticipator.used,
                    "frames_invalid": anticipator.invalid,
                    "frames_depth_too_noisy": anticipator.depth_too_noisy,
                    "depth_noise_at_1m": f"{anticipator.last_depth_noise:.4f}",
                    "max_depth_noise": f"{pipeline.depth_limit:g}",
                    "frames_rgb_too_noisy": anticipator.rgb_too_noisy,
                    "rgb_noise_at_input": f"{anticipator.last_rgb_noise:.2f}",
                    "max_rgb_noise": f"{pipeline.rgb_limit:g}",
                    "last_invalid_reason": anticipator.last_invalid_reason,
                    "resets": anticipator.resets,
                    "last_reset_reason": anticipator.last_reset_reason,
                }
            )
            counts = {
                "invalid": anticipator.invalid,
                "matched": sync.matched,
                "color_only": sync.color_only,
                "depth_too_noisy": anticipator.depth_too_noisy,
                "rgb_too_noisy": anticipator.rgb_too_noisy,
            }
            new = {key: count - self.previous_counts.get(key, 0) for key, count in counts.items()}
            self.previous_counts = counts
            snapshot.invalid_new, snapshot.matched_new, snapshot.color_only_new = (
                new["invalid"],
                new["matched"],
                new["color_only"],
            )
            snapshot.last_invalid_reason = anticipator.last_invalid_reason
            snapshot.nearest_depth_ms = sync.unpaired_nearest_depth_ms
            snapshot.depth_too_noisy_new = new["depth_too_noisy"]
            snapshot.depth_noise, snapshot.max_depth_noise = anticipator.last_depth_noise, pipeline.depth_limit
            snapshot.rgb_too_noisy_new = new["rgb_too_noisy"]
            snapshot.rgb_noise, snapshot.max_rgb_noise = anticipator.last_rgb_noise, pipeline.rgb_limit
        assessment = assess(snapshot)
        last = stats.last
        if last is not None:
            depth = depth_status(last) if self.stream.use_depth else "not read (use_depth is false)"
            values["depth"] = depth
            values["fused_effective_rank"] = f"{last.fused_effective_rank:.2f}"
            if depth == "missing":  # an operator's choice not to read depth is not a fault
                assessment.add(WARN, "depth missing (model cannot substitute)")
            if stats.ranks:
                calibrated = float(np.median(stats.ranks))
                values["fused_effective_rank_calibrated"] = f"{calibrated:.2f}"
                full_window = last.num_frames == pipeline.anticipator.window if pipeline else False
                if full_window and last.fused_effective_rank < self.values["rank_collapse_fraction"] * calibrated:
                    assessment.add(WARN, "fused effective rank collapsed below its calibrated range")
        arrival_age = percentile(stats.arrival_age_ms["color"], 50)
        late_limit = self.values["late_frame_warn_ms"]
        if late_limit > 0 and abs(arrival_age) > late_limit:
            assessment.add(
                WARN,
                f"frames reach the node {arrival_age:.0f} ms after their stamps (median): a bag replayed "
                "without use_sim_time, camera and node clocks apart, or large images over Fast DDS "
                "without config/fastdds_large_images.xml",
            )
        if self.realsense is not None:
            values.update({f"realsense_{k}": v for k, v in self.realsense.status().items()})
        if stats.errors:
            values["last_error"] = stats.last_error
        message = "; ".join(assessment.problems) if assessment.problems else "ok"
        level = (DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR)[assessment.level]
        return diagnostic_status(
            f"{self.get_name()}: pipeline", level, message, values, self.loaded.model_id if self.loaded else ""
        )


def label_marker(result: Anticipation, header: Header) -> Marker:
    """An RViz text marker above the camera's view: what happens now and what comes next.

    Placed in the camera's optical frame (x right, y down, z forward): 1.5 m ahead and
    0.4 m above the optical axis, so it floats over the scene the camera sees.
    """
    marker = Marker(header=header, ns="r3d_anticipation", id=0, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD)
    marker.pose.position.y, marker.pose.position.z = -0.4, 1.5
    marker.pose.orientation.w = 1.0
    marker.scale.z = 0.12
    marker.color.r = marker.color.g = marker.color.b = marker.color.a = 1.0
    marker.lifetime.sec = 1
    marker.text = f"{result.current.label} -> {result.next_label} ({result.next_confidence:.0%})"
    return marker


def make_executor() -> Executor:
    """A single-threaded executor: callbacks only queue frames, the worker thread does the work.

    rclpy's multi-threaded executor spends more CPU polling than the whole pipeline costs,
    and its experimental EventsExecutor does not dispatch the subscriptions a lifecycle
    transition creates after the node was added.
    """
    return SingleThreadedExecutor()


def main(args: list[str] | None = None) -> int:
    """Console entry point: ``anticipation_node --ros-args --params-file config/anticipate.yaml``.

    Exit status 0 after Ctrl-C or SIGTERM at any moment (also during start-up),
    2 for a configuration the node refuses, with one line naming what is wrong.
    """
    rclpy.init(args=args)
    logger = rclpy.logging.get_logger("r3d_anticipation")
    node = None
    try:
        node = AnticipationNode()
        return _run(node)
    except ConfigError as error:
        logger.fatal(f"invalid configuration: {error}")
        return 2
    except rclpy.exceptions.InvalidParameterValueException as error:
        logger.fatal(f"invalid parameter: {error}")
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        return 0
    except RCLError:
        if rclpy.ok():
            raise
        return 0  # SIGTERM shut the context down while the executor was building its wait set
    finally:
        if node is not None:
            node._stop()
            node.destroy_node()
        rclpy.try_shutdown()


def _run(node: AnticipationNode) -> int:
    """Configure and activate (with ``autostart``), then spin until shutdown."""
    executor = make_executor()
    executor.add_node(node)
    if node.values["autostart"]:
        if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            return 2
        if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
            return 2
    executor.spin()
    return 0


if __name__ == "__main__":
    sys.exit(main())
