"""The reference loop: draft and target in one process, the whole round protocol, no network.

A driver of ``round.RoundMachine`` (the robot's ``bridge.edge.EdgeSession`` drives the same one): it runs the
draft and the target and feeds the machine what they said. On the early verdict it pre-drafts here synchronously,
inside the target's forward. ``target_generate`` is the reference every output must equal (greedy). With the
command grammar as a constraint (``constrain="grammar"``) both sessions mask their logits (``decoding.constraint``)
and the reference is the target's own ``generate`` with the same mask as a logits processor
(``GrammarLogitsProcessor``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from spec_decode_ros.decoding.constraint import GrammarConstraint
from spec_decode_ros.decoding.draft import DraftSession
from spec_decode_ros.decoding.early_exit import EarlyExitTarget
from spec_decode_ros.decoding.gamma import GammaSchedule
from spec_decode_ros.decoding.mode import Mode
from spec_decode_ros.decoding.models import LoadedModel, reference_generation_config
from spec_decode_ros.decoding.predraft import PredraftPolicy
from spec_decode_ros.decoding.round import RoundMachine
from spec_decode_ros.decoding.sampling import GREEDY
from spec_decode_ros.decoding.types import Prompt, SamplingConfig, SpecMetrics, Verdict, check_constrain


@dataclass
class Generation:
    tokens: list[int]
    text: str
    metrics: SpecMetrics


def speculative_generate(draft: LoadedModel | None, target: EarlyExitTarget, prompt: Prompt, *,
                         gamma: int | GammaSchedule = 4, max_new_tokens: int = 32,
                         sampling: SamplingConfig = GREEDY, mode: Mode | str = Mode.SD_EE_PREDRAFT,
                         predraft_policy: PredraftPolicy | None = None,
                         new_draft: Callable[..., DraftSession] = DraftSession, constrain: str = "none",
                         ) -> Generation:
    """Speculative decoding of ``prompt`` in ``mode`` (not ``edge_only``: that has no target); ``draft=None`` or
    ``cloud_ar`` runs the target alone (γ = 0 rounds). ``predraft_policy``: carried from earlier answers;
    ``new_draft`` makes the draft session (as ``EdgeSession``'s); ``constrain``: ``grammar`` masks target and
    draft with the command grammar, ``none`` leaves them free."""
    mode = Mode(mode)
    if not mode.needs_cloud:
        raise ValueError("edge_only runs the draft alone: use DraftSession.next_token")
    if draft is None or not mode.speculative:
        draft, mode = None, Mode.CLOUD_AR
    machine = RoundMachine(target.model.eos_token_ids, max_new_tokens, mode,
                           gamma if isinstance(gamma, GammaSchedule) else GammaSchedule(int(gamma)),
                           predraft_policy if predraft_policy is not None else PredraftPolicy())
    use_exit = mode.early_exit and bool(target.exit_layers)
    grammar = check_constrain(constrain) == "grammar"
    tsess = target.open(prompt, sampling, defer=True)  # the first round prefills too: one forward, not two
    if grammar:
        target.constrain(tsess, GrammarConstraint.for_model(target.model))
    masked = {"constraint": GrammarConstraint.for_model(draft)} if grammar and draft is not None else {}
    dsess = new_draft(draft, prompt, sampling, **masked) if draft is not None else None
    while not machine.done:
        ask = machine.plan()
        block = machine.drafted(dsess.draft(ask.gamma, after=ask.after) if dsess is not None and ask.gamma else None)
        on_early = _Predrafter(machine, dsess)
        verdict = target.verify([tsess], [block], on_early=on_early if use_exit else None, early_exit=use_exit)[0]
        window_s = time.perf_counter() - on_early.returned_at if on_early.returned_at is not None else None
        new = machine.final(verdict, finished=tsess.finished, window_s=window_s)
        if dsess is not None:
            dsess.commit(new.tokens)
    target.close(tsess)
    m, t = machine.metrics, tsess.metrics
    m.exit_agreement_matches, m.exit_agreement_total = t.exit_agreement_matches, t.exit_agreement_total
    m.target_forward_passes, m.target_busy_s = t.target_forward_passes, t.target_busy_s
    m.draft_busy_s = dsess.busy_s if dsess is not None else 0.0
    return Generation(list(machine.committed), target.model.decode(machine.committed), m)


class _Predrafter:
    """``verify``'s early callback: hands the early verdict to the machine and drafts what it asks for."""

    def __init__(self, machine: RoundMachine, draft: DraftSession | None) -> None:
        self.machine = machine
        self.draft = draft
        self.returned_at: float | None = None  # when the target's forward went on (the EARLY→FINAL window's start)

    def __call__(self, verdicts: list[Verdict]) -> None:
        ask = self.machine.early(verdicts[0])
        if ask is not None and self.draft is not None:
            self.machine.predrafted(self.draft.draft(ask.gamma, after=ask.after))
        self.returned_at = time.perf_counter()


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
    processors = LogitsProcessorList()
    if check_constrain(constrain) == "grammar":
        processors.append(GrammarLogitsProcessor(GrammarConstraint.for_model(lm), enc.length))
    out = lm.model.generate(**enc.inputs(), generation_config=reference_generation_config(lm, max_new_tokens),
                            logits_processor=processors)
    return _cut_after_eos(out[0, enc.length:].tolist(), lm.eos_token_ids)
