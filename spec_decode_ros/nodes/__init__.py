"""Thin rclpy nodes over the engine, bridge and control code: the only place ROS is imported."""
