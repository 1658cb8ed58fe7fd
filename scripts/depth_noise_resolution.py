r"""Segmentation with noisy depth on every frame, at the renderer's resolution and at a finer one.

    scripts/with-env python scripts/depth_noise_resolution.py --model models/r3d_default.safetensors \\
        --seeds 50 51 52 --at 240x320:0.04 240x320:0.06 120x160:0.04 120x160:0.056 120x160:0.06 \\
        120x160:0.085 --cache docs/experiment/model/cache --out docs/experiment/depth_resolution/results.json

Why: a network pixel keeps the nearest of the camera readings it covers
(``depth_downsample: closest``), and the more readings, the farther their
nearest is pulled towards the camera by the same per-reading noise. The depth
limit is measured at the renderer's resolution; this measures whether the same
per-reading noise at a finer stream costs the model what the runtime's
resolution scaling (:func:`r3d_ros.runtime.depth_noise.limit_at_stream`) says
it does. Each entry is ``HEIGHTxWIDTH:LEVEL`` (the renderer's ``depth_noise``), or
``HEIGHTxWIDTH:absent`` for the same test sets without depth (rendered at the
model's training noise), the segmentation the limit compares with.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from r3d_ros.eval.noise_limit import segmentation
from r3d_ros.model.checkpoint import ModelFileError, load_model


def parse_entry(text: str) -> tuple[int, int, float | None]:
    """``HEIGHTxWIDTH:LEVEL`` as (height, width, level); ``absent`` as level None."""
    try:
        shape, level = text.split(":")
        height, width = shape.lower().split("x")
        return int(height), int(width), None if level == "absent" else float(level)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH:LEVEL, got {text!r}") from error


def main(argv: list[str] | None = None) -> int:
    """Print and write the segmentation at each entry; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="model file trained on the synthetic benchmark")
    parser.add_argument("--seeds", type=int, nargs="+", default=[50, 51, 52], help="development benchmark seeds")
    parser.add_argument("--at", type=parse_entry, nargs="+", required=True, help="HEIGHTxWIDTH:LEVEL|absent entries")
    parser.add_argument("--num-test", type=int, default=48, help="test videos per seed")
    parser.add_argument("--cache", type=Path, default=Path("out/cache"), help="cache of rendered test sets")
    parser.add_argument("--out", type=Path, required=True, help="JSON file written")
    args = parser.parse_args(argv)
    try:
        model, _ = load_model(args.model)
    except ModelFileError as error:
        parser.error(str(error))
    base = dataclasses.replace(model.config.data.synthetic, num_test=args.num_test, num_train=0)
    rows = []
    for height, width, level in args.at:
        sensor = dataclasses.replace(base, height=height, width=width, depth_noise=level or base.depth_noise)
        score = segmentation(model, sensor, args.seeds, "both" if level else "depth_absent", args.cache)
        rows.append({"height": height, "width": width, "depth_noise": level, "segmentation": score})
        label = f"depth_noise {level:g}" if level else "depth absent"
        print(f"{height}x{width} {label}: segmentation {score:.3f}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"model": str(args.model), "seeds": args.seeds, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
