"""The Go2 bridge node, as its own process, drives the fake Go2 through the real unitree_sdk2py
SportClient: a command becomes repeated Moves for its duration then one StopMove; cloud loss or a
dead link stops the robot; shutdown stops it too."""

from __future__ import annotations

import math
import os

import pytest
from support.node_process import node_process, output_of
from support.ros import spinning_node, wait_for

from spec_decode_ros import topics
from spec_decode_ros.msg import LinkStatus, LocomotionCommand
from spec_decode_ros.nodes.common import LATCHED_QOS, RELIABLE_QOS
from spec_decode_ros.sim.fake_go2 import FakeGo2

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo or training

GO2_DOMAIN = int(os.environ["SPEC_DECODE_GO2_DOMAIN"])


@pytest.fixture(scope="module")
def fake():
    go2 = FakeGo2(0, width=32, height=32, domain_id=GO2_DOMAIN, camera_hz=2.0).start()
    yield go2
    go2.stop()


def names(fake: FakeGo2, since: float) -> list[str]:
    return [c.name for c in fake.calls if c.t >= since and c.service == "sport"]


def after_first_move(fake: FakeGo2, since: float) -> list[str]:
    """Sport calls from this test's first Move on (a previous bridge's last StopMove may arrive late)."""
    calls = names(fake, since)
    return calls[calls.index("Move"):] if "Move" in calls else []


class Harness:
    def __init__(self, node) -> None:
        self.node = node
        self.executed: list[LocomotionCommand] = []
        self.commands = node.create_publisher(LocomotionCommand, topics.MOTION, RELIABLE_QOS)
        self.link = node.create_publisher(LinkStatus, topics.LINK, LATCHED_QOS)
        node.create_subscription(LocomotionCommand, topics.EXECUTED, self.executed.append, RELIABLE_QOS)

    def link_state(self, state: int) -> None:
        self.link.publish(LinkStatus(state=state, endpoint="test", detail="test"))

    def move(self, request_id: int, vx: float, duration: float) -> None:
        msg = LocomotionCommand(action="move", text=f"forward {vx * duration:.1f}", vx=vx, duration=duration,
                                request_id=request_id)
        msg.image_stamp.sec = request_id
        self.commands.publish(msg)


@pytest.fixture
def bridge(fake: FakeGo2):
    with node_process("spec_decode_ros.nodes.go2_bridge", network_interface="lo", go2_domain_id=GO2_DOMAIN,
                      rate_hz=20.0, deadman_s=1.0) as proc, spinning_node("go2_bridge_harness") as node:
        h = Harness(node)
        wait_for(lambda: h.commands.get_subscription_count() > 0 and h.link.get_subscription_count() > 0
                 or proc.poll() is not None, 60, "the go2 bridge to subscribe")
        assert proc.poll() is None, output_of(proc)
        h.proc = proc
        yield h


def test_command_moves_for_its_duration_then_stops_once(fake: FakeGo2, bridge: Harness):
    x0, y0, yaw0 = fake.state()["pose"]
    t0 = fake.calls[-1].t if fake.calls else 0.0
    bridge.link_state(LinkStatus.STATE_CONNECTED)
    bridge.move(1, vx=0.5, duration=0.6)
    wait_for(lambda: "StopMove" in after_first_move(fake, t0), 30, "StopMove after the command's duration")
    calls = after_first_move(fake, t0)
    assert calls.count("Move") >= 3 and calls.index("StopMove") > calls.index("Move")
    assert calls[-1] == "StopMove" and calls.count("StopMove") == 1
    moves = [c.params for c in fake.calls if c.t >= t0 and c.name == "Move"]
    assert all(m["x"] == pytest.approx(0.5) and m["y"] == 0 and m["z"] == 0 for m in moves)
    x1, y1, _ = fake.state()["pose"]
    assert (x1 - x0) * math.cos(yaw0) + (y1 - y0) * math.sin(yaw0) > 0.15  # it went forward (0.3 m commanded)
    wait_for(lambda: len(bridge.executed) == 1, 30, "the executed command")
    assert bridge.executed[0].request_id == 1 and bridge.executed[0].image_stamp.sec == 1


def test_cloud_loss_stops_the_robot_mid_command(fake: FakeGo2, bridge: Harness):
    bridge.link_state(LinkStatus.STATE_CONNECTED)
    t0 = fake.calls[-1].t if fake.calls else 0.0
    bridge.move(2, vx=0.5, duration=30.0)
    wait_for(lambda: "Move" in names(fake, t0), 30, "the first Move")
    bridge.link_state(LinkStatus.STATE_UNREACHABLE)
    wait_for(lambda: "StopMove" in after_first_move(fake, t0), 30, "StopMove after cloud loss")
    first_move = next(c.t for c in fake.calls if c.t >= t0 and c.name == "Move")
    stop_t = next(c.t for c in fake.calls if c.t >= first_move and c.name == "StopMove")
    bridge.link_state(LinkStatus.STATE_CONNECTED)
    bridge.move(5, vx=0.2, duration=0.3)  # a new answer after the cloud came back
    wait_for(lambda: any(c.name == "Move" and c.params["x"] == pytest.approx(0.2) for c in fake.calls
                         if c.t > stop_t), 30, "the new answer's Move")
    later = [c.params["x"] for c in fake.calls if c.t > stop_t and c.name == "Move"]
    assert later.count(0.5) <= 1, "the dropped 30 s command resumed after the link came back"


def test_dead_link_heartbeat_triggers_the_deadman(fake: FakeGo2, bridge: Harness):
    bridge.link_state(LinkStatus.STATE_CONNECTED)  # one heartbeat, then silence
    t0 = fake.calls[-1].t if fake.calls else 0.0
    bridge.move(3, vx=0.5, duration=30.0)
    wait_for(lambda: "StopMove" in after_first_move(fake, t0), 30, "a deadman StopMove")
    first_move = next(c.t for c in fake.calls if c.t >= t0 and c.name == "Move")
    stop_t = next(c.t for c in fake.calls if c.t >= first_move and c.name == "StopMove")
    assert stop_t - first_move < 10.0  # far before the command's own 30 s end


def test_shutdown_sends_stopmove(fake: FakeGo2, bridge: Harness):
    bridge.link_state(LinkStatus.STATE_CONNECTED)
    t0 = fake.calls[-1].t if fake.calls else 0.0
    bridge.move(4, vx=0.3, duration=30.0)
    wait_for(lambda: "Move" in names(fake, t0), 30, "the first Move")
    bridge.proc.send_signal(2)
    bridge.proc.wait(timeout=20)
    wait_for(lambda: "StopMove" in after_first_move(fake, t0), 10, "StopMove at shutdown")
