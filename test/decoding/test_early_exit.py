"""EarlyExitTarget: pending-token scheme, cache rollback, early verdict before the late layers,
batched verification equal to unbatched token for token (text and VLM rows, mixed lengths)."""

from __future__ import annotations

import pytest

from decoding.tiny_models import EXIT_LAYER, IMAGE
from spec_decode_ros.decoding.draft import DraftSession
from spec_decode_ros.decoding.local import target_generate
from spec_decode_ros.decoding.round import committed
from spec_decode_ros.decoding.sampling import GREEDY
from spec_decode_ros.decoding.types import DraftBlock, Prompt, SamplingConfig, Verdict

NEW = 10


def _run_batched(pair, prompts, gamma, new=NEW, sampling=GREEDY):
    """All prompts in one verify call per round, each with its own draft session."""
    tgt = pair.target
    sessions = [tgt.open(p, sampling) for p in prompts]
    drafts = [DraftSession(pair.draft, p, sampling) for p in prompts]
    early_calls = []
    while True:
        live = [i for i, s in enumerate(sessions) if not s.finished and len(s.generated) < new]
        if not live:
            break
        blocks = [drafts[i].draft(max(gamma - len(prompts[i].text) % 2, 0)) for i in live]  # ragged γ per prompt
        verdicts = tgt.verify([sessions[i] for i in live], blocks, on_early=early_calls.append)
        assert len(early_calls[-1]) == len(live)
        for i, block, v in zip(live, blocks, verdicts, strict=True):
            drafts[i].commit(committed(block.tokens, v.n_accepted, v.next_token))
    return [s.generated[:new] for s in sessions], early_calls


@pytest.mark.parametrize("gamma", [0, 1, 3])
def test_batched_equals_unbatched_text(pairs, gamma):
    pair = pairs["llama"]
    prompts = [Prompt("go to the red box"), Prompt("stop"), Prompt("walk slowly to the green chair", system="be brief")]
    got, early_calls = _run_batched(pair, prompts, gamma)
    for prompt, tokens in zip(prompts, got, strict=True):
        assert tokens == target_generate(pair.model, prompt, NEW)
    assert all(v.exit_layer == EXIT_LAYER for call in early_calls for v in call)


def test_batched_sampling_equals_each_alone(pairs):
    """Each row keeps its own random stream: batching changes nothing in sampled outputs either."""
    pair = pairs["llama"]
    prompts = [Prompt("go to the red box"), Prompt("stop")]
    cfg = SamplingConfig(do_sample=True, temperature=1.2, top_k=8, seed=5)
    together, _ = _run_batched(pair, prompts, 3, sampling=cfg)
    alone = [_run_batched(pair, [p], 3, sampling=cfg)[0][0] for p in prompts]
    assert together == alone and len(set(together[0])) > 1


def test_batched_vlm_rows_with_and_without_image(pairs):
    pair = pairs["qwen2_vl"]  # M-RoPE: image rows have shifted text positions
    prompts = [Prompt("go to the red box", image=IMAGE), Prompt("go to the red box"),
               Prompt("where is the door", image=IMAGE, system="you are a robot")]
    got, _ = _run_batched(pair, prompts, 2)
    for prompt, tokens in zip(prompts, got, strict=True):
        assert tokens == target_generate(pair.model, prompt, NEW)


def test_pending_token_scheme_and_rollback(pairs):
    pair = pairs["llama"]
    tgt = pair.target
    prompt = Prompt("go to the red box")
    ref = target_generate(pair.model, prompt, NEW)
    s = tgt.open(prompt)
    prompt_len = pair.model.encode(prompt).length
    assert s.cached_tokens() == prompt_len - 1 and s.generated == []
    wrong = (ref[0] + 1) % pair.model.vocab_size
    v = tgt.verify([s], [DraftBlock((wrong, 5, 6))], early_exit=False)[0]
    assert v == Verdict(0, ref[0]) and s.generated == [ref[0]]
    assert s.cached_tokens() == prompt_len  # rolled back: old + pending only
    v = tgt.verify([s], [DraftBlock(tuple(ref[1:4]))], early_exit=False)[0]
    assert v.n_accepted == 3 and s.generated == ref[:5] and s.cached_tokens() == prompt_len + 4
    v = tgt.verify([s], [DraftBlock(())], early_exit=False)[0]  # γ = 0: one autoregressive step
    assert v == Verdict(0, ref[5]) and s.generated == ref[:6]
    assert s.memory_bytes() > 0 and s.metrics.target_forward_passes == 3
    tgt.close(s)
    assert s.memory_bytes() == 0
    with pytest.raises(ValueError, match="finished or closed"):
        tgt.verify([s], [DraftBlock(())])


def test_early_verdict_comes_before_the_late_layers(pairs):
    pair = pairs["llama"]
    tgt = pair.target
    order: list[str] = []
    handle = pair.model.layers[EXIT_LAYER].register_forward_pre_hook(lambda m, a: order.append("late"))
    try:
        s = tgt.open(Prompt("go to the red box"))
        order.clear()
        early: list[list[Verdict]] = []

        def on_early(vs: list[Verdict]) -> None:
            order.append("early")
            early.append(vs)

        final = tgt.verify([s], [DraftBlock((3, 4))], on_early=on_early)[0]
    finally:
        handle.remove()
    assert order == ["early", "late"]
    ev = early[0][0]
    assert ev.exit_layer == EXIT_LAYER and 0.0 < ev.confidence <= 1.0
    assert final.exit_layer == -1
    assert s.metrics.exit_agreement_total == 3
    # early_exit=False: no callback, no exit work
    called = []
    tgt.verify([s], [DraftBlock(())], on_early=called.append, early_exit=False)
    assert called == []


def test_verify_rejects_bad_input(pairs):
    tgt = pairs["llama"].target
    s = tgt.open(Prompt("go"))
    with pytest.raises(ValueError, match="one DraftBlock per session"):
        tgt.verify([s], [])
    with pytest.raises(ValueError, match="draft tokens must lie"):
        tgt.verify([s], [DraftBlock((10**6,))])
    with pytest.raises(ValueError, match="twice"):
        tgt.verify([s, s], [DraftBlock(()), DraftBlock(())])
    assert s.generated == []  # nothing lost: the session still works
    assert len(tgt.verify([s], [DraftBlock(())])) == 1


def test_failing_callback_loses_nothing(pairs):
    pair = pairs["llama"]
    tgt = pair.target
    prompt = Prompt("go to the red box")
    s = tgt.open(prompt)
    before = s.cached_tokens()

    def boom(_: list[Verdict]) -> None:
        raise RuntimeError("link down")

    with pytest.raises(RuntimeError, match="link down"):
        tgt.verify([s], [DraftBlock((3, 4, 5))], on_early=boom)
    assert s.cached_tokens() == before and s.generated == []
    tgt.verify([s], [DraftBlock(())], early_exit=False)
    assert s.generated == target_generate(pair.model, prompt, 1)


def test_resume_continues_where_the_lost_session_was(pairs):
    """``resume`` rebuilds a session from its committed tokens: it then continues exactly like the target."""
    tgt = pairs["llama"].target
    prompt = Prompt("turn left then walk forward two meters")
    ref = target_generate(tgt, prompt, NEW)
    s = tgt.open(prompt)
    tgt.resume(s, ref[:4])
    assert s.generated == ref[:4] and s.pending == ref[3] and not s.finished
    while len(s.generated) < len(ref) and not s.finished:
        tgt.verify([s], [DraftBlock(())])
    assert s.generated[: len(ref)] == ref
    with pytest.raises(ValueError, match="freshly opened"):
        tgt.resume(s, ref[:2])  # not fresh: it would feed the tokens twice
