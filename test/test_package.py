"""Package layout and the core/ROS boundary."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import r3d_ros

ROOT = Path(__file__).resolve().parents[1]
ROS_MODULES = "r3d_ros.ros"  # the only subpackage allowed to import rclpy and r3d_msgs


def core_modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(r3d_ros.__path__, "r3d_ros.")]
    return [n for n in names if not n.startswith(ROS_MODULES) and n != "r3d_ros.demo"]


def test_core_imports_without_ros() -> None:
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'rclpy', 'r3d_msgs', 'sensor_msgs', 'std_msgs', 'builtin_interfaces'}:\n"
        "            raise ImportError(f'core module imported ROS package {name}')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import importlib\n"
        f"for name in {core_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_ros_adapters_do_not_import_the_evaluation_package() -> None:
    """The node and its adapters reach the core through runtime/, data/ and model/, never eval/."""
    offenders = []
    for path in sorted((ROOT / "r3d_ros" / "ros").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            offenders += [f"{path.name}: {name}" for name in names if name.startswith("r3d_ros.eval")]
    assert offenders == []


def test_package_xml_declares_the_ros_dependencies() -> None:
    tree = ET.parse(ROOT / "package.xml")
    assert tree.getroot().get("format") == "3"
    assert tree.findtext("name") == "r3d_ros"
    depends = {e.text for e in tree.getroot() if e.tag.endswith("depend")}
    for key in ("rclpy", "r3d_msgs", "sensor_msgs", "std_msgs", "builtin_interfaces", "diagnostic_msgs"):
        assert key in depends
    assert tree.findtext("export/build_type") == "ament_python"


def test_interface_package_generates_the_three_messages() -> None:
    cmake = (ROOT / "r3d_msgs" / "CMakeLists.txt").read_text()
    for name in ("ActionSegment", "AnticipatedAction", "ActionLabels"):
        assert (ROOT / "r3d_msgs" / "msg" / f"{name}.msg").is_file()
        assert f"msg/{name}.msg" in cmake
    assert ET.parse(ROOT / "r3d_msgs" / "package.xml").findtext("export/build_type") == "ament_cmake"


def test_ament_resource_marker_exists() -> None:
    assert (ROOT / "resource" / "r3d_ros").is_file()


def test_colcon_install_ships_launch_config_and_model() -> None:
    share = ROOT / "install" / "r3d_ros" / "share" / "r3d_ros"
    shipped = [
        "package.xml",
        "launch/anticipate.launch.py",
        "config/anticipate.yaml",
        "config/fastdds_large_images.xml",
        "models/r3d_default.safetensors",
    ]
    assert [name for name in shipped if not (share / name).is_file()] == []
