"""``spec-decode fleet-bench``: the verifier fleet under 1–128 emulated robots, batched and unbatched, 1 or 2
replicas; throughput, per-robot ms/token, rows per forward and capacity; a table, ``--json PATH`` and a plot.

    spec-decode fleet-bench --robots 1,8,32,64,128 --replicas 1,2 --json bench/fleet_results/fleet.json

What is real: the target (the shipped embedded VLM, or ``--target DIR``) verifies every block in Ray replica
processes behind the fleet front; robots speak the real protocol over real ZeroMQ through the link emulator
(``spec_decode_ros/bench/link.py``, ``--rtt-ms``); outputs are checked against the target's own greedy answers. What is
emulated, so that one process drives 128 robots and the figures measure the verifier, not this machine:

- robots: the draft model's greedy blocks are recorded once (``spec_decode_ros/bench/replay.py``) and replayed, each drafted
  token costing ``--draft-ms`` (a sleep);
- the target's forward: ``t(rows, tokens) = a + b·rows·tokens`` (``--a-ms``, ``--b-ms``; ``rows`` the batch,
  ``tokens`` its padded width γ+1), or the real CPU time when that is longer (``spec_decode_ros/bench/cost.py``), its early
  verdict after the exit layer's share of t. Prefill (OPEN) runs at its real CPU cost.

Each run: N robots, ``--answers`` answers each (prompts rotated), started together; wall time until the last.
Capacity: the most robots whose p95 ms/token stays within ``--latency-target-ms``. ``--failover-robots N``
adds a run on 2 batched replicas that kills one replica's process mid-run (``os.kill``) and measures how long
its robots take to commit again on the other.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from spec_decode_ros.analysis.stats import percentile
from spec_decode_ros.bench.cloud_process import free_endpoint
from spec_decode_ros.bench.cost import PREFILL, ForwardCost
from spec_decode_ros.bench.link import LinkProcess, LinkProfile
from spec_decode_ros.bench.replay import DraftTable, ReplayEdgeSession
from spec_decode_ros.bridge.client import CloudClient
from spec_decode_ros.bridge.edge import EdgeConfig, TokenEvent
from spec_decode_ros.cloud.config import CloudConfig
from spec_decode_ros.cloud.fleet import replica_spec
from spec_decode_ros.decoding.mode import Mode
from spec_decode_ros.fleet.cluster import Fleet, start_ray
from spec_decode_ros.fleet.replica import ReplicaSpec


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="spec-decode fleet-bench", description=__doc__.split("\n")[0])
    ap.add_argument("--robots", default="1,8,32,64,128", help="robot counts, e.g. 1,8,32,64,128")
    ap.add_argument("--replicas", default="1,2", help="replica counts, e.g. 1,2")
    ap.add_argument("--modes", default="unbatched,batched", help="comma list of unbatched, batched")
    ap.add_argument("--json", type=Path, required=True, help="write the results here (the plot goes beside it)")
    ap.add_argument("--target", default="embedded", help="target model folder, or 'embedded' (the shipped pair)")
    ap.add_argument("--draft", default="embedded", help="draft model folder, or 'embedded'")
    ap.add_argument("--prompts", type=int, default=16, help="simulated camera prompts (held-out Go2 scenes)")
    ap.add_argument("--answers", type=int, default=2, help="answers per robot in each run")
    ap.add_argument("--gamma", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--a-ms", type=float, default=20.0, help="cost model: fixed ms per target forward")
    ap.add_argument("--b-ms", type=float, default=0.5, help="cost model: ms per row·token of a forward")
    ap.add_argument("--prefill", default="real", choices=PREFILL,
                    help="real: every OPEN prefills on the replica's CPU (those ready together in one forward); "
                         "cached: a prompt seen before is served from a copy of its KV cache (prefill off the "
                         "verifier's path: an upper bound)")
    ap.add_argument("--draft-ms", type=float, default=20.0, help="emulated robot drafting cost per token")
    ap.add_argument("--rtt-ms", type=float, default=80.0, help="emulated round trip robot–cloud")
    ap.add_argument("--jitter-ms", type=float, default=0.0)
    ap.add_argument("--bandwidth-mbps", type=float, default=0.0, help="0: unlimited")
    ap.add_argument("--max-batch", type=int, default=32, help="rows per forward when batched")
    ap.add_argument("--max-wait-ms", type=float, default=5.0, help="longest a DRAFT waits for its batch to fill")
    ap.add_argument("--latency-target-ms", type=float, default=100.0, help="per-token target for capacity")
    ap.add_argument("--failover-robots", type=int, default=0,
                    help="also kill one of 2 batched replicas mid-run with this many robots (0: no failover run)")
    ap.add_argument("--failover-answers", type=int, default=8, help="failover run: answers per robot")
    ap.add_argument("--kill-after-s", type=float, default=1.5, help="failover run: seconds before the kill")
    ap.add_argument("--reply-timeout-s", type=float, default=120.0)
    return ap


def _counts(text: str, what: str) -> list[int]:
    try:
        counts = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise ValueError(f"--{what} needs comma-separated integers, got {text!r}") from None
    if not counts or counts[0] < 1:
        raise ValueError(f"--{what} needs positive counts, got {text!r}")
    return counts


# ---------------------------------------------------------------------------------------------- robots


@dataclass
class RobotResult:
    tokens: int = 0
    latency_s: float = 0.0
    answers: int = 0
    identical: int = 0
    rounds: int = 0
    drafted: int = 0
    accepted: int = 0
    early_hits: int = 0
    early_total: int = 0
    token_times: list[float] = field(default_factory=list)  # monotonic time of each committed token
    error: str = ""

    @property
    def ms_per_token(self) -> float:
        return 1000.0 * self.latency_s / self.tokens if self.tokens else float("inf")


@dataclass
class Workload:
    table: DraftTable
    references: list[list[int]]
    config: EdgeConfig
    answers: int
    draft_s: float = 0.0  # each replayed drafted token costs at least this long


def _robot(i: int, endpoint: str, work: Workload, go: threading.Event, out: RobotResult,
           current: dict[int, ReplayEdgeSession]) -> None:
    client = CloudClient(endpoint)
    try:
        go.wait()
        for a in range(work.answers):
            k = (i + a) % len(work.references)

            def on_token(ev: TokenEvent) -> None:
                out.token_times.append(time.monotonic())

            session = ReplayEdgeSession(client, work.table, k, work.config, work.draft_s, on_token=on_token)
            current[i] = session
            res = session.run()
            m = res.metrics
            out.tokens += len(res.tokens)
            out.latency_s += res.latency_s
            out.answers += 1
            out.identical += res.tokens == work.references[k]
            out.rounds += m.target_forward_passes
            out.drafted += m.num_draft_tokens
            out.accepted += m.num_accepted_tokens
            out.early_hits += m.early_exit_hits
            out.early_total += m.early_exit_hits + m.early_exit_misses
    except Exception as e:  # reported in the run's figures
        out.error = f"{type(e).__name__}: {e}"
    finally:
        client.close()


def drive(endpoint: str, robots: int, work: Workload,
          during: Any = None) -> tuple[list[RobotResult], float, dict[int, ReplayEdgeSession]]:
    """``robots`` threads, released together; ``during(current)`` runs in this thread meanwhile."""
    go = threading.Event()
    results = [RobotResult() for _ in range(robots)]
    current: dict[int, ReplayEdgeSession] = {}
    threads = [threading.Thread(target=_robot, args=(i, endpoint, work, go, results[i], current), daemon=True)
               for i in range(robots)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    go.set()
    if during is not None:
        during(current)
    for t in threads:
        t.join()
    return results, time.monotonic() - t0, current


def summarize(results: list[RobotResult], wall: float, server: list[dict[str, float]],
              before: list[dict[str, float]]) -> dict[str, Any]:
    """One run's figures; ``server`` are the replicas' counters after it (reset before), ``before`` those read
    at the reset (the cost model's own counters are not reset)."""
    per_robot = [r.ms_per_token for r in results]
    tokens = sum(r.tokens for r in results)
    answers = sum(r.answers for r in results)
    forwards = sum(s["forwards"] for s in server)
    drafted = sum(r.drafted for r in results)
    early = sum(r.early_total for r in results)
    return {
        "throughput_tok_s": tokens / wall if wall else 0.0,
        "ms_per_token_p50": percentile(per_robot, 0.5),
        "ms_per_token_p95": percentile(per_robot, 0.95),
        "ms_per_token_mean": statistics.fmean(per_robot) if per_robot else float("nan"),
        "rows_per_forward": sum(s["rows"] for s in server) / forwards if forwards else 0.0,
        "identical_to_target": sum(r.identical for r in results) / answers if answers else 0.0,
        "tokens": tokens, "answers": answers, "wall_s": wall, "forwards": forwards,
        "server_busy_s": sum(s["busy_s"] for s in server),
        **{name: sum(max(0, a.get(key, 0) - b.get(key, 0)) for a, b in zip(server, before, strict=True))
           for name, key in (("forwards_over_model", "over_model"), ("prefills", "prefills"),
                             ("prefills_cached", "prefills_cached"), ("prefill_forwards", "prefill_forwards"))},
        "acceptance_rate": sum(r.accepted for r in results) / drafted if drafted else 0.0,
        "tokens_per_round": tokens / max(1, sum(r.rounds for r in results)),
        "early_hit_rate": sum(r.early_hits for r in results) / early if early else 0.0,
        "errors": [r.error for r in results if r.error],
    }


# ---------------------------------------------------------------------------------------------- runs


def _spec(args: argparse.Namespace, batched: bool, cost: ForwardCost) -> ReplicaSpec:
    # float32 on one CPU thread per replica; OPENs prefilled together rather than fused into first rounds (a
    # deferred session verifies alone: many robots opening at once would cost one forward each)
    config = CloudConfig(model=args.target, max_batch=args.max_batch if batched else 1,
                         max_wait_ms=args.max_wait_ms if batched else 0.0, max_sessions=1024, threads=1,
                         device="cpu", dtype="float32", fuse_first_round=False, log_level="warning")
    return replica_spec(config, wrap=cost)


def sweep(args: argparse.Namespace, work: Workload, cost: ForwardCost, profile: LinkProfile) -> list[dict[str, Any]]:
    runs = []
    for replicas in _counts(args.replicas, "replicas"):
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            batched = mode == "batched"
            with Fleet(_spec(args, batched, cost), replicas, "tcp://127.0.0.1:0") as fleet, \
                    LinkProcess(free_endpoint(), fleet.endpoint, profile) as link:
                drive(link.front_endpoint, 1, replace(work, answers=1))  # warm-up
                for robots in _counts(args.robots, "robots"):
                    before = fleet.stats(reset=True)
                    results, wall, _ = drive(link.front_endpoint, robots, work)
                    run = {"robots": robots, "batched": batched, "replicas": replicas,
                           **summarize(results, wall, fleet.stats(), before)}
                    runs.append(run)
                    print(f"  {'batched' if batched else 'unbatched':9s} x{replicas} {robots:4d} robots: "
                          f"{run['throughput_tok_s']:7.1f} tok/s, p50 {run['ms_per_token_p50']:6.1f} "
                          f"p95 {run['ms_per_token_p95']:6.1f} ms/token, {run['rows_per_forward']:5.2f} rows/forward, "
                          f"identical {run['identical_to_target']:.2f}, {wall:5.1f} s"
                          + (f", {len(run['errors'])} robot errors" if run["errors"] else ""), flush=True)
    return runs


def failover(args: argparse.Namespace, work: Workload, cost: ForwardCost, profile: LinkProfile) -> dict[str, Any]:
    """Kill one of two batched replicas mid-run; per robot on it: seconds from the kill to its next token."""
    robots = args.failover_robots
    with Fleet(_spec(args, True, cost), 2, "tcp://127.0.0.1:0") as fleet, \
            LinkProcess(free_endpoint(), fleet.endpoint, profile) as link:
        drive(link.front_endpoint, 1, replace(work, answers=1))
        pid = fleet.pids()[0]
        before = fleet.stats(reset=True)
        killed: dict[str, Any] = {}

        def kill(current: dict[int, ReplayEdgeSession]) -> None:
            time.sleep(args.kill_after_s)
            placement = fleet.front.placement() if fleet.front is not None else {}
            killed["robots"] = [i for i, s in list(current.items()) if placement.get(s.session_id) == 0]
            killed["t"] = time.monotonic()
            os.kill(pid, signal.SIGKILL)

        longer = replace(work, answers=args.failover_answers)
        results, wall, _ = drive(link.front_endpoint, robots, longer, during=kill)
        gaps = []
        for i in killed["robots"]:
            after = [t for t in results[i].token_times if t > killed["t"]]
            gaps.append(after[0] - killed["t"] if after else float("inf"))
        restarted = fleet.pids()[0] != pid
        out = {"robots": robots, "replicas": 2, "batched": True, "killed_pid": pid,
               "robots_on_killed_replica": len(killed["robots"]),
               "resume_s_max": max(gaps, default=0.0), "resume_s_p50": percentile(gaps, 0.5),
               "replica_restarted_by_ray": restarted, **summarize(results, wall, fleet.stats(), before)}
    print(f"  failover: {out['robots_on_killed_replica']} robots on the killed replica resumed within "
          f"{out['resume_s_max']:.2f} s (p50 {out['resume_s_p50']:.2f}); identical {out['identical_to_target']:.2f}; "
          f"Ray restarted it: {restarted}", flush=True)
    return out


def capacity(runs: list[dict[str, Any]], target_ms: float) -> list[dict[str, Any]]:
    out = []
    for key in sorted({(r["batched"], r["replicas"]) for r in runs}):
        ok = [r["robots"] for r in runs if (r["batched"], r["replicas"]) == key and r["ms_per_token_p95"] <= target_ms
              and not r["errors"]]
        out.append({"batched": key[0], "replicas": key[1], "robots": max(ok, default=0)})
    return out


def _finite(value: Any) -> Any:
    """The result with every NaN/inf (a robot that committed nothing, no robot on the killed replica) as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def format_table(runs: list[dict[str, Any]], caps: list[dict[str, Any]], target_ms: float) -> str:
    head = f"{'config':14s}{'robots':>7s}{'tok/s':>9s}{'p50 ms':>9s}{'p95 ms':>9s}{'rows/fwd':>9s}{'identical':>10s}"
    rows = [head]
    for r in runs:
        name = f"{'batched' if r['batched'] else 'unbatched'} x{r['replicas']}"
        rows.append(f"{name:14s}{r['robots']:7d}{r['throughput_tok_s']:9.1f}{r['ms_per_token_p50']:9.1f}"
                    f"{r['ms_per_token_p95']:9.1f}{r['rows_per_forward']:9.2f}{r['identical_to_target']:10.2f}")
    rows.append(f"capacity at {target_ms:g} ms/token (p95): " + ", ".join(
        f"{'batched' if c['batched'] else 'unbatched'} x{c['replicas']} {c['robots']}" for c in caps))
    return "\n".join(rows)


def plot(runs: list[dict[str, Any]], target_ms: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key in sorted({(r["batched"], r["replicas"]) for r in runs}):
        rs = sorted((r for r in runs if (r["batched"], r["replicas"]) == key), key=lambda r: r["robots"])
        label = f"{'batched' if key[0] else 'unbatched'}, {key[1]} replica{'s' if key[1] > 1 else ''}"
        style = "-" if key[0] else "--"
        ax1.plot([r["robots"] for r in rs], [r["throughput_tok_s"] for r in rs], style, marker="o", label=label)
        ax2.plot([r["robots"] for r in rs], [r["ms_per_token_p95"] for r in rs], style, marker="o", label=label)
    ax2.axhline(target_ms, color="grey", lw=0.8, ls=":", label=f"target {target_ms:g} ms/token")
    for ax, title in ((ax1, "server throughput (committed tokens/s)"), (ax2, "per-robot ms/token, p95")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("robots")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    ax2.set_yscale("log")
    ax1.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------- command


def _model_path(name: str, role: str) -> str:
    from spec_decode_ros.embedded import model_path

    return str(model_path(name, role))


def prepare(args: argparse.Namespace) -> tuple[Workload, dict[str, Any]]:
    """Prompts, the target's greedy answers (as the cloud sees each prompt) and the recorded draft table."""
    import torch

    from spec_decode_ros.bench.workload import as_cloud_sees_it, sim_prompts
    from spec_decode_ros.decoding.image_size import processor_image_size
    from spec_decode_ros.decoding.local import target_generate
    from spec_decode_ros.decoding.models import load_model

    torch.set_num_threads(1)
    target = load_model(_model_path(args.target, "target"))
    draft = load_model(_model_path(args.draft, "draft"))
    if target.processor is None:
        raise ValueError("the fleet benchmark drives camera prompts: it needs a VLM target")
    prompts = sim_prompts(args.prompts, processor_image_size(target.processor))
    references = [target_generate(target, as_cloud_sees_it(pr), args.max_new_tokens) for pr in prompts]
    table = DraftTable(draft, prompts).record(references, 2 * args.gamma + 1)
    config = EdgeConfig(mode=Mode.SD_EE_PREDRAFT, gamma=args.gamma, max_new_tokens=args.max_new_tokens,
                        reply_timeout_s=args.reply_timeout_s)
    info = {"draft_table_entries": table.size, "draft_table_record_s": table.record_s,
            "reference_tokens_mean": statistics.fmean(len(r) for r in references)}
    return Workload(table, references, config, args.answers, args.draft_ms / 1000.0), info


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        robots, replicas = _counts(args.robots, "robots"), _counts(args.replicas, "replicas")
        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        if not modes or set(modes) - {"batched", "unbatched"}:
            raise ValueError(f"--modes takes batched and/or unbatched, got {args.modes!r}")
        if args.answers < 1 or args.prompts < 1:
            raise ValueError("--answers and --prompts must be >= 1")
        cost = ForwardCost(args.a_ms / 1000.0, args.b_ms / 1000.0, args.prefill)
        profile = LinkProfile.from_rtt_ms(args.rtt_ms, args.jitter_ms, args.bandwidth_mbps)
        work, info = prepare(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"spec-decode fleet-bench: {e}", file=sys.stderr)
        return 2
    print(f"fleet-bench: robots {robots}, replicas {replicas}, {modes}; t(rows, tokens) = {args.a_ms:g} ms + "
          f"{args.b_ms:g} ms·rows·tokens, prefill {args.prefill}; RTT {args.rtt_ms:g} ms; draft {args.draft_ms:g} ms/token; "
          f"draft table {info['draft_table_entries']} entries", flush=True)
    own_ray = start_ray(num_cpus=max(replicas))
    try:
        runs = sweep(args, work, cost, profile)
        fail = failover(args, work, cost, profile) if args.failover_robots else None
    finally:
        if own_ray:
            import ray

            ray.shutdown()
    caps = capacity(runs, args.latency_target_ms)
    config = {"target": args.target, "draft": args.draft, "prompts": args.prompts, "answers_per_robot": args.answers,
              "gamma": args.gamma, "max_new_tokens": args.max_new_tokens, "mode": work.config.mode.value,
              "cost_model": "t(rows, tokens) = a + b*rows*tokens (or the real CPU time when longer); tokens = "
                            "padded width (gamma + 1); early verdict at exit_layer/num_layers of t",
              "a_ms": args.a_ms, "b_ms": args.b_ms, "prefill": args.prefill, "draft_ms_per_token": args.draft_ms, "rtt_ms": args.rtt_ms,
              "jitter_ms": args.jitter_ms, "bandwidth_mbps": args.bandwidth_mbps, "max_batch": args.max_batch,
              "max_wait_ms": args.max_wait_ms, "latency_target_ms": args.latency_target_ms,
              "capacity_rule": "most robots with p95 ms/token <= latency_target_ms",
              "cpus": os.cpu_count(), "replica_resources": "one CPU each (no GPU here)",
              "draft_table_misses": work.table.misses, **info}
    result: dict[str, Any] = {"runs": runs, "capacity": caps, "config": config}
    if fail is not None:
        result["failover"] = fail
    print(format_table(runs, caps, args.latency_target_ms))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(_finite(result), indent=2) + "\n")
    png = args.json.with_suffix(".png")
    plot(runs, args.latency_target_ms, png)
    print(f"wrote {args.json} and {png}")
    return 0
