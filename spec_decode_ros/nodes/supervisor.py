"""supervisor node: runs scored episodes of the closed loop on the fake Go2 (the demo's referee).

For each episode it pauses the loop (empty instruction) until nothing is in flight, loads the
episode's layout through the fake Go2's ResetLayout API, publishes that layout's instruction, then
watches the loop: the episode ends when a "stop" command has been executed, after ``max_steps``
answers, or after ``episode_timeout_s``. Success is the same as in ``sim.episode``: the loop said
stop and the robot's nose is within 0.5 m of the named landmark (ground truth from GetState).
Results go to ``results_path`` (JSON) and the log; the node exits when all episodes are done. Each
episode's result also carries what the report's pictures need and a bag lacks: the layout (landmarks,
target, start pose, in the fake Go2's world frame, which is its odometry frame) and the episode's
time window (``t_start_ns``, ``t_end_ns``, ROS time, as the bag's stamps).

Parameters: ``episodes``, ``first_seed``, ``split``, ``max_steps``, ``episode_timeout_s``,
``results_path``, ``go2_interface``, ``go2_domain_id``.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import rclpy
from rclpy.node import Node
from std_msgs.msg import String, UInt64

from spec_decode_ros import topics
from spec_decode_ros.control.grammar import CommandError, tokenize_answer
from spec_decode_ros.go2.channel import init_channel
from spec_decode_ros.msg import LocomotionCommand, TokenStream
from spec_decode_ros.nodes.common import LATCHED_QOS, RELIABLE_QOS, run_node
from spec_decode_ros.sim.scene import SUCCESS_DISTANCE


class Supervisor(Node):
    def __init__(self) -> None:
        super().__init__("supervisor")
        self.episodes = int(self.declare_parameter("episodes", 10).value)
        self.first_seed = int(self.declare_parameter("first_seed", 0).value)
        self.split = self.declare_parameter("split", "heldout").value
        self.max_steps = int(self.declare_parameter("max_steps", 15).value)
        self.timeout_s = float(self.declare_parameter("episode_timeout_s", 180.0).value)
        self.results_path = self.declare_parameter("results_path", "").value
        interface = self.declare_parameter("go2_interface", "lo").value
        domain = int(self.declare_parameter("go2_domain_id", 0).value)
        init_channel(interface, domain)
        from spec_decode_ros.sim.fake_go2_client import FakeGo2Client

        self.go2 = FakeGo2Client(timeout_s=5.0)
        self.instruction_pub = self.create_publisher(String, topics.INSTRUCTION, LATCHED_QOS)
        self.create_subscription(TokenStream, topics.TOKENS, self.on_tokens, RELIABLE_QOS)
        self.create_subscription(LocomotionCommand, topics.EXECUTED, self.on_executed, RELIABLE_QOS)
        self.create_subscription(LocomotionCommand, topics.MOTION, self.on_command, RELIABLE_QOS)
        self.create_subscription(UInt64, topics.MOTION_DONE, self.on_done, RELIABLE_QOS)
        self.cv = threading.Condition()
        self.in_flight: set[int] = set()  # requests whose tokens started but not ended
        self.answered: list[int] = []  # requests whose answer is complete
        self.answers: dict[int, str] = {}
        self.stop_commands: set[int] = set()  # requests for which the motion node issued a stop command
        self.done_up_to = 0
        self.results: list[dict[str, Any]] = []
        self.finished = False
        self.thread = threading.Thread(target=self.run_episodes, name="supervisor", daemon=True)
        self.thread.start()

    # --- what the loop does ----------------------------------------------------------------------
    def on_tokens(self, msg: TokenStream) -> None:
        with self.cv:
            rid = int(msg.request_id)
            self.answers[rid] = self.answers.get(rid, "") + msg.text
            if msg.final:
                self.in_flight.discard(rid)
                self.answered.append(rid)
            else:
                self.in_flight.add(rid)
            self.cv.notify_all()

    def on_command(self, msg: LocomotionCommand) -> None:
        if msg.action == LocomotionCommand.ACTION_STOP and msg.text.strip(". ") == "stop":
            with self.cv:
                self.stop_commands.add(int(msg.request_id))
                self.cv.notify_all()

    def model_stopped(self, first_request: int) -> int | None:
        """The latest request since ``first_request`` whose stop command is the model's own "stop" (its answer says
        so); the motion node's safety stops (a stale link, a deadman) carry the same command text but no such
        answer. Called under ``self.cv``; the answer's tokens and the command may arrive in either order."""
        rids = [r for r in self.stop_commands if r >= first_request and answer_says_stop(self.answers.get(r, ""))]
        return max(rids, default=None)

    def on_executed(self, msg: LocomotionCommand) -> None:
        with self.cv:
            self.cv.notify_all()

    def on_done(self, msg: UInt64) -> None:
        with self.cv:
            self.done_up_to = max(self.done_up_to, int(msg.data))
            self.cv.notify_all()

    def wait_for_loop(self, timeout_s: float) -> None:
        """Wait until the draft node listens for instructions and the motion/bridge nodes publish."""
        deadline = time.monotonic() + timeout_s
        while not (self.instruction_pub.get_subscription_count() > 0 and self.count_publishers(topics.TOKENS) > 0
                   and self.count_publishers(topics.EXECUTED) > 0):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the loop's nodes did not come up within {timeout_s:.0f} s")
            time.sleep(0.1)

    # --- episodes --------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        self.instruction_pub.publish(String(data=text))

    def quiesce(self, timeout_s: float = 60.0) -> None:
        """Pause the loop and wait until no request is in flight and every answer has been executed."""
        self.say("")
        with self.cv:
            self.cv.wait_for(lambda: not self.in_flight and (not self.answered or self.done_up_to >= max(self.answered)),
                             timeout=timeout_s)

    def run_episode(self, index: int) -> dict[str, Any]:
        seed = self.first_seed + index
        self.quiesce()
        self.go2.reset_layout(seed, self.split)
        state = self.go2.get_state()
        layout = {"landmarks": [{k: lm[k] for k in ("color", "shape", "x", "y", "size")} for lm in state["landmarks"]],
                  "target": state["target"], "start_pose": state["pose"]}
        with self.cv:
            first_request = max(self.answered, default=0) + 1
            self.stop_commands.clear()
        t0 = time.monotonic()
        t_start_ns = self.get_clock().now().nanoseconds
        self.say(state["instruction"])
        with self.cv:
            self.cv.wait_for(lambda: ((stopped := self.model_stopped(first_request)) is not None
                                      and self.done_up_to >= stopped)
                             or sum(r >= first_request for r in self.answered) >= self.max_steps
                             or not rclpy.ok(), timeout=self.timeout_s)
            steps = sorted(r for r in self.answered if r >= first_request)
            said_stop = self.model_stopped(first_request) is not None
            answers = [self.answers.get(r, "") for r in steps]
        self.say("")
        t_end_ns = self.get_clock().now().nanoseconds
        state = self.go2.get_state()
        target = state["landmarks"][state["target"]]
        success = said_stop and target["distance"] <= SUCCESS_DISTANCE
        return {"episode": index, "seed": seed, "instruction": state["instruction"], "success": success,
                "said_stop": said_stop, "distance_m": round(target["distance"], 3), "steps": len(steps),
                "seconds": round(time.monotonic() - t0, 2), "answers": answers, "layout": layout,
                "final_pose": state["pose"], "t_start_ns": t_start_ns, "t_end_ns": t_end_ns}

    def run_episodes(self) -> None:
        try:
            self.go2.wait_ready(timeout_s=60.0)
            self.wait_for_loop(timeout_s=300.0)
            for i in range(self.episodes):
                result = self.run_episode(i)
                self.results.append(result)
                mark = "reached" if result["success"] else "missed"
                self.get_logger().info(
                    f"episode {i + 1}/{self.episodes} seed {result['seed']}: {result['instruction']!r} -> {mark} "
                    f"({result['distance_m']:.2f} m, {result['steps']} answers, {result['seconds']:.0f} s)")
        except Exception as err:  # report, then end the run: a referee that hangs helps nobody
            self.get_logger().error(f"supervisor failed: {err!r}\n{traceback.format_exc()}")
        finally:
            if self.results_path:
                Path(self.results_path).write_text(json.dumps({"episodes": self.results}, indent=2))
            self.finished = True


def answer_says_stop(answer: str) -> bool:
    """Whether an answer's text (as far as it has streamed) holds the command word "stop"."""
    try:
        return "stop" in tokenize_answer(answer)
    except CommandError:
        return False


def main(args: list[str] | None = None) -> int:
    return run_node(Supervisor, args)


if __name__ == "__main__":
    main()
