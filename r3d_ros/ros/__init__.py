"""ROS 2 side of r3d_ros: the node and message adapters (the only modules importing rclpy)."""
