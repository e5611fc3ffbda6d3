"""The Go2 bridge's odometry: the Go2's sport-mode state (``go2.state``, through unitree_sdk2py) as
``nav_msgs/Odometry`` on ``odom`` — pose in ``odom_frame``, twist in ``base_frame``, stamped on receipt,
at most ``odom_hz`` a second. Its parameters are declared on the node that owns it:
``publish_odom`` (default true), ``odom_hz`` (default 20; 0: every state), ``state_topic`` (default
``rt/sportmodestate``), ``odom_frame`` / ``base_frame`` (``odom`` / ``base_link``).
"""

from __future__ import annotations

from builtin_interfaces.msg import Time
from nav_msgs.msg import Odometry
from rclpy._rclpy_pybind11 import RCLError
from rclpy.node import Node

from spec_decode_ros import topics
from spec_decode_ros.go2.state import SPORT_STATE_TOPIC, Go2StateSubscriber, SportState
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
    """Sport state in, odometry out, on ``node``; ``close()`` stops the state subscription."""

    def __init__(self, node: Node, interface: str, domain_id: int) -> None:
        self.node = node
        self.frames = (node.declare_parameter("odom_frame", "odom").value,
                       node.declare_parameter("base_frame", "base_link").value)
        odom_hz = float(node.declare_parameter("odom_hz", 20.0).value)
        state_topic = node.declare_parameter("state_topic", SPORT_STATE_TOPIC).value
        if odom_hz < 0:
            raise ValueError(f"odom_hz must be >= 0 (0: every state), got {odom_hz}")
        self.publisher = node.create_publisher(Odometry, topics.ODOM, publisher_qos(topics.ODOM))  # reliable: Nav2, RViz
        self.state: Go2StateSubscriber | None = None
        if node.declare_parameter("publish_odom", True).value:
            self.state = Go2StateSubscriber(interface, domain_id, on_state=self.on_state, topic=state_topic,
                                            min_interval_s=1.0 / odom_hz if odom_hz else 0.0)

    def on_state(self, state: SportState) -> None:
        """From the SDK's reader thread: one odometry message per sport state kept."""
        stamp = now_stamp(self.node)
        if stamp.sec == 0 and stamp.nanosec == 0:
            return  # use_sim_time and no /clock yet: an odometry stamped 0 would be older than everything
        try:
            self.publisher.publish(odometry(state, stamp, *self.frames))
        except RCLError:  # the context went down (SIGINT) before close() stopped the reader: nothing to publish to
            pass

    def close(self) -> None:
        if self.state is not None:
            self.state.close()
