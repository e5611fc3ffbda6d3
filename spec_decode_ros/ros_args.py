"""The ROS arguments launch_ros appends to every executable it starts (``--ros-args -r __node:=NAME
--params-file FILE -r a:=b ...``), taken off the command line of the executables that are not ROS nodes
(the cloud verifier, the fake Go2) before their own argparse reads it. Pure Python: the cloud side has no rclpy,
so ``rclpy.utilities.remove_ros_args`` is not there to use.

rcl's rule: ``--ros-args`` opens a ROS section that runs to a lone ``--`` or to the end; there may be several.
"""

from __future__ import annotations

ROS_ARGS = "--ros-args"
END_OF_ROS_ARGS = "--"


def strip_ros_args(argv: list[str]) -> list[str]:
    """``argv`` without its ROS sections (each ``--ros-args ... [--]``); the other arguments keep their order."""
    kept: list[str] = []
    in_ros_section = False
    for arg in argv:
        if arg == ROS_ARGS:
            in_ros_section = True
        elif in_ros_section and arg == END_OF_ROS_ARGS:
            in_ros_section = False
        elif not in_ros_section:
            kept.append(arg)
    return kept
