"""Hostile input against a running ``spec-decode cloud --model embedded`` (issue #14), two parts:

1. each hostile frame alone (``spec_decode_ros.bench.hostile_frames``), ``--repeats`` times: time to its ERROR,
   the verifier's peak resident memory above what it held before, and the slowest PONG another client got
   meanwhile (PINGs every 20 ms);
2. ``--robots`` honest robots (embedded draft, sd_ee_predraft, γ=4, 24 tokens) generate for ``--baseline-s``
   undisturbed, then for ``--flood-s`` while one client floods hostile frames: their p95 DRAFT→FINAL round time
   side by side, outputs that differ from the target's greedy output, errors, the PONG delays (``--segments N``:
   baseline and flood alternate in N pairs of segments with the same totals, 1 s apart).

The cloud runs with its flood guard (``bridge.flood_guard``) unless ``--no-flood-guard``. Plaintext on loopback
unless ``--curve``: then the cloud runs with ``--keys`` (made in a temporary folder) and every client holds an
allowed key of its own, the flooder too (the worst case: a compromised robot), so that the flood guard can refuse
the flooder's key at the handshake while it is under penalty.

    .venv/bin/python bench/hostile.py                 # figures for docs/benchmarks.md (about 3 minutes)
    .venv/bin/python bench/hostile.py --json bench/bridge_results/hostile.json
    .venv/bin/python bench/hostile.py --segments 6 --curve --json bench/bridge_results/hostile_flood_curve.json
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import zmq

from spec_decode_ros.bench import hostile_frames as hostile
from spec_decode_ros.bench.cloud_process import CloudProcess, add_cpu_arguments, free_endpoint, pin_cpus
from spec_decode_ros.bench.robustness_probes import (
    PingProber,
    RobotReport,
    cpu_seconds,
    peak_rss_bytes,
    percentile,
    references,
    reset_peak,
    robot_main,
    rss_bytes,
)
from spec_decode_ros.bench.workload import sim_prompts
from spec_decode_ros.bridge import keys
from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.security import ClientSecurity, make_curve_client
from spec_decode_ros.embedded import default_draft_path, default_target_path

MB = 2**20
CLOUD = "cloud"  # the key names ``--curve`` makes: the cloud's, the PING prober, the flooder (and senders, robots)
PROBER, FLOODER = "prober", "flooder"


class Keys:
    """``--curve``: a key folder made with ``spec-decode keys`` (cloud, the clients above, ``robot0``…, and part 1's
    ``sender0``…: one key per send, as each send is a new connection, a new peer, in plaintext); without it every
    ``client`` is None (plaintext)."""

    def __init__(self, robots: int, senders: int, curve: bool) -> None:
        self.folder: Path | None = None
        if curve:
            self.folder = Path(tempfile.mkdtemp()) / "keys"
            with contextlib.redirect_stdout(io.StringIO()):  # one line per key file: not figures
                keys.main([str(self.folder), CLOUD, PROBER, FLOODER, *(robot(i) for i in range(robots)),
                           *(sender(i) for i in range(senders))])

    def cloud_args(self) -> tuple[str, ...]:
        return () if self.folder is None else ("--keys", str(self.folder))

    def client(self, name: str) -> ClientSecurity | None:
        if self.folder is None:
            return None
        return ClientSecurity(self.folder / f"{name}.key_secret", self.folder / f"{CLOUD}.key")


PART_ONE_KINDS = {**hostile.KINDS, "oversized_16MB": hostile.oversized}


def robot(index: int) -> str:
    return f"robot{index}"


def sender(index: int) -> str:
    return f"sender{index}"


def one_frame(cloud: CloudProcess, frame: bytes, keys: Keys, index: int,
              timeout_s: float = 2.0) -> tuple[float | None, int, float]:
    """Send ``frame`` on a fresh connection (with ``--curve``, key ``sender{index}``): (seconds to its ERROR or
    None, peak RSS rise, slowest PONG)."""
    rss0 = rss_bytes(cloud.pid)
    reset_peak(cloud.pid)
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    if (security := keys.client(sender(index))) is not None:
        make_curve_client(sock, security)
    sock.connect(cloud.endpoint)
    assert sock.poll(0) == 0
    with PingProber(cloud.endpoint, security=keys.client(PROBER)) as prober:
        time.sleep(0.1)
        t0 = time.perf_counter()
        sock.send(frame)
        took = None
        if sock.poll(int(timeout_s * 1000)):
            msg = p.decode(sock.recv())
            took = time.perf_counter() - t0 if isinstance(msg, p.Error) else None
        time.sleep(0.1)
    sock.close(0)
    return took, max(0, peak_rss_bytes(cloud.pid) - rss0), max(prober.delays, default=0.0)


def part_one(cloud: CloudProcess, repeats: int, keys: Keys) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for k, (name, build) in enumerate(PART_ONE_KINDS.items()):
        frame = build()
        runs = [one_frame(cloud, frame, keys, k * repeats + i) for i in range(repeats)]
        answered = [t for t, _, _ in runs if t is not None]
        out[name] = {"bytes": len(frame), "errors": len(answered), "sent": repeats,
                     "max_error_ms": 1000 * max(answered) if answered else None,
                     "max_peak_rss_rise_mb": max(r for _, r, _ in runs) / MB,
                     "max_pong_ms": 1000 * max(d for _, _, d in runs)}
        print(f"{name:22s} {len(frame) / MB:6.2f} MB  ERROR {len(answered)}/{repeats}"
              + (f" in <= {1000 * max(answered):6.1f} ms" if answered else " (dropped by libzmq: over MAXMSGSIZE)")
              + f"  peak RSS +{out[name]['max_peak_rss_rise_mb']:5.1f} MB  other client's PONG <= "
              f"{out[name]['max_pong_ms']:5.1f} ms", flush=True)
    return out


def part_two(cloud: CloudProcess, robots: int, baseline_s: float, flood_s: float, keys: Keys, segments: int = 1,
             settle_s: float = 1.0) -> dict[str, object]:
    prompts = sim_prompts(8, 128)
    refs = references(default_target_path(), prompts, 24)
    ctx = mp.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    stop = Path(tempfile.mkdtemp()) / "stop"
    procs = [ctx.Process(target=robot_main, args=(i, cloud.endpoint, str(default_draft_path()), prompts, refs,
                                                  str(stop), ready, results),
                         kwargs={"security": keys.client(robot(i))}, daemon=True) for i in range(robots)]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=300)
    active, done, flooder_ready = ctx.Event(), ctx.Event(), ctx.Event()
    flood_results = ctx.Queue()
    flooder = ctx.Process(target=hostile.flood_main, args=(cloud.endpoint, flood_s, flood_results),
                          kwargs={"active": active, "done": done, "ready": flooder_ready,
                                  "security": keys.client(FLOODER)}, daemon=True)
    flooder.start()
    flooder_ready.wait(300)
    windows: dict[str, list[tuple[float, float]]] = {"base": [], "flood": []}
    pongs: dict[str, list[float]] = {"base": [], "flood": []}
    who = {"verifier": [cloud.pid], "flooder": [flooder.pid], "robots": [proc.pid for proc in procs]}
    cpu = {f"{name}_{kind}": 0.0 for name in who for kind in ("base", "flood")}

    def cpu_now() -> dict[str, float]:
        return {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in who.items()}
    rss0 = rss_bytes(cloud.pid)
    reset_peak(cloud.pid)
    with PingProber(cloud.endpoint, interval_s=0.05, security=keys.client(PROBER)) as prober:
        for _ in range(segments):  # baseline and flood alternate, so that other load on the machine falls on both
            for kind, seconds in (("base", baseline_s / segments), ("flood", flood_s / segments)):
                time.sleep(settle_s)  # what the last segment left queued drains, outside both windows
                n0, t0, c0 = len(prober.delays), time.time(), cpu_now()
                if kind == "flood":
                    active.set()
                time.sleep(seconds)
                active.clear()
                for name, used in cpu_now().items():
                    cpu[f"{name}_{kind}"] += used - c0[name]
                windows[kind].append((t0, time.time()))
                pongs[kind] += prober.delays[n0:]
    done.set()
    flooder.join(60)
    peak = peak_rss_bytes(cloud.pid) - rss0
    stop.touch()
    reports: list[RobotReport] = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(30)
    sent, errors = flood_results.get(timeout=10)
    pings_base, pings_flood = pongs["base"], pongs["flood"]

    def within(kind: str) -> list[float]:
        return [d for r in reports for t, d in r.rounds if any(a <= t < b for a, b in windows[kind])]

    base, flood = within("base"), within("flood")
    p95_base, p95_flood = percentile(base, 0.95), percentile(flood, 0.95)
    summary = {
        "robots": robots, "baseline_s": baseline_s, "flood_s": flood_s, "segments": segments,
        "rounds_baseline": len(base), "rounds_flood": len(flood),
        "p95_round_ms_baseline": 1000 * p95_base, "p95_round_ms_flood": 1000 * p95_flood,
        "median_round_ms_baseline": 1000 * percentile(base, 0.5), "median_round_ms_flood": 1000 * percentile(flood, 0.5),
        "p95_rise": p95_flood / p95_base - 1 if p95_base else None,
        "runs": sum(r.runs for r in reports), "mismatches": sum(r.mismatches for r in reports),
        "errors": [e for r in reports for e in r.errors],
        "flood_frames_sent": sent, "flood_errors_received": errors,
        "flood_peak_rss_rise_mb": max(0, peak) / MB,
        "pong_ms_p95_baseline": 1000 * percentile(pings_base, 0.95),
        "pong_ms_max_baseline": 1000 * max(pings_base, default=0.0),
        "pong_ms_max_during_flood": 1000 * max(pings_flood, default=0.0),
        "pong_ms_p95_during_flood": 1000 * percentile(pings_flood, 0.95),
        # CPU seconds used within the windows (baseline_s, flood_s): what the flood costs, and whom
        **{f"cpu_s_{name}_{'baseline' if kind == 'base' else 'flood'}": v
           for (name, kind), v in ((k.rsplit('_', 1), v) for k, v in cpu.items())},
    }
    print(f"{robots} honest robots, {summary['runs']} answers in all, {summary['mismatches']} differ from the target's, "
          f"{len(summary['errors'])} errors")
    print(f"  p95 round (DRAFT->FINAL): {summary['p95_round_ms_baseline']:.1f} ms without flood "
          f"({len(base)} rounds), {summary['p95_round_ms_flood']:.1f} ms with flood ({len(flood)} rounds): "
          f"{100 * (summary['p95_rise'] or 0):+.0f} %")
    print(f"  flood: {sent} hostile frames sent in {flood_s:.0f} s, {errors} ERRORs back; verifier peak RSS "
          f"+{summary['flood_peak_rss_rise_mb']:.1f} MB")
    print(f"  another client's PONG: p95 {summary['pong_ms_p95_baseline']:.1f} ms, max "
          f"{summary['pong_ms_max_baseline']:.1f} ms without flood; p95 {summary['pong_ms_p95_during_flood']:.1f} ms, "
          f"max {summary['pong_ms_max_during_flood']:.1f} ms with flood")
    print("  CPU seconds (baseline / flood): " + ", ".join(
        f"{name} {cpu[name + '_base']:.1f} / {cpu[name + '_flood']:.1f}" for name in who), flush=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5, help="part 1: sends of each hostile frame")
    ap.add_argument("--robots", type=int, default=4)
    ap.add_argument("--baseline-s", type=float, default=60.0)
    ap.add_argument("--flood-s", type=float, default=60.0)
    ap.add_argument("--segments", type=int, default=1,
                    help="part 2: alternate baseline and flood in this many pairs of segments (the same totals), so "
                         "that other jobs' load on the machine falls on both")
    ap.add_argument("--skip-flood", action="store_true", help="part 1 only")
    ap.add_argument("--no-flood-guard", action="store_true", help="run the cloud without its flood guard")
    ap.add_argument("--curve", action="store_true",
                    help="CURVE: the cloud with --keys, each client (the flooder too) with an allowed key of its own")
    add_cpu_arguments(ap)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    keys = Keys(args.robots, len(PART_ONE_KINDS) * args.repeats, args.curve)
    cloud_args = pin_cpus(args) + (("--flood-refused-mb", "0") if args.no_flood_guard else ()) + keys.cloud_args()
    log = Path(tempfile.mkdtemp()) / "cloud.log"
    with CloudProcess("embedded", free_endpoint(), *cloud_args, log=log, client_security=keys.client(PROBER)) as cloud:
        figures: dict[str, object] = {"flood_guard": not args.no_flood_guard, "curve": args.curve,
                                      "frames": part_one(cloud, args.repeats, keys)}
        if not args.skip_flood:
            figures["flood"] = part_two(cloud, args.robots, args.baseline_s, args.flood_s, keys, args.segments)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
