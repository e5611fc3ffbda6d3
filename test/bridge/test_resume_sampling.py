"""Sampling across a resume: the tokens after it follow the target's distribution given the ones before.

Token x0 is sampled by a fresh session with seed s; a second session with the same seed resumes after [x0]
(what the cloud does when a robot re-opens) and samples x1. Over many seeds the pairs (x0, x1) must follow
p(x0)·p(x1 | x0). Had the resumed session restarted its random stream from the seed, x1 would reuse x0's
uniform (the two draws coupled) and the joint would be far from it."""

from __future__ import annotations

import pytest
import torch

from bridge.tiny_pair import PROMPTS
from spec_decode_ros.decoding.sampling import processed_probs
from spec_decode_ros.decoding.types import DraftBlock, Prompt, SamplingConfig

SEEDS = 600


def _next_probs(target, prompt: Prompt, committed: list[int], cfg: SamplingConfig) -> torch.Tensor:
    """The target's processed distribution of the token after ``committed`` (exact, from its logits)."""
    model = target.model
    ids = model.encode(prompt).input_ids
    ids = torch.cat([ids, torch.tensor([committed], dtype=ids.dtype)], dim=1) if committed else ids
    with torch.inference_mode():
        logits = model.model(input_ids=ids).logits[0, -1]
    return processed_probs(logits, cfg)


@pytest.mark.slow  # seconds of sampling statistics, handshakes or waits: out of the one-minute loop
def test_sampling_after_a_resume_keeps_the_target_joint_distribution(target):
    prompt = Prompt(PROMPTS[0])
    base = SamplingConfig(do_sample=True, temperature=3.0, top_k=3)
    p0 = _next_probs(target, prompt, [], base)
    support0 = [int(t) for t in torch.nonzero(p0).flatten()]
    exact = {(a, b): float(p0[a] * q) for a in support0
             for b, q in enumerate(_next_probs(target, prompt, [a], base).tolist()) if q > 0}
    counts: dict[tuple[int, int], int] = {}
    for seed in range(SEEDS):
        cfg = SamplingConfig(do_sample=True, temperature=3.0, top_k=3, seed=seed)
        fresh = target.open(prompt, cfg)
        x0 = target.verify([fresh], [DraftBlock(tokens=())])[0].next_token
        target.close(fresh)
        resumed = target.open(prompt, cfg)
        target.resume(resumed, [x0])
        x1 = target.verify([resumed], [DraftBlock(tokens=())])[0].next_token
        target.close(resumed)
        counts[(x0, x1)] = counts.get((x0, x1), 0) + 1
    assert set(counts) <= set(exact), "a pair the target gives no probability"
    tv = 0.5 * sum(abs(counts.get(k, 0) / SEEDS - q) for k, q in exact.items())
    # sampling noise of 9 cells over 600 draws: TV ~ 0.04; a replayed random stream gives about 0.6
    assert tv < 0.15, f"joint of (x0, x1) across a resume is off the target's by TV {tv:.3f}"
