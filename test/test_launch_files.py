"""The launch files, evaluated as ``ros2 launch`` would (``support.launch_shim``: ``launch`` is not installable
here): every executable they start is installed by CMake and runs a real module, every parameter their params
files or overrides set is one that node declares, and the arguments nav2_bringup's users expect are there.
Starting what they describe is test_launch_as_launch_ros.py's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from support.launch_shim import evaluate

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))
INCLUDERS = ("robot.launch.py", "sim.launch.py", "gazebo.launch.py")
COMMON_ARGUMENTS = ("params_file", "namespace", "use_sim_time", "log_level")


def _module_of(executable: str) -> Path:
    text = (ROOT / "bin" / executable).read_text()
    module = re.search(r"from (spec_decode_ros[\w.]*) import main", text).group(1)
    return ROOT / (module.replace(".", "/") + ".py")


def _declared_parameters(module: Path) -> set[str]:
    """Parameters the node module declares, itself or through the node parts it imports (nodes/*.py)."""
    text = module.read_text()
    names = set(re.findall(r'declare_parameter\(\s*"(\w+)"', text)) | {"use_sim_time"}  # rclpy declares that one
    for part in re.findall(r"from spec_decode_ros\.nodes\.(\w+) import", text):
        if part not in ("common", "qos"):
            names |= _declared_parameters(module.parent / f"{part}.py")
    return names


def test_there_are_launch_files_for_robot_sim_gazebo_and_recording():
    assert {p.name for p in LAUNCH_FILES} >= {"robot.launch.py", "sim.launch.py", "gazebo.launch.py",
                                               "record.launch.py", "bringup.launch.py"}


@pytest.mark.parametrize("launch_file", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_names_only_installed_executables_and_declared_parameters(launch_file: Path, tmp_path: Path):
    cmake = (ROOT / "CMakeLists.txt").read_text()
    nodes, _ = evaluate(launch_file, {}, tmp_path)
    assert nodes, "no Node actions found"
    for node in nodes:
        exe = node.executable
        assert (ROOT / "bin" / exe).exists(), f"bin/{exe} missing"
        assert f"bin/{exe}" in cmake, f"{exe} is not installed by CMakeLists.txt"
        module = _module_of(exe)
        assert module.exists(), f"{exe} runs {module}, which does not exist"
        if module.parent.name != "nodes":
            assert not node.params_files, f"{exe} is not a ROS node: it takes command-line arguments, not parameters"
            continue
        parameters = node.parameters()
        assert len(parameters) > 1 or launch_file.name == "record.launch.py", f"{node.full_name} gets no YAML"
        unknown = set(parameters) - _declared_parameters(module)
        assert not unknown, f"{node.full_name} does not declare {sorted(unknown)}"


@pytest.mark.parametrize("name", INCLUDERS)
def test_robot_sim_and_gazebo_share_one_description_with_nav2_style_arguments(name: str):
    text = (ROOT / "launch" / name).read_text()
    assert "bringup.launch.py" in text and "Node(" not in text, f"{name} must include bringup.launch.py, not repeat it"
    for argument in COMMON_ARGUMENTS:
        assert f'"{argument}"' in text, f"{name} has no {argument} argument"


def test_namespace_and_sim_time_reach_every_node(tmp_path: Path):
    nodes, _ = evaluate(ROOT / "launch" / "sim.launch.py", {"namespace": "go2_7", "use_sim_time": "true"}, tmp_path)
    ros_nodes = [n for n in nodes if _module_of(n.executable).parent.name == "nodes"]
    assert {n.full_name for n in ros_nodes} == {"/go2_7/camera", "/go2_7/draft", "/go2_7/motion", "/go2_7/go2_bridge",
                                                "/go2_7/recorder"}
    sim = yaml.safe_load((ROOT / "config" / "sim.yaml").read_text())
    for node in ros_nodes:
        parameters = node.parameters()
        assert parameters["use_sim_time"] is True, node.full_name
        short = node.full_name.rsplit("/", 1)[1]
        for key, value in sim[short]["ros__parameters"].items():  # the params file still applies under the namespace
            if key != "bag_path":
                assert parameters[key] == value, (node.full_name, key)


def test_gazebo_runs_on_simulated_time_and_says_where_the_verifier_is(tmp_path: Path):
    nodes, log = evaluate(ROOT / "launch" / "gazebo.launch.py", {"cloud_endpoint": "tcp://10.1.2.3:5555"}, tmp_path)
    assert all(n.parameters()["use_sim_time"] is True for n in nodes)
    assert "cloud_verifier" not in {n.executable for n in nodes}
    assert any("tcp://10.1.2.3:5555" in line for line in log), log
    nodes, _ = evaluate(ROOT / "launch" / "gazebo.launch.py", {"local_cloud": "true"}, tmp_path)
    assert "cloud_verifier" in {n.executable for n in nodes}


@pytest.mark.parametrize("config", sorted((ROOT / "config").glob("*.yaml")), ids=lambda p: p.name)
def test_every_ros_parameter_in_config_is_declared_by_its_node(config: Path):
    executables = {_module_of(p.name).stem: _module_of(p.name) for p in (ROOT / "bin").iterdir()
                   if _module_of(p.name).parent.name == "nodes"}
    for node, section in (yaml.safe_load(config.read_text()) or {}).items():
        if not isinstance(section, dict) or "ros__parameters" not in section:
            continue
        assert node in executables, f"{config.name}: no node named {node}"
        unknown = set(section["ros__parameters"]) - _declared_parameters(executables[node])
        assert not unknown, f"{config.name}: {node} does not declare {sorted(unknown)}"
