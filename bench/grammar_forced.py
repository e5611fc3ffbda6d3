"""What committing grammar-forced tokens without a forward would save, in rounds per answer (measured, not built).

Under the constraint, some positions leave exactly one legal token (after the final "." only EOS; a word-level
vocabulary has few others, a BPE one more: the rest of a word the grammar has started). Committing those without
a forward keeps greedy output identical (the masked argmax is that token). This script runs the embedded pair
under the grammar (in process, ``speculative_generate``) on simulator prompts, records every round's committed
tokens, and counts the rounds whose committed tokens are all forced: the rounds a forced-token commit would skip.

    .venv/bin/python bench/grammar_forced.py --prompts 50 --out bench/grammar_results/forced_tokens.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch


class RecordingTarget:
    """An ``EarlyExitTarget`` whose ``verify`` also records each round's committed tokens."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.rounds: list[list[int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def verify(self, sessions: Any, drafts: Any, **kwargs: Any) -> Any:
        from spec_decode_ros.decoding.round import committed

        verdicts = self.inner.verify(sessions, drafts, **kwargs)
        for block, v in zip(drafts, verdicts, strict=True):
            self.rounds.append(list(committed(block.tokens, v.n_accepted, v.next_token)))
        return verdicts


def forced_positions(constraint: Any, tokens: list[int]) -> list[bool]:
    """For each token of an answer: was it the only legal token at its position?"""
    m = constraint.matcher()
    out = []
    for t in tokens:
        out.append(m.forced() == t)
        m.advance([t])
    return out


def main() -> None:
    from spec_decode_ros.bench.workload import sim_prompts
    from spec_decode_ros.decoding.constraint import GrammarConstraint
    from spec_decode_ros.decoding.early_exit import EarlyExitTarget
    from spec_decode_ros.decoding.image_size import processor_image_size
    from spec_decode_ros.decoding.local import speculative_generate
    from spec_decode_ros.decoding.models import load_model
    from spec_decode_ros.embedded import default_draft_path, default_target_path

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", type=int, default=50)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    torch.set_num_threads(1)
    target = RecordingTarget(EarlyExitTarget.from_pretrained(default_target_path()))
    draft = load_model(default_draft_path())
    constraint = GrammarConstraint.for_model(target.model)
    prompts = list(sim_prompts(args.prompts, processor_image_size(target.model.processor)))
    results: dict[str, Any] = {"prompts": len(prompts), "pair": "embedded", "modes": {}}
    for name, gamma, mode, use_draft in (("cloud_ar", 0, "cloud_ar", False), ("sd γ=4", 4, "sd", True),
                                         ("sd γ=8", 8, "sd", True)):
        rounds = skippable = tokens = forced = 0
        for prompt in prompts:
            target.rounds = []
            gen = speculative_generate(draft if use_draft else None, target, prompt, gamma=max(gamma, 1),
                                       max_new_tokens=32, mode=mode, constrain="grammar")
            flags = dict(enumerate(forced_positions(constraint, gen.tokens)))
            pos = 0
            for committed in target.rounds:
                rounds += 1
                skippable += all(flags.get(pos + i, False) for i in range(len(committed)))
                pos += len(committed)
            tokens += len(gen.tokens)
            forced += sum(flags.values())
        results["modes"][name] = {"rounds_per_answer": rounds / len(prompts),
                                  "skippable_rounds_per_answer": skippable / len(prompts),
                                  "tokens_per_answer": tokens / len(prompts),
                                  "forced_tokens_per_answer": forced / len(prompts)}
        print(name, results["modes"][name], flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
