"""E-stop latency (issue #23): the Go2 bridge as its own process drives the fake Go2 (MuJoCo world behind the
real unitree_sdk2py sport service, loopback DDS); ``--stops`` times the robot is sent a 10 s walk, and once it
moves an ``estop`` message (std_msgs/Bool true) goes out. The delay is from just before that publish to the
moment the fake Go2's sport service receives the StopMove (both ``time.time()`` on this machine). After each
stop the bench sends a command that must be refused, checks that no Move reached the SDK after the StopMove,
and calls the ``estop/resume`` service. Prints the median, p99 and max and writes them as JSON.

    .venv/bin/python bench/estop_latency.py --stops 100 --json bench/safety_results/estop_latency.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
os.environ.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="estop_bench_"))
os.environ.setdefault("MUJOCO_GL", "egl")

import rclpy
from rclpy.executors import SingleThreadedExecutor
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from spec_decode_ros import topics
from spec_decode_ros.analysis.stats import percentile
from spec_decode_ros.msg import LinkStatus, LocomotionCommand
from spec_decode_ros.nodes.common import LATCHED_QOS, RELIABLE_QOS
from spec_decode_ros.sim.fake_go2 import FakeGo2


def sport_calls(fake: FakeGo2, name: str, since: float) -> list[float]:
    return [c.t for c in fake.calls if c.service == "sport" and c.name == name and c.t >= since]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stops", type=int, default=100)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    go2_domain = 100 + int(os.environ["ROS_DOMAIN_ID"])
    fake = FakeGo2(0, width=32, height=32, domain_id=go2_domain, camera_hz=2.0, state_hz=50.0).start()
    bridge = subprocess.Popen(
        [sys.executable, "-m", "spec_decode_ros.nodes.go2_bridge", "--ros-args", "-p", "network_interface:=lo",
         "-p", f"go2_domain_id:={go2_domain}", "-p", "armed_at_start:=true", "-p", "deadman_s:=30.0",
         "-p", "max_duration_s:=10.0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rclpy.init()
    node = rclpy.create_node("estop_bench")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    commands = node.create_publisher(LocomotionCommand, topics.MOTION, RELIABLE_QOS)
    link = node.create_publisher(LinkStatus, topics.LINK, LATCHED_QOS)
    estop = node.create_publisher(Bool, topics.ESTOP, 10)
    resume = node.create_client(Trigger, topics.ESTOP_RESUME_SERVICE)

    def spin_until(predicate: Callable[[], object], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline or bridge.poll() is not None:
                raise RuntimeError(f"timed out waiting for {what}")
            executor.spin_once(timeout_sec=0.005)

    def connected() -> None:
        link.publish(LinkStatus(state=LinkStatus.STATE_CONNECTED, endpoint="bench", detail="bench"))

    node.create_timer(0.2, connected)
    delays_ms: list[float] = []
    moves_after_stop = 0
    try:
        spin_until(lambda: commands.get_subscription_count() > 0 and estop.get_subscription_count() > 0
                   and resume.service_is_ready(), 120, "the bridge")
        connected()
        time.sleep(1.0)  # the bridge sees the robot's sport state (Move only to a robot known ready)
        for i in range(args.stops):
            t_cmd = time.time()
            commands.publish(LocomotionCommand(action="move", text="bench walk", vx=0.2, duration=10.0,
                                               request_id=2 * i + 1))
            spin_until(lambda t_cmd=t_cmd: sport_calls(fake, "Move", t_cmd), 30, f"stop {i}: the first Move")
            time.sleep(random.uniform(0.0, 0.2))  # the e-stop comes at any point of the Move cycle
            t_pub = time.time()
            estop.publish(Bool(data=True))
            spin_until(lambda t_pub=t_pub: sport_calls(fake, "StopMove", t_pub), 10, f"stop {i}: the StopMove")
            t_stop = sport_calls(fake, "StopMove", t_pub)[0]
            delays_ms.append((t_stop - t_pub) * 1e3)
            commands.publish(LocomotionCommand(action="move", text="refused", vx=0.3, duration=1.0,
                                               request_id=2 * i + 2))
            spin_until(lambda t_stop=t_stop: time.time() - t_stop > 0.3, 5, "the refused command to land")
            moves_after_stop += len(sport_calls(fake, "Move", t_stop + 1e-6))
            future = resume.call_async(Trigger.Request())
            spin_until(future.done, 10, f"stop {i}: resume")
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        if bridge.poll() is None:
            bridge.send_signal(signal.SIGINT)
            bridge.wait(timeout=20)
        fake.stop()
    result = {
        "stops": len(delays_ms), "median_ms": percentile(delays_ms, 0.5), "p99_ms": percentile(delays_ms, 0.99),
        "max_ms": max(delays_ms), "moves_after_stop_before_resume": moves_after_stop,
        "measured": "estop message publish -> the fake Go2's sport service receives StopMove",
        "command": "bench/estop_latency.py --stops " + str(args.stops),
        "cpus": os.cpu_count(), "load_average_1min_at_end": round(os.getloadavg()[0], 1),
    }
    print(f"e-stop -> StopMove over {result['stops']} stops: median {result['median_ms']:.1f} ms, "
          f"p99 {result['p99_ms']:.1f} ms, max {result['max_ms']:.1f} ms; Moves after a stop before the resume: "
          f"{moves_after_stop}", flush=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if moves_after_stop == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
