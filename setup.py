"""Setup for the r3d_ros ament_python package (also a plain pip-installable library)."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "r3d_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
        (f"share/{PACKAGE}/models", glob("models/*.safetensors") + glob("models/*.yaml") + glob("models/*.md")),
    ],
    install_requires=["numpy", "pyyaml", "torch", "safetensors"],
    zip_safe=True,
    maintainer="R3D ROS maintainers",
    maintainer_email="maintainers@r3d-ros.dev",
    description="Real-time RGB-D action anticipation with the R3D fusion network and EBR.",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "r3d-train = r3d_ros.train.cli:main",
            "r3d-experiment = r3d_ros.train.experiment:main",
            "r3d-export = r3d_ros.runtime.cli:export_main",
            "r3d-build-engine = r3d_ros.runtime.cli:build_engine_main",
            "r3d-eval-bag = r3d_ros.eval.cli:main",
            "r3d-eval-model = r3d_ros.eval.model_eval:main",
            "anticipation_node = r3d_ros.ros.node:main",
        ],
    },
)
