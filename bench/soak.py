"""Soak (issue #14): ``--robots`` honest robots (embedded pair, sd_ee_predraft, γ=4, 24 tokens, 0.2 s between
answers) against one ``spec-decode cloud --model embedded`` for ``--minutes``; the verifier's resident memory
is sampled every ``--sample-s``. Prints memory at minute 5 (or at a sixth of a shorter run) and at the end and
their difference, errors, outputs different from the target's greedy output, answers and rounds.

    .venv/bin/python bench/soak.py --robots 8 --minutes 30 --json bench/bridge_results/soak.json
    .venv/bin/python bench/soak.py --robots 2 --minutes 2       # a short try
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

from spec_decode_ros.bench.cloud_process import CloudProcess, add_cpu_arguments, free_endpoint, pin_cpus
from spec_decode_ros.bench.robustness_probes import RobotReport, percentile, references, robot_main, rss_bytes
from spec_decode_ros.bench.workload import sim_prompts
from spec_decode_ros.embedded import default_draft_path, default_target_path

MB = 2**20


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--robots", type=int, default=8)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--sample-s", type=float, default=30.0)
    add_cpu_arguments(ap)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    cloud_args = pin_cpus(args)
    early_min = min(5.0, args.minutes / 6)
    prompts = sim_prompts(8, 128)
    refs = references(default_target_path(), prompts, 24)
    ctx = mp.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    stop = Path(tempfile.mkdtemp()) / "stop"
    log = stop.parent / "cloud.log"
    samples: list[tuple[float, int]] = []
    with CloudProcess("embedded", free_endpoint(), *cloud_args, log=log) as cloud:
        procs = [ctx.Process(target=robot_main, args=(i, cloud.endpoint, str(default_draft_path()), prompts, refs,
                                                      str(stop), ready, results), daemon=True)
                 for i in range(args.robots)]
        for proc in procs:
            proc.start()
        for _ in procs:
            ready.get(timeout=600)
        t0 = time.monotonic()
        end = t0 + 60 * args.minutes
        while (now := time.monotonic()) < end:
            samples.append(((now - t0) / 60, rss_bytes(cloud.pid)))
            print(f"minute {samples[-1][0]:5.1f}: verifier RSS {samples[-1][1] / MB:7.1f} MB", flush=True)
            time.sleep(min(args.sample_s, max(0.0, end - now)))
        samples.append(((time.monotonic() - t0) / 60, rss_bytes(cloud.pid)))
        stop.touch()
        reports: list[RobotReport] = [results.get(timeout=300) for _ in procs]
        for proc in procs:
            proc.join(30)
    at_early = min(samples, key=lambda s: abs(s[0] - early_min))
    at_end = samples[-1]
    rounds = [d for r in reports for _, d in r.rounds]
    figures = {
        "robots": args.robots, "minutes": args.minutes,
        "rss_mb_early": at_early[1] / MB, "early_minute": at_early[0],
        "rss_mb_end": at_end[1] / MB, "end_minute": at_end[0],
        "rss_change": at_end[1] / at_early[1] - 1,
        "answers": sum(r.runs for r in reports), "rounds": len(rounds),
        "mismatches": sum(r.mismatches for r in reports), "errors": [e for r in reports for e in r.errors],
        "p95_round_ms": 1000 * percentile(rounds, 0.95), "median_round_ms": 1000 * percentile(rounds, 0.5),
        "rss_samples_mb": [(round(m, 2), round(b / MB, 1)) for m, b in samples],
    }
    print(f"{args.robots} robots, {args.minutes:g} min: {figures['answers']} answers, {figures['rounds']} rounds, "
          f"{figures['mismatches']} differ from the target's, {len(figures['errors'])} errors; verifier RSS "
          f"{figures['rss_mb_early']:.1f} MB at minute {at_early[0]:.1f}, {figures['rss_mb_end']:.1f} MB at minute "
          f"{at_end[0]:.1f} ({100 * figures['rss_change']:+.2f} %); round p50 {figures['median_round_ms']:.1f} ms, "
          f"p95 {figures['p95_round_ms']:.1f} ms")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if not figures["errors"] and not figures["mismatches"] else 1


if __name__ == "__main__":
    sys.exit(main())
