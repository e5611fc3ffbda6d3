"""Gazebo with a CHAMP-based Go2 package: the simulator publishes the camera and consumes
``cmd_vel``, so only draft + motion run here (CHAMP velocity caps), remapped to its topics.

    ros2 launch spec_decode_ros gazebo.launch.py image_topic:=/camera/image_raw cmd_vel_topic:=/cmd_vel
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    config = str(Path(get_package_share_directory("spec_decode_ros")) / "config" / "gazebo.yaml")
    image = LaunchConfiguration("image_topic")
    return LaunchDescription([
        DeclareLaunchArgument("image_topic", default_value="/camera/image_raw"),
        DeclareLaunchArgument("cmd_vel_topic", default_value="/cmd_vel"),
        DeclareLaunchArgument("cloud_endpoint", default_value="tcp://127.0.0.1:5555"),
        DeclareLaunchArgument("instruction", default_value="go to the red box"),
        DeclareLaunchArgument("record", default_value="false"),
        DeclareLaunchArgument("bag_path", default_value="gazebo_run"),
        Node(package="spec_decode_ros", executable="draft_node", name="draft",
             parameters=[config, {"cloud_endpoint": LaunchConfiguration("cloud_endpoint"),
                                  "instruction": LaunchConfiguration("instruction")}],
             remappings=[("camera/image_raw", image)]),
        Node(package="spec_decode_ros", executable="motion_node", name="motion", parameters=[config],
             remappings=[("cmd_vel", LaunchConfiguration("cmd_vel_topic"))]),
        Node(package="spec_decode_ros", executable="recorder_node", name="recorder",
             parameters=[config, {"bag_path": LaunchConfiguration("bag_path")}],
             remappings=[("camera/image_raw", image), ("cmd_vel", LaunchConfiguration("cmd_vel_topic"))],
             condition=IfCondition(LaunchConfiguration("record"))),
    ])
