"""Simulation (no ROS): MuJoCo Go2 world, expert, data generation, fake Go2 sport/video servers."""
