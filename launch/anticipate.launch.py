"""Launch the R3D anticipation node.

    ros2 launch r3d_ros anticipate.launch.py
    ros2 launch r3d_ros anticipate.launch.py input_source:=realsense
    ros2 launch r3d_ros anticipate.launch.py backend:=tensorrt model_path:=/path/model.safetensors
    ros2 launch r3d_ros anticipate.launch.py color_topic:=/cam/color depth_topic:=/cam/depth use_sim_time:=true

With the RealSense driver in the same system (defaults match its topics). The Fast DDS
profile gives shared memory a segment large enough for camera images; the driver, which
publishes them, needs it most (docs/benchmarks.md measures the difference):

    export FASTDDS_DEFAULT_PROFILES_FILE=$(ros2 pkg prefix r3d_ros)/share/r3d_ros/config/fastdds_large_images.xml
    ros2 launch realsense2_camera rs_launch.py align_depth.enable:=true &
    ros2 launch r3d_ros anticipate.launch.py
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = {
    "params_file": (
        PathJoinSubstitution([FindPackageShare("r3d_ros"), "config", "anticipate.yaml"]),
        "node parameter file",
    ),
    "model_path": ("", "model file (.safetensors); empty = the shipped default model"),
    "backend": ("auto", "auto | tensorrt | onnxruntime | torch"),
    "input_source": ("topics", "topics | realsense"),
    "color_topic": ("/camera/camera/color/image_raw", "color image topic"),
    "depth_topic": ("/camera/camera/aligned_depth_to_color/image_raw", "aligned depth topic"),
    "output_topic": ("/anticipated_action", "where anticipations are published"),
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


def generate_launch_description() -> LaunchDescription:
    """The anticipation node with its parameters and remappings as launch arguments."""
    declared = [
        DeclareLaunchArgument(name, default_value=default, description=doc)
        for name, (default, doc) in ARGUMENTS.items()
    ]
    overrides = {
        name: LaunchConfiguration(name)
        for name in ("model_path", "backend", "input_source", "color_topic", "depth_topic")
    }
    node = LifecycleNode(
        package="r3d_ros",
        executable="anticipation_node",
        name="r3d_anticipation",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=[
            LaunchConfiguration("params_file"),
            overrides,
            {"use_sim_time": LaunchConfiguration("use_sim_time")},
        ],
        remappings=[
            ("anticipated_action", LaunchConfiguration("output_topic")),
            ("anticipated_action/labels", [LaunchConfiguration("output_topic"), "/labels"]),
        ],
    )
    profile = SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", LaunchConfiguration("fastdds_profile"))
    return LaunchDescription([*declared, profile, node])
