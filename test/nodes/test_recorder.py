"""The recorder node, in its own process, writes what real DDS publishers send into an MCAP bag
that the report then reads back."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from support.loop_messages import HOP_MS, loop_trace
from support.node_process import OutputLines
from support.ros import spinning_node, wait_for

from spec_decode_ros import topics
from spec_decode_ros.analysis.report import build_report
from spec_decode_ros.nodes.common import RELIABLE_QOS, SENSOR_QOS

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo or training


def test_recorder_bag_is_read_back_by_the_report(tmp_path: Path):
    bag = tmp_path / "loop"
    recorder = subprocess.Popen([sys.executable, "-m", "spec_decode_ros.nodes.recorder", "--ros-args",
                                 "-p", f"bag_path:={bag}", "-p", "status_s:=0.1"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log = OutputLines(recorder)
    try:
        with spinning_node("trace_publisher") as node:
            trace = loop_trace(3)
            pubs = {t: node.create_publisher(type(m), t, SENSOR_QOS if t == topics.CAMERA_IMAGE else RELIABLE_QOS)
                    for t, m in trace}
            wait_for(lambda: all(p.get_subscription_count() > 0 for p in pubs.values()) or recorder.poll() is not None,
                     60, "the recorder to subscribe to every topic")
            assert recorder.poll() is None, log.text()
            for topic, msg in trace:
                pubs[topic].publish(msg)
            # every reliable message written (camera frames are best-effort, as on the robot: not waited for)
            reliable = Counter(t for t, _ in trace if t != topics.CAMERA_IMAGE)
            wait_for(lambda: any("recorded" in line and all(f"'{t}': {n}" in line for t, n in reliable.items())
                                 for line in log.lines) or recorder.poll() is not None, 60,
                     "the recorder's status line counting every reliable message")
    finally:
        recorder.send_signal(signal.SIGINT)
        recorder.wait(timeout=20)
    assert recorder.returncode == 0, log.text()
    content = build_report([bag], tmp_path / "report")
    figures = content["bags"]["loop"]["figures"]
    assert figures["requests"] == 3
    for hop, ms in HOP_MS.items():
        assert figures[f"{hop}_ms_median"] == pytest.approx(ms, abs=0.01), hop
