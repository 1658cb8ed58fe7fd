"""Point the ROS 2 PyPI wheels' CMake exports at this environment's Python and NumPy headers.

The ``ros-*`` wheels are built in a manylinux container, and their exported
CMake targets (``*__rosidl_generator_pyExport.cmake``) carry that container's
absolute include paths (``/opt/python/cp311-cp311/include/python3.11`` and its
NumPy include dir). CMake refuses imported targets with non-existent include
paths, so building any message package against the wheels fails until the
paths are rewritten. Idempotent: a second run finds nothing to change.

Usage: python fix_ros_cmake_paths.py PREFIX   (PREFIX is the virtual environment)
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy

BUILDER_PYTHON_INCLUDE = re.compile(r"/opt/python/cp\d+-cp\d+/include/python3\.\d+")
BUILDER_NUMPY_INCLUDE = re.compile(r"/opt/python/cp\d+-cp\d+/lib/python3\.\d+/site-packages/numpy/_core/include")


def rewrite(text: str, python_include: str, numpy_include: str) -> str:
    """Replace the wheel builder's include paths with this environment's."""
    text = BUILDER_NUMPY_INCLUDE.sub(numpy_include, text)
    return BUILDER_PYTHON_INCLUDE.sub(python_include, text)


def main(prefix: Path) -> int:
    """Rewrite every CMake export file under PREFIX/share; return the exit status."""
    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    if not Path(python_include, "Python.h").is_file():
        print(f"error: Python headers not found in {python_include}; install python3-dev", file=sys.stderr)
        return 1
    changed = 0
    for path in sorted((prefix / "share").glob("*/cmake/*.cmake")):
        text = path.read_text()
        fixed = rewrite(text, python_include, numpy_include)
        if fixed != text:
            path.write_text(fixed)
            changed += 1
    print(f"fix_ros_cmake_paths: rewrote {changed} CMake export file(s) under {prefix}/share")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1])))
