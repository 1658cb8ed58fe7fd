"""Shipped files are found with or without a ROS environment; the DDS profile helper respects the user's choice."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from r3d_ros.ros.dds_profile import LARGE_IMAGE_PROFILE, PROFILE_VARIABLE, large_image_transport
from r3d_ros.shipped import DEFAULT_MODEL, shipped_file

ROOT = Path(__file__).resolve().parents[1]
LOG = logging.getLogger("test")


def test_shipped_files_exist() -> None:
    assert shipped_file(DEFAULT_MODEL).is_file()
    assert shipped_file(LARGE_IMAGE_PROFILE).is_file()


def test_shipped_model_is_found_without_a_ros_environment() -> None:
    env = {k: v for k, v in os.environ.items() if k != "AMENT_PREFIX_PATH"}
    code = "from r3d_ros.shipped import DEFAULT_MODEL, shipped_file; print(shipped_file(DEFAULT_MODEL))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == ROOT / DEFAULT_MODEL


def test_large_image_transport_applies_the_shipped_profile_and_restores_the_environment(monkeypatch) -> None:
    monkeypatch.delenv(PROFILE_VARIABLE, raising=False)
    with large_image_transport(LOG) as profile:
        assert os.environ[PROFILE_VARIABLE] == str(profile)
        assert profile.name == "fastdds_large_images.xml"
    assert PROFILE_VARIABLE not in os.environ


def test_large_image_transport_keeps_a_profile_the_user_chose(monkeypatch, tmp_path: Path) -> None:
    mine = tmp_path / "mine.xml"
    monkeypatch.setenv(PROFILE_VARIABLE, str(mine))
    with large_image_transport(LOG) as profile:
        assert profile == mine and os.environ[PROFILE_VARIABLE] == str(mine)
    assert os.environ[PROFILE_VARIABLE] == str(mine)
