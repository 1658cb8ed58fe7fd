"""Node benchmark: 30 Hz 640x480 RGB-D over DDS in, /anticipated_action out.

    scripts/with-env python bench/bench_node.py [--seconds 30] [--backend onnxruntime] [--rate 30]
    scripts/with-env python bench/bench_node.py --fastdds-profile config/fastdds_large_images.xml
    scripts/with-env python bench/bench_node.py --fastdds-profile config/fastdds_large_images.xml --debug-subscriber

Starts the anticipation node (shipped model) in its own process, publishes color (bgr8)
and aligned depth (16UC1) with identical stamps taken from the wall clock at publication,
and measures the output rate, the latency from the last observed frame's stamp to the
node's publication (p50, p99 over the last 300 ticks, from /diagnostics) and to reception
here, and from /diagnostics the fraction of published frames that reached the pipeline, the
frames the node dropped and how old each stream's frames are when they reach the node's
callback (transport). ``--fastdds-profile`` applies a Fast DDS XML profile to both processes,
or with ``--profile-in`` only to the publisher (the camera's side) or only to the node.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test"))

from node_harness import COLOR_TOPIC, DEPTH_TOPIC, RELIABLE, Collector, image, node_process  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from ros_util import ros_node, spin_until  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from r3d_ros.ros.dds_profile import PROFILE_VARIABLE  # noqa: E402

MODEL = ROOT / "models" / "r3d_default.safetensors"


def use_profile(path: str | None) -> None:
    """Make the Fast DDS participants created from now on in this process or its children use ``path``."""
    if path:
        os.environ[PROFILE_VARIABLE] = path
    else:
        os.environ.pop(PROFILE_VARIABLE, None)


def main() -> None:
    """Run the benchmark and print (and optionally save) its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=30.0, help="input frames per second")
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads in the node")
    parser.add_argument("--qos", choices=["reliable", "best_effort"], default="reliable", help="image topics' QoS")
    parser.add_argument("--fastdds-profile", type=Path, default=None, help="Fast DDS XML profile")
    parser.add_argument("--profile-in", choices=["both", "publisher", "node"], default="both")
    parser.add_argument("--debug-subscriber", action="store_true", help="also subscribe to the node's ~/debug_image")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    color = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    depth = rng.integers(400, 4000, (480, 640), dtype=np.uint16)
    with tempfile.TemporaryDirectory() as cache:
        parameters = {
            "backend": args.backend, "threads": args.threads, "diagnostics_period_s": 1.0, "qos_reliability": args.qos,
        }  # fmt: skip
        profile = str(args.fastdds_profile.resolve()) if args.fastdds_profile else None
        with contextlib.ExitStack() as stack:
            use_profile(profile if args.profile_in in ("both", "node") else None)
            process = stack.enter_context(node_process(MODEL, Path(cache), **parameters))
            use_profile(profile if args.profile_in in ("both", "publisher") else None)
            node, executor = stack.enter_context(ros_node("bench_camera"))
            collector = Collector()
            collector.attach(node)
            debug_images: list[int] = []
            if args.debug_subscriber:
                node.create_subscription(Image, "/r3d_anticipation/debug_image", lambda m: debug_images.append(1), 1)
            qos = RELIABLE if args.qos == "reliable" else qos_profile_sensor_data
            color_pub = node.create_publisher(Image, COLOR_TOPIC, qos)
            depth_pub = node.create_publisher(Image, DEPTH_TOPIC, qos)
            ready = lambda: color_pub.get_subscription_count() and depth_pub.get_subscription_count()  # noqa: E731
            spin_until(executor, ready, 20.0)
            frames = int(args.seconds * args.rate)
            start = time.monotonic()
            for i in range(frames):
                due = start + i / args.rate
                while time.monotonic() < due:
                    executor.spin_once(timeout_sec=max(0.0, min(0.002, due - time.monotonic())))
                stamp = time.time_ns()
                color_pub.publish(image(stamp, np.roll(color, 4 * i, axis=1), "bgr8"))
                depth_pub.publish(image(stamp, np.roll(depth, i, axis=0), "16UC1"))
            spin_until(executor, lambda: False, 2.0)
            elapsed = time.monotonic() - start
            diagnostics = collector.last_diagnostics()
            assert process.poll() is None
    stamps = np.array([a.header.stamp.sec * 10**9 + a.header.stamp.nanosec for a in collector.actions])
    latency_ms = (np.array(collector.receive_ns) - stamps) / 1e6
    result = {
        "input_rate_hz": args.rate,
        "frames_published": frames,
        "anticipations": len(collector.actions),
        "output_rate_hz": len(collector.actions) / args.seconds,
        # The node's own measurement at publication (system clock - last frame stamp; the
        # stamps are the publisher's system clock, same machine).
        "stamp_to_publish_ms_p50": float(diagnostics.get("stamp_to_publish_ms_p50", "nan")),
        "stamp_to_publish_ms_p99": float(diagnostics.get("stamp_to_publish_ms_p99", "nan")),
        # Measured in this process, which also renders and publishes the frames, so its own
        # busy publishing loop delays reception: an upper bound.
        "stamp_to_receive_ms_p50": float(np.percentile(latency_ms, 50)),
        "stamp_to_receive_ms_p99": float(np.percentile(latency_ms, 99)),
        # Transport: the node's clock at the subscription callback minus the frame's stamp.
        "color_arrival_age_ms_p50": float(diagnostics.get("color_arrival_age_ms_p50", "nan")),
        "color_arrival_age_ms_p99": float(diagnostics.get("color_arrival_age_ms_p99", "nan")),
        "depth_arrival_age_ms_p50": float(diagnostics.get("depth_arrival_age_ms_p50", "nan")),
        "depth_arrival_age_ms_p99": float(diagnostics.get("depth_arrival_age_ms_p99", "nan")),
        "color_frames_received_by_node": int(diagnostics.get("received_color", 0)),
        "fraction_of_frames_reaching_pipeline": int(diagnostics.get("sync_matched", 0)) / frames,
        "node_queue_dropped": int(diagnostics.get("queue_dropped", 0)),
        "node_queue_wait_ms_p50": float(diagnostics.get("queue_wait_ms_p50", "nan")),
        "node_queue_wait_ms_p99": float(diagnostics.get("queue_wait_ms_p99", "nan")),
        "node_tick_ms_p50": float(diagnostics.get("tick_ms_p50", "nan")),
        "node_tick_ms_p99": float(diagnostics.get("tick_ms_p99", "nan")),
        "backend": diagnostics.get("backend", ""),
        "qos": args.qos,
        "fastdds_profile": args.fastdds_profile.name if args.fastdds_profile else "Fast DDS defaults",
        "profile_in": args.profile_in if args.fastdds_profile else "",
        "debug_subscriber": args.debug_subscriber,
        "debug_images_received": len(debug_images),
        "debug_images_rendered": int(diagnostics.get("debug_images", 0)),
        "wall_s": elapsed,
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
