"""What the launch file does with its arguments, as plain functions that are tested without launch_ros.

Launch arguments left empty must not override the params file: a user's own
``params_file`` sets ``model_path`` or the topics, and a launch default passed
after it would silently win. A Fast DDS profile that does not exist must stop
the launch with its path named, instead of Fast DDS falling back to defaults
that cannot carry camera images.
"""

from __future__ import annotations

from pathlib import Path

# Launch arguments that become node parameters when (and only when) the user gives them.
NODE_PARAMETER_ARGUMENTS = ("model_path", "backend", "input_source", "color_topic", "depth_topic")


class LaunchArgumentError(ValueError):
    """A launch argument cannot be used; the message names it."""


def parameter_overrides(arguments: dict[str, str]) -> dict[str, str]:
    """The node parameters the user set as launch arguments (empty = not given, the params file decides)."""
    return {name: arguments[name] for name in NODE_PARAMETER_ARGUMENTS if arguments.get(name, "")}


def fastdds_profile(path: str) -> str:
    """The profile path, checked: an empty or missing file is refused with the argument's name."""
    if not path.strip():
        raise LaunchArgumentError(
            "fastdds_profile is empty: give a Fast DDS XML profile, or leave the argument out to use "
            "$FASTDDS_DEFAULT_PROFILES_FILE or the package's config/fastdds_large_images.xml"
        )
    if not Path(path).is_file():
        raise LaunchArgumentError(f"fastdds_profile {path!r} does not exist (or is not a file)")
    return path
