"""The motion node, as its own process over real DDS: commands leave as soon as their text is
complete, garbage moves nothing, and a lost link or a stale token stream produces an explicit stop."""

from __future__ import annotations

import pytest
from geometry_msgs.msg import Twist
from std_msgs.msg import UInt64
from support.node_process import node_process, output_of
from support.ros import spinning_node, wait_for

from spec_decode_ros import topics
from spec_decode_ros.msg import LinkStatus, LocomotionCommand, TokenStream
from spec_decode_ros.nodes.common import LATCHED_QOS, RELIABLE_QOS

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo or training


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

    def connect(self, proc) -> None:
        wait_for(lambda: self.tokens.get_subscription_count() > 0 and self.link.get_subscription_count() > 0
                 and self.node.count_publishers(topics.MOTION) > 0 or proc.poll() is not None, 60,
                 "the motion node to match")
        assert proc.poll() is None, output_of(proc)
        self.link_state(LinkStatus.STATE_CONNECTED)

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
def harness():
    with node_process("spec_decode_ros.nodes.motion", limits="champ", deadman_s=1.0) as proc, \
            spinning_node("motion_harness") as node:
        h = Harness(node)
        h.connect(proc)
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


def test_cloud_loss_mid_answer_stops_the_robot(harness: Harness):
    harness.send(3, "forward 2.0,")
    wait_for(lambda: len(harness.commands) >= 1, 30, "the forward command")
    harness.link_state(LinkStatus.STATE_UNREACHABLE)
    wait_for(lambda: any(c.action == "stop" for c in harness.commands), 30, "a stop after cloud loss")
    assert harness.commands[-1].request_id == 3


def test_stale_token_stream_stops_the_robot(harness: Harness):
    harness.send(4, "forward 2.0, turn")
    wait_for(lambda: any(c.action == "stop" for c in harness.commands), 30, "a deadman stop")
    assert [c.action for c in harness.commands] == ["move", "stop"]
