"""Launch the R3D anticipation node.

    ros2 launch r3d_ros anticipate.launch.py
    ros2 launch r3d_ros anticipate.launch.py input_source:=realsense
    ros2 launch r3d_ros anticipate.launch.py backend:=tensorrt model_path:=/path/model.safetensors
    ros2 launch r3d_ros anticipate.launch.py color_topic:=/cam/color depth_topic:=/cam/depth use_sim_time:=true
    ros2 launch r3d_ros anticipate.launch.py namespace:=robot1 params_file:=/path/my_params.yaml

Parameters come from ``params_file`` (the package's config/anticipate.yaml by default);
``model_path``, ``backend``, ``input_source``, ``color_topic`` and ``depth_topic`` given as
launch arguments override it, and only when given. Topics are relative: with
``namespace:=robot1`` the node reads robot1/camera/camera/... and publishes
robot1/anticipated_action.

With the RealSense driver in the same system (defaults match its topics). The Fast DDS
profile gives shared memory a segment large enough for camera images; the driver, which
publishes them, needs it most (docs/benchmarks.md measures the difference):

    export FASTDDS_DEFAULT_PROFILES_FILE=$(ros2 pkg prefix r3d_ros)/share/r3d_ros/config/fastdds_large_images.xml
    ros2 launch realsense2_camera rs_launch.py align_depth.enable:=true &
    ros2 launch r3d_ros anticipate.launch.py
"""

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode
from launch_ros.substitutions import FindPackageShare

from r3d_ros.ros.launch_args import fastdds_profile, parameter_overrides

ARGUMENTS = {
    "params_file": (
        PathJoinSubstitution([FindPackageShare("r3d_ros"), "config", "anticipate.yaml"]),
        "node parameter file",
    ),
    "model_path": ("", "model file (.safetensors); empty = as in params_file"),
    "backend": ("", "auto | tensorrt | onnxruntime | torch; empty = as in params_file"),
    "input_source": ("", "topics | realsense; empty = as in params_file"),
    "color_topic": ("", "color image topic; empty = as in params_file"),
    "depth_topic": ("", "aligned depth topic; empty = as in params_file"),
    "output_topic": ("anticipated_action", "where anticipations are published (relative to the namespace)"),
    "use_sim_time": ("false", "use /clock (bag replay)"),
    "namespace": ("", "node namespace"),
    "fastdds_profile": (
        EnvironmentVariable(
            "FASTDDS_DEFAULT_PROFILES_FILE",
            default_value=PathJoinSubstitution([FindPackageShare("r3d_ros"), "config", "fastdds_large_images.xml"]),
        ),
        "Fast DDS XML profile for what this file launches (default: $FASTDDS_DEFAULT_PROFILES_FILE, "
        "else the package's large-image profile)",
    ),
}


def launch_setup(context: LaunchContext) -> list:
    """The node, with the arguments the user gave, resolved."""
    arguments = {name: context.perform_substitution(LaunchConfiguration(name)) for name in ARGUMENTS}
    profile = fastdds_profile(arguments["fastdds_profile"])
    output = arguments["output_topic"]
    node = LifecycleNode(
        package="r3d_ros",
        executable="anticipation_node",
        name="r3d_anticipation",
        namespace=arguments["namespace"],
        output="screen",
        parameters=[
            arguments["params_file"],
            parameter_overrides(arguments),
            {"use_sim_time": arguments["use_sim_time"].lower() == "true"},
        ],
        remappings=[("anticipated_action", output), ("anticipated_action/labels", f"{output}/labels")],
    )
    return [SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", profile), node]


def generate_launch_description() -> LaunchDescription:
    """The launch arguments and the node built from them once they are known."""
    declared = [
        DeclareLaunchArgument(name, default_value=default, description=doc)
        for name, (default, doc) in ARGUMENTS.items()
    ]
    return LaunchDescription([*declared, OpaqueFunction(function=launch_setup)])
