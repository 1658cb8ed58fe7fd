"""Render and prepare the shipped recipe's training and test videos once, on every core (run.sh).

The device runs then find every video in the cache and render nothing.
"""

import sys
from pathlib import Path

from r3d_ros.config import load_config
from r3d_ros.data.prepared import prepare_dataset
from r3d_ros.data.sources import load_datasets

config = load_config(Path("config/train/default.yaml"), [])
for dataset in load_datasets(config.data):
    prepare_dataset(dataset, config.model.input, config.anticipation.fps, sys.argv[1], progress=False, workers=16)
print("prepared into", sys.argv[1], flush=True)
