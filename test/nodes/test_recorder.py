"""The recorder node, in its own process, writes what real DDS publishers send into an MCAP bag
that the report then reads back, under absolute names, with the camera as JPEG, the answers and /tf
derived from odometry."""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from rosbags.rosbag2 import Reader
from support.loop_bag import odom_trace
from support.loop_messages import HOP_MS, TIMELINE_MS, loop_trace
from support.node_process import OutputLines
from support.ros import spinning_node, wait_for

from spec_decode_ros import topics
from spec_decode_ros.analysis.derived import absolute
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
            trace = loop_trace(3) + [(topics.ODOM, m) for _, m in odom_trace(seconds=0.5)]
            pubs = {t: node.create_publisher(type(m), t, SENSOR_QOS if t in topics.SENSOR_DATA else RELIABLE_QOS)
                    for t, m in trace}
            wait_for(lambda: all(p.get_subscription_count() > 0 for p in pubs.values()) or recorder.poll() is not None,
                     60, "the recorder to subscribe to every topic")
            assert recorder.poll() is None, log.text()
            for topic, msg in trace:
                pubs[topic].publish(msg)
            def status_shows(counts: dict[str, int]) -> bool:
                return any("recorded" in line and all(f"'{t}': {n}" in line for t, n in counts.items())
                           for line in log.lines) or recorder.poll() is not None

            # every reliable message written (the answers are derived from the token streams)
            reliable = Counter(absolute(t) for t, _ in trace if t not in topics.SENSOR_DATA)
            wait_for(lambda: status_shows(reliable), 60, "the recorder's status line counting every reliable message")
            frame = next(m for t, m in trace if t == topics.CAMERA_IMAGE)
            odom = itertools.cycle([m for _, m in odom_trace(seconds=1.0)])

            def best_effort_arrived() -> bool:  # like a robot's streams: keep sending until some are written
                pubs[topics.ODOM].publish(next(odom))
                pubs[topics.CAMERA_IMAGE].publish(frame)
                return any("recorded" in line and "'/odom'" in line and "'/camera/image_raw/compressed'" in line
                           for line in log.lines) or recorder.poll() is not None

            wait_for(best_effort_arrived, 30, "odometry and camera frames in the bag")
    finally:
        recorder.send_signal(signal.SIGINT)
        recorder.wait(timeout=20)
    assert recorder.returncode == 0, log.text()
    with Reader(bag) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert counts["/decoder/answer"] == 3 and counts["/go2/executed"] == 3
    assert counts["/odom"] >= 1 and counts["/tf"] == counts["/odom"]  # odometry is best effort, as on a robot
    assert "/camera/image_raw" not in counts and counts.get("/camera/image_raw/compressed", 0) >= 1
    content = build_report([bag], tmp_path / "report")
    figures = content["bags"]["loop"]["figures"]
    assert figures["requests"] == 3
    for hop, ms in HOP_MS.items():
        assert figures[f"{hop}_ms_median"] == pytest.approx(ms, abs=0.01), hop
    for segment, ms in TIMELINE_MS.items():  # the DecodeStats timeline fields crossed DDS into the bag
        assert figures[f"first_command_{segment}_ms_median"] == pytest.approx(ms, abs=0.01), segment
    assert "first command timeline" in (tmp_path / "report" / "report.txt").read_text()
