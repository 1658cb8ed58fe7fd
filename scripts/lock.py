"""Write requirements.lock from the packages installed in the virtual environment.

The ROS 2 wheels (``ros-<name>``) also register their inner Python packages
(``rclpy``, ``std_msgs``...) as installed distributions that no index serves;
those are dropped so the lock installs from PyPI. The torch local version tag
(``+cpu``) is dropped too: ``torch==2.13.0`` matches the CPU build offline.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEADER = "# Generated from requirements.in by `make lock`; exact versions installed by scripts/setup.sh.\n"


def main(venv_python: str, out: Path) -> None:
    """Freeze the environment of ``venv_python`` into ``out``."""
    frozen = subprocess.run(
        [venv_python, "-m", "pip", "list", "--format=freeze", "--exclude-editable"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    names = {line.split("==")[0].lower() for line in frozen}
    keep = []
    for line in frozen:
        name, version = line.split("==")
        if "ros-" + name.lower().replace("_", "-") in names or name.lower() in {"pip", "r3d-ros", "r3d_ros"}:
            continue
        keep.append(f"{name}=={version.split('+')[0]}")
    out.write_text(HEADER + "\n".join(sorted(keep, key=str.lower)) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
