"""The motion node, as its own process over real DDS: commands leave as soon as their text is
complete, garbage moves nothing, a lost link (long before the deadman could fire) or a stale token
stream produces an explicit stop, no command is published once the link is lost, and SIGINT
publishes a stop and a zero Twist."""

from __future__ import annotations

import math
import signal
import time

import pytest
from geometry_msgs.msg import Twist
from rclpy.duration import Duration
from std_msgs.msg import Bool, String, UInt64
from support.node_process import node_process, output_of
from support.ros import spinning_node, wait_for

from spec_decode_ros import topics
from spec_decode_ros.msg import LinkStatus, LocomotionCommand, TokenStream
from spec_decode_ros.nodes.common import LATCHED_QOS, RELIABLE_QOS

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo or training

LONG_DEADMAN_S = 10.0  # for tests that must show a stop came from something other than the deadman
HEARTBEAT_S = 0.2


class Harness:
    def __init__(self, node) -> None:
        self.node = node
        self.commands: list[LocomotionCommand] = []
        self.twists: list[Twist] = []
        self.done: list[int] = []
        self.tokens = node.create_publisher(TokenStream, topics.TOKENS, RELIABLE_QOS)
        self.link = node.create_publisher(LinkStatus, topics.LINK, LATCHED_QOS)
        node.create_subscription(LocomotionCommand, topics.MOTION, self.commands.append, RELIABLE_QOS)
        node.create_subscription(Twist, topics.CMD_VEL, self.twists.append, 10)
        node.create_subscription(UInt64, topics.MOTION_DONE, lambda m: self.done.append(m.data), RELIABLE_QOS)
        self.heartbeat = node.create_timer(HEARTBEAT_S, lambda: self.link_state(LinkStatus.STATE_CONNECTED))

    def connect(self, proc) -> None:
        wait_for(lambda: self.tokens.get_subscription_count() > 0 and self.link.get_subscription_count() > 0
                 and self.node.count_publishers(topics.MOTION) > 0 or proc.poll() is not None, 60,
                 "the motion node to match")
        assert proc.poll() is None, output_of(proc)
        self.link_state(LinkStatus.STATE_CONNECTED)
        # the node refuses commands without a recent CONNECTED: let this one land before any tokens
        assert self.link.wait_for_all_acked(Duration(seconds=10))

    def stop_heartbeats(self) -> None:
        """Until now CONNECTED went out every HEARTBEAT_S, as the draft node sends while the cloud answers."""
        self.heartbeat.cancel()

    def link_state(self, state: int) -> None:
        msg = LinkStatus(state=state, endpoint="tcp://127.0.0.1:1", detail="test")
        msg.header.stamp = self.node.get_clock().now().to_msg()
        self.link.publish(msg)

    def send(self, request_id: int, text: str, final: bool = False) -> None:
        msg = TokenStream(request_id=request_id, text=text, final=final, token_ids=[1])
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.image_stamp.sec = request_id
        self.tokens.publish(msg)


@pytest.fixture
def harness(request: pytest.FixtureRequest):
    """The motion process (deadman 1 s, or ``@pytest.mark.parametrize("harness", [s], indirect=True)``)."""
    with node_process("spec_decode_ros.nodes.motion", limits="champ", deadman_s=getattr(request, "param", 1.0),
                      max_duration_s=20.0, max_distance_m=3.0) as proc, spinning_node("motion_harness") as node:
        h = Harness(node)
        h.connect(proc)
        h.proc = proc
        yield h


def test_each_command_is_published_as_soon_as_its_text_is_complete(harness: Harness):
    for delta in ("turn", " left", " 30"):
        harness.send(1, delta)
    harness.send(1, ",")
    wait_for(lambda: len(harness.commands) >= 1, 30, "the first command before the answer ends")
    first = harness.commands[0]
    assert (first.action, first.text, first.index, first.image_stamp.sec) == ("move", "turn left 30", 0, 1)
    assert first.vyaw == pytest.approx(0.5)  # CHAMP cap
    assert first.duration == pytest.approx(0.5236 / 0.5, rel=1e-3)
    for delta in (" forward", " 1.5"):
        harness.send(1, delta)
    harness.send(1, ".", final=True)
    wait_for(lambda: len(harness.commands) >= 2, 30, "the second command")
    second = harness.commands[1]
    assert (second.text, second.index, second.vx) == ("forward 1.5", 1, pytest.approx(0.3))
    wait_for(lambda: any(t.angular.z > 0 for t in harness.twists), 30, "cmd_vel turning")


def test_garbage_moves_nothing(harness: Harness):
    harness.send(7, "the red box is nice", final=True)
    harness.send(8, "stop.", final=True)  # a sentinel request after the garbage
    wait_for(lambda: 8 in harness.done, 30, "the sentinel request to finish")
    assert 7 in harness.done  # the garbage request ended too, without a command
    assert [(c.request_id, c.action) for c in harness.commands] == [(8, "stop")]


@pytest.mark.parametrize("harness", [LONG_DEADMAN_S], indirect=True)
def test_cloud_loss_mid_answer_stops_the_robot_long_before_the_deadman(harness: Harness):
    harness.send(3, "forward 2.0,")
    wait_for(lambda: len(harness.commands) >= 1, 30, "the forward command")
    harness.stop_heartbeats()
    t_lost = time.monotonic()
    harness.link_state(LinkStatus.STATE_UNREACHABLE)
    wait_for(lambda: any(c.action == "stop" for c in harness.commands), 30, "a stop after cloud loss")
    # heartbeats kept the link fresh up to the loss; stream and link deadman are 10 s: only UNREACHABLE
    # can stop it this early (a generous bound)
    assert time.monotonic() - t_lost < LONG_DEADMAN_S / 2
    assert harness.commands[-1].request_id == 3


@pytest.mark.parametrize("harness", [LONG_DEADMAN_S], indirect=True)
def test_no_command_is_published_after_the_link_was_lost(harness: Harness):
    harness.send(5, "forward 2.0,")
    wait_for(lambda: len(harness.commands) >= 1, 30, "the forward command")
    harness.stop_heartbeats()
    harness.link_state(LinkStatus.STATE_UNREACHABLE)
    wait_for(lambda: any(c.action == "stop" for c in harness.commands), 30, "the motion node to take the loss in")
    harness.send(6, "turn left 30.", final=True)  # a whole answer arrives between two deadman ticks
    wait_for(lambda: any(c.request_id == 6 for c in harness.commands), 30, "the motion node's reply to request 6")
    assert [c.action for c in harness.commands if c.request_id == 6] == ["stop"]


@pytest.mark.parametrize("harness", [LONG_DEADMAN_S], indirect=True)
def test_shutdown_publishes_a_stop_and_a_zero_twist(harness: Harness):
    harness.send(9, "forward 2.0.", final=True)
    wait_for(lambda: any(t.linear.x > 0 for t in harness.twists), 30, "cmd_vel moving forward")
    assert [c.action for c in harness.commands] == ["move"]
    n_commands, n_twists = len(harness.commands), len(harness.twists)
    harness.proc.send_signal(signal.SIGINT)
    assert harness.proc.wait(timeout=20) == 0, output_of(harness.proc)
    wait_for(lambda: len(harness.commands) > n_commands, 10, "a stop command after the signal")
    assert [c.action for c in harness.commands[n_commands:]] == ["stop"]
    assert harness.commands[-1].request_id == 9
    wait_for(lambda: harness.twists[-1].linear.x == 0, 10, "a zero Twist after the signal")
    last = harness.twists[-1]
    assert len(harness.twists) > n_twists and (last.linear.x, last.linear.y, last.angular.z) == (0, 0, 0)


def test_stale_token_stream_stops_the_robot(harness: Harness):
    harness.send(4, "forward 2.0, turn")
    wait_for(lambda: any(c.action == "stop" for c in harness.commands), 30, "a deadman stop")
    assert [c.action for c in harness.commands] == ["move", "stop"]


@pytest.mark.parametrize("harness", [LONG_DEADMAN_S], indirect=True)
def test_estop_stops_with_a_zero_twist_and_publishes_nothing_until_the_bridge_resumes(harness: Harness):
    estop = harness.node.create_publisher(Bool, topics.ESTOP, 10)
    bridge_state = harness.node.create_publisher(Bool, topics.ESTOP_STATE, LATCHED_QOS)
    harness.send(1, "forward 2.0,")
    wait_for(lambda: any(t.linear.x > 0 for t in harness.twists), 30, "cmd_vel moving forward")
    wait_for(lambda: estop.get_subscription_count() > 0, 30, "the motion node to follow the e-stop")
    n_twists = len(harness.twists)
    estop.publish(Bool(data=True))
    wait_for(lambda: [c.action for c in harness.commands[1:2]] == ["stop"], 30, "a stop command on e-stop")
    wait_for(lambda: len(harness.twists) > n_twists and harness.twists[-1].linear.x == 0, 10, "a zero Twist")
    estop.publish(Bool(data=False))  # the button released: still stopped until the bridge resumes
    harness.send(2, "turn left 30.", final=True)
    wait_for(lambda: 2 in harness.done, 30, "request 2 to end")
    assert not [c for c in harness.commands if c.request_id == 2 and c.action == "move"]
    assert all(t.linear.x == 0 and t.angular.z == 0 for t in harness.twists[n_twists:])
    bridge_state.publish(Bool(data=False))  # the bridge's resume
    time.sleep(0.5)
    harness.send(3, "turn left 30.", final=True)
    wait_for(lambda: any(c.request_id == 3 and c.action == "move" for c in harness.commands), 30, "a command again")


def test_lab_caps_slow_a_command_down_and_keep_its_amount_within_the_bounds():
    with node_process("spec_decode_ros.nodes.motion", limits="go2_sport", deadman_s=LONG_DEADMAN_S, max_vx=0.4,
                      max_vy=0.3, max_vyaw=0.4, max_duration_s=6.0, max_distance_m=2.0) as proc, \
            spinning_node("motion_caps_harness") as node:
        h = Harness(node)
        h.connect(proc)
        h.send(1, "turn left 90, forward 3.0.", final=True)
        wait_for(lambda: len(h.commands) >= 2, 30, "both commands")
        turn, walk = h.commands[:2]
        assert turn.vyaw == pytest.approx(0.4) and turn.duration == pytest.approx(math.pi / 2 / 0.4, rel=1e-3)
        assert walk.vx == pytest.approx(0.4) and walk.vx * walk.duration == pytest.approx(2.0, rel=1e-3)


@pytest.mark.parametrize("harness", [LONG_DEADMAN_S], indirect=True)
def test_a_new_instruction_stops_the_old_answer_and_drops_its_rest(harness: Harness):
    instruction = harness.node.create_publisher(String, topics.INSTRUCTION, LATCHED_QOS)
    harness.send(1, "forward 2.0,")
    wait_for(lambda: len(harness.commands) == 1, 30, "the first command")
    wait_for(lambda: instruction.get_subscription_count() > 0, 30, "the motion node to follow instructions")
    instruction.publish(String(data="go to the red box"))  # the same words as before would do too
    # the stream's deadman is 10 s and the walk 6.7 s: only the new instruction can stop it this early
    wait_for(lambda: [c.action for c in harness.commands] == ["move", "stop"], 5, "a stop on the new instruction")
    harness.send(1, " turn left 30.", final=True)  # the rest of the old answer
    harness.send(2, "stop.", final=True)  # a sentinel
    wait_for(lambda: 2 in harness.done, 30, "the sentinel request to finish")
    assert not [c for c in harness.commands if c.request_id == 1 and c.text == "turn left 30"]
