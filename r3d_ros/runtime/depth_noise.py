"""How noisy a depth image is, estimated from the image alone, so that depth too noisy to trust can be dropped.

A model trained on depth of one noise level follows depth that is present but
much noisier as if it were right, and does worse than with no depth at all
(docs/limitations.md); depth that is missing it handles, by reading RGB. So the
runtime estimates each depth frame's noise and, past ``max_depth_noise``, treats
the frame as missing.

The estimate is the stereo noise coefficient: the standard deviation of a
reading at 1 m, which for a stereo camera grows with the distance squared
(the synthetic renderer's ``depth_noise`` is the same quantity). Horizontally
adjacent valid readings mostly lie on one surface, so their difference is noise
with variance 2 sigma(d)^2; the median absolute difference, divided by d^2,
sqrt(2) and the normal distribution's 0.6745, is a robust estimate of the
coefficient that ignores the few pairs straddling an edge. Readings are
independent in the renderer; a real camera's stereo matching and filters
correlate neighbours, which makes the estimate lower than the true noise, so
drops err towards keeping depth.

Where depth stops helping depends on the trained model, so a model file carries
its own limit (``model.max_depth_noise``, measured after training; 0 = none),
which the node's ``max_depth_noise`` -1 selects. The node and bag replay
(through the pipeline) and ``r3d-eval-model`` leave such frames out; training
does not, it learns from whatever depth its videos have (each prepared video
stores its frames' estimates).

The model's limit holds at the resolution it was measured at. A network pixel
keeps the nearest of the camera readings it covers (``depth_downsample:
closest``), and the nearest of many noisy readings lies farther in front of the
surface than the nearest of a few: the same per-reading noise on a 640x480
stream (about 100 readings per pixel at 48x64) misleads the network about as
much as 1.9 times that noise on the renderer's 160x120 (about 6). So the
model's own limit is converted to each stream's readings per pixel
(:func:`limit_at_stream`); a ``max_depth_noise`` the user sets is the camera's
per-reading noise and applies as set.
"""

from __future__ import annotations

import functools
import math

import numpy as np

# Rows used at most (evenly spaced): enough pairs for a stable median, bounded cost on large images.
MAX_ROWS = 48
# Fewer valid neighbour pairs than this and the noise is unknown (NaN): never dropped for noise.
MIN_PAIRS = 200
# Median absolute value of a standard normal variable times sqrt(2) (the difference of two readings).
_MEDIAN_ABS_DIFFERENCE = 0.6744897501960817 * math.sqrt(2.0)


def depth_noise_at_1m(metres: np.ndarray, min_depth_m: float) -> float:
    """Estimated std (m) of a reading at 1 m of (H, W) finite metres (invalid = 0); NaN when too few readings."""
    rows = metres[:: max(1, math.ceil(metres.shape[0] / MAX_ROWS))].astype(np.float32, copy=False)
    left, right = rows[:, :-1], rows[:, 1:]
    valid = (left >= min_depth_m) & (right >= min_depth_m)  # NaN compares False
    if np.count_nonzero(valid) < MIN_PAIRS:
        return math.nan
    a, b = left[valid], right[valid]
    mean = (a + b) * np.float32(0.5)
    return float(np.median(np.abs(a - b) / (mean * mean))) / _MEDIAN_ABS_DIFFERENCE


@functools.lru_cache(maxsize=64)
def pixel_error(readings: float, downsample: str) -> float:
    """Mean absolute error of a network pixel over ``readings`` noisy readings of one surface, in readings' std.

    ``closest`` keeps the nearest reading: the mean absolute value of the
    minimum of ``readings`` standard normals (0.80 for one reading; for six
    and more it is the pull towards the camera, 1.29 for 6.25, 2.51 for 100).
    ``area`` keeps their mean: sqrt(2 / pi) / sqrt(readings). Fewer than one
    reading per pixel (an upsampled stream) counts as one.

    Why the mean absolute error: the shipped model segments a 320x240 render
    with depth noise 0.04 as it segments the renderer's 160x120 at 0.06
    (docs/experiment.md, "The depth limit at the stream's resolution"), the
    ratio of this error (1.52), not of the root mean square (1.41).
    """
    readings = max(1.0, readings)
    if downsample == "area":
        return math.sqrt(2.0 / math.pi / readings)
    x = np.linspace(-12.0, 12.0, 24001)
    above = np.array([0.5 * math.erfc(v / math.sqrt(2.0)) for v in x])  # P(a reading > x)
    density = readings * np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi) * above ** (readings - 1.0)
    return float(np.sum(density * np.abs(x)) * (x[1] - x[0]))


def limit_at_stream(limit: float, stream_readings: float, limit_readings: float, downsample: str) -> float:
    """``limit`` (measured at ``limit_readings`` per network pixel) for a stream with ``stream_readings``.

    The per-reading noise at which the network pixel's error is what it was at
    the limit where it was measured (:func:`pixel_error`).
    """
    return limit * pixel_error(limit_readings, downsample) / pixel_error(stream_readings, downsample)


def limit_in_force(setting: float, model_limit: float) -> float:
    """The limit in force: ``setting`` when >= 0 (0 = keep all), the model's own (its file's limit) when -1."""
    return model_limit if setting < 0 else setting


def too_noisy(noise: float, max_depth_noise: float) -> bool:
    """Whether a frame with estimated ``noise`` is dropped (``max_depth_noise`` 0 = never; NaN noise = never)."""
    return max_depth_noise > 0 and noise > max_depth_noise
