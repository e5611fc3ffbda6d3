"""`launch` is not installable here, so check launch files statically: every executable they start
is installed by CMake and runs a real module, and every parameter they or their YAML set is one that
node declares."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))


def _node_calls(path: Path) -> list[dict]:
    calls = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Node":
            kw = {k.arg: k.value for k in node.keywords}
            params: list = []
            if "parameters" in kw:
                for item in kw["parameters"].elts:
                    params.append(sorted(ast.literal_eval(k) for k in item.keys) if isinstance(item, ast.Dict)
                                  else "config")
            calls.append({"executable": ast.literal_eval(kw["executable"]), "name": ast.literal_eval(kw["name"]),
                          "params": params})
    return calls


def _config_file(path: Path) -> Path | None:
    m = re.search(r'"config" / "(\w+\.yaml)"', path.read_text())
    return ROOT / "config" / m.group(1) if m else None


def _module_of(executable: str) -> Path:
    text = (ROOT / "bin" / executable).read_text()
    module = re.search(r"from (spec_decode_ros[\w.]*) import main", text).group(1)
    return ROOT / (module.replace(".", "/") + ".py")


def _declared_parameters(module: Path) -> set[str]:
    """Parameters the node module declares, itself or through the node parts it imports (nodes/*.py)."""
    text = module.read_text()
    names = set(re.findall(r'declare_parameter\(\s*"(\w+)"', text))
    for part in re.findall(r"from spec_decode_ros\.nodes\.(\w+) import", text):
        if part != "common":
            names |= _declared_parameters(module.parent / f"{part}.py")
    return names


def test_there_are_launch_files_for_robot_sim_gazebo_and_recording():
    assert {p.name for p in LAUNCH_FILES} >= {"robot.launch.py", "sim.launch.py", "gazebo.launch.py",
                                               "record.launch.py"}


@pytest.mark.parametrize("launch_file", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_names_only_installed_executables_and_declared_parameters(launch_file: Path):
    cmake = (ROOT / "CMakeLists.txt").read_text()
    config = _config_file(launch_file)
    sections = yaml.safe_load(config.read_text()) if config else {}
    calls = _node_calls(launch_file)
    assert calls, "no Node actions found"
    for call in calls:
        exe = call["executable"]
        assert (ROOT / "bin" / exe).exists(), f"bin/{exe} missing"
        assert f"bin/{exe}" in cmake, f"{exe} is not installed by CMakeLists.txt"
        module = _module_of(exe)
        assert module.exists(), f"{exe} runs {module}, which does not exist"
        if module.parent.name != "nodes":
            continue  # plain processes (fake Go2, verifier) take command-line arguments, not ROS parameters
        declared = _declared_parameters(module)
        for entry in call["params"]:
            keys = (sections.get(call["name"], {}).get("ros__parameters", {}) if entry == "config" else
                    dict.fromkeys(entry))
            if entry == "config":
                assert keys, f"{config.name} has no section for node {call['name']}"
            unknown = set(keys) - declared
            assert not unknown, f"{call['name']} does not declare {sorted(unknown)}"


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
