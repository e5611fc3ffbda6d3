"""``spec-decode demo``: the closed loop on the embedded default, as the README's first command.

Starts, per decoding mode, the same node graph as ``launch/sim.launch.py`` from the same YAML
(``config/sim.yaml``) as separate processes — the fake Go2 (MuJoCo world behind the real
unitree_sdk2py services on loopback), a local cloud verifier with the embedded target VLM, the
camera, draft, motion, Go2-bridge and recorder nodes — plus the supervisor node, which runs scored
episodes ("go to the red box", "find the blue ball", …). Then it prints what happened and where
the bag and the latency report are. ``--compare cloud_ar`` runs the same episodes again with the
cloud-autoregressive baseline and reports both side by side. ``--live`` also starts the live view
(Foxglove WebSocket on 127.0.0.1, ``--live-port``): connect Foxglove to watch the run as it happens.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from datetime import datetime
from pathlib import Path

from spec_decode_ros.decoding.image_size import saved_image_size
from spec_decode_ros.decoding.mode import MODE_CHOICES
from spec_decode_ros.decoding.mode_choice import OBJECTIVES
from spec_decode_ros.decoding.types import CONSTRAIN_CHOICES
from spec_decode_ros.process_group import ProcessGroup, free_endpoint, ros_environment

ROOT = Path(__file__).resolve().parents[1]
NODES = ("camera", "draft", "motion", "go2_bridge", "recorder")


def config_file(name: str) -> Path:
    path = Path(name)
    if path.exists():
        return path
    for base in (ROOT / "config", Path(sys.prefix) / "share" / "spec_decode_ros" / "config"):
        if (base / name).exists():
            return base / name
    raise FileNotFoundError(f"no config {name!r} (looked in ./, {ROOT / 'config'})")


def wait_for_line(group: ProcessGroup, name: str, text: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    log = group.log_dir / f"{name}.log"
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        if name in group.dead():
            raise RuntimeError(f"{name} exited early:\n{group.log_tail(name)}")
        time.sleep(0.1)
    raise TimeoutError(f"{name} did not print {text!r} within {timeout_s:.0f} s:\n{group.log_tail(name)}")


def run_mode(mode: str, args: argparse.Namespace, run_dir: Path, domain: int) -> dict:
    """One full graph for one decoding mode; returns the supervisor's results plus paths."""
    from spec_decode_ros.embedded import default_draft_path, default_target_path

    target = Path(args.target or default_target_path())
    draft = Path(args.draft or default_draft_path())
    size = args.image_size or saved_image_size(target)
    mode_dir = run_dir / mode
    env = ros_environment(mode_dir, domain)
    go2_domain = str(100 + domain)
    group = ProcessGroup(mode_dir / "logs", env)
    endpoint = free_endpoint()
    params = ["--ros-args", "--params-file", str(config_file(args.config))]
    results_path = mode_dir / "episodes.json"
    try:
        group.python("fake_go2", "spec_decode_ros.sim.fake_go2", "--interface", "lo", "--domain-id", go2_domain,
                     "--seed", str(args.first_seed), "--width", str(size), "--height", str(size))
        group.python("cloud", "spec_decode_ros.cli", "cloud", "--model", str(target), "--bind", endpoint,
                     "--threads", "1",
                     *(["--emulate-forward-ms", str(args.emulate_forward_ms)] if args.emulate_forward_ms > 0 else []))
        wait_for_line(group, "fake_go2", "READY", 120)
        wait_for_line(group, "cloud", "spec-decode cloud:", 300)
        if args.rtt_ms > 0:  # the robot reaches the cloud through an emulated network link
            front = free_endpoint()
            group.python("link", "spec_decode_ros.bench.link", "--front", front, "--back", endpoint,
                         "--rtt-ms", str(args.rtt_ms))
            wait_for_line(group, "link", "READY", 60)
            endpoint = front
        overrides = {
            "camera": ["-p", f"go2_domain_id:={go2_domain}", "-p", "network_interface:=lo"],
            "draft": ["-p", f"cloud_endpoint:={endpoint}", "-p", f"mode:={mode}", "-p", f"draft_model:={draft}",
                      "-p", "instruction:=''",
                      *(["-p", f"gamma:={args.gamma}"] if args.gamma else []),
                      *(["-p", f"auto_objective:={args.auto_objective}"] if args.auto_objective else []),
                      *(["-p", f"constrain:={args.constrain}"] if args.constrain else []),
                      *(["-p", f"system_prompt:={json.dumps(args.system_prompt)}"] if args.system_prompt else [])],
            "motion": [],
            "go2_bridge": ["-p", f"go2_domain_id:={go2_domain}", "-p", "network_interface:=lo"],
            "recorder": ["-p", f"bag_path:={mode_dir / 'bag'}"],
        }
        commands = {node: [f"spec_decode_ros.nodes.{node}"] for node in NODES}
        if args.emulate_draft_ms > 0:  # the same node, its draft sessions paced as on a slower robot computer
            commands["draft"] = ["spec_decode_ros.bench.emulated_draft_node", "--emulate-draft-ms",
                                 str(float(args.emulate_draft_ms))]
        for node in NODES:
            group.python(node, *commands[node], *params, *overrides[node])
        if args.live:
            group.python("live_view", "spec_decode_ros.nodes.live_view", *params, "-p", f"port:={args.live_port}")
            wait_for_line(group, "live_view", "live view on", 60)
            url = re.search(r"live view on (ws://\S+)", group.log_tail("live_view", 50)).group(1)
            print(f"[{mode}] live view: open Foxglove, connect to {url} "
                  f"(layout: {config_file('foxglove/spec_decode.json')})", flush=True)
        supervisor = group.python(
            "supervisor", "spec_decode_ros.nodes.supervisor", *params, "-p", f"episodes:={args.episodes}",
            "-p", f"first_seed:={args.first_seed}", "-p", f"max_steps:={args.max_steps}",
            "-p", f"results_path:={results_path}", "-p", f"go2_domain_id:={go2_domain}")
        print(f"[{mode}] running {args.episodes} episodes (logs: {group.log_dir})", flush=True)
        seen = 0
        deadline = time.monotonic() + args.timeout_s
        while supervisor.poll() is None and time.monotonic() < deadline:
            crashed = {n: rc for n, rc in group.dead().items() if n != "supervisor"}
            if crashed:
                raise RuntimeError(f"processes died: {crashed}\n" +
                                   "\n".join(f"--- {n}\n{group.log_tail(n)}" for n in crashed))
            lines = [ln for ln in group.log_tail("supervisor", 200).splitlines() if "episode " in ln]
            for line in lines[seen:]:
                print(f"[{mode}] {line.split('] ')[-1]}", flush=True)
            seen = len(lines)
            time.sleep(0.5)
        if supervisor.poll() is None:
            raise TimeoutError(f"episodes did not finish within {args.timeout_s:.0f} s")
    finally:
        group.stop_all()
    episodes = json.loads(results_path.read_text())["episodes"] if results_path.exists() else []
    return {"mode": mode, "episodes": episodes, "bag": str(mode_dir / "bag"), "logs": str(group.log_dir)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="spec-decode demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0, help="held-out layout seed of the first episode")
    parser.add_argument("--max-steps", type=int, default=15, help="answers per episode before giving up")
    parser.add_argument("--mode", default="sd_ee_predraft",
                        choices=MODE_CHOICES, help="auto: the robot picks the mode and γ per answer")
    parser.add_argument("--auto-objective", default=None, choices=OBJECTIVES,
                        help="with --mode auto: what fastest means (default: the config's, balanced)")
    parser.add_argument("--compare", default="", help="comma-separated modes to run too, e.g. cloud_ar")
    parser.add_argument("--config", default="sim.yaml", help="ROS parameter file (default config/sim.yaml)")
    parser.add_argument("--target", default=None, help="target model folder (default: the embedded target)")
    parser.add_argument("--draft", default=None, help="draft model folder (default: the embedded draft)")
    parser.add_argument("--image-size", type=int, default=0, help="camera size (default: the model's own)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs", help="where runs are written")
    parser.add_argument("--timeout-s", type=float, default=3600.0, help="limit per mode")
    parser.add_argument("--gamma", type=int, default=0, help="draft tokens per round (default: the config's)")
    parser.add_argument("--constrain", choices=CONSTRAIN_CHOICES, default=None,
                        help="the command grammar as a constraint on draft and target (default: the config's, grammar)")
    parser.add_argument("--system-prompt", default="", help="a system prompt for both models (default: the config's)")
    emulation = parser.add_argument_group("emulation (as in spec-decode bench: compare modes over a real-world link)")
    emulation.add_argument("--rtt-ms", type=float, default=0.0,
                           help="put an emulated network link of this round trip between robot and cloud (0: none)")
    emulation.add_argument("--emulate-forward-ms", type=float, default=0.0,
                           help="each cloud forward lasts at least this long (a large GPU target; 0: real)")
    emulation.add_argument("--emulate-draft-ms", type=float, default=0.0,
                           help="each drafted token takes at least this long (a Jetson-class robot; 0: real)")
    parser.add_argument("--live", action="store_true", help="stream the run over the Foxglove WebSocket protocol")
    parser.add_argument("--live-port", type=int, default=8765, help="live view port on 127.0.0.1 (0: any free one)")
    args = parser.parse_args(argv)
    modes = [args.mode] + [m for m in args.compare.split(",") if m and m != args.mode]
    run_dir = args.out / datetime.now().strftime("demo_%Y%m%d_%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    domain = 1 + os.getpid() % 100
    print(f"spec-decode demo: modes {', '.join(modes)}; run folder {run_dir}", flush=True)
    if args.rtt_ms or args.emulate_forward_ms or args.emulate_draft_ms:
        print(f"emulated: RTT {args.rtt_ms} ms, cloud forward >= {args.emulate_forward_ms} ms, "
              f"draft token >= {args.emulate_draft_ms} ms", flush=True)
    runs = [run_mode(mode, args, run_dir, domain) for mode in modes]

    from spec_decode_ros.analysis.report import build_report

    bags = [Path(r["bag"]) for r in runs if Path(r["bag"]).exists()]
    report = build_report(bags, run_dir / "report", [r["mode"] for r in runs if Path(r["bag"]).exists()])
    print()
    for r in runs:
        eps = r["episodes"]
        reached = sum(e["success"] for e in eps)
        print(f"{r['mode']}: reached the named object in {reached}/{len(eps)} episodes "
              f"(mean {sum(e['steps'] for e in eps) / max(len(eps), 1):.1f} answers each); bag {r['bag']}")
    print("\n" + report["table"])
    print(f"\nreport: {report['html']} (maps and camera frames of each episode), {run_dir / 'report' / 'report.txt'}"
          f" and plots {', '.join(report['plots'])}")
    (run_dir / "summary.json").write_text(json.dumps({"runs": runs, "report": report["bags"]}, indent=2,
                                                     default=float))
    return 0
