"""systemd readiness: ``spec-decode cloud`` run as systemd runs a ``Type=notify`` unit, with ``NOTIFY_SOCKET``
naming a unix datagram socket this test binds, sends ``READY=1`` only once it answers (a PING sent the moment
READY arrives is answered within a second, while loading the model takes seconds), and ``STOPPING=1`` on
SIGTERM."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from spec_decode_ros.bridge.client import CloudClient
from spec_decode_ros.process_group import free_endpoint
from spec_decode_ros.service.notify import notify


def test_notify_is_a_no_op_outside_systemd(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False


@pytest.mark.slow  # starts the cloud command as a process
@pytest.mark.timeout(120)
def test_the_verifier_says_ready_only_once_it_answers(tmp_path, target_dir):
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(path)
        systemd.settimeout(90)
        endpoint = free_endpoint()
        env = dict(os.environ, NOTIFY_SOCKET=path, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        proc = subprocess.Popen([sys.executable, "-m", "spec_decode_ros.cli", "cloud", "--model", str(target_dir),
                                 "--bind", endpoint, "--threads", "1", "--dtype", "float32", "--device", "cpu"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            started = time.monotonic()
            assert systemd.recv(256) == b"READY=1"
            ready_after = time.monotonic() - started
            client = CloudClient(endpoint)
            answered = client.ping(1.0)
            client.close()
            assert answered, f"READY=1 came {ready_after:.1f} s after start, but a PING then got no answer within 1 s"
            proc.terminate()
            assert systemd.recv(256) == b"STOPPING=1"
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
