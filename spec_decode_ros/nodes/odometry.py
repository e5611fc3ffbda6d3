"""The Go2 bridge's odometry: the Go2's sport-mode state (``go2.state``, through unitree_sdk2py) as
``nav_msgs/Odometry`` on ``odom`` — pose in ``odom_frame``, twist in ``base_frame``, stamped on receipt,
at most ``odom_hz`` a second. The owning node subscribes to the state (``Go2StateSubscriber``, every state:
the bridge's readiness and odometry-closed motions use them all) and hands each one to ``on_state``. Its
parameters are declared on the node that owns it: ``publish_odom`` (default true), ``odom_hz`` (default 20;
0: every state), ``odom_frame`` / ``base_frame`` (``odom`` / ``base_link``).
"""

from __future__ import annotations

import time

from builtin_interfaces.msg import Time
from nav_msgs.msg import Odometry
from rclpy._rclpy_pybind11 import RCLError
from rclpy.node import Node

from spec_decode_ros import topics
from spec_decode_ros.go2.state import SportState
from spec_decode_ros.nodes.common import now_stamp
from spec_decode_ros.nodes.qos import publisher_qos


def odometry(state: SportState, stamp: Time, frame: str, child: str) -> Odometry:
    """``nav_msgs/Odometry`` of a sport state: pose in ``frame``, twist in ``child`` (the base)."""
    msg = Odometry()
    msg.header.stamp, msg.header.frame_id, msg.child_frame_id = stamp, frame, child
    p, q = msg.pose.pose.position, msg.pose.pose.orientation
    p.x, p.y, p.z = state.position
    q.w, q.x, q.y, q.z = state.quaternion
    t = msg.twist.twist
    t.linear.x, t.linear.y, t.linear.z = state.body_velocity()
    t.angular.z = state.yaw_speed
    return msg


class OdometryPublisher:
    """Sport state in (``on_state``), odometry out on ``node``, at most ``odom_hz`` a second."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.frames = (node.declare_parameter("odom_frame", "odom").value,
                       node.declare_parameter("base_frame", "base_link").value)
        odom_hz = float(node.declare_parameter("odom_hz", 20.0).value)
        if odom_hz < 0:
            raise ValueError(f"odom_hz must be >= 0 (0: every state), got {odom_hz}")
        self.enabled = bool(node.declare_parameter("publish_odom", True).value)
        self.min_interval_s = 1.0 / odom_hz if odom_hz else 0.0
        self.last_published = float("-inf")
        self.publisher = node.create_publisher(Odometry, topics.ODOM, publisher_qos(topics.ODOM))  # reliable: Nav2, RViz

    def on_state(self, state: SportState) -> None:
        """From the SDK's reader thread: one odometry message per state, at most ``odom_hz`` a second."""
        now = time.monotonic()
        if not self.enabled or now - self.last_published < self.min_interval_s:
            return
        stamp = now_stamp(self.node)
        if stamp.sec == 0 and stamp.nanosec == 0:
            return  # use_sim_time and no /clock yet: an odometry stamped 0 would be older than everything
        self.last_published = now
        try:
            self.publisher.publish(odometry(state, stamp, *self.frames))
        except RCLError:  # the context went down (SIGINT) before close() stopped the reader: nothing to publish to
            pass
