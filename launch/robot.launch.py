"""On a real Go2: camera (Go2 VideoClient), draft (robot side of the bridge), motion (streaming parser + limits +
deadman) and the Go2 bridge (SportClient), from config/robot.yaml, through the shared bringup.launch.py.

    ros2 launch spec_decode_ros robot.launch.py cloud_endpoint:=tcp://10.0.0.5:5555 network_interface:=eth0 \
        cloud_public_key:=keys/cloud.key robot_secret_key:=keys/robot1.key_secret

The link to the cloud is CURVE: ``cloud_public_key`` (the cloud's public key) and ``robot_secret_key`` (this
robot's key pair) default to the draft node's paths in the params file. ``namespace``, ``use_sim_time``,
``log_level`` and ``params_file`` as in bringup.launch.py; empty values keep the params file's.

``live:=true`` adds the live view (Foxglove WebSocket on ``live_host``:``live_port``, loopback by default).
"""

from pathlib import Path

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

HERE = Path(__file__).resolve().parent
ARGUMENTS = {  # this file's arguments and their defaults ("": the params file's value)
    "params_file": str(HERE.parent / "config" / "robot.yaml"), "namespace": "", "use_sim_time": "false",
    "log_level": "info", "network_interface": "", "cloud_endpoint": "", "instruction": "", "cloud_public_key": "",
    "robot_secret_key": "", "go2_domain_id": "", "armed_at_start": "", "record": "false", "bag_path": "go2_run", "live": "false",
    "live_host": "", "live_port": "",
}
PARTS = {"use_camera": "true", "use_go2_bridge": "true", "use_fake_go2": "false", "use_verifier": "false"}


def generate_launch_description():
    return LaunchDescription([
        *(DeclareLaunchArgument(name, default_value=default) for name, default in ARGUMENTS.items()),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(HERE / "bringup.launch.py")),
            launch_arguments=[(name, LaunchConfiguration(name)) for name in ARGUMENTS] + list(PARTS.items())),
    ])
