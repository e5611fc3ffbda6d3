"""Start a node module as its own process with ROS parameters, and stop it cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def node_process(module: str, params_file: str | None = None, module_args: tuple[str, ...] = (),
                 **params: Any) -> Iterator[subprocess.Popen]:
    """``python -m module [module_args] --ros-args [--params-file F] -p key:=value ...`` (``params`` override the
    file's)."""
    args = [sys.executable, "-m", module, *module_args, "--ros-args",
            *(["--params-file", params_file] if params_file else [])]
    for key, value in params.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        args += ["-p", f"{key}:={text}"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        stop_all([proc])


def stop_all(procs: list[subprocess.Popen]) -> None:
    """SIGINT to each in order (a launch passes its newest first: nodes before the robot and cloud they stop
    against), 15 s to exit, then kill."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def output_of(proc: subprocess.Popen) -> str:
    if proc.poll() is None or proc.stdout is None:
        return ""
    return proc.stdout.read().decode(errors="replace")


class OutputLines:
    """A process's output lines as they come (read by a daemon thread), for tests that wait on a log line.
    Use instead of ``output_of`` for that process (both read the same pipe)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._proc = proc
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            self.lines.append(raw.decode(errors="replace"))

    def count(self, text: str) -> int:
        return sum(text in line for line in list(self.lines))

    def text(self) -> str:
        """Everything read so far; once the process has ended, everything it wrote."""
        if self._proc.poll() is not None:
            self._thread.join(timeout=10)
        return "".join(self.lines)
