"""go2_bridge node: locomotion commands → ``SportClient.Move(vx, vy, vyaw)`` held for each
command's duration (re-sent at ``rate_hz``: the Go2 holds a Move for only about a second; motions start and
end on a ``control_hz`` clock, so a 30 deg turn at 1 rad/s is not 6 deg long at a 10 Hz tick), and an
explicit ``StopMove()`` when a command ends, on a stop command, on cloud loss, when the link's
heartbeat goes stale (deadman) and at shutdown. The Go2's sport-mode state becomes ``nav_msgs/Odometry`` on
``odom`` (``nodes.odometry``, whose parameters this node declares too).

Each command is re-published on ``go2/executed`` when it ends, stamped when its first Move was sent (for
latency analysis), with what was actually done: the velocity that covered, by odometry, the distance and
the angle it covered, held for the seconds it ran (without a sport state: the velocity sent).

Safety (the bridge trusts no publisher; docs/safety.md):

- every move is checked by ``control.command_check`` first: a NaN/inf velocity or duration, or a duration
  that is not positive, is refused with an error log line and never reaches ``Move``; velocities are
  clamped to the lab's caps (``max_vx``, ``max_vy``, ``max_vyaw``, never above the Go2 sport ranges of
  ``control.limits``), the duration to ``max_duration_s`` (never above the longest grammatical command)
  and the walk to ``max_distance_m``, with one warning per command saying what changed;
- ``control.motion_gate``: nothing is sent to Move unless armed (``armed_at_start``, the ``arm`` /
  ``disarm`` services), the e-stop is released and no operator ``lock`` holds the VLM off. The e-stop
  (``estop`` input true, or the ``estop/stop`` service) sends ``StopMove`` at once, ``Damp`` after
  ``estop_damp_after_s`` (< 0: never) and refuses every command until the ``estop/resume`` service;
  the state is published latched on ``estop/state`` (and arming on ``armed``);
- Move only a ready robot (``go2.modes``): the sport state must be fresh (``state_timeout_s``), its mode
  in ``ready_modes`` and its body height at least ``min_body_height_m``; otherwise the command is
  dropped (one log line) and a motion under way is stopped;
- walks and turns end when odometry says the distance or the angle is covered (``motion_end:
  odometry``), within ``odometry_time_factor`` times their nominal duration (never above
  ``max_duration_s``); ``motion_end: timed`` keeps the timed motions for robots without odometry;
- only a CONNECTED ``LinkStatus`` re-arms the bridge after an UNREACHABLE one (commands do not). A
  ``StopMove`` that fails is retried every ``1 / rate_hz`` until it succeeds (each failure logged; no
  Move is sent meanwhile), at shutdown too, until it succeeds or the process is killed.

``velocity_output: cmd_vel`` hands the velocities to twist_mux as ``geometry_msgs/Twist`` on
``cmd_vel_vlm`` (a stop is a zero Twist; config/twist_mux/twist_mux.yaml) instead of calling ``SportClient``.

Parameters: ``network_interface`` ("eth0" on the robot, "lo" for the fake Go2), ``go2_domain_id``
(0 on the robot), ``rate_hz`` (Move re-send), ``control_hz`` (motion start/end resolution),
``deadman_s`` (``control.deadman.Deadman``: stop when no LinkStatus CONNECTED or command for this long,
or when motions outlast their duration by this much), ``require_link`` (False: only the latter),
``state_topic``, and the safety ones above.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from builtin_interfaces.msg import Time
from geometry_msgs.msg import Twist
from rclpy.node import Node
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from spec_decode_ros import topics
from spec_decode_ros.control.command_check import CommandRefused, check_move, longest_command_s
from spec_decode_ros.control.deadman import STALE, Deadman
from spec_decode_ros.control.limits import get_limits
from spec_decode_ros.control.motion_gate import MotionGate
from spec_decode_ros.control.odometry_progress import MotionProgress, Pose
from spec_decode_ros.control.primitives import STOP_MOTION, Motion
from spec_decode_ros.control.sequencer import MotionSequencer
from spec_decode_ros.go2.modes import MIN_BODY_HEIGHT_M, READY_MODES, not_ready_reason
from spec_decode_ros.go2.state import SPORT_STATE_TOPIC, Go2StateSubscriber, SportState
from spec_decode_ros.msg import LinkStatus, LocomotionCommand
from spec_decode_ros.nodes.common import RELIABLE_QOS, control_clock, now_stamp, run_node
from spec_decode_ros.nodes.odometry import OdometryPublisher
from spec_decode_ros.nodes.qos import publisher_qos, subscribe_state
from spec_decode_ros.nodes.safety_io import INPUT_QOS, declare_lab_limits

MOTION_ENDS = ("odometry", "timed")
VELOCITY_OUTPUTS = ("sport", "cmd_vel")


@dataclass(frozen=True)
class Order:
    """A checked command: the message it came from and the motion it asks for (the goal odometry closes on)."""

    msg: LocomotionCommand
    goal: Motion


@dataclass
class Running:
    """The motion being executed: its order, when its first Move went out, and its odometry (if any)."""

    order: Order
    started: float  # the bridge's control clock (now_s)
    stamp: Time
    progress: MotionProgress | None


class TwistOutput:
    """``velocity_output: cmd_vel``: Move and StopMove as Twists for twist_mux (a stop is a zero Twist)."""

    def __init__(self, node: Node) -> None:
        self.publisher = node.create_publisher(Twist, topics.CMD_VEL_VLM, publisher_qos(topics.CMD_VEL_VLM))

    def move(self, vx: float, vy: float, vyaw: float) -> None:
        twist = Twist()
        twist.linear.x, twist.linear.y, twist.angular.z = float(vx), float(vy), float(vyaw)
        self.publisher.publish(twist)

    def stop_move(self) -> None:
        self.publisher.publish(Twist())

    def damp(self) -> None:
        raise RuntimeError("Damp needs the SportClient (velocity_output: sport)")


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
        hardware = get_limits("go2_sport")
        lab = declare_lab_limits(self)
        self.limits = lab.under(hardware)
        self.max_duration_s = min(lab.max_duration_s, longest_command_s(hardware))
        self.max_distance_m = lab.max_distance_m
        self.gate = MotionGate(armed=bool(self.declare_parameter("armed_at_start", False).value))
        self.damp_after_s = float(self.declare_parameter("estop_damp_after_s", -1.0).value)
        self.require_ready = bool(self.declare_parameter("require_ready", True).value)
        self.ready_modes = tuple(int(m) for m in self.declare_parameter("ready_modes", list(READY_MODES)).value)
        self.min_body_height_m = float(self.declare_parameter("min_body_height_m", MIN_BODY_HEIGHT_M).value)
        self.state_timeout_s = float(self.declare_parameter("state_timeout_s", 0.5).value)
        self.motion_end = self.declare_parameter("motion_end", "odometry").value
        self.time_factor = float(self.declare_parameter("odometry_time_factor", 2.0).value)
        output = self.declare_parameter("velocity_output", "sport").value
        state_topic = self.declare_parameter("state_topic", SPORT_STATE_TOPIC).value
        if self.motion_end not in MOTION_ENDS or output not in VELOCITY_OUTPUTS or self.time_factor < 1:
            raise ValueError(f"need motion_end in {MOTION_ENDS}, velocity_output in {VELOCITY_OUTPUTS} and "
                             f"odometry_time_factor >= 1, got {self.motion_end!r}, {output!r}, {self.time_factor}")
        self.stop_pending = False  # a StopMove is owed to the robot (the last one failed, or none was sent yet)
        self.next_stop_try = float("-inf")
        if output == "sport":
            from spec_decode_ros.go2.clients import Go2Sport

            self.sport: Go2Sport | TwistOutput = Go2Sport(interface, domain_id=domain)
        else:
            self.sport = TwistOutput(self)
        self.odometry = OdometryPublisher(self)
        self.state: Go2StateSubscriber | None = None
        if self.odometry.enabled or self.require_ready or self.motion_end == "odometry":
            self.state = Go2StateSubscriber(interface, domain, on_state=self.odometry.on_state, topic=state_topic)
        self.seq: MotionSequencer[Order] = MotionSequencer()
        self.running: Running | None = None
        self.request_id: int | None = None
        self.last_refusal: tuple[int, str] | None = None  # (request id, reason) last logged: one line per command
        self.damp_timer = None
        self.now_s = control_clock(self)  # simulated seconds under use_sim_time, else monotonic
        self.deadman = Deadman(command_timeout_s=self.deadman_s, link_timeout_s=self.deadman_s, clock=self.now_s)
        self.executed_pub = self.create_publisher(LocomotionCommand, topics.EXECUTED, RELIABLE_QOS)
        self.estop_pub = self.create_publisher(Bool, topics.ESTOP_STATE, publisher_qos(topics.ESTOP_STATE))
        self.armed_pub = self.create_publisher(Bool, topics.ARMED, publisher_qos(topics.ARMED))
        self.create_subscription(Bool, topics.ESTOP, self.on_estop_input, INPUT_QOS)
        self.create_subscription(Bool, topics.LOCK, self.on_lock, INPUT_QOS)
        self.create_subscription(LocomotionCommand, topics.MOTION, self.on_command, RELIABLE_QOS)
        subscribe_state(self, LinkStatus, topics.LINK, self.on_link)
        self.create_service(Trigger, topics.ESTOP_STOP_SERVICE, self.on_estop_service)
        self.create_service(Trigger, topics.ESTOP_RESUME_SERVICE, self.on_resume)
        self.create_service(Trigger, topics.ARM_SERVICE, lambda _req, res: self.set_armed(True, res))
        self.create_service(Trigger, topics.DISARM_SERVICE, lambda _req, res: self.set_armed(False, res))
        self.publish_gate()
        self.create_timer(1.0 / control, self.tick)
        self.get_logger().info(
            f"Go2 {output} output on {interface}; deadman {self.deadman_s} s; caps vx {self.limits.vx_max:g} m/s, "
            f"vy {self.limits.vy_max:g} m/s, vyaw {self.limits.vyaw_max:g} rad/s, {self.max_duration_s:g} s, "
            f"{self.max_distance_m:g} m; motions end by {self.motion_end}; "
            f"{'armed' if self.gate.armed else 'NOT armed: call the arm service to move'}")

    # --- commands -------------------------------------------------------------------------------------
    def on_command(self, msg: LocomotionCommand) -> None:
        if msg.action == LocomotionCommand.ACTION_STOP:
            self.seq.submit(STOP_MOTION, Order(msg, STOP_MOTION), replace=True)
        elif msg.action == LocomotionCommand.ACTION_MOVE:
            try:
                checked = check_move(msg.vx, msg.vy, msg.vyaw, msg.duration, self.limits, self.max_duration_s,
                                     self.max_distance_m)
            except CommandRefused as err:
                self.get_logger().error(f"refusing command {msg.text!r} of request {msg.request_id}: {err}")
                return
            if checked.notes:
                self.get_logger().warning(f"command {msg.text!r} of request {msg.request_id}: {checked.summary}")
            blocked = self.blocked()
            if blocked is not None:
                self.refuse(msg, blocked)
                return
            self.seq.submit(self.bounded(checked.motion), Order(msg, checked.motion),
                            replace=msg.request_id != self.request_id)
        else:
            self.get_logger().error(f"ignoring command with unknown action {msg.action!r}")
            return
        self.request_id = msg.request_id
        # only a CONNECTED LinkStatus re-arms the link: a command may come after the cloud was reported lost
        self.deadman.command(self.seq.remaining_s(self.now_s()))
        self.tick()

    def bounded(self, motion: Motion) -> Motion:
        """The motion as executed: with odometry it may run up to ``odometry_time_factor`` x its duration
        (a slow robot still covers the distance), never past ``max_duration_s``; timed, as it is."""
        if self.motion_end == "timed":
            return motion
        bound = max(motion.duration_s, min(motion.duration_s * self.time_factor, self.max_duration_s))
        return Motion(motion.vx, motion.vy, motion.vyaw, bound)

    def refuse(self, msg: LocomotionCommand, reason: str) -> None:
        """Drop a command nothing may execute now; one log line per command and reason."""
        key = (int(msg.request_id), reason.split(":")[0].split("(")[0])
        if key != self.last_refusal:
            self.last_refusal = key
            self.get_logger().warning(f"no Move for {msg.text!r} of request {msg.request_id}: {reason}")

    # --- what may move ---------------------------------------------------------------------------------
    def blocked(self) -> str | None:
        """Why nothing may be sent to Move now (None: free), gate first, then the robot's readiness."""
        gated = self.gate.blocked()
        if gated is not None or not self.require_ready:
            return gated
        state, age = self.fresh_state()
        if state is None:
            return f"not ready: no sport state for {age:.1f} s (limit {self.state_timeout_s} s)"
        reason = not_ready_reason(state.mode, state.body_height, self.ready_modes, self.min_body_height_m)
        return None if reason is None else f"not ready: {reason}"

    def fresh_state(self) -> tuple[SportState | None, float]:
        """The newest sport state if it is younger than ``state_timeout_s`` (else None), and its age."""
        state, age = self.state.latest_with_age() if self.state is not None else (None, float("inf"))
        return (state if age <= self.state_timeout_s else None), age

    def pose(self) -> Pose | None:
        state, _ = self.fresh_state()
        return None if state is None else (state.position[0], state.position[1], state.yaw)

    # --- e-stop, arming, lock --------------------------------------------------------------------------
    def on_estop_input(self, msg: Bool) -> None:
        if msg.data:
            self.estop(f"{topics.ESTOP} input")

    def on_estop_service(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.estop(f"{topics.ESTOP_STOP_SERVICE} service")
        response.success, response.message = True, "e-stop engaged: StopMove sent; resume to move again"
        return response

    def estop(self, reason: str) -> None:
        """StopMove at once (every time: a held button keeps stopping), latch, Damp later if asked."""
        newly = self.gate.estop(reason)
        self.seq.stop()
        self.stop_pending = True
        self.try_stop_move()
        if newly:
            self.get_logger().warning(f"E-STOP ({reason}): every command refused until {topics.ESTOP_RESUME_SERVICE}")
            self.publish_gate()
            if self.damp_after_s >= 0:
                self.damp_timer = self.create_timer(self.damp_after_s, self.damp)

    def damp(self) -> None:
        self.cancel_damp()
        if not self.gate.estopped:
            return
        try:
            self.sport.damp()
            self.get_logger().warning("e-stop: Damp")
        except Exception as err:  # logged; the StopMove already went out
            self.get_logger().error(f"Damp failed: {err!r}")

    def cancel_damp(self) -> None:
        if self.damp_timer is not None:
            self.damp_timer.cancel()
            self.destroy_timer(self.damp_timer)
            self.damp_timer = None

    def on_resume(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        was = self.gate.resume()
        self.cancel_damp()
        self.publish_gate()
        if was:
            self.get_logger().warning("e-stop released (resume): commands are accepted again")
        response.success = True
        response.message = "e-stop released" if was else "e-stop was not engaged"
        return response

    def set_armed(self, armed: bool, response: Trigger.Response) -> Trigger.Response:
        self.gate.armed = armed
        if not armed:
            self.seq.stop()
            self.tick()
        self.publish_gate()
        self.get_logger().warning("armed: commands may move the robot" if armed else "disarmed: nothing moves")
        response.success, response.message = True, "armed" if armed else "disarmed"
        return response

    def on_lock(self, msg: Bool) -> None:
        if msg.data != self.gate.locked:
            self.get_logger().warning("lock: the VLM is paused" if msg.data else "lock released")
        self.gate.locked = bool(msg.data)
        if msg.data and not self.seq.idle:
            self.seq.stop()
            self.tick()

    def publish_gate(self) -> None:
        self.estop_pub.publish(Bool(data=self.gate.estopped))
        self.armed_pub.publish(Bool(data=self.gate.armed))

    # --- link -------------------------------------------------------------------------------------------
    def on_link(self, msg: LinkStatus) -> None:
        if msg.state == LinkStatus.STATE_CONNECTED:
            self.deadman.link_ok()
        elif msg.state == LinkStatus.STATE_UNREACHABLE:
            self.deadman.link_lost(f"cloud unreachable: {msg.detail}")
            if not self.seq.idle:
                self.get_logger().warning(f"cloud unreachable ({msg.detail}): stopping")
                self.seq.stop()
                self.tick()

    # --- the control loop -------------------------------------------------------------------------------
    def tick(self) -> None:
        now = self.now_s()
        if not self.seq.idle:
            event = self.deadman.check()
            if event is not None and (self.require_link or event.reason == STALE):
                self.get_logger().warning(f"deadman ({event.reason}): {event.detail}: stopping")
                self.seq.stop()
            blocked = self.blocked()
            if blocked is not None:  # drop what is queued; a StopMove is always allowed, and owed
                order = self.seq.active_tag or (self.running.order if self.running else None)
                if order is not None:
                    self.refuse(order.msg, blocked)
                self.seq.stop()
                self.stop_pending, self.next_stop_try = True, now
        if self.running is not None and self.running.progress is not None:
            pose = self.pose()
            if pose is not None:
                self.running.progress.update(pose)
                if self.motion_end == "odometry" and self.running.progress.reached:
                    self.seq.end_active(now)
        step = self.seq.step(now)
        if self.running is not None and (step.started or step.motion is None):
            self.report(self.running, now)
            self.running = None
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
                pose = self.pose()  # timed motions are measured too: go2/executed says what was done
                progress = MotionProgress(step.tag.goal, pose) if pose is not None else None
                self.running = Running(step.tag, now, now_stamp(self), progress)

    def report(self, running: Running, now: float) -> None:
        """``go2/executed``: the command, stamped at its first Move, with what was actually done."""
        elapsed = now - running.started
        if running.progress is not None:
            pose = self.pose()
            if pose is not None:
                running.progress.update(pose)
            done = running.progress.done(elapsed)
        else:
            sent = running.order.goal
            done = Motion(sent.vx, sent.vy, sent.vyaw, min(elapsed, sent.duration_s))
        executed = running.order.msg
        executed.header.stamp = running.stamp
        executed.vx, executed.vy, executed.vyaw, executed.duration = done.vx, done.vy, done.vyaw, done.duration_s
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
        if self.state is not None:
            self.state.close()  # after the StopMove: nothing may delay or prevent that


def main(args: list[str] | None = None) -> int:
    return run_node(Go2Bridge, args)


if __name__ == "__main__":
    main()
