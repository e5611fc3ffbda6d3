"""The Go2 bridge's safety, as its own process driving the fake Go2 through the real SportClient over
loopback DDS: robot.yaml's lab caps cut a 3.8 m/s 10 s command; the e-stop (topic or service) sends
StopMove at once, Damp later if asked, and no Move reaches the SDK until the resume service; nothing
moves until the bridge is armed; a robot that is not in a ready mode gets no Move and one log line; a
walk on a robot that moves at 70 % of its commanded speed ends by odometry within 10 cm of its distance
(timed: 70 % of it); velocities can go to twist_mux as Twists instead, and the lock input pauses them."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.duration import Duration
from std_msgs.msg import Bool
from std_srvs.srv import Trigger
from support.node_process import OutputLines, node_process
from support.ros import spinning_node, wait_for
from support.sport_calls import after_first_move, call_times, first_call, moves, names

from spec_decode_ros import topics
from spec_decode_ros.demo import config_file
from spec_decode_ros.msg import LinkStatus, LocomotionCommand
from spec_decode_ros.nodes.common import LATCHED_QOS, RELIABLE_QOS, SENSOR_QOS
from spec_decode_ros.sim.fake_go2 import FakeGo2

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo or training

GO2_DOMAIN = int(os.environ["SPEC_DECODE_GO2_DOMAIN"])
SIM_CAPS = {"max_vx": 0.5, "max_vy": 0.3, "max_vyaw": 1.0, "max_duration_s": 10.0, "max_distance_m": 3.0}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGo2]:
    go2 = FakeGo2(0, width=32, height=32, domain_id=GO2_DOMAIN, camera_hz=2.0, state_hz=50.0).start()
    yield go2
    go2.stop()


@pytest.fixture(autouse=True)
def ready_robot(fake: FakeGo2) -> Iterator[None]:
    """Every test starts and leaves the robot standing in balance mode at full speed."""
    fake.set_mode("balance")
    fake.speed_factor = 1.0
    yield
    fake.set_mode("balance")
    fake.speed_factor = 1.0


class Harness:
    """A test node around the bridge process: commands, link heartbeats, e-stop/lock inputs, services."""

    def __init__(self, node: Any, proc: Any) -> None:
        self.node, self.proc, self.log = node, proc, OutputLines(proc)
        self.executed: list[LocomotionCommand] = []
        self.twists: list[Twist] = []
        self.estop_state: list[bool] = []
        self.armed: list[bool] = []
        self.commands = node.create_publisher(LocomotionCommand, topics.MOTION, RELIABLE_QOS)
        self.link = node.create_publisher(LinkStatus, topics.LINK, LATCHED_QOS)
        self.estop = node.create_publisher(Bool, topics.ESTOP, 10)
        self.lock = node.create_publisher(Bool, topics.LOCK, 10)
        node.create_subscription(LocomotionCommand, topics.EXECUTED, self.executed.append, RELIABLE_QOS)
        node.create_subscription(Twist, topics.CMD_VEL_VLM, self.twists.append, 10)
        node.create_subscription(Bool, topics.ESTOP_STATE, lambda m: self.estop_state.append(m.data), LATCHED_QOS)
        node.create_subscription(Bool, topics.ARMED, lambda m: self.armed.append(m.data), LATCHED_QOS)
        self.odom: list[Odometry] = []
        node.create_subscription(Odometry, topics.ODOM, self.odom.append, SENSOR_QOS)
        self.heartbeat = node.create_timer(0.2, self.connected)
        # subscribed, its state published, and the robot's sport state reaches it (Move only to a robot known ready)
        wait_for(lambda: self.commands.get_subscription_count() > 0 and self.estop.get_subscription_count() > 0
                 and self.lock.get_subscription_count() > 0 and bool(self.armed) and bool(self.odom)
                 or proc.poll() is not None, 60, "the go2 bridge to subscribe, publish its state and see the robot")
        assert proc.poll() is None, self.log.text()
        self.connected()
        assert self.link.wait_for_all_acked(Duration(seconds=10))

    def connected(self) -> None:
        self.link.publish(LinkStatus(state=LinkStatus.STATE_CONNECTED, endpoint="test", detail="test"))

    def move(self, request_id: int, vx: float = 0.0, duration: float = 1.0, vyaw: float = 0.0,
             text: str = "") -> None:
        msg = LocomotionCommand(action="move", text=text or f"request {request_id}", vx=vx, vyaw=vyaw,
                                duration=duration, request_id=request_id)
        self.commands.publish(msg)

    def call(self, service: str) -> Trigger.Response:
        client = self.node.create_client(Trigger, service)
        assert client.wait_for_service(timeout_sec=10), f"no {service} service"
        future = client.call_async(Trigger.Request())
        wait_for(future.done, 10, f"the {service} answer")
        return future.result()


@contextmanager
def bridge(fake: FakeGo2, params_file: str | None = None, **params: Any) -> Iterator[Harness]:
    settings = {"network_interface": "lo", "go2_domain_id": GO2_DOMAIN, "rate_hz": 20.0, "deadman_s": 10.0}
    with node_process("spec_decode_ros.nodes.go2_bridge", params_file, **(settings | params)) as proc, \
            spinning_node("go2_bridge_safety_harness") as node:
        yield Harness(node, proc)


def since_now(fake: FakeGo2) -> float:
    return fake.calls[-1].t if fake.calls else 0.0


def test_robot_yaml_caps_a_fast_long_command(fake: FakeGo2):
    with bridge(fake, str(config_file("robot.yaml")), armed_at_start=True) as h:
        t0 = since_now(fake)
        h.move(1, vx=3.8, duration=10.0, text="sprint")
        wait_for(lambda: "StopMove" in after_first_move(fake, t0), 20, "the StopMove ending the capped command")
        sent = moves(fake, t0)
        assert sent and all(m["x"] == pytest.approx(0.5) and m["y"] == 0 and m["z"] == 0 for m in sent), sent
        first_move = first_call(fake, "Move", t0)
        ran = first_call(fake, "StopMove", first_move) - first_move
        assert ran < 4.5, f"{ran:.1f} s at 0.5 m/s: robot.yaml caps a motion at 4 s and 2 m"
        wait_for(lambda: len(h.executed) == 1, 10, "the executed report")
        done = h.executed[0]
        assert math.hypot(done.vx, done.vy) * done.duration < 2.1  # metres actually walked, by odometry
        assert h.log.count("vx 3.8 clamped to 0.5") == 1 and h.log.count("duration 10 s bounded to 4 s") == 1


def test_the_lab_duration_bound_ends_a_command_long_before_the_deadman(fake: FakeGo2):
    with bridge(fake, armed_at_start=True, **(SIM_CAPS | {"max_duration_s": 1.0})) as h:
        t0 = since_now(fake)
        h.move(1, vx=0.2, duration=30.0)
        wait_for(lambda: "StopMove" in after_first_move(fake, t0), 8, "the StopMove of the 1 s bound")
        first_move = first_call(fake, "Move", t0)
        assert first_call(fake, "StopMove", first_move) - first_move < 2.0


def test_estop_stops_at_once_damps_later_and_holds_until_resume(fake: FakeGo2):
    with bridge(fake, armed_at_start=True, estop_damp_after_s=0.3, **SIM_CAPS) as h:
        t0 = since_now(fake)
        h.move(1, vx=0.3, duration=10.0)
        wait_for(lambda: "Move" in names(fake, t0), 20, "the first Move")
        t_estop = time.time()
        h.estop.publish(Bool(data=True))
        wait_for(lambda: "Damp" in names(fake, t_estop), 10, "StopMove then Damp")
        stop = first_call(fake, "StopMove", t_estop)
        assert stop - t_estop < 1.0 and first_call(fake, "Damp", stop) - stop >= 0.25
        wait_for(lambda: h.estop_state[-1:] == [True], 10, "estop/state true")
        h.estop.publish(Bool(data=False))  # releasing the button does not release the e-stop
        fake.set_mode("balance")  # stood up again by the remote: only the e-stop holds it now
        h.move(2, vx=0.4, duration=1.0)
        wait_for(lambda: h.log.count("e-stop (estop input)") >= 1, 10, "the refusal of the command under e-stop")
        with spinning_node("late_viewer") as viewer:  # latched: a viewer that comes later sees it (Foxglove)
            seen: list[bool] = []
            viewer.create_subscription(Bool, topics.ESTOP_STATE, lambda m: seen.append(m.data), LATCHED_QOS)
            wait_for(lambda: seen == [True], 10, "the latched e-stop state")
        assert "Move" not in names(fake, stop), "a Move reached the SDK after the e-stop"
        assert h.call(topics.ESTOP_RESUME_SERVICE).success
        wait_for(lambda: h.estop_state[-1:] == [False], 10, "estop/state false after resume")
        t_resume = time.time()
        h.move(3, vx=0.25, duration=0.5)
        wait_for(lambda: any(m["x"] == pytest.approx(0.25) for m in moves(fake, t_resume)), 20, "Move after resume")
        t1 = time.time()
        h.move(4, vx=0.3, duration=10.0)
        wait_for(lambda: "Move" in names(fake, t1), 20, "the next Move")
        t_service = time.time()
        assert h.call(topics.ESTOP_STOP_SERVICE).success  # the service stops it too
        wait_for(lambda: "StopMove" in names(fake, t_service), 10, "StopMove from the service")
        time.sleep(0.5)
        assert "Move" not in names(fake, first_call(fake, "StopMove", t_service))


def test_nothing_moves_until_armed(fake: FakeGo2):
    with bridge(fake, **SIM_CAPS) as h:  # armed_at_start defaults to false
        t0 = time.time()
        h.move(1, vx=0.3, duration=1.0)
        time.sleep(1.5)
        assert "Move" not in names(fake, t0)
        assert h.log.count("not armed") == 1 and h.armed[-1] is False
        assert h.call(topics.ARM_SERVICE).success
        wait_for(lambda: h.armed[-1:] == [True], 10, "armed true")
        h.move(2, vx=0.3, duration=10.0)
        wait_for(lambda: "Move" in names(fake, t0), 20, "the Move once armed")
        t_disarm = time.time()
        assert h.call(topics.DISARM_SERVICE).success
        wait_for(lambda: "StopMove" in names(fake, t_disarm), 10, "disarming stops the robot")


def test_a_robot_not_in_a_ready_mode_gets_no_move_and_one_log_line(fake: FakeGo2):
    with bridge(fake, armed_at_start=True, **SIM_CAPS) as h:
        fake.set_mode("lie_down")
        wait_for(lambda: fake.state()["mode"] == "lie_down", 5, "the fake to lie down")
        time.sleep(0.3)  # its state reaches the bridge (50 Hz)
        t0 = time.time()
        h.move(1, vx=0.3, duration=1.0, text="forward 0.3")
        h.move(1, vx=0.3, duration=1.0, text="forward 0.3 again")  # the same answer: still one line
        wait_for(lambda: h.log.count("not ready") >= 1, 10, "the not-ready line")
        time.sleep(1.0)
        assert "Move" not in names(fake, t0)
        assert h.log.count("not ready") == 1, h.log.text()
        line = next(line for line in h.log.lines if "not ready" in line)
        assert "mode 5 (lieDown) is not a locomotion mode" in line
        fake.set_mode("balance")
        time.sleep(0.3)
        h.move(2, vx=0.3, duration=0.5)
        wait_for(lambda: "Move" in names(fake, t0), 20, "the Move once the robot stands in balance mode")


@pytest.mark.parametrize(("motion_end", "expected_m"), [("odometry", 1.0), ("timed", 0.7)])
def test_walk_on_a_slow_robot_ends_by_odometry(fake: FakeGo2, motion_end: str, expected_m: float):
    fake.speed_factor = 0.7
    with bridge(fake, armed_at_start=True, motion_end=motion_end, **SIM_CAPS) as h:
        x0, y0, yaw0 = fake.state()["pose"]
        t0 = since_now(fake)
        h.move(1, vx=0.5, duration=2.0, text="forward 1.0")  # the motion node's "walk 1.0"
        wait_for(lambda: len(h.executed) == 1, 30, "the walk's executed report")
        time.sleep(0.2)
        x1, y1, _ = fake.state()["pose"]
        walked = (x1 - x0) * math.cos(yaw0) + (y1 - y0) * math.sin(yaw0)
        assert walked == pytest.approx(expected_m, abs=0.1), f"walked {walked:.2f} m ({motion_end})"
        done = h.executed[0]
        assert done.vx * done.duration == pytest.approx(walked, abs=0.05)  # what was done, as speed x time
        assert "StopMove" in after_first_move(fake, t0)
        if motion_end == "odometry":
            h.move(2, vyaw=1.0, duration=math.pi / 2, text="turn left 90")
            _, _, yaw_start = fake.state()["pose"]
            wait_for(lambda: len(h.executed) == 2, 30, "the turn's executed report")
            time.sleep(0.2)
            turned = math.remainder(fake.state()["pose"][2] - yaw_start, math.tau)
            assert math.degrees(turned) == pytest.approx(90, abs=10)


def test_cmd_vel_output_for_twist_mux_and_the_lock(fake: FakeGo2):
    with bridge(fake, armed_at_start=True, velocity_output="cmd_vel", **SIM_CAPS) as h:
        t0 = time.time()
        h.move(1, vx=0.3, duration=10.0)
        wait_for(lambda: any(t.linear.x == pytest.approx(0.3) for t in h.twists), 20, "a Twist at 0.3 m/s")
        assert "Move" not in names(fake, t0)  # the velocities went to twist_mux, not to SportClient
        h.lock.publish(Bool(data=True))
        wait_for(lambda: h.twists[-1].linear.x == 0.0, 10, "a zero Twist when the lock engages")
        n = len(h.twists)
        h.move(2, vx=0.2, duration=1.0)
        wait_for(lambda: h.log.count("locked by the operator") >= 1, 10, "the refusal under the lock")
        time.sleep(0.5)
        assert all(t.linear.x == 0.0 for t in h.twists[n - 1:]), "a Twist went out under the lock"
        h.lock.publish(Bool(data=False))
        time.sleep(0.3)
        h.move(3, vx=0.2, duration=1.0)
        wait_for(lambda: any(t.linear.x == pytest.approx(0.2) for t in h.twists[n:]), 20, "a Twist after the lock")


def test_estop_never_lets_a_move_through_until_resume_over_repeated_stops(fake: FakeGo2):
    with bridge(fake, armed_at_start=True, **SIM_CAPS) as h:
        for i in range(5):
            t0 = time.time()
            h.move(10 + i, vx=0.3, duration=10.0)
            wait_for(lambda t0=t0: "Move" in names(fake, t0), 20, "a Move")
            h.estop.publish(Bool(data=True))
            wait_for(lambda t0=t0: "StopMove" in after_first_move(fake, t0), 10, "the e-stop's StopMove")
            stop = call_times(fake, "StopMove", t0)[0]
            h.move(100 + i, vx=0.4, duration=1.0)  # refused
            time.sleep(0.4)
            assert "Move" not in names(fake, stop), f"e-stop {i}: a Move after the StopMove"
            assert h.call(topics.ESTOP_RESUME_SERVICE).success
