"""Acceptance rules. Greedy: exact argmax matching, EOS cut. Sampling: the output distribution is the
target's, checked statistically (chi-square over many draws) — and the same check fails for broken rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spec_decode_ros.decoding.acceptance import greedy_verdict, sampling_verdict
from spec_decode_ros.decoding.draft import DraftSession
from spec_decode_ros.decoding.round import committed
from spec_decode_ros.decoding.sampling import processed_probs, sample_index
from spec_decode_ros.decoding.types import DraftBlock, Prompt, SamplingConfig, Verdict

V = 6
EOS = frozenset({V - 1})


def chi2_pvalue(counts: np.ndarray, probs: np.ndarray) -> float:
    n = counts.sum()
    keep = probs > 0
    if counts[~keep].sum():  # a token the target never produces was sampled: impossible under H0
        return 0.0
    expected = probs[keep] * n
    stat = float(((counts[keep] - expected) ** 2 / expected).sum())
    dof = int(keep.sum()) - 1
    return float(torch.special.gammaincc(torch.tensor(dof / 2, dtype=torch.float64), torch.tensor(stat / 2)))


def test_greedy_rule_and_eos_cut():
    logits = torch.zeros(4, V)
    for i, t in enumerate((2, 3, 1, 4)):
        logits[i, t] = 1.0
    assert greedy_verdict(logits, (2, 3, 1), frozenset())[0] == Verdict(3, 4)  # all accepted + bonus
    assert greedy_verdict(logits, (2, 0, 1), frozenset())[0] == Verdict(1, 3)  # correction at the mismatch
    assert greedy_verdict(logits[:1], (), frozenset())[0] == Verdict(0, 2)  # γ = 0
    assert greedy_verdict(logits, (2, 3, 1), frozenset({3}))[0] == Verdict(1, 3)  # accepted EOS ends it


def _draws(rule, q: torch.Tensor, p: torch.Tensor, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n rounds of γ=2 with fixed per-position distributions; counts of the 1st and 2nd generated tokens."""
    gen = torch.Generator().manual_seed(seed)
    first, second = np.zeros(V, np.int64), np.zeros(V, np.int64)
    ids = np.tile(np.arange(V), (2, 1))
    for _ in range(n):
        d = tuple(sample_index(p[i], torch.rand((), generator=gen, dtype=torch.float64)) for i in range(2))
        block = DraftBlock(d, prob_ids=ids, prob_values=p.numpy())
        u = torch.rand(3, generator=gen, dtype=torch.float64)
        v = torch.rand(3, generator=gen, dtype=torch.float64)
        out = rule(q, block, p, u, v, frozenset())
        toks = committed(d, out.n_accepted, out.next_token)
        first[toks[0]] += 1
        if len(toks) > 1:
            second[toks[1]] += 1
        else:  # a correction at position 0: the next round would draw token 2 from position 1 afresh
            second[sample_index(q[1], torch.rand((), generator=gen, dtype=torch.float64))] += 1
    return first, second


def _accept_all(q, block, p, u, v, eos):  # broken: the draft's distribution comes out
    return Verdict(block.gamma, sample_index(q[-1], v[-1]))


def _resample_from_target(q, block, p, u, v, eos):  # broken: on rejection, y ~ q instead of norm(max(0, q-p))
    for i, d in enumerate(block.tokens):
        if float(u[i]) >= min(1.0, float(q[i, d] / p[i, d])):
            return Verdict(i, sample_index(q[i], v[i]))
    return Verdict(block.gamma, sample_index(q[-1], v[-1]))


Q = torch.tensor([[0.05, 0.4, 0.1, 0.3, 0.15, 0.0], [0.3, 0.05, 0.05, 0.2, 0.2, 0.2], [0.1, 0.1, 0.2, 0.2, 0.2, 0.2]])
P = torch.tensor([[0.4, 0.1, 0.2, 0.1, 0.1, 0.1], [0.05, 0.5, 0.1, 0.1, 0.05, 0.2]])


def test_sampling_rule_keeps_the_target_distribution():
    first, second = _draws(sampling_verdict, Q, P, 6000)
    assert chi2_pvalue(first, Q[0].numpy()) > 1e-3
    assert chi2_pvalue(second, Q[1].numpy()) > 1e-3


@pytest.mark.parametrize("broken", [_accept_all, _resample_from_target])
def test_the_statistical_check_catches_broken_rules(broken):
    first, _ = _draws(broken, Q, P, 6000)
    assert chi2_pvalue(first, Q[0].numpy()) < 1e-6


def test_deterministic_draft_without_tables_is_lossless():
    """Greedy drafts (no probability tables) verified under sampling: p is one-hot, still lossless."""
    gen = torch.Generator().manual_seed(1)
    counts = np.zeros(V, np.int64)
    for _ in range(4000):
        u = torch.rand(2, generator=gen, dtype=torch.float64)
        v = torch.rand(2, generator=gen, dtype=torch.float64)
        out = sampling_verdict(Q[:2], DraftBlock((1,)), None, u, v, frozenset())
        counts[committed((1,), out.n_accepted, out.next_token)[0]] += 1
    assert chi2_pvalue(counts, Q[0].numpy()) > 1e-3


def test_zero_draft_probability_is_rejected_clearly():
    p = torch.zeros(1, V)
    p[0, 0] = 1.0
    block = DraftBlock((2,), prob_ids=np.arange(V)[None], prob_values=p.numpy())
    with pytest.raises(ValueError, match="probability 0"):
        sampling_verdict(Q[:2], block, p, torch.zeros(2), torch.zeros(2), frozenset())


@pytest.mark.slow  # seconds of sampling statistics, handshakes or waits: out of the one-minute loop
def test_end_to_end_first_token_matches_target_distribution(pairs):
    """Real tiny model, top-k=4 (a small vocabulary): first generated token over many seeds."""
    pair = pairs["llama"]
    prompt = Prompt("go to the red box")
    base = SamplingConfig(do_sample=True, temperature=1.5, top_k=4)
    enc = pair.model.encode(prompt)
    with torch.inference_mode():
        logits = pair.model.model(**enc.inputs()).logits[0, -1]
    q = processed_probs(logits, base).numpy()
    counts = np.zeros_like(q, dtype=np.int64)
    accepted = 0
    for seed in range(300):
        cfg = SamplingConfig(do_sample=True, temperature=1.5, top_k=4, seed=seed)
        tsess = pair.target.open(prompt, cfg)
        block = DraftSession(pair.draft, prompt, cfg).draft(3)
        assert block.prob_ids is not None and block.prob_ids.shape == (3, 4)
        verdict = pair.target.verify([tsess], [block])[0]
        counts[committed(block.tokens, verdict.n_accepted, verdict.next_token)[0]] += 1
        accepted += verdict.n_accepted
    assert 0 < accepted < 300 * 3  # both acceptances and rejections happened
    assert chi2_pvalue(counts, q) > 1e-3
