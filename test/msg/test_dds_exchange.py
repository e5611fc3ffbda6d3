"""Every custom message crosses real DDS between two processes with its values intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support.ros import spinning_node, wait_for
from support.sample_messages import as_plain, build_samples

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo or training

TEST_DIR = Path(__file__).resolve().parents[1]


def test_each_custom_message_arrives_intact_from_another_process():
    samples = build_samples()
    received: dict[str, object] = {}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TEST_DIR), os.environ.get("PYTHONPATH", "")]))
    child = subprocess.Popen([sys.executable, "-m", "support.publish_samples"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        with spinning_node("sample_receiver") as node:
            for name, msg in samples.items():
                node.create_subscription(type(msg), f"/samples/{name}",
                                         lambda m, name=name: received.setdefault(name, m), 10)
            wait_for(lambda: len(received) == len(samples) or child.poll() is not None, 60,
                     f"all of {sorted(samples)} from the publisher process")
        assert child.poll() is None, child.stdout.read().decode() if child.stdout else "publisher died"
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
    for name, msg in samples.items():
        assert as_plain(received[name]) == as_plain(msg), name
    assert received["TokenStream"].text == "turn left 30, ünïcode"
    assert list(received["TokenStream"].token_ids) == [1, 49151, 0, 17]
