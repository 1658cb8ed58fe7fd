"""Runtime benchmark: per-frame path, temporal ticks, streaming vs naive, end-to-end frames/s, memory.

    scripts/with-env python bench/bench_runtime.py                       # shipped model, every backend here
    scripts/with-env python bench/bench_runtime.py --backends torch --device cuda --out bench.json

For the shipped default model and each available backend it measures, in one run:
1. per-frame path cost (preprocessed frame -> fused token) and temporal tick cost for windows
   16, 32, 64, 128 (the shipped architecture rebuilt with each window length: cost does not
   depend on the weights), median and p99 in ms;
2. the streaming tick (temporal model over cached tokens) against the naive tick that
   re-encodes every frame of the window, and their ratio; and, on the model's own window,
   the whole tick as the node runs it (the temporal model plus decoding: with
   ``future_decoder: grammar_filter`` the grammar filter over the window);
3. the frames/s one process sustains on 640x480 RGB-D (bgr8 + 16UC1) including preprocessing,
   with a tick every third frame (30 fps input, 10 Hz output), and the part of preprocessing
   that estimates each frame's depth and RGB noise for ``max_depth_noise`` and ``max_rgb_noise``;
4. peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from r3d_ros.config import RuntimeConfig, StreamConfig
from r3d_ros.model.checkpoint import load_model, save_model
from r3d_ros.model.decode import softmax
from r3d_ros.model.r3d import R3DModel
from r3d_ros.rank import effective_rank
from r3d_ros.runtime.anticipator import StreamingAnticipator
from r3d_ros.runtime.backends import choose_backend, create_backend
from r3d_ros.runtime.depth_noise import depth_noise_at_1m, limit_in_force
from r3d_ros.runtime.image import RawImage, decode_color, decode_depth
from r3d_ros.runtime.preprocess import rgb_noise_at_input

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "models" / "r3d_default.safetensors"
WINDOWS = (16, 32, 64, 128)


def timed(function, repeats: int, warmup: int = 5) -> list[float]:
    """Wall times of ``function()`` in ms."""
    for _ in range(warmup):
        function()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1e3)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    """Median and 99th percentile."""
    return {"median_ms": statistics.median(samples), "p99_ms": float(np.percentile(samples, 99))}


def model_with_window(path: Path, window: int, folder: Path) -> Path:
    """The model's architecture with another window length (random weights), as a model file."""
    model, _ = load_model(path)
    config = model.config
    config.anticipation.window = window
    variant = R3DModel(config).eval()
    out = folder / f"window{window}.safetensors"
    save_model(out, variant)
    return out


def camera_stream(count: int, seed: int = 0):
    """640x480 bgr8 color (a smooth moving texture with a good camera's pixel noise) and 16UC1 depth (a
    floor-like slope 0.4-4 m away with the stereo noise the shipped model was trained on), so that
    max_rgb_noise and max_depth_noise keep them as the node would."""
    rng = np.random.default_rng(seed)
    texture = cv2.resize(rng.uniform(0, 255, (30, 40, 3)), (640, 480), interpolation=cv2.INTER_LINEAR)
    color = np.clip(np.rint(texture + rng.standard_normal((480, 640, 3)) * 2.0), 0, 255).astype(np.uint8)
    metres = np.broadcast_to(np.linspace(4.0, 0.4, 480)[:, None], (480, 640))
    depth = np.rint((metres + rng.standard_normal((480, 640)) * 0.01 * metres**2) * 1000).astype(np.uint16)
    frames = []
    for i in range(count):
        frames.append(
            (
                RawImage.from_array(np.roll(color, 3 * i, axis=1), "bgr8"),
                RawImage.from_array(np.roll(depth, i, 0), "16UC1"),
            )
        )
    return frames


def bench_backend(name: str, model_path: Path, runtime: RuntimeConfig, repeats: int, folder: Path) -> dict:
    """Every measurement for one backend."""
    result: dict = {"backend": name}
    loaded = create_backend(model_path, RuntimeConfig(**{**runtime.__dict__, "backend": name}))
    result["describe"] = loaded.backend.describe()
    backend = loaded.backend
    shapes = backend.shapes
    rng = np.random.default_rng(0)
    rgb = rng.random((3, shapes.height, shapes.width), dtype=np.float32)
    depth = rng.random((2, shapes.height, shapes.width), dtype=np.float32)
    per_frame = timed(lambda: backend.encode(rgb, depth, True, True), repeats)
    result["per_frame"] = summary(per_frame)
    result["windows"] = {}
    for window in WINDOWS:
        variant = create_backend(
            model_with_window(model_path, window, folder), RuntimeConfig(**{**runtime.__dict__, "backend": name})
        )
        b = variant.backend
        tokens = rng.standard_normal((window, variant.model.config.model.token_dim), dtype=np.float32)
        mask = np.ones(window, dtype=bool)
        streaming = timed(lambda b=b, t=tokens, m=mask: b.temporal(t, m), repeats)

        def naive(b=b, t=tokens, m=mask, w=window) -> None:
            for _ in range(w):
                b.encode(rgb, depth, True, True)
            b.temporal(t, m)

        naive_samples = timed(naive, max(5, repeats // 10), warmup=1)
        result["windows"][window] = {
            "streaming_tick": summary(streaming),
            "naive_tick": summary(naive_samples),
            "naive_over_streaming": statistics.median(naive_samples) / statistics.median(streaming),
        }
        variant.backend.close()
    stream = StreamingAnticipator(loaded)
    limit = limit_in_force(StreamConfig().max_depth_noise, loaded.model.config.model.max_depth_noise)
    rgb_limit = limit_in_force(StreamConfig().max_rgb_noise, loaded.model.config.model.max_rgb_noise)
    frames = camera_stream(90)
    metres = decode_depth(frames[0][1])
    result["depth_noise_estimate"] = summary(timed(lambda: depth_noise_at_1m(metres, stream.size.min_depth_m), repeats))
    pixels = decode_color(frames[0][0])
    result["rgb_noise_estimate"] = summary(timed(lambda: rgb_noise_at_input(pixels, stream.size), repeats))
    for i in range(stream.window):  # a full window at the model rate
        stream.push(i / stream.fps, *frames[i % len(frames)], max_depth_noise=limit, max_rgb_noise=rgb_limit)
    result["full_tick"] = summary(timed(stream.tick, repeats))
    result["full_tick_window"] = stream.count
    full = np.ones(stream.window, dtype=bool)  # the ring is full: its order does not matter to either part
    parts = {"window_rank": summary(timed(lambda: effective_rank(stream.tokens, center=True), repeats))}
    if stream.grammar_filter is not None:
        probabilities = softmax(backend.temporal(stream.tokens, full).segmentation)
        parts["grammar_filter"] = summary(timed(lambda: stream.grammar_filter.posterior(probabilities), repeats))
    result["tick_parts"] = parts
    stream.reset("benchmark: the end-to-end run starts from an empty window")
    count = 900
    start = time.perf_counter()
    for i in range(count):
        color, depth_image = frames[i % len(frames)]
        stream.push(i / 30.0, color, depth_image, max_depth_noise=limit, max_rgb_noise=rgb_limit)
        if i % 3 == 0:
            stream.tick()
    elapsed = time.perf_counter() - start
    result["end_to_end_fps"] = count / elapsed
    if stream.stats.depth_too_noisy or stream.stats.rgb_too_noisy:
        raise RuntimeError("a noise limit left out the benchmark's depth or RGB, which a good camera's would keep")
    backend.close()
    return result


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info = {
        "cpu": cpu,
        "cores": str(len(os.sched_getaffinity(0))),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def main() -> None:
    """Run and print the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument(
        "--backends", nargs="+", default=None, help="default: torch, onnxruntime, and tensorrt if present"
    )
    parser.add_argument("--device", default="auto", help="PyTorch device (auto, cpu, cuda)")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0 = default)")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args()
    backends = args.backends or ["torch", "onnxruntime"] + (
        ["tensorrt"] if choose_backend("auto") == "tensorrt" else []
    )
    with tempfile.TemporaryDirectory() as folder:
        runtime = RuntimeConfig(cache_dir=folder, device=args.device, threads=args.threads)
        results = {"machine": machine(), "model": str(args.model), "backends": []}
        for name in backends:
            results["backends"].append(bench_backend(name, args.model, runtime, args.repeats, Path(folder)))
    results["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(results["machine"]))
    for r in results["backends"]:
        pf = r["per_frame"]
        print(f"\n{r['describe']}: per-frame path {pf['median_ms']:.2f} ms median, {pf['p99_ms']:.2f} ms p99")
        print(f"  end-to-end 640x480 RGB-D with a tick every 3rd frame: {r['end_to_end_fps']:.1f} frames/s")
        noise = r["depth_noise_estimate"]
        print(f"  of which the depth noise estimate: {noise['median_ms']:.2f} ms median, {noise['p99_ms']:.2f} ms p99")
        ft = r["full_tick"]
        print(
            f"  whole tick (temporal + decoding) on a full window of {r['full_tick_window']} frames: "
            f"{ft['median_ms']:.2f} ms median, {ft['p99_ms']:.2f} ms p99"
        )
        for part, timing in r["tick_parts"].items():
            print(f"    of which {part}: {timing['median_ms']:.2f} ms median, {timing['p99_ms']:.2f} ms p99")
        print("  window  streaming tick (median / p99 ms)  naive tick (median / p99 ms)  naive/streaming")
        for window, w in r["windows"].items():
            s, n = w["streaming_tick"], w["naive_tick"]
            print(
                f"  {window:6d}  {s['median_ms']:8.2f} / {s['p99_ms']:8.2f}"
                f"              {n['median_ms']:8.2f} / {n['p99_ms']:8.2f}          {w['naive_over_streaming']:6.1f}x"
            )
    print(f"\npeak resident memory: {results['peak_rss_mib']:.0f} MiB")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
