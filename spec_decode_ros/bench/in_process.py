"""``spec-decode bench-local``: target alone vs local speculative decoding, side by side in one run.

For the SmolLM2 pair (``spec-decode models build``) or any --target/--draft folders, on a handful of
chat prompts: tokens/s of target-alone greedy (HF generate, and the engine's own γ=0 loop), of the
draft alone, and of speculative decoding for each γ with/without early exit and pre-drafting, with
acceptance rate, mean acceptance length, exit agreement and early hit rate; and, as the peer on the same
pair and prompts, transformers' own assisted generation (``generate(assistant_model=draft)``) for each γ.
Every speculative output, ours and the peer's, is checked against the target's greedy output. In-process pre-drafting runs inside the
target's forward (one CPU), so it cannot save time here; it pays off only when draft and target run
on different machines (``spec-decode bench``). ``--constrain both`` runs every row with and without the command
grammar as a constraint (rows marked ``+grammar``, each checked against the constrained target's own ``generate``),
one after the other on each prompt, so the constraint's cost is read on one machine state.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from spec_decode_ros.bench.options import add_prompt_options, constrain_variants, with_system
from spec_decode_ros.decoding import precision
from spec_decode_ros.decoding.early_exit import EarlyExitTarget
from spec_decode_ros.decoding.local import assisted_generate, speculative_generate, target_generate
from spec_decode_ros.decoding.mode import Mode
from spec_decode_ros.decoding.models import load_model
from spec_decode_ros.decoding.types import Prompt, SpecMetrics
from spec_decode_ros.paths import portable_path

PROMPTS = (
    "Walk forward two meters, then turn left and stop.",
    "What is the capital of France?",
    "List three things a robot dog should avoid.",
    "Explain in one sentence what a quadruped robot is.",
    "Count from one to ten.",
    "Give me two tips for staying focused.",
)


def _row(name: str, tokens: int, seconds: float, base_tps: float | None, m: SpecMetrics | None,
         lossless: bool | None, cpu_seconds: float) -> dict[str, object]:
    tps = tokens / seconds if seconds > 0 else 0.0
    row: dict[str, object] = {"mode": name, "tokens": tokens, "seconds": round(seconds, 3),
                              "tokens_per_s": round(tps, 2), "ms_per_token": round(1000.0 / tps, 2) if tps else None,
                              # this process's CPU time: what the work costs, whatever else the machine runs
                              "cpu_seconds": round(cpu_seconds, 3),
                              "cpu_ms_per_token": round(1000.0 * cpu_seconds / tokens, 2) if tokens else None, "speedup": round(tps / base_tps, 3) if base_tps else 1.0,
                              "lossless": lossless}
    if m is not None:
        row.update({"acceptance_rate": round(m.acceptance_rate, 3),
                    "mean_acceptance_length": round(m.mean_acceptance_length, 3),
                    "exit_agreement": round(m.exit_agreement, 3) if m.exit_agreement_total else None,
                    "early_hit_rate": round(m.early_hit_rate, 3) if m.early_exit_hits + m.early_exit_misses else None,
                    "target_passes_per_token": round(m.target_forward_passes / max(m.num_generated_tokens, 1), 3),
                    "target_busy_s_per_token": round(m.target_busy_s_per_token, 4)})
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="spec-decode bench-local", description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", type=Path, default=None, help="target folder (default: the SmolLM2 target)")
    ap.add_argument("--draft", type=Path, default=None, help="draft folder (default: the SmolLM2 draft)")
    ap.add_argument("--exit-layer", type=int, default=None, help="which trained exit gives the early verdict")
    ap.add_argument("--gammas", default="1,2,4")
    ap.add_argument("--prompts", type=int, default=4, help=f"how many prompts (text: of the {len(PROMPTS)} built-in)")
    ap.add_argument("--sim-prompts", action="store_true",
                    help="VLM pairs (e.g. the embedded one): camera images + instructions from the simulated Go2 world")
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared 2-core box)")
    ap.add_argument("--json", type=Path, default=None, help="also write the table as JSON here")
    add_prompt_options(ap, "mask target and draft with the command grammar (rows marked +grammar); both: every "
                           "mode with and without, interleaved per prompt (the constraint's cost on one machine state)")
    precision.add_arguments(ap)
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.threads:
        torch.set_num_threads(args.threads)
    from spec_decode_ros.decoding.zoo import smollm2_draft_path, smollm2_target_path

    target_dir = args.target or smollm2_target_path()
    draft_dir = args.draft or smollm2_draft_path()
    for path in (target_dir, draft_dir):
        if not (Path(path) / "config.json").is_file():
            print(f"bench-local: no model at {path}; run `spec-decode models build` first", file=sys.stderr)
            return 2
    target = EarlyExitTarget.from_pretrained(target_dir, exit_layer=args.exit_layer, dtype=args.dtype,
                                             device=args.device)
    draft = load_model(draft_dir, dtype=args.dtype, device=args.device)
    if args.sim_prompts:
        if target.model.processor is None:
            print(f"bench-local: --sim-prompts needs a VLM target; {target_dir} is a text model", file=sys.stderr)
            return 2
        from spec_decode_ros.bench.workload import sim_prompts
        from spec_decode_ros.decoding.image_size import processor_image_size

        prompts = list(sim_prompts(args.prompts, processor_image_size(target.model.processor)))
    else:
        prompts = [Prompt(p) for p in PROMPTS[: args.prompts]]
    prompts = list(with_system(prompts, args.system_prompt))
    variants = constrain_variants(args.constrain)
    tag = {"none": "", "grammar": " +grammar"}
    gammas = [int(g) for g in args.gammas.split(",")]
    new = args.max_new_tokens
    modes = [("spec", Mode.SD)]
    if target.exit_layers:
        modes += [("spec+exit", Mode.SD_EE), ("spec+exit+predraft", Mode.SD_EE_PREDRAFT)]

    speculative_generate(draft, target, prompts[0], gamma=2, max_new_tokens=4)  # warm-up
    assisted_generate(target, draft, prompts[0], 4, gamma=2)
    # every mode runs on a prompt before the next prompt starts (interleaved), so a change in machine load
    # affects all modes alike; per mode: [tokens, seconds, metrics, lossless, CPU seconds]
    names = {v: [f"target alone: HF generate (greedy){tag[v]}", f"target alone: engine loop (γ=0){tag[v]}",
                 f"draft alone (edge-only, not lossless){tag[v]}"] for v in variants}
    runs = {v: [(f"{name} γ={g}{tag[v]}", g, mode) for g in gammas for name, mode in modes] for v in variants}
    # generate(assistant_model=draft), unconstrained only
    peers = [(f"transformers assisted γ={g}", g) for g in gammas] if "none" in variants else []
    acc: dict[str, list] = {n: [0, 0.0, SpecMetrics(), True, 0.0]
                            for v in variants for n in names[v] + [r[0] for r in runs[v]]}
    acc.update({n: [0, 0.0, SpecMetrics(), True, 0.0] for n, _ in peers})

    def clock() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    def add(name: str, tokens: list[int], start: tuple[float, float], ref: list[int] | None,
            m: SpecMetrics | None) -> None:
        wall, cpu = clock()
        a = acc[name]
        a[0] += len(tokens)
        a[1] += wall - start[0]
        a[4] += cpu - start[1]
        a[3] = a[3] and (ref is None or tokens == ref)
        if m is not None:
            a[2] = a[2].merge(m)

    for p in tqdm(prompts, desc="prompts (all modes each)"):
        refs = {}
        for v in variants:
            t0 = clock()
            refs[v] = ref = target_generate(target, p, new, constrain=v)
            add(names[v][0], ref, t0, None, None)
            t0 = clock()
            out = speculative_generate(None, target, p, max_new_tokens=new, constrain=v)
            add(names[v][1], out.tokens, t0, ref, None)
            acc[names[v][0]][3] = acc[names[v][0]][3] and ref == out.tokens  # the reference too is compared
            t0 = clock()
            tokens = target_generate(draft, p, new, constrain=v)
            add(names[v][2], tokens, t0, None, None)
        for i in range(len(runs[variants[0]])):  # each mode with and without the grammar, one after the other
            for v in variants:
                name, gamma, mode = runs[v][i]
                t0 = clock()
                out = speculative_generate(draft, target, p, gamma=gamma, max_new_tokens=new, mode=mode, constrain=v)
                add(name, out.tokens, t0, refs[v], out.metrics)
        ref = refs[variants[0]]
        for name, gamma in peers:
            t0 = clock()
            tokens = assisted_generate(target, draft, p, new, gamma=gamma)
            add(name, tokens, t0, ref, None)
    first = names[variants[0]]
    base = acc[first[0]][0] / acc[first[0]][1]
    drafts_alone = {names[v][2] for v in variants}
    rows = [_row(n, acc[n][0], acc[n][1], base, acc[n][2] if n.startswith("spec") else None,
                 None if n in drafts_alone else acc[n][3], acc[n][4]) for n in acc]

    header = ("mode", "ms/token", "cpu ms/tok", "tok/s", "speedup", "accept", "mean len", "exit agree", "early hit", "lossless")
    base_dir = args.json.parent if args.json else None
    target_name, draft_name = portable_path(target_dir, base_dir), portable_path(draft_dir, base_dir)
    dtype, device = str(target.model.model.dtype).removeprefix("torch."), str(target.model.model.device)
    print(f"\ntarget {target_name} ({target.model.num_layers} layers, exit {getattr(target, 'active_exit', '-')}), "
          f"draft {draft_name} ({draft.num_layers} layers); {len(prompts)} prompts × ≤{new} tokens, "
          f"{dtype} on {device}, {torch.get_num_threads()} threads")
    print(f"{header[0]:<38} " + " ".join(f"{h:>10}" for h in header[1:]))
    for r in rows:
        cells = [r["ms_per_token"], r["cpu_ms_per_token"], r["tokens_per_s"], r["speedup"], r.get("acceptance_rate"), r.get("mean_acceptance_length"),
                 r.get("exit_agreement"), r.get("early_hit_rate"), r["lossless"]]
        print(f"{r['mode']:<38} " + " ".join(f"{'-' if c is None else c!s:>10}" for c in cells))
    if args.json:
        args.json.write_text(json.dumps({"target": target_name, "draft": draft_name, "dtype": dtype,
                                         "device": device, "sim_prompts": args.sim_prompts, "rows": rows,
                                         "constrain": args.constrain, "system_prompt": args.system_prompt,
                                         "prompts": [p.text for p in prompts], "max_new_tokens": new,
                                         "threads": torch.get_num_threads()}, indent=2) + "\n")
    return 0 if all(r["lossless"] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
