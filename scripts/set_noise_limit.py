"""Record in a model file the noise of a modality past which the model does better without it.

    scripts/with-env python scripts/set_noise_limit.py models/r3d_default.safetensors 0.0325
    scripts/with-env python scripts/set_noise_limit.py --modality rgb models/r3d_default.safetensors 10

Where a modality stops helping is measured after training (r3d-train's
``train.depth_limit`` / ``train.rgb_limit``, or scripts/measure_noise_limit.py;
docs/experiment.md), so it is written into the finished file's config as
``model.max_depth_noise`` (std of a depth reading at 1 m, m) or
``model.max_rgb_noise`` (std of the RGB noise at the network's input, 0-255).
The weights, and so the model id, are unchanged; the node's ``max_depth_noise``
and ``max_rgb_noise`` -1 (their defaults) then apply it.
"""

from __future__ import annotations

import argparse
import sys

from r3d_ros.config import ConfigError
from r3d_ros.eval.noise_limit import MODALITIES
from r3d_ros.model.checkpoint import ModelFileError, set_noise_limit


def main(argv: list[str] | None = None) -> int:
    """Rewrite the model file with a noise limit; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("model", help="model file (.safetensors), rewritten in place")
    parser.add_argument("limit", type=float, help="the limit in the runtime estimate's units; 0 = none")
    parser.add_argument("--modality", choices=sorted(MODALITIES), default="depth", help="whose limit (default depth)")
    args = parser.parse_args(argv)
    setting = MODALITIES[args.modality].setting
    try:
        model_id = set_noise_limit(args.model, setting, args.limit)
    except ConfigError as error:
        print(f"model.{error}", file=sys.stderr)
        return 2
    except ModelFileError as error:
        print(error, file=sys.stderr)
        return 2
    print(f"{args.model}: model {model_id}, {setting} {args.limit:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
