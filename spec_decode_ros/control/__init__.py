"""Control (no ROS): command grammar, streaming token-to-command parser, limits, deadman."""
