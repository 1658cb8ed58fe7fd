"""R3D ROS: real-time RGB-D action anticipation with rank-enhancing fusion."""

__version__ = "0.1.0"
