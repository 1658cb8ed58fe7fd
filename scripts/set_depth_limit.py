"""Record in a model file the depth noise past which the model does better without depth.

    scripts/with-env python scripts/set_depth_limit.py models/r3d_default.safetensors 0.0325

Where depth stops helping is measured after training (scripts/measure_depth_limit.py,
or r3d-eval-model on development seeds with increasing ``depth_noise`` against
the model without depth; docs/experiment.md, "Depth that is sometimes wrong in
training"), so it
is written into the finished file's config as ``model.max_depth_noise``. The
weights, and so the model id, are unchanged; the node's ``max_depth_noise`` -1
(its default) then applies it.
"""

from __future__ import annotations

import argparse
import sys

from r3d_ros.config import ConfigError
from r3d_ros.model.checkpoint import ModelFileError, set_depth_limit


def main(argv: list[str] | None = None) -> int:
    """Rewrite the model file with its depth noise limit; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("model", help="model file (.safetensors), rewritten in place")
    parser.add_argument("limit", type=float, help="std of a reading at 1 m (m); 0 = none")
    args = parser.parse_args(argv)
    try:
        model_id = set_depth_limit(args.model, args.limit)
    except ConfigError as error:
        print(f"model.{error}", file=sys.stderr)
        return 2
    except ModelFileError as error:
        print(error, file=sys.stderr)
        return 2
    print(f"{args.model}: model {model_id}, max_depth_noise {args.limit:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
