"""Unitree Go2 through `unitree_sdk2py` (no ROS): DDS channel set-up and thin sport/video clients."""
