"""The benchmark's forward-cost wrapper: the target's verdicts unchanged, each forward lasting at least
a + b·rows·tokens with its early verdict no sooner than the exit layer's share, and the cached prefill exact."""

from __future__ import annotations

import time

import pytest
from bridge.tiny_pair import PROMPTS

from spec_decode_ros.bench.cost import CostModelTarget, ForwardCost
from spec_decode_ros.decoding.early_exit import EarlyExitTarget
from spec_decode_ros.decoding.types import DraftBlock, Prompt


def test_cost_model_formula_and_bad_values():
    cost = ForwardCost(a_s=0.02, b_s=0.0005)
    assert cost.seconds(8, 5) == pytest.approx(0.02 + 0.0005 * 40)
    for bad in (dict(a_s=-1.0), dict(b_s=-0.1), dict(prefill="magic")):
        with pytest.raises(ValueError):
            ForwardCost(**bad)  # type: ignore[arg-type]


def test_wrapped_verify_keeps_the_verdicts_and_lasts_the_modelled_time(target_dir):
    plain = EarlyExitTarget.from_pretrained(target_dir)
    cost = ForwardCost(a_s=0.05, b_s=0.004)
    wrapped = cost(EarlyExitTarget.from_pretrained(target_dir))
    assert isinstance(wrapped, CostModelTarget) and wrapped.exit_layers == plain.exit_layers
    drafts = [DraftBlock(tokens=(5, 6, 7)), DraftBlock(tokens=(9,))]
    a = [plain.open(Prompt(t)) for t in PROMPTS[:2]]
    b = [wrapped.open(Prompt(t)) for t in PROMPTS[:2]]
    early_at: list[float] = []
    expected = plain.verify(a, drafts, on_early=lambda v: None)
    t0 = time.perf_counter()
    got = wrapped.verify(b, drafts, on_early=lambda v: early_at.append(time.perf_counter() - t0))
    elapsed = time.perf_counter() - t0
    assert got == expected
    t = cost.seconds(rows=2, tokens=4)  # padded width: pending + the longest block
    assert elapsed >= t
    share = plain.exit_layers[0] / plain.model.num_layers
    assert len(early_at) == 1 and early_at[0] >= t * share
    assert wrapped.counters()["modelled_forwards"] == 1


def test_cached_prefill_gives_the_same_session_as_a_real_one(target_dir):
    plain = EarlyExitTarget.from_pretrained(target_dir)
    wrapped = ForwardCost(0.0, 0.0, prefill="cached")(EarlyExitTarget.from_pretrained(target_dir))
    block = [DraftBlock(tokens=(3, 4, 5, 6))]
    reference = plain.verify([plain.open(Prompt(PROMPTS[2]))], block)
    for _ in range(3):  # the first open prefills, the next two copy its cache; verifying one must not touch it
        session = wrapped.open(Prompt(PROMPTS[2]))
        assert wrapped.verify([session], block) == reference
    assert wrapped.counters()["prefills"] == 3 and wrapped.counters()["prefills_cached"] == 2


@pytest.mark.parametrize("prefill", ["real", "cached"])
def test_wrapped_batched_prefill_gives_the_sessions_of_real_ones(target_dir, prefill):
    """``prefill_many`` (what the verifier calls for openings ready together) through the wrapper: real passes the
    batch to the target's one forward; cached prefills the prompts not seen before together, copies the rest."""
    plain = EarlyExitTarget.from_pretrained(target_dir)
    wrapped = ForwardCost(0.0, 0.0, prefill=prefill)(EarlyExitTarget.from_pretrained(target_dir))
    forwards: list[int] = []
    hook = wrapped.inner.model.model.register_forward_pre_hook(
        lambda m, a, kw: forwards.append(int(kw["input_ids"].shape[0])), with_kwargs=True)
    texts = [PROMPTS[0], PROMPTS[2], PROMPTS[0]]
    block = [DraftBlock(tokens=(3, 4, 5, 6))]
    try:
        sessions = wrapped.prefill_many([plain.model.encode(Prompt(t)) for t in texts])
    finally:
        hook.remove()
    assert forwards == ([3] if prefill == "real" else [2])  # one forward; cached: the two distinct prompts
    for text, session in zip(texts, sessions, strict=True):
        assert wrapped.verify([session], block) == plain.verify([plain.open(Prompt(text))], block)
    assert wrapped.counters()["prefills"] == 3
    assert wrapped.counters()["prefills_cached"] == (0 if prefill == "real" else 1)
    assert wrapped.counters()["prefill_forwards"] == 1
