"""The Go2 bridge node, as its own process, drives the fake Go2 through the real unitree_sdk2py
SportClient: a command becomes repeated Moves for its duration then one StopMove; cloud loss or a
dead link stops the robot (cloud loss long before the deadman could), and a command after cloud loss
does not re-arm it; NaN/inf commands never reach Move and out-of-range ones are clamped; a failed
StopMove is retried until it succeeds; shutdown stops it too."""

from __future__ import annotations

import math
import os
import signal
import time

import pytest
from nav_msgs.msg import Odometry
from rclpy.duration import Duration
from support.node_process import OutputLines, node_process
from support.ros import spinning_node, wait_for
from support.sport_calls import after_first_move, first_call, names

from spec_decode_ros import topics
from spec_decode_ros.msg import LinkStatus, LocomotionCommand
from spec_decode_ros.nodes.common import LATCHED_QOS, RELIABLE_QOS, SENSOR_QOS
from spec_decode_ros.sim.fake_go2 import API_STOPMOVE, FakeGo2

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo or training

GO2_DOMAIN = int(os.environ["SPEC_DECODE_GO2_DOMAIN"])
LONG_DEADMAN_S = 10.0  # for tests that must show a stop came from something other than the deadman
HEARTBEAT_S = 0.2


@pytest.fixture(scope="module")
def fake():
    go2 = FakeGo2(0, width=32, height=32, domain_id=GO2_DOMAIN, camera_hz=2.0).start()
    yield go2
    go2.stop()


class Harness:
    def __init__(self, node) -> None:
        self.node = node
        self.executed: list[LocomotionCommand] = []
        self.commands = node.create_publisher(LocomotionCommand, topics.MOTION, RELIABLE_QOS)
        self.link = node.create_publisher(LinkStatus, topics.LINK, LATCHED_QOS)
        node.create_subscription(LocomotionCommand, topics.EXECUTED, self.executed.append, RELIABLE_QOS)
        self.heartbeat = node.create_timer(HEARTBEAT_S, lambda: self.link_state(LinkStatus.STATE_CONNECTED))
        self.heartbeat.cancel()

    def start_heartbeats(self) -> None:
        """CONNECTED every HEARTBEAT_S, as the draft node sends while the cloud answers."""
        self.link_state(LinkStatus.STATE_CONNECTED)
        # the bridge refuses commands without a recent CONNECTED: let this one land before any command
        assert self.link.wait_for_all_acked(Duration(seconds=10))
        self.heartbeat.reset()

    def stop_heartbeats(self) -> None:
        self.heartbeat.cancel()

    def link_state(self, state: int) -> None:
        self.link.publish(LinkStatus(state=state, endpoint="test", detail="test"))

    def move(self, request_id: int, vx: float, duration: float, vy: float = 0.0, vyaw: float = 0.0) -> None:
        msg = LocomotionCommand(action="move", text=f"forward {vx * duration:.1f}", vx=vx, vy=vy, vyaw=vyaw,
                                duration=duration, request_id=request_id)
        msg.image_stamp.sec = request_id
        self.commands.publish(msg)


# these tests are about the link, the deadman and the SDK: armed, with the hardware's caps and longest command, and
# a sport state that may lag on a busy machine (test_go2_bridge_safety.py tests readiness)
ARMED_AT_HARDWARE_CAPS = {"armed_at_start": True, "max_vx": 100.0, "max_vy": 100.0, "max_vyaw": 100.0,
                          "max_duration_s": 100.0, "max_distance_m": 100.0, "state_timeout_s": 3.0}


@pytest.fixture
def bridge(fake: FakeGo2, request: pytest.FixtureRequest):
    """The bridge process (deadman 1 s, or ``@pytest.mark.parametrize("bridge", [s], indirect=True)``)."""
    deadman_s = getattr(request, "param", 1.0)
    with node_process("spec_decode_ros.nodes.go2_bridge", network_interface="lo", go2_domain_id=GO2_DOMAIN,
                      rate_hz=20.0, deadman_s=deadman_s, **ARMED_AT_HARDWARE_CAPS) as proc, \
            spinning_node("go2_bridge_harness") as node:
        h = Harness(node)
        odom: list[Odometry] = []
        node.create_subscription(Odometry, topics.ODOM, odom.append, SENSOR_QOS)
        # subscribed, and the robot's sport state reaches it (Move only to a robot known ready)
        wait_for(lambda: h.commands.get_subscription_count() > 0 and h.link.get_subscription_count() > 0
                 and bool(odom) or proc.poll() is not None, 60, "the go2 bridge to subscribe and see the robot")
        h.proc, h.log = proc, OutputLines(proc)
        assert proc.poll() is None, h.log.text()
        yield h


def test_command_moves_for_its_duration_then_stops_once(fake: FakeGo2, bridge: Harness):
    x0, y0, yaw0 = fake.state()["pose"]
    t0 = fake.calls[-1].t if fake.calls else 0.0
    bridge.start_heartbeats()
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


def lose_cloud_mid_command(fake: FakeGo2, bridge: Harness, request_id: int, vx: float) -> tuple[float, float]:
    """A 30 s command under heartbeats; at its first Move the heartbeats stop and UNREACHABLE is sent. Returns
    (first Move, UNREACHABLE sent) once a StopMove followed."""
    bridge.start_heartbeats()
    t0 = fake.calls[-1].t if fake.calls else 0.0
    bridge.move(request_id, vx=vx, duration=30.0)
    wait_for(lambda: "Move" in names(fake, t0), 30, "the first Move")
    first_move = first_call(fake, "Move", t0)
    bridge.stop_heartbeats()
    t_lost = time.time()
    bridge.link_state(LinkStatus.STATE_UNREACHABLE)
    wait_for(lambda: "StopMove" in after_first_move(fake, t0), 30, "StopMove after cloud loss")
    return first_move, t_lost


def move_speeds(fake: FakeGo2, since: float) -> list[float]:
    """vx of every Move since ``since``."""
    return [c.params["x"] for c in fake.calls if c.t >= since and c.name == "Move"]


def wait_for_move_at(fake: FakeGo2, since: float, vx: float, what: str) -> None:
    wait_for(lambda: any(x == pytest.approx(vx) for x in move_speeds(fake, since)), 30, what)


@pytest.mark.parametrize("bridge", [LONG_DEADMAN_S], indirect=True)
def test_cloud_loss_stops_the_robot_mid_command_long_before_the_deadman(fake: FakeGo2, bridge: Harness):
    first_move, t_lost = lose_cloud_mid_command(fake, bridge, 2, vx=0.5)
    stop_t = first_call(fake, "StopMove", first_move)
    # heartbeats kept the link fresh up to the loss and the command runs 30 s: only UNREACHABLE can stop it
    # this early (a generous bound, far below the 10 s deadman)
    assert stop_t - t_lost < LONG_DEADMAN_S / 2, f"StopMove {stop_t - t_lost:.2f} s after UNREACHABLE"
    bridge.start_heartbeats()
    bridge.move(5, vx=0.2, duration=0.3)  # a new answer after the cloud came back
    wait_for_move_at(fake, stop_t, 0.2, "the new answer's Move")
    assert move_speeds(fake, stop_t).count(0.5) <= 1, "the dropped 30 s command resumed after the link came back"


@pytest.mark.parametrize("bridge", [LONG_DEADMAN_S], indirect=True)
def test_a_command_after_cloud_loss_does_not_rearm_the_bridge(fake: FakeGo2, bridge: Harness):
    lose_cloud_mid_command(fake, bridge, 6, vx=0.35)
    t_lost = time.time()  # the bridge has taken the UNREACHABLE in
    bridge.move(7, vx=0.4, duration=30.0)  # no CONNECTED since: this command must not re-arm the bridge
    wait_for(lambda: bridge.log.count("deadman (cloud_lost)") > 0 or bridge.proc.poll() is not None, 30,
             "the bridge to drop the command sent while the link was lost")
    bridge.start_heartbeats()  # the cloud is back: a new command may move the robot
    bridge.move(8, vx=0.25, duration=0.3)
    wait_for_move_at(fake, t_lost, 0.25, "the Move of the command sent after CONNECTED")
    assert not any(x == pytest.approx(0.4) for x in move_speeds(fake, t_lost)), \
        "a command sent while the link was UNREACHABLE moved the robot"


@pytest.mark.parametrize("bridge", [LONG_DEADMAN_S], indirect=True)
def test_non_finite_commands_never_reach_move_and_out_of_range_ones_are_clamped(fake: FakeGo2, bridge: Harness):
    bridge.start_heartbeats()
    t0 = time.time()
    bridge.move(10, vx=math.nan, duration=1.0)
    bridge.move(11, vx=0.5, duration=math.inf)
    bridge.move(12, vx=0.5, vyaw=-math.inf, duration=1.0)
    bridge.move(13, vx=0.5, duration=-2.0)
    bridge.move(14, vx=9.0, vy=-3.0, vyaw=10.0, duration=0.3)  # finite, out of the Go2 sport ranges
    wait_for(lambda: "Move" in names(fake, t0) or bridge.proc.poll() is not None, 30, "the clamped command's Move")
    assert bridge.proc.poll() is None, bridge.log.text()
    moves = [c.params for c in fake.calls if c.t >= t0 and c.name == "Move"]
    assert all(all(math.isfinite(v) for v in m.values()) for m in moves), moves
    assert all((m["x"], m["y"], m["z"]) == (3.8, -1.0, 4.0) for m in moves), moves
    wait_for(lambda: bridge.log.count("refusing command") == 4 and bridge.log.count("vx 9 clamped to 3.8") == 1,
             10, "a log line for each refused and for the clamped command")


def test_a_failed_stopmove_is_retried_until_it_succeeds(fake: FakeGo2, bridge: Harness):
    bridge.start_heartbeats()
    t0 = fake.calls[-1].t if fake.calls else 0.0
    fake.fail_next(API_STOPMOVE, count=3)
    bridge.move(8, vx=0.3, duration=0.3)
    wait_for(lambda: fake.failures_left(API_STOPMOVE) == 0 and after_first_move(fake, t0).count("StopMove") >= 4
             or bridge.proc.poll() is not None, 30, "three failed StopMoves and a fourth")
    assert bridge.proc.poll() is None, bridge.log.text()
    calls = after_first_move(fake, t0)
    assert calls[calls.index("StopMove"):] == ["StopMove"] * 4, calls  # retried, no Move in between, then done
    wait_for(lambda: bridge.log.count("StopMove failed") == 3, 10, "a log line for each failed StopMove")


@pytest.mark.parametrize("bridge", [LONG_DEADMAN_S], indirect=True)
def test_a_long_command_is_bounded_to_the_longest_grammatical_one_whatever_the_lab_sets(fake: FakeGo2,
                                                                                       bridge: Harness):
    bridge.start_heartbeats()  # the link stays fresh: only the duration bound can end this 30 s command
    t0 = fake.calls[-1].t if fake.calls else 0.0
    bridge.move(20, vx=0.2, duration=30.0)  # the bridge was started with max_duration_s 100
    wait_for(lambda: "StopMove" in after_first_move(fake, t0) or bridge.proc.poll() is not None, 25,
             "the StopMove of the bounded command")
    assert "StopMove" in after_first_move(fake, t0), bridge.log.text()
    first_move = first_call(fake, "Move", t0)
    ran = first_call(fake, "StopMove", first_move) - first_move
    assert 9.0 < ran < 12.0, f"ran {ran:.1f} s (the hardware bound is 10 s): {bridge.log.text()}"
    wait_for(lambda: bridge.log.count("duration 30 s bounded to 10 s") == 1, 10, "one log line for the bound")


def test_dead_link_heartbeat_triggers_the_deadman(fake: FakeGo2, bridge: Harness):
    bridge.link_state(LinkStatus.STATE_CONNECTED)  # one heartbeat, then silence
    t0 = fake.calls[-1].t if fake.calls else 0.0
    bridge.move(3, vx=0.5, duration=30.0)
    wait_for(lambda: "StopMove" in after_first_move(fake, t0), 30, "a deadman StopMove")
    first_move = first_call(fake, "Move", t0)
    stop_t = first_call(fake, "StopMove", first_move)
    assert stop_t - first_move < 10.0  # far before the command's own 30 s end


@pytest.mark.parametrize("bridge", [LONG_DEADMAN_S], indirect=True)
def test_shutdown_sends_stopmove(fake: FakeGo2, bridge: Harness):
    bridge.start_heartbeats()
    t0 = fake.calls[-1].t if fake.calls else 0.0
    bridge.move(4, vx=0.3, duration=30.0)
    wait_for(lambda: "Move" in names(fake, t0), 30, "the first Move")
    t_signal = time.time()
    bridge.proc.send_signal(signal.SIGINT)
    assert bridge.proc.wait(timeout=20) == 0, bridge.log.text()
    first_move = first_call(fake, "Move", t0)
    assert "StopMove" not in [c.name for c in fake.calls if first_move <= c.t < t_signal], \
        "the robot was stopped before the signal: the test would not show the shutdown stop"
    wait_for(lambda: "StopMove" in names(fake, t_signal), 10, "StopMove after the signal")
