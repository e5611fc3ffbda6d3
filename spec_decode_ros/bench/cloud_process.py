"""The cloud verifier as a separate process (``spec-decode cloud``), for the benchmark and the two-process tests."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from spec_decode_ros.bridge.client import CloudClient
from spec_decode_ros.bridge.security import ClientSecurity
from spec_decode_ros.process_group import (
    free_endpoint as free_endpoint,  # re-exported: the benchmarks start clouds on it
)
from spec_decode_ros.start_stop import StartStop


def add_cpu_arguments(ap: argparse.ArgumentParser) -> None:
    """``--cloud-cpus`` and ``--robot-cpus`` for a benchmark that starts a cloud beside its own robots."""
    ap.add_argument("--cloud-cpus", default="1", help="the verifier's CPUs ('' for no pinning)")
    ap.add_argument("--robot-cpus", default="0", help="CPUs of this process, the robots and the flooder")


def pin_cpus(args: argparse.Namespace) -> tuple[str, ...]:
    """Pin this process (its children inherit it) to ``--robot-cpus``; the cloud's extra arguments for
    ``--cloud-cpus``."""
    if args.robot_cpus:
        os.sched_setaffinity(0, {int(c) for c in args.robot_cpus.split(",")})
    return ("--cpus", args.cloud_cpus) if args.cloud_cpus else ()


class CloudProcess(StartStop):
    """``python -m spec_decode_ros.cli cloud --model DIR --bind ENDPOINT ...``; ``start()`` waits until it answers.
    The target runs in ``dtype`` on ``device`` (float32 on the CPU unless told: the same on any machine)."""

    def __init__(self, model: str | Path, endpoint: str, *extra: str, client_security: ClientSecurity | None = None,
                 log: Path | None = None, dtype: str = "float32", device: str = "cpu") -> None:
        self.args = [sys.executable, "-m", "spec_decode_ros.cli", "cloud", "--model", str(model), "--bind", endpoint,
                     "--threads", "1", "--dtype", dtype, "--device", device, *extra]
        self.log = log
        self.endpoint = endpoint
        self.client_security = client_security
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 90.0) -> CloudProcess:
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        # to a file, never a pipe nobody reads: the verifier logs every session and refused frame, and a full
        # pipe would block it
        out = open(self.log, "wb") if self.log is not None else tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.args, env=env, stdout=out, stderr=subprocess.STDOUT)
        self._out = out
        client = CloudClient(self.endpoint, security=self.client_security)
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"cloud process exited: {self.output()[-3000:]}")
                if client.ping(0.5):
                    return self
                client.reset()
        finally:
            client.close()
        self.kill()
        raise RuntimeError(f"cloud process did not answer within {timeout_s} s")

    def output(self) -> str:
        """What the process wrote so far (stdout and stderr)."""
        if self.log is not None:
            return self.log.read_text(errors="replace") if self.log.exists() else ""
        self._out.flush()
        self._out.seek(0)
        return self._out.read().decode(errors="replace")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
