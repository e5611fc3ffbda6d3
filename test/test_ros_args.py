"""The non-ROS executables drop what launch_ros appends (``--ros-args ...``) and keep their own arguments."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from spec_decode_ros.ros_args import strip_ros_args

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("argv", "kept"), [
    (["--model", "embedded"], ["--model", "embedded"]),
    (["--model", "embedded", "--ros-args", "-r", "__node:=cloud_verifier"], ["--model", "embedded"]),
    (["--seed", "3", "--ros-args", "--log-level", "info", "--ros-args", "-r", "__node:=fake_go2", "-r",
      "__ns:=/robot1", "--params-file", "/tmp/p.yaml", "-r", "odom:=/odom"], ["--seed", "3"]),
    (["--a", "--ros-args", "-p", "x:=1", "--", "--b"], ["--a", "--b"]),
    (["--ros-args"], []),
])
def test_ros_sections_are_dropped(argv: list[str], kept: list[str]) -> None:
    assert strip_ros_args(argv) == kept


@pytest.mark.slow  # starts a process
@pytest.mark.timeout(60)
def test_fake_go2_entry_point_accepts_what_launch_ros_appends() -> None:
    """``--help`` after the ROS section exits 0 only if that section never reached argparse (which would exit 2 on
    ``--ros-args``: unrecognized arguments)."""
    result = subprocess.run([sys.executable, str(ROOT / "bin" / "fake_go2"), "--ros-args", "-r", "__node:=fake_go2",
                             "--params-file", "/nonexistent.yaml", "--", "--help"],
                            capture_output=True, text=True, timeout=60, env=_env() | {"PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert "--interface" in result.stdout


def _env() -> dict[str, str]:
    return dict(os.environ)
