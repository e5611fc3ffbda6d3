"""The robot-side graph, described once (nav2_bringup's shape): ``robot``, ``sim`` and ``gazebo`` include this file
with their params file and the parts they need; it can be launched on its own as well.

    ros2 launch spec_decode_ros bringup.launch.py params_file:=config/robot.yaml namespace:=go2_1 use_sim_time:=false

Common arguments: ``params_file`` (the YAML of every node's parameters), ``namespace`` (pushed onto every node
and topic; the params file's node sections are rewritten under it, as nav2's RewrittenYaml root_key does),
``use_sim_time`` (every node on ``/clock``), ``log_level``. Parts: ``use_camera``, ``use_go2_bridge``,
``use_fake_go2``, ``use_verifier`` (a cloud verifier on this machine), ``record``, ``live``. Values that land in
node parameters (``instruction``, ``cloud_endpoint``, ``mode``, ``draft_model``, ``network_interface``,
``go2_domain_id``, ``cloud_public_key``, ``robot_secret_key``, ``bag_path``, ``live_host``, ``live_port``) keep
the params file's value when left empty. ``image_topic`` / ``cmd_vel_topic`` remap the camera and velocity topics
(Gazebo's). docs/ros-stack.md has the table.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

PACKAGE = "spec_decode_ros"
SHARE = Path(__file__).resolve().parents[1]  # installed: share/spec_decode_ros; in a checkout: its root
DEFAULT_PARAMS = SHARE / "config" / "robot.yaml"

# name, default, description ("" for a node parameter: keep the params file's value)
ARGUMENTS: tuple[tuple[str, str, str], ...] = (
    ("params_file", str(DEFAULT_PARAMS), "YAML with every node's parameters"),
    ("namespace", "", "namespace of every node and topic (one per robot)"),
    ("use_sim_time", "false", "every node on /clock (Gazebo, a bag played with --clock)"),
    ("log_level", "info", "log level of every node"),
    ("use_camera", "true", "the camera node (off where a simulator publishes the camera)"),
    ("use_go2_bridge", "true", "the Go2 bridge (SportClient; off where a simulator takes cmd_vel)"),
    ("use_fake_go2", "false", "the fake Go2 (MuJoCo behind the unitree_sdk2py services, on network_interface)"),
    ("use_verifier", "false", "a cloud verifier on this machine, bound to cloud_endpoint"),
    ("verifier_model", "embedded", "the verifier's target model (use_verifier)"),
    ("record", "false", "record the loop's topics to bag_path"),
    ("live", "false", "Foxglove live view"),
    ("seed", "0", "the fake Go2's world layout seed"),
    ("instruction", "", "the instruction to start with"),
    ("cloud_endpoint", "", "the cloud verifier's ZeroMQ endpoint"),
    ("mode", "", "decoding mode: cloud_ar | edge_only | sd | sd_ee | sd_ee_predraft"),
    ("draft_model", "", "the draft VLM: embedded or a model folder"),
    ("cloud_public_key", "", "the cloud's CURVE public key file"),
    ("robot_secret_key", "", "this robot's CURVE key pair file"),
    ("network_interface", "", "the Go2's DDS interface (eth0 on the robot, lo for the fake Go2)"),
    ("go2_domain_id", "", "the Go2's DDS domain (0 on the robot)"),
    ("armed_at_start", "", "true: the Go2 bridge may send Move without its arm service (docs/safety.md)"),
    ("bag_path", "", "where the recorder writes (must not exist)"),
    ("live_host", "", "live view address"),
    ("live_port", "", "live view port"),
    ("image_topic", "camera/image_raw", "the camera topic the draft node and recorder read"),
    ("cmd_vel_topic", "cmd_vel", "where the motion node publishes velocity"),
)

# launch argument -> (the nodes, the parameter it sets in each, type) when not empty
NODE_OVERRIDES: tuple[tuple[str, tuple[str, ...], str, type], ...] = (
    ("instruction", ("draft",), "instruction", str),
    ("cloud_endpoint", ("draft",), "cloud_endpoint", str),
    ("mode", ("draft",), "mode", str),
    ("draft_model", ("draft",), "draft_model", str),
    ("cloud_public_key", ("draft",), "server_public_key", str),
    ("robot_secret_key", ("draft",), "client_secret_key", str),
    ("network_interface", ("camera", "go2_bridge"), "network_interface", str),
    ("go2_domain_id", ("camera", "go2_bridge"), "go2_domain_id", int),
    ("armed_at_start", ("go2_bridge",), "armed_at_start", bool),
    ("bag_path", ("recorder",), "bag_path", str),
    ("live_host", ("live_view",), "host", str),
    ("live_port", ("live_view",), "port", int),
)


def is_true(text: str) -> bool:
    return text.strip().lower() in ("true", "1", "yes")


def namespaced_params_file(params_file: str, namespace: str) -> str:
    """``params_file`` as it is, or (with a namespace) a copy whose sections sit under the namespace, so
    ``draft:`` still reaches ``/go2_1/draft``."""
    parts = [p for p in namespace.strip("/").split("/") if p]
    if not parts:
        return params_file
    with open(params_file) as f:
        content = yaml.safe_load(f) or {}
    for part in reversed(parts):
        content = {part: content}
    with tempfile.NamedTemporaryFile("w", prefix="spec_decode_params_", suffix=".yaml", delete=False) as out:
        yaml.safe_dump(content, out)
    return out.name


def node_sections(params_file: str) -> dict:
    with open(params_file) as f:
        return {k: v.get("ros__parameters", {}) for k, v in (yaml.safe_load(f) or {}).items() if isinstance(v, dict)}


def launch_setup(context: object) -> list:
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    params_file, namespace = arg("params_file"), arg("namespace")
    sections = node_sections(params_file)
    params = namespaced_params_file(params_file, namespace)
    use_sim_time = is_true(arg("use_sim_time"))
    log_args = ["--ros-args", "--log-level", arg("log_level")]
    remap_image = [("camera/image_raw", arg("image_topic"))] if arg("image_topic") != "camera/image_raw" else []
    remap_cmd_vel = [("cmd_vel", arg("cmd_vel_topic"))] if arg("cmd_vel_topic") != "cmd_vel" else []

    def overrides(node: str) -> dict:
        out: dict = {"use_sim_time": use_sim_time}
        for launch_arg, targets, parameter, kind in NODE_OVERRIDES:
            if node in targets and arg(launch_arg):
                out[parameter] = ParameterValue(arg(launch_arg), value_type=kind)
        return out

    def ros_node(executable: str, name: str, remappings: list | None = None) -> Node:
        return Node(package=PACKAGE, executable=executable, name=name, namespace=namespace, output="screen",
                    parameters=[params, overrides(name)], remappings=remappings or [], arguments=log_args)

    def setting(launch_arg: str, node: str, parameter: str, default: str) -> str:
        return arg(launch_arg) or str(sections.get(node, {}).get(parameter, default))

    endpoint = setting("cloud_endpoint", "draft", "cloud_endpoint", "tcp://127.0.0.1:5555")
    actions: list = []
    if is_true(arg("use_fake_go2")):
        actions.append(Node(package=PACKAGE, executable="fake_go2", name="fake_go2", namespace=namespace,
                            output="screen", arguments=[
                                "--interface", setting("network_interface", "go2_bridge", "network_interface", "lo"),
                                "--domain-id", setting("go2_domain_id", "go2_bridge", "go2_domain_id", "0"),
                                "--seed", arg("seed")]))
    if is_true(arg("use_verifier")):
        actions.append(Node(package=PACKAGE, executable="cloud_verifier", name="cloud_verifier",
                            namespace=namespace, output="screen",
                            arguments=["--model", arg("verifier_model"), "--bind", endpoint]))
    else:
        actions.append(LogInfo(msg=f"the draft node expects a cloud verifier at {endpoint} "
                                   "(spec-decode cloud --model ... --bind ..., on the GPU server)"))
    if is_true(arg("use_camera")):
        actions.append(ros_node("camera_node", "camera"))
    actions.append(ros_node("draft_node", "draft", remap_image))
    actions.append(ros_node("motion_node", "motion", remap_cmd_vel))
    if is_true(arg("use_go2_bridge")):
        actions.append(ros_node("go2_bridge_node", "go2_bridge"))
    if is_true(arg("record")):
        actions.append(ros_node("recorder_node", "recorder", remap_image + remap_cmd_vel))
    if is_true(arg("live")):
        actions.append(ros_node("live_view_node", "live_view", remap_image))
    return actions


def declare_arguments(defaults: dict[str, str] | None = None) -> list[DeclareLaunchArgument]:
    """Every argument of this description, with the including file's ``defaults`` in place of its own."""
    defaults = defaults or {}
    return [DeclareLaunchArgument(name, default_value=defaults.get(name, default), description=text)
            for name, default, text in ARGUMENTS]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([*declare_arguments(), OpaqueFunction(function=launch_setup)])
