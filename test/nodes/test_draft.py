"""The draft node, as its own process against a real verifier process: every committed token is
published with its text and the camera frame's stamp, each round's statistics add up to the answer,
and the link status follows the cloud (connected, then unreachable once it is killed); the next request
waits for the previous answer's motion/done, which counts even when it came early, and not forever. The draft runs
in bfloat16 (the node's dtype/device parameters) against a float32 verifier: the answer is still the target's."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from rclpy.duration import Duration
from sensor_msgs.msg import Image
from std_msgs.msg import Bool, String, UInt64
from support.node_process import OutputLines, node_process, output_of
from support.ros import spinning_node, wait_for

from spec_decode_ros import topics
from spec_decode_ros.msg import DecodeStats, LinkStatus, TokenStream
from spec_decode_ros.nodes.common import LATCHED_QOS, RELIABLE_QOS, SENSOR_QOS, time_to_ns

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo or training

DONE_TIMEOUT_S = 2.0


def test_draft_node_streams_tokens_stats_and_link_status(forward_model: Path,
                                                         verifier: tuple[str, subprocess.Popen]):
    endpoint, cloud = verifier
    tokens: list[TokenStream] = []
    stats: list[DecodeStats] = []
    links: list[LinkStatus] = []
    with node_process("spec_decode_ros.nodes.draft", cloud_endpoint=endpoint, draft_model=forward_model,
                      mode="sd_ee_predraft", gamma=2, max_new_tokens=8, instruction="find the blue ball",
                      request_timeout_s=2.0, heartbeat_s=0.25, wait_for_idle=True,
                      dtype="bfloat16", device="cpu") as draft, \
            spinning_node("draft_harness") as node:
        node.create_subscription(TokenStream, topics.TOKENS, tokens.append, RELIABLE_QOS)
        node.create_subscription(DecodeStats, topics.STATS, stats.append, RELIABLE_QOS)
        node.create_subscription(LinkStatus, topics.LINK, links.append, LATCHED_QOS)
        camera = node.create_publisher(Image, topics.CAMERA_IMAGE, SENSOR_QOS)
        rgb = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
        image = Image(height=32, width=32, encoding="rgb8", step=96, data=rgb.tobytes())
        image.header.frame_id = "front_camera"

        def publish_image() -> None:
            image.header.stamp = node.get_clock().now().to_msg()
            camera.publish(image)

        node.create_timer(0.2, publish_image)
        wait_for(lambda: any(t.final for t in tokens) or draft.poll() is not None, 240, "a complete answer")
        assert draft.poll() is None, output_of(draft)
        answer = [t for t in tokens if t.request_id == tokens[0].request_id]
        assert "".join(t.text for t in answer).strip() == "forward 2.0."
        assert answer[-1].final and not any(t.final for t in answer[:-1])
        assert len({(t.image_stamp.sec, t.image_stamp.nanosec) for t in answer}) == 1
        committed = sum(len(t.token_ids) for t in answer)
        wait_for(lambda: any(s.num_committed_tokens == committed for s in stats), 30, "the last round's stats")
        rounds = [s for s in stats if s.request_id == answer[0].request_id]
        assert [s.round for s in rounds] == sorted(s.round for s in rounds)
        assert sum(s.accepted_tokens for s in rounds) == rounds[-1].num_accepted_tokens
        assert all(s.mode == "sd_ee_predraft" and s.draft_tokens <= 2 and s.verify_ms > 0 for s in rounds)
        # the first command's timeline: the frame and the request's start on every round, the prefills once
        first, rest = rounds[0], rounds[1:]
        stamp = (answer[0].image_stamp.sec, answer[0].image_stamp.nanosec)
        assert all((s.image_stamp.sec, s.image_stamp.nanosec) == stamp for s in rounds)
        assert all(s.request_stamp == first.request_stamp for s in rounds)
        assert (first.request_stamp.sec, first.request_stamp.nanosec) > stamp
        assert first.prefill_ms > 0 and first.draft_prefill_ms > 0 and first.queued_ms >= 0
        assert first.sent_ms >= first.draft_prefill_ms + first.draft_ms
        assert all(s.prefill_ms == 0 and s.draft_prefill_ms == 0 for s in rest)
        assert all(a.sent_ms + a.verify_ms <= b.sent_ms + 0.01 for a, b in zip(rounds[:-1], rest, strict=True))
        assert any(link.state == LinkStatus.STATE_CONNECTED for link in links)
        cloud.kill()
        wait_for(lambda: links[-1].state == LinkStatus.STATE_UNREACHABLE, 30, "UNREACHABLE after the cloud died")
        assert endpoint == links[-1].endpoint


def test_a_done_before_the_wait_counts_and_a_lost_done_is_given_up_on(forward_model: Path,
                                                                       verifier: tuple[str, subprocess.Popen]):
    """Request 1's motion/done arrives before the node could start waiting for it (here: before the
    request even began, so the order is certain): request 2 follows without waiting for the timeout.
    Request 2's done never comes: after done_timeout_s the node gives up on it, says so, and request 3
    follows."""
    endpoint, _ = verifier
    finals: list[int] = []
    with node_process("spec_decode_ros.nodes.draft", cloud_endpoint=endpoint, draft_model=forward_model,
                      mode="sd", gamma=2, max_new_tokens=8, instruction="go to the red box", request_timeout_s=5.0,
                      heartbeat_s=0.25, wait_for_idle=True, settle_s=0.0, done_timeout_s=DONE_TIMEOUT_S) as draft, \
            spinning_node("draft_gate_harness") as node:
        log = OutputLines(draft)
        done = node.create_publisher(UInt64, topics.MOTION_DONE, RELIABLE_QOS)

        def on_tokens(msg: TokenStream) -> None:
            if msg.final:
                finals.append(msg.request_id)

        node.create_subscription(TokenStream, topics.TOKENS, on_tokens, RELIABLE_QOS)
        wait_for(lambda: done.get_subscription_count() > 0 or draft.poll() is not None, 120, "the draft node")
        done.publish(UInt64(data=1))  # the motion node was quicker than the draft node's bookkeeping
        assert done.wait_for_all_acked(Duration(seconds=10))
        camera = node.create_publisher(Image, topics.CAMERA_IMAGE, SENSOR_QOS)
        rgb = np.zeros((32, 32, 3), np.uint8)
        image = Image(height=32, width=32, encoding="rgb8", step=96, data=rgb.tobytes())

        def publish_image() -> None:
            image.header.stamp = node.get_clock().now().to_msg()
            camera.publish(image)

        node.create_timer(0.1, publish_image)
        wait_for(lambda: 3 in finals or draft.poll() is not None, 240, "three answers")
        assert draft.poll() is None, log.text()
    assert finals[:3] == [1, 2, 3]
    assert log.count("no motion/done for request 2") == 1, log.text()
    assert log.count("no motion/done for request 1") == 0, "request 1's early done was missed: " + log.text()


def test_fresh_frames_for_a_new_instruction_answers_tied_to_it_and_the_estop_holds_requests(
        forward_model: Path, verifier: tuple[str, subprocess.Popen]):
    """No instruction: nothing is asked. An instruction with only an older frame: still nothing, until a frame
    captured settle_s after it. The same instruction given again while its answer streams: the rest of that
    answer is not published (tied by id, not text). The e-stop: no new request until the bridge resumes."""
    endpoint, _ = verifier
    settle_s = 0.3
    tokens: list[TokenStream] = []
    # each drafted token lasts 150 ms (an emulated slower robot computer): the answer streams for a while
    with node_process("spec_decode_ros.bench.emulated_draft_node", module_args=("--emulate-draft-ms", "150"),
                      cloud_endpoint=endpoint, draft_model=forward_model, mode="sd", gamma=1, max_new_tokens=8,
                      request_timeout_s=5.0, heartbeat_s=0.25, wait_for_idle=False, settle_s=settle_s) as draft, \
            spinning_node("draft_fresh_harness") as node:
        log = OutputLines(draft)
        instruction = node.create_publisher(String, topics.INSTRUCTION, LATCHED_QOS)
        estop = node.create_publisher(Bool, topics.ESTOP, 10)
        bridge_state = node.create_publisher(Bool, topics.ESTOP_STATE, LATCHED_QOS)
        camera = node.create_publisher(Image, topics.CAMERA_IMAGE, SENSOR_QOS)
        given: list[int] = []  # ROS time (ns) of each instruction given

        def give(text: str) -> None:
            given.append(node.get_clock().now().nanoseconds)
            instruction.publish(String(data=text))

        def on_tokens(msg: TokenStream) -> None:
            tokens.append(msg)
            if len(given) == 1 and msg.token_ids:  # request 1 is streaming: the same words again, a new task
                give("go to the red box")

        node.create_subscription(TokenStream, topics.TOKENS, on_tokens, RELIABLE_QOS)
        rgb = np.zeros((32, 32, 3), np.uint8)
        image = Image(height=32, width=32, encoding="rgb8", step=96, data=rgb.tobytes())
        streaming = [False]

        def publish_image() -> None:
            image.header.stamp = node.get_clock().now().to_msg()
            camera.publish(image)

        node.create_timer(0.1, lambda: streaming[0] and publish_image())
        wait_for(lambda: instruction.get_subscription_count() > 0 and camera.get_subscription_count() > 0
                 or draft.poll() is not None, 120, "the draft node")
        publish_image()  # one frame, then none for a while
        time.sleep(1.5)
        assert tokens == [], "a request without an instruction"
        give("go to the red box")
        time.sleep(1.5)
        assert tokens == [], "a request for the new instruction on a frame from before it"
        streaming[0] = True
        wait_for(lambda: len(given) == 2 and any(t.final for t in tokens) or draft.poll() is not None, 120,
                 "request 1 to start and end")
        assert draft.poll() is None, log.text()
        first = [t for t in tokens if t.request_id == tokens[0].request_id]
        assert time_to_ns(first[0].image_stamp) >= given[0] + settle_s * 1e9
        assert first[-1].final and "".join(t.text for t in first).strip() != "forward 2.0.", \
            "the answer to the first instruction went on after the second"
        wait_for(lambda: any(t.request_id > first[0].request_id for t in tokens), 60, "a request for the second")
        second = next(t for t in tokens if t.request_id > first[0].request_id)
        assert time_to_ns(second.image_stamp) >= given[1] + settle_s * 1e9
        wait_for(lambda: estop.get_subscription_count() > 0, 30, "the draft node to follow the e-stop")
        estop.publish(Bool(data=True))
        time.sleep(1.0)  # the request under way ends (cut)
        held = {t.request_id for t in tokens}
        time.sleep(2.0)
        assert {t.request_id for t in tokens} == held, "a new request under e-stop"
        bridge_state.publish(Bool(data=False))  # the bridge resumed
        wait_for(lambda: {t.request_id for t in tokens} != held, 60, "requests again after the resume")


@pytest.mark.timeout(300)
def test_draft_node_in_mode_auto_says_per_answer_which_mode_and_why(forward_model: Path,
                                                                    verifier: tuple[str, subprocess.Popen]):
    """mode: auto: the first answers are the warm-up's (sd_ee, then cloud_ar, each exploring), then the cost
    model's choice; every round's DecodeStats names the requested mode, the answer's mode and γ, and why."""
    endpoint, _ = verifier
    stats: list[DecodeStats] = []
    finals: list[int] = []
    with node_process("spec_decode_ros.nodes.draft", cloud_endpoint=endpoint, draft_model=forward_model,
                      mode="auto", gamma=2, max_new_tokens=8, instruction="go to the red box", request_timeout_s=5.0,
                      heartbeat_s=0.25, wait_for_idle=False, settle_s=0.0) as draft, \
            spinning_node("draft_auto_harness") as node:
        node.create_subscription(DecodeStats, topics.STATS, stats.append, RELIABLE_QOS)
        node.create_subscription(TokenStream, topics.TOKENS,
                                 lambda msg: finals.append(msg.request_id) if msg.final else None, RELIABLE_QOS)
        camera = node.create_publisher(Image, topics.CAMERA_IMAGE, SENSOR_QOS)
        image = Image(height=32, width=32, encoding="rgb8", step=96, data=bytes(32 * 32 * 3))

        def publish_image() -> None:
            image.header.stamp = node.get_clock().now().to_msg()
            camera.publish(image)

        node.create_timer(0.1, publish_image)
        wait_for(lambda: 4 in finals or draft.poll() is not None, 240, "four answers")
        assert draft.poll() is None, output_of(draft)
        wait_for(lambda: any(s.request_id == 4 for s in stats), 30, "the fourth answer's stats")
    first = {s.request_id: s for s in reversed(stats)}  # each answer's first round
    assert all(s.requested_mode == DecodeStats.MODE_AUTO and s.why for s in stats)
    assert (first[1].mode, first[1].explore) == (DecodeStats.MODE_SD_EE, True)
    assert (first[2].mode, first[2].explore, first[2].gamma) == (DecodeStats.MODE_CLOUD_AR, True, 0)
    chosen = first[3]
    assert not chosen.explore and chosen.why.startswith("fastest predicted") and chosen.predicted_ms > 0
    assert chosen.predicted_cloud_ar_ms > 0 and chosen.predicted_sd_ms > 0 and chosen.est_draft_token_ms > 0
    assert chosen.mode in (DecodeStats.MODE_CLOUD_AR, DecodeStats.MODE_SD, DecodeStats.MODE_SD_EE,
                           DecodeStats.MODE_SD_EE_PREDRAFT)
    assert all(s.mode == first[s.request_id].mode for s in stats)  # one mode per answer
