"""Does batching prefills pay on this CPU? CPU time (median of ``--repeats``, one torch thread) of the embedded
target's prefill of 1 prompt, of P prompts in one ``prefill_many`` forward, and of resuming 1 or P sessions
(``resume_many``, ``--committed`` tokens each), on the fleet benchmark's simulator camera prompts.

    .venv/bin/python bench/prefill_batch.py --json bench/fleet_results/prefill_batch.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path


def cpu_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times) * 1e3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", default="1,2,4,8,16", help="prompts per forward")
    ap.add_argument("--committed", type=int, default=6, help="committed tokens per resumed session")
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    import torch

    from spec_decode_ros.bench.workload import as_cloud_sees_it, sim_prompts
    from spec_decode_ros.decoding.early_exit import EarlyExitTarget
    from spec_decode_ros.decoding.image_size import processor_image_size
    from spec_decode_ros.embedded import default_target_path

    torch.set_num_threads(1)
    target = EarlyExitTarget.from_pretrained(default_target_path())
    sizes = [int(b) for b in args.batches.split(",")]
    prompts = sim_prompts(max(sizes), processor_image_size(target.model.processor))
    encs = [target.model.encode(as_cloud_sees_it(p)) for p in prompts]
    committed = list(range(5, 5 + args.committed))

    def resume(n: int) -> None:
        sessions = target.prefill_many(encs[:n]) if n > 1 else [target.prefill(encs[0])]
        t0 = time.process_time()
        target.resume_many(sessions, [committed] * n)
        resume.ms = (time.process_time() - t0) * 1e3  # type: ignore[attr-defined]

    def resume_ms(n: int) -> float:
        runs = []
        for _ in range(args.repeats):
            resume(n)
            runs.append(resume.ms)  # type: ignore[attr-defined]
        return statistics.median(runs)

    single = cpu_ms(lambda: target.prefill(encs[0]), args.repeats)
    rows = []
    for n in sizes:
        ms = single if n == 1 else cpu_ms(lambda n=n: target.prefill_many(encs[:n]), args.repeats)
        r_ms = resume_ms(n)
        rows.append({"prompts": n, "prefill_ms": ms, "prefill_ms_per_prompt": ms / n,
                     "gain_vs_one_at_a_time": n * single / ms, "resume_ms": r_ms, "resume_ms_per_session": r_ms / n})
        print(f"P={n:3d}: prefill {ms:6.1f} ms CPU ({ms / n:5.1f} ms/prompt, {n * single / ms:4.2f}× one at a time); "
              f"resume {r_ms:5.1f} ms ({r_ms / n:4.1f} ms/session)")
    if args.json is not None:
        config = {"target": "embedded", "prompt_tokens": encs[0].length, "committed": args.committed,
                  "repeats": args.repeats, "torch_threads": 1}
        args.json.write_text(json.dumps({"runs": rows, "config": config}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
