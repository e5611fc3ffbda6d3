"""go2_bridge node: locomotion commands → ``SportClient.Move(vx, vy, vyaw)`` held for each
command's duration (re-sent at ``rate_hz``: the Go2 holds a Move for only about a second; motions start and
end on a ``control_hz`` clock, so a 30 deg turn at 1 rad/s is not 6 deg long at a 10 Hz tick), and an
explicit ``StopMove()`` when a command ends, on a stop command, on cloud loss, when the link's
heartbeat goes stale (deadman) and at shutdown. Each command is re-published on ``go2/executed``
stamped when its first Move was sent, for latency analysis. The Go2's sport-mode state becomes
``nav_msgs/Odometry`` on ``odom`` (``nodes.odometry``, whose parameters this node declares too).

Safety (the bridge trusts no publisher): every move is checked by ``control.command_check`` first: a
NaN/inf velocity or duration, or a duration that is not positive, is refused with an error log line and
never reaches ``Move``; finite velocities outside the Go2 sport ranges are clamped and a duration longer than
the longest grammatical command (``longest_command_s``, 10 s) is bounded, both with a warning. Only a
CONNECTED ``LinkStatus`` re-arms the bridge after an UNREACHABLE one (commands do not). A ``StopMove`` that
fails is retried every ``1 / rate_hz`` until it succeeds (each failure logged; no Move is sent meanwhile),
at shutdown too, until it succeeds or the process is killed.

Parameters: ``network_interface`` ("eth0" on the robot, "lo" for the fake Go2), ``go2_domain_id``
(0 on the robot), ``rate_hz`` (Move re-send), ``control_hz`` (motion start/end resolution),
``deadman_s`` (``control.deadman.Deadman``: stop when no LinkStatus CONNECTED or command for this long,
or when motions outlast their duration by this much), ``require_link`` (False: only the latter).
"""

from __future__ import annotations

import time

from rclpy.node import Node

from spec_decode_ros import topics
from spec_decode_ros.control.command_check import CommandRefused, check_move, longest_command_s
from spec_decode_ros.control.deadman import STALE, Deadman
from spec_decode_ros.control.limits import get_limits
from spec_decode_ros.control.primitives import STOP_MOTION
from spec_decode_ros.control.sequencer import MotionSequencer
from spec_decode_ros.go2.clients import Go2Sport
from spec_decode_ros.msg import LinkStatus, LocomotionCommand
from spec_decode_ros.nodes.common import RELIABLE_QOS, control_clock, now_stamp, run_node
from spec_decode_ros.nodes.odometry import OdometryPublisher
from spec_decode_ros.nodes.qos import subscribe_state


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
        self.limits = get_limits("go2_sport")
        self.max_duration_s = longest_command_s(self.limits)
        self.stop_pending = False  # a StopMove is owed to the robot (the last one failed, or none was sent yet)
        self.next_stop_try = float("-inf")
        self.sport = Go2Sport(interface, domain_id=domain)
        self.odometry = OdometryPublisher(self, interface, domain)
        self.seq: MotionSequencer[LocomotionCommand] = MotionSequencer()
        self.request_id: int | None = None
        self.now_s = control_clock(self)  # simulated seconds under use_sim_time, else monotonic
        self.deadman = Deadman(command_timeout_s=self.deadman_s, link_timeout_s=self.deadman_s, clock=self.now_s)
        self.executed_pub = self.create_publisher(LocomotionCommand, topics.EXECUTED, RELIABLE_QOS)
        self.create_subscription(LocomotionCommand, topics.MOTION, self.on_command, RELIABLE_QOS)
        subscribe_state(self, LinkStatus, topics.LINK, self.on_link)
        self.create_timer(1.0 / control, self.tick)
        self.get_logger().info(f"Go2 sport client on {interface}; deadman {self.deadman_s} s")

    def on_command(self, msg: LocomotionCommand) -> None:
        if msg.action == LocomotionCommand.ACTION_STOP:
            self.seq.submit(STOP_MOTION, msg, replace=True)
        elif msg.action == LocomotionCommand.ACTION_MOVE:
            try:
                checked = check_move(msg.vx, msg.vy, msg.vyaw, msg.duration, self.limits, self.max_duration_s)
            except CommandRefused as err:
                self.get_logger().error(f"refusing command {msg.text!r} of request {msg.request_id}: {err}")
                return
            for note in checked.notes:
                self.get_logger().warning(f"command {msg.text!r} of request {msg.request_id}: {note}")
            self.seq.submit(checked.motion, msg, replace=msg.request_id != self.request_id)
        else:
            self.get_logger().error(f"ignoring command with unknown action {msg.action!r}")
            return
        self.request_id = msg.request_id
        # only a CONNECTED LinkStatus re-arms the link: a command may come after the cloud was reported lost
        self.deadman.command(self.seq.remaining_s(self.now_s()))
        self.tick()

    def on_link(self, msg: LinkStatus) -> None:
        if msg.state == LinkStatus.STATE_CONNECTED:
            self.deadman.link_ok()
        elif msg.state == LinkStatus.STATE_UNREACHABLE:
            self.deadman.link_lost(f"cloud unreachable: {msg.detail}")
            if not self.seq.idle:
                self.get_logger().warning(f"cloud unreachable ({msg.detail}): stopping")
                self.seq.stop()
                self.tick()

    def tick(self) -> None:
        now = self.now_s()
        if not self.seq.idle:
            event = self.deadman.check()
            if event is not None and (self.require_link or event.reason == STALE):
                self.get_logger().warning(f"deadman ({event.reason}): {event.detail}: stopping")
                self.seq.stop()
        step = self.seq.step(now)
        if step.stopped:
            self.stop_pending = True
            self.next_stop_try = now
        if self.stop_pending and (now < self.next_stop_try or not self.try_stop_move()):
            return  # the robot must be known stopped before anything moves it again
        if step.motion is not None and (step.started or now - self.last_move >= self.resend_s):
            try:
                self.sport.move(step.motion.vx, step.motion.vy, step.motion.vyaw)
            except Exception as err:  # an SDK failure must not kill the node that stops the robot
                self.get_logger().error(f"Move failed: {err!r}")
            self.last_move = now
            if step.started and step.tag is not None:
                executed = step.tag
                executed.header.stamp = now_stamp(self)
                self.executed_pub.publish(executed)

    def try_stop_move(self) -> bool:
        """One StopMove attempt; on failure it is logged and retried ``resend_s`` later (by ``tick``)."""
        try:
            self.sport.stop_move()
        except Exception as err:  # whatever failed, the stop is owed until it succeeds
            self.next_stop_try = self.now_s() + self.resend_s
            self.get_logger().error(f"StopMove failed, retrying in {self.resend_s:.2f} s: {err!r}")
            return False
        self.stop_pending = False
        self.get_logger().info("StopMove")
        return True

    def close(self) -> None:
        """Shutdown: StopMove until it succeeds (or the process is killed)."""
        self.seq.stop()
        while not self.try_stop_move():
            time.sleep(self.resend_s)
        self.odometry.close()  # after the StopMove: nothing may delay or prevent that


def main(args: list[str] | None = None) -> int:
    return run_node(Go2Bridge, args)


if __name__ == "__main__":
    main()
