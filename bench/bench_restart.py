"""Restart benchmark: the node is killed with SIGKILL and restarted while the camera keeps publishing.

    scripts/with-env python bench/bench_restart.py [--kills 3] [--fastdds-profile config/fastdds_large_images.xml]

A camera process publishes 640x480 color (bgr8) and aligned depth (16UC1) at 30 Hz,
reliable, as realsense2_camera does, and reports every publish call that blocks
longer than 100 ms. The anticipation node (shipped model) is started, killed with
SIGKILL once it publishes, and started again, ``--kills`` times. Per restart it
measures: seconds from the restart to the node's "active" line, and to its first
anticipation received here (the new node gets frames again); the camera's longest
publish stall after the kill; and the Fast DDS files left in /dev/shm.
Both processes use ``--fastdds-profile`` (default: the package's large-image profile).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test"))

from node_harness import RELIABLE, image  # noqa: E402
from ros_util import ros_node, spin_until  # noqa: E402

from r3d_msgs.msg import AnticipatedAction  # noqa: E402
from r3d_ros.ros.dds_profile import PROFILE_VARIABLE  # noqa: E402

COLOR, DEPTH = "/bench_camera/color/image_raw", "/bench_camera/aligned_depth_to_color/image_raw"
STALL_S = 0.1


def camera() -> None:
    """The camera process: publish at 30 Hz until killed; print each stalled publish as JSON."""
    from sensor_msgs.msg import Image

    with ros_node("bench_camera") as (node, executor):
        publishers = [node.create_publisher(Image, topic, RELIABLE) for topic in (COLOR, DEPTH)]
        rng = np.random.default_rng(0)
        color = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        depth = np.full((480, 640), 1500, dtype=np.uint16)
        print(json.dumps({"ready": True}), flush=True)
        next_at = time.monotonic()
        while True:
            ns = time.time_ns()
            started = time.monotonic()
            publishers[0].publish(image(ns, color, "bgr8"))
            publishers[1].publish(image(ns, depth, "16UC1"))
            took = time.monotonic() - started
            if took > STALL_S:
                print(json.dumps({"stall_s": took, "at": started}), flush=True)
            next_at += 1 / 30
            executor.spin_once(timeout_sec=max(0.0, next_at - time.monotonic()))


def start_node() -> subprocess.Popen:
    args = [sys.executable, "-m", "r3d_ros.ros.node", "--ros-args", "-p", f"color_topic:={COLOR}",
            "-p", f"depth_topic:={DEPTH}", "-p", "backend:=onnxruntime", "-p", "qos_reliability:=reliable"]  # fmt: skip
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_active(process: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            return False
        if "active: input" in line:
            threading.Thread(target=process.stdout.read, daemon=True).start()  # keep the pipe from filling
            return True
    return False


def shm_files() -> int:
    return sum(1 for p in Path("/dev/shm").iterdir() if p.name.startswith(("fastdds", "fast_datasharing")))


def main() -> None:
    """Run the kills and print (and optionally save) the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--fastdds-profile", type=Path, default=ROOT / "config" / "fastdds_large_images.xml")
    parser.add_argument("--timeout", type=float, default=60.0, help="give up waiting for anticipations after this")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--camera", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.camera:
        camera()
        return
    os.environ[PROFILE_VARIABLE] = str(args.fastdds_profile.resolve())
    cam = subprocess.Popen([sys.executable, __file__, "--camera"], stdout=subprocess.PIPE, text=True)
    assert json.loads(cam.stdout.readline())["ready"]
    stalls: list[dict] = []
    threading.Thread(target=lambda: stalls.extend(json.loads(line) for line in cam.stdout), daemon=True).start()
    try:
        results = restarts(args, stalls)
    finally:
        cam.kill()
    summary = {"profile": str(args.fastdds_profile), "restarts": results}
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2) + "\n")


def restarts(args: argparse.Namespace, stalls: list[dict]) -> list[dict]:
    """Kill and restart the node ``args.kills`` times; one result per restart."""
    results = []
    with ros_node("bench_restart_monitor") as (node, executor):
        received: list[float] = []
        node.create_subscription(AnticipatedAction, "/anticipated_action", lambda m: received.append(time.monotonic()),
                                 RELIABLE)  # fmt: skip
        node_process = start_node()
        assert wait_active(node_process, 120.0), "the node did not start"
        print("node active; waiting for its first anticipation", file=sys.stderr, flush=True)
        assert spin_until(executor, lambda: bool(received), args.timeout), "no anticipation before the first kill"
        for _ in range(args.kills):
            spin_until(executor, lambda: False, 3.0)
            node_process.send_signal(signal.SIGKILL)
            node_process.wait()
            killed_at = time.monotonic()
            shm_after_kill = shm_files()
            node_process = start_node()
            active = wait_active(node_process, 120.0)
            active_s = time.monotonic() - killed_at
            restarted = killed_at + active_s
            spin_until(executor, lambda r=restarted: bool(received) and received[-1] > r, args.timeout)
            first = next((t for t in received if t > restarted), None)
            after_kill = [s["stall_s"] for s in stalls if s["at"] >= killed_at - 1.0]
            results.append({
                "active_s": round(active_s, 2) if active else None,
                "first_anticipation_s": round(first - killed_at, 2) if first else None,
                "longest_camera_stall_s": round(max(after_kill, default=0.0), 3),
                "fastdds_shm_files_after_kill": shm_after_kill,
            })  # fmt: skip
            print(json.dumps(results[-1]), flush=True)
        node_process.send_signal(signal.SIGTERM)
        node_process.wait(timeout=10)
    return results


if __name__ == "__main__":
    main()
