"""Record the loop's topics to an MCAP bag with the package's own recorder (no rosbag2 needed);
with a full ROS 2 install `ros2 bag record -s mcap` on the same topics works as well.

    ros2 launch spec_decode_ros record.launch.py bag_path:=runs/go2_0001 namespace:=go2_1 use_sim_time:=true
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("bag_path", default_value="spec_decode_run"),
        DeclareLaunchArgument("namespace", default_value=""),
        DeclareLaunchArgument("use_sim_time", default_value="false"),
        DeclareLaunchArgument("log_level", default_value="info"),
        Node(package="spec_decode_ros", executable="recorder_node", name="recorder", output="screen",
             namespace=LaunchConfiguration("namespace"),
             parameters=[{"bag_path": ParameterValue(LaunchConfiguration("bag_path"), value_type=str),
                          "use_sim_time": LaunchConfiguration("use_sim_time")}],
             arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")]),
    ])
