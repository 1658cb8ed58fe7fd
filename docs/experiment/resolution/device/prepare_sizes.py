"""Render each benchmark video once and store it prepared at several input sizes (the device sweep of run.sh).

The trainer then finds every video in /tmp/cache<height> and renders nothing.
"""

import functools
import multiprocessing
import os
import sys
from dataclasses import replace
from pathlib import Path

from r3d_ros.config import load_config
from r3d_ros.data.prepared import _cache_path, _store, prepare_video
from r3d_ros.data.sources import load_datasets

SIZES = [tuple(int(x) for x in s.split("x")) for s in sys.argv[1:]]
CONFIG = load_config(Path("config/train/default.yaml"), [])
FPS = CONFIG.anticipation.fps
TRAIN, TEST = load_datasets(CONFIG.data)
VIDEOS = [(TRAIN.name, v) for v in TRAIN.videos] + [(TEST.name, v) for v in TEST.videos]
VIDEOS = VIDEOS[: int(os.environ.get("SWEEP_LIMIT", len(VIDEOS)))]


def work(index: int) -> None:
    """Render video ``index`` once (frames memoised) and store it prepared at every size."""
    name, video = VIDEOS[index]
    once = replace(video, load=functools.lru_cache(maxsize=None)(video.load), load_many=None)
    for height, width in SIZES:
        size = replace(CONFIG.model.input, height=height, width=width)
        path = _cache_path(Path(f"/tmp/cache{height}"), name, video, size, FPS)
        path.parent.mkdir(parents=True, exist_ok=True)
        _store(prepare_video(once, size, FPS), path)


if __name__ == "__main__":
    with multiprocessing.get_context("fork").Pool(16) as pool:
        pool.map(work, range(len(VIDEOS)), chunksize=2)
    print("prepared", len(VIDEOS), "videos at", SIZES, flush=True)
