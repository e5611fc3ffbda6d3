"""EarlyExitTarget's deferred prefill: ``prefill(defer=True)`` runs no forward (its KV bytes reserved), and the
session's first verification feeds prompt[:-1] + [pending, d_1..d_γ] in ONE forward that gives exactly the early
and final verdicts, and the cache to go on from, of a separate prefill then verification (text, image rows, the
embedded pair); a failed fused forward leaves the session deferred; half precision prefills at once."""

from __future__ import annotations

import pytest
import torch

from decoding.tiny_models import EXIT_LAYER, IMAGE
from spec_decode_ros.decoding.draft import DraftSession
from spec_decode_ros.decoding.early_exit import EarlyExitTarget, TargetSession
from spec_decode_ros.decoding.local import speculative_generate, target_generate
from spec_decode_ros.decoding.round import committed
from spec_decode_ros.decoding.types import DraftBlock, Prompt, SamplingConfig, Verdict

NEW = 10


def _first_round_then_on(target: EarlyExitTarget, session: TargetSession, block: DraftBlock,
                         draft: DraftSession | None) -> tuple[list[tuple[int, int]], list[int], int]:
    """The first verification (early + final verdicts), then decoding on with fresh drafts: (verdicts, tokens,
    forwards of the first verification)."""
    early: list[Verdict] = []
    final = target.verify([session], [block], on_early=early.extend)[0]
    first_passes = session.metrics.target_forward_passes
    verdicts = [(v.n_accepted, v.next_token) for v in (*early, final)]
    if draft is not None:
        draft.commit(committed(block.tokens, final.n_accepted, final.next_token))
    while not session.finished and len(session.generated) < NEW:
        nxt = draft.draft(3) if draft is not None else DraftBlock(())
        v = target.verify([session], [nxt])[0]
        verdicts.append((v.n_accepted, v.next_token))
        if draft is not None:
            draft.commit(committed(nxt.tokens, v.n_accepted, v.next_token))
    return verdicts, list(session.generated), first_passes


@pytest.mark.parametrize("gamma", [0, 3])
@pytest.mark.parametrize("family", ["llama", "llava", "qwen2_vl"])
def test_a_deferred_prefill_fused_with_the_first_verification_equals_a_separate_one(pairs, family, gamma):
    """γ = 0 is cloud_ar's first step: the fused forward is the whole prompt's prefill emitting the first token."""
    pair = pairs[family]
    prompt = Prompt("go to the red box", image=IMAGE if family != "llama" else None)
    block = DraftSession(pair.draft, prompt).draft(gamma)
    results = []
    for defer in (False, True):
        session = pair.target.open(prompt, defer=defer)
        assert (session.deferred is not None) == defer and (session.cache is None) == defer
        results.append(_first_round_then_on(pair.target, session, block, DraftSession(pair.draft, prompt)))
        assert session.deferred is None
    (separate, tokens, passes), (fused, fused_tokens, fused_passes) = results
    assert fused == separate and fused_tokens == tokens
    assert passes == fused_passes == 1  # the prefill is no verification: both count one, but fused ran one forward
    assert len(separate) > 2 and (gamma == 0 or separate[0][0] >= 0)  # an early verdict came from the fused pass
    assert tokens[:NEW] == target_generate(pair.model, prompt, NEW)[: len(tokens[:NEW])]


def test_a_sampled_first_round_is_the_same_fused_or_not(pairs):
    """The fused forward's logits are the separate one's, so the rejection rule draws the same tokens."""
    pair = pairs["qwen2_vl"]
    prompt = Prompt("where is the door", image=IMAGE)
    cfg = SamplingConfig(do_sample=True, temperature=1.2, top_k=8, seed=3)
    block = DraftSession(pair.draft, prompt, cfg).draft(3)
    got = []
    for defer in (False, True):
        session = pair.target.open(prompt, cfg, defer=defer)
        v = pair.target.verify([session], [block])[0]
        while not session.finished and len(session.generated) < NEW:
            pair.target.verify([session], [DraftBlock(())])
        got.append(((v.n_accepted, v.next_token), list(session.generated)))
    assert got[0] == got[1] and len(set(got[0][1])) > 1


def test_the_fused_forward_is_one_model_forward_and_its_early_verdict_comes_first(pairs):
    pair = pairs["llava"]
    prompt = Prompt("go to the red box", image=IMAGE)
    calls: list[str] = []
    handle = pair.model.model.register_forward_pre_hook(lambda m, a: calls.append("forward"))
    try:
        session = pair.target.open(prompt, defer=True)
        assert calls == []  # no forward at the deferred open
        early: list[Verdict] = []
        pair.target.verify([session], [DraftSession(pair.draft, prompt).draft(2)], on_early=early.extend)
    finally:
        handle.remove()
    assert calls == ["forward"] and len(early) == 1 and early[0].exit_layer == EXIT_LAYER
    assert session.metrics.exit_agreement_total == 3  # the exit scored the row's own 3 positions, not the prompt's


def test_embedded_pair_fused_first_round_equals_separate_and_decodes_as_the_target():
    """The shipped Go2 pair (exit adapters, draft) on simulator camera prompts."""
    from spec_decode_ros.bench.workload import sim_prompts
    from spec_decode_ros.decoding.image_size import processor_image_size
    from spec_decode_ros.decoding.models import load_model
    from spec_decode_ros.embedded import default_draft_path, default_target_path

    target = EarlyExitTarget.from_pretrained(default_target_path())
    draft = load_model(default_draft_path())
    assert target.exit_layers
    for prompt in list(sim_prompts(2, processor_image_size(target.model.processor))):
        block = DraftSession(draft, prompt).draft(8)
        separate = _first_round_then_on(target, target.open(prompt), block, DraftSession(draft, prompt))
        fused = _first_round_then_on(target, target.open(prompt, defer=True), block, DraftSession(draft, prompt))
        assert fused == separate
        assert separate[1] == target_generate(target, prompt, NEW)[: len(separate[1])]


def test_speculative_generate_opens_deferred_and_is_the_targets_output(pairs):
    """In process the first round prefills too: the target's model runs one forward per round, none more."""
    pair = pairs["qwen2_vl"]
    prompt = Prompt("where is the door", image=IMAGE)
    calls: list[int] = []
    handle = pair.model.model.register_forward_pre_hook(lambda m, a: calls.append(1))
    try:
        gen = speculative_generate(pair.draft, pair.target, prompt, gamma=3, max_new_tokens=NEW)
    finally:
        handle.remove()
    assert gen.tokens == target_generate(pair.model, prompt, NEW)
    assert len(calls) == gen.metrics.target_forward_passes > 0  # one model forward per verification: no prefill of its own


def test_a_deferred_session_runs_alone_and_a_failed_fused_forward_leaves_it_deferred(pairs):
    pair = pairs["llama"]
    tgt = pair.target
    prompt = Prompt("go to the red box")
    a, b = tgt.open(prompt, defer=True), tgt.open(Prompt("go"))
    with pytest.raises(ValueError, match="runs alone"):
        tgt.verify([a, b], [DraftBlock(()), DraftBlock(())])
    reserved = a.memory_bytes()

    def boom(_: list[Verdict]) -> None:
        raise RuntimeError("link down")

    with pytest.raises(RuntimeError, match="link down"):
        tgt.verify([a], [DraftBlock((3, 4, 5))], on_early=boom)
    assert a.deferred is not None and a.cache is None and a.generated == [] and a.memory_bytes() == reserved
    assert a.metrics.target_forward_passes == 0
    tgt.verify([a], [DraftBlock(())], early_exit=False)
    assert a.deferred is None and a.generated == target_generate(pair.model, prompt, 1)


def test_a_deferred_session_resumes_and_closes(pairs):
    tgt = pairs["llama"].target
    prompt = Prompt("turn left then walk forward two meters")
    ref = target_generate(tgt, prompt, NEW)
    s = tgt.open(prompt, defer=True)
    tgt.resume(s, ref[:3])  # resumes keep the plain path: prefill, then the resume forward
    assert s.deferred is None and s.generated == ref[:3]
    while len(s.generated) < len(ref) and not s.finished:
        tgt.verify([s], [DraftBlock(())])
    assert s.generated[: len(ref)] == ref
    d = tgt.open(prompt, defer=True)
    assert d.memory_bytes() > 0
    tgt.close(d)
    assert d.memory_bytes() == 0 and d.deferred is None
    with pytest.raises(ValueError, match="finished or closed"):
        tgt.verify([d], [DraftBlock(())])


def test_a_draft_naming_an_image_slot_falls_back_to_a_separate_prefill(pairs):
    pair = pairs["llava"]
    prompt = Prompt("go to the red box", image=IMAGE)
    slot = pair.model.model.config.image_token_id
    block = DraftBlock((slot, 5))
    plain = pair.target.open(prompt)
    want = pair.target.verify([plain], [block])[0]
    early: list[Verdict] = []
    deferred = pair.target.open(prompt, defer=True)
    got = pair.target.verify([deferred], [block], on_early=early.extend)[0]
    assert got == want and deferred.generated == plain.generated and len(early) == 1


def test_half_precision_prefills_at_once(pairs_bf16):
    """In half precision a forward over more tokens rounds differently: ``defer`` is not honoured there."""
    tgt = pairs_bf16["llama"].target
    assert not tgt.fuses_exactly and tgt.model.model.dtype == torch.bfloat16
    s = tgt.open(Prompt("go to the red box"), defer=True)
    assert s.deferred is None and s.cached_tokens() > 0
