"""motion node: committed tokens → locomotion commands, as soon as each command's text is complete.

The streaming parser (``control.stream_parser``) takes each TokenStream delta; every complete
command is turned into a timed motion at the profile's nominal speeds under the lab's caps
(``max_vx``, ``max_vy``, ``max_vyaw``: a slower walk takes longer and covers the same distance), checked by
``control.command_check`` (clamped to the profile's limits — Go2 sport mode on the robot, CHAMP's lower
caps in Gazebo — never above them; bounded to ``max_duration_s`` and ``max_distance_m``; one warning per
command that was changed) and published at once on the motion topic. Text that is not a command moves nothing. The same motions drive ``cmd_vel``
(Twist, for Gazebo/CHAMP) through ``control.sequencer``; ``motion/done`` reports each answer whose
execution ended, so the draft node can look again. Deadman (``control.deadman.Deadman``, checked while
anything streams or moves): tokens of a streaming request that stop arriving for ``deadman_s``, motions
that outlast their own duration by ``deadman_s``, a link reported unreachable, or a link heartbeat
older than ``deadman_s`` → an explicit stop. The deadman is checked again before each command is
published (not only on the timer): a command parsed after the link was lost is never published. At
shutdown (SIGINT/SIGTERM) the node publishes a stop command and a zero Twist before it exits.

E-stop (``nodes.safety_io.EStopFollower``: the ``estop`` input, or the Go2 bridge's latched ``estop/state``):
a stop command and a zero Twist at once, and no command is published until the bridge reports the
e-stop released (its ``estop/resume`` service). A new ``instruction`` stops what the old one's answer
was doing, and what is left of that answer is not parsed.

Parameters: ``limits`` (go2_sport | champ), ``deadman_s``, ``publish_cmd_vel``, ``cmd_vel_rate_hz``,
``max_vx``, ``max_vy``, ``max_vyaw``, ``max_duration_s``, ``max_distance_m``.
"""

from __future__ import annotations

from geometry_msgs.msg import Twist
from rclpy.duration import Duration
from rclpy.node import Node
from std_msgs.msg import String, UInt64

from spec_decode_ros import topics
from spec_decode_ros.control.command_check import CommandRefused, check_move
from spec_decode_ros.control.deadman import Deadman
from spec_decode_ros.control.limits import get_limits
from spec_decode_ros.control.primitives import STOP_MOTION, Motion, to_motion
from spec_decode_ros.control.sequencer import MotionSequencer
from spec_decode_ros.control.stream_parser import ParsedCommand, Rejection, StreamingCommandParser
from spec_decode_ros.msg import LinkStatus, LocomotionCommand, TokenStream
from spec_decode_ros.nodes.common import RELIABLE_QOS, control_clock, now_stamp, run_node
from spec_decode_ros.nodes.qos import subscribe_state
from spec_decode_ros.nodes.safety_io import EStopFollower, declare_lab_limits


class MotionNode(Node):
    def __init__(self) -> None:
        super().__init__("motion")
        hardware = get_limits(self.declare_parameter("limits", "go2_sport").value)
        self.lab = declare_lab_limits(self)
        self.limits = self.lab.under(hardware)
        self.deadman_s = float(self.declare_parameter("deadman_s", 1.5).value)
        self.publish_cmd_vel = bool(self.declare_parameter("publish_cmd_vel", True).value)
        rate = float(self.declare_parameter("cmd_vel_rate_hz", 20.0).value)
        self.commands_pub = self.create_publisher(LocomotionCommand, topics.MOTION, RELIABLE_QOS)
        self.cmd_vel_pub = self.create_publisher(Twist, topics.CMD_VEL, RELIABLE_QOS)
        self.done_pub = self.create_publisher(UInt64, topics.MOTION_DONE, RELIABLE_QOS)
        self.create_subscription(TokenStream, topics.TOKENS, self.on_tokens, RELIABLE_QOS)
        subscribe_state(self, LinkStatus, topics.LINK, self.on_link)
        self.seq: MotionSequencer[int] = MotionSequencer()
        self.parser: StreamingCommandParser | None = None
        self.request: TokenStream | None = None  # first message of the request being parsed
        self.streaming = False  # tokens of the current request are still coming
        self.now_s = control_clock(self)  # simulated seconds under use_sim_time, else monotonic
        self.deadman = Deadman(command_timeout_s=self.deadman_s, link_timeout_s=self.deadman_s, clock=self.now_s)
        self.pending_done: list[int] = []  # requests whose motions are queued, to report when they end
        self.estop = EStopFollower(self, self.on_estop, lambda: self.get_logger().warning("e-stop released"))
        # a new instruction ends the old answer (a second delivery of the same message stops nothing more)
        subscribe_state(self, String, topics.INSTRUCTION, lambda msg: self.stop(f"new instruction {msg.data!r}"))
        self.create_timer(1.0 / rate, self.tick)
        self.get_logger().info(f"motion: limits {self.limits.name}, deadman {self.deadman_s} s")

    # --- token stream -> commands ---------------------------------------------------------------
    def on_tokens(self, msg: TokenStream) -> None:
        if self.request is None or msg.request_id != self.request.request_id:
            if self.request is not None and msg.request_id < self.request.request_id:
                return  # a late message of an older request
            self.parser = StreamingCommandParser(on_reject=self.on_reject)
            self.request, self.streaming = msg, True
        if not self.streaming:
            return  # this request was cut off (deadman) or has ended
        self.deadman.command()  # the stream is fresh: more tokens are due within deadman_s
        for parsed in self.parser.feed(msg.text):
            self.emit(parsed)
        if msg.final:
            for parsed in self.parser.finish():
                self.emit(parsed)
            if not self.streaming:
                return  # the deadman cut this answer off while it was being parsed
            self.streaming = False
            self.pending_done.append(int(msg.request_id))
            self.deadman.command(self.seq.remaining_s(self.now_s()))  # fresh until its motions end

    def on_reject(self, rejection: Rejection) -> None:
        self.get_logger().warning(f"not a command, nothing moves: {rejection.text!r} ({rejection.reason})")

    def emit(self, parsed: ParsedCommand) -> None:
        if not self.streaming:
            return  # cut off by the deadman below, earlier in this same message
        if self.estop.engaged:
            self.stop(f"e-stop: not publishing {parsed.text!r}")
            return
        event = self.deadman.check()
        if event is not None:
            self.stop(f"deadman ({event.reason}) before {parsed.text!r}: {event.detail}")
            return
        motion = to_motion(parsed.command, self.limits)
        if not motion.is_stop:
            try:
                checked = check_move(motion.vx, motion.vy, motion.vyaw, motion.duration_s, self.limits,
                                     self.lab.max_duration_s, self.lab.max_distance_m)
            except CommandRefused as err:  # a grammatical command always has a positive, finite duration
                self.stop(f"{parsed.text!r} refused: {err}")
                return
            if checked.notes:
                self.get_logger().warning(f"command {parsed.text!r}: {checked.summary}")
            motion = checked.motion
        vx, vy, vyaw = motion.vx, motion.vy, motion.vyaw
        out = LocomotionCommand(text=parsed.text, vx=vx, vy=vy, vyaw=vyaw, duration=motion.duration_s,
                                request_id=self.request.request_id, index=parsed.index,
                                image_stamp=self.request.image_stamp)
        out.action = LocomotionCommand.ACTION_STOP if motion.is_stop else LocomotionCommand.ACTION_MOVE
        out.header.stamp = now_stamp(self)
        out.header.frame_id = "base_link"
        self.commands_pub.publish(out)
        self.seq.submit(motion, int(self.request.request_id), replace=parsed.index == 0)

    # --- safety -------------------------------------------------------------------------------------
    def on_estop(self, reason: str) -> None:
        """E-stop: stop whatever streams or moves, and a zero Twist whatever the state."""
        self.get_logger().warning(f"E-STOP ({reason}): stop, zero Twist, no command until the bridge resumes")
        self.stop(f"e-stop ({reason})")
        self.publish_stop()
        self.publish_twist(STOP_MOTION)

    def on_link(self, msg: LinkStatus) -> None:
        if msg.state == LinkStatus.STATE_CONNECTED:
            self.deadman.link_ok()
        elif msg.state == LinkStatus.STATE_UNREACHABLE:
            self.deadman.link_lost(f"cloud unreachable: {msg.detail}")
            self.stop(f"cloud unreachable: {msg.detail}")

    def stop(self, reason: str) -> None:
        busy = self.streaming or not self.seq.idle
        self.streaming = False
        self.seq.stop()
        if busy:
            self.get_logger().warning(f"stopping: {reason}")
            self.publish_stop()
            if self.request is not None:
                self.pending_done.append(int(self.request.request_id))

    def publish_stop(self) -> None:
        out = LocomotionCommand(action=LocomotionCommand.ACTION_STOP, text="stop",
                                request_id=self.request.request_id if self.request else 0)
        if self.request is not None:
            out.image_stamp = self.request.image_stamp
        out.header.stamp = now_stamp(self)
        out.header.frame_id = "base_link"
        self.commands_pub.publish(out)

    def tick(self) -> None:
        now = self.now_s()
        if self.streaming or not self.seq.idle:
            event = self.deadman.check()
            if event is not None:
                self.stop(f"deadman ({event.reason}): {event.detail}")
        step = self.seq.step(now)
        if self.publish_cmd_vel and (step.motion is not None or step.stopped):
            self.publish_twist(step.motion or STOP_MOTION)
        if self.pending_done and self.seq.idle and not self.streaming:
            for request_id in dict.fromkeys(self.pending_done):
                self.done_pub.publish(UInt64(data=request_id))
            self.pending_done.clear()

    def publish_twist(self, m: Motion) -> None:
        twist = Twist()
        twist.linear.x, twist.linear.y, twist.angular.z = m.vx, m.vy, m.vyaw
        self.cmd_vel_pub.publish(twist)

    def close(self) -> None:
        """Shutdown: a stop command and a zero Twist, whatever the state, delivered before the node goes."""
        self.streaming = False
        self.seq.stop()
        self.get_logger().info("shutting down: stop command and zero Twist")
        self.publish_stop()
        self.publish_twist(STOP_MOTION)
        for publisher in (self.commands_pub, self.cmd_vel_pub):
            if not publisher.wait_for_all_acked(Duration(seconds=2.0)):
                self.get_logger().warning(f"shutdown stop on {publisher.topic_name} not acknowledged by every reader")


def main(args: list[str] | None = None) -> int:
    return run_node(MotionNode, args)


if __name__ == "__main__":
    main()
