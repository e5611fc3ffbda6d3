"""What Nav2, RViz, ``ros2 topic echo`` and ``ros2 topic pub`` get with rclpy's default QoS (reliable, volatile,
depth 10): the loop (verifier, draft, motion, Go2 bridge against the fake Go2, started as sim.launch.py starts
them) is driven only by default-QoS publishers here (camera frames, the instruction, a motion command, a link
report, a token stream) and every topic it publishes, except the sensor-data camera pair, is heard by default-QoS
subscribers. The camera pair is best effort, as camera drivers publish it (a default-QoS publisher of frames
reaches the draft node, as this test shows; a subscriber asks for sensor-data QoS, as test_launch_as_launch_ros
does)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from sensor_msgs.msg import Image
from std_msgs.msg import String, UInt64
from support.fixed_answer_vlm import SPEC
from support.launched import launch
from support.ros import spinning_node, wait_for

from spec_decode_ros import topics
from spec_decode_ros.msg import DecodeStats, LinkStatus, LocomotionCommand, TokenStream
from spec_decode_ros.process_group import free_endpoint
from spec_decode_ros.sim.fake_go2 import FakeGo2

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo
GO2_DOMAIN = int(os.environ["SPEC_DECODE_GO2_DOMAIN"])
DEFAULT_QOS = 10  # rclpy's default: reliable, volatile, keep last 10
PUBLISHED = {  # what the graph publishes -> message type; each must reach a default-QoS subscriber
    topics.TOKENS: TokenStream, topics.STATS: DecodeStats, topics.LINK: LinkStatus, topics.MOTION: LocomotionCommand,
    topics.EXECUTED: LocomotionCommand, topics.CMD_VEL: Twist, topics.MOTION_DONE: UInt64, topics.ODOM: Odometry,
}


def sport_calls(fake: FakeGo2, name: str, since: float = 0.0) -> list:
    return [c for c in fake.calls if c.service == "sport" and c.name == name and c.t >= since]


@pytest.mark.timeout(420)
def test_default_qos_publishers_and_subscribers_on_every_public_topic(forward_model: Path, tmp_path: Path) -> None:
    endpoint = free_endpoint()
    args = {"cloud_endpoint": endpoint, "go2_domain_id": str(GO2_DOMAIN), "verifier_model": str(forward_model),
            "draft_model": str(forward_model)}
    graph = ("cloud_verifier", "draft_node", "motion_node", "go2_bridge_node")  # frames come from this test
    fake = FakeGo2(0, width=SPEC.image_size, height=SPEC.image_size, domain_id=GO2_DOMAIN, camera_hz=10.0).start()
    heard: dict[str, list] = {topic: [] for topic in PUBLISHED}
    stop_frames = threading.Event()
    try:
        with spinning_node("default_qos_probe") as probe, launch("sim.launch.py", args, tmp_path, only=graph) as run:
            for topic, kind in PUBLISHED.items():
                probe.create_subscription(kind, topic, heard[topic].append, DEFAULT_QOS)
            instruction = probe.create_publisher(String, topics.INSTRUCTION, DEFAULT_QOS)
            frames = probe.create_publisher(Image, topics.CAMERA_IMAGE, DEFAULT_QOS)
            commands = probe.create_publisher(LocomotionCommand, topics.MOTION, DEFAULT_QOS)
            links = probe.create_publisher(LinkStatus, topics.LINK, DEFAULT_QOS)
            tokens = probe.create_publisher(TokenStream, topics.TOKENS, DEFAULT_QOS)

            def publish_frames() -> None:
                rng = np.random.default_rng(0)
                while not stop_frames.wait(0.1):
                    msg = Image(height=SPEC.image_size, width=SPEC.image_size, encoding="rgb8",
                                step=SPEC.image_size * 3)
                    msg.header.stamp = probe.get_clock().now().to_msg()
                    msg.header.frame_id = "front_camera"
                    msg.data = rng.integers(0, 255, (SPEC.image_size, SPEC.image_size, 3), dtype=np.uint8).tobytes()
                    frames.publish(msg)

            threading.Thread(target=publish_frames, daemon=True).start()

            def connected() -> bool:
                run.check_alive()
                return (instruction.get_subscription_count() > 0 and commands.get_subscription_count() > 0
                        and links.get_subscription_count() >= 2 and tokens.get_subscription_count() > 0
                        and bool(heard[topics.LINK]))

            wait_for(connected, 240, "the graph to match the default-QoS endpoints and report its link")
            # an instruction from a plain volatile publisher (`ros2 topic pub instruction ...`) reaches the draft node
            t0 = time.time()
            instruction.publish(String(data="find the blue ball"))
            wait_for(lambda: "instruction: 'find the blue ball'" in run.output("/draft"), 30,
                     "the draft node to take the default-QoS instruction")
            # answers go on coming (the instruction stands), so a subscription that discovery matched late (seen
            # under load: go2/executed and cmd_vel after the first answer's Move) hears a later one
            wait_for(lambda: run.check_alive() or (all(heard.values()) and bool(sport_calls(fake, "Move", t0))), 240,
                     "answers decoded from default-QoS frames and executed (a Move), heard on every public topic")
            missing = [topic for topic, got in heard.items() if not got]
            assert not missing, f"a default-QoS subscriber heard nothing on {missing}"
            assert sport_calls(fake, "Move", t0), "the answer never moved the robot"
            answers = {m.request_id for m in heard[topics.TOKENS]}
            assert any("".join(m.text for m in heard[topics.TOKENS] if m.request_id == r).strip() == "forward 2.0."
                       for r in answers), "no whole answer heard on decoder/tokens"

            # pause the loop ("" from the same plain publisher) and let the last answer's walk end, so that nothing
            # but the bridge's own link subscription can stop the next motion
            instruction.publish(String(data=""))
            wait_for(lambda: "instruction: ''" in run.output("/draft"), 30, "the draft node to pause")
            wait_for(lambda: not sport_calls(fake, "Move", time.time() - 1.5), 90, "the robot idle after the pause")
            # a motion command from a default-QoS publisher reaches the Go2 bridge ...
            t1 = time.time()
            commands.publish(LocomotionCommand(action=LocomotionCommand.ACTION_MOVE, text="turn left 90 degrees.",
                                               vyaw=0.5, duration=8.0, request_id=50))
            wait_for(lambda: any(abs(float(c.params.get("z", 0.0)) - 0.5) < 1e-6
                                 for c in sport_calls(fake, "Move", t1) if c.params), 30,
                     "the default-QoS command's Move")
            # ... and a link report from one stops it (decoder/link is latched, and still volatile-reachable)
            t2 = time.time()
            links.publish(LinkStatus(state=LinkStatus.STATE_UNREACHABLE, endpoint=endpoint, detail="probe"))
            wait_for(lambda: bool(sport_calls(fake, "StopMove", t2)), 10, "StopMove on a default-QoS UNREACHABLE")
            t_stop = sport_calls(fake, "StopMove", t2)[0].t
            assert t_stop - t2 < 3.0, f"StopMove {t_stop - t2:.2f} s after the UNREACHABLE: the 8 s turn ran out instead"

            # a token stream from a default-QoS publisher reaches the motion node (an explicit stop command)
            tokens.publish(TokenStream(request_id=1_000_000, round=0, text="stop.", final=True))
            wait_for(lambda: any(m.request_id == 1_000_000 and m.action == LocomotionCommand.ACTION_STOP
                                 for m in heard[topics.MOTION]), 30, "the motion node's stop for the probe's tokens")
    finally:
        stop_frames.set()
        fake.stop()
