"""Grammar-constrained decoding stays lossless: speculative output equals the constrained target's own ``generate``
(the grammar's mask as a logits processor) in every mode and γ 1-8, on tiny random Llama / Llava / Idefics3 /
Qwen2-VL pairs whose word-level vocabulary holds the command words, and on the embedded pair; sampling keeps the
constrained target's distribution; a VLM with random weights answers in the grammar every time."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

import decoding.tiny_models as tiny
from decoding.test_acceptance import chi2_pvalue
from spec_decode_ros.control.grammar import parse_answer
from spec_decode_ros.control.stream_parser import StreamingCommandParser
from spec_decode_ros.decoding.constraint import GrammarConstraint
from spec_decode_ros.decoding.draft import DraftSession
from spec_decode_ros.decoding.early_exit import EarlyExitTarget
from spec_decode_ros.decoding.local import speculative_generate, target_generate
from spec_decode_ros.decoding.mode import Mode
from spec_decode_ros.decoding.round import committed
from spec_decode_ros.decoding.sampling import processed_probs
from spec_decode_ros.decoding.types import Prompt, SamplingConfig

COMMAND_WORDS = ["sidestep", "15", "30", "45", "90", "180", "0.5", "1.0", "1.5", "2.0"]
SPECULATIVE = [m for m in Mode if m.speculative]
NEW = 24


@pytest.fixture(scope="module")
def cpairs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tiny.Pair]:
    """The tiny pairs, their vocabulary extended by the command words (the plain WORDS lack digits)."""
    root = tmp_path_factory.mktemp("tiny_commands")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tiny, "WORDS", tiny.WORDS + COMMAND_WORDS)
        return {name: tiny.Pair(build(root / name, seed=tiny.SEEDS[name])) for name, build in tiny.BUILDERS.items()}


def _answers_in_grammar(pair: tiny.Pair, tokens: list[int]) -> None:
    if tokens and tokens[-1] in pair.model.eos_token_ids:
        parse_answer(pair.model.decode(tokens))  # raises CommandError when the text is not a command answer


def _check(pair: tiny.Pair, prompts: list[Prompt], gammas: tuple[int, ...]) -> tuple[int, int]:
    rejected = hits = 0
    for prompt in prompts:
        ref = target_generate(pair.target, prompt, NEW, constrain="grammar")
        assert ref != target_generate(pair.target, prompt, NEW), "the grammar changed nothing: no test"
        _answers_in_grammar(pair, ref)
        alone = speculative_generate(None, pair.target, prompt, max_new_tokens=NEW, constrain="grammar")
        assert alone.tokens == ref
        for gamma in gammas:
            for mode in SPECULATIVE:
                out = speculative_generate(pair.draft, pair.target, prompt, gamma=gamma, max_new_tokens=NEW,
                                           mode=mode, constrain="grammar")
                assert out.tokens == ref, (prompt.text, gamma, mode)
                rejected += out.metrics.num_draft_tokens - out.metrics.num_accepted_tokens
                hits += out.metrics.early_exit_hits
    return rejected, hits


def test_text_lossless_under_the_grammar_every_gamma_and_mode(cpairs):
    rejected, hits = _check(cpairs["llama"], [Prompt("go to the red box"), Prompt("turn left then walk")],
                            tuple(range(1, 9)))
    assert rejected > 0 and hits > 0  # the matchers rolled back, and pre-drafts were kept


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("family", ["llava", "idefics3", "qwen2_vl"])
def test_vlm_lossless_under_the_grammar(cpairs, family):
    prompts = [Prompt("go to the red box", image=tiny.IMAGE),
               Prompt("where is the door", image=tiny.IMAGE, system="you are a robot")]
    _check(cpairs[family], prompts[:1] if family == "qwen2_vl" else prompts, tuple(range(1, 9)))


def test_a_target_without_the_mask_is_caught(cpairs, monkeypatch):
    """Break it: the target stops masking (the draft still does). The draft's matcher refuses the first committed
    token outside the grammar with a clear error instead of carrying on."""
    pair = cpairs["llama"]
    prompt = Prompt("go to the red box")
    monkeypatch.setattr(EarlyExitTarget, "constrain", lambda self, session, constraint: None)
    with pytest.raises(ValueError, match="outside the grammar"):
        speculative_generate(pair.draft, pair.target, prompt, gamma=4, max_new_tokens=NEW, constrain="grammar")


def test_matcher_rebuilt_from_committed_tokens_resumes_exactly(cpairs):
    """A resumed target session (re-OPEN with the committed tokens) is constrained where the lost one was."""
    pair = cpairs["llava"]
    prompt = Prompt("go to the red box", image=tiny.IMAGE)
    ref = target_generate(pair.target, prompt, NEW, constrain="grammar")
    constraint = GrammarConstraint.for_model(pair.model)
    session = pair.target.open(prompt)
    pair.target.resume(session, ref[:3])
    pair.target.constrain(session, constraint)
    draft = DraftSession(pair.draft, prompt, constraint=GrammarConstraint.for_model(pair.draft))
    draft.commit(ref[:3])
    while not session.finished and len(session.generated) < NEW:
        block = draft.draft(4)
        v = pair.target.verify([session], [block])[0]
        draft.commit(committed(block.tokens, v.n_accepted, v.next_token))
    assert session.generated[:NEW] == ref
    with pytest.raises(ValueError, match="grammar"):
        constraint.matcher([pair.model.tokenizer.convert_tokens_to_ids("door")])


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_embedded_pair_lossless_under_the_grammar():
    from spec_decode_ros.bench.workload import sim_prompts
    from spec_decode_ros.decoding.image_size import processor_image_size
    from spec_decode_ros.decoding.models import load_model
    from spec_decode_ros.embedded import default_draft_path, default_target_path

    target = EarlyExitTarget.from_pretrained(default_target_path())
    draft = load_model(default_draft_path())
    for prompt in list(sim_prompts(3, processor_image_size(target.model.processor))):
        ref = target_generate(target, prompt, 32, constrain="grammar")
        assert parse_answer(target.model.decode(ref))
        for gamma in (1, 4, 8):
            for mode in SPECULATIVE:
                out = speculative_generate(draft, target, prompt, gamma=gamma, max_new_tokens=32, mode=mode,
                                           constrain="grammar")
                assert out.tokens == ref, (gamma, mode)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sampling_keeps_the_constrained_targets_distribution(cpairs):
    """First committed token over many seeds (γ=3, temperature 1.5) against the masked target's distribution."""
    pair = cpairs["llama"]
    prompt = Prompt("go to the red box")
    constraint = GrammarConstraint.for_model(pair.model)
    enc = pair.model.encode(prompt)
    with torch.inference_mode():
        logits = pair.model.model(**enc.inputs()).logits[0, -1]
    q = processed_probs(constraint.matcher().mask_(logits.clone()), SamplingConfig(do_sample=True, temperature=1.5))
    q = q.numpy()
    assert 2 <= int((q > 0).sum()) < len(q) // 4  # the grammar leaves a few first words, not the vocabulary
    counts = np.zeros_like(q, dtype=np.int64)
    accepted = 0
    dconstraint = GrammarConstraint.for_model(pair.draft)
    for seed in range(300):
        cfg = SamplingConfig(do_sample=True, temperature=1.5, seed=seed)
        tsess = pair.target.open(prompt, cfg)
        pair.target.constrain(tsess, constraint)
        block = DraftSession(pair.draft, prompt, cfg, constraint=dconstraint).draft(3)
        verdict = pair.target.verify([tsess], [block])[0]
        counts[committed(block.tokens, verdict.n_accepted, verdict.next_token)[0]] += 1
        accepted += verdict.n_accepted
    assert 0 < accepted < 300 * 3
    assert chi2_pvalue(counts, q) > 1e-3


def random_embedded_target() -> EarlyExitTarget:
    """The embedded target's architecture, tokenizer and processor with fresh random weights: a VLM never trained."""
    from spec_decode_ros.decoding.models import load_model
    from spec_decode_ros.embedded import default_target_path

    trained = load_model(default_target_path())
    torch.manual_seed(0)
    model = type(trained.model)(trained.model.config).eval()
    return EarlyExitTarget(dataclasses.replace(trained, model=model))


def parse_rate(target: EarlyExitTarget, prompts: list[Prompt], constrain: str) -> int:
    """How many answers the streaming parser turns into commands with nothing rejected."""
    ok = 0
    for prompt in prompts:
        text = speculative_generate(None, target, prompt, max_new_tokens=32, constrain=constrain).text
        parser = StreamingCommandParser()
        commands = parser.feed(text) + parser.finish()
        ok += bool(commands) and not parser.rejections
    return ok


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_random_vlm_answers_parse_only_under_the_grammar():
    from spec_decode_ros.bench.workload import sim_prompts
    from spec_decode_ros.decoding.image_size import processor_image_size

    target = random_embedded_target()
    prompts = list(sim_prompts(50, processor_image_size(target.model.processor)))
    assert len(prompts) == 50
    assert parse_rate(target, prompts, "grammar") == 50
    assert parse_rate(target, prompts[:10], "none") < 10


def test_tiny_models_vocabulary_helper_is_untouched():
    assert "sidestep" not in tiny.WORDS and Path(tiny.__file__).is_file()
