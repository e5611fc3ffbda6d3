"""DraftSession: drafting equals the draft model's own greedy continuation; pre-draft hit keeps the
cache, a miss rolls back by longest common prefix with the same result as a fresh session."""

from __future__ import annotations

import pytest

from spec_decode_ros.decoding.draft import DraftSession
from spec_decode_ros.decoding.local import target_generate
from spec_decode_ros.decoding.types import Prompt, SamplingConfig

PROMPT = Prompt("go to the red box")


def test_draft_is_the_draft_models_greedy_continuation(pairs):
    draft = pairs["llama"].draft
    ref = target_generate(draft, PROMPT, 8)
    s = DraftSession(draft, PROMPT)
    assert s.prefill_s > 0 and s.busy_s == s.prefill_s  # its busy time, from the prompt's prefill on
    block = s.draft(5)
    assert list(block.tokens) == ref[:5] and block.prob_ids is None and block.seconds > 0
    assert s.busy_s == pytest.approx(s.prefill_s + block.seconds)
    s.commit(ref[:2])
    assert list(s.draft(4).tokens) == ref[2:6]  # continues the committed tokens, cache reused
    before = s.busy_s
    assert s.next_token() == ref[2] and s.generated == ref[:3]
    assert s.busy_s > before  # the edge-only baseline's tokens count too


def test_after_and_rollback_equal_a_fresh_session(pairs):
    draft = pairs["llama"].draft
    s = DraftSession(draft, PROMPT)
    pre = s.draft(3, after=[7, 9])  # pre-draft on a provisional prefix
    fresh = DraftSession(draft, PROMPT)
    fresh.commit([7, 9])
    assert pre.tokens == fresh.draft(3).tokens and pre.after == (7, 9)
    cached = s.cached_tokens()
    s.commit([7, 9])  # hit: the provisional tokens became final; nothing to recompute
    s.draft(0)
    assert s.cached_tokens() <= cached
    s2 = DraftSession(draft, PROMPT)
    s2.draft(4, after=[7, 9])
    s2.commit([7, 11])  # miss: rolled back to the common prefix [7]
    other = DraftSession(draft, PROMPT)
    other.commit([7, 11])
    assert s2.draft(4).tokens == other.draft(4).tokens
    s3 = DraftSession(draft, PROMPT)
    s3.draft(4, after=[7, 9, 3])
    assert s3.draft(2).tokens == DraftSession(draft, PROMPT).draft(2).tokens  # back to the bare prompt


def test_should_stop_and_eos(pairs):
    draft = pairs["llama"].draft
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) >= 2

    block = DraftSession(draft, PROMPT).draft(6, should_stop=stop)
    assert block.gamma == 2 and len(calls) == 2
    assert DraftSession(draft, PROMPT).draft(0).tokens == ()
    with pytest.raises(ValueError, match="gamma"):
        DraftSession(draft, PROMPT).draft(-1)


def test_sampling_tables(pairs):
    draft = pairs["llama"].draft
    cfg = SamplingConfig(do_sample=True, top_k=5, seed=3)
    a = DraftSession(draft, PROMPT, cfg).draft(4)
    b = DraftSession(draft, PROMPT, cfg).draft(4)
    assert a.tokens == b.tokens  # seeded
    assert a.prob_ids.shape == a.prob_values.shape == (4, 5)
    assert abs(a.prob_values.sum(1) - 1).max() < 1e-5
    for tok, ids in zip(a.tokens, a.prob_ids, strict=True):
        assert tok in ids  # each token was drawn from the table that is sent
    with pytest.raises(ValueError, match="temperature"):
        DraftSession(draft, PROMPT, SamplingConfig(do_sample=True, temperature=0))


def test_vlm_draft_session(pairs):
    from decoding.tiny_models import IMAGE

    pair = pairs["qwen2_vl"]
    prompt = Prompt("go to the red box", image=IMAGE)
    ref = target_generate(pair.draft, prompt, 6)
    s = DraftSession(pair.draft, prompt)
    assert list(s.draft(6).tokens) == ref[:6]


def test_pruned_head_draft_is_restricted_and_still_lossless(pairs):
    import dataclasses

    from spec_decode_ros.decoding.local import speculative_generate

    pair = pairs["llama"]
    ref = target_generate(pair.model, PROMPT, 10)
    full = target_generate(pair.draft, PROMPT, 10)
    vocab = tuple(sorted(set(ref[:4]) | set(full[:3])))
    pruned = dataclasses.replace(pair.draft, draft_vocab=vocab)
    block = DraftSession(pruned, PROMPT).draft(6)
    assert set(block.tokens) <= set(vocab) | pair.model.eos_token_ids
    assert block.tokens[:3] == tuple(full[:3])  # the full draft's picks, when they lie in the subset
    for gamma in (1, 4):
        out = speculative_generate(pruned, pair.target, PROMPT, gamma=gamma, max_new_tokens=10)
        assert out.tokens == ref
