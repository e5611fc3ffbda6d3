"""The same graph as on the robot, against the fake Go2 (MuJoCo world behind the real
unitree_sdk2py sport/videohub services on loopback) and a local cloud verifier, from
config/sim.yaml. `spec-decode demo` starts this graph without `launch` and also scores episodes.

    ros2 launch spec_decode_ros sim.launch.py instruction:="find the blue ball" seed:=3
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    config = str(Path(get_package_share_directory("spec_decode_ros")) / "config" / "sim.yaml")
    return LaunchDescription([
        DeclareLaunchArgument("instruction", default_value="go to the red box"),
        DeclareLaunchArgument("seed", default_value="0", description="world layout seed"),
        DeclareLaunchArgument("mode", default_value="sd_ee_predraft"),
        DeclareLaunchArgument("local_cloud", default_value="true"),
        DeclareLaunchArgument("record", default_value="true"),
        DeclareLaunchArgument("bag_path", default_value="sim_run"),
        DeclareLaunchArgument("live", default_value="false", description="Foxglove live view on 127.0.0.1"),
        DeclareLaunchArgument("live_port", default_value="8765"),
        Node(package="spec_decode_ros", executable="fake_go2", name="fake_go2",
             arguments=["--interface", "lo", "--seed", LaunchConfiguration("seed")]),
        Node(package="spec_decode_ros", executable="cloud_verifier", name="cloud_verifier",
             arguments=["--model", "embedded", "--bind", "tcp://127.0.0.1:5555"],
             condition=IfCondition(LaunchConfiguration("local_cloud"))),
        Node(package="spec_decode_ros", executable="camera_node", name="camera", parameters=[config]),
        Node(package="spec_decode_ros", executable="draft_node", name="draft",
             parameters=[config, {"instruction": LaunchConfiguration("instruction"),
                                  "mode": LaunchConfiguration("mode")}]),
        Node(package="spec_decode_ros", executable="motion_node", name="motion", parameters=[config]),
        Node(package="spec_decode_ros", executable="go2_bridge_node", name="go2_bridge", parameters=[config]),
        Node(package="spec_decode_ros", executable="recorder_node", name="recorder",
             parameters=[config, {"bag_path": LaunchConfiguration("bag_path")}],
             condition=IfCondition(LaunchConfiguration("record"))),
        Node(package="spec_decode_ros", executable="live_view_node", name="live_view",
             parameters=[config, {"port": LaunchConfiguration("live_port")}],
             condition=IfCondition(LaunchConfiguration("live"))),
    ])
