"""The Go2 bridge, as its own process, turns the fake Go2's sport state (``rt/sportmodestate``, through
unitree_sdk2py) into ``nav_msgs/Odometry`` on ``odom``: frame odom -> base_link, the MuJoCo robot's pose,
and its velocity in the base frame while a command moves it."""

from __future__ import annotations

import math
import os

import pytest
from nav_msgs.msg import Odometry
from support.node_process import node_process, output_of
from support.ros import spinning_node, wait_for

from spec_decode_ros import topics
from spec_decode_ros.msg import LinkStatus, LocomotionCommand
from spec_decode_ros.nodes.common import LATCHED_QOS, RELIABLE_QOS, SENSOR_QOS
from spec_decode_ros.sim.fake_go2 import FakeGo2

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo or training

GO2_DOMAIN = int(os.environ["SPEC_DECODE_GO2_DOMAIN"])


def test_odometry_follows_the_robot():
    fake = FakeGo2(3, width=32, height=32, domain_id=GO2_DOMAIN, camera_hz=2.0, state_hz=20.0).start()
    try:
        with node_process("spec_decode_ros.nodes.go2_bridge", network_interface="lo", go2_domain_id=GO2_DOMAIN,
                          deadman_s=5.0, armed_at_start=True) as proc, spinning_node("odom_listener") as node:
            odom: list[Odometry] = []
            node.create_subscription(Odometry, topics.ODOM, odom.append, SENSOR_QOS)
            commands = node.create_publisher(LocomotionCommand, topics.MOTION, RELIABLE_QOS)
            link = node.create_publisher(LinkStatus, topics.LINK, LATCHED_QOS)
            wait_for(lambda: len(odom) >= 5 or proc.poll() is not None, 60, "odometry from the bridge")
            assert proc.poll() is None, output_of(proc)
            x, y, yaw = fake.state()["pose"]
            first = odom[-1]
            assert (first.header.frame_id, first.child_frame_id) == ("odom", "base_link")
            p, q = first.pose.pose.position, first.pose.pose.orientation
            assert (p.x, p.y) == (pytest.approx(x, abs=1e-3), pytest.approx(y, abs=1e-3))
            assert 2 * math.atan2(q.z, q.w) == pytest.approx(yaw, abs=1e-3)
            wait_for(lambda: commands.get_subscription_count() > 0, 30, "the bridge to subscribe to commands")
            link.publish(LinkStatus(state=LinkStatus.STATE_CONNECTED, endpoint="test", detail="test"))
            commands.publish(LocomotionCommand(action="move", text="turn left 30", vyaw=0.5, duration=1.0,
                                               request_id=1))
            wait_for(lambda: odom[-1].twist.twist.angular.z > 0.4, 30, "odometry of the turn")
            wait_for(lambda: math.remainder(2 * math.atan2(odom[-1].pose.pose.orientation.z,
                                                           odom[-1].pose.pose.orientation.w) - yaw, math.tau) > 0.2,
                     30, "the yaw to grow")
            assert abs(odom[-1].twist.twist.linear.x) < 1e-3  # turning in place
    finally:
        fake.stop()
