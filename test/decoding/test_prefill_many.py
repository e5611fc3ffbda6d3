"""EarlyExitTarget.prefill_many: several prompts of different lengths prefilled in ONE forward give each session
exactly the state a prefill of its own gives (cache cut to its own length, positions, M-RoPE offset), so that
decoding on from there is the target's greedy output token for token (text, image rows, the embedded pair)."""

from __future__ import annotations

import pytest
import torch

from decoding.tiny_models import IMAGE
from spec_decode_ros.decoding.draft import DraftSession
from spec_decode_ros.decoding.local import target_generate
from spec_decode_ros.decoding.round import committed as committed_by
from spec_decode_ros.decoding.sampling import GREEDY
from spec_decode_ros.decoding.types import DraftBlock, Prompt, SamplingConfig

NEW = 10
TEXTS = ("go to the red box", "stop", "walk slowly to the green chair and then turn left", "turn")


def _decode_on(pair, sessions, prompts, gamma=2, new=NEW):
    """Verify draft blocks of all sessions together until each has ``new`` tokens or finished."""
    drafts = [DraftSession(pair.draft, p, s.sampling) for p, s in zip(prompts, sessions, strict=True)]
    while True:
        live = [i for i, s in enumerate(sessions) if not s.finished and len(s.generated) < new]
        if not live:
            return [s.generated[:new] for s in sessions]
        blocks = [drafts[i].draft(gamma) for i in live]
        verdicts = pair.target.verify([sessions[i] for i in live], blocks)
        for i, block, v in zip(live, blocks, verdicts, strict=True):
            drafts[i].commit(committed_by(block.tokens, v.n_accepted, v.next_token))


def _same_state(a, b):
    assert (a.pending, a.next_pos, a.cached_tokens()) == (b.pending, b.next_pos, b.cached_tokens())
    for la, lb in zip(a.cache.layers, b.cache.layers, strict=True):
        torch.testing.assert_close(la.keys, lb.keys, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(la.values, lb.values, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name, image", [("llama", False), ("llava", True), ("qwen2_vl", True), ("qwen2_vl", False),
                                         ("idefics3", True)])
def test_batched_prefill_equals_one_at_a_time_and_decodes_as_the_target(pairs, name, image):
    pair = pairs[name]
    prompts = [Prompt(t, image=IMAGE if image else None, system="be brief" if i == 2 else None)
               for i, t in enumerate(TEXTS)]
    encs = [pair.target.model.encode(p) for p in prompts]
    assert len({e.length for e in encs}) > 1  # different lengths in one batch: right padding is exercised
    assert len({e.batch_key() for e in encs}) == 1
    together = pair.target.prefill_many(encs)
    for enc, session in zip(encs, together, strict=True):
        _same_state(session, pair.target.prefill(enc))
    got = _decode_on(pair, together, prompts)
    for prompt, tokens in zip(prompts, got, strict=True):
        assert tokens == target_generate(pair.model, prompt, NEW)


def test_each_session_keeps_its_sampling(pairs):
    pair = pairs["llama"]
    cfgs = [SamplingConfig(do_sample=True, temperature=1.2, top_k=8, seed=5), GREEDY]
    prompts = [Prompt(TEXTS[0]), Prompt(TEXTS[2])]
    sessions = pair.target.prefill_many([pair.target.model.encode(p) for p in prompts], cfgs)
    assert [s.sampling for s in sessions] == cfgs
    alone = [pair.target.open(p, c) for p, c in zip(prompts, cfgs, strict=True)]
    assert _decode_on(pair, sessions, prompts) == _decode_on(pair, alone, prompts)


def test_prefill_many_refuses_bad_input(pairs):
    tgt = pairs["qwen2_vl"].target
    text, image = tgt.model.encode(Prompt("stop")), tgt.model.encode(Prompt("stop", image=IMAGE))
    with pytest.raises(ValueError, match="same kind of inputs"):
        tgt.prefill_many([text, image])
    with pytest.raises(ValueError, match="one SamplingConfig per prompt"):
        tgt.prefill_many([text, text], [GREEDY])
    with pytest.raises(ValueError, match="one SamplingConfig per prompt"):
        tgt.prefill_many([])
    with pytest.raises(ValueError):
        tgt.prefill_many([text, text], [GREEDY, SamplingConfig(do_sample=True, temperature=-1.0)])


def test_embedded_pair_batched_prefill_decodes_as_the_target():
    """The shipped Go2 pair on simulator camera prompts (same image size, different instruction lengths)."""
    from spec_decode_ros.bench.workload import sim_prompts
    from spec_decode_ros.decoding.early_exit import EarlyExitTarget
    from spec_decode_ros.decoding.image_size import processor_image_size
    from spec_decode_ros.embedded import default_target_path

    target = EarlyExitTarget.from_pretrained(default_target_path())
    prompts = list(sim_prompts(6, processor_image_size(target.model.processor)))
    prompts[1] = Prompt(f"{prompts[1].text} {prompts[0].text}", image=prompts[1].image)  # a longer one
    prompts[2] = Prompt(prompts[2].text.split()[0], image=prompts[2].image)  # a short one
    encs = [target.model.encode(p) for p in prompts]
    assert len({e.length for e in encs}) > 1
    for session, prompt in zip(target.prefill_many(encs), prompts, strict=True):
        generated = []
        while not session.finished and len(generated) < 32:  # plain greedy on from the batched prefill
            target.verify([session], [DraftBlock(tokens=())])
            generated = session.generated
        assert generated == target_generate(target, prompt, 32)


@pytest.mark.parametrize("name, image", [("llama", False), ("qwen2_vl", True)])
def test_batched_resume_equals_one_at_a_time_and_decodes_as_the_target(pairs, name, image):
    """Sessions resumed together (committed prefixes of different lengths) hold what each resumed alone holds."""
    pair = pairs[name]
    prompts = [Prompt(t, image=IMAGE if image else None) for t in TEXTS[:3]]
    refs = [target_generate(pair.model, p, NEW) for p in prompts]
    cuts = [1, 4, 2]
    together = [pair.target.open(p) for p in prompts]
    pair.target.resume_many(together, [r[:c] for r, c in zip(refs, cuts, strict=True)])
    for p, r, c, session in zip(prompts, refs, cuts, together, strict=True):
        alone = pair.target.open(p)
        pair.target.resume(alone, r[:c])  # one row
        _same_state(session, alone)
        assert session.generated == r[:c]
    got = _decode_on(pair, together, prompts)
    assert got == refs


def test_resume_many_refuses_bad_input(pairs):
    tgt = pairs["llama"].target
    fresh = tgt.open(Prompt("stop"))
    for sessions, committed in (([fresh], []), ([fresh], [[]]), ([fresh], [[10**6]]), ([fresh, fresh], [[1], [1]])):
        with pytest.raises(ValueError):
            tgt.resume_many(sessions, committed)
    tgt.resume_many([fresh], [[1, 2]])
    with pytest.raises(ValueError, match="freshly opened"):
        tgt.resume_many([fresh], [[3]])
