"""go2_bridge node: locomotion commands → ``SportClient.Move(vx, vy, vyaw)`` held for each
command's duration (re-sent at ``rate_hz``: the Go2 holds a Move for only about a second; motions start and
end on a ``control_hz`` clock, so a 30 deg turn at 1 rad/s is not 6 deg long at a 10 Hz tick), and an
explicit ``StopMove()`` when a command ends, on a stop command, on cloud loss, when the link's
heartbeat goes stale (deadman) and at shutdown. Each command is re-published on ``go2/executed``
stamped when its first Move was sent, for latency analysis. The Go2's sport-mode state
(``rt/sportmodestate``, ``go2.state``) becomes ``nav_msgs/Odometry`` on ``odom`` (frame ``odom`` → child
``base_link``, stamped on receipt), at most ``odom_hz`` a second.

Parameters: ``network_interface`` ("eth0" on the robot, "lo" for the fake Go2), ``go2_domain_id``
(0 on the robot), ``rate_hz`` (Move re-send), ``control_hz`` (motion start/end resolution),
``deadman_s`` (``control.deadman.Deadman``: stop when no LinkStatus CONNECTED or command for this long,
or when motions outlast their duration by this much), ``require_link`` (False: only the latter),
``publish_odom`` (default true), ``odom_hz`` (default 20; 0: every state), ``state_topic`` (default
``rt/sportmodestate``), ``odom_frame`` / ``base_frame`` (``odom`` / ``base_link``).
"""

from __future__ import annotations

import time

from nav_msgs.msg import Odometry
from rclpy._rclpy_pybind11 import RCLError
from rclpy.node import Node

from spec_decode_ros import topics
from spec_decode_ros.control.deadman import STALE, Deadman
from spec_decode_ros.control.primitives import STOP_MOTION, Motion
from spec_decode_ros.control.sequencer import MotionSequencer
from spec_decode_ros.go2.clients import Go2Sport
from spec_decode_ros.go2.state import SPORT_STATE_TOPIC, Go2StateSubscriber, SportState
from spec_decode_ros.msg import LinkStatus, LocomotionCommand
from spec_decode_ros.nodes.common import LATCHED_QOS, RELIABLE_QOS, SENSOR_QOS, run_node


def odometry(state: SportState, stamp, frame: str, child: str) -> Odometry:  # noqa: ANN001 (builtin Time)
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


class Go2Bridge(Node):
    def __init__(self) -> None:
        super().__init__("go2_bridge")
        interface = self.declare_parameter("network_interface", "eth0").value
        domain = int(self.declare_parameter("go2_domain_id", 0).value)
        rate = float(self.declare_parameter("rate_hz", 10.0).value)
        control = float(self.declare_parameter("control_hz", 100.0).value)
        if rate <= 0 or control < rate:
            raise ValueError(f"need 0 < rate_hz <= control_hz, got rate_hz={rate}, control_hz={control}")
        self.resend_s = 1.0 / rate
        self.last_move = float("-inf")
        self.deadman_s = float(self.declare_parameter("deadman_s", 1.0).value)
        self.require_link = bool(self.declare_parameter("require_link", True).value)
        self.sport = Go2Sport(interface, domain_id=domain)
        self.odom_frames = (self.declare_parameter("odom_frame", "odom").value,
                            self.declare_parameter("base_frame", "base_link").value)
        self.odom = self.create_publisher(Odometry, topics.ODOM, SENSOR_QOS)
        self.state: Go2StateSubscriber | None = None
        odom_hz = float(self.declare_parameter("odom_hz", 20.0).value)
        state_topic = self.declare_parameter("state_topic", SPORT_STATE_TOPIC).value
        if odom_hz < 0:
            raise ValueError(f"odom_hz must be >= 0 (0: every state), got {odom_hz}")
        if self.declare_parameter("publish_odom", True).value:
            self.state = Go2StateSubscriber(interface, domain, on_state=self.on_state, topic=state_topic,
                                            min_interval_s=1.0 / odom_hz if odom_hz else 0.0)
        self.seq: MotionSequencer[LocomotionCommand] = MotionSequencer()
        self.request_id: int | None = None
        self.deadman = Deadman(command_timeout_s=self.deadman_s, link_timeout_s=self.deadman_s)
        self.link_state = LinkStatus.STATE_CONNECTING
        self.executed = self.create_publisher(LocomotionCommand, topics.EXECUTED, RELIABLE_QOS)
        self.create_subscription(LocomotionCommand, topics.MOTION, self.on_command, RELIABLE_QOS)
        self.create_subscription(LinkStatus, topics.LINK, self.on_link, LATCHED_QOS)
        self.create_timer(1.0 / control, self.tick)
        self.get_logger().info(f"Go2 sport client on {interface}; deadman {self.deadman_s} s")

    def on_command(self, msg: LocomotionCommand) -> None:
        if msg.action == LocomotionCommand.ACTION_STOP:
            self.seq.submit(STOP_MOTION, msg, replace=True)
        elif msg.action == LocomotionCommand.ACTION_MOVE:
            motion = Motion(msg.vx, msg.vy, msg.vyaw, max(float(msg.duration), 0.0))
            self.seq.submit(motion, msg, replace=msg.request_id != self.request_id)
        else:
            self.get_logger().error(f"ignoring command with unknown action {msg.action!r}")
            return
        self.request_id = msg.request_id
        self.deadman.link_ok()  # a fresh command proves the pipeline upstream is alive now
        self.deadman.command(self.seq.remaining_s(time.monotonic()))
        self.tick()

    def on_link(self, msg: LinkStatus) -> None:
        self.link_state = msg.state
        if msg.state == LinkStatus.STATE_CONNECTED:
            self.deadman.link_ok()
        elif msg.state == LinkStatus.STATE_UNREACHABLE:
            self.deadman.link_lost(f"cloud unreachable: {msg.detail}")
            if not self.seq.idle:
                self.get_logger().warning(f"cloud unreachable ({msg.detail}): stopping")
                self.seq.stop()
                self.tick()

    def on_state(self, state: SportState) -> None:
        """From the SDK's reader thread: one odometry message per sport state kept."""
        try:
            self.odom.publish(odometry(state, self.get_clock().now().to_msg(), *self.odom_frames))
        except RCLError:  # the context went down (SIGINT) before close() stopped the reader: nothing to publish to
            pass

    def tick(self) -> None:
        now = time.monotonic()
        if not self.seq.idle:
            event = self.deadman.check()
            if event is not None and (self.require_link or event.reason == STALE):
                self.get_logger().warning(f"deadman ({event.reason}): {event.detail}: stopping")
                self.seq.stop()
        step = self.seq.step(now)
        if step.motion is not None and (step.started or now - self.last_move >= self.resend_s):
            self.sport.move(step.motion.vx, step.motion.vy, step.motion.vyaw)
            self.last_move = now
            if step.started and step.tag is not None:
                executed = step.tag
                executed.header.stamp = self.get_clock().now().to_msg()
                self.executed.publish(executed)
        if step.stopped:
            self.sport.stop_move()
            self.get_logger().info("StopMove")

    def close(self) -> None:
        self.seq.stop()
        self.sport.stop_move()
        if self.state is not None:  # after the StopMove: nothing may delay or prevent that
            self.state.close()


def main(args: list[str] | None = None) -> int:
    return run_node(Go2Bridge, args)


if __name__ == "__main__":
    main()
