"""On a real Go2: camera (Go2 VideoClient), draft (robot side of the bridge), motion (streaming
parser + limits + deadman) and the Go2 bridge (SportClient), all from config/robot.yaml.

    ros2 launch spec_decode_ros robot.launch.py cloud_endpoint:=tcp://10.0.0.5:5555 network_interface:=eth0 \
        cloud_public_key:=keys/cloud.key robot_secret_key:=keys/robot1.key_secret

The link to the cloud is CURVE: ``cloud_public_key`` (the cloud's public key) and ``robot_secret_key`` (this
robot's key pair) default to the draft node's paths in config/robot.yaml.

``live:=true`` adds the live view (Foxglove WebSocket on ``live_host``:``live_port``, loopback by default).
"""

from pathlib import Path

import yaml
from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    config = str(Path(get_package_share_directory("spec_decode_ros")) / "config" / "robot.yaml")
    iface = LaunchConfiguration("network_interface")
    endpoint = LaunchConfiguration("cloud_endpoint")
    with open(config) as f:
        draft = yaml.safe_load(f)["draft"]["ros__parameters"]
    return LaunchDescription([
        DeclareLaunchArgument("network_interface", default_value="eth0", description="Go2 DDS interface"),
        DeclareLaunchArgument("cloud_endpoint", default_value="tcp://127.0.0.1:5555"),
        DeclareLaunchArgument("instruction", default_value="",
                              description="first instruction (none: wait for one on the instruction topic)"),
        DeclareLaunchArgument("armed_at_start", default_value="false",
                              description="true: the bridge may send Move without the arm service (docs/safety.md)"),
        DeclareLaunchArgument("cloud_public_key", default_value=draft["server_public_key"],
                              description="the cloud's CURVE public key file (spec-decode keys)"),
        DeclareLaunchArgument("robot_secret_key", default_value=draft["client_secret_key"],
                              description="this robot's CURVE key pair file (its public key is on the cloud's allow-list)"),
        DeclareLaunchArgument("record", default_value="false"),
        DeclareLaunchArgument("bag_path", default_value="go2_run"),
        DeclareLaunchArgument("live", default_value="false", description="Foxglove live view"),
        DeclareLaunchArgument("live_host", default_value="127.0.0.1"),
        DeclareLaunchArgument("live_port", default_value="8765"),
        Node(package="spec_decode_ros", executable="camera_node", name="camera",
             parameters=[config, {"network_interface": iface}]),
        Node(package="spec_decode_ros", executable="draft_node", name="draft",
             parameters=[config, {"cloud_endpoint": endpoint, "instruction": LaunchConfiguration("instruction"),
                                  "server_public_key": LaunchConfiguration("cloud_public_key"),
                                  "client_secret_key": LaunchConfiguration("robot_secret_key")}]),
        Node(package="spec_decode_ros", executable="motion_node", name="motion", parameters=[config]),
        Node(package="spec_decode_ros", executable="go2_bridge_node", name="go2_bridge",
             parameters=[config, {"network_interface": iface,
                                  "armed_at_start": LaunchConfiguration("armed_at_start")}]),
        Node(package="spec_decode_ros", executable="recorder_node", name="recorder",
             parameters=[config, {"bag_path": LaunchConfiguration("bag_path")}],
             condition=IfCondition(LaunchConfiguration("record"))),
        Node(package="spec_decode_ros", executable="live_view_node", name="live_view",
             parameters=[config, {"host": LaunchConfiguration("live_host"), "port": LaunchConfiguration("live_port")}],
             condition=IfCondition(LaunchConfiguration("live"))),
    ])
