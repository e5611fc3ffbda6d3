"""The same graph as on the robot, against the fake Go2 (MuJoCo world behind the real unitree_sdk2py sport/videohub
services on loopback) and a local cloud verifier, from config/sim.yaml, through the shared bringup.launch.py.
`spec-decode demo` starts this graph without `launch` and also scores episodes.

    ros2 launch spec_decode_ros sim.launch.py instruction:="find the blue ball" seed:=3

``local_cloud:=false`` leaves the verifier to another machine (``cloud_endpoint``). ``namespace``, ``use_sim_time``,
``log_level`` and ``params_file`` as in bringup.launch.py; empty values keep the params file's.
"""

from pathlib import Path

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

HERE = Path(__file__).resolve().parent
ARGUMENTS = {  # this file's arguments and their defaults ("": the params file's value)
    "params_file": str(HERE.parent / "config" / "sim.yaml"), "namespace": "", "use_sim_time": "false",
    "log_level": "info", "instruction": "", "seed": "0", "mode": "", "cloud_endpoint": "", "go2_domain_id": "",
    "record": "true", "bag_path": "sim_run", "live": "false", "live_port": "",
}
PARTS = {"use_camera": "true", "use_go2_bridge": "true", "use_fake_go2": "true"}


def generate_launch_description():
    return LaunchDescription([
        *(DeclareLaunchArgument(name, default_value=default) for name, default in ARGUMENTS.items()),
        DeclareLaunchArgument("local_cloud", default_value="true", description="a cloud verifier on this machine"),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(HERE / "bringup.launch.py")),
            launch_arguments=[(name, LaunchConfiguration(name)) for name in ARGUMENTS]
            + [("use_verifier", LaunchConfiguration("local_cloud"))] + list(PARTS.items())),
    ])
