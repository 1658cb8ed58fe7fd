"""Record in a finished model file a setting that acts after the network.

    scripts/with-env python scripts/set_model_setting.py models/r3d_default.safetensors max_depth_noise 0.0325
    scripts/with-env python scripts/set_model_setting.py models/r3d_default.safetensors max_rgb_noise 10
    scripts/with-env python scripts/set_model_setting.py models/r3d_default.safetensors filter_newest_weight 1.0

Some of a model's settings are found after training, so they are written into
the finished file's config: where a modality stops helping (``max_depth_noise``,
std of a depth reading at 1 m in m; ``max_rgb_noise``, std of the RGB noise at
the network's input, 0-255; measured by r3d-train's ``train.depth_limit`` /
``train.rgb_limit`` or scripts/measure_noise_limit.py, docs/experiment.md) and
how the grammar filter weighs the network's per-frame outputs
(``filter_evidence_weight``, ``filter_newest_weight``, ``filter_remaining_weight``,
chosen with ``r3d-eval-model --evidence-weight / --newest-weight / --remaining-weight``). The weights, and so the
model id, are unchanged. ``none`` empties ``filter_newest_weight`` (the newest
frame weighed like the others).
"""

from __future__ import annotations

import argparse
import sys

from r3d_ros.config import ConfigError
from r3d_ros.model.checkpoint import AFTER_TRAINING_SETTINGS, ModelFileError, set_model_setting


def parse_value(text: str) -> float | None:
    """A number, or None for ``none``."""
    return None if text.lower() == "none" else float(text)


def main(argv: list[str] | None = None) -> int:
    """Rewrite the model file with one setting changed; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("model", help="model file (.safetensors), rewritten in place")
    parser.add_argument("setting", choices=AFTER_TRAINING_SETTINGS, help="the model.<setting> to write")
    parser.add_argument("value", type=parse_value, help="its value (a noise limit of 0 = none; none = empty)")
    args = parser.parse_args(argv)
    try:
        model_id = set_model_setting(args.model, args.setting, args.value)
    except ConfigError as error:
        print(f"model.{error}", file=sys.stderr)
        return 2
    except ModelFileError as error:
        print(error, file=sys.stderr)
        return 2
    print(f"{args.model}: model {model_id}, {args.setting} {args.value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
