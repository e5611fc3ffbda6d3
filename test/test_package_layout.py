"""The package is a real ROS 2 package: its manifest, its CMake interfaces and the "ROS only in
nodes/" rule all hold."""

from __future__ import annotations

import ast
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "spec_decode_ros"
ROS_MODULES = ("rclpy", "std_msgs", "sensor_msgs", "geometry_msgs", "nav_msgs", "builtin_interfaces", "std_srvs",
               "launch", "launch_ros", "rosidl_runtime_py", "spec_decode_ros.msg")


def test_manifest_is_format3_and_declares_what_the_code_uses():
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == "spec_decode_ros"
    deps = {el.tag: set() for el in root}
    for el in root:
        deps.setdefault(el.tag, set()).add(el.text)
    assert {"ament_cmake", "rosidl_default_generators"} <= deps["buildtool_depend"]
    assert {"std_msgs", "sensor_msgs", "geometry_msgs", "builtin_interfaces"} <= deps["depend"]
    assert {"rclpy", "rosidl_default_runtime"} <= deps["exec_depend"]
    assert "rosidl_interface_packages" in deps["member_of_group"]
    assert root.find("export/build_type").text == "ament_cmake"


def test_cmake_generates_every_message_in_msg_dir():
    cmake = (ROOT / "CMakeLists.txt").read_text()
    for msg in sorted((ROOT / "msg").glob("*.msg")):
        assert f'"msg/{msg.name}"' in cmake, f"{msg.name} is not in rosidl_generate_interfaces"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_ros_is_imported_only_in_nodes():
    offenders = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG)
        if rel.parts[0] == "nodes" or rel.name == "demo.py":
            continue
        for name in _imports(path):
            if any(name == m or name.startswith(m + ".") for m in ROS_MODULES):
                offenders.append(f"{rel}: {name}")
    assert not offenders, "ROS imported outside nodes/: " + ", ".join(offenders)


@pytest.mark.slow  # starts a Python process per subpackage
def test_non_ros_subpackages_import_with_ros_unavailable():
    """The cloud side must run on a server without ROS: import every non-node module with ROS blocked."""
    code = (
        "import sys, importlib, pkgutil\n"
        f"blocked = {ROS_MODULES!r}\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if any(name == b or name.startswith(b + '.') for b in blocked):\n"
        "            raise ImportError('ROS is blocked in this test: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import spec_decode_ros\n"
        "for sub in ('decoding', 'bridge', 'control', 'sim', 'analysis', 'embedded'):\n"
        "    pkg = importlib.import_module('spec_decode_ros.' + sub)\n"
        "    for info in pkgutil.iter_modules(pkg.__path__):\n"
        "        importlib.import_module(f'spec_decode_ros.{sub}.{info.name}')\n"
        "importlib.import_module('spec_decode_ros.cli')\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
