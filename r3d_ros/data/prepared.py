"""Videos subsampled to the model rate and run through the one preprocessing function.

Training reads every frame many times, so each video is prepared once: frames
are picked by timestamp at ``anticipation.fps`` (the streaming runtime's
:class:`~r3d_ros.runtime.timebase.FrameRateLimiter`), preprocessed exactly as the
node preprocesses camera images, and kept as compact arrays. With a cache
folder, prepared videos of file-backed datasets are stored as ``.npz`` (read
with ``allow_pickle=False``) keyed by the source and every setting that
changes the result.

Rendering and preprocessing is most of a synthetic training run's data time
and each video is independent of the others, so videos not in the cache are
prepared in forked worker processes, one per core by default. A video's frames
are seeded by the video alone, so the result does not depend on the number of
workers.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from tqdm import tqdm

from r3d_ros.config import InputConfig
from r3d_ros.data.video import Video, VideoDataset
from r3d_ros.runtime.image import ImageError
from r3d_ros.runtime.preprocess import preprocess_frame
from r3d_ros.runtime.timebase import subsample_indices

# Part of every cache key; raised when a prepared video gains or changes an array (2: depth_noise, 3: rgb_noise).
CACHE_FORMAT = 3


class PreparationError(ValueError):
    """A frame of a video could not be preprocessed."""


@dataclass
class PreparedVideo:
    """A video at the model rate, ready for the network."""

    name: str
    rgb: np.ndarray  # (N, 3, H, W) float16 in [0, 1]
    depth: np.ndarray  # (N, 2, H, W) float16: scaled depth, valid mask
    depth_present: np.ndarray  # (N,) bool
    labels: np.ndarray  # (N,) int64, -1 unlabeled
    stamps: np.ndarray  # (N,) float64 seconds
    depth_noise: np.ndarray  # (N,) float32 estimated depth std at 1 m (m), NaN without depth
    rgb_noise: np.ndarray  # (N,) float32 estimated std of the RGB noise at the network's input (0-255 scale)

    def __len__(self) -> int:
        return len(self.labels)


def prepare_video(video: Video, size: InputConfig, fps: float) -> PreparedVideo:
    """Subsample ``video`` to ``fps`` by timestamp and preprocess every kept frame."""
    indices = subsample_indices(video.stamps, fps)
    count = len(indices)
    rgb = np.empty((count, 3, size.height, size.width), dtype=np.float16)
    depth = np.empty((count, 2, size.height, size.width), dtype=np.float16)
    present = np.empty(count, dtype=bool)
    noise = np.empty(count, dtype=np.float32)
    rgb_noise = np.empty(count, dtype=np.float32)
    for row, (index, frame) in enumerate(zip(indices, video.frames(indices), strict=True)):
        try:
            prepared = preprocess_frame(frame.color, frame.depth, size, frame.depth_scale)
        except ImageError as error:
            raise PreparationError(f"{video.name} frame {index}: {error}") from None
        rgb[row], depth[row], present[row] = prepared.rgb, prepared.depth, prepared.depth_present
        noise[row], rgb_noise[row] = prepared.depth_noise, prepared.rgb_noise
    labels, stamps = video.labels[indices].astype(np.int64), video.stamps[indices].astype(float)
    return PreparedVideo(video.name, rgb, depth, present, labels, stamps, noise, rgb_noise)


def _cache_path(cache_dir: Path, dataset: str, video: Video, size: InputConfig, fps: float) -> Path:
    key = json.dumps([CACHE_FORMAT, dataset, video.name, video.meta, asdict(size), fps, len(video)], sort_keys=True)
    return cache_dir / f"{video.name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


def _load_cached(path: Path, name: str) -> PreparedVideo:
    with np.load(path, allow_pickle=False) as data:
        return PreparedVideo(name, *(data[f.name] for f in fields(PreparedVideo) if f.name != "name"))


def _store(item: PreparedVideo, path: Path) -> None:
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **{f.name: getattr(item, f.name) for f in fields(item) if f.name != "name"})
    tmp.replace(path)


def _prepare_and_store(video: Video, size: InputConfig, fps: float, path: Path | None) -> PreparedVideo:
    item = prepare_video(video, size, fps)
    if path is not None:
        _store(item, path)
    return item


def default_workers() -> int:
    """One worker process per CPU core this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# What forked workers prepare: (videos, size, fps, cache paths), set by the parent just before
# it forks them. Videos load their frames through closures, which cannot be pickled; a forked
# worker inherits them instead.
_PENDING: tuple[Sequence[Video], InputConfig, float, Sequence[Path | None]] | None = None


def _prepare_pending(index: int) -> PreparedVideo:
    assert _PENDING is not None, "a preparation worker started without its videos"
    videos, size, fps, paths = _PENDING
    return _prepare_and_store(videos[index], size, fps, paths[index])


def _prepare_in_workers(
    videos: Sequence[Video], size: InputConfig, fps: float, paths: Sequence[Path | None], workers: int, group: int
) -> Iterator[PreparedVideo]:
    """``prepare_video`` of every video in ``workers`` forked processes, ``group`` consecutive ones a task, in order."""
    global _PENDING
    _PENDING = (videos, size, fps, paths)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))
    try:
        yield from pool.map(_prepare_pending, range(len(videos)), chunksize=group)
    except BrokenProcessPool as error:
        raise PreparationError(
            "a video preparation worker died (killed by a signal, e.g. the out-of-memory killer); "
            "prepared videos already in the cache are kept, try data.workers: 1"
        ) from error
    finally:  # after an error, videos not started yet are not prepared for nothing
        pool.shutdown(cancel_futures=True)
        _PENDING = None


def prepare_dataset(
    dataset: VideoDataset,
    size: InputConfig,
    fps: float,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    workers: int = 0,
    group: int = 1,
) -> list[PreparedVideo]:
    """Prepare every video of ``dataset`` (through the cache when one is given).

    Videos not in the cache are prepared by ``workers`` processes (0 = one per
    CPU core; 1 = in this process), ``group`` consecutive ones by the same
    process one after another (sensor variants of one synthetic video, which
    then share its scenes).
    """
    prepared = []
    with tqdm(total=len(dataset.videos), desc=f"preparing {dataset.name}", unit="video", disable=not progress) as bar:
        for item in iter_prepared(dataset, size, fps, cache_dir, workers, group):
            prepared.append(item)
            bar.update()
    return prepared


def iter_prepared(
    dataset: VideoDataset,
    size: InputConfig,
    fps: float,
    cache_dir: str | Path | None = None,
    workers: int = 0,
    group: int = 1,
) -> Iterator[PreparedVideo]:
    """:func:`prepare_dataset`'s videos one by one, in order, each as soon as it is ready.

    Why: a consumer that scores each video as it comes (the noise limits) works
    while the workers prepare the next ones, and holds only what it has not scored.
    """
    cache = Path(cache_dir) if cache_dir else None
    if cache:
        cache.mkdir(parents=True, exist_ok=True)
    paths = [_cache_path(cache, dataset.name, video, size, fps) if cache else None for video in dataset.videos]
    cached = [path is not None and path.is_file() for path in paths]
    todo = [i for i, is_cached in enumerate(cached) if not is_cached]
    workers = min(workers or default_workers(), len(todo))
    videos, todo_paths = [dataset.videos[i] for i in todo], [paths[i] for i in todo]
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        fresh = _prepare_in_workers(videos, size, fps, todo_paths, workers, group)
    else:
        fresh = (_prepare_and_store(video, size, fps, path) for video, path in zip(videos, todo_paths, strict=True))
    try:
        for video, path, is_cached in zip(dataset.videos, paths, cached, strict=True):
            yield _load_cached(path, video.name) if is_cached else next(fresh)  # type: ignore[arg-type]
    finally:  # the workers go when the last video is out, or when the consumer stops early
        fresh.close()
