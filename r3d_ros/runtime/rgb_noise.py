"""How noisy a colour image is, estimated from the image alone, so that RGB too noisy to trust can be left out.

A fused model reads noisy RGB (low light, high gain) even where depth alone
would do better: on the synthetic benchmark the shipped model loses about 15 %
of its anticipation at pixel noise 40 that it would keep with RGB left out
(docs/experiment.md). So, as for depth (:mod:`r3d_ros.runtime.depth_noise`),
the runtime estimates each colour frame's noise and, past ``max_rgb_noise``,
leaves the frame's RGB out, but only on frames whose depth it keeps: a frame
never loses both modalities to the gates.

The estimate: along a row, the second difference of neighbouring pixels
(a - 2b + c) of independent noise of std sigma has std sqrt(6) sigma, while a
smooth image gives about 0; the median absolute second difference over every
channel of up to ``MAX_ROWS`` rows, divided by sqrt(6) and the normal
distribution's 0.6745, estimates sigma per camera pixel and ignores the few
pixels on an edge. The network sees the image shrunk to its input size by
area averaging, which divides independent noise by the shrink factor, so the
estimate is reported at the network's input (the camera pixel's sigma times
input height over crop height): a limit then means the same for a 640x480
camera and the renderer's 160x120. A real camera's demosaicing and compression
correlate neighbouring pixels, which makes the estimate lower than the true
noise, so the gate errs towards keeping RGB.
"""

from __future__ import annotations

import math

import numpy as np

# Rows used at most (evenly spaced): enough pixels for a stable median, bounded cost on large images.
MAX_ROWS = 48
# Median absolute value of a standard normal variable times sqrt(6) (the second difference of three pixels).
_MEDIAN_ABS_SECOND_DIFFERENCE = 0.6744897501960817 * math.sqrt(6.0)


def pixel_noise(rgb: np.ndarray) -> float:
    """Estimated std (0-255 scale) of the independent noise of one camera pixel of an (H, W, 3) uint8 image."""
    if rgb.shape[1] < 3:
        return math.nan
    rows = rgb[:: max(1, math.ceil(rgb.shape[0] / MAX_ROWS))].astype(np.int16)
    second = np.abs(rows[:, :-2] - 2 * rows[:, 1:-1] + rows[:, 2:]).ravel()
    # The (lower) median from a histogram of the integer differences: twice as fast as np.median here.
    median = int(np.searchsorted(np.cumsum(np.bincount(second)), (second.size + 1) / 2))
    return median / _MEDIAN_ABS_SECOND_DIFFERENCE
