"""draft node (on the robot): the latest camera image + the current instruction → speculative
decoding against the cloud verifier (``bridge.edge.EdgeSession``) → every committed token on
``decoder/tokens`` as soon as it is final, statistics on ``decoder/stats``, link health on
``decoder/link`` (latched; UNREACHABLE makes the motion and Go2 bridge nodes stop the robot).

When a request starts, and the heartbeats between requests, are ``control.draft_worker.DraftWorker``'s to
decide (on its own thread): it waits for an instruction, for the previous answer to have been executed
(``motion/done``, when ``wait_for_idle``; a done that came early counts, and after ``done_timeout_s``
without one the wait is given up, logged) and for an image captured ``settle_s`` after that; between
requests it pings the cloud every ``heartbeat_s``. This node keeps the ROS side: parameters,
subscriptions, one ``EdgeSession`` per request and the publishers.

Safety: nothing is asked until an instruction arrives (the default ``instruction`` is empty; the simulated
demo sets one). A new instruction (by id, whatever its text) is answered only on an image captured
``settle_s`` after it arrived, and the rest of an answer to an earlier one is not published (an empty final
message closes it). The e-stop (``estop`` input, or the Go2 bridge's latched ``estop/state``) and an
operator's ``lock`` (std_msgs/Bool) start no new request, and cut the answer under way the same way.

Parameters: ``cloud_endpoint``, ``draft_model`` ("embedded" or a model folder), ``mode``
(cloud_ar | edge_only | sd | sd_ee | sd_ee_predraft | auto: per answer, the mode and γ the cost model predicts
fastest from what the robot measured, ``bridge.auto_mode``; each answer's choice and why go in ``decoder/stats``),
``auto_objective`` (with auto, what fastest means: balanced, the worse of the answer's and the first command's
ratio to the fastest prediction | answer | first_command), ``gamma`` (auto: γ before anything is measured, and the
largest it picks is max(γ, 8)), ``adaptive_gamma``,
``max_new_tokens``, ``instruction`` (default; the ``instruction`` topic overrides, "" pauses),
``server_public_key``/``client_secret_key`` (CURVE key files, "" = plain: loopback only, unless
``insecure_plaintext`` is true), ``request_timeout_s``,
``heartbeat_s``, ``wait_for_idle``, ``settle_s``, ``done_timeout_s``, ``dtype`` (auto | float32 | bfloat16 | float16;
auto: bfloat16 on a CUDA GPU that supports it, else float32) and ``device`` (auto | cpu | cuda | cuda:N) of the draft
model; ``threads`` (torch CPU threads, 0: torch's default; 1 where the draft shares few cores with a simulator and a
local verifier, whose spinning threads would otherwise slow each other). ``new_draft`` makes the draft sessions (a
plain ``DraftSession`` by default; ``spec_decode_ros/bench/emulated_draft_node.py`` passes paced ones, a slower robot
computer emulated).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from builtin_interfaces.msg import Time
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Bool, String, UInt64

from spec_decode_ros import topics
from spec_decode_ros.bridge.auto_mode import AutoMode
from spec_decode_ros.bridge.client import CloudClient, CloudError, CloudUnreachableError
from spec_decode_ros.bridge.edge import EdgeConfig, EdgeResult, EdgeSession, RoundEvent, TokenEvent
from spec_decode_ros.bridge.security import ClientSecurity
from spec_decode_ros.control.command_timing import command_times, text_deltas
from spec_decode_ros.control.draft_worker import DraftWorker
from spec_decode_ros.control.link_monitor import CONNECTED, LinkUpdate
from spec_decode_ros.control.request_gate import RequestGate
from spec_decode_ros.decoding import precision
from spec_decode_ros.decoding.mode import AUTO, MODE_CHOICES, Mode
from spec_decode_ros.decoding.mode_choice import Choice
from spec_decode_ros.decoding.predraft import PredraftPolicy
from spec_decode_ros.decoding.types import Prompt, SpecMetrics
from spec_decode_ros.msg import DecodeStats, LinkStatus, TokenStream
from spec_decode_ros.nodes.camera import image_to_rgb
from spec_decode_ros.nodes.common import LATCHED_QOS, RELIABLE_QOS, SENSOR_QOS, now_stamp, run_node, time_to_ns
from spec_decode_ros.nodes.qos import subscribe_state
from spec_decode_ros.nodes.safety_io import INPUT_QOS, EStopFollower

SAME_MESSAGE_S = 0.5  # an instruction in the same words within this is the other subscription's copy

if TYPE_CHECKING:
    from spec_decode_ros.decoding.draft import DraftFactory


class DraftNode(Node):
    def __init__(self, new_draft: DraftFactory | None = None) -> None:
        super().__init__("draft")
        self.endpoint = self.declare_parameter("cloud_endpoint", "tcp://127.0.0.1:5555").value
        model_name = self.declare_parameter("draft_model", "embedded").value
        self.mode = self.declare_parameter("mode", "sd_ee_predraft").value
        objective = str(self.declare_parameter("auto_objective", "balanced").value)  # with mode auto
        gamma = int(self.declare_parameter("gamma", 4).value)
        adaptive = bool(self.declare_parameter("adaptive_gamma", False).value)
        max_new = int(self.declare_parameter("max_new_tokens", 24).value)
        instruction = self.declare_parameter("instruction", "").value
        server_key = self.declare_parameter("server_public_key", "").value
        client_key = self.declare_parameter("client_secret_key", "").value
        insecure = bool(self.declare_parameter("insecure_plaintext", False).value)
        timeout = float(self.declare_parameter("request_timeout_s", 3.0).value)
        heartbeat_s = float(self.declare_parameter("heartbeat_s", 0.5).value)
        wait_for_idle = bool(self.declare_parameter("wait_for_idle", True).value)
        settle_ns = int(float(self.declare_parameter("settle_s", 0.2).value) * 1e9)
        done_timeout = float(self.declare_parameter("done_timeout_s", 30.0).value)
        dtype = str(self.declare_parameter("dtype", precision.DEFAULT_DTYPE).value)
        device = str(self.declare_parameter("device", precision.DEFAULT_DEVICE).value)
        threads = int(self.declare_parameter("threads", 0).value)
        constrain = str(self.declare_parameter("constrain", "grammar").value)  # grammar | none
        self.system_prompt = str(self.declare_parameter("system_prompt", "").value) or None

        from spec_decode_ros.decoding.models import load_model
        from spec_decode_ros.embedded import model_path

        if threads > 0:
            import torch

            torch.set_num_threads(threads)
        self.draft = load_model(model_path(model_name, "draft"), dtype=dtype, device=device)
        if constrain == "grammar":  # compiled now, not at the first request
            from spec_decode_ros.decoding.constraint import GrammarConstraint

            GrammarConstraint.for_model(self.draft)
        if self.mode not in MODE_CHOICES:
            raise ValueError(f"mode must be one of {MODE_CHOICES}, got {self.mode!r}")
        self.config = EdgeConfig(mode=Mode.SD_EE_PREDRAFT if self.mode == AUTO else self.mode, gamma=gamma,
                                 adaptive_gamma=adaptive, max_new_tokens=max_new, reply_timeout_s=timeout,
                                 reconnect_timeout_s=timeout, constrain=constrain)
        self.auto = AutoMode(self.config, objective=objective) if self.mode == AUTO else None
        self.new_draft = new_draft
        self.predraft_policy = PredraftPolicy()  # what pre-drafting gains here, learnt across requests
        security = ClientSecurity(Path(client_key), Path(server_key)) if server_key else None
        if bool(server_key) != bool(client_key):
            raise ValueError("server_public_key and client_secret_key go together (CURVE needs both)")
        self.client = CloudClient(self.endpoint, security=security, insecure_plaintext=insecure) if self.config.mode.needs_cloud else None

        self.tokens_pub = self.create_publisher(TokenStream, topics.TOKENS, RELIABLE_QOS)
        self.stats_pub = self.create_publisher(DecodeStats, topics.STATS, RELIABLE_QOS)
        self.link_pub = self.create_publisher(LinkStatus, topics.LINK, LATCHED_QOS)
        self.worker: DraftWorker[Image] = DraftWorker(
            decode=self.decode, stamp_ns=lambda image: time_to_ns(image.header.stamp), publish_link=self.publish_link,
            cloud=self.client, instruction=instruction, heartbeat_s=heartbeat_s, wait_for_idle=wait_for_idle,
            gate=RequestGate(settle_ns=settle_ns, done_timeout_s=done_timeout), warn=self.get_logger().warning,
            on_rtt=self.auto.observe_rtt if self.auto is not None else None)
        self.create_subscription(Image, topics.CAMERA_IMAGE, self.worker.image, SENSOR_QOS)
        subscribe_state(self, String, topics.INSTRUCTION, self.on_instruction)  # `ros2 topic pub` and latched
        self.create_subscription(UInt64, topics.MOTION_DONE,
                                 lambda msg: self.worker.done(int(msg.data), self.get_clock().now().nanoseconds),
                                 RELIABLE_QOS)
        self.estop = EStopFollower(self, on_engage=lambda reason: self.hold("e-stop", True, reason),
                                   on_release=lambda: self.hold("e-stop", False, "released"))
        self.create_subscription(Bool, topics.LOCK, lambda msg: self.hold("lock", msg.data, topics.LOCK), INPUT_QOS)
        self.last_instruction: tuple[str, float] = ("", float("-inf"))  # text and arrival (monotonic s)
        # the worker starts on the node's first timer tick: under use_sim_time, once /clock runs (before it, the
        # node's clock reads 0 and the first link report or request would be stamped 0)
        self.start_timer = self.create_timer(0.01, self.start_worker)
        self.get_logger().info(f"draft {self.draft.name}, mode {self.mode}, constrain {constrain}, "
                               f"cloud {self.endpoint}")

    def start_worker(self) -> None:
        self.start_timer.cancel()
        if not self.worker.is_alive():
            self.worker.start()

    def on_instruction(self, msg: String) -> None:
        """A new task, even in the same words (answers are tied to it by id): only the second delivery of one
        message (it comes on both subscriptions of a state topic, within milliseconds) is no news."""
        text, now = msg.data.strip(), time.monotonic()
        last_text, last_at = self.last_instruction
        self.last_instruction = (text, now)
        if text == last_text and now - last_at < SAME_MESSAGE_S:
            return
        self.worker.new_instruction(msg.data, self.get_clock().now().nanoseconds)
        self.get_logger().info(f"instruction: {msg.data.strip()!r}")

    def hold(self, name: str, on: bool, why: str) -> None:
        self.worker.hold(name, on)
        self.get_logger().warning(f"{name}: {'no new request' if on else 'requests may start again'} ({why})")

    def decode(self, request_id: int, image: Image, instruction: str) -> bool:
        """Answer one request (the worker's thread), publishing as it goes; True when the answer is complete."""
        image_stamp, link = image.header.stamp, self.worker.link
        started = (now_stamp(self), time.monotonic())  # the request's start: ROS time, and the rounds' clock
        sent_text, last_round, cut = "", 0, False
        config, choice = self.auto.next() if self.auto is not None else (self.config, None)
        rounds: list[RoundEvent] = []

        def on_token(event: TokenEvent) -> None:
            nonlocal sent_text, last_round, cut
            if cut or not self.worker.answer_current():
                if not cut:
                    self.get_logger().warning(f"request {request_id}: a new instruction, the e-stop or a lock came: "
                                              "the rest of this answer is not published")
                cut = True
                return
            text = self.draft.tokenizer.decode(session.committed[: event.index + 1], skip_special_tokens=True)
            delta, sent_text, last_round = text[len(sent_text):], text, event.round
            self.publish_tokens(request_id, event.round, [event.token], delta, False, image_stamp)
            self.publish_link(link.token())

        def on_round(event: RoundEvent) -> None:
            rounds.append(event)
            self.publish_stats(request_id, event, session.metrics, image_stamp, started, config, choice)
            self.publish_link(link.verdict(event.final_s * 1e3))

        session = EdgeSession(self.client, self.draft, Prompt(text=instruction, image=image_to_rgb(image),
                                                                  system=self.system_prompt),
                              config, on_token=on_token, on_round=on_round, tokenizer=self.draft.tokenizer,
                              on_status=lambda status: self.publish_link(link.transport(status)),
                              new_draft=self.new_draft, predraft_policy=self.predraft_policy)
        try:
            result = session.run()
        except CloudUnreachableError as err:
            self.publish_link(link.lost(str(err)))
        except CloudError as err:
            self.get_logger().error(f"request {request_id} refused by the cloud: {err}")
        else:
            self.publish_tokens(request_id, last_round, [], "", True, image_stamp)
            self.get_logger().info(f"request {request_id}: {result.text!r} in {result.latency_s * 1000:.0f} ms "
                                   f"({len(result.tokens)} tokens{', cut' if cut else ''}, {config.mode.value}"
                                   f"{'' if choice is None else ', ' + choice.why})")
            if self.auto is not None and choice is not None:
                self.auto.record(choice, rounds, result, lambda: self.first_command_s(result))  # read at the ping
            return not cut  # a cut answer moves nothing to wait for
        self.publish_tokens(request_id, last_round, [], "", True, image_stamp)
        return False

    def first_command_s(self, result: EdgeResult) -> float | None:
        """When the answer's first command was complete, as the motion node's parser sees the stream."""
        def decode(ids: list[int]) -> str:
            return self.draft.tokenizer.decode(ids, skip_special_tokens=True)

        times = command_times(text_deltas(decode, result.tokens), result.token_times, result.latency_s)
        return times.first_command_s if times is not None else None

    # --- outputs -------------------------------------------------------------------------------------
    def publish_tokens(self, request_id: int, round_: int, ids: list[int], text: str, final: bool,
                       image_stamp: object) -> None:
        msg = TokenStream(request_id=request_id, round=round_, token_ids=ids, text=text, final=final,
                          image_stamp=image_stamp)
        msg.header.stamp = now_stamp(self)
        self.tokens_pub.publish(msg)

    def publish_stats(self, request_id: int, event: RoundEvent, m: SpecMetrics, image_stamp: object,
                      started: tuple[Time, float], config: EdgeConfig, choice: Choice | None) -> None:
        """This round's figures plus the request's running totals (vLLM-style names), where the round sits
        in its request (``started``: the request's start as a ROS stamp and on ``time.monotonic()``) and the
        answer's mode (with auto: the choice and the estimates behind it)."""
        request_stamp, started_at = started
        msg = DecodeStats(request_id=request_id, mode=config.mode.value, round=event.round, draft_tokens=event.gamma,
                          accepted_tokens=event.n_accepted, early_exit_sent=event.early_sent,
                          early_exit_hit=event.early_hit, draft_ms=event.draft_s * 1e3, early_ms=event.early_s * 1e3,
                          verify_ms=event.final_s * 1e3, server_ms=event.server_s * 1e3,
                          round_ms=event.round_s * 1e3, num_drafts=m.num_drafts, num_draft_tokens=m.num_draft_tokens,
                          num_accepted_tokens=m.num_accepted_tokens, num_committed_tokens=event.committed,
                          early_exit_hits=m.early_exit_hits, early_exit_misses=m.early_exit_misses,
                          acceptance_rate=float(m.acceptance_rate),
                          mean_acceptance_length=float(m.mean_acceptance_length), image_stamp=image_stamp,
                          request_stamp=request_stamp, sent_ms=(event.sent_at - started_at) * 1e3,
                          draft_prefill_ms=event.draft_prefill_s * 1e3, prefill_ms=event.prefill_s * 1e3,
                          queued_ms=event.queued_s * 1e3, requested_mode=self.mode,
                          gamma=config.gamma if config.mode.speculative else 0, **choice_fields(choice))
        msg.header.stamp = now_stamp(self)
        self.stats_pub.publish(msg)

    def publish_link(self, update: LinkUpdate | None) -> None:
        """Publish the link monitor's update (None: nothing new to say)."""
        if update is None:
            return
        state = LinkStatus.STATE_CONNECTED if update.state == CONNECTED else LinkStatus.STATE_UNREACHABLE
        msg = LinkStatus(state=state, endpoint=self.endpoint, detail=update.detail, rtt_ms=float(update.rtt_ms))
        msg.header.stamp = now_stamp(self)
        self.link_pub.publish(msg)

    def close(self) -> None:
        self.start_timer.cancel()
        self.worker.close()
        if self.client is not None:
            self.client.close()


def choice_fields(choice: Choice | None) -> dict[str, object]:
    """DecodeStats' mode-auto fields for ``choice`` (None: a fixed mode, all left at 0)."""
    if choice is None:
        return {}
    est = choice.estimates

    def ms(key: str) -> float:
        return 1e3 * float(est.get(key) or 0.0)

    def predicted(mode: Mode) -> float:
        p = choice.predicted(mode)
        return 1e3 * p.answer_s if p is not None else 0.0

    return {"explore": choice.explore, "why": choice.why, "predicted_ms": predicted(choice.mode),
            "predicted_cloud_ar_ms": predicted(Mode.CLOUD_AR), "predicted_sd_ms": predicted(Mode.SD),
            "predicted_sd_ee_ms": predicted(Mode.SD_EE), "predicted_sd_ee_predraft_ms": predicted(Mode.SD_EE_PREDRAFT),
            "est_rtt_ms": ms("rtt_s"), "est_verify_ms": ms("verify_s"), "est_ar_interval_ms": ms("ar_interval_s"),
            "est_draft_token_ms": ms("draft_token_s"), "est_acceptance": float(est.get("acceptance") or 0.0),
            "est_early_hit_rate": float(est.get("early_hit_rate") or 0.0),
            "est_late_fraction": float(est.get("late_fraction") or 0.0),
            "est_answer_tokens": float(est.get("answer_tokens") or 0.0)}


def main(args: list[str] | None = None, *, new_draft: DraftFactory | None = None) -> int:
    return run_node(lambda: DraftNode(new_draft), args)


if __name__ == "__main__":
    main()
