"""Start a group of processes with one environment, log each to its own file, stop them in order.

What ``ros2 launch`` does for the node graph, for machines without ``launch`` (the demo): each
process gets the run's ROS domain, localhost-only discovery, log directory, and a log file.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (for a verifier this run starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_endpoint() -> str:
    """A ZeroMQ TCP endpoint on 127.0.0.1 on a port that is free right now."""
    return f"tcp://127.0.0.1:{free_port()}"


def ros_environment(run_dir: Path, domain_id: int | None = None) -> dict[str, str]:
    """This run's environment: own DDS domain, discovery on this machine only, logs in the run dir."""
    env = dict(os.environ)
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env.pop("ROS_LOCALHOST_ONLY", None)
    env["ROS_DOMAIN_ID"] = str(domain_id if domain_id is not None else 1 + os.getpid() % 100)
    env["ROS_LOG_DIR"] = str(run_dir / "ros_log")
    env.setdefault("AMENT_PREFIX_PATH", sys.prefix)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.setdefault("MUJOCO_GL", "egl")
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class ProcessGroup:
    """Processes started in order and stopped in reverse order (SIGINT, then SIGTERM, then SIGKILL)."""

    log_dir: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, argv: list[str], cpus: set[int] | None = None) -> subprocess.Popen:
        if name in self.procs:
            raise ValueError(f"a process named {name!r} is already running")
        self.log_dir.mkdir(parents=True, exist_ok=True)

        def pin() -> None:
            if cpus:
                os.sched_setaffinity(0, cpus)

        with open(self.log_dir / f"{name}.log", "wb") as log:  # the child keeps its own descriptor
            self.procs[name] = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, preexec_fn=pin)
        return self.procs[name]

    def python(self, name: str, module: str, *args: str, cpus: set[int] | None = None) -> subprocess.Popen:
        return self.start(name, [sys.executable, "-m", module, *args], cpus)

    def dead(self) -> dict[str, int]:
        """Processes that have exited, with their exit codes."""
        return {name: p.returncode for name, p in self.procs.items() if p.poll() is not None}

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self, name: str, timeout_s: float = 10.0) -> int | None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return None
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if proc.poll() is not None:
                break
            proc.send_signal(sig)
            deadline = time.monotonic() + timeout_s
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
        return proc.wait()

    def stop_all(self) -> dict[str, int | None]:
        return {name: self.stop(name) for name in reversed(list(self.procs))}
