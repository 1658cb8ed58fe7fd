"""Noise-limit benchmark: the wall time of the limits ``r3d-train`` measures after training.

    scripts/with-env python bench/bench_noise_limits.py --model models/r3d_default.safetensors \\
        --compare docs/experiment/reproduce/shared_renders_one_thread --out limits.json

The last step of ``r3d-train --config config/train/default.yaml`` measures the depth and RGB
noise limits (``train.depth_limit``, ``train.rgb_limit``) on development test sets rendered
from scratch: with nothing cached it is a fixed cost of every reproduction of the shipped
model. This runs that step alone on a model file, as the trainer does (the config's levels,
seeds, test-set size and thread count; no cache), and prints its wall time and peak memory.
With ``--compare`` it also checks that each measurement equals, byte for byte, the
``<modality>_limit.json`` that a training run of the same model wrote.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import time
from pathlib import Path

import torch

from r3d_ros.config import load_config
from r3d_ros.eval.noise_limit import MODALITIES, measure_noise_limits
from r3d_ros.model.checkpoint import load_model

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "r3d_default.safetensors")
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "train" / "default.yaml")
    parser.add_argument("--compare", type=Path, help="a run folder whose <modality>_limit.json to compare with")
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    args = parser.parse_args()

    train = load_config(args.config).train
    torch.set_num_threads(train.threads or torch.get_num_threads())
    settings = {modality: getattr(train, f"{modality}_limit") for modality in MODALITIES}
    enabled = {modality: s for modality, s in settings.items() if s.enabled}
    if not enabled or len({(tuple(s.seeds), s.num_test) for s in enabled.values()}) != 1:
        parser.error(f"{args.config} must enable limits measured on the same seeds and test-set size")
    first = next(iter(enabled.values()))
    model = load_model(args.model)[0]
    start = time.perf_counter()
    measured = measure_noise_limits(model, {m: s.levels for m, s in enabled.items()}, first.seeds, first.num_test, None)
    seconds = time.perf_counter() - start
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux
    print(f"limits {', '.join(enabled)} on seeds {first.seeds}: {seconds / 60:.1f} min, peak memory {peak_gb:.1f} GB")
    equal = {}
    for modality, measurement in measured.items():
        text = json.dumps(dataclasses.asdict(measurement), indent=1)
        print(f"{MODALITIES[modality].setting}: {measurement.limit:g}")
        if args.compare:
            equal[modality] = text == (args.compare / f"{modality}_limit.json").read_text()
            print(f"  equal to {args.compare / f'{modality}_limit.json'}: {equal[modality]}")
    if args.out:
        machine = {"cpus": os.cpu_count(), "processor": platform.processor(), "python": platform.python_version()}
        payload = {
            "model": str(args.model),
            "seconds": round(seconds, 1),
            "peak_memory_gb": round(peak_gb, 2),
            "limits": {m: dataclasses.asdict(v) for m, v in measured.items()},
            "equal_to_compared": equal,
            "threads": torch.get_num_threads(),
            "machine": machine,
        }
        args.out.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
