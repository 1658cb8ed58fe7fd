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
"""

from __future__ import annotations

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


def limit_in_force(setting: float, model_limit: float) -> float:
    """The limit in force: ``setting`` when >= 0 (0 = keep all), the model's own (its file's limit) when -1."""
    return model_limit if setting < 0 else setting


def too_noisy(noise: float, max_depth_noise: float) -> bool:
    """Whether a frame with estimated ``noise`` is dropped (``max_depth_noise`` 0 = never; NaN noise = never)."""
    return max_depth_noise > 0 and noise > max_depth_noise
