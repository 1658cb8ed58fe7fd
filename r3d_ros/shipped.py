"""Files the package ships (the default model, the Fast DDS profile): the install share, else the source tree."""

from __future__ import annotations

from pathlib import Path

DEFAULT_MODEL = "models/r3d_default.safetensors"


def shipped_file(relative: str) -> Path:
    """``relative`` (e.g. ``models/r3d_default.safetensors``) under the installed share folder, else the source tree."""
    try:
        from ament_index_python.packages import get_package_share_directory

        installed = Path(get_package_share_directory("r3d_ros")) / relative
        if installed.is_file():
            return installed
    except (ImportError, LookupError, OSError):  # no ament_index_python, not installed, or no ROS environment
        pass
    return Path(__file__).resolve().parents[1] / relative
