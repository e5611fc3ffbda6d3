"""Gazebo with a CHAMP-based Go2 package: the simulator publishes the camera and consumes ``cmd_vel``, so only
draft + motion run here (CHAMP velocity caps, config/gazebo.yaml), remapped to its topics, on simulated time
(``use_sim_time`` defaults to true), through the shared bringup.launch.py.

    ros2 launch spec_decode_ros gazebo.launch.py image_topic:=/camera/image_raw cmd_vel_topic:=/cmd_vel

The verifier runs where the GPU is: ``spec-decode cloud --model <target> --bind tcp://0.0.0.0:5555 --keys keys``
on the server, and ``cloud_endpoint:=tcp://<server>:5555`` here (the launch log says which endpoint it expects);
``local_cloud:=true`` starts one on this machine instead (the embedded model; a CPU is enough for it).
"""

from pathlib import Path

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

HERE = Path(__file__).resolve().parent
ARGUMENTS = {  # this file's arguments and their defaults ("": the params file's value)
    "params_file": str(HERE.parent / "config" / "gazebo.yaml"), "namespace": "", "use_sim_time": "true",
    "log_level": "info", "image_topic": "/camera/image_raw", "cmd_vel_topic": "/cmd_vel", "cloud_endpoint": "",
    "instruction": "", "mode": "", "record": "false", "bag_path": "gazebo_run",
}
PARTS = {"use_camera": "false", "use_go2_bridge": "false", "use_fake_go2": "false"}


def generate_launch_description():
    return LaunchDescription([
        *(DeclareLaunchArgument(name, default_value=default) for name, default in ARGUMENTS.items()),
        DeclareLaunchArgument("local_cloud", default_value="false",
                              description="a cloud verifier on this machine (default: on the GPU server)"),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(HERE / "bringup.launch.py")),
            launch_arguments=[(name, LaunchConfiguration(name)) for name in ARGUMENTS]
            + [("use_verifier", LaunchConfiguration("local_cloud"))] + list(PARTS.items())),
    ])
