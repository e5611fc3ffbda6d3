"""The draft node, as its own process against a real verifier process: every committed token is
published with its text and the camera frame's stamp, each round's statistics add up to the answer,
and the link status follows the cloud (connected, then unreachable once it is killed). The draft runs in
bfloat16 (the node's dtype/device parameters) against a float32 verifier: the answer is still the target's."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from sensor_msgs.msg import Image
from support.node_process import node_process, output_of
from support.ros import spinning_node, wait_for

from spec_decode_ros import topics
from spec_decode_ros.msg import DecodeStats, LinkStatus, TokenStream
from spec_decode_ros.nodes.common import LATCHED_QOS, RELIABLE_QOS, SENSOR_QOS

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo or training


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
        assert any(link.state == LinkStatus.STATE_CONNECTED for link in links)
        cloud.kill()
        wait_for(lambda: links[-1].state == LinkStatus.STATE_UNREACHABLE, 30, "UNREACHABLE after the cloud died")
        assert endpoint == links[-1].endpoint
