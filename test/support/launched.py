"""Start what a launch file describes, process by process, with the exact command lines launch_ros would use
(``support.launch_shim``), and stop it in the safe order (ROS nodes first, then the fake Go2 and the verifier
they talk to, as ``ros2 launch`` does on SIGINT)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from support.launch_shim import StartedNode, evaluate
from support.node_process import stop_all

ROOT = Path(__file__).resolve().parents[2]
NON_ROS = ("fake_go2", "cloud_verifier")


@dataclass
class Launched:
    nodes: list[StartedNode]
    procs: dict[str, subprocess.Popen]
    logs: dict[str, Path]
    launch_log: list[str]

    def ros_nodes(self) -> list[StartedNode]:
        return [n for n in self.nodes if n.executable not in NON_ROS]

    def node(self, full_name: str) -> StartedNode:
        return next(n for n in self.nodes if n.full_name == full_name)

    def output(self, full_name: str) -> str:
        return self.logs[full_name].read_text(errors="replace")

    def check_alive(self) -> None:
        dead = {name: p.returncode for name, p in self.procs.items() if p.poll() is not None}
        assert not dead, f"exited: {dead}\n" + "\n".join(f"--- {n}\n{self.output(n)[-3000:]}" for n in dead)


def command(node: StartedNode) -> list[str]:
    """launch_ros runs the installed ``lib/spec_decode_ros/<executable>``; here that is ``bin/<executable>`` with this
    venv's interpreter (the script's ``#!/usr/bin/env python3`` may be another one)."""
    return [sys.executable, str(ROOT / "bin" / node.executable), *node.argv]


@contextmanager
def launch(launch_file: str, arguments: dict[str, str], tmp: Path, only: tuple[str, ...] = ()) -> Iterator[Launched]:
    """The launch file's processes (``only``: just those executables), started; stopped on exit."""
    nodes, log = evaluate(ROOT / "launch" / launch_file, arguments, tmp)
    nodes = [n for n in nodes if not only or n.executable in only]
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    procs: dict[str, subprocess.Popen] = {}
    logs: dict[str, Path] = {}
    try:
        for node in nodes:
            logs[node.full_name] = tmp / (node.full_name.strip("/").replace("/", "_") + ".log")
            with open(logs[node.full_name], "wb") as out:
                procs[node.full_name] = subprocess.Popen(command(node), stdout=out, stderr=subprocess.STDOUT, env=env,
                                                         cwd=tmp)
        yield Launched(nodes, procs, logs, log)
    finally:
        stop_all(list(procs.values())[::-1])
