"""``spec-decode eval``: measure the embedded pair on freshly generated held-out layouts.

Figures (all on the simulator's "heldout" split, whose layouts training never sees):

* target exact match of the answer against the expert (greedy, the model's own ``generate``),
  overall with its 95 % (Wilson) interval, per kind of answer (search turn / stop / move) and per
  state kind (``sim.margins``);
* draft against target through the engine's ``speculative_generate`` (greedy, γ fixed): acceptance
  rate, mean acceptance length, and the number of outputs that differ from ``target_generate``
  (must be 0: speculative decoding is lossless);
* early exit: top-1 agreement of the exit with the final layer and the hit rate of early verdicts;
* closed loop without ROS: ``run_episode`` with the target as policy, success = stopped within 0.5 m.

``--render-size`` renders the camera larger than the model's input, as a Go2's camera is, so that the
processor resizes every frame (the default renders at the model's own size, as training does).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import Counter
from pathlib import Path

import torch
from tqdm import tqdm

from spec_decode_ros.decoding import precision
from spec_decode_ros.decoding.image_size import processor_image_size
from spec_decode_ros.decoding.types import CONSTRAIN_CHOICES
from spec_decode_ros.embedded import default_draft_path, default_target_path
from spec_decode_ros.embedded.batching import Example
from spec_decode_ros.embedded.data import take_examples
from spec_decode_ros.embedded.inference import MAX_ANSWER_TOKENS, greedy_answers
from spec_decode_ros.paths import portable_path

EVAL_SPLIT = "heldout"
EVAL_STREAM_SEED = 90_001  # other stream seeds than training's validation set: other held-out layouts


def answer_kind(answer: str) -> str:
    """search (the fixed search turn), stop, or move (turn and/or forward towards the target)."""
    from spec_decode_ros.control.grammar import format_answer
    from spec_decode_ros.sim.expert import SEARCH_TURN

    if answer == format_answer([SEARCH_TURN]):
        return "search"
    return "stop" if answer == "stop." else "move"


def target_accuracy(target: object, examples: list[Example]) -> dict[str, object]:
    """Greedy exact match of the target (a ``LoadedModel``) against the expert: overall, per answer kind and
    per state kind (``sim.margins``: how near the state is to one of the expert's thresholds)."""
    answers = greedy_answers(target.model, target.processor, [e.image for e in examples],  # type: ignore[attr-defined]
                             [e.instruction for e in examples])
    hits = [answer == example.answer for example, answer in zip(examples, answers, strict=True)]
    right = sum(hits)
    return {
        "n": len(examples),
        "exact_match": right / len(examples),
        "interval_95": wilson_interval(right, len(examples)),
        "by_kind": _grouped([answer_kind(e.answer) for e in examples], hits),
        "by_state": _grouped([e.state or "unknown" for e in examples], hits),
        "answers": answers,
    }


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a binomial share (95 % at z = 1.96): where the true rate lies."""
    if n <= 0:
        raise ValueError("an interval needs at least one trial")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _grouped(keys: list[str], hits: list[bool]) -> dict[str, dict[str, float]]:
    """{key: {"n", "share", "exact_match"}} over parallel lists, largest group first."""
    total: Counter[str] = Counter(keys)
    right: Counter[str] = Counter(k for k, hit in zip(keys, hits, strict=True) if hit)
    return {k: {"n": n, "share": n / len(keys), "exact_match": right[k] / n} for k, n in total.most_common()}


def speculative_figures(draft: object, target: object, examples: list[Example], gamma: int,
                        mode: str, constrain: str = "none", system_prompt: str | None = None) -> dict[str, object]:
    """Draft acceptance and early-exit figures of ``speculative_generate`` over ``examples``."""
    from spec_decode_ros.decoding.local import speculative_generate, target_generate
    from spec_decode_ros.decoding.types import Prompt, SpecMetrics

    merged = SpecMetrics()
    mismatches = 0
    start = time.perf_counter()
    for example in tqdm(examples, desc=f"speculative γ={gamma}", unit="prompt", dynamic_ncols=True):
        prompt = Prompt(text=example.instruction, image=example.image, system=system_prompt)
        gen = speculative_generate(draft, target, prompt, gamma=gamma, max_new_tokens=MAX_ANSWER_TOKENS,
                                   mode=mode, constrain=constrain)
        reference = target_generate(target, prompt, MAX_ANSWER_TOKENS, constrain=constrain)
        mismatches += int(gen.tokens != reference)
        merged = merged.merge(gen.metrics)
    return {
        "n": len(examples),
        "gamma": gamma,
        "acceptance_rate": merged.acceptance_rate,
        "mean_acceptance_length": merged.mean_acceptance_length,
        "accepted_per_position": merged.accepted_per_position,
        "exit_layers": list(target.exit_layers),  # type: ignore[attr-defined]
        "exit_top1_agreement": merged.exit_agreement if merged.exit_agreement_total else None,
        "early_verdict_hit_rate": merged.early_hit_rate if (merged.early_exit_hits + merged.early_exit_misses) else None,
        "outputs_differing_from_target": mismatches,
        "constrain": constrain,
        "seconds": round(time.perf_counter() - start, 1),
    }


def closed_loop(policy: object, episodes: int, first_seed: int, image_size: int) -> dict[str, object]:
    """Success rate of ``episodes`` held-out closed-loop episodes (render → policy → parse → move)."""
    from spec_decode_ros.sim.episode import run_episode
    from spec_decode_ros.sim.world import Go2World, random_layout

    results = []
    with Go2World(random_layout(0), width=image_size, height=image_size) as world:
        for seed in tqdm(range(first_seed, first_seed + episodes), desc="closed loop", unit="episode",
                         dynamic_ncols=True):
            results.append(run_episode(seed, policy, split=EVAL_SPLIT, width=image_size, height=image_size,
                                       world=world))
    successes = sum(r.success for r in results)
    return {
        "episodes": episodes,
        "first_seed": first_seed,
        "success_rate": successes / episodes,
        "stopped_rate": sum(r.stopped for r in results) / episodes,
        "mean_steps": sum(r.n_steps for r in results) / episodes,
        "mean_final_distance_m": sum(r.final_distance for r in results) / episodes,
        "failed_seeds": [r.seed for r in results if not r.success],
    }


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="spec-decode eval", description=__doc__.split("\n\n")[0])
    p.add_argument("--target", type=Path, default=None, help="target VLM folder (default: the shipped one)")
    p.add_argument("--draft", type=Path, default=None, help="draft VLM folder (default: the shipped one)")
    p.add_argument("--n", type=int, default=2000, help="held-out examples for target exact match (2000: ±1 %%)")
    p.add_argument("--n-spec", type=int, default=150, help="held-out examples for speculative decoding figures")
    p.add_argument("--episodes", type=int, default=50, help="closed-loop episodes (0: skip)")
    p.add_argument("--first-episode", type=int, default=0, help="layout seed of the first closed-loop episode")
    p.add_argument("--render-size", type=int, default=0,
                   help="camera render size in px (default 0: the model's own; larger: the processor resizes)")
    p.add_argument("--gamma", type=int, default=4)
    p.add_argument("--seed", type=int, default=EVAL_STREAM_SEED, help="held-out stream seed")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--constrain", choices=CONSTRAIN_CHOICES, default="none",
                   help="speculative figures and closed loop with the command grammar as a constraint")
    p.add_argument("--system-prompt", default="", help="a system prompt, through each model's chat template")
    precision.add_arguments(p)
    return p


def evaluate(args: argparse.Namespace) -> dict[str, object]:
    from spec_decode_ros.decoding.early_exit import EarlyExitTarget
    from spec_decode_ros.decoding.models import load_model
    from spec_decode_ros.embedded.policy import VLMPolicy

    target_path = args.target or default_target_path()
    draft_path = args.draft or default_draft_path()
    for name, path in (("target", target_path), ("draft", draft_path)):
        if not (Path(path) / "config.json").is_file():
            raise FileNotFoundError(f"{name} model folder {path} has no config.json (run `spec-decode train`?)")
    target = EarlyExitTarget.from_pretrained(target_path, dtype=args.dtype, device=args.device)
    draft = load_model(draft_path, dtype=args.dtype, device=args.device)
    size = args.render_size or processor_image_size(target.model.processor)
    examples = take_examples(args.seed, EVAL_SPLIT, max(args.n, args.n_spec), size)
    report: dict[str, object] = {"target": portable_path(target_path), "draft": portable_path(draft_path),
                                 "dtype": str(target.model.model.dtype).removeprefix("torch."), "split": EVAL_SPLIT,
                                 "stream_seed": args.seed, "render_size": size}
    acc = target_accuracy(target.model, examples[: args.n])
    acc.pop("answers")
    report["target_accuracy"] = acc
    report["draft_exact_match_vs_expert"] = target_accuracy(draft, examples[: args.n])["exact_match"]
    report["speculative"] = speculative_figures(draft, target, examples[: args.n_spec], args.gamma,
                                                mode="sd_ee_predraft", constrain=args.constrain,
                                                system_prompt=args.system_prompt or None)
    if args.episodes > 0:
        policy = VLMPolicy(target_path, dtype=args.dtype, device=args.device, constrain=args.constrain,
                           system_prompt=args.system_prompt or None)
        report["closed_loop"] = closed_loop(policy, args.episodes, first_seed=args.first_episode, image_size=size)
    return report


def _table(report: dict[str, object]) -> str:
    acc = report["target_accuracy"]
    spec = report["speculative"]
    low, high = acc["interval_95"]
    lines = [f"held-out split {report['split']!r}, stream seed {report['stream_seed']}, "
             f"rendered at {report['render_size']} px",
             f"target exact match       {acc['exact_match']:.3f}  (n={acc['n']}, 95 % interval {low:.3f}-{high:.3f})"]
    for kind, row in acc["by_kind"].items():
        lines.append(f"  {kind:<22} {row['exact_match']:.3f}  (n={row['n']})")
    lines.append("by state (sim.margins)")
    for state, row in acc["by_state"].items():
        lines.append(f"  {state:<22} {row['exact_match']:.3f}  (n={row['n']}, {row['share']:.0%})")
    lines += [f"draft exact match (expert) {report['draft_exact_match_vs_expert']:.3f}",
              f"draft acceptance rate    {spec['acceptance_rate']:.3f}  (γ={spec['gamma']}, n={spec['n']})",
              f"mean acceptance length   {spec['mean_acceptance_length']:.3f}",
              f"outputs != target        {spec['outputs_differing_from_target']}"]
    agree, hit = spec["exit_top1_agreement"], spec["early_verdict_hit_rate"]
    lines.append(f"exit layers              {spec['exit_layers']}")
    lines.append(f"exit top-1 agreement     {agree:.3f}" if agree is not None else "exit top-1 agreement     n/a")
    lines.append(f"early verdict hit rate   {hit:.3f}" if hit is not None else "early verdict hit rate   n/a")
    if "closed_loop" in report:
        cl = report["closed_loop"]
        lines.append(f"closed-loop success      {cl['success_rate']:.3f}  ({cl['episodes']} episodes from seed "
                     f"{cl['first_seed']}, "
                     f"mean {cl['mean_steps']:.1f} steps, mean final gap {cl['mean_final_distance_m']:.2f} m)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    try:
        report = evaluate(args)
    except FileNotFoundError as exc:
        print(f"spec-decode eval: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=1) if args.json else _table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
