"""The loop with real nodes, real DDS, a real verifier process and the fake Go2 behind the real
unitree_sdk2py clients: killing the verifier mid-run stops the robot (StopMove) through the link going
UNREACHABLE, long before the deadman could, and a token stream of garbage never produces a Move.
Launched as config/robot.yaml says (the fake Go2 in the real one's place), nothing moves for 10 s
without an instruction, nor after one while disarmed; once armed, the dog walks."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from std_msgs.msg import String
from std_srvs.srv import Trigger
from support.fixed_answer_vlm import SPEC
from support.node_process import OutputLines, node_process, output_of
from support.ros import spinning_node, wait_for

from spec_decode_ros import topics
from spec_decode_ros.demo import config_file
from spec_decode_ros.msg import TokenStream
from spec_decode_ros.nodes.common import LATCHED_QOS, RELIABLE_QOS
from spec_decode_ros.sim.fake_go2 import FakeGo2

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo or training

GO2_DOMAIN = int(os.environ["SPEC_DECODE_GO2_DOMAIN"])
DEADMAN_S = 10.0  # long: the stop must come from the draft node reporting the cloud UNREACHABLE
LINK_LOSS_STOP_S = 3.0  # generous bound on kill -> StopMove (heartbeat 0.25 s + ping timeout + DDS)


@pytest.fixture(scope="module")
def fake():
    go2 = FakeGo2(0, width=SPEC.image_size, height=SPEC.image_size, domain_id=GO2_DOMAIN, camera_hz=10.0).start()
    yield go2
    go2.stop()


def sport_calls(fake: FakeGo2, name: str, since: float = 0.0) -> list[float]:
    return [c.t for c in fake.calls if c.service == "sport" and c.name == name and c.t >= since]


def test_killing_the_verifier_mid_run_stops_the_robot_within_the_deadman(fake: FakeGo2, forward_model: Path,
                                                                         verifier: tuple[str, subprocess.Popen]):
    endpoint, cloud = verifier
    go2 = {"network_interface": "lo", "go2_domain_id": GO2_DOMAIN}
    try:
        with node_process("spec_decode_ros.nodes.camera", source="go2", rate_hz=10.0, **go2), \
                node_process("spec_decode_ros.nodes.draft", cloud_endpoint=endpoint, draft_model=forward_model,
                             mode="sd_ee_predraft", gamma=4, max_new_tokens=8, instruction="go to the red box",
                             request_timeout_s=2.0, heartbeat_s=0.25, wait_for_idle=True) as draft, \
                node_process("spec_decode_ros.nodes.motion", deadman_s=DEADMAN_S) as motion, \
                node_process("spec_decode_ros.nodes.go2_bridge", deadman_s=DEADMAN_S, rate_hz=20.0,
                             armed_at_start=True, max_duration_s=10.0, **go2) as bridge:
            t_start = time.time()
            procs = {"draft": draft, "motion": motion, "bridge": bridge, "cloud": cloud}
            wait_for(lambda: bool(sport_calls(fake, "Move", t_start)) or any(p.poll() is not None
                                                                              for p in procs.values()),
                     240, "the robot to start moving on 'forward 2.0.'")
            for name, proc in procs.items():
                assert proc.poll() is None, f"{name} died:\n{output_of(proc)}"
            first_move = sport_calls(fake, "Move", t_start)[0]
            cloud.send_signal(signal.SIGKILL)
            t_kill = time.time()
            assert t_kill < first_move + 3.0, "the 4 s command ended before the verifier could be killed mid-run"
            wait_for(lambda: bool(sport_calls(fake, "StopMove", t_kill)), 30, "StopMove after the verifier died")
            t_stop = sport_calls(fake, "StopMove", t_kill)[0]
    finally:
        if cloud.poll() is None:
            cloud.kill()
    # forward 2.0 at 0.5 m/s would run for 4 s and the draft node kept the link fresh (CONNECTED every
    # heartbeat) until the kill: only its UNREACHABLE can stop the robot this early
    assert t_stop - t_kill <= LINK_LOSS_STOP_S, f"StopMove came {t_stop - t_kill:.2f} s after the kill"
    assert t_stop < first_move + 4.0


def test_a_garbage_token_stream_never_moves_the_robot(fake: FakeGo2):
    go2 = {"network_interface": "lo", "go2_domain_id": GO2_DOMAIN}
    with node_process("spec_decode_ros.nodes.motion", deadman_s=5.0) as motion, \
            node_process("spec_decode_ros.nodes.go2_bridge", deadman_s=5.0, require_link=False, armed_at_start=True,
                         **go2) as bridge, \
            spinning_node("garbage_source") as node:
        tokens = node.create_publisher(TokenStream, topics.TOKENS, RELIABLE_QOS)
        node.create_publisher(String, topics.INSTRUCTION, LATCHED_QOS)
        wait_for(lambda: tokens.get_subscription_count() > 0 and node.count_subscribers(topics.MOTION) > 0
                 or motion.poll() is not None or bridge.poll() is not None, 60, "motion and bridge to connect")
        assert motion.poll() is None and bridge.poll() is None, output_of(motion) + output_of(bridge)
        t0 = time.time()
        garbage = ["turn", " left", " banana", ",", " forward", " -1.0", ",", " jump", " 3.0", ".", " forward 9.9."]
        for i, delta in enumerate(garbage):
            tokens.publish(TokenStream(request_id=1, round=i, text=delta, final=i == len(garbage) - 1))
        tokens.publish(TokenStream(request_id=2, round=0, text="stop.", final=True))  # sentinel: an explicit stop
        wait_for(lambda: bool(sport_calls(fake, "StopMove", t0)), 60, "the sentinel's StopMove")
    assert sport_calls(fake, "Move", t0) == [], "garbage moved the robot"


def test_robot_yaml_moves_nothing_until_an_instruction_and_arming(fake: FakeGo2, forward_model: Path,
                                                                  verifier: tuple[str, subprocess.Popen]):
    endpoint, cloud = verifier
    robot_yaml = str(config_file("robot.yaml"))
    go2 = {"network_interface": "lo", "go2_domain_id": GO2_DOMAIN}
    plain = {"server_public_key": "''", "client_secret_key": "''"}  # loopback: no CURVE keys to make here
    with node_process("spec_decode_ros.nodes.camera", robot_yaml, **go2), \
            node_process("spec_decode_ros.nodes.draft", robot_yaml, cloud_endpoint=endpoint,
                         draft_model=forward_model, threads=1, **plain) as draft, \
            node_process("spec_decode_ros.nodes.motion", robot_yaml) as motion, \
            node_process("spec_decode_ros.nodes.go2_bridge", robot_yaml, **go2) as bridge, \
            spinning_node("lab_operator") as node:
        procs = {"draft": draft, "motion": motion, "bridge": bridge, "cloud": cloud}
        bridge_log = OutputLines(bridge)
        answers: list[TokenStream] = []
        node.create_subscription(TokenStream, topics.TOKENS, answers.append, RELIABLE_QOS)
        instruction = node.create_publisher(String, topics.INSTRUCTION, LATCHED_QOS)
        arm = node.create_client(Trigger, topics.ARM_SERVICE)
        wait_for(lambda: instruction.get_subscription_count() >= 2 and arm.service_is_ready()
                 or any(p.poll() is not None for p in procs.values()), 240, "the robot's nodes")
        t_up = time.time()
        time.sleep(10.0)
        for name, proc in procs.items():
            assert proc.poll() is None, f"{name} died:\n{output_of(proc)}"
        assert sport_calls(fake, "Move", t_up) == [] and answers == [], "something moved or was asked unasked"
        instruction.publish(String(data="go to the red box"))
        wait_for(lambda: bridge_log.count("not armed") >= 1 or bridge.poll() is not None, 120,
                 "the first answer refused by the disarmed bridge")
        assert sport_calls(fake, "Move", t_up) == [], "the dog moved before it was armed"
        future = arm.call_async(Trigger.Request())
        wait_for(future.done, 30, "the arm service")
        wait_for(lambda: bool(sport_calls(fake, "Move", t_up)) or bridge.poll() is not None, 120,
                 "the dog to walk once armed")
        assert all(c.params["x"] <= 0.5 for c in fake.calls if c.t >= t_up and c.name == "Move")
