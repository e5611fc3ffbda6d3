"""The reference loop: draft and target in one process, the whole round protocol, no network.

Per round: draft γ tokens (or reuse the pre-draft after an early-exit hit), verify; on the early
verdict, pre-draft from P + d[:n_ee] + y_ee (here synchronously, inside the target's forward);
the final verdict commits. ``target_generate`` is the reference every output must equal (greedy). With a
grammar ``constraint`` both sessions mask their logits (``decoding.constraint``) and the reference is the target's
own ``generate`` with the same mask as a logits processor (``GrammarLogitsProcessor``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from spec_decode_ros.decoding import round as rnd
from spec_decode_ros.decoding.constraint import GrammarConstraint, check_constrain
from spec_decode_ros.decoding.draft import DraftSession
from spec_decode_ros.decoding.early_exit import EarlyExitTarget
from spec_decode_ros.decoding.gamma import GammaSchedule
from spec_decode_ros.decoding.mode import Mode
from spec_decode_ros.decoding.models import LoadedModel, reference_generation_config
from spec_decode_ros.decoding.sampling import GREEDY
from spec_decode_ros.decoding.types import DraftBlock, Prompt, SamplingConfig, SpecMetrics, Verdict


@dataclass
class Generation:
    tokens: list[int]
    text: str
    metrics: SpecMetrics


def speculative_generate(draft: LoadedModel | None, target: EarlyExitTarget, prompt: Prompt, *,
                         gamma: int | GammaSchedule = 4, max_new_tokens: int = 32,
                         sampling: SamplingConfig = GREEDY, mode: Mode | str = Mode.SD_EE_PREDRAFT,
                         constrain: str = "none") -> Generation:
    """Speculative decoding of ``prompt`` in ``mode`` (not ``edge_only``: that has no target); ``draft=None`` or
    ``cloud_ar`` runs the target alone (γ = 0 rounds). The round's rules are ``decoding.round``'s. ``constrain``:
    ``grammar`` masks target and draft with the command grammar, ``none`` leaves them free."""
    mode = Mode(mode)
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if not mode.needs_cloud:
        raise ValueError("edge_only runs the draft alone: use DraftSession.next_token")
    schedule = gamma if isinstance(gamma, GammaSchedule) else GammaSchedule(int(gamma))
    if not mode.speculative:
        draft = None
    use_exit = mode.early_exit and bool(target.exit_layers) and draft is not None  # nothing to steer without a draft
    eos = target.model.eos_token_ids
    grammar = check_constrain(constrain) == "grammar"
    tsess = target.open(prompt, sampling, defer=True)  # the first round prefills too: one forward, not two
    target.constrain(tsess, GrammarConstraint.for_model(target.model) if grammar else None)
    dsess = (DraftSession(draft, prompt, sampling, constraint=GrammarConstraint.for_model(draft) if grammar else None)
             if draft is not None else None)
    metrics = SpecMetrics()
    ready: DraftBlock | None = None  # a pre-draft kept after an early-exit hit

    while not tsess.finished and len(tsess.generated) < max_new_tokens:
        n_done = len(tsess.generated)
        g = rnd.capped_gamma(schedule.gamma, max_new_tokens, n_done) if dsess is not None else 0
        if ready is not None:
            block, short = rnd.next_block(ready, g, eos)
            ready = None
            if short > 0 and dsess is not None:
                block = rnd.concat(block, dsess.draft(short, after=block.tokens))
        elif dsess is not None and g > 0:
            block = dsess.draft(g)
        else:
            block = DraftBlock(())
        early: list[Verdict] = []
        pre: list[DraftBlock] = []

        def on_early(verdicts: list[Verdict], block: DraftBlock = block, n_done: int = n_done,
                     early: list[Verdict] = early, pre: list[DraftBlock] = pre) -> None:
            v = verdicts[0]
            early.append(v)
            if not mode.predraft or dsess is None:
                return
            after = rnd.committed(block.tokens, v.n_accepted, v.next_token)
            g_next = rnd.predraft_gamma(after, schedule.peek(v.n_accepted, block.gamma), max_new_tokens, n_done, eos)
            if g_next > 0:
                pre.append(dsess.draft(g_next, after=after))

        verdict = target.verify([tsess], [block], on_early=on_early if use_exit else None, early_exit=use_exit)[0]
        metrics.record_round(block.gamma, verdict.n_accepted)
        if dsess is not None:
            dsess.commit(rnd.committed(block.tokens, verdict.n_accepted, verdict.next_token))
        if early:
            hit = rnd.early_hit((early[0].n_accepted, early[0].next_token), (verdict.n_accepted, verdict.next_token))
            metrics.record_early(hit)
            if hit and pre:
                ready = pre[0]
        schedule.update(verdict.n_accepted, block.gamma)

    tokens = tsess.generated[:max_new_tokens]
    target.close(tsess)
    m = tsess.metrics
    metrics.num_generated_tokens = len(tokens)
    metrics.exit_agreement_matches, metrics.exit_agreement_total = m.exit_agreement_matches, m.exit_agreement_total
    metrics.target_forward_passes, metrics.target_busy_s = m.target_forward_passes, m.target_busy_s
    metrics.draft_busy_s = dsess.busy_s if dsess is not None else 0.0
    return Generation(tokens, target.model.decode(tokens), metrics)


def _cut_after_eos(tokens: list[int], eos: set[int] | frozenset[int] | tuple[int, ...]) -> list[int]:
    for i, t in enumerate(tokens):
        if t in eos:
            return tokens[: i + 1]
    return tokens


@torch.inference_mode()
def assisted_generate(target: EarlyExitTarget | LoadedModel, draft: LoadedModel, prompt: Prompt,
                      max_new_tokens: int, gamma: int = 4) -> list[int]:
    """The peer: transformers' own assisted generation (``generate(assistant_model=...)``, greedy, a constant
    ``gamma`` draft tokens per round), cut after the first EOS; it must equal ``target_generate``."""
    lm = target.model if isinstance(target, EarlyExitTarget) else target
    enc = lm.encode(prompt)
    config = reference_generation_config(lm, max_new_tokens)
    config.num_assistant_tokens = gamma
    config.num_assistant_tokens_schedule = "constant"
    out = lm.model.generate(**enc.inputs(), generation_config=config, assistant_model=draft.model)
    return _cut_after_eos(out[0, enc.length:].tolist(), lm.eos_token_ids)


class GrammarLogitsProcessor:
    """The grammar as a transformers logits processor (the reference's mask): at each step it advances a fresh
    matcher over the tokens generated since the prompt, then sets illegal logits to -inf. Batch of one."""

    def __init__(self, constraint: GrammarConstraint, prompt_length: int) -> None:
        self.matcher = constraint.matcher()
        self.prompt_length = prompt_length
        self.seen = 0

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        new = input_ids[0, self.prompt_length + self.seen:].tolist()
        if not self.matcher.advance(new):
            raise ValueError(f"token {self.matcher.rejected} left the grammar")
        self.seen += len(new)
        return self.matcher.mask_(scores.clone())


@torch.inference_mode()
def target_generate(target: EarlyExitTarget | LoadedModel, prompt: Prompt, max_new_tokens: int, *,
                    constrain: str = "none") -> list[int]:
    """The reference: the model's own ``generate(do_sample=False)``, cut after the first EOS; with ``constrain``
    ``grammar``, the command grammar's mask applied as a logits processor."""
    from transformers import LogitsProcessorList

    lm = target.model if isinstance(target, EarlyExitTarget) else target
    enc = lm.encode(prompt)
    config = reference_generation_config(lm, max_new_tokens)
    processors = LogitsProcessorList()
    if check_constrain(constrain) == "grammar":
        processors.append(GrammarLogitsProcessor(GrammarConstraint.for_model(lm), enc.length))
    out = lm.model.generate(**enc.inputs(), generation_config=config, logits_processor=processors)
    return _cut_after_eos(out[0, enc.length:].tolist(), lm.eos_token_ids)
