"""Offline analysis: rosbag2 files to latency tables and plots."""
