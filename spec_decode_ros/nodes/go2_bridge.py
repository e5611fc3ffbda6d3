"""go2_bridge node: locomotion commands → ``SportClient.Move(vx, vy, vyaw)`` held for each
command's duration (re-sent at ``rate_hz``: the Go2 holds a Move for only about a second; motions start and
end on a ``control_hz`` clock, so a 30 deg turn at 1 rad/s is not 6 deg long at a 10 Hz tick), and an
explicit ``StopMove()`` when a command ends, on a stop command, on cloud loss, when the link's
heartbeat goes stale (deadman) and at shutdown. Each command is re-published on ``go2/executed``
stamped when its first Move was sent, for latency analysis. The Go2's sport-mode state becomes
``nav_msgs/Odometry`` on ``odom`` (``nodes.odometry``, whose parameters this node declares too).

Parameters: ``network_interface`` ("eth0" on the robot, "lo" for the fake Go2), ``go2_domain_id``
(0 on the robot), ``rate_hz`` (Move re-send), ``control_hz`` (motion start/end resolution),
``deadman_s`` (``control.deadman.Deadman``: stop when no LinkStatus CONNECTED or command for this long,
or when motions outlast their duration by this much), ``require_link`` (False: only the latter).
"""

from __future__ import annotations

import time

from rclpy.node import Node

from spec_decode_ros import topics
from spec_decode_ros.control.deadman import STALE, Deadman
from spec_decode_ros.control.primitives import STOP_MOTION, Motion
from spec_decode_ros.control.sequencer import MotionSequencer
from spec_decode_ros.go2.clients import Go2Sport
from spec_decode_ros.msg import LinkStatus, LocomotionCommand
from spec_decode_ros.nodes.common import LATCHED_QOS, RELIABLE_QOS, run_node
from spec_decode_ros.nodes.odometry import OdometryPublisher


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
        self.odometry = OdometryPublisher(self, interface, domain)
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
        self.odometry.close()  # after the StopMove: nothing may delay or prevent that


def main(args: list[str] | None = None) -> int:
    return run_node(Go2Bridge, args)


if __name__ == "__main__":
    main()
