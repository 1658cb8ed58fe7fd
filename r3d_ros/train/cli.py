"""``r3d-train``: train R3D from a YAML config, as one process or under ``torchrun``.

Examples::

    r3d-train --config config/train/quick.yaml --run-dir runs/quick
    r3d-train --config config/train/quick.yaml --set train.epochs=5 --set model.ebr.enabled=true
    r3d-train --run-dir runs/quick --resume          # continue after a kill
    torchrun --nproc-per-node 4 -m r3d_ros.train.cli --config ... --run-dir ...
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from r3d_ros.config import ConfigError, load_config
from r3d_ros.data.labels import LabelFileError
from r3d_ros.data.prepared import PreparationError
from r3d_ros.model.checkpoint import ModelFileError
from r3d_ros.train.state import CheckpointError
from r3d_ros.train.trainer import TrainingDiverged, train

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        prog="r3d-train", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--config", type=Path, help="training config (YAML); RUN_DIR/config.yaml on --resume")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. train.epochs=5 (repeatable)")  # fmt: skip
    parser.add_argument("--run-dir", type=Path, help="output folder (default: runs/<config name>)")
    parser.add_argument("--resume", action="store_true", help="continue from RUN_DIR/checkpoint.safetensors")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (for logs)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``r3d-train``; returns the exit status."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("r3d_ros.train")
    try:
        if args.config is None and not (args.resume and args.run_dir):
            raise ConfigError("--config is required (or --run-dir with --resume)")
        config_path = args.config or args.run_dir / "config.yaml"
        config = load_config(config_path, args.overrides)
        run_dir = args.run_dir or Path("runs") / config_path.stem
        metrics = train(config, run_dir, resume=args.resume, progress=not args.no_progress)
    except (ConfigError, LabelFileError, PreparationError, CheckpointError, ModelFileError, ValueError) as error:
        log.error("%s", error)
        return EXIT_BAD_INPUT
    except TrainingDiverged as error:
        log.error("%s", error)
        return EXIT_DIVERGED
    if metrics:
        log.info("done: %s", {k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
