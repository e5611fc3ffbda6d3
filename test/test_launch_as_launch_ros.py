"""Every launch file, started as ``ros2 launch`` starts it: each ``Node`` of the file becomes the exact command
line launch_ros builds (``--ros-args -r __node:=NAME -r __ns:=/ --params-file ...``, see support/launch_shim.py),
run from ``bin/``. Every ROS node must come up on the graph under its launch name with its params file's values
(read back through its parameter services), the verifier must answer a PING, the fake Go2 must serve (the camera
node's frames come from it)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from rclpy.node import Node as RclpyNode
from rclpy.parameter import parameter_value_to_python
from rclpy.parameter_client import AsyncParameterClient
from sensor_msgs.msg import Image
from support.launched import Launched, launch
from support.ros import spinning_node, wait_for

from spec_decode_ros import topics
from spec_decode_ros.bridge.client import CloudClient
from spec_decode_ros.nodes.qos import SENSOR_QOS
from spec_decode_ros.process_group import free_endpoint

pytestmark = pytest.mark.slow
GO2_DOMAIN = os.environ["SPEC_DECODE_GO2_DOMAIN"]
UP_S = 240.0  # two model loads and MuJoCo on a shared two-core machine


def _graph_names(node: RclpyNode) -> set[str]:
    return {(ns.rstrip("/") + "/" + name) for name, ns in node.get_node_names_and_namespaces()}


def _parameters(node: RclpyNode, full_name: str, names: list[str]) -> dict[str, Any]:
    client = AsyncParameterClient(node, full_name)
    assert client.wait_for_services(timeout_sec=60.0), f"{full_name}: no parameter services"
    future = client.get_parameters(names)
    deadline = time.monotonic() + 30.0
    while not future.done():
        assert time.monotonic() < deadline, f"{full_name}: get_parameters timed out"
        time.sleep(0.05)
    values = future.result().values
    return dict(zip(names, (parameter_value_to_python(v) for v in values), strict=True))


def _require_up(launched: Launched, test_node: RclpyNode) -> None:
    """Every ROS node on the graph under its launch name, with the parameters its params files give it."""
    expected = {n.full_name for n in launched.ros_nodes()}

    def all_up() -> bool:
        launched.check_alive()
        return expected <= _graph_names(test_node)

    wait_for(all_up, UP_S, f"nodes {sorted(expected - _graph_names(test_node))} on the graph")
    for node in launched.ros_nodes():
        wanted = node.parameters()
        assert len(wanted) > 1, f"{node.full_name}: no parameters from its params files"
        got = _parameters(test_node, node.full_name, sorted(wanted))
        assert got == wanted, f"{node.full_name}: parameters differ from its params files"


def _require_ping(endpoint: str, launched: Launched) -> None:
    client = CloudClient(endpoint)
    try:
        def pong() -> bool:
            launched.check_alive()
            return bool(client.ping(timeout_s=2.0))

        wait_for(pong, UP_S, f"the verifier at {endpoint} to answer a PING")
    finally:
        client.close()


def _require_frames(test_node: RclpyNode, launched: Launched) -> None:
    """The camera node's frames come from the fake Go2's videohub (VideoClient.GetImageSample): it serves."""
    frames: list[Image] = []
    sub = test_node.create_subscription(Image, topics.CAMERA_IMAGE, frames.append, SENSOR_QOS)

    def framed() -> bool:
        launched.check_alive()
        return bool(frames)

    wait_for(framed, UP_S, "a camera frame served by the fake Go2")
    test_node.destroy_subscription(sub)
    assert frames[0].header.frame_id == "front_camera" and frames[0].width > 0


@pytest.mark.timeout(420)
def test_sim_launch_starts_as_launch_ros_would(tmp_path: Path) -> None:
    endpoint = free_endpoint()
    args = {"cloud_endpoint": endpoint, "go2_domain_id": GO2_DOMAIN, "bag_path": str(tmp_path / "bag")}
    with spinning_node("launch_probe") as probe, launch("sim.launch.py", args, tmp_path) as launched:
        assert {n.executable for n in launched.nodes} == {"fake_go2", "cloud_verifier", "camera_node", "draft_node",
                                                          "motion_node", "go2_bridge_node", "recorder_node"}
        assert launched.node("/fake_go2").argv[-5:] == ["--ros-args", "-r", "__node:=fake_go2", "-r", "__ns:=/"]
        _require_ping(endpoint, launched)
        _require_up(launched, probe)
        _require_frames(probe, launched)
        launched.check_alive()


@pytest.mark.timeout(420)
def test_robot_launch_starts_as_launch_ros_would(tmp_path: Path) -> None:
    """The real robot's graph against the fake Go2 on loopback (network_interface:=lo), CURVE keys as on the robot;
    the fake Go2 itself is started as sim.launch.py starts it."""
    from spec_decode_ros.bridge import keys

    assert keys.main([str(tmp_path / "keys"), "cloud", "robot1"]) == 0
    args = {"network_interface": "lo", "go2_domain_id": GO2_DOMAIN, "cloud_endpoint": free_endpoint(),
            "cloud_public_key": str(tmp_path / "keys" / "cloud.key"),
            "robot_secret_key": str(tmp_path / "keys" / "robot1.key_secret")}
    robot_dir, go2_dir = tmp_path / "robot", tmp_path / "go2"
    robot_dir.mkdir()
    go2_dir.mkdir()
    with spinning_node("launch_probe") as probe, \
            launch("sim.launch.py", {"go2_domain_id": GO2_DOMAIN}, go2_dir, only=("fake_go2",)) as go2, \
            launch("robot.launch.py", args, robot_dir) as launched:
        assert {n.executable for n in launched.nodes} == {"camera_node", "draft_node", "motion_node", "go2_bridge_node"}
        _require_up(launched, probe)
        _require_frames(probe, launched)
        go2.check_alive()
        launched.check_alive()


@pytest.mark.timeout(420)
def test_gazebo_launch_starts_as_launch_ros_would(tmp_path: Path) -> None:
    endpoint = free_endpoint()
    with spinning_node("launch_probe") as probe, \
            launch("gazebo.launch.py", {"cloud_endpoint": endpoint, "local_cloud": "true"}, tmp_path) as launched:
        assert {n.executable for n in launched.nodes} == {"cloud_verifier", "draft_node", "motion_node"}
        assert all(n.parameters()["use_sim_time"] is True for n in launched.ros_nodes())
        _require_ping(endpoint, launched)
        _require_up(launched, probe)


@pytest.mark.timeout(120)
def test_record_launch_starts_as_launch_ros_would(tmp_path: Path) -> None:
    with spinning_node("launch_probe") as probe, \
            launch("record.launch.py", {"bag_path": str(tmp_path / "bag")}, tmp_path) as launched:
        _require_up(launched, probe)
    assert (tmp_path / "bag").is_dir()
