"""The Fast DDS profile for camera images, applied to the participants a command creates."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from r3d_ros.shipped import shipped_file

PROFILE_VARIABLE = "FASTDDS_DEFAULT_PROFILES_FILE"
LARGE_IMAGE_PROFILE = "config/fastdds_large_images.xml"


@contextmanager
def large_image_transport(logger: logging.Logger) -> Iterator[Path]:
    """While open, Fast DDS participants created by this process or its children use the large-image profile.

    Fast DDS reads the variable when a process creates its first participant, so enter this
    before ``rclpy.init`` and before starting child processes. A profile the user already
    chose wins. The variable is restored on exit.
    """
    chosen = os.environ.get(PROFILE_VARIABLE)
    if chosen:
        logger.info("Fast DDS profile: %s (from %s)", chosen, PROFILE_VARIABLE)
        yield Path(chosen)
        return
    profile = shipped_file(LARGE_IMAGE_PROFILE)
    logger.info("Fast DDS profile: %s", profile)
    os.environ[PROFILE_VARIABLE] = str(profile)
    try:
        yield profile
    finally:
        if chosen is None:
            os.environ.pop(PROFILE_VARIABLE, None)
        else:
            os.environ[PROFILE_VARIABLE] = chosen
