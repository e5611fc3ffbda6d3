"""Simulated time end to end: ``sim.launch.py use_sim_time:=true`` started as launch_ros starts it (the fake Go2 in
this process, to read its SDK calls), ``/clock`` published here at half wall speed from 1000 s. The request gate
(image stamps against ``motion/done``), the deadman, the heartbeat's link reports and the recorder all run on the
nodes' clocks, so: at least three consecutive answers are executed (a gate comparing simulated stamps with wall
time never opens after the first), the bag's stamps and log times are simulated time, and killing the verifier
mid-motion still stops the robot (StopMove) long before the motion's own end."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from std_msgs.msg import UInt64
from support.fixed_answer_vlm import SPEC
from support.launched import launch
from support.ros import spinning_node, wait_for

from spec_decode_ros import topics
from spec_decode_ros.analysis.bag import read_bag, stamp_ns
from spec_decode_ros.msg import LinkStatus, TokenStream
from spec_decode_ros.nodes.qos import LATCHED_QOS, RELIABLE_QOS
from spec_decode_ros.process_group import free_endpoint
from spec_decode_ros.sim.fake_go2 import FakeGo2

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo
GO2_DOMAIN = int(os.environ["SPEC_DECODE_GO2_DOMAIN"])
SIM_START_NS = 1000 * 1_000_000_000
SIM_RATE = 0.5  # simulated seconds per wall second
ANSWERS = 3
LINK_LOSS_STOP_S = 4.0  # wall: heartbeat 0.5 s + ping timeout 0.5 s + DDS, on a busy machine
FORWARD_WALL_S = 4.0 / SIM_RATE  # "forward 2.0." at 0.5 m/s: 4 simulated seconds


@contextmanager
def sim_clock(node: Node) -> Iterator[Callable[[], int]]:
    """``/clock`` at SIM_RATE from 1000 s, every 5 ms of wall time; yields ``now_ns()`` of the simulation."""
    publisher = node.create_publisher(Clock, "/clock", 10)
    t0 = time.monotonic()
    stop = threading.Event()

    def now_ns() -> int:
        return SIM_START_NS + int((time.monotonic() - t0) * SIM_RATE * 1e9)

    def run() -> None:
        while not stop.wait(0.005):
            msg = Clock()
            msg.clock.sec, msg.clock.nanosec = divmod(now_ns(), 1_000_000_000)
            publisher.publish(msg)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield now_ns
    finally:
        stop.set()
        thread.join(timeout=5)


def sport_calls(fake: FakeGo2, name: str, since: float = 0.0) -> list[float]:
    return [c.t for c in fake.calls if c.service == "sport" and c.name == name and c.t >= since]


@pytest.mark.timeout(480)
def test_sim_time_answers_stamps_and_stop_on_link_loss(forward_model: Path, tmp_path: Path) -> None:
    endpoint = free_endpoint()
    args = {"use_sim_time": "true", "cloud_endpoint": endpoint, "go2_domain_id": str(GO2_DOMAIN),
            "verifier_model": str(forward_model), "draft_model": str(forward_model), "record": "true",
            "bag_path": str(tmp_path / "bag")}
    graph = ("cloud_verifier", "camera_node", "draft_node", "motion_node", "go2_bridge_node", "recorder_node")
    fake = FakeGo2(0, width=SPEC.image_size, height=SPEC.image_size, domain_id=GO2_DOMAIN, camera_hz=10.0).start()
    done: list[int] = []
    tokens: list[TokenStream] = []
    links: list[LinkStatus] = []
    try:
        with spinning_node("sim_clock") as clock_node, sim_clock(clock_node) as sim_now_ns, \
                spinning_node("sim_time_probe") as probe:
            probe.create_subscription(UInt64, topics.MOTION_DONE, lambda m: done.append(int(m.data)), RELIABLE_QOS)
            probe.create_subscription(TokenStream, topics.TOKENS, tokens.append, RELIABLE_QOS)
            probe.create_subscription(LinkStatus, topics.LINK, links.append, LATCHED_QOS)
            with launch("sim.launch.py", args, tmp_path, only=graph) as launched:
                assert all(n.parameters()["use_sim_time"] is True for n in launched.ros_nodes())

                def answered() -> bool:
                    launched.check_alive()
                    return set(range(1, ANSWERS + 1)) <= set(done)

                wait_for(answered, 360, f"{ANSWERS} consecutive answers executed (motion/done 1..{ANSWERS})")
                texts = {r: "".join(t.text for t in tokens if t.request_id == r) for r in range(1, ANSWERS + 1)}
                assert all(text.strip() == "forward 2.0." for text in texts.values()), texts
                # the next answer's motion starts; the verifier dies while the robot walks
                t_done = time.time()
                wait_for(lambda: bool(sport_calls(fake, "Move", t_done)), 120, "the next answer's Move")
                first_move = sport_calls(fake, "Move", t_done)[0]
                launched.procs["/cloud_verifier"].send_signal(signal.SIGKILL)
                t_kill = time.time()
                assert t_kill < first_move + FORWARD_WALL_S / 2, "the walk ended before the verifier was killed"
                wait_for(lambda: bool(sport_calls(fake, "StopMove", t_kill)), 30, "StopMove after the verifier died")
                t_stop = sport_calls(fake, "StopMove", t_kill)[0]
                wait_for(lambda: any(m.state == LinkStatus.STATE_UNREACHABLE for m in links), 30, "UNREACHABLE")
            sim_end_ns = sim_now_ns()  # the graph is down: nothing it stamped is later than this
            tokens, links = list(tokens), list(links)
    finally:
        fake.stop()
    print(f"answers {texts}; /clock {SIM_START_NS / 1e9:.0f} s -> {sim_end_ns / 1e9:.1f} s; verifier killed "
          f"{t_kill - first_move:.2f} s into a {FORWARD_WALL_S:.0f} s walk, StopMove {t_stop - t_kill:.2f} s later")
    assert t_stop - t_kill <= LINK_LOSS_STOP_S, f"StopMove came {t_stop - t_kill:.2f} s after the kill"
    assert t_stop < first_move + FORWARD_WALL_S, "the robot stopped only when its walk ended"

    for stamped in (tokens, links):  # live messages: stamped on the simulated clock
        assert stamped and all(SIM_START_NS <= stamp_ns(m.header.stamp) <= sim_end_ns for m in stamped)
    bag = read_bag(tmp_path / "bag", {topics.CAMERA_JPEG, topics.CAMERA_INFO, topics.TOKENS, topics.ODOM,
                                      topics.MOTION, topics.EXECUTED})
    for topic in (topics.CAMERA_JPEG, topics.CAMERA_INFO, topics.TOKENS, topics.ODOM, topics.MOTION, topics.EXECUTED):
        messages = bag.messages(topic)
        assert messages, f"nothing recorded on {topic}"
        for log_time, msg in messages:
            assert SIM_START_NS <= log_time <= sim_end_ns, (topic, log_time)
            assert SIM_START_NS <= stamp_ns(msg.header.stamp) <= sim_end_ns, (topic, msg.header)
    for _, msg in bag.messages(topics.TOKENS):  # the image each answer was decoded from: simulated time too
        assert SIM_START_NS <= stamp_ns(msg.image_stamp) <= sim_end_ns
    print("bag stamps (first, last) in simulated s: " + ", ".join(
        f"{t}: {stamp_ns(bag.messages(t)[0][1].header.stamp) / 1e9:.2f}..{stamp_ns(bag.messages(t)[-1][1].header.stamp) / 1e9:.2f}"
        for t in (topics.CAMERA_JPEG, topics.CAMERA_INFO, topics.TOKENS, topics.ODOM, topics.EXECUTED)))
