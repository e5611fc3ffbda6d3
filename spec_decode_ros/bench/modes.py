"""``spec-decode bench``: every decoding mode on the same prompts, models and emulated link, robot and cloud in
separate processes pinned to separate cores; a printed table and ``--json PATH``.

    spec-decode bench --target smollm2 --draft smollm2 --rtt-ms 80 --json bench.json
    spec-decode bench --target smollm2 --draft smollm2 --rtt-ms 80 --robots 1,2,4,8 --json robots.json

Processes: the cloud (``spec-decode cloud``, pinned to ``--cloud-cpu``), the link emulator (a proxy process
adding ``--rtt-ms``/2 each way, jitter, bandwidth), and the robot(s) (pinned to ``--robot-cpu``). The robot
computes the target's greedy references first (untimed) and runs the modes interleaved per prompt, so
every mode sees the same machine state. The cloud's busy time comes from its own counters (STATS).
With ``--robots``, N robot processes run ``--robot-mode`` at once against one server, batched
(``--max-batch``) and unbatched (batch 1), and the table gives server throughput (committed tokens/s),
per-robot ms/token and capacity (the most robots served within ``--latency-target-ms`` per token).

Hardware emulation (both are sleeps on top of the real work, recorded in the JSON's config):
``--emulate-forward-ms`` pads each cloud forward (a large target on a GPU: one forward costs about the same
for 1 or γ+1 tokens, and for one row or a batch: ``bench.cost.ForwardCost.floor``), ``--emulate-draft-ms`` pads the
draft's prefill and each draft forward, one per drafted token (a draft VLM on a Jetson-class robot computer:
``bench.emulation.PacedDraftSession``). Without them, the bundled models' real CPU costs are measured.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from spec_decode_ros.bench.cloud_process import CloudProcess, free_endpoint
from spec_decode_ros.bench.link import LinkProcess, LinkProfile
from spec_decode_ros.bench.options import add_prompt_options, constrain_variants, with_system
from spec_decode_ros.bench.workload import (
    GRAMMAR_SUFFIX,
    PROMPTS,
    Phase,
    RobotJob,
    robot_process_main,
    sim_prompts,
    summarize,
    text_prompts,
)
from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.client import CloudClient, read_stats
from spec_decode_ros.bridge.edge import EdgeConfig, EdgeSession
from spec_decode_ros.decoding import precision
from spec_decode_ros.decoding.mode import MODE_CHOICES, MODES, Mode
from spec_decode_ros.decoding.mode_choice import OBJECTIVES
from spec_decode_ros.decoding.precision import resolve_device, resolve_dtype
from spec_decode_ros.decoding.types import Prompt
from spec_decode_ros.paths import portable_path


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="spec-decode bench", description=__doc__.split("\n")[0])
    ap.add_argument("--target", required=True, help="target model folder, or 'smollm2' (the zoo's target)")
    ap.add_argument("--draft", default=None, help="draft model folder, or 'smollm2' (the zoo's draft)")
    ap.add_argument("--draft-layers", type=int, default=0,
                    help="no --draft: derive one from the target's first K layers (saved to a temp folder)")
    ap.add_argument("--modes", default=",".join(MODES), help=f"comma list from {MODE_CHOICES} (auto: the robot picks "
                    "per answer; its warm-up answers run untimed, before the timed ones)")
    ap.add_argument("--auto-objective", default="balanced", choices=OBJECTIVES,
                    help="what fastest means to mode auto: balanced (the worse of its answer's and its first "
                         "command's ratio to the fastest prediction), answer or first_command")
    ap.add_argument("--prompts", type=int, default=4, help=f"how many prompts (text: of the {len(PROMPTS)} built-in)")
    ap.add_argument("--sim-prompts", action="store_true",
                    help="VLM pairs: camera images + instructions from the simulated Go2 world instead of text")
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--gamma", type=int, default=4)
    ap.add_argument("--rtt-ms", type=float, default=80.0, help="emulated round trip (twice the one-way delay)")
    ap.add_argument("--jitter-ms", type=float, default=0.0)
    ap.add_argument("--bandwidth-mbps", type=float, default=0.0, help="0: unlimited")
    ap.add_argument("--robot-cpu", type=int, default=0)
    ap.add_argument("--cloud-cpu", type=int, default=1)
    ap.add_argument("--max-batch", type=int, default=8)
    ap.add_argument("--max-wait-ms", type=float, default=5.0)
    ap.add_argument("--emulate-forward-ms", type=float, default=0.0,
                    help="the cloud pads each target forward to this long (emulating a large GPU target; 0: real)")
    ap.add_argument("--emulate-draft-ms", type=float, default=0.0,
                    help="the robot pads each drafted token to this long (emulating a slower robot computer, "
                         "e.g. a 2B draft VLM on a Jetson; 0: real)")
    ap.add_argument("--robots", default="", help="many-robot mode: e.g. 1,2,4,8 concurrent robot processes")
    ap.add_argument("--robot-mode", default=Mode.SD_EE_PREDRAFT.value, choices=MODES, help="mode of the many robots")
    ap.add_argument("--latency-target-ms", type=float, default=250.0, help="per-token target for capacity")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    add_prompt_options(ap, "mask draft and target with the command grammar (modes named MODE+grammar); both: each "
                           "mode with and without it, interleaved per prompt")
    ap.add_argument("--log-dir", type=Path, default=None, help="cloud logs (default: a temp folder)")
    precision.add_arguments(ap)  # the cloud's target and the robots' drafts (and their reference target)
    return ap


def _resolve(name: str, role: str) -> str:
    if name == "smollm2":
        from spec_decode_ros.decoding import zoo

        path = zoo.smollm2_target_path() if role == "target" else zoo.smollm2_draft_path()
        if not Path(path).exists():
            raise FileNotFoundError(f"{path} is missing: build it with 'spec-decode models build'")
        return str(path)
    from spec_decode_ros.decoding.hub import locate_model

    return str(locate_model(name, role))  # a folder, or a Hugging Face id from the cache


def _derive_draft(target: str, layers: int, folder: Path) -> str:
    from spec_decode_ros.decoding.derive import truncated_copy
    from spec_decode_ros.decoding.models import load_model

    draft = truncated_copy(load_model(target), layers)
    draft.model.save_pretrained(folder)
    (draft.processor or draft.tokenizer).save_pretrained(folder)
    return str(folder)


def _run_phases(jobs: list[RobotJob], active: list[int], before: Callable[[int], Any] | None = None,
                after: Callable[[int], Any] | None = None) -> list[tuple[list[dict[str, Any]], float, Any]]:
    """One process per job for all phases. Per phase k: wait until every robot is ready, ``before(k)``, release
    the ``active[k]`` robots that take part, collect their results, ``after(k)``.
    Returns (results, wall seconds, after's value) per phase."""
    ctx = mp.get_context("spawn")
    ready = ctx.Barrier(len(jobs) + 1)
    go = [ctx.Event() for _ in active]
    results = ctx.Queue()
    procs = [ctx.Process(target=robot_process_main, args=(job, ready, go, results), daemon=True) for job in jobs]
    for proc in procs:
        proc.start()

    def get() -> dict[str, Any]:
        res = results.get(timeout=3600)
        if "error" in res:
            raise RuntimeError(f"robot {res['robot']} failed: {res['error']}")
        return res

    out = []
    try:
        for k, n in enumerate(active):
            try:
                ready.wait(timeout=1800)
            except threading.BrokenBarrierError:
                get()
                raise
            if before is not None:
                before(k)
            t0 = time.monotonic()
            go[k].set()
            phase_results = [get() for _ in range(n)]
            wall = time.monotonic() - t0
            out.append((phase_results, wall, after(k) if after is not None else None))
    finally:
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
    return out


def _with_cloud(args: argparse.Namespace, target: str, max_batch: int, log_dir: Path, name: str) -> CloudProcess:
    return CloudProcess(target, free_endpoint(), "--cpus", str(args.cloud_cpu), "--max-batch", str(max_batch),
                        "--max-wait-ms", str(args.max_wait_ms), "--max-sessions", "256",
                        "--emulate-forward-ms", str(args.emulate_forward_ms),
                        log=log_dir / f"cloud_{name}.log", dtype=args.dtype, device=args.device)


def _warm_cloud(endpoint: str, prompt: Prompt) -> None:
    """A few autoregressive tokens, so that no timed run pays the cloud's first forwards."""
    client = CloudClient(endpoint)
    try:
        EdgeSession(client, None, prompt, EdgeConfig(mode=Mode.CLOUD_AR, max_new_tokens=4, reply_timeout_s=300)).run()
    finally:
        client.close()


def _since(before: p.Stats, after: p.Stats) -> p.Stats:
    """The counters' growth between two reads (STATS reads, never resets); sessions and memory as after."""
    return replace(after, busy_s=after.busy_s - before.busy_s, forwards=after.forwards - before.forwards,
                   rows=after.rows - before.rows, tokens=after.tokens - before.tokens,
                   errors=after.errors - before.errors)


def _prompts(args: argparse.Namespace, target: str) -> tuple[Prompt, ...]:
    if not args.sim_prompts:
        if not 1 <= args.prompts <= len(PROMPTS):
            raise ValueError(f"--prompts must be in [1, {len(PROMPTS)}] for the built-in text prompts")
        return text_prompts(args.prompts)
    from spec_decode_ros.decoding.image_size import processor_image_size
    from spec_decode_ros.decoding.models import load_model

    model = load_model(target)
    if model.processor is None:
        raise ValueError(f"--sim-prompts needs a VLM target; {target} is a text model")
    return sim_prompts(args.prompts, processor_image_size(model.processor))


def _constrained(modes: tuple[str, ...], constrain: str) -> tuple[str, ...]:
    """The run keys of ``modes`` under ``--constrain``: as they are, MODE+grammar, or both side by side."""
    return tuple(m if v == "none" else m + GRAMMAR_SUFFIX for m in modes for v in constrain_variants(constrain))


def run_modes(args: argparse.Namespace, target: str, draft: str, log_dir: Path) -> dict[str, Any]:
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    bad = [m for m in modes if m not in MODE_CHOICES]
    if bad:
        raise ValueError(f"unknown mode(s) {bad}; choose from {MODE_CHOICES}")
    modes = _constrained(modes, getattr(args, "constrain", "none"))
    profile = LinkProfile.from_rtt_ms(args.rtt_ms, args.jitter_ms, args.bandwidth_mbps)
    prompts = with_system(_prompts(args, target), getattr(args, "system_prompt", ""))
    with _with_cloud(args, target, args.max_batch, log_dir, "modes") as cloud:
        _warm_cloud(cloud.endpoint, prompts[0])
        with LinkProcess(free_endpoint(), cloud.endpoint, profile) as link:
            job = RobotJob(draft=draft, phases=(Phase("modes", link.front_endpoint, cloud.endpoint),),
                           prompts=prompts, modes=modes, gamma=args.gamma,
                           max_new_tokens=args.max_new_tokens, cpu=args.robot_cpu, reference_target=target,
                           emulate_draft_ms=args.emulate_draft_ms, dtype=args.dtype, device=args.device,
                           auto_objective=args.auto_objective)
            ((result,), _, _), = _run_phases([job], [1])
    records = result["records"]
    return {"modes": {m: summarize(records, m) for m in modes}, "runs": records}


def run_many(args: argparse.Namespace, target: str, draft: str, log_dir: Path) -> dict[str, Any]:
    counts = [int(n) for n in args.robots.split(",") if n.strip()]
    if not counts or min(counts) < 1:
        raise ValueError(f"--robots needs positive counts, got {args.robots!r}")
    profile = LinkProfile.from_rtt_ms(args.rtt_ms, args.jitter_ms, args.bandwidth_mbps)
    prompts = with_system(_prompts(args, target), getattr(args, "system_prompt", ""))
    configs = (("batched", args.max_batch), ("unbatched", 1))
    with contextlib.ExitStack() as stack:
        clouds = {name: stack.enter_context(_with_cloud(args, target, batch, log_dir, name)) for name, batch in configs}
        links = {name: stack.enter_context(LinkProcess(free_endpoint(), c.endpoint, profile)) for name, c in clouds.items()}
        for cloud in clouds.values():
            _warm_cloud(cloud.endpoint, prompts[0])
        # one phase per (robot count, server), the two servers alternating so that drift in the machine's load
        # does not favour either
        plan = [(name, n) for n in counts for name, _ in configs]
        jobs = [RobotJob(draft=draft, phases=tuple(Phase(f"{name}/{n}", links[name].front_endpoint,
                                                         clouds[name].endpoint, active=i < n) for name, n in plan),
                         prompts=tuple(prompts[(i + k) % len(prompts)] for k in range(len(prompts))),
                         modes=_constrained((args.robot_mode,), args.constrain)[:1], gamma=args.gamma, max_new_tokens=args.max_new_tokens,
                         cpu=args.robot_cpu, robot_index=i, warmup=False, emulate_draft_ms=args.emulate_draft_ms,
                         dtype=args.dtype, device=args.device)
                for i in range(max(counts))]
        marks: dict[int, p.Stats] = {}
        phases = _run_phases(jobs, [n for _, n in plan],
                             before=lambda k: marks.__setitem__(k, read_stats(clouds[plan[k][0]].endpoint, 30.0)),
                             after=lambda k: _since(marks[k], read_stats(clouds[plan[k][0]].endpoint, 30.0)))
    out: dict[str, Any] = {name: {} for name, _ in configs}
    for (name, n), (results, wall, server) in zip(plan, phases, strict=True):
        records = [r for res in results for r in res["records"]]
        tokens = sum(len(r["tokens"]) for r in records)
        per_robot = [1000.0 * sum(r["latency_s"] for r in res["records"]) /
                     max(1, sum(len(r["tokens"]) for r in res["records"])) for res in results]
        out[name][str(n)] = {"robots": n, "tokens": tokens, "wall_s": wall,
                             "throughput_tok_s": tokens / wall if wall else 0.0,
                             "ms_per_token_mean": sum(per_robot) / n, "ms_per_token_max": max(per_robot),
                             "server_busy_s": server.busy_s, "server_busy_fraction": server.busy_s / wall,
                             "server_forwards": server.forwards,
                             "server_rows_per_forward": server.rows / max(1, server.forwards),
                             "server_busy_s_per_token": server.busy_s / max(1, tokens)}
        print(f"  {name:9s} {n} robots: {tokens / wall:7.2f} tok/s, {sum(per_robot) / n:7.1f} ms/token per robot, "
              f"{server.rows / max(1, server.forwards):.2f} rows/forward", flush=True)
    for name, _ in configs:
        out[name]["capacity"] = max([n for n in counts if out[name][str(n)]["ms_per_token_max"] <= args.latency_target_ms],
                                    default=0)
    out["throughput_gain"] = {str(n): out["batched"][str(n)]["throughput_tok_s"] /
                              max(1e-9, out["unbatched"][str(n)]["throughput_tok_s"]) for n in counts}
    return out


def format_modes(result: dict[str, Any]) -> str:
    cols = ("tokens", "ms_per_token", "first_token_s", "first_command_s", "answer_s", "rounds_per_answer",
            "acceptance_rate", "mean_acceptance_length", "early_hit_rate", "server_busy_s_per_token",
            "identical_to_target")
    head = f"{'mode':16s}" + "".join(f"{c[:14]:>16s}" for c in cols)
    rows = [head]
    for mode, m in result["modes"].items():
        cells = []
        for c in cols:
            v = m[c]
            cells.append(f"{'-' if v is None else (f'{v:.4f}' if isinstance(v, float) else v):>16}")
        rows.append(f"{mode:16s}" + "".join(cells))
    base = result["modes"].get("cloud_ar", {}).get("ms_per_token")
    if base:
        rows.append("speed-up vs cloud_ar: " + ", ".join(
            f"{mode} {base / m['ms_per_token']:.2f}x" for mode, m in result["modes"].items() if m["ms_per_token"]))
    model = [f"{mode} {_ratio(m.get('predicted_ms_per_token'), m['ms_per_token'])} ms/token, "
             f"{_ratio(m.get('predicted_first_command_s'), m.get('first_command_s'))} first command"
             for mode, m in result["modes"].items() if m.get("predicted_ms_per_token")]
    if model:
        rows.append("cost model / measured: " + "; ".join(model))
    if "auto" in result["modes"]:
        auto = result["modes"]["auto"]
        rows.append(f"auto chose (mode/γ: answers): {auto.get('chosen')}, {auto.get('explore_answers')} exploring")
    first = result["modes"].get("cloud_ar", {}).get("first_command_s")
    if first:
        rows.append("first command vs cloud_ar: " + ", ".join(
            f"{mode} {m['first_command_s'] / first:.2f}x" for mode, m in result["modes"].items() if m["first_command_s"]))
    return "\n".join(rows)


def _ratio(predicted: float | None, measured: float | None) -> str:
    return f"{predicted / measured:.2f}" if predicted and measured else "-"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if os.cpu_count() and max(args.robot_cpu, args.cloud_cpu) >= os.cpu_count():
        print(f"spec-decode bench: this machine has {os.cpu_count()} CPUs", file=sys.stderr)
        return 2
    target = _resolve(args.target, "target")
    tmp = Path(tempfile.mkdtemp(prefix="spec_bench_"))
    log_dir = args.log_dir or tmp
    log_dir.mkdir(parents=True, exist_ok=True)
    if args.draft:
        draft = _resolve(args.draft, "draft")
    elif args.draft_layers:
        draft = _derive_draft(target, args.draft_layers, tmp / "draft")
    else:
        print("spec-decode bench: give --draft or --draft-layers", file=sys.stderr)
        return 2
    where = args.json.parent if args.json is not None else None
    config = {"target": portable_path(target, where), "draft": portable_path(draft, where),
              "dtype": str(resolve_dtype(args.dtype, args.device)).removeprefix("torch."),
              "device": str(resolve_device(args.device)), "rtt_ms": args.rtt_ms, "jitter_ms": args.jitter_ms,
              "bandwidth_mbps": args.bandwidth_mbps, "gamma": args.gamma, "max_new_tokens": args.max_new_tokens,
              "prompts": args.prompts, "sim_prompts": args.sim_prompts, "robot_cpu": args.robot_cpu, "cloud_cpu": args.cloud_cpu,
              "max_batch": args.max_batch, "max_wait_ms": args.max_wait_ms, "threads_per_process": 1,
              "emulate_forward_ms": args.emulate_forward_ms, "emulate_draft_ms": args.emulate_draft_ms,
              "constrain": args.constrain, "system_prompt": args.system_prompt, "auto_objective": args.auto_objective}
    if args.robots:
        config.update(robot_mode=args.robot_mode, latency_target_ms=args.latency_target_ms)
        print(f"many robots ({args.robots}) in mode {args.robot_mode}, RTT {args.rtt_ms} ms", flush=True)
        result: dict[str, Any] = {"robots": run_many(args, target, draft, log_dir), "config": config}
        gains = result["robots"]["throughput_gain"]
        print("batched/unbatched throughput: " + ", ".join(f"{n} robots {g:.2f}x" for n, g in gains.items()))
        print(f"capacity at {args.latency_target_ms} ms/token: batched {result['robots']['batched']['capacity']}, "
              f"unbatched {result['robots']['unbatched']['capacity']} robots")
    else:
        print(f"modes {args.modes} on {args.prompts} prompts, RTT {args.rtt_ms} ms", flush=True)
        result = run_modes(args, target, draft, log_dir)
        result["config"] = config
        print(format_modes(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
